"""Security pass (issue 8): production settings and ``check --deploy``, cookie and header flags, the
password policy, admin pages for administrators only, CSRF on session-authenticated APIs, throttling of
every Basic endpoint. Secrets in logs: ``test_secrets_in_logs.py``."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys

import pytest
from django.conf import settings
from django.contrib import admin
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.urls import URLPattern, URLResolver

from portal.database import database_url
from portal.models import Account, PlatformSettings, Profile

PASSWORD = "security-test-password-1"


def basic(username: str, password: str = PASSWORD) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


@pytest.fixture
def fast_hashes(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


# -- production settings, decided by the environment --------------------------------------------------


def child_env(**env: str) -> dict[str, str]:
    """The environment of a production-like child process: no DEBUG, no plain-HTTP switch, no opt-ins."""
    removed = {"DEBUG", "OPENDEX_PLAIN_HTTP", "LOG_FORMAT", "METRICS_TOKEN", "CSRF_TRUSTED_ORIGINS"}
    environment = {k: v for k, v in os.environ.items() if k not in removed and not k.startswith("SECURE_")}
    environment.update(DATABASE_URL=database_url(connection.settings_dict), SECRET_KEY=settings.SECRET_KEY,
                       OPENDEX_SECRETS_KEY=settings.OPENDEX_SECRETS_KEY, **env)
    return environment


SHOW = """
import json, django
django.setup()
from django.conf import settings as s
print(json.dumps({name: getattr(s, name, None) for name in (
    "DEBUG", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SESSION_COOKIE_HTTPONLY", "SESSION_COOKIE_SAMESITE",
    "CSRF_COOKIE_SAMESITE", "X_FRAME_OPTIONS", "SECURE_CONTENT_TYPE_NOSNIFF", "SECURE_REFERRER_POLICY",
    "SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SECURE_HSTS_PRELOAD",
    "SECURE_PROXY_SSL_HEADER", "CSRF_TRUSTED_ORIGINS", "LOG_FORMAT")}))
"""


def settings_with(**env: str) -> dict:
    done = subprocess.run([sys.executable, "-c", SHOW], cwd=settings.BASE_DIR, capture_output=True, text=True,
                          env={**child_env(**env), "DJANGO_SETTINGS_MODULE": "portal.settings"}, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_production_defaults():
    values = settings_with()
    assert values == {
        "DEBUG": False, "SESSION_COOKIE_SECURE": True, "CSRF_COOKIE_SECURE": True, "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax", "CSRF_COOKIE_SAMESITE": "Lax", "X_FRAME_OPTIONS": "DENY",
        "SECURE_CONTENT_TYPE_NOSNIFF": True, "SECURE_REFERRER_POLICY": "same-origin", "SECURE_SSL_REDIRECT": False,
        "SECURE_HSTS_SECONDS": 31536000, "SECURE_HSTS_INCLUDE_SUBDOMAINS": False, "SECURE_HSTS_PRELOAD": False,
        "SECURE_PROXY_SSL_HEADER": None, "CSRF_TRUSTED_ORIGINS": [], "LOG_FORMAT": "json",
    }


@pytest.mark.parametrize("env", [{"OPENDEX_PLAIN_HTTP": "true"}, {"DEBUG": "true"}])
def test_plain_http_for_make_run_and_debug(env):
    values = settings_with(**env)
    assert (values["SESSION_COOKIE_SECURE"], values["CSRF_COOKIE_SECURE"]) == (False, False)
    assert (values["SECURE_HSTS_SECONDS"], values["SECURE_SSL_REDIRECT"]) == (0, False)
    assert values["SESSION_COOKIE_HTTPONLY"] is True and values["X_FRAME_OPTIONS"] == "DENY"


def test_opt_ins_behind_a_tls_proxy():
    values = settings_with(SECURE_PROXY_SSL_HEADER="true", SECURE_SSL_REDIRECT="true", SECURE_HSTS_SECONDS="600",
                           SECURE_HSTS_INCLUDE_SUBDOMAINS="true", SECURE_HSTS_PRELOAD="true",
                           CSRF_TRUSTED_ORIGINS="https://dex.example.com, https://dex2.example.com")
    assert values["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert values["SECURE_SSL_REDIRECT"] is True
    assert (values["SECURE_HSTS_SECONDS"], values["SECURE_HSTS_INCLUDE_SUBDOMAINS"],
            values["SECURE_HSTS_PRELOAD"]) == (600, True, True)
    assert values["CSRF_TRUSTED_ORIGINS"] == ["https://dex.example.com", "https://dex2.example.com"]


def check_deploy(**env: str) -> tuple[int, str]:
    done = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                          cwd=settings.BASE_DIR, capture_output=True, text=True, env=child_env(**env), timeout=120)
    return done.returncode, done.stdout + done.stderr


def test_check_deploy_is_clean_in_production():
    status, output = check_deploy(SECURE_SSL_REDIRECT="true", SECURE_HSTS_INCLUDE_SUBDOMAINS="true",
                                  SECURE_HSTS_PRELOAD="true")
    assert status == 0, output
    assert "System check identified no issues" in output


def test_check_deploy_without_the_opt_ins_warns_only_of_them():
    """The accepted warnings of the defaults (docs/decisions.md, "Security"): HTTPS redirect, HSTS for
    subdomains and preloading are the deployment's choices, so they stay opt-in."""
    status, output = check_deploy()
    assert status != 0
    assert sorted(set(re.findall(r"\((\w+\.\w+)\)", output))) == ["security.W005", "security.W008", "security.W021"]


