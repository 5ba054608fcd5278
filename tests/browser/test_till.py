"""The till (POS page): camera scan, charge, lost answers, refunds, refusals, keyboard use."""

from pathlib import Path

from camera import y4m_of
from playwright.sync_api import Page, Playwright, expect
from support import BASE_URL, DESKTOP, Shop, call, charge_typed, launch, open_till, sign_in


def payments_of(shop: Shop) -> list[dict]:
    return call("GET", "/member/transactions?tx_type=payment", shop.member_token())["items"]


def test_a_cashier_charges_the_code_the_member_page_shows_read_through_the_camera(
    page: Page, playwright_instance: Playwright, shop: Shop, tmp_path: Path
) -> None:
    # Arrange: the member page shows the code; a fake camera films that very picture.
    sign_in(page, "/console/member", shop.member_phone)
    page.get_by_role("button", name="Show payment code").click()
    shown = page.locator("#code-canvas")
    expect(shown).to_be_visible()
    displayed = page.locator("#code-text").text_content()
    video = y4m_of(shown.screenshot(), tmp_path / "member-code.y4m")
    page.context.close()  # the member walks to the till; the code stays live for its 60 s
    camera = launch(playwright_instance, [
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-video-capture={video}",
    ])
    try:
        till = camera.new_context(base_url=BASE_URL, viewport=DESKTOP).new_page()
        open_till(till, shop)
        assert till.evaluate("typeof BarcodeDetector") == "undefined", "this Chromium was expected to lack BarcodeDetector"

        # Act: scan with the camera (nothing typed), then charge.
        till.get_by_role("button", name="Scan with camera").click()
        expect(till.locator("#qr-input")).to_have_value(displayed, timeout=15_000)
        expect(till.locator("#scanner")).to_have_attribute("data-decoder", "jsQR")
        expect(till.locator("#card-check")).to_contain_text(shop.card_no)
        till.locator("#amount").fill("25.00")
        till.keyboard.press("Enter")

        # Assert: the receipt, and the card debited once by the API's own account.
        receipt = till.locator("#receipt-details")
        expect(receipt).to_contain_text("25.00")
        expect(receipt).to_contain_text("+25")
        expect(receipt).to_contain_text("till-1")
        # The card's balance right after this payment, as the API recorded it with the movement.
        balance_after = receipt.locator("dt", has_text="Balance after").locator("xpath=following-sibling::dd[1]")
        expect(balance_after).to_have_text("75.00")
        assert shop.card()["balance"] == "75.00", "the card should hold 100.00 − 25.00"
        assert [p["final_amount"] for p in payments_of(shop)] == ["25.00"]
    finally:
        camera.close()


def test_a_charge_whose_answer_is_lost_is_retried_with_the_same_key_and_charges_once(page: Page, shop: Shop) -> None:
    code = shop.issue_code()
    open_till(page, shop)
    keys: list[str | None] = []
    dropped: list[int] = []

    def lose_first_answer(route) -> None:
        keys.append(route.request.headers.get("idempotency-key"))
        if dropped:
            route.continue_()
            return
        answer = route.fetch()  # the server charges ...
        dropped.append(answer.status)
        route.abort("connectionreset")  # ... and the till never hears of it

    page.route("**/merchant/charge", lose_first_answer)
    charge_typed(page, code, "10.00")

    receipt = page.locator("#receipt .receipt")
    expect(receipt).to_have_attribute("data-replayed", "true")
    expect(page.locator("#sale-message")).to_contain_text("Already charged")
    assert dropped == [201], f"the first attempt should have charged and lost its answer, got {dropped}"
    assert len(keys) == 2 and keys[0] == keys[1] and keys[0], f"the retry must reuse the sale's key: {keys}"
    assert shop.card()["balance"] == "90.00", "a lost answer retried must debit the card once"
    assert len(payments_of(shop)) == 1, "exactly one payment should exist"


