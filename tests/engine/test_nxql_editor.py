"""The NXQL editor page (``nxql.md``, *NXQL editor*), driven in headless Chromium against a live server."""

from __future__ import annotations

import base64
import json
import urllib.parse
import urllib.request

import pytest
from django.test import Client
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

from engine.schema.completion import completion_data
from tests import browser as browser_support
from tests.factories import make_device, make_engine

browser = browser_support.browser  # the module-scoped headless Chromium fixture

EDITOR_PATH = "/2/editor/nxql_editor.html"
USERNAME = "editor"
PASSWORD = "pässwörd ünïcode"  # not Latin-1 only: the page must base64 the UTF-8 bytes
GIB = 1024**3
MIB = 1024**2
NAMES_QUERY = "(select (name number_of_cpus total_ram) (from device) (order_by name))"
WAIT_SECONDS = 15


def cpus_of(number: int) -> int | None:
    """A scrambled number of CPUs (so numeric and text order differ); none for the last device."""
    return None if number == 30 else (number * 7) % 30 + 1


@pytest.fixture(autouse=True)
def any_host(settings):
    settings.ALLOWED_HOSTS = ["*"]


@pytest.fixture
def data(make_account):
    make_account(USERNAME, PASSWORD, finder_access=True, data_privacy="none")
    engine = make_engine()
    for number in range(1, 31):
        make_device(number, engine=engine, number_of_cpus=cpus_of(number), total_ram=number * GIB)
    make_device(31, engine=engine, name="MAC-00031", platform="mac_os", device_type="laptop",
                number_of_cpus=4, total_ram=512 * MIB)
    make_device(32, engine=engine, name="PHONE-00032", platform="mobile", device_type="smartphone",
                number_of_cpus=8, total_ram=6 * GIB)


# -- helpers ---------------------------------------------------------------------------------------


def wait(driver, condition, timeout=WAIT_SECONDS):
    return WebDriverWait(driver, timeout).until(condition)


def open_editor(driver, live_server):
    driver.get(live_server.url + EDITOR_PATH)
    wait(driver, lambda d: d.execute_script("return document.readyState") == "complete")


def set_value(driver, element_id: str, value: str) -> None:
    """Sets a box's value as typing would (an input event follows)."""
    driver.execute_script(
        "const el = document.getElementById(arguments[0]); el.value = arguments[1];"
        "el.dispatchEvent(new Event('input', {bubbles: true}));",
        element_id, value,
    )


def fill(driver, query: str, *, username: str = USERNAME, password: str = PASSWORD) -> None:
    driver.find_element(By.ID, "username").send_keys(username)
    driver.find_element(By.ID, "password").send_keys(password)
    set_value(driver, "query", query)


def visible(driver, element_id: str) -> bool:
    return driver.find_element(By.ID, element_id).is_displayed()


def send_and_wait(driver) -> None:
    driver.find_element(By.ID, "send").click()
    wait_for_answer(driver)


def wait_for_answer(driver) -> None:
    wait(driver, lambda d: not visible(d, "loading") and (visible(d, "result") or visible(d, "error")))


def columns(driver) -> list[str]:
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('#result-table thead th button.sort span:first-child'))"
        ".map(span => span.textContent)"
    )


def rows(driver) -> list[list[str]]:
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('#result-table tbody tr'))"
        ".map(tr => Array.from(tr.cells).map(td => td.textContent))"
    )


def column(driver, index: int) -> list[str]:
    return [row[index] for row in rows(driver)]


def info(driver) -> str:
    return driver.find_element(By.ID, "info").text


def page_size(driver, size: int) -> None:
    Select(driver.find_element(By.ID, "page-size")).select_by_value(str(size))


def click_column(driver, name: str) -> None:
    for button in driver.find_elements(By.CSS_SELECTOR, "#result-table thead th button.sort"):
        if button.find_element(By.CSS_SELECTOR, "span").text == name:
            button.click()
            return
    raise AssertionError(f"no column {name}")


