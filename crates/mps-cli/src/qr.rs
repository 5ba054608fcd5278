//! `qr`: a real, scannable QR code drawn with Unicode half blocks, its token, and a countdown.

use std::io::Write as _;
use std::time::Duration;

use chrono::Utc;
use qrcode::QrCode;
use qrcode::render::unicode::Dense1x2;

use mps_api::member::{IssueQrRequest, QrResponse};
use mps_api::roles::Role;

use super::Ctx;
use super::error::{CliError, CliResult};
use super::member::resolve_card;
use super::ui::{Style, Ui, local_time};

/// `qr`: issues a token for the card and shows it until it expires (or Ctrl-C).
pub async fn show(ctx: &Ctx, card_no: &str, ttl: Option<i64>, invert: bool) -> CliResult {
    ctx.session_as(Role::Member, "qr")?;
    let card = resolve_card(ctx, card_no).await?;
    let reply = ctx.api.post("/member/qr", &IssueQrRequest { card_id: card.id, ttl_seconds: ttl }).await?;
    if ctx.ui.json {
        ctx.ui.print_json(&reply.body);
        return Ok(());
    }
    let qr: QrResponse = reply.parse()?;
    println!("{}", render(&qr.qr_plain, invert)?);
    println!("{} · {}", ctx.ui.paint(Style::Bold, &qr.card.card_no), super::ui::wire(&qr.card.card_type));
    println!("token  {}", qr.qr_plain);
    println!("{}", ctx.ui.paint(Style::Dim, "Single use: the payment that scans it consumes it."));
    if ctx.ui.interactive {
        countdown(&ctx.ui, &qr).await;
    } else {
        println!("expires {} (in {} s)", local_time(qr.expires_at), qr.ttl_seconds);
    }
    Ok(())
}

/// The code as text. By default light modules are drawn as blocks, which reads right on the
/// usual dark terminal (as `qrencode -t UTF8` does); `invert` suits light backgrounds.
pub fn render(token: &str, invert: bool) -> CliResult<String> {
    let code = QrCode::new(token.as_bytes()).map_err(|e| CliError::local(format!("cannot draw the QR code: {e}")))?;
    let (dark, light) = if invert { (Dense1x2::Dark, Dense1x2::Light) } else { (Dense1x2::Light, Dense1x2::Dark) };
    Ok(code.render::<Dense1x2>().dark_color(dark).light_color(light).quiet_zone(true).build())
}

/// Rewrites one line each second until the token expires or the user presses Ctrl-C.
async fn countdown(ui: &Ui, qr: &QrResponse) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    loop {
        let left = (qr.expires_at - Utc::now()).num_seconds();
        if left <= 0 {
            println!("\r\x1b[2K{}", ui.paint(Style::Red, "expired: run `mps-cli qr` again for a new code"));
            return;
        }
        print!("\r\x1b[2Kexpires in {:02}:{:02}  (Ctrl-C to stop showing it)", left / 60, left % 60);
        let _ = std::io::stdout().flush();
        tokio::select! {
            _ = tick.tick() => {}
            _ = &mut interrupted => {
                println!("\r\x1b[2Kstill valid until {}", local_time(qr.expires_at));
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_draws_as_a_square_of_half_blocks() {
        let token = "q".repeat(43);
        let drawn = render(&token, false).unwrap();
        let lines: Vec<&str> = drawn.lines().collect();
        let width = lines[0].chars().count();
        assert!(width >= 29, "a version-3 code with its quiet zone is at least 29 modules wide: {width}");
        assert!(lines.iter().all(|l| l.chars().count() == width), "every row is as wide");
        assert_eq!(lines.len(), width.div_ceil(2), "two modules per character row");
        assert!(drawn.chars().all(|c| matches!(c, ' ' | '█' | '▀' | '▄' | '\n')), "{drawn}");
    }
}
