//! `admin member …` and `admin merchant …`: one set of verbs over both kinds of account.

use serde_json::{Value, json};

use mps_api::admin::{CreateMemberRequest, CreateMemberResponse, CreateMerchantRequest};
use mps_api::domain::{MemberView, MerchantView};
use mps_api::pagination::Page;

use super::super::args::{AccountCommand, CreateAccount};
use super::super::error::{CliError, CliResult};
use super::super::table::{Cell, Column, Table};
use super::super::ui::{Style, local_time, wire};
use super::super::{Ctx, page_query, print_page_footer, secret};

/// Which accounts a command is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Member,
    Merchant,
}

impl Kind {
    fn path(self) -> &'static str {
        match self {
            Kind::Member => "/admin/members",
            Kind::Merchant => "/admin/merchants",
        }
    }

    fn noun(self) -> &'static str {
        match self {
            Kind::Member => "Member",
            Kind::Merchant => "Merchant",
        }
    }
}

/// Runs one account command.
pub async fn run(ctx: &Ctx, kind: Kind, command: AccountCommand) -> CliResult {
    match command {
        AccountCommand::Create(new) => create(ctx, kind, new).await,
        AccountCommand::List { q, status, page } => {
            let mut query = page_query(page);
            query.extend([("q", q), ("status", status)].into_iter().filter_map(|(k, v)| v.map(|v| (k, v))));
            let reply = ctx.api.get(kind.path(), &query).await?;
            match kind {
                Kind::Member => ctx.show(&reply, |ui, page: Page<MemberView>| {
                    let mut table = member_table();
                    page.items.iter().for_each(|m| table.row(member_row(m)));
                    table.print(ui, "No members match.");
                    print_page_footer(ui, &reply.body);
                }),
                Kind::Merchant => ctx.show(&reply, |ui, page: Page<MerchantView>| {
                    let mut table = merchant_table();
                    page.items.iter().for_each(|m| table.row(merchant_row(m)));
                    table.print(ui, "No merchants match.");
                    print_page_footer(ui, &reply.body);
                }),
            }
        }
        AccountCommand::Show { account } => {
            let reply = ctx.api.get(&format!("{}/{}", kind.path(), account.trim()), &[]).await?;
            ctx.show(&reply, |ui, account: Value| {
                ui.kv_of(
                    &account,
                    &["id", "member_no", "code", "name", "phone", "email", "contact", "status", "created_at"],
                );
            })
        }
        AccountCommand::Suspend { account, reason } => act(ctx, kind, &account, "suspend", reason).await,
        AccountCommand::Activate { account, reason } => act(ctx, kind, &account, "activate", reason).await,
        AccountCommand::Password { account } => {
            let password = secret("MPS_NEW_PASSWORD", "New password: ", true)?;
            let path = format!("{}/{}/password", kind.path(), account.trim());
            let reply = ctx.api.post(&path, &json!({ "password": password })).await?;
            ctx.show(&reply, |_, _: Value| {
                println!("{} {}: password reset; its sessions have ended.", kind.noun(), account.trim());
            })
        }
    }
}

async fn create(ctx: &Ctx, kind: Kind, new: CreateAccount) -> CliResult {
    let reply = match kind {
        Kind::Member => {
            if new.code.is_some() || new.contact.is_some() {
                return Err(CliError::local("--code and --contact are for merchants"));
            }
            let password =
                if new.no_password { None } else { Some(secret("MPS_NEW_PASSWORD", "Member's password: ", true)?) };
            let request = CreateMemberRequest {
                name: new.name,
                phone: new.phone,
                email: new.email,
                password,
                external_identity: None,
            };
            ctx.api.post(kind.path(), &request).await?
        }
        Kind::Merchant => {
            let Some(code) = new.code else { return Err(CliError::local("a merchant needs --code")) };
            if new.phone.is_some() || new.email.is_some() || new.no_password {
                return Err(CliError::local("--phone, --email and --no-password are for members"));
            }
            let password = secret("MPS_NEW_PASSWORD", "Merchant's password: ", true)?;
            ctx.api
                .post(kind.path(), &CreateMerchantRequest { code, name: new.name, contact: new.contact, password })
                .await?
        }
    };
    match kind {
        Kind::Member => ctx.show(&reply, |ui, created: CreateMemberResponse| {
            let member = &created.member;
            println!(
                "{} {} ({}) created",
                ui.paint(Style::Green, "Member"),
                ui.paint(Style::Bold, &member.member_no),
                member.name
            );
            ui.kv(&[
                ("id", member.id.to_string()),
                ("card", created.card.card_no.clone()),
                ("status", wire(&member.status)),
            ]);
        }),
        Kind::Merchant => ctx.show(&reply, |ui, merchant: MerchantView| {
            println!(
                "{} {} ({}) created",
                ui.paint(Style::Green, "Merchant"),
                ui.paint(Style::Bold, &merchant.code),
                merchant.name
            );
            ui.kv(&[("id", merchant.id.to_string()), ("status", wire(&merchant.status))]);
        }),
    }
}

/// `suspend` and `activate`.
async fn act(ctx: &Ctx, kind: Kind, account: &str, action: &str, reason: Option<String>) -> CliResult {
    let path = format!("{}/{}/{action}", kind.path(), account.trim());
    let reply = ctx.api.post(&path, &super::action_body(reason)).await?;
    ctx.show(&reply, |ui, answer: Value| {
        let status = answer["status"].as_str().map(str::to_owned).unwrap_or_else(|| format!("{action}d"));
        println!("{} {} is now {}.", kind.noun(), account.trim(), ui.paint(Style::Bold, &status));
    })
}

fn member_table() -> Table {
    Table::new(&[
        ("MEMBER", Column::Id),
        ("NAME", Column::Text),
        ("PHONE", Column::Text),
        ("EMAIL", Column::Text),
        ("STATUS", Column::Text),
        ("CREATED", Column::Id),
    ])
}

fn member_row(member: &MemberView) -> Vec<Cell> {
    vec![
        member.member_no.as_str().into(),
        member.name.as_str().into(),
        member.phone.clone().unwrap_or_default().into(),
        member.email.clone().unwrap_or_default().into(),
        Cell::status(wire(&member.status)),
        local_time(member.created_at).into(),
    ]
}

fn merchant_table() -> Table {
    Table::new(&[
        ("CODE", Column::Id),
        ("NAME", Column::Text),
        ("CONTACT", Column::Text),
        ("STATUS", Column::Text),
        ("CREATED", Column::Id),
    ])
}

fn merchant_row(merchant: &MerchantView) -> Vec<Cell> {
    vec![
        merchant.code.as_str().into(),
        merchant.name.as_str().into(),
        merchant.contact.clone().unwrap_or_default().into(),
        Cell::status(wire(&merchant.status)),
        local_time(merchant.created_at).into(),
    ]
}
