//! Keeping the tables that only grow bounded (issue 15, docs/scaling.md "Partitioning and
//! retention"): sessions long past their expiry go; the money history does not.

use sqlx::PgPool;

/// Deletes, at most `batch` at a time, sessions that expired more than `days` ago and have no
/// revocation still waiting to reach Redis. A token cannot outlive its session's `expires_at`
/// (the JWT expires with it), so nothing can present one of these any more.
pub async fn prune_expired_sessions(pool: &PgPool, days: i32, batch: i64) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "DELETE FROM sessions WHERE id IN ( \
             SELECT s.id FROM sessions s \
             WHERE s.expires_at < now() - make_interval(days => $1) \
               AND NOT EXISTS (SELECT 1 FROM session_cache_invalidations i WHERE i.session_id = s.id) \
             LIMIT $2)",
    )
    .bind(days)
    .bind(batch)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}
