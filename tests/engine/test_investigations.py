"""The admin's Investigations page (``/admin/investigations/``): NQL in, the first rows out, CSV download.

The page is driven in headless Chromium against a live server; rights and limits with the test client.
"""

from __future__ import annotations

import csv
import io

import pytest
import requests
from django.conf import settings as django_settings
from django.test import Client
from django.urls import reverse
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from engine import admin as engine_admin
from engine.models import SavedQuery
from portal.models import Account, Profile
from tests import browser as browser_support
from tests.engine.nql_support import FAST_HASHERS, make_fleet

browser = browser_support.browser  # the module-scoped headless Chromium fixture

URL = "/admin/investigations/"
QUERY = "devices | where operating_system.platform == windows | list name, hardware.number_of_cpus, last_seen" \
        " | sort name asc"
WAIT_SECONDS = 15


@pytest.fixture(autouse=True)
def _settings(settings):
    settings.PASSWORD_HASHERS = FAST_HASHERS
    settings.ALLOWED_HOSTS = ["*"]


def make_admin(username="investigator", **rights) -> Account:
    profile = Profile.objects.create(name=f"profile of {username}", administration=True, **rights)
    return Account.objects.create(username=username, profile=profile)


def logged_in(account) -> Client:
    client = Client()
    client.force_login(account)
    return client


def sign_in_browser(driver, live_server, account) -> str:
    """Puts a session of ``account`` into the browser; the session key."""
    session = logged_in(account).cookies[django_settings.SESSION_COOKIE_NAME].value
    driver.get(live_server.url + "/admin/login/")
    driver.delete_all_cookies()
    driver.add_cookie({"name": django_settings.SESSION_COOKIE_NAME, "value": session, "path": "/"})
    return session


def wait(driver, condition):
    return WebDriverWait(driver, WAIT_SECONDS).until(condition)


def run_query(driver, query: str) -> None:
    box = driver.find_element(By.ID, "nql-query")
    box.clear()
    box.send_keys(query)
    driver.find_element(By.ID, "run-query").click()
    wait(driver, lambda d: d.execute_script("return document.readyState") == "complete"
         and (d.find_elements(By.ID, "nql-result") or d.find_elements(By.ID, "nql-error")))


def table(driver) -> list[list[str]]:
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('#nql-result tr'))"
        ".map(tr => Array.from(tr.cells).map(td => td.textContent))"
    )


# -- in the browser -------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_type_nql_see_the_table_and_download_csv(browser, live_server):
    make_fleet()
    session = sign_in_browser(browser, live_server, make_admin())
    browser.get(live_server.url + URL)
    run_query(browser, QUERY)

    assert table(browser) == [
        ["device.name", "device.hardware.number_of_cpus", "device.last_seen"],
        ["DEV-00001", "4", "2024-03-01 10:15:02"],
        ["DEV-00002", "8", ""],
        ['Odd, "quoted" name', "2", ""],
    ]
    assert browser.find_element(By.ID, "nql-query").get_attribute("value") == QUERY
    assert browser.find_element(By.ID, "nql-info").text.startswith("3 rows")

    link = browser.find_element(By.ID, "download-csv").get_attribute("href")
    response = requests.get(link, cookies={django_settings.SESSION_COOKIE_NAME: session}, timeout=30)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in response.headers["Content-Disposition"]
    assert list(csv.reader(io.StringIO(response.text))) == [
        ["device.name", "device.hardware.number_of_cpus", "device.last_seen"],
        ["DEV-00001", "4", "2024-03-01T10:15:02Z"],
        ["DEV-00002", "8", ""],
        ['Odd, "quoted" name', "2", ""],
    ]


@pytest.mark.django_db(transaction=True)
def test_an_invalid_query_shows_its_message(browser, live_server):
    make_fleet()
    sign_in_browser(browser, live_server, make_admin())
    browser.get(live_server.url + URL)
    run_query(browser, "devices | list nme")
    error = browser.find_element(By.ID, "nql-error").text
    assert "nme" in error and "line 1" in error
    assert not browser.find_elements(By.ID, "nql-result")
    assert browser.find_element(By.ID, "nql-query").get_attribute("value") == "devices | list nme"


@pytest.mark.django_db(transaction=True)
def test_the_admin_index_links_to_the_page_and_saved_queries_load_into_the_box(browser, live_server):
    make_fleet()
    SavedQuery.objects.create(nql_id="#mobiles", name="Mobiles",
                              text="devices | where operating_system.platform == mobile | list name")
    sign_in_browser(browser, live_server, make_admin())
    browser.get(live_server.url + "/admin/")
    browser.find_element(By.LINK_TEXT, "Investigations (NQL)").click()
    wait(browser, lambda d: d.find_elements(By.ID, "nql-query"))
    browser.find_element(By.LINK_TEXT, "#mobiles").click()
    wait(browser, lambda d: d.find_elements(By.ID, "nql-result"))
    assert table(browser) == [["device.name"], ["PHONE-00005"]]


# -- rights and limits ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_page_is_for_staff_only():
    profile = Profile.objects.create(name="analysts", finder_access=True)
    client = logged_in(Account.objects.create(username="analyst", profile=profile))
    response = client.get(URL, {"query": "devices"})
    assert response.status_code == 302 and response["Location"].startswith(reverse("admin:login"))
    assert Client().get(URL).status_code == 302


@pytest.mark.django_db
def test_the_page_shows_the_first_rows_only(monkeypatch):
    make_fleet()
    monkeypatch.setattr(engine_admin, "INVESTIGATION_ROWS", 2)
    page = logged_in(make_admin()).get(URL, {"query": "devices | list name | sort name asc"})
    assert page.context["truncated"] is True
    assert page.context["rows"] == [["DEV-00001"], ["DEV-00002"]]
    assert "the first 2" in page.content.decode()
    response = logged_in(make_admin("other")).get(URL, {"query": "devices | list name", "format": "csv"})
    assert len(b"".join(response.streaming_content).splitlines()) == 6  # the download has them all


@pytest.mark.django_db
def test_profiles_with_data_privacy_are_refused():
    make_fleet()
    page = logged_in(make_admin(data_privacy="partial")).get(URL, {"query": "devices | list name"})
    assert "data privacy" in page.context["error"]
    assert "columns" not in page.context


@pytest.mark.django_db
def test_a_view_domain_limits_the_devices():
    from portal.models import Entity, Hierarchy, HierarchyLevel, HierarchyNode

    make_fleet()
    hierarchy = Hierarchy.objects.create(name="Geo")
    level = HierarchyLevel.objects.create(hierarchy=hierarchy, name="Entity", depth=0)
    node = HierarchyNode.objects.create(hierarchy=hierarchy, level=level, name="Zurich",
                                        entity=Entity.objects.create(name="Zurich"))
    page = logged_in(make_admin(view_domain=node)).get(URL, {"query": "devices | list name"})
    assert page.context["rows"] == []
