//! Retention (issue 15): the hourly sweep keeps the session table bounded.

use crate::helpers::TestApp;

#[tokio::test]
async fn the_sweep_deletes_only_sessions_long_expired_with_nothing_left_to_push_to_redis() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let member = admin.create_member("Ana").await;
    let live = app.member_client(&member).await;
    let old = app.member_client(&member).await;
    let stuck = app.member_client(&member).await;
    let ids: Vec<uuid::Uuid> =
        sqlx::query_scalar("SELECT id FROM sessions WHERE subject_id = $1::uuid ORDER BY created_at")
            .bind(&member.id)
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(ids.len(), 3);
    sqlx::query("UPDATE sessions SET expires_at = now() - interval '40 days', created_at = now() - interval '41 days' WHERE id = ANY($1)")
        .bind(&ids[1..])
        .execute(&app.pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO session_cache_invalidations (session_id) VALUES ($1)")
        .bind(ids[2])
        .execute(&app.pool)
        .await
        .unwrap();

    let pruned = mps::db::retention::prune_expired_sessions(&app.pool, 30, 100).await.unwrap();
    assert_eq!(pruned, 1, "only the long-expired session with nothing pending goes");
    let left: Vec<uuid::Uuid> =
        sqlx::query_scalar("SELECT id FROM sessions WHERE subject_id = $1::uuid ORDER BY created_at")
            .bind(&member.id)
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert!(left.contains(&ids[0]) && left.contains(&ids[2]) && !left.contains(&ids[1]), "{left:?}");
    assert_eq!(live.get("/auth/me").await.status, 200, "a live session is untouched");
    let _ = (old, stuck);
}
