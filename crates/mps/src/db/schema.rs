//! The database's schema and code: the append-only migrations (`migrations/`), then the one live
//! text of every SQL function (`sql/functions/*.sql`), both under one advisory lock.
//!
//! A function file is applied again only when its text changed: `sql_files` records the SHA-256
//! of the text each file last ran with. Files run in name order, each in a transaction of its
//! own with `check_function_bodies` off (a plpgsql body may call a function of a later file).
//! Dropping or renaming a function is a migration; a file only ever creates or replaces.

use std::collections::HashMap;
use std::sync::LazyLock;

use anyhow::Context as _;
use rust_embed::RustEmbed;
use sha2::{Digest as _, Sha256};
use sqlx::migrate::Migrator;
use sqlx::{Connection as _, PgConnection};

/// The migrations, embedded in the binary. sqlx's own lock is off: [`migrate_on`] holds one lock
/// across the migrations and the function files.
pub static MIGRATOR: LazyLock<Migrator> = LazyLock::new(|| {
    let mut migrator = sqlx::migrate!("./migrations");
    migrator.set_locking(false);
    migrator
});

/// The advisory lock every replica takes while it migrates ("mps_schm").
const SCHEMA_LOCK: i64 = 0x6d70_735f_7363_686d;

/// The SQL function files, embedded in the binary.
#[derive(RustEmbed)]
#[folder = "sql/functions/"]
struct FunctionFiles;

/// One file of `sql/functions/`: its name and its text.
pub struct FunctionFile {
    pub name: String,
    pub text: String,
}

impl FunctionFile {
    /// The SHA-256 of the text, as recorded in `sql_files`.
    pub fn sha256(&self) -> String {
        hex::encode(Sha256::digest(self.text.as_bytes()))
    }
}

/// Every `.sql` file of `sql/functions/`, in name order.
pub fn function_files() -> Vec<FunctionFile> {
    let mut files: Vec<FunctionFile> = FunctionFiles::iter()
        .filter(|name| name.ends_with(".sql"))
        .filter_map(|name| {
            let file = FunctionFiles::get(&name)?;
            let text = String::from_utf8_lossy(&file.data).into_owned();
            Some(FunctionFile { name: name.into_owned(), text })
        })
        .collect();
    files.sort_by(|a, b| a.name.cmp(&b.name));
    files
}

/// Applies pending migrations, then every function file whose text changed, holding one advisory
/// lock throughout, so replicas that start together do each step once.
pub async fn migrate_on(conn: &mut PgConnection) -> anyhow::Result<()> {
    sqlx::query("SELECT pg_advisory_lock($1)").bind(SCHEMA_LOCK).execute(&mut *conn).await?;
    let result = migrate_locked(conn).await;
    let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)").bind(SCHEMA_LOCK).execute(&mut *conn).await;
    result?;
    unlocked?;
    Ok(())
}

async fn migrate_locked(conn: &mut PgConnection) -> anyhow::Result<()> {
    // `run_direct` rather than `run`: `run`'s `Acquire` bound makes this future not `Send`
    // (sqlx's documented work-around for "implementation of `Acquire` is not general enough").
    MIGRATOR.run_direct(None, &mut *conn, false).await.context("migrations failed")?;
    let applied: HashMap<String, String> =
        sqlx::query_as("SELECT file, sha256 FROM sql_files").fetch_all(&mut *conn).await?.into_iter().collect();
    for file in function_files() {
        let sha256 = file.sha256();
        if applied.get(&file.name) == Some(&sha256) {
            continue;
        }
        let mut tx = conn.begin().await?;
        sqlx::query("SET LOCAL check_function_bodies = off").execute(&mut *tx).await?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(file.text.clone()))
            .execute(&mut *tx)
            .await
            .with_context(|| format!("sql/functions/{} failed", file.name))?;
        sqlx::query(
            "INSERT INTO sql_files (file, sha256) VALUES ($1, $2)
             ON CONFLICT (file) DO UPDATE SET sha256 = excluded.sha256, applied_at = now()",
        )
        .bind(&file.name)
        .bind(&sha256)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        tracing::info!(file = %file.name, "applied SQL functions");
    }
    Ok(())
}