def suggestions(driver) -> list[str]:
    return driver.execute_script(
        "const list = document.getElementById('suggestions');"
        "return list.hidden ? [] : Array.from(list.children).map(li => li.dataset.name)"
    )


def type_keys(driver, *keys) -> None:
    """Types at the caret of the focused element (without moving the caret, unlike send_keys)."""
    ActionChains(driver).send_keys(*keys).perform()


def encode_component(value: str) -> str:
    """JavaScript's encodeURIComponent."""
    return urllib.parse.quote(value, safe="-_.!~*'()")


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


# -- the page without a browser -------------------------------------------------------------------


@pytest.mark.django_db
def test_page_is_served_without_authentication_and_embeds_the_registry():
    response = Client().get(EDITOR_PATH)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert b'id="nxql-completion"' in response.content
    assert Client().post(EDITOR_PATH).status_code == 405


def test_completion_data_comes_from_the_registry():
    data = completion_data()
    assert {"device", "execution", "binary"} <= set(data["tables"])
    device_fields = {field["name"]: field for field in data["tables"]["device"]["fields"]}
    assert device_fields["total_ram"]["type"] == "bytes (B)"
    assert device_fields["platform"]["enum"] == ["windows", "mac_os", "mobile"]
    assert "number_of_executions" in data["tables"]["execution"]["aggregates"]
    assert "number_of_devices" in {aggregate["name"] for aggregate in data["aggregates"]}
    assert "order_by" in data["keywords"]["clauses"]
    json.dumps(data)


# -- in Chromium ----------------------------------------------------------------------------------


def test_page_has_every_documented_control(browser, live_server, data):
    open_editor(browser, live_server)
    assert browser.title == "NXQL editor"
    assert browser.find_element(By.ID, "username").get_attribute("type") == "text"
    assert browser.find_element(By.ID, "password").get_attribute("type") == "password"
    platforms = {
        value: browser.find_element(By.ID, f"platform-{value}").is_selected()
        for value in ("windows", "mac_os", "mobile")
    }
    assert platforms == {"windows": True, "mac_os": True, "mobile": False}
    labels = browser.find_element(By.CSS_SELECTOR, ".platforms").text
    assert "Windows" in labels and "macOS" in labels and "Mobile" in labels
    assert browser.find_element(By.ID, "query").tag_name == "textarea"
    assert browser.find_element(By.ID, "p1").is_displayed() and browser.find_element(By.ID, "p2").is_displayed()
    assert "%1" in browser.page_source and "%2" in browser.page_source
    assert not browser.find_element(By.ID, "formatted").is_selected()
    assert "Formatted" in browser.find_element(By.CSS_SELECTOR, "label.check").text
    assert browser.find_element(By.ID, "send").text == "Send"
    assert not visible(browser, "loading")
    assert browser.find_element(By.ID, "loading").get_attribute("textContent") == "Loading..."
    options = [o.get_attribute("value") for o in browser.find_elements(By.CSS_SELECTOR, "#page-size option")]
    assert options == ["10", "25", "50", "100"]
    links = [a.get_attribute("textContent") for a in browser.find_elements(By.CSS_SELECTOR, "#other-formats a")]
    assert links == ["CSV", "HTML", "XML", "JSON"]
    # No external resources: every script and style sheet comes from this server.
    sources = browser.execute_script(
        "return Array.from(document.querySelectorAll('script[src], link[href]')).map(e => e.src || e.href)"
    )
    assert sources and all(source.startswith(live_server.url) for source in sources)


