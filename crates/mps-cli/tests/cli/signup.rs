//! Signing up and in with a texted code through the terminal client (issue 17). The server
//! texts codes to its log here, so the tests plant a code they know, stored as the server
//! stores codes, and hand it to the client through `MPS_OTP` as a person would type it.

use crate::harness::{Server, Terminal};
use crate::helpers::{PASSWORD, unique_digits};

const CODE: &str = "246810";

/// Stores `CODE` as the live code of `phone` for `purpose`.
async fn plant_code(server: &Server, phone: &str, purpose: &str) {
    let key = server.app.state.config.jwt_secret.expose().to_owned();
    let hash = mps::auth::codes::hash_code(&key, phone, purpose, CODE).expect("hash");
    sqlx::query(
        "UPDATE phone_codes SET ended_at = now(), end_reason = 'superseded' \
         WHERE phone = $1 AND purpose = $2 AND ended_at IS NULL",
    )
    .bind(phone)
    .bind(purpose)
    .execute(&server.app.pool)
    .await
    .expect("end older codes");
    sqlx::query(
        "INSERT INTO phone_codes (phone, purpose, code_hash, expires_at) VALUES ($1, $2, $3, now() + interval '5 minutes')",
    )
    .bind(phone)
    .bind(purpose)
    .bind(hash)
    .execute(&server.app.pool)
    .await
    .expect("plant a code");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_registers_from_the_terminal_and_logs_in_again_with_a_code() {
    let server = Server::start().await;
    let phone = format!("1{}", unique_digits());
    let terminal = Terminal::new(&server.url());

    plant_code(&server, &phone, "register").await;
    let env = [("MPS_OTP", CODE), ("MPS_PASSWORD", PASSWORD)];
    let joined = terminal.json(&["register", &phone, "--name", "Mei Lin", "--password"], &env).await;
    assert!(joined["member"]["member_no"].as_str().is_some_and(|n| n.starts_with('M')), "{joined}");
    assert_eq!(joined["card"]["card_type"], "standard");
    assert_eq!(joined["token"], "(saved in the session file)", "the token stays out of the terminal");
    assert_eq!(terminal.json(&["whoami"], &[]).await["user"]["name"], "Mei Lin");
    terminal.ok(&["logout"], &[]).await;

    plant_code(&server, &phone, "login").await;
    terminal.ok(&["login", "member", &phone, "--otp"], &[("MPS_OTP", CODE)]).await;
    assert_eq!(terminal.json(&["whoami"], &[]).await["user"]["name"], "Mei Lin");
    let reused = terminal.run(&["login", "member", &phone, "--otp"], &[("MPS_OTP", CODE)]).await;
    assert_ne!(reused.code, 0, "a used code is refused: {reused:?}");
    assert!(reused.stderr.contains("code"), "the refusal speaks of the code: {}", reused.stderr);

    let sent = terminal.run(&["otp", &format!("1{}", unique_digits()), "--purpose", "register"], &[]).await;
    assert_eq!(sent.code, 0, "asking for a code works: {sent:?}");
}
