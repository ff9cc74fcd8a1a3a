"""Fixtures of the exporter tests: a real local HTTP destination, fast retries, no cached tokens."""

import pytest

from exporters import connectors

from .sink import Sink


@pytest.fixture(autouse=True)
def _no_cached_tokens():
    """OAuth2 tokens are cached per process: each test starts and ends without any."""
    connectors.clear_token_cache()
    yield
    connectors.clear_token_cache()


@pytest.fixture
def sink():
    with Sink() as server:
        yield server


@pytest.fixture
def fast_retries(settings):
    settings.EXPORT_RETRY_BASE_SECONDS = 0.01
    settings.EXPORT_RETRY_MAX_SECONDS = 0.05