# -- what the responses carry ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_security_headers_and_cookie_flags(make_account, fast_hashes):
    make_account("admin-flags", PASSWORD, administration=True)
    client = Client()
    page = client.get("/admin/login/")
    assert page["X-Frame-Options"] == "DENY"
    assert page["X-Content-Type-Options"] == "nosniff"
    assert page["Referrer-Policy"] == "same-origin"
    assert page["Cross-Origin-Opener-Policy"] == "same-origin"
    assert "Strict-Transport-Security" not in page  # plain HTTP: never
    csrf = page.cookies["csrftoken"]
    assert csrf["samesite"] == "Lax" and bool(csrf["secure"]) == settings.CSRF_COOKIE_SECURE
    response = client.post("/admin/login/?next=/admin/", {"username": "admin-flags", "password": PASSWORD})
    assert response.status_code == 302
    session = response.cookies["sessionid"]
    assert session["httponly"] and session["samesite"] == "Lax"
    assert bool(session["secure"]) == settings.SESSION_COOKIE_SECURE == (not settings.PLAIN_HTTP)
    secure = Client().get("/admin/login/", secure=True)
    if settings.SECURE_HSTS_SECONDS:
        assert secure["Strict-Transport-Security"] == f"max-age={settings.SECURE_HSTS_SECONDS}"


# -- password policy ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("password", ["short-pw-1", "123456789012345", "password1234", "alice.wonder.land"])
def test_weak_passwords_are_refused(password):
    user = Account(username="alice.wonder.land", first_name="Alice", email="alice@example.com")
    with pytest.raises(ValidationError):
        validate_password(password, user)


def test_a_long_uncommon_password_passes():
    validate_password("correct horse battery staple", Account(username="alice"))
    validate_password("x8Kq-2mVn-Lp9w", Account(username="alice"))  # 14 characters


@pytest.mark.django_db
def test_the_admin_refuses_a_weak_password(fast_hashes):
    root = Account.objects.create_superuser("root-policy", password=PASSWORD,
                                            profile=Profile.objects.create(name="root profile", administration=True))
    client = Client()
    client.force_login(root)
    profile = Profile.objects.create(name="plain")
    response = client.post("/admin/portal/account/add/", {
        "username": "newcomer", "password1": "short", "password2": "short", "profile": profile.pk,
        "usable_password": "true",
    })
    assert response.status_code == 200
    assert not Account.objects.filter(username="newcomer").exists()
    assert "too short" in response.content.decode() and "at least 12 characters" in response.content.decode()


