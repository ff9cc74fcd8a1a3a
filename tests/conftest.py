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
