import logging
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

logger = logging.getLogger(__name__)


class RejectUnreadableRequests:
    """Answers 400 when Django cannot even build the request (e.g. a ``Content-Type`` whose RFC 2231
    charset is broken raises while the request object is made, before any view could answer).

    Errors of views never get here: Django's handler turns them into responses.
    """

    def __init__(self, application):
        self.application = application

    def __call__(self, environ, start_response):
        try:
            return self.application(environ, start_response)
        except (ValueError, UnicodeError, LookupError):
            logger.warning("Unreadable request refused: %s %s", environ.get("REQUEST_METHOD"),
                           environ.get("PATH_INFO"))
            start_response("400 Bad Request", [("Content-Type", "text/plain; charset=utf-8")])
            return [b"Bad request: the request could not be read.\n"]


application = RejectUnreadableRequests(get_wsgi_application())
