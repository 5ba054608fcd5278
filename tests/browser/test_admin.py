"""The back office: freezing a card (and the till's refusal), accounts, credits, points, audit,
settlements and the level table."""

import uuid
from datetime import datetime, timedelta, timezone

from playwright.sync_api import Page, expect
from support import ADMIN_EMAIL, Shop, call, open_card, open_till, sign_in


def test_an_admin_freezes_a_card_and_the_till_then_refuses_it(page: Page, shop: Shop) -> None:
    code = shop.issue_code()
    till_page = page.context.new_page()  # another tab: its own sessionStorage, its own sign-in
    open_till(till_page, shop)
    till_page.locator("#qr-input").fill(code)
    till_page.locator("#qr-input").press("Tab")
    expect(till_page.locator("#card-check")).to_contain_text("active")

    sign_in(page, "/console/admin", ADMIN_EMAIL)
    open_card(page, shop.card_no)
    page.get_by_label("Reason (optional)").fill("reported stolen")
    page.locator("#freeze-card").click()
    expect(page.locator("#card-message")).to_contain_text("is frozen")
    expect(page.locator("#card-figures")).to_contain_text("inactive")

    till_page.locator("#amount").fill("10.00")
    till_page.locator("#charge-button").click()
    message = till_page.locator("#sale-message")
    expect(message).to_have_attribute("data-code", "QR_EXPIRED_OR_INVALID")
    expect(message).to_contain_text("request id")
    assert shop.card()["balance"] == "100.00", "a frozen card must not be charged"
    assert shop.card()["stored_status"] == "inactive"


def test_an_admin_creates_a_member_and_a_merchant_credits_the_card_and_adjusts_points(page: Page, admin_token: str) -> None:
    phone = f"137{uuid.uuid4().int % 10**8:08d}"
    code = f"WEB{uuid.uuid4().hex[:8].upper()}"
    sign_in(page, "/console/admin", ADMIN_EMAIL)
    page.get_by_role("link", name="New member or merchant").click()
    member = page.locator("#new-member")
    member.get_by_label("Name").fill("Created In Browser")
    member.get_by_label("Phone").fill(phone)
    member.get_by_label("Password").fill("member-password-9")
    member.get_by_role("button", name="Create member").click()
    created = page.locator("#created-member")
    expect(created).to_contain_text("STD")
    card_no = created.locator("dd").nth(2).inner_text()

    merchant = page.locator("#new-merchant")
    merchant.get_by_label("Code").fill(code)
    merchant.get_by_label("Name").fill("Web Shop")
    merchant.get_by_label("Password").fill("merchant-password-9")
    merchant.get_by_role("button", name="Create merchant").click()
    expect(page.locator("#created-merchant")).to_contain_text(code)

    open_card(page, card_no)
    credit = page.locator("#credit-form")
    credit.get_by_label("Credit amount").fill("20.5")
    credit.get_by_label("Reason").fill("welcome credit")
    credit.get_by_role("button", name="Credit card").click()
    expect(page.locator("#card-message")).to_contain_text("Credited 20.50")
    expect(page.locator("#card-balance")).to_have_text("20.50")
    points = page.locator("#points-form")
    points.get_by_label("Points (+ or −)").fill("1200")
    points.get_by_label("Reason").fill("loyalty bonus")
    points.get_by_role("button", name="Adjust points").click()
    expect(page.locator("#card-message")).to_contain_text("Points 0 → 1200 (level 1)")

    card = call("GET", f"/admin/cards/{card_no}", admin_token)
    assert (card["balance"], card["points"], card["level"]) == ("20.50", 1200, 1)
    page.get_by_role("link", name="Audit log").click()
    page.get_by_label("Action").fill("points_adjust")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#audit-list")).to_contain_text("loyalty bonus")
    expect(page.locator("#audit-list tbody tr").first).to_contain_text("POINTS_ADJUST")


def test_an_admin_moves_a_settlement_along_its_states(page: Page, shop: Shop) -> None:
    end = datetime.now(timezone.utc) - timedelta(minutes=5)
    period = {"mode": "realtime", "period_start": (end - timedelta(hours=1)).isoformat(), "period_end": end.isoformat()}
    settlement = call("POST", "/merchant/settlements", shop.merchant_token(), period)
    sign_in(page, "/console/admin", ADMIN_EMAIL)
    page.get_by_role("link", name="Settlements").click()
    page.get_by_label("Merchant code").fill(shop.merchant_code)
    page.get_by_role("button", name="Filter").click()
    row = page.locator("#settlements-list tbody tr", has_text=settlement["settlement_no"])
    expect(row).to_contain_text("pending")

    row.locator("select").select_option("settled")
    row.get_by_role("button", name="Apply").click()

    expect(page.locator("#settlements-message")).to_contain_text("is now settled")
    assert call("GET", f"/merchant/settlements/{settlement['id']}", shop.merchant_token())["status"] == "settled"


def test_the_level_table_refuses_an_overlap_with_the_apis_reason(page: Page, admin_token: str) -> None:
    before = call("GET", "/levels?limit=100")["items"]
    sign_in(page, "/console/admin", ADMIN_EMAIL)
    page.get_by_role("link", name="Levels").click()
    expect(page.locator("#levels-body tr")).to_have_count(len(before))

    page.get_by_label("Lowest points of level 1").fill("900")
    page.locator("#save-levels").click()

    expect(page.locator("#levels-message")).to_have_attribute("data-code", "INVALID_LEVEL_TABLE")
    assert call("GET", "/levels?limit=100")["items"] == before, "a refused table must change nothing"
