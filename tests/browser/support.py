"""What the browser tests share: the served `mps` (started by scripts/browser-tests.sh), the API
for arranging and checking, the system Chromium, and the steps a person takes on the pages."""

import itertools
import json
import os
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import Browser, Page, Playwright, expect

BASE_URL = os.environ.get("MPS_BROWSER_BASE_URL", "http://127.0.0.1:8000")
ADMIN_EMAIL = os.environ.get("MPS_BROWSER_ADMIN_EMAIL", "admin@example.com")
PASSWORD = os.environ.get("MPS_BROWSER_PASSWORD", "browser-password-1")
CHROMIUM = os.environ.get("MPS_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(os.environ.get("MPS_SCREENSHOTS", "target/console-screenshots"))
# Chromium's own traffic (updates, sync, safe browsing) has nowhere to go on this network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}

_numbers = itertools.count(1)


class ApiRefused(Exception):
    """A non-2xx answer of the API, with its status and envelope."""

    def __init__(self, status: int, body: dict):
        super().__init__(f"{status} {body}")
        self.status = status
        self.body = body


def call(method: str, path: str, token: str | None = None, body: dict | None = None, key: str | None = None) -> dict:
    """One API request; returns the JSON answer or raises ApiRefused."""
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    if key:
        headers["idempotency-key"] = key
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(BASE_URL + path, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            text = response.read()
            return json.loads(text) if text else {}
    except urllib.error.HTTPError as error:
        raise ApiRefused(error.code, json.loads(error.read() or b"{}")) from None


def login(role: str, identifier: str, password: str = PASSWORD) -> str:
    return call("POST", "/auth/login", body={"role": role, "identifier": identifier, "password": password})["token"]


@dataclass
class Shop:
    """A merchant, and a member whose standard card holds a known balance."""

    admin: str
    merchant_code: str
    member_phone: str
    member_no: str
    card_id: str
    card_no: str

    def member_token(self) -> str:
        return login("member", self.member_phone)

    def merchant_token(self) -> str:
        return login("merchant", self.merchant_code)

    def card(self) -> dict:
        return call("GET", f"/admin/cards/{self.card_id}", self.admin)

    def issue_code(self) -> str:
        return call("POST", "/member/qr", self.member_token(), {"card_id": self.card_id})["qr_plain"]


def sign_in(page: Page, path: str, identifier: str, password: str = PASSWORD, operator: str | None = None) -> None:
    """Opens a console page and signs in through its form."""
    page.goto(path)
    page.get_by_label(page.locator("#sign-in label").first.locator("span").inner_text()).fill(identifier)
    page.get_by_label("Password").fill(password)
    if operator is not None:
        page.get_by_label("Cashier (optional)").fill(operator)
    page.get_by_role("button", name="Sign in").click()
    page.locator("#sign-out").wait_for(state="visible")


def screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def launch(playwright: Playwright, extra_args: list[str] | None = None) -> Browser:
    """The system Chromium, headless, with a fresh profile (Playwright makes one per launch)."""
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS + (extra_args or []))


def new_shop(admin: str) -> Shop:
    """A fresh merchant and member (their own numbers, so tests never share a card), 100.00 credited."""
    n = next(_numbers)
    run = uuid.uuid4().hex[:6].upper()
    code = f"B{run}{n}"
    phone = f"139{uuid.uuid4().int % 10**8:08d}"
    created = call("POST", "/admin/members", admin, {"name": f"Browser Member {n}", "phone": phone, "password": PASSWORD})
    call("POST", "/admin/merchants", admin, {"code": code, "name": f"Browser Shop {n}", "password": PASSWORD})
    card = created["card"]
    call("POST", f"/admin/cards/{card['id']}/recharge", admin, {"amount": "100.00", "reason": "browser suite"}, key=str(uuid.uuid4()))
    return Shop(admin, code, phone, created["member"]["member_no"], card["id"], card["card_no"])


def open_till(page: Page, shop: Shop) -> None:
    """Signs the shop's cashier `till-1` in at the till."""
    sign_in(page, "/console/pos", shop.merchant_code, operator="till-1")
    expect(page.locator("#qr-input")).to_be_focused()


def charge_typed(page: Page, code: str, amount: str) -> None:
    """Types a member's code and an amount at the till and charges."""
    page.locator("#qr-input").fill(code)
    page.locator("#amount").fill(amount)
    page.locator("#charge-button").click()


def open_card(page: Page, card_no: str) -> None:
    """Finds a card in the back office and opens it."""
    page.goto("/console/admin#search")
    page.locator("#search-q").fill(card_no)
    page.locator("#search-q").press("Enter")
    page.locator(f'[data-open-card="{card_no}"]').click()
    expect(page.locator("#card-detail h3")).to_have_text(f"Card {card_no}")
