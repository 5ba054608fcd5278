"""The console's defences: its Content-Security-Policy, its headers, and where the token lives."""

from playwright.sync_api import Page, Route, expect
from support import ADMIN_EMAIL, Shop, sign_in

INJECTED = (
    '<script>window.__injected = "inline script";</script>'
    '<img src="/console/icon.svg?x" onload="window.__injected = \'inline handler\'">'
)
WATCH_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => window.__violations.push(e.violatedDirective));
"""


def test_the_console_policy_refuses_an_inline_script_slipped_into_a_page(page: Page) -> None:
    # Arrange: the served page, as a stored injection would leave it (headers untouched).
    def inject(route: Route) -> None:
        served = route.fetch()
        route.fulfill(response=served, body=served.text().replace("</body>", INJECTED + "</body>"))

    page.add_init_script(WATCH_VIOLATIONS)
    page.route("**/console/pos", inject)

    # Act
    page.goto("/console/pos")

    # Assert: neither the script nor the handler ran, the browser reported both, the page's own code did run.
    expect(page.locator("#sign-in")).to_be_visible()
    page.wait_for_function("window.__violations.length >= 2")
    assert page.evaluate("window.__injected") is None, "an injected inline script ran"
    violations = page.evaluate("window.__violations")
    assert "script-src-elem" in violations and "script-src-attr" in violations, f"violations: {violations}"


def test_the_console_refuses_html_built_from_strings(page: Page) -> None:
    page.add_init_script(WATCH_VIOLATIONS)
    page.goto("/console/member")

    outcome = page.evaluate("""() => {
        try { document.body.insertAdjacentHTML("beforeend", '<img src=x onerror="window.__injected=1">'); return "inserted"; }
        catch (e) { return e.name; }
    }""")

    assert outcome == "TypeError", f"HTML from a string should be refused by Trusted Types, got {outcome}"
    assert page.evaluate("window.__injected") is None
    assert "require-trusted-types-for" in page.evaluate("window.__violations")


def test_console_pages_carry_the_apis_security_headers_and_their_own_policy(page: Page) -> None:
    for path in ["/console/", "/console/pos", "/console/member", "/console/admin", "/console/pos.js", "/console/console.css"]:
        headers = page.request.get(path).headers
        policy = headers["content-security-policy"]
        for directive in ["default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'",
                          "frame-ancestors 'none'", "base-uri 'none'", "form-action 'none'", "require-trusted-types-for 'script'"]:
            assert directive in policy, f"{path}: no {directive} in {policy}"
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy, f"{path}: {policy}"
        assert headers["x-frame-options"] == "DENY", path
        assert headers["x-content-type-options"] == "nosniff", path
        assert headers["referrer-policy"] == "strict-origin-when-cross-origin", path
        assert headers["strict-transport-security"].startswith("max-age="), path
        assert headers["x-request-id"], path


def test_the_token_lives_in_the_tabs_session_storage_never_in_a_cookie(page: Page, shop: Shop) -> None:
    sign_in(page, "/console/pos", shop.merchant_code)

    assert page.context.cookies() == [], "the console must set no cookie"
    assert page.evaluate("document.cookie") == ""
    stored = page.evaluate("sessionStorage.getItem('mps-console:merchant')")
    assert stored and '"token"' in stored
    other_tab = page.context.new_page()
    other_tab.goto("/console/pos")
    expect(other_tab.locator("#sign-in")).to_be_visible()  # a new tab does not inherit the session

    page.get_by_role("button", name="Sign out").click()
    expect(page.locator("#sign-in")).to_be_visible()
    assert page.evaluate("sessionStorage.length") == 0


def test_a_wrong_password_shows_the_apis_message_and_request_id(page: Page) -> None:
    page.goto("/console/admin")
    page.get_by_label("Email").fill(ADMIN_EMAIL)
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()

    message = page.locator("#sign-in-message")
    expect(message).to_have_attribute("data-code", "INVALID_CREDENTIALS")
    expect(message).to_contain_text("request id")
