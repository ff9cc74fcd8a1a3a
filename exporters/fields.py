"""A text field whose value is encrypted at rest with Fernet (key: ``settings.OPENDEX_SECRETS_KEY``)."""

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models


def fernet() -> Fernet:
    return Fernet(settings.OPENDEX_SECRETS_KEY)


def encrypt(plaintext: str) -> str:
    return fernet().encrypt(plaintext.encode()).decode("ascii")


def decrypt(ciphertext: str) -> str:
    try:
        return fernet().decrypt(ciphertext.encode("ascii")).decode()
    except InvalidToken as error:  # a wrong key must not pass silently, nor show the ciphertext
        raise ImproperlyConfigured("A stored secret cannot be decrypted with OPENDEX_SECRETS_KEY.") from error


class EncryptedTextField(models.TextField):
    """Stores Fernet ciphertext; Python code sees the plaintext. Blank stays blank (no secret set).

    Fernet tokens are randomised, so the column cannot be filtered on; it holds secrets only.
    """

    description = "Text encrypted at rest"

    def from_db_value(self, value, expression, connection):
        if not value:
            return value
        return decrypt(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if not value:
            return value
        return encrypt(value)
