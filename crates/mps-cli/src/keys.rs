//! `keys create|list|revoke`: a merchant owner's POS API keys. The secret of a new key is printed
//! once and never saved here.

use mps_api::merchant::{CreateKeyRequest, KeyView, KeyWithSecret};
use mps_api::pagination::Page;
use mps_api::roles::{KeyScope, Role};

use super::args::{KeyPermission, KeysCommand, PageArg};
use super::error::CliResult;
use super::table::{Cell, Column, Table};
use super::ui::Style;
use super::{Ctx, page_query, print_page_footer};

/// Runs a `keys` command.
pub async fn run(ctx: &Ctx, command: KeysCommand) -> CliResult {
    ctx.session_as(Role::Merchant, "keys")?;
    match command {
        KeysCommand::Create { name, store, permissions, terminal, expires_at } => {
            let permissions = permissions.iter().map(|p| scope(*p)).collect();
            let request = CreateKeyRequest { name, store, permissions, terminal_id: terminal, expires_at };
            create(ctx, &request).await
        }
        KeysCommand::List { page } => list(ctx, page).await,
        KeysCommand::Revoke { id } => revoke(ctx, id).await,
    }
}

fn scope(permission: KeyPermission) -> KeyScope {
    match permission {
        KeyPermission::Charge => KeyScope::Charge,
        KeyPermission::Refund => KeyScope::Refund,
        KeyPermission::Read => KeyScope::Read,
    }
}

async fn create(ctx: &Ctx, request: &CreateKeyRequest) -> CliResult {
    let reply = ctx.api.post("/merchant/keys", request).await?;
    ctx.show(&reply, |ui, created: KeyWithSecret| {
        println!(
            "{} {} for store {}",
            ui.paint(Style::Green, "Created key"),
            created.key.prefix,
            created.key.store_code
        );
        ui.kv(&[("id", created.key.id.to_string()), ("permissions", created.key.permissions.join(", "))]);
        println!("{}", ui.paint(Style::Bold, "Secret (shown once; install it on the till now):"));
        println!("{}", created.secret);
    })
}

async fn list(ctx: &Ctx, page: PageArg) -> CliResult {
    let reply = ctx.api.get("/merchant/keys", &page_query(page)).await?;
    ctx.show(&reply, |ui, page: Page<KeyView>| {
        let mut table = Table::new(&[
            ("ID", Column::Id),
            ("PREFIX", Column::Id),
            ("NAME", Column::Text),
            ("STORE", Column::Text),
            ("PERMISSIONS", Column::Text),
            ("STATUS", Column::Text),
        ]);
        for key in &page.items {
            let status = if key.revoked_at.is_some() { "revoked" } else { "active" };
            table.row(vec![
                Cell::plain(key.id.to_string()),
                Cell::plain(key.prefix.clone()),
                Cell::plain(key.name.clone()),
                Cell::plain(key.store_code.clone()),
                Cell::plain(key.permissions.join(",")),
                Cell::status(status),
            ]);
        }
        table.print(ui, "No keys.");
        print_page_footer(ui, &reply.body);
    })
}

async fn revoke(ctx: &Ctx, id: uuid::Uuid) -> CliResult {
    let reply = ctx.api.post(&format!("/merchant/keys/{id}/revoke"), &serde_json::json!({})).await?;
    ctx.show(&reply, |ui, key: KeyView| {
        println!("{} {} ({})", ui.paint(Style::Green, "Revoked key"), key.prefix, key.name);
    })
}