def test_send_shows_loading_then_the_first_page(browser, live_server, data):
    open_editor(browser, live_server)
    # Slow the answer down so that the Loading... message can be seen.
    browser.execute_script(
        "const original = window.fetch;"
        "window.fetch = (...args) => new Promise(r => setTimeout(r, 800)).then(() => original(...args));"
    )
    browser.find_element(By.ID, "username").send_keys(USERNAME)
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    query = browser.find_element(By.ID, "query")
    query.send_keys(NAMES_QUERY)
    assert query.get_attribute("value") == NAMES_QUERY  # completion never gets in the way of typing
    browser.find_element(By.ID, "send").click()
    wait(browser, lambda d: visible(d, "loading"), timeout=5)
    assert browser.find_element(By.ID, "loading").text == "Loading..."
    assert not browser.find_element(By.ID, "send").is_enabled()
    wait_for_answer(browser)
    assert visible(browser, "result"), browser.find_element(By.ID, "error").text
    assert columns(browser) == ["name", "number_of_cpus", "total_ram"]
    shown = rows(browser)
    assert [row[0] for row in shown] == [f"DEV-{n:05d}" for n in range(1, 11)]
    assert shown[2] == ["DEV-00003", str(cpus_of(3)), str(3 * GIB)]
    assert info(browser) == "Showing 1 to 10 of 31 entries"


def test_page_size_and_paging(browser, live_server, data):
    open_editor(browser, live_server)
    fill(browser, NAMES_QUERY)
    send_and_wait(browser)
    pager = browser.find_element(By.ID, "pager")
    assert not pager.find_element(By.CSS_SELECTOR, "button.previous").is_enabled()
    assert [b.text for b in pager.find_elements(By.CSS_SELECTOR, "button.page")] == ["1", "2", "3", "4"]

    pager.find_element(By.CSS_SELECTOR, "button.next").click()
    assert column(browser, 0) == [f"DEV-{n:05d}" for n in range(11, 21)]
    assert info(browser) == "Showing 11 to 20 of 31 entries"
    browser.find_element(By.CSS_SELECTOR, "#pager button[aria-label='Page 4']").click()
    assert column(browser, 0) == ["MAC-00031"]
    assert info(browser) == "Showing 31 to 31 of 31 entries"
    assert not browser.find_element(By.CSS_SELECTOR, "#pager button.next").is_enabled()
    browser.find_element(By.CSS_SELECTOR, "#pager button.previous").click()
    assert column(browser, 0) == [f"DEV-{n:05d}" for n in range(21, 31)]

    page_size(browser, 25)
    assert len(rows(browser)) == 25
    assert info(browser) == "Showing 1 to 25 of 31 entries"
    browser.find_element(By.CSS_SELECTOR, "#pager button.next").click()
    assert len(rows(browser)) == 6
    assert info(browser) == "Showing 26 to 31 of 31 entries"


def test_sorting_by_column_title(browser, live_server, data):
    open_editor(browser, live_server)
    fill(browser, NAMES_QUERY)
    send_and_wait(browser)
    page_size(browser, 100)
    numbers = [cpus_of(n) for n in range(1, 31)] + [4]
    ascending = [str(v) for v in sorted(v for v in numbers if v is not None)] + [""]
    descending = [str(v) for v in sorted((v for v in numbers if v is not None), reverse=True)] + [""]

    click_column(browser, "number_of_cpus")
    assert column(browser, 1) == ascending  # numerically (2 before 10), the empty value last
    header = browser.find_elements(By.CSS_SELECTOR, "#result-table thead th")[1]
    assert header.get_attribute("aria-sort") == "ascending"
    click_column(browser, "number_of_cpus")
    assert column(browser, 1) == descending  # reversed, the empty value still last
    assert header.get_attribute("aria-sort") == "descending"

    click_column(browser, "name")
    names = column(browser, 0)
    assert names == sorted(names) and names[-1] == "MAC-00031"
    page_size(browser, 10)
    assert info(browser) == "Showing 1 to 10 of 31 entries"


def test_platform_check_boxes(browser, live_server, data):
    open_editor(browser, live_server)
    fill(browser, "(select (name) (from device) (order_by name))")
    send_and_wait(browser)
    page_size(browser, 100)
    names = column(browser, 0)
    assert "MAC-00031" in names and "PHONE-00032" not in names and len(names) == 31

    browser.find_element(By.ID, "platform-mobile").click()
    send_and_wait(browser)
    page_size(browser, 100)
    assert "PHONE-00032" in column(browser, 0) and info(browser) == "Showing 1 to 32 of 32 entries"

    browser.find_element(By.ID, "platform-windows").click()
    browser.find_element(By.ID, "platform-mac_os").click()
    send_and_wait(browser)
    assert column(browser, 0) == ["PHONE-00032"]

    browser.find_element(By.ID, "platform-mobile").click()  # none ticked: the editor says so
    browser.find_element(By.ID, "send").click()
    assert browser.find_element(By.ID, "error-message").text == "Tick at least one platform."


