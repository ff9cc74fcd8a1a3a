"""Shared fixtures: rights-bearing accounts and API clients."""

import pytest

from portal.models import Account, Profile


@pytest.fixture
def make_account(db):
    """Creates an account with a fresh profile holding the given rights."""

    def make(username: str = "someone", password: str = "correct horse battery", **rights) -> Account:
        profile = Profile.objects.create(name=f"profile of {username}", **rights)
        account = Account(username=username, profile=profile)
        account.set_password(password)
        account.save()
        return account

    return make


@pytest.fixture(autouse=True)
def _forget_verified_credentials():
    """Each test starts with an empty cache of verified Basic credentials."""
    from portal.authentication import verified_credentials

    verified_credentials.clear()
    yield
    verified_credentials.clear()
