//! The data set: a fresh database with members (each with a credited standard card) and
//! merchants, created through the same database functions the admin endpoints use.

use std::sync::Arc;

use anyhow::{Context as _, anyhow};
use sha2::{Digest as _, Sha256};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use tokio::task::JoinSet;
use uuid::Uuid;

use mps::config::Config;
use mps::db::audit::Actor;
use mps::db::members::NewMember;
use mps::db::money_ops::{CreditArgs, IdempotencyScope, admin_recharge};
use mps_api::money::Money;

/// The one password of every seeded account.
pub const PASSWORD: &str = "bench-password-0001";

/// A member with its standard card.
#[derive(Debug, Clone)]
pub struct SeedMember {
    pub id: Uuid,
    pub member_no: String,
    pub card_id: Uuid,
}

/// A merchant and its login code.
#[derive(Debug, Clone)]
pub struct SeedMerchant {
    pub id: Uuid,
    pub code: String,
}

/// Everything the scenarios need to know about the seeded data.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub members: Vec<SeedMember>,
    pub merchants: Vec<SeedMerchant>,
    /// The argon2 parameters of the stored hashes, e.g. `argon2id v=19 m=19456,t=2,p=1`.
    pub argon2: String,
}

/// Drops and recreates the database of `config`, then applies every migration.
pub async fn reset_database(config: &Config) -> anyhow::Result<()> {
    drop_database(config.database_url.expose()).await?;
    mps::db::migrate_database(config).await
}

/// Drops the database `url` names, if it is one of the harness' own (`mps_bench*`): checked
/// before any connection is made.
pub async fn drop_database(url: &str) -> anyhow::Result<()> {
    let (server, name) = url.rsplit_once('/').context("the database URL has no database name")?;
    anyhow::ensure!(name.starts_with("mps_bench"), "refusing to drop `{name}`: the harness only drops mps_bench*");
    let admin = PgPoolOptions::new().max_connections(1).connect(&format!("{server}/postgres")).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")))
        .execute(&admin)
        .await?;
    admin.close().await;
    Ok(())
}

/// The argon2 parameters of a PHC hash string: `$argon2id$v=19$m=19456,t=2,p=1$salt$hash`.
fn argon2_parameters(hash: &str) -> String {
    hash.split('$').filter(|s| !s.is_empty()).take(3).collect::<Vec<_>>().join(" ")
}

/// Creates `members` members with credited cards and `merchants` merchants.
pub async fn seed(pool: &PgPool, members: usize, merchants: usize, float: Money) -> anyhow::Result<Dataset> {
    // One hash for every account: seeding 1,000 argon2 hashes would take longer than the run.
    // Verifying it at login costs exactly what verifying a per-account hash costs.
    let hash = mps::auth::password::hash_password(PASSWORD.to_owned()).await.map_err(|e| anyhow!("{e}"))?;
    let admin_id = mps::db::admins::create_admin(pool, "bench@mps.invalid", "Bench admin", &hash, None, None)
        .await
        .map_err(|e| anyhow!("cannot create the admin: {e}"))?;
    let hash = Arc::<str>::from(hash);

    let mut tasks = JoinSet::new();
    let workers = 8;
    for worker in 0..workers {
        let (pool, hash) = (pool.clone(), hash.clone());
        tasks.spawn(async move {
            let mut created = Vec::new();
            for i in (worker..members).step_by(workers) {
                created.push((i, seed_member(&pool, i, &hash, admin_id, float).await?));
            }
            Ok::<_, anyhow::Error>(created)
        });
    }
    let mut seeded = Vec::with_capacity(members);
    while let Some(done) = tasks.join_next().await {
        seeded.extend(done??);
    }
    seeded.sort_by_key(|(i, _)| *i);

    let mut seeded_merchants = Vec::with_capacity(merchants);
    for i in 0..merchants {
        let code = format!("BENCH{:02}", i + 1);
        let actor = Actor { id: Some(admin_id), role: "admin" };
        let merchant = mps::db::merchants::create_merchant(
            pool,
            &code,
            &format!("Bench shop {}", i + 1),
            None,
            &hash,
            actor,
            "bench-seed",
        )
        .await
        .map_err(|e| anyhow!("cannot create merchant {code}: {e}"))?;
        seeded_merchants.push(SeedMerchant { id: merchant.id, code });
    }
    Ok(Dataset {
        members: seeded.into_iter().map(|(_, m)| m).collect(),
        merchants: seeded_merchants,
        argon2: argon2_parameters(&hash),
    })
}

async fn seed_member(pool: &PgPool, i: usize, hash: &str, admin_id: Uuid, float: Money) -> anyhow::Result<SeedMember> {
    let name = format!("Bench member {}", i + 1);
    let phone = format!("1390{:07}", i + 1);
    let new = NewMember {
        name: &name,
        phone: Some(&phone),
        email: None,
        password_hash: Some(hash.to_owned()),
        external_identity: None,
    };
    let actor = Actor { id: Some(admin_id), role: "admin" };
    let (member, card) = mps::db::members::create_member(pool, new, actor, "bench-seed")
        .await
        .map_err(|e| anyhow!("cannot create member {}: {e}", i + 1))?;
    let key = format!("seed-{}", card.id);
    let fingerprint = Sha256::digest(key.as_bytes()).to_vec();
    let scope = IdempotencyScope { actor_id: admin_id, key: &key, fingerprint: &fingerprint, request_id: "bench-seed" };
    let args = CreditArgs { card_id: card.id, amount: float, reason: Some("benchmark float") };
    let credited =
        admin_recharge(pool, scope, args).await.map_err(|e| anyhow!("cannot credit card {}: {e}", card.card_no))?;
    credited.result.map_err(|e| anyhow!("cannot credit card {}: {e}", card.card_no))?;
    Ok(SeedMember { id: member.id, member_no: member.member_no, card_id: card.id })
}

#[cfg(test)]
mod tests {
    #[test]
    fn argon2_parameters_come_from_the_phc_string() {
        assert_eq!(
            super::argon2_parameters("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"),
            "argon2id v=19 m=19456,t=2,p=1"
        );
    }
}