def test_template_parameter(browser, live_server, data):
    open_editor(browser, live_server)
    fill(browser, '(select (name) (from device (where device (eq name (string "%1")))))')
    browser.find_element(By.ID, "p1").send_keys("DEV-00007")
    send_and_wait(browser)
    assert rows(browser) == [["DEV-00007"]]
    assert "p1=DEV-00007" in browser.find_element(By.ID, "format-csv").get_attribute("href")

    set_value(browser, "p1", "")  # %1 without p1: the Web API's error
    send_and_wait(browser)
    assert visible(browser, "error")
    assert "%1" in browser.find_element(By.ID, "error-message").text


def test_formatted_shows_human_readable_units(browser, live_server, data):
    open_editor(browser, live_server)
    fill(browser, "(select (name total_ram) (from device) (order_by name))")
    send_and_wait(browser)
    assert rows(browser)[2] == ["DEV-00003", str(3 * GIB)]

    browser.find_element(By.ID, "formatted").click()
    send_and_wait(browser)
    assert rows(browser)[2] == ["DEV-00003", "3.0 GB"]
    page_size(browser, 100)
    click_column(browser, "total_ram")
    click_column(browser, "total_ram")
    # Sorted by size, not by text: 30 GB first, 512 MB last.
    ram = column(browser, 1)
    assert ram[:3] == ["30.0 GB", "29.0 GB", "28.0 GB"]
    assert ram[-1] == "512.0 MB"


def test_other_formats_links(browser, live_server, data):
    open_editor(browser, live_server)
    query = '(select (name total_ram) (from device (where device (eq name (pattern "%1")))))'
    fill(browser, query)
    browser.find_element(By.ID, "platform-mobile").click()
    browser.find_element(By.ID, "p1").send_keys("DEV-0000* & co")
    browser.find_element(By.ID, "formatted").click()
    base = live_server.url + "/2/query?query=" + encode_component(query)
    tail = "&platform=windows&platform=mac_os&platform=mobile&p1=" + encode_component("DEV-0000* & co") + "&hr=true"
    for format_ in ("csv", "html", "xml", "json"):
        link = browser.find_element(By.ID, f"format-{format_}")
        assert link.get_attribute("href") == f"{base}&format={format_}{tail}"
        assert link.get_attribute("target") == "_blank"

    set_value(browser, "p1", "DEV-0000*")
    href = browser.find_element(By.ID, "format-json").get_attribute("href")
    request = urllib.request.Request(href, headers={"Authorization": basic(USERNAME, PASSWORD)})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "application/json"
        answer = json.load(response)
    assert [row["name"] for row in answer] == [f"DEV-{n:05d}" for n in range(1, 10)]
    assert answer[0]["total_ram"] == GIB


def test_wrong_query_shows_the_error_and_its_options(browser, live_server, data):
    open_editor(browser, live_server)
    fill(browser, "(select (nme) (from device))")
    send_and_wait(browser)
    assert visible(browser, "error") and not visible(browser, "result")
    assert "unknown field 'nme'" in browser.find_element(By.ID, "error-message").text
    options = [li.text for li in browser.find_elements(By.CSS_SELECTOR, "#error-options li")]
    assert options and options[0] == "name"


def test_wrong_password_shows_the_401_message(browser, live_server, data):
    open_editor(browser, live_server)
    fill(browser, "(select (name) (from device))", password="not the password")
    send_and_wait(browser)
    message = browser.find_element(By.ID, "error-message").text
    assert message.startswith("Wrong user name or password, or the account may not use the Web API")
    assert not visible(browser, "result")