@pytest.mark.django_db
def test_seed_demo_sets_the_given_password_as_the_spec_says(fast_hashes):
    """platform.md: the demo accounts take ``--password`` (or ``DEMO_PASSWORD``) as given; the policy is
    for passwords people choose in the portal."""
    call_command("seed_demo", devices=3, days=1, password="demo", stdout=open(os.devnull, "w"),  # noqa: SIM115
                 stderr=open(os.devnull, "w"))  # noqa: SIM115
    assert Account.objects.get(username="admin").check_password("demo")


# -- admin pages: administrators only --------------------------------------------------------------------


def admin_routes(patterns=None, prefix="admin/"):
    """(route, name) of every admin URL pattern."""
    for entry in admin.site.get_urls() if patterns is None else patterns:
        if isinstance(entry, URLResolver):
            yield from admin_routes(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry.name


def concrete_urls() -> list[tuple[str, str]]:
    """(URL, name) for every admin page, with the id of an existing object where the route takes one."""
    from django.contrib.contenttypes.models import ContentType

    urls = []
    models = {f"{model._meta.app_label}/{model._meta.model_name}/": model for model in admin.site._registry}
    for route, name in admin_routes():
        if name in (None, "logout") or "(?P<url>" in route:  # redirects to the change page; the catch-all
            continue
        if route.startswith("admin/^(?P<app_label>"):
            labels = re.search(r"\(\?P<app_label>([^)]*)\)", route).group(1).split("|")
            urls.extend((f"/admin/{label}/", name) for label in labels)
            continue
        url = "/" + route
        if "<path:content_type_id>" in url:
            account = Account.objects.order_by("pk").first()
            url = url.replace("<path:content_type_id>", str(ContentType.objects.get_for_model(Account).pk))
            url = url.replace("<path:object_id>", str(account.pk))
        elif "<path:object_id>" in url or "<id>" in url:
            model = next(model for key, model in models.items() if route.startswith("admin/" + key))
            obj = model._default_manager.order_by("pk").first()
            url = url.replace("<path:object_id>", str(obj.pk) if obj is not None else "1")
            url = url.replace("<id>", str(obj.pk) if obj is not None else "1")
        assert "<" not in url, url
        urls.append((url, name))
    return urls


# Pages any signed-in staff account may see: they show no configured data.
PERSONAL = {"index": 200, "password_change": 200, "password_change_done": 200, "jsi18n": 200, "login": 302}


@pytest.fixture
def walk_data(db, fast_hashes):
    """The demo data (an object of nearly every model) plus the accounts that walk the admin."""
    with open(os.devnull, "w") as sink:
        call_command("seed_demo", devices=4, days=1, password=PASSWORD, stdout=sink, stderr=sink)
    from tests.exporters.sink import make_credential, make_exporter

    make_exporter(make_credential("http://127.0.0.1:9"), [("devices | list name", "collection",
                                                            '{"device": "{{device.name}}"}')])
    plain = Profile.objects.create(name="no administration", finder_access=True, allow_remote_action_api=True)
    member = Account.objects.create(username="member", profile=plain)
    staff = Account.objects.create(username="staff-no-admin", profile=plain)
    Account.objects.filter(pk=staff.pk).update(is_staff=True)  # an inconsistent row: staff, no right
    staff.refresh_from_db()
    assert staff.is_staff and not staff.profile.administration
    return {"member": member, "staff": staff, "admin": Account.objects.get(username="admin")}


def request(client: Client, method: str, url: str):
    if method == "GET":
        return client.get(url)
    return client.post(url, {"name": "intruder", "post": "yes", "action": "delete_selected", "_save": "Save"})


def test_admin_pages_refuse_accounts_without_the_administration_right(walk_data):
    urls = concrete_urls()
    names = {name for _url, name in urls}
    assert {"investigations", "exporters_exporter_helpers", "exporters_exporter_test_load", "exporters_exporter_run",
            "remote_actions_remoteaction_changelist", "auth_user_password_change"} <= names
    assert len(urls) >= 250
    member, staff = Client(), Client()
    member.force_login(walk_data["member"])
    staff.force_login(walk_data["staff"])
    wrong = []
    for url, name in urls:
        methods = ("GET", "POST") if name.endswith(("_add", "_change", "_delete", "_changelist", "_test_load", "_run",
                                                     "user_password_change")) and name not in PERSONAL else ("GET",)
        for method in methods:
            response = request(member, method, url)
            refused = response.status_code == 302 and response["Location"].startswith("/admin/login/")
            if not refused and name != "login":  # the sign-in page itself answers anyone
                wrong.append(("member", method, url, response.status_code))
            response = request(staff, method, url)
            expected = {PERSONAL[name]} if name in PERSONAL and method == "GET" else {403}
            if name == "app_list":
                expected = {404}
            elif name == "view_on_site":
                expected = {302, 404}
            elif name in ("exporters_exporter_test_load", "exporters_exporter_run") and method == "GET":
                expected = {405}
            elif name == "autocomplete":
                expected = {403}
            elif name.endswith("_history") and response.status_code == 302 and response["Location"] == "/admin/":
                expected = {302}  # no such object (an empty table): Django says so before checking rights
            if response.status_code not in expected:
                wrong.append(("staff", method, url, response.status_code))
    assert not wrong, "\n".join(map(str, wrong))
    assert not Account.objects.filter(username="intruder").exists()
    assert not Profile.objects.filter(name="intruder").exists()


def test_the_staff_index_lists_nothing(walk_data):
    staff = Client()
    staff.force_login(walk_data["staff"])
    page = staff.get("/admin/").content.decode()
    assert "have permission to view or edit anything" in page
    assert "/admin/investigations/" not in page
    assert not re.search(r'href="/admin/(portal|engine|exporters|remote_actions|service_health)/', page)


def test_the_walk_reaches_real_pages_for_the_administrator(walk_data):
    """The same URLs answer 200 to the demo administrator: the walk above refused real pages."""
    root = Client()
    root.force_login(walk_data["admin"])
    changelists = [url for url, name in concrete_urls() if name and name.endswith("_changelist")]
    assert len(changelists) == len(admin.site._registry)
    failures = []
    for url in changelists:
        response = root.get(url)
        # the platform settings' list goes straight to the one row's page
        if response.status_code != 200 and not (response.status_code == 302 and response["Location"].startswith(url)):
            failures.append((url, response.status_code))
    assert not failures
    assert root.get("/admin/investigations/").status_code == 200


def test_anonymous_visitors_are_sent_to_the_login_page(walk_data):
    anonymous = Client()
    for url, name in concrete_urls():
        if name == "login":
            continue
        response = anonymous.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/admin/login/"), url


# -- CSRF: the APIs that accept a portal session ----------------------------------------------------------


@pytest.fixture
def config_objects(db):
    from tests.exporters.sink import make_credential, make_exporter

    credential = make_credential("http://127.0.0.1:9")
    exporter = make_exporter(credential, [("devices | list name", "collection", '{"device": "{{device.name}}"}')])
    return str(credential.uid), str(exporter.uid)


def test_session_requests_to_the_configuration_api_need_the_csrf_token(make_account, config_objects, fast_hashes):
    from exporters.models import ConnectorCredential, Exporter

    credential, exporter = config_objects
    client = Client(enforce_csrf_checks=True)
    client.force_login(make_account("csrf-admin", PASSWORD, administration=True))
    base = "/api/config/v1"
    assert client.get(f"{base}/exporters").status_code == 200  # safe methods need no token
    unsafe = [
        ("post", f"{base}/connector-credentials"), ("put", f"{base}/connector-credentials/{credential}"),
        ("patch", f"{base}/connector-credentials/{credential}"),
        ("post", f"{base}/connector-credentials/{credential}/test"),
        ("post", f"{base}/exporters"), ("post", f"{base}/exporters/test-load"), ("put", f"{base}/exporters/{exporter}"),
        ("patch", f"{base}/exporters/{exporter}"), ("post", f"{base}/exporters/{exporter}/test-load"),
        ("post", f"{base}/exporters/{exporter}/run"), ("delete", f"{base}/exporters/{exporter}"),
        ("delete", f"{base}/connector-credentials/{credential}"),
    ]
    for method, url in unsafe:
        response = getattr(client, method)(url, json.dumps({"name": "changed"}), content_type="application/json")
        assert response.status_code == 403, (method, url, response.content)
        assert list(response.json()["errors"]) == ["csrf"], (method, url)
    assert ConnectorCredential.objects.filter(uid=credential).exists()
    assert Exporter.objects.filter(uid=exporter).exists()
    # With the token (cookie and header), the same session gets through.
    client.cookies["csrftoken"] = token = "b" * 32
    response = client.patch(f"{base}/exporters/{exporter}", json.dumps({"description": "fine"}),
                            content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 200, response.content


def test_the_portal_sign_in_form_needs_the_csrf_token(make_account, fast_hashes):
    make_account("csrf-user", PASSWORD, administration=True)
    response = Client(enforce_csrf_checks=True).post("/admin/login/", {"username": "csrf-user", "password": PASSWORD})
    assert response.status_code == 403


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path"), [
    ("post", "/2/query"), ("post", "/api/remoteaction/v2/run"), ("post", "/api/v2/nql/execute"),
    ("post", "/api/v1/act/execute"), ("post", "/oauth2/default/v1/token"), ("get", "/api/beta/service/data/overview"),
])
def test_csrf_exempt_apis_ignore_the_portal_session(make_account, fast_hashes, method, path):
    """The APIs without CSRF checks take Basic, Bearer or client credentials only: a browser's session
    cookie authenticates nothing there, so a forged cross-site request gets a 401."""
    PlatformSettings.objects.update_or_create(pk=1, defaults={"services_api_enabled": True})
    client = Client(enforce_csrf_checks=True)
    client.force_login(make_account("session-holder", PASSWORD, administration=True, finder_access=True,
                                    allow_remote_action_api=True))
    response = getattr(client, method)(path, {"query": "(select (name) (from device))"} if path == "/2/query" else {})
    assert response.status_code == 401, response.content


