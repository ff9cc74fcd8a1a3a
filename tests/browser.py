"""Headless Chromium for page tests (Debian's ``chromium`` and ``chromium-driver``, driven by selenium).

Use in a test module::

    from tests.browser import browser  # noqa: F401  (a module-scoped fixture)

    def test_page(browser, live_server):
        browser.get(live_server.url + "/some/page")

``browser`` starts one Chromium per test module with a fresh profile directory, removed afterwards.
Tests are skipped when Chromium or its driver is not installed.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WINDOW_SIZE = (1280, 900)


def chromium_options(profile_dir: str):
    from selenium.webdriver.chrome.options import Options

    options = Options()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile_dir}",
        f"--window-size={WINDOW_SIZE[0]},{WINDOW_SIZE[1]}",
    ):
        options.add_argument(argument)
    return options


def start_chromium():
    """A new headless Chromium driver and its profile directory (the caller quits and removes)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile_dir = tempfile.mkdtemp(prefix="opendex-chromium-")
    try:
        driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=chromium_options(profile_dir))
    except Exception:
        shutil.rmtree(profile_dir, ignore_errors=True)
        raise
    driver.set_window_size(*WINDOW_SIZE)
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(30)
    return driver, profile_dir


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium per test module."""
    pytest.importorskip("selenium")
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip("Chromium and chromedriver are not installed (apt-get install chromium chromium-driver)")
    driver, profile_dir = start_chromium()
    try:
        yield driver
    finally:
        try:
            driver.quit()
        finally:
            shutil.rmtree(profile_dir, ignore_errors=True)