def test_values_are_unquoted_and_never_markup(browser, live_server, data):
    tricky = '<b>bold</b> "quoted"\ttab\nline & more'
    make_device(40, name=tricky)
    open_editor(browser, live_server)
    fill(browser, '(select (name device_uid) (from device (where device (eq name (pattern "<b>*")))))')
    send_and_wait(browser)
    assert rows(browser) == [[tricky, f"{40:032x}"]]
    assert browser.find_elements(By.CSS_SELECTOR, "#result-table b") == []


def test_completion_of_table_names(browser, live_server, data):
    open_editor(browser, live_server)
    query = browser.find_element(By.ID, "query")
    query.send_keys("(select (name) (from dev")
    wait(browser, lambda d: suggestions(d)[:1] == ["device"], timeout=5)
    type_keys(browser, Keys.TAB)
    assert query.get_attribute("value") == "(select (name) (from device"
    assert suggestions(browser) == []
    # The caret is after the inserted name: typing goes on from there.
    type_keys(browser, " (with exe")
    wait(browser, lambda d: suggestions(d) == ["execution"], timeout=5)
    type_keys(browser, Keys.ENTER)
    assert query.get_attribute("value") == "(select (name) (from device (with execution"
    type_keys(browser, " (compute number_of_ex")
    wait(browser, lambda d: suggestions(d) == ["number_of_executions"], timeout=5)
    type_keys(browser, Keys.ESCAPE)
    assert suggestions(browser) == []
    assert query.get_attribute("value").endswith("(compute number_of_ex")


def test_completion_of_field_names(browser, live_server, data):
    open_editor(browser, live_server)
    set_value(browser, "query", "(select () (from device))")
    browser.execute_script("const q = document.getElementById('query'); q.focus(); q.setSelectionRange(9, 9);")
    type_keys(browser, "na")
    wait(browser, lambda d: suggestions(d)[:1] == ["name"], timeout=5)
    type_keys(browser, Keys.TAB)
    query = browser.find_element(By.ID, "query")
    assert query.get_attribute("value") == "(select (name) (from device))"

    # Arrow keys move through the suggestions; a click inserts one.
    browser.execute_script("document.getElementById('query').setSelectionRange(13, 13);")
    type_keys(browser, " device_m")
    wait(browser, lambda d: suggestions(d) == ["device_model", "device_manufacturer"], timeout=5)
    type_keys(browser, Keys.ARROW_DOWN)
    active = browser.find_element(By.CSS_SELECTOR, "#suggestions li.active")
    assert active.get_attribute("data-name") == "device_manufacturer"
    active.click()
    assert query.get_attribute("value") == "(select (name device_manufacturer) (from device))"

    # Enum values of the compared field, and Ctrl+Enter sends.
    set_value(browser, "query", "(select (name) (from device (where device (eq platform (enum ma")
    browser.execute_script("document.getElementById('query').focus();")
    type_keys(browser, "c")
    wait(browser, lambda d: suggestions(d) == ["mac_os"], timeout=5)
    type_keys(browser, Keys.TAB, "))))")
    assert query.get_attribute("value").endswith("(enum mac_os))))")
    browser.find_element(By.ID, "username").send_keys(USERNAME)
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    ActionChains(browser).key_down(Keys.CONTROL).send_keys(Keys.ENTER).key_up(Keys.CONTROL).perform()
    wait_for_answer(browser)
    assert rows(browser) == [["MAC-00031"]]


def test_screenshot(browser, live_server, data):
    open_editor(browser, live_server)
    fill(browser, NAMES_QUERY)
    browser.find_element(By.ID, "formatted").click()
    send_and_wait(browser)
    click_column(browser, "number_of_cpus")
    # Show the completion list as well.
    set_value(browser, "query", NAMES_QUERY.replace("(order_by name))", "(order_by n"))
    browser.execute_script("document.getElementById('query').focus();")
    type_keys(browser, "u")
    wait(browser, lambda d: suggestions(d)[:1] == ["number_of_cpus"], timeout=5)
    width, height = browser_support.WINDOW_SIZE
    browser.set_window_size(width, 1300)  # the whole page: editor, table, pager and other formats
    try:
        browser.save_screenshot("/tmp/nxql_editor.png")
    finally:
        browser.set_window_size(width, height)