# -- throttling on every Basic endpoint ----------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path"), [
    ("get", "/2/query?query=(select%20(name)%20(from%20device))"),
    ("get", "/api/configuration/v1/engines"),
    ("post", "/api/remoteaction/v2/run"),
    ("get", "/api/beta/service/data/overview"),
    ("get", "/api/config/v1/exporters"),
    ("post", "/oauth2/default/v1/token"),
    ("post", "/api/v1/token"),
])
def test_ten_failures_throttle_each_basic_endpoint(make_account, fast_hashes, method, path):
    from portal.models import ApiCredential

    PlatformSettings.objects.update_or_create(pk=1, defaults={"services_api_enabled": True})
    name = "victim"
    if "token" in path:
        ApiCredential.objects.create(
            name="victim", client_id=name, client_secret=PASSWORD, hash_client_secret=True,
            client_type=ApiCredential.CLIENT_CONFIDENTIAL,
            authorization_grant_type=ApiCredential.GRANT_CLIENT_CREDENTIALS, allowed_scopes="nql")
    else:
        make_account(name, PASSWORD, finder_access=True, allow_remote_action_api=True, administration=True)
    client = Client()
    body = {"data": "grant_type=client_credentials", "content_type": "application/x-www-form-urlencoded"} \
        if "token" in path else {}
    for _ in range(10):
        response = getattr(client, method)(path, HTTP_AUTHORIZATION=basic(name, "wrong password!"), **body)
        assert response.status_code == 401, response.content
    response = getattr(client, method)(path, HTTP_AUTHORIZATION=basic(name), **body)
    assert response.status_code == 429, response.content
    assert 1 <= int(response["Retry-After"]) <= 300
    other = Client(REMOTE_ADDR="10.0.0.99")  # the account is throttled from any address
    assert getattr(other, method)(path, HTTP_AUTHORIZATION=basic(name), **body).status_code == 429
