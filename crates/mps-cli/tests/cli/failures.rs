//! Exit codes and messages: 1 when the API refuses, 2 for usage, 3 when the server is unreachable.

use crate::harness::{Server, Terminal, closed_port};
use crate::helpers::{PASSWORD, unique_digits};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_shows_each_service_of_a_healthy_server() {
    let server = Server::start().await;
    let terminal = Terminal::new(&server.url());
    let shown = terminal.ok(&["test"], &[]).await.stdout;
    assert!(shown.contains("healthy"), "{shown}");
    assert!(shown.lines().any(|l| l.contains("database") && l.contains("up")), "{shown}");
    assert!(shown.lines().any(|l| l.contains("redis") && l.contains("up")), "{shown}");
    assert_eq!(terminal.json(&["test"], &[]).await["services"]["database"], "up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_refusal_exits_1_with_its_code_and_a_sentence() {
    let server = Server::start().await;
    let terminal = Terminal::new(&server.url());
    let refused = terminal.run(&["login", "admin", "nobody@example.com"], &[("MPS_PASSWORD", "wrong-password")]).await;
    assert_eq!(refused.code, 1, "{refused:?}");
    assert!(refused.stderr.contains("INVALID_CREDENTIALS — Wrong identifier or password."), "{refused:?}");
    assert!(!terminal.session_file().exists(), "a failed login saves nothing");

    let admin = server.create_admin().await;
    terminal.login("admin", &admin, &[]).await;
    let code = format!("SHOP{}", &unique_digits()[..6]);
    let args = ["admin", "merchant", "create", "--code", &code, "--name", "Shop"];
    terminal.ok(&args, &[("MPS_NEW_PASSWORD", PASSWORD)]).await;
    let mut with_json = vec!["--json"];
    with_json.extend_from_slice(&args);
    let duplicate = terminal.run(&with_json, &[("MPS_NEW_PASSWORD", PASSWORD)]).await;
    assert_eq!(duplicate.code, 1, "{duplicate:?}");
    assert_eq!(duplicate.json()["error"]["code"], "DUPLICATE_MERCHANT_CODE", "--json prints the envelope");
    assert!(duplicate.stderr.contains("Another merchant already has this code."), "{duplicate:?}");
    assert!(duplicate.stderr.contains("request id:"), "{duplicate:?}");

    let merchant = Terminal::new(&server.url());
    merchant.login("merchant", &code, &[]).await;
    let stale = merchant.run(&["charge", "not-a-live-token", "10.00"], &[]).await;
    assert_eq!(stale.code, 1, "{stale:?}");
    assert!(stale.stderr.contains("QR_EXPIRED_OR_INVALID"), "{stale:?}");

    let wrong_role = merchant.run(&["cards"], &[]).await;
    assert_eq!(wrong_role.code, 1, "{wrong_role:?}");
    assert!(wrong_role.stderr.contains("member command"), "{wrong_role:?}");
}

#[tokio::test]
async fn usage_errors_exit_2_before_anything_is_sent() {
    let terminal = Terminal::new(&format!("http://127.0.0.1:{}", closed_port().await));
    for args in [&["charge", "token", "12.345"][..], &["settle", "monthly"], &["frobnicate"], &["login", "root", "x"]] {
        let run = terminal.run(args, &[]).await;
        assert_eq!(run.code, 2, "`mps-cli {}`: {run:?}", args.join(" "));
    }
}

#[tokio::test]
async fn an_unreachable_server_exits_3_and_a_money_command_names_its_key() {
    let terminal = Terminal::new(&format!("http://127.0.0.1:{}", closed_port().await));
    let health = terminal.run(&["test"], &[]).await;
    assert_eq!(health.code, 3, "{health:?}");
    assert!(health.stderr.contains("cannot reach"), "{health:?}");

    let login = terminal.run(&["login", "merchant", "SHOP1"], &[("MPS_PASSWORD", PASSWORD)]).await;
    assert_eq!(login.code, 3, "{login:?}");

    // With a (stale) session in place, a charge gets as far as the network.
    std::fs::create_dir_all(&terminal.home).expect("home");
    let session = serde_json::json!({
        "api": terminal.api(), "token": "t", "role": "merchant", "name": "Shop",
        "identifier": "SHOP1", "operator": null, "expires_at": "2099-01-01T00:00:00Z"
    });
    std::fs::write(terminal.session_file(), session.to_string()).expect("session");
    let charge = terminal.run(&["charge", "token", "10.00", "--idempotency-key", "till-7-sale-42"], &[]).await;
    assert_eq!(charge.code, 3, "{charge:?}");
    assert!(charge.stderr.contains("--idempotency-key till-7-sale-42"), "tells how to resume safely: {charge:?}");
}
