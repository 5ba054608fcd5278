"""The member page: cards, the payment code's renewal and expiry, the history's pages."""

import uuid

from playwright.sync_api import Page, expect
from support import ApiRefused, Shop, call, sign_in


def validate(shop: Shop, code: str) -> dict:
    return call("POST", "/merchant/qr/validate", shop.merchant_token(), {"qr_plain": code})


def refused_code(shop: Shop, code: str) -> str:
    try:
        validate(shop, code)
    except ApiRefused as refused:
        return refused.body["error"]["code"]
    return "accepted"


def show_code(page: Page, shop: Shop) -> str:
    sign_in(page, "/console/member", shop.member_phone)
    page.get_by_role("button", name="Show payment code").click()
    expect(page.locator("#code-canvas")).to_be_visible()
    expect(page.locator("#countdown")).to_contain_text("Valid for")
    return page.locator("#code-text").text_content()


def test_the_member_page_shows_cards_with_balance_points_and_level(page: Page, shop: Shop) -> None:
    sign_in(page, "/console/member", shop.member_no)

    tile = page.locator(f'[data-card="{shop.card_no}"]')
    expect(tile).to_contain_text("100.00")
    expect(tile).to_contain_text("Regular (0)")
    expect(page.locator("#cards-summary")).to_contain_text("100.00")


def test_the_member_page_renews_its_code_before_it_expires(page: Page, shop: Shop) -> None:
    page.clock.install()
    first = show_code(page, shop)
    assert validate(shop, first)["card_no"] == shop.card_no

    # The server's codes live 60 s here; the page renews a quarter of a life (15 s) before the end.
    page.clock.fast_forward(46_000)

    expect(page.locator("#code-text")).not_to_have_text(first)
    second = page.locator("#code-text").text_content()
    expect(page.locator("#countdown")).to_contain_text("Valid for 0:")
    assert validate(shop, second)["card_no"] == shop.card_no, "the renewed code should be live"
    assert refused_code(shop, first) == "QR_EXPIRED_OR_INVALID", "renewing must kill the previous code"


def test_the_member_page_hides_and_revokes_its_code_after_ten_minutes(page: Page, shop: Shop) -> None:
    page.clock.install()
    code = show_code(page, shop)

    page.clock.fast_forward(10 * 60_000 + 2_000)

    expect(page.locator("#code-message")).to_contain_text("Code hidden after 10 minutes")
    expect(page.locator("#code-canvas")).to_be_hidden()
    assert refused_code(shop, code) == "QR_EXPIRED_OR_INVALID", "a hidden code must be revoked"


def test_the_member_page_sees_its_code_used_and_shows_the_payment(page: Page, shop: Shop) -> None:
    code = show_code(page, shop)

    call("POST", "/merchant/charge", shop.merchant_token(), {"qr_plain": code, "amount": "7.30"}, key=str(uuid.uuid4()))

    expect(page.locator("#code-message")).to_contain_text(f"Paid 7.30 at {shop.merchant_code}", timeout=10_000)
    expect(page.locator(f'[data-card="{shop.card_no}"]')).to_contain_text("92.70")


def test_the_history_pages_through_the_members_transactions(page: Page, shop: Shop) -> None:
    for n in range(11):
        call("POST", f"/admin/cards/{shop.card_id}/recharge", shop.admin, {"amount": f"1.{n:02d}"}, key=str(uuid.uuid4()))
    sign_in(page, "/console/member", shop.member_phone)
    history = page.locator("#history")
    expect(history.locator("nav.pager")).to_contain_text("1–10 of 12")

    history.get_by_role("button", name="Next").click()
    expect(history.locator("nav.pager")).to_contain_text("11–12 of 12")
    expect(history.locator("tbody tr")).to_have_count(2)
    expect(history).to_contain_text("+100.00")  # the oldest, the suite's opening credit

    history.get_by_label("Type").select_option("payment")
    expect(history).to_contain_text("No transactions yet.")


def test_signing_out_revokes_the_code_on_screen(page: Page, shop: Shop) -> None:
    code = show_code(page, shop)

    page.get_by_role("button", name="Sign out").click()

    expect(page.locator("#sign-in")).to_be_visible()
    assert refused_code(shop, code) == "QR_EXPIRED_OR_INVALID", "a code left on a signed-out screen must be dead"