def test_a_cashier_refunds_part_of_a_recent_payment(page: Page, shop: Shop) -> None:
    paid = call("POST", "/merchant/charge", shop.merchant_token(), {"qr_plain": shop.issue_code(), "amount": "30.00"}, key="refund-test-charge")
    tx_no = paid["transaction"]["tx_no"]
    open_till(page, shop)

    page.locator(f'[data-refund="{tx_no}"]').click()
    amount = page.locator("#refund-amount")
    expect(amount).to_have_value("30.00")
    amount.fill("12.50")
    page.get_by_label("Reason (optional)").fill("one item returned")
    page.locator("#refund-button").click()

    receipt = page.locator("#refund-receipt")
    expect(receipt).to_contain_text("12.50")
    expect(receipt).to_contain_text("17.50")  # still refundable
    assert shop.card()["balance"] == "82.50", "100.00 − 30.00 + 12.50"
    original = call("GET", f"/transactions/{tx_no}", shop.merchant_token())["transaction"]
    assert original["refunded_total"] == "12.50"
    expect(page.locator("#recent-list")).to_contain_text("refunded 12.50")


def test_a_refused_charge_shows_the_apis_message_code_and_request_id_and_charges_nothing(page: Page, shop: Shop) -> None:
    open_till(page, shop)
    charge_typed(page, shop.issue_code(), "150.00")

    message = page.locator("#sale-message")
    expect(message).to_have_attribute("data-code", "INSUFFICIENT_BALANCE")
    expect(message).to_contain_text("request id")
    expect(page.locator("#amount")).to_be_enabled()  # a refusal is definite: the sale can be corrected
    assert shop.card()["balance"] == "100.00"


def test_a_cashier_signs_in_and_charges_with_the_keyboard_alone(page: Page, shop: Shop) -> None:
    code = shop.issue_code()
    page.goto("/console/pos")
    keyboard = page.keyboard
    expect(page.get_by_label("Merchant code")).to_be_focused()
    keyboard.type(shop.merchant_code)
    keyboard.press("Tab")
    keyboard.type("browser-password-1")
    keyboard.press("Tab")
    keyboard.type("till-2")
    keyboard.press("Enter")

    expect(page.locator("#qr-input")).to_be_focused()
    keyboard.type(code)
    keyboard.press("Tab")  # the camera button
    keyboard.press("Tab")
    expect(page.locator("#amount")).to_be_focused()
    keyboard.type("5")
    keyboard.press("Enter")

    expect(page.locator("#receipt-details")).to_contain_text("5.00")
    expect(page.locator("#new-sale")).to_be_focused()
    keyboard.press("Enter")
    expect(page.locator("#qr-input")).to_be_focused()
    expect(page.locator("#qr-input")).to_have_value("")
    assert shop.card()["balance"] == "95.00"


def test_a_charge_left_unknown_after_every_retry_is_settled_by_the_retry_button_without_a_second_debit(page: Page, shop: Shop) -> None:
    code = shop.issue_code()
    open_till(page, shop)
    keys: list[str | None] = []

    def lose_every_answer(route) -> None:
        keys.append(route.request.headers.get("idempotency-key"))
        route.fetch()  # the server runs (then replays) the charge; the till hears nothing
        route.abort("connectionreset")

    page.route("**/merchant/charge", lose_every_answer)
    charge_typed(page, code, "10.00")
    retry = page.locator("#sale-unknown")
    expect(retry).to_be_visible(timeout=15_000)
    expect(page.locator("#amount")).to_be_disabled()  # the sale cannot be edited under its key
    automatic = len(keys)

    page.unroute("**/merchant/charge")
    page.route("**/merchant/charge", lambda route: (keys.append(route.request.headers.get("idempotency-key")), route.continue_()))
    retry.get_by_role("button", name="Retry charge").click()

    expect(page.locator("#receipt .receipt")).to_have_attribute("data-replayed", "true")
    assert automatic == 4, f"one attempt and three automatic retries were expected, saw {automatic}"
    assert len(set(keys)) == 1 and len(keys) == 5, f"every attempt must carry the sale's one key: {keys}"
    assert shop.card()["balance"] == "90.00", "five attempts, one debit"


def test_a_double_click_on_charge_charges_once(page: Page, shop: Shop) -> None:
    open_till(page, shop)
    page.locator("#qr-input").fill(shop.issue_code())
    page.locator("#amount").fill("3.00")

    page.locator("#charge-button").dblclick()

    expect(page.locator("#receipt-details")).to_contain_text("3.00")
    assert shop.card()["balance"] == "97.00"
    assert len(payments_of(shop)) == 1
