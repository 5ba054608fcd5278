"""Fixtures of the browser suite: the admin's token, a fresh shop per test, the system Chromium
and a page per test that fails on any script error."""

import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright
from support import ADMIN_EMAIL, BASE_URL, DESKTOP, Shop, launch, login, new_shop


@pytest.fixture(scope="session")
def admin_token() -> str:
    return login("admin", ADMIN_EMAIL)


@pytest.fixture
def shop(admin_token: str) -> Shop:
    """A fresh merchant and member (their own numbers, so tests never share a card), 100.00 credited."""
    return new_shop(admin_token)


@pytest.fixture(scope="session")
def playwright_instance() -> Playwright:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright_instance: Playwright) -> Browser:
    browser = launch(playwright_instance)
    yield browser
    browser.close()


@pytest.fixture
def page(browser: Browser) -> Page:
    """A page in its own context (its own sessionStorage), failing the test on any script error."""
    context = browser.new_context(base_url=BASE_URL, viewport=DESKTOP)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert not errors, f"the page threw: {errors}"
