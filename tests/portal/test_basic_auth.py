"""Basic authentication, rights and throttling of failed authentications (platform.md)."""

import base64

import pytest
from django.test import Client

from portal import throttling
from portal.models import Account, AuthenticationFailure, Profile
from portal.permissions import AllowsRemoteActionApi, CanEditCategories, DataPrivacyNone, HasFinderAccess
from tests.clock import Clock

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.portal.basic_auth_urls")]

CHALLENGE = 'Basic realm="OpenDEX"'
PASSWORD = "correct horse battery"


def basic(username, password=PASSWORD) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


def basic_bytes(raw: bytes) -> str:
    return "Basic " + base64.b64encode(raw).decode("ascii")


@pytest.fixture(autouse=True)
def clock(monkeypatch):
    fake = Clock()
    monkeypatch.setattr(throttling, "now", fake)
    monkeypatch.setattr(throttling, "_next_prune_at", None)
    return fake


@pytest.fixture
def client():
    return Client()


@pytest.fixture
def call(client):
    def get(path, authorization=None, address="10.0.0.1", **extra):
        if authorization is not None:
            extra["HTTP_AUTHORIZATION"] = authorization
        return client.get(path, REMOTE_ADDR=address, **extra)

    return get


@pytest.fixture
def fast_account(settings, make_account):
    """``make_account`` with a cheap hasher, for tests that authenticate many times."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return make_account


def failures(kind=None) -> int:
    queryset = AuthenticationFailure.objects.all()
    if kind:
        queryset = queryset.filter(kind=kind)
    return queryset.count()


def assert_unauthorized(response):
    assert response.status_code == 401, response.content
    assert response["WWW-Authenticate"] == CHALLENGE


# -- accepting and rejecting credentials ---------------------------------------------------------

FULL_RIGHTS = dict(finder_access=True, allow_remote_action_api=True, can_edit_categories=True)


@pytest.mark.parametrize(
    ("path", "rights"),
    [
        ("/authenticated", {}),
        ("/finder", {"finder_access": True}),
        ("/privacy-none", {"data_privacy": "none"}),
        ("/web-api", {"finder_access": True, "data_privacy": "none"}),
        ("/remote-action-api", {"finder_access": True, "allow_remote_action_api": True}),
        ("/edit-categories", {"can_edit_categories": True}),
    ],
)
def test_the_right_password_is_accepted_for_each_right(make_account, call, path, rights):
    account = make_account("alice", PASSWORD, **rights)
    assert account.password.startswith("argon2$")
    response = call(path, basic("alice"))
    assert response.status_code == 200, response.content
    assert response.json() == {"account": "alice"}
    assert failures() == 0


def test_wrong_password_unknown_and_inactive_accounts_answer_401_and_count(make_account, call):
    make_account("alice", PASSWORD, **FULL_RIGHTS)
    inactive = make_account("sleeper", PASSWORD, **FULL_RIGHTS)
    inactive.is_active = False
    inactive.save()

    for authorization in (basic("alice", "wrong"), basic("nobody"), basic("sleeper"), basic("sleeper", "x")):
        response = call("/finder", authorization)
        assert_unauthorized(response)
    # An inactive account is answered exactly like a wrong password.
    assert call("/finder", basic("sleeper")).content == call("/finder", basic("alice", "wrong")).content

    assert failures("account") == 6
    assert failures("address") == 6
    assert set(AuthenticationFailure.objects.values_list("key", flat=True)) == {
        "alice", "nobody", "sleeper", "10.0.0.1",
    }


@pytest.mark.parametrize("authorization", [None, "", "Bearer abc.def.ghi", "Digest username=alice"])
def test_no_basic_credentials_answer_401_and_do_not_count(fast_account, call, authorization):
    fast_account("alice", PASSWORD, finder_access=True)
    response = call("/finder", authorization)
    assert_unauthorized(response)
    assert failures() == 0


MALFORMED = {
    "scheme only": "Basic",
    "scheme and blank": "Basic    ",
    "two tokens": "Basic YWxpY2U6 cGFzcw==",
    "not base64": "Basic !!!not-base64!!!",
    "bad padding": "Basic YWxpY2U6cGFzcw",
    "no colon": basic_bytes(b"alice"),
    "empty": basic_bytes(b""),
    "latin-1 header bytes": "Basic \xff\xfe\xfd\xfc",
    "outside latin-1": "Basic \u2603\u2603\u2603\u2603",
    "huge 100 kB": "Basic " + "A" * 100_000,
    "huge 100 kB not base64": "Basic " + "%" * 100_000,
}


@pytest.mark.parametrize("authorization", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_headers_answer_401_never_500_and_do_not_count(fast_account, call, authorization):
    fast_account("alice", PASSWORD, finder_access=True)
    response = call("/finder", authorization)
    assert_unauthorized(response)
    assert failures() == 0


def test_huge_well_formed_credentials_are_an_unknown_account(fast_account, call):
    fast_account("alice", PASSWORD, finder_access=True)
    name = "x" * 50_000
    response = call("/finder", basic(name, "y" * 50_000))
    assert_unauthorized(response)
    keys = set(AuthenticationFailure.objects.filter(kind="account").values_list("key", flat=True))
    assert keys == {throttling.storage_key(name)}
    assert next(iter(keys)).startswith("sha256:")


def test_non_utf8_credentials_fall_back_to_latin1(fast_account, call):
    fast_account("\u00e9t\u00e9", PASSWORD, finder_access=True)
    response = call("/finder", basic_bytes("\u00e9t\u00e9:".encode("latin-1") + PASSWORD.encode()))
    assert response.status_code == 200, response.content
    assert response.json() == {"account": "\u00e9t\u00e9"}
    # The same name in UTF-8 works too.
    assert call("/finder", basic("\u00e9t\u00e9")).status_code == 200


def test_a_name_with_nul_is_an_unknown_account_not_a_crash(fast_account, call):
    fast_account("alice", PASSWORD, finder_access=True)
    response = call("/finder", basic_bytes(b"ali\x00ce:" + PASSWORD.encode()))
    assert_unauthorized(response)
    assert failures("account") == 1


# -- rights ----------------------------------------------------------------------------------------

RIGHTS = (HasFinderAccess, DataPrivacyNone, AllowsRemoteActionApi, CanEditCategories)
MESSAGES = {cls.code: cls.message for cls in RIGHTS}

@pytest.mark.parametrize(
    ("path", "rights", "code"),
    [
        ("/finder", {"finder_access": False}, "no_finder_access"),
        ("/privacy-none", {"data_privacy": "partial"}, "data_privacy"),
        ("/privacy-none", {"data_privacy": "full"}, "data_privacy"),
        ("/web-api", {"finder_access": True, "data_privacy": "partial"}, "data_privacy"),
        ("/web-api", {"finder_access": False, "data_privacy": "none"}, "no_finder_access"),
        ("/remote-action-api", {"finder_access": False, "allow_remote_action_api": True},
         "no_remote_action_api"),
        ("/remote-action-api", {"finder_access": True, "allow_remote_action_api": False},
         "no_remote_action_api"),
        ("/edit-categories", {"finder_access": True, "can_edit_categories": False}, "no_category_editing"),
    ],
)
def test_missing_rights_answer_403_and_do_not_count(fast_account, call, path, rights, code):
    fast_account("bob", PASSWORD, **rights)
    for _ in range(12):  # more than the per-account limit: refusals are not failures
        response = call(path, basic("bob"))
        assert response.status_code == 403, response.content
        assert "WWW-Authenticate" not in response
    assert response.json() == {"detail": MESSAGES[code]}
    assert failures() == 0


def test_missing_rights_without_credentials_answer_401(fast_account, call):
    fast_account("bob", PASSWORD)
    assert_unauthorized(call("/edit-categories"))


def test_privacy_partial_and_full_may_still_use_finder(fast_account, call):
    for level in ("partial", "full"):
        fast_account(level, PASSWORD, finder_access=True, data_privacy=level)
        assert call("/finder", basic(level)).status_code == 200
        assert call("/web-api", basic(level)).status_code == 403


def test_profile_changes_take_effect_on_the_next_request(fast_account, call):
    account = fast_account("carol", PASSWORD, finder_access=True)
    assert call("/finder", basic("carol")).status_code == 200

    profile = account.profile
    profile.finder_access = False
    profile.save()
    assert call("/finder", basic("carol")).status_code == 403

    other = Profile.objects.create(name="actors", finder_access=True, allow_remote_action_api=True)
    Account.objects.filter(pk=account.pk).update(profile=other)
    assert call("/remote-action-api", basic("carol")).status_code == 200

    other.allow_remote_action_api = False
    other.save()
    assert call("/remote-action-api", basic("carol")).status_code == 403

    Account.objects.filter(pk=account.pk).update(is_active=False)
    assert_unauthorized(call("/remote-action-api", basic("carol")))


def test_superuser_rights_come_from_the_profile(fast_account, call):
    account = fast_account("root", PASSWORD)
    Account.objects.filter(pk=account.pk).update(is_superuser=True)
    assert call("/finder", basic("root")).status_code == 403
    assert call("/authenticated", basic("root")).status_code == 200


# -- throttling --------------------------------------------------------------------------------

def test_ten_failures_throttle_the_account_even_with_the_right_password(fast_account, call, clock):
    fast_account("alice", PASSWORD, finder_access=True)
    fast_account("bob", PASSWORD, finder_access=True)

    for _ in range(10):
        assert_unauthorized(call("/finder", basic("alice", "wrong")))
        clock.advance(1)

    response = call("/finder", basic("alice"))
    assert response.status_code == 429
    assert response["Retry-After"] == "290"  # the first failure (t=0) ages out at t=300; now t=10
    assert "WWW-Authenticate" not in response
    # Throttled attempts are not checked and do not count.
    assert call("/finder", basic("alice", "wrong")).status_code == 429
    assert failures("account") == 10

    # Another account, even from the same address, is unaffected.
    assert call("/finder", basic("bob")).status_code == 200
    assert call("/finder", basic("bob"), address="10.9.9.9").status_code == 200
    # And a request naming the throttled account from another address is still throttled.
    assert call("/finder", basic("alice"), address="10.9.9.9").status_code == 429

    clock.advance(289)  # t = 299
    response = call("/finder", basic("alice"))
    assert (response.status_code, response["Retry-After"]) == (429, "1")
    clock.advance(1)  # t = 300: the first failure leaves the window
    response = call("/finder", basic("alice"))
    assert response.status_code == 200, response.content


def test_retry_after_counts_until_enough_failures_age_out(fast_account, call, clock):
    # failures at t = 0, 30, 60, ..., 270 (ten of them); the throttle lasts until the first ages out
    fast_account("alice", PASSWORD, finder_access=True)
    for _ in range(10):
        call("/finder", basic("alice", "wrong"))
        clock.advance(30)
    clock.advance(-29.5)  # t = 270.5
    response = call("/finder", basic("alice"))
    assert response.status_code == 429
    assert response["Retry-After"] == "30"  # ceil(300 - 270.5)
    assert int(response["Retry-After"]) == 30

    clock.advance(29.5)  # t = 300: 9 failures in the window; one more wrong password throttles again
    assert call("/finder", basic("alice")).status_code == 200
    assert_unauthorized(call("/finder", basic("alice", "wrong")))
    response = call("/finder", basic("alice"))
    assert (response.status_code, response["Retry-After"]) == (429, "30")  # until t=330 (the t=30 one)


def test_window_and_limits_follow_the_settings(fast_account, call, clock, settings):
    settings.AUTH_THROTTLE_WINDOW_SECONDS = 60
    settings.AUTH_THROTTLE_MAX_FAILURES_PER_ACCOUNT = 3
    fast_account("alice", PASSWORD, finder_access=True)
    for _ in range(3):
        call("/finder", basic("alice", "wrong"))
    response = call("/finder", basic("alice"))
    assert (response.status_code, response["Retry-After"]) == (429, "60")
    clock.advance(60)
    assert call("/finder", basic("alice")).status_code == 200


def test_one_hundred_failures_from_an_address_throttle_it(fast_account, call, clock):
    fast_account("alice", PASSWORD, finder_access=True)
    for number in range(100):
        assert_unauthorized(call("/finder", basic(f"guess{number}", "wrong"), address="192.0.2.7"))
    clock.advance(5)

    response = call("/finder", basic("alice"), address="192.0.2.7")
    assert response.status_code == 429
    assert response["Retry-After"] == "295"
    assert call("/finder", basic("someone-else"), address="192.0.2.7").status_code == 429
    # Requests without credentials are not authentication attempts: still a plain 401.
    assert_unauthorized(call("/finder", address="192.0.2.7"))

    # Other addresses are unaffected, and the account itself is not throttled.
    assert call("/finder", basic("alice"), address="192.0.2.8").status_code == 200
    assert call("/finder", basic("alice"), address="2001:db8::1").status_code == 200

    clock.advance(295)
    assert call("/finder", basic("alice"), address="192.0.2.7").status_code == 200


def test_successes_never_count(fast_account, call):
    fast_account("alice", PASSWORD, finder_access=True)
    for _ in range(50):
        assert call("/finder", basic("alice")).status_code == 200
    for _ in range(9):
        assert_unauthorized(call("/finder", basic("alice", "wrong")))
    assert call("/finder", basic("alice")).status_code == 200
    assert failures("account") == 9


def test_x_forwarded_for_is_ignored_unless_trusted(fast_account, client, settings):
    def addresses():
        return set(AuthenticationFailure.objects.filter(kind="address").values_list("key", flat=True))

    fast_account("alice", PASSWORD, finder_access=True)
    client.get("/finder", HTTP_AUTHORIZATION=basic("nobody"), REMOTE_ADDR="10.0.0.1",
               HTTP_X_FORWARDED_FOR="203.0.113.1")
    assert addresses() == {"10.0.0.1"}

    settings.AUTH_THROTTLE_TRUST_X_FORWARDED_FOR = True
    client.get("/finder", HTTP_AUTHORIZATION=basic("nobody"), REMOTE_ADDR="10.0.0.1",
               HTTP_X_FORWARDED_FOR="198.51.100.9, 203.0.113.1")
    assert addresses() == {"10.0.0.1", "203.0.113.1"}


# -- the throttling module on its own (as the OAuth token endpoint will use it) ------------------

def test_check_and_record_failure(clock, settings):
    settings.AUTH_THROTTLE_MAX_FAILURES_PER_ACCOUNT = 2
    settings.AUTH_THROTTLE_MAX_FAILURES_PER_ADDRESS = 3
    throttling.check("client:demo", "10.0.0.1")
    throttling.record_failure("client:demo", "10.0.0.1")
    clock.advance(10)
    throttling.record_failure("client:demo", "10.0.0.1")
    with pytest.raises(throttling.AuthenticationThrottled) as caught:
        throttling.check("client:demo", "10.0.0.2")
    assert (caught.value.retry_after, caught.value.scope, caught.value.wait) == (290, "account", 290)
    assert caught.value.status_code == 429

    throttling.record_failure("client:other", "10.0.0.1")
    with pytest.raises(throttling.AuthenticationThrottled) as caught:
        throttling.check("client:third", "10.0.0.1")
    assert (caught.value.retry_after, caught.value.scope) == (290, "address")
    throttling.check("client:third", "10.0.0.2")


def test_old_failures_are_pruned(clock):
    throttling.record_failure("alice", "10.0.0.1")
    clock.advance(30)
    throttling.record_failure("alice", "10.0.0.1")  # within the prune interval: nothing to do
    assert failures() == 4
    clock.advance(300)
    throttling.record_failure("bob", "10.0.0.2")
    assert set(AuthenticationFailure.objects.values_list("key", flat=True)) == {"bob", "10.0.0.2"}


# -- plugging the building block into endpoints with their own error bodies ------------------------

def test_custom_exception_handler_gets_status_and_headers(fast_account, call):
    fast_account("alice", PASSWORD, finder_access=True)
    fast_account("viewer", PASSWORD)

    assert call("/custom", basic("alice")).status_code == 200
    response = call("/custom")
    assert_unauthorized(response)
    assert response.json() == {"error": 401, "code": "not_authenticated"}
    response = call("/custom", basic("alice", "wrong"))
    assert_unauthorized(response)
    assert response.json() == {"error": 401, "code": "invalid_credentials"}
    response = call("/custom", "Basic ???")
    assert_unauthorized(response)
    assert response.json() == {"error": 401, "code": "malformed_credentials"}
    response = call("/custom", basic("viewer"))
    assert (response.status_code, response.json()) == (403, {"error": 403, "code": "no_finder_access"})
    for _ in range(9):
        call("/custom", basic("alice", "wrong"))
    response = call("/custom", basic("alice"))
    assert response.status_code == 429
    assert response["Retry-After"] == "300"
    assert response.json() == {"error": 429, "code": "authentication_throttled"}


def test_plain_django_view(fast_account, call, client):
    fast_account("alice", PASSWORD, finder_access=True)
    fast_account("partial", PASSWORD, finder_access=True, data_privacy="partial")
    # A portal session does not authenticate a Basic endpoint.
    client.force_login(Account.objects.get(username="alice"))

    assert call("/plain", basic("alice")).json() == {"account": "alice"}
    response = call("/plain")
    assert_unauthorized(response)
    assert response.json() == {"plain_error": 401, "code": "not_authenticated"}
    response = call("/plain", basic("alice", "nope"))
    assert_unauthorized(response)
    response = call("/plain", "Basic \u2603")
    assert_unauthorized(response)
    response = call("/plain", basic("partial"))
    assert (response.status_code, response.json()) == (403, {"plain_error": 403, "code": "data_privacy"})
    for _ in range(9):
        call("/plain", basic("alice", "nope"))
    response = call("/plain", basic("alice"))
    assert (response.status_code, response["Retry-After"]) == (429, "300")
    assert response.json() == {"plain_error": 429, "code": "authentication_throttled"}


# -- verified-credentials cache ---------------------------------------------------------------------


@pytest.mark.urls("tests.portal.basic_auth_urls")
def test_a_changed_password_is_refused_at_once_despite_the_verification_cache(client, make_account):
    account = make_account("cached", password="first-password-1", finder_access=True)
    header = basic("cached", "first-password-1")
    assert client.get("/finder", HTTP_AUTHORIZATION=header).status_code == 200
    account.set_password("second-password-2")
    account.save()
    assert client.get("/finder", HTTP_AUTHORIZATION=header).status_code == 401
    assert client.get("/finder", HTTP_AUTHORIZATION=basic("cached", "second-password-2")).status_code == 200


@pytest.mark.urls("tests.portal.basic_auth_urls")
def test_a_deactivated_account_is_refused_at_once_despite_the_verification_cache(client, make_account):
    account = make_account("leaving", password="first-password-1", finder_access=True)
    header = basic("leaving", "first-password-1")
    assert client.get("/finder", HTTP_AUTHORIZATION=header).status_code == 200
    account.is_active = False
    account.save()
    assert client.get("/finder", HTTP_AUTHORIZATION=header).status_code == 401


@pytest.mark.urls("tests.portal.basic_auth_urls")
def test_repeated_requests_skip_the_password_hash_check(client, make_account, monkeypatch):
    make_account("repeat", password="first-password-1", finder_access=True)
    header = basic("repeat", "first-password-1")
    assert client.get("/finder", HTTP_AUTHORIZATION=header).status_code == 200
    from django.contrib.auth import base_user

    def refuse(*args, **kwargs):
        raise AssertionError("the password hash was checked again")

    monkeypatch.setattr(base_user, "check_password", refuse)
    assert client.get("/finder", HTTP_AUTHORIZATION=header).status_code == 200
