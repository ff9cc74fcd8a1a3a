"""The configuration portal (Django admin) for the portal's models and the OAuth toolkit's."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib import admin
from django.contrib.auth.hashers import check_password
from django.forms import CheckboxInput
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone
from oauth2_provider.models import AccessToken, Grant, IDToken, RefreshToken

from portal.models import (
    Account,
    ApiCredential,
    AuthenticationFailure,
    Entity,
    Hierarchy,
    HierarchyLevel,
    HierarchyNode,
    PlatformSettings,
    Profile,
)

PASSWORD = "correct horse battery staple"
ACCESS_TOKEN = "AccessTokenValue0123456789abcdefWXYZ"
REFRESH_TOKEN = "RefreshTokenValue0123456789abcdefQRST"
GRANT_CODE = "GrantCodeValue0123456789abcdefMNOP"


def admin_url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def login(username: str) -> Client:
    client = Client()
    client.force_login(Account.objects.get(username=username))
    return client


def make_account(username: str, profile: Profile, password: bool = True, **fields) -> Account:
    account = Account(username=username, profile=profile, **fields)
    if password:
        account.set_password(PASSWORD)  # Argon2 is slow on purpose: only where a test signs in
    else:
        account.set_unusable_password()
    account.save()
    return account


def form_payload(response) -> dict:
    """The POST data a browser would send back for the change form in ``response``."""
    data: dict = {}
    forms = [response.context["adminform"].form]
    for inline in response.context["inline_admin_formsets"]:
        forms.append(inline.formset.management_form)
        forms.extend(inline.formset.forms)
    for form in forms:
        for bound in form:
            value = bound.value()
            if isinstance(bound.field.widget, CheckboxInput):
                if value:
                    data[bound.html_name] = "on"
            elif value is None:
                data[bound.html_name] = ""
            elif isinstance(value, (list, tuple)):
                data[bound.html_name] = [str(v) for v in value]
            else:
                data[bound.html_name] = str(value)
    return data


@pytest.fixture
def portal_data(db):
    """A small portal: entities, a hierarchy, profiles, accounts, credentials and OAuth rows."""
    entities = {name: Entity.objects.create(name=name) for name in ("Lausanne", "Zurich", "Boston")}
    geography = Hierarchy.objects.create(name="Geography", description="Where devices are")
    continent, country, entity_level = (
        HierarchyLevel.objects.create(hierarchy=geography, name=name, depth=depth)
        for depth, name in enumerate(("Continent", "Country", "Entity"))
    )
    europe = HierarchyNode.objects.create(hierarchy=geography, level=continent, name="Europe")
    america = HierarchyNode.objects.create(hierarchy=geography, level=continent, name="America")
    switzerland = HierarchyNode.objects.create(hierarchy=geography, level=country, parent=europe,
                                               name="Switzerland")
    usa = HierarchyNode.objects.create(hierarchy=geography, level=country, parent=america, name="USA")
    for parent, name in ((switzerland, "Lausanne"), (switzerland, "Zurich"), (usa, "Boston")):
        HierarchyNode.objects.create(hierarchy=geography, level=entity_level, parent=parent, name=name,
                                     entity=entities[name])

    everything = Profile.objects.create(name="Everything", finder_access=True, administration=True,
                                        allow_remote_action_api=True, can_edit_categories=True)
    admins = Profile.objects.create(name="Administrators", administration=True)
    analysts = Profile.objects.create(name="Analysts", finder_access=True, data_privacy="partial",
                                      view_domain=europe)
    root = make_account("root", everything, password=False, is_superuser=True, is_staff=True,
                        first_name="Ada", last_name="Root")
    ops = make_account("ops", admins, first_name="Olga", last_name="Ops")
    analyst = make_account("analyst", analysts)

    PlatformSettings.load()
    credential = ApiCredential.objects.create(
        name="Demo", client_id="demo-client", client_secret="demo-secret-value-123",
        client_type=ApiCredential.CLIENT_CONFIDENTIAL,
        authorization_grant_type=ApiCredential.GRANT_CLIENT_CREDENTIALS,
        allowed_scopes="service:integration",
    )
    AuthenticationFailure.objects.create(kind="account", key="mallory", at=timezone.now())
    expires = timezone.now() + timedelta(minutes=15)
    access = AccessToken.objects.create(token=ACCESS_TOKEN, application=credential, expires=expires,
                                        scope="service:integration")
    RefreshToken.objects.create(token=REFRESH_TOKEN, application=credential, user=root, access_token=access)
    Grant.objects.create(code=GRANT_CODE, application=credential, user=root, expires=expires,
                         redirect_uri="https://example.com/cb")
    IDToken.objects.create(application=credential, user=root, expires=expires)
    return {
        "root": root, "ops": ops, "analyst": analyst, "geography": geography, "europe": europe,
        "credential": credential, "entities": entities, "analysts": analysts,
    }


@pytest.fixture
def root_client(portal_data) -> Client:
    return login("root")


def registered(exclude_apps=("engine",)):
    return [(model, model_admin) for model, model_admin in admin.site._registry.items()
            if model._meta.app_label not in exclude_apps]


def check_changelist_search_and_filters(client, model, model_admin):
    url = admin_url(model, "changelist")
    response = client.get(url, follow=True)
    assert response.status_code == 200, url
    assert not any(reverse("admin:login") in hop for hop, _ in response.redirect_chain), url
    changelist = response.context.get("cl") if response.context else None
    if changelist is None:  # a singleton going straight to its change page
        return
    if model_admin.search_fields:
        searched = client.get(url, {"q": "a"})
        assert searched.status_code == 200, url
    for spec in changelist.filter_specs:
        for choice in spec.choices(changelist):
            filtered = client.get(url + choice["query_string"])
            assert filtered.status_code == 200, (url, choice["query_string"])
            assert "?e=1" not in filtered.get("Location", ""), (url, choice["query_string"])


def test_every_portal_and_oauth_page_answers_for_a_superuser(root_client, portal_data):
    request = RequestFactory().get("/")
    request.user = portal_data["root"]
    models = registered()
    assert {model._meta.label for model, _ in models} >= {
        "portal.Account", "portal.Profile", "portal.Hierarchy", "portal.HierarchyNode", "portal.Entity",
        "portal.PlatformSettings", "portal.ApiCredential", "portal.AuthenticationFailure",
        "oauth2_provider.AccessToken", "oauth2_provider.RefreshToken",
    }
    for model, model_admin in models:
        check_changelist_search_and_filters(root_client, model, model_admin)
        add = root_client.get(admin_url(model, "add"))
        assert add.status_code == (200 if model_admin.has_add_permission(request) else 403), model
        obj = model._default_manager.order_by("pk").first()
        if obj is not None:
            change = root_client.get(admin_url(model, "change", obj.pk))
            assert change.status_code == 200, model


def test_profile_list_shows_rights_and_accounts_and_filters(root_client, portal_data):
    url = admin_url(Profile, "changelist")
    response = root_client.get(url)
    html = response.content.decode()
    for column in ("finder", "remote_action_api", "edit_categories", "admin_right",
                   "data_privacy", "view_domain", "number_of_accounts"):
        assert f"column-{column}" in html
    assert "icon-yes.svg" in html and "icon-no.svg" in html
    rows = {p.name: p for p in response.context["cl"].result_list}
    assert rows["Analysts"].account_count == 1

    response = root_client.get(url, {"q": "analy"})
    assert [p.name for p in response.context["cl"].result_list] == ["Analysts"]
    response = root_client.get(url, {"administration__exact": "1"})
    assert {p.name for p in response.context["cl"].result_list} == {"Everything", "Administrators"}
    response = root_client.get(url, {"data_privacy__exact": "partial"})
    assert [p.name for p in response.context["cl"].result_list] == ["Analysts"]

    change = root_client.get(admin_url(Profile, "change", portal_data["analysts"].pk))
    fieldsets = [(fs.name, list(fs.form.fields)) for fs in change.context["adminform"]]
    names = [name for name, _ in fieldsets]
    assert "Access" in names and "Data" in names
    html = change.content.decode()
    assert "admin-autocomplete" in html  # view_domain is chosen with autocomplete
    autocomplete = root_client.get(reverse("admin:autocomplete"), {
        "app_label": "portal", "model_name": "profile", "field_name": "view_domain", "term": "Swi"})
    assert autocomplete.status_code == 200
    assert [r["text"] for r in autocomplete.json()["results"]] == ["Europe / Switzerland"]


def test_administration_right_opens_the_portal_and_others_are_sent_to_login(portal_data):
    ops = login("ops")
    for model in (Profile, Account, Hierarchy, ApiCredential):
        assert ops.get(admin_url(model, "changelist")).status_code == 200, model
    assert ops.get(reverse("admin:engine_device_changelist")).status_code == 200
    assert ops.get(reverse("admin:index")).status_code == 200

    # The admin's own sign-in form admits the administrator and turns the analyst away.
    signed_in = Client()
    response = signed_in.post(reverse("admin:login"), {"username": "ops", "password": PASSWORD,
                                                       "next": reverse("admin:index")})
    assert response.status_code == 302 and response["Location"] == reverse("admin:index")
    response = Client().post(reverse("admin:login"), {"username": "analyst", "password": PASSWORD})
    assert response.status_code == 200 and "staff account" in response.content.decode()

    analyst = login("analyst")
    for url in (admin_url(Profile, "changelist"), reverse("admin:engine_device_changelist"),
                reverse("admin:index")):
        response = analyst.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login"))


def test_account_add_form_takes_a_profile_and_hashes_the_password(root_client, portal_data):
    admins = Profile.objects.get(name="Administrators")
    response = root_client.post(admin_url(Account, "add"), {
        "username": "newbie", "profile": admins.pk, "usable_password": "true",
        "password1": "Tr1cky-passw0rd!", "password2": "Tr1cky-passw0rd!",
    })
    assert response.status_code == 302, response.context["adminform"].form.errors
    account = Account.objects.get(username="newbie")
    assert account.profile == admins
    assert account.is_staff  # derived from the profile's administration right
    assert account.password.startswith("argon2$")
    assert account.check_password("Tr1cky-passw0rd!")

    change = root_client.get(admin_url(Account, "change", account.pk))
    html = change.content.decode()
    assert 'name="profile"' in html
    assert 'name="is_staff"' not in html  # read-only
    assert "Derived from the profile" in html
    assert "groups" not in change.context["adminform"].form.fields
    assert 'href="../password/"' in html  # passwords change only through Django's password form
    password_page = root_client.get(reverse("admin:auth_user_password_change", args=[account.pk]))
    assert password_page.status_code == 200


def test_account_list_columns_filters_and_search(root_client, portal_data):
    url = admin_url(Account, "changelist")
    response = root_client.get(url)
    assert list(response.context["cl"].list_display)[1:] == [
        "username", "full_name", "profile", "is_active", "last_login"]
    assert "Olga Ops" in response.content.decode()
    profile = portal_data["analysts"]
    response = root_client.get(url, {"profile__id__exact": profile.pk})
    assert [a.username for a in response.context["cl"].result_list] == ["analyst"]
    response = root_client.get(url, {"is_active__exact": "1", "q": "olga"})
    assert [a.username for a in response.context["cl"].result_list] == ["ops"]


def test_a_non_superuser_administrator_cannot_make_or_edit_superusers(portal_data):
    ops = login("ops")
    own = ops.get(admin_url(Account, "change", portal_data["ops"].pk))
    assert 'name="is_superuser"' not in own.content.decode()
    root_page = ops.get(admin_url(Account, "change", portal_data["root"].pk))
    assert root_page.status_code == 200
    assert not root_page.context["has_change_permission"]
    password = ops.get(reverse("admin:auth_user_password_change", args=[portal_data["root"].pk]))
    assert password.status_code == 403


def test_platform_settings_is_a_singleton_page(root_client, portal_data):
    settings_row = PlatformSettings.load()
    response = root_client.get(admin_url(PlatformSettings, "changelist"))
    assert response.status_code == 302
    assert response["Location"] == admin_url(PlatformSettings, "change", settings_row.pk)
    assert root_client.get(admin_url(PlatformSettings, "add")).status_code == 403
    assert root_client.get(admin_url(PlatformSettings, "delete", settings_row.pk)).status_code == 403

    change = root_client.get(admin_url(PlatformSettings, "change", settings_row.pk))
    data = form_payload(change)
    data["act_max_devices"] = "500"
    saved = root_client.post(admin_url(PlatformSettings, "change", settings_row.pk), data)
    assert saved.status_code == 302
    assert saved["Location"] == admin_url(PlatformSettings, "change", settings_row.pk)
    assert PlatformSettings.objects.count() == 1
    assert PlatformSettings.load().act_max_devices == 500

    PlatformSettings.objects.all().delete()
    assert root_client.get(admin_url(PlatformSettings, "add")).status_code == 200


def test_api_credential_secret_is_shown_once_and_stored_hashed(root_client, portal_data):
    add_page = root_client.get(admin_url(ApiCredential, "add"))
    form = add_page.context["adminform"].form
    assert set(form.fields) == {"name", "client_id", "allowed_scopes"}
    assert form.fields["allowed_scopes"].help_text

    response = root_client.post(admin_url(ApiCredential, "add"), {
        "name": "ServiceNow", "client_id": "servicenow", "allowed_scopes": ["service:integration", "nql"],
    }, follow=True)
    assert response.status_code == 200
    shown = [str(m) for m in response.context["messages"] if "Client secret" in str(m)]
    assert len(shown) == 1
    secret = re.search(r"“ServiceNow”: (\S+) ", shown[0]).group(1)
    assert len(secret) >= 32
    assert response.content.decode().count(secret) == 1

    credential = ApiCredential.objects.get(client_id="servicenow")
    assert credential.client_secret != secret
    assert check_password(secret, credential.client_secret)
    assert credential.client_type == ApiCredential.CLIENT_CONFIDENTIAL
    assert credential.authorization_grant_type == ApiCredential.GRANT_CLIENT_CREDENTIALS
    assert credential.allowed_scopes == "service:integration nql"
    assert credential.hash_client_secret

    change = root_client.get(admin_url(ApiCredential, "change", credential.pk))
    html = change.content.decode()
    assert secret not in html and credential.client_secret not in html
    assert "stored hashed" in html
    assert "View on site" not in html
    assert "client_secret" not in change.context["adminform"].form.fields
    assert secret not in root_client.get(admin_url(ApiCredential, "changelist")).content.decode()

    # The change form edits name and scopes only; the secret stays as it was.
    data = form_payload(change)
    data.update(name="ServiceNow prod", allowed_scopes=["nql"])
    assert root_client.post(admin_url(ApiCredential, "change", credential.pk), data).status_code == 302
    credential.refresh_from_db()
    assert (credential.name, credential.allowed_scopes) == ("ServiceNow prod", "nql")
    assert check_password(secret, credential.client_secret)


def test_api_credential_list_and_new_secret_action(root_client, portal_data):
    credential = portal_data["credential"]
    response = root_client.get(admin_url(ApiCredential, "changelist"))
    assert list(response.context["cl"].list_display)[1:] == ["name", "client_id", "allowed_scopes", "created"]
    assert "demo-client" in response.content.decode()

    response = root_client.post(admin_url(ApiCredential, "changelist"), {
        "action": "reset_client_secret", "_selected_action": [credential.pk]}, follow=True)
    shown = [str(m) for m in response.context["messages"] if "Client secret" in str(m)]
    secret = re.search(r"“Demo”: (\S+) ", shown[0]).group(1)
    credential.refresh_from_db()
    assert check_password(secret, credential.client_secret)
    assert not check_password("demo-secret-value-123", credential.client_secret)


def test_the_toolkit_default_application_admin_is_replaced(portal_data):
    from portal.admin import ApiCredentialAdmin

    assert isinstance(admin.site.get_model_admin(ApiCredential), ApiCredentialAdmin)


def test_oauth_token_pages_are_read_only_and_masked(root_client, portal_data):
    for model, value in ((AccessToken, ACCESS_TOKEN), (RefreshToken, REFRESH_TOKEN), (Grant, GRANT_CODE)):
        listing = root_client.get(admin_url(model, "changelist")).content.decode()
        assert value not in listing and f"…{value[-4:]}" in listing, model
        obj = model.objects.get()
        page = root_client.get(admin_url(model, "change", obj.pk))
        html = page.content.decode()
        assert value not in html and f"…{value[-4:]}" in html, model
        assert not page.context["has_change_permission"]
        assert root_client.get(admin_url(model, "add")).status_code == 403
        assert root_client.post(admin_url(model, "change", obj.pk), {}).status_code == 403


def test_authentication_failures_are_read_only(root_client, portal_data):
    url = admin_url(AuthenticationFailure, "changelist")
    response = root_client.get(url, {"kind__exact": "account"})
    assert "mallory" in response.content.decode()
    assert not root_client.get(url, {"kind__exact": "address"}).context["cl"].result_list
    failure = AuthenticationFailure.objects.get()
    assert root_client.get(admin_url(AuthenticationFailure, "add")).status_code == 403
    assert root_client.post(admin_url(AuthenticationFailure, "change", failure.pk),
                            {"kind": "address", "key": "x", "at": "2024-01-01"}).status_code == 403
    AuthenticationFailure.objects.get(key="mallory")


def test_hierarchy_page_saves_new_levels_and_nodes_inline(root_client, portal_data):
    organization = Hierarchy.objects.create(name="Organization")
    division = HierarchyLevel.objects.create(hierarchy=organization, name="Division", depth=0)
    url = admin_url(Hierarchy, "change", organization.pk)

    def save(**rows):
        data = form_payload(root_client.get(url))
        data.update({key.replace("__", "-"): str(value) for key, value in rows.items()})
        return root_client.post(url, data)

    response = save(**{"levels__1__name": "Entity", "levels__1__depth": 1})
    assert response.status_code == 302, response.context and response.context["errors"]
    entity_level = HierarchyLevel.objects.get(hierarchy=organization, name="Entity")
    assert entity_level.depth == 1

    response = save(**{"nodes__0__level": division.pk, "nodes__0__name": "Corporate"})
    assert response.status_code == 302, response.context and response.context["errors"]
    corporate = HierarchyNode.objects.get(hierarchy=organization, name="Corporate")

    # Only this hierarchy's levels and nodes are offered to its nodes.
    node_form = root_client.get(url).context["inline_admin_formsets"][1].formset.forms[0]
    assert list(node_form.fields["level"].queryset) == [division, entity_level]
    assert list(node_form.fields["parent"].queryset) == [corporate]

    lausanne = portal_data["entities"]["Lausanne"]
    response = save(**{"nodes__1__level": entity_level.pk, "nodes__1__parent": corporate.pk,
                       "nodes__1__name": "Lausanne", "nodes__1__entity": lausanne.pk})
    assert response.status_code == 302, response.context and response.context["errors"]
    node = HierarchyNode.objects.get(hierarchy=organization, name="Lausanne")
    assert (str(node), node.entity) == ("Corporate / Lausanne", lausanne)

    # The model's own rules hold on the inline too.
    response = save(**{"nodes__2__level": entity_level.pk, "nodes__2__parent": corporate.pk,
                       "nodes__2__name": "Nowhere"})
    assert response.status_code == 200
    assert "Nodes of the base level stand for an entity." in response.content.decode()
    assert not HierarchyNode.objects.filter(name="Nowhere").exists()


def test_hierarchy_add_page_offers_levels_then_nodes(root_client, portal_data):
    response = root_client.post(admin_url(Hierarchy, "add"), {
        "name": "Sites", "description": "",
        "levels-TOTAL_FORMS": "2", "levels-INITIAL_FORMS": "0", "levels-MIN_NUM_FORMS": "0",
        "levels-MAX_NUM_FORMS": "1000",
        "levels-0-name": "Region", "levels-0-depth": "0", "levels-1-name": "Site", "levels-1-depth": "1",
        "_save": "Save",
    })
    sites = Hierarchy.objects.get(name="Sites")
    assert list(sites.levels.values_list("name", flat=True)) == ["Region", "Site"]
    # Saving goes on to the hierarchy's page, where its nodes are added.
    assert response.status_code == 302 and response["Location"] == admin_url(Hierarchy, "change", sites.pk)
    page = root_client.get(response["Location"])
    assert [inline.formset.prefix for inline in page.context["inline_admin_formsets"]] == ["levels", "nodes"]


def test_node_and_entity_pages(root_client, portal_data):
    url = admin_url(HierarchyNode, "changelist")
    response = root_client.get(url)
    html = response.content.decode()
    assert "Geography: Europe / Switzerland / Lausanne" in html
    assert list(response.context["cl"].list_display)[1:] == ["path", "level", "entity"]
    level = HierarchyLevel.objects.get(name="Country")
    response = root_client.get(url, {"level__id__exact": level.pk})
    assert {n.name for n in response.context["cl"].result_list} == {"Switzerland", "USA"}
    response = root_client.get(url, {"hierarchy__id__exact": portal_data["geography"].pk, "q": "zur"})
    assert [n.name for n in response.context["cl"].result_list] == ["Zurich"]

    response = root_client.get(admin_url(Entity, "changelist"))
    assert "column-number_of_devices" in response.content.decode()
    assert all(e.device_count == 0 for e in response.context["cl"].result_list)
    lausanne = portal_data["entities"]["Lausanne"]
    page = root_client.get(admin_url(Entity, "change", lausanne.pk)).content.decode()
    assert "Geography: Europe / Switzerland / Lausanne" in page
