"""The exporters configuration API (``/api/config/v1/``): see ``exporters.api.views``."""
