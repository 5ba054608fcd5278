"""Every page at a phone's and a desktop's width: it fits (no sideways scrolling) and is
photographed into target/console-screenshots/ (docs/screenshots/ holds the README's copies)."""

import pytest
from playwright.sync_api import Browser, Page, expect
from support import ADMIN_EMAIL, BASE_URL, DESKTOP, PHONE, Shop, open_card, screenshot, sign_in


def assert_fits(page: Page, what: str) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{what} is {overflow}px wider than the screen"


@pytest.mark.parametrize("width_name, viewport", [("phone", PHONE), ("desktop", DESKTOP)])
def test_every_page_fits_the_screen_and_is_photographed(browser: Browser, shop: Shop, width_name: str, viewport: dict) -> None:
    context = browser.new_context(base_url=BASE_URL, viewport=viewport, device_scale_factor=1)
    errors: list[str] = []
    context.on("weberror", lambda error: errors.append(str(error.error)))
    try:
        home = context.new_page()
        home.goto("/console/")
        assert_fits(home, "the index")
        screenshot(home, f"index-{width_name}")

        member = context.new_page()
        sign_in(member, "/console/member", shop.member_phone)
        member.get_by_role("button", name="Show payment code").click()
        expect(member.locator("#code-canvas")).to_be_visible()
        code = member.locator("#code-text").text_content()
        assert_fits(member, "the member page")
        screenshot(member, f"member-{width_name}")

        till = context.new_page()
        sign_in(till, "/console/pos", shop.merchant_code, operator="till-1")
        till.locator("#qr-input").fill(code)
        till.locator("#amount").fill("12.50")
        till.get_by_label("Order number (optional)").fill("A-1001")
        till.locator("#charge-button").click()
        expect(till.locator("#receipt-details")).to_contain_text("12.50")
        expect(till.locator("#summary svg.chart")).to_be_visible()
        assert_fits(till, "the till")
        screenshot(till, f"pos-{width_name}")

        admin = context.new_page()
        sign_in(admin, "/console/admin", ADMIN_EMAIL)
        admin.goto("/console/admin#statistics")
        expect(admin.locator("#statistics-body svg.chart").first).to_be_visible()
        assert_fits(admin, "the statistics")
        screenshot(admin, f"admin-statistics-{width_name}")
        open_card(admin, shop.card_no)
        assert_fits(admin, "a card in the back office")
        screenshot(admin, f"admin-card-{width_name}")
        admin.goto("/console/admin#audit")
        expect(admin.locator("#audit-list tbody tr").first).to_be_visible()
        assert_fits(admin, "the audit log")
        screenshot(admin, f"admin-audit-{width_name}")
    finally:
        context.close()
    assert not errors, f"the pages threw: {errors}"
