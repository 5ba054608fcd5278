//! A PostgreSQL of the harness' own (`--private-postgres`), configured as docs/operations.md
//! ("PostgreSQL settings") recommends for a production host, so that a measurement does not
//! depend on the shared cluster's defaults (128 MB of shared buffers) and never changes them.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use test_support::process::PgNode;

/// The recommended settings for this machine: a quarter of its memory as shared buffers, half as
/// the planner's cache estimate, checkpoints by time (15 min) rather than by WAL volume, and
/// compressed full-page images. Durability stays as in production (`fsync`, synchronous commit).
pub fn recommended_settings() -> anyhow::Result<Vec<String>> {
    let ram_mib = memory_mib()?;
    Ok(vec![
        format!("shared_buffers={}MB", ram_mib / 4),
        format!("effective_cache_size={}MB", ram_mib / 2),
        "max_wal_size=8GB".into(),
        "min_wal_size=1GB".into(),
        "checkpoint_timeout=15min".into(),
        "checkpoint_completion_target=0.9".into(),
        "wal_compression=lz4".into(),
        // test-support starts its servers with fsync off (tests crash processes, not hosts): a
        // measurement runs with the production durability.
        "fsync=on".into(),
        "synchronous_commit=on".into(),
        "full_page_writes=on".into(),
    ])
}

/// `MemTotal` of `/proc/meminfo`, in MiB.
fn memory_mib() -> anyhow::Result<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").context("cannot read /proc/meminfo")?;
    let kib: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .context("no MemTotal in /proc/meminfo")?;
    Ok(kib / 1024)
}

/// The running private server; dropping it stops the server and removes its directory.
pub struct PrivatePostgres {
    node: Option<PgNode>,
    dir: PathBuf,
    pub port: u16,
    pub settings: Vec<String>,
}

impl PrivatePostgres {
    /// initdb in `dir` (which must not exist yet) and start on `port` with the recommended
    /// settings followed by `extra` (later settings win).
    pub fn start(dir: &Path, port: u16, extra: &[String]) -> anyhow::Result<PrivatePostgres> {
        anyhow::ensure!(!dir.exists(), "{} exists: a previous private PostgreSQL was not removed", dir.display());
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let mut settings = recommended_settings()?;
        settings.extend(extra.iter().cloned());
        let node = PgNode::new(dir, "pg", port);
        node.initdb();
        let refs: Vec<&str> = settings.iter().map(String::as_str).collect();
        node.start(&refs);
        Ok(PrivatePostgres { node: Some(node), dir: dir.to_path_buf(), port, settings })
    }

    /// `url` with its host and port replaced by this server's (the database name is kept).
    pub fn url_for(&self, url: &str) -> anyhow::Result<String> {
        let (_, name) = url.rsplit_once('/').context("the database URL has no database name")?;
        Ok(format!("postgres://postgres@127.0.0.1:{}/{name}", self.port))
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        drop(self.node.take());
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The private server runs with the recommended settings (extra ones winning), durable, on
    /// the port it was given, and leaves nothing behind.
    #[test]
    fn a_private_postgres_has_the_recommended_settings_and_is_removed_after() {
        let scratch = test_support::process::Scratch::new("private-pg");
        let dir = scratch.0.join("bench-postgres");
        let port = crate::server::free_port().unwrap();
        // A small buffer pool for the test (later settings win over the recommended ones).
        let pg = PrivatePostgres::start(&dir, port, &["shared_buffers=32MB".to_owned()]).unwrap();
        let node = pg.node.as_ref().unwrap();
        assert_eq!(node.psql("SHOW shared_buffers"), "32MB");
        assert_eq!(node.psql("SHOW fsync"), "on");
        assert_eq!(node.psql("SHOW wal_compression"), "lz4");
        assert_eq!(node.psql("SHOW max_wal_size"), "8GB");
        assert!(
            pg.settings
                .iter()
                .any(|s| s.starts_with("shared_buffers=") && s.ends_with("MB") && s != "shared_buffers=32MB")
        );
        assert_eq!(
            pg.url_for("postgres://postgres@127.0.0.1:5432/mps_bench_x").unwrap(),
            format!("postgres://postgres@127.0.0.1:{port}/mps_bench_x")
        );
        drop(pg);
        assert!(!dir.exists(), "the data directory is removed");
    }
}
