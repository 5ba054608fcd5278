//! The web console's files: served from the binary at `/console/`, under their own strict
//! Content-Security-Policy and the API's security headers. (What the pages do is tested in a real
//! browser: tests/browser, run by scripts/browser-tests.sh.)

use axum::http::Method;

use crate::helpers::TestApp;

#[tokio::test]
async fn the_console_pages_and_scripts_are_served_from_the_binary() {
    let app = TestApp::new().await;

    let redirect = app.get("/console").await;
    assert!(redirect.status.is_redirection(), "/console redirects: {}", redirect.status);
    assert_eq!(redirect.header("location"), Some("/console/"));
    let index = app.get("/console/").await;
    assert_eq!(index.status, 200);
    assert!(index.text.contains("/console/pos"), "the index links to the till: {}", index.text);
    for (page, script) in [("pos", "pos.js"), ("member", "member.js"), ("admin", "admin.js")] {
        for path in [format!("/console/{page}"), format!("/console/{page}.html")] {
            let response = app.get(&path).await;
            assert_eq!(response.status, 200, "{path}");
            assert_eq!(response.header("content-type"), Some("text/html; charset=utf-8"), "{path}");
            assert!(response.text.contains(&format!("src=\"/console/{script}\"")), "{path} loads its script");
        }
        let code = app.get(&format!("/console/{script}")).await;
        assert_eq!(code.status, 200, "{script}");
        assert!(
            code.header("content-type").is_some_and(|t| t.contains("javascript")),
            "{script}: {:?}",
            code.header("content-type")
        );
    }
}

#[tokio::test]
async fn console_responses_carry_a_strict_policy_and_the_apis_security_headers() {
    let app = TestApp::new().await;
    for path in ["/console/", "/console/pos", "/console/console.css", "/console/nothing-here"] {
        let response = app.get(path).await;
        let csp = response.header("content-security-policy").unwrap_or_default();
        for directive in [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "connect-src 'self'",
            "frame-ancestors 'none'",
        ] {
            assert!(csp.contains(directive), "{path}: no {directive} in {csp}");
        }
        assert!(!csp.contains("unsafe-"), "{path}: nothing unsafe is allowed: {csp}");
        assert_eq!(response.header("x-frame-options"), Some("DENY"), "{path}");
        assert_eq!(response.header("x-content-type-options"), Some("nosniff"), "{path}");
        assert_eq!(response.header("referrer-policy"), Some("strict-origin-when-cross-origin"), "{path}");
        assert!(response.header("strict-transport-security").is_some(), "{path}");
    }
    assert_eq!(
        app.get("/health").await.header("content-security-policy"),
        Some("default-src 'none'; frame-ancestors 'none'; base-uri 'none'"),
        "the API keeps its own policy"
    );
}

#[tokio::test]
async fn an_unchanged_console_file_is_revalidated_with_its_etag() {
    let app = TestApp::new().await;
    let first = app.get("/console/pos.js").await;
    assert_eq!(first.header("cache-control"), Some("no-cache"));
    let etag = first.header("etag").expect("an etag").to_owned();

    let again = app.call(Method::GET, "/console/pos.js", None, &[("if-none-match", &etag)]).await;

    assert_eq!(again.status, 304, "an unchanged file is not sent again");
    assert!(again.text.is_empty());
    let other = app.call(Method::GET, "/console/pos.js", None, &[("if-none-match", "\"stale\"")]).await;
    assert_eq!(other.status, 200, "a stale tag gets the file");
}

#[tokio::test]
async fn unknown_console_paths_are_a_404_envelope_and_never_reach_other_files() {
    let app = TestApp::new().await;
    for path in
        ["/console/nothing-here", "/console/%2e%2e/Cargo.toml", "/console/..%2fCargo.toml", "/console/src/lib/money.ts"]
    {
        app.get(path).await.assert_error(404, "NOT_FOUND");
    }
}

#[tokio::test]
async fn the_consoles_static_files_are_not_rate_limited_like_the_api() {
    let app = TestApp::with_vars(&[("RATE_LIMIT_REQUESTS", "3")]).await;
    for n in 0..6 {
        assert_eq!(app.get("/console/pos").await.status, 200, "console request {n}");
    }
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(app.get("/levels").await.status.as_u16());
    }
    assert!(statuses.contains(&429), "the API itself is still limited: {statuses:?}");
}
