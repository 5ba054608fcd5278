//! `REDIS_URL=redis+cluster://…` against a local Redis Cluster of three masters and three
//! replicas (issue 21): sessions, card lists and limits work across instances, the keys read
//! together share a slot, and a master killed mid-run costs neither a wrong answer nor a revocation.

use std::time::{Duration, Instant};

use axum::http::Method;

use crate::helpers::topology::{RedisCluster, Scratch, port};
use crate::helpers::{Client, PASSWORD, TestApp};

/// The same caller on another instance.
fn on<'a>(app: &'a TestApp, client: &Client<'_>) -> Client<'a> {
    Client { app, token: client.token.clone(), id: client.id }
}

async fn start_cluster(scratch: &Scratch, offset: u16) -> RedisCluster {
    let dir = scratch.0.clone();
    tokio::task::spawn_blocking(move || RedisCluster::start(&dir, port(offset))).await.expect("cluster starts")
}

/// Every key of the app under `owner`'s hash tag, from the master that owns the tag's slot.
fn keys_of(cluster: &RedisCluster, app: &TestApp, owner: &str) -> Vec<String> {
    let pattern = format!("{}{{{owner}}}:*", app.state.config.redis_key_prefix);
    let master = cluster.master_of(&pattern);
    cluster.cli(master, &["KEYS", &pattern]).unwrap_or_default().lines().map(str::to_owned).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_url_serves_sessions_card_lists_and_shared_limits_on_every_instance() {
    let scratch = Scratch::new("redis-cluster-api");
    let cluster = start_cluster(&scratch, 0).await;
    let url = cluster.url();
    let vars = [("REDIS_URL", url.as_str()), ("LOGIN_RATE_LIMIT", "3")];
    let app = TestApp::with_vars(&vars).await;
    let other = app.sibling(&vars).await;
    let health = app.get("/health").await;
    assert_eq!(health.json["services"]["redis"], "up", "the cluster answers /health: {}", health.text);

    let admin = app.admin().await;
    let member = admin.create_member("Ana").await;
    let phone = app.member_client(&member).await;
    let first = phone.get("/member/cards").await;
    assert_eq!(first.status, 200, "{}", first.text);
    let cached = on(&other, &phone).get("/member/cards").await;
    assert_eq!(cached.json, first.json, "the other instance serves the same list");

    let keys = keys_of(&cluster, &app, &member.id);
    for suffix in [":cards", ":session:"] {
        assert!(
            keys.iter().any(|k| k.contains(suffix)),
            "the session marker and the card list share the member's slot; found {keys:?}"
        );
    }

    let logout = phone.call(Method::POST, "/auth/logout", None, &[]).await;
    assert_eq!(logout.status, 204, "{}", logout.text);
    on(&other, &phone).get("/member/cards").await.assert_error(401, "UNAUTHENTICATED");

    for instance in [&app, &other, &app] {
        instance.login("member", &member.phone, "wrong-password").await.assert_error(401, "INVALID_CREDENTIALS");
    }
    other.login("member", &member.phone, PASSWORD).await.assert_error(429, "RATE_LIMITED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_killed_mid_run_is_replaced_and_no_answer_is_wrong_meanwhile() {
    let scratch = Scratch::new("redis-cluster-failover");
    let mut cluster = start_cluster(&scratch, 10).await;
    let url = cluster.url();
    // The loop below reads as fast as it can: the per-caller limit is not what this test is about.
    let app = TestApp::with_vars(&[("REDIS_URL", url.as_str()), ("RATE_LIMIT_REQUESTS", "1000000")]).await;
    let admin = app.admin().await;
    let member = admin.create_member("Ana").await;
    let phone = app.member_client(&member).await;
    let tablet = app.member_client(&member).await;
    assert_eq!(phone.get("/member/cards").await.status, 200);
    assert_eq!(tablet.get("/member/cards").await.status, 200, "both sessions cached live");

    let owner = format!("{}{{{}}}:cards", app.state.config.redis_key_prefix, member.id);
    let master = cluster.master_of(&owner);
    cluster.kill(master);
    let killed = Instant::now();
    // During the failover the member is served from PostgreSQL, and a logout still holds.
    let logout = tablet.call(Method::POST, "/auth/logout", None, &[]).await;
    assert_eq!(logout.status, 204, "{}", logout.text);
    let mut answers = 0;
    while killed.elapsed() < Duration::from_secs(2) {
        assert_eq!(phone.get("/member/cards").await.status, 200, "a live session is served throughout");
        tablet.get("/member/cards").await.assert_error(401, "UNAUTHENTICATED");
        answers += 1;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let failover = tokio::task::spawn_blocking(move || {
        let took = cluster.wait_ok(Duration::from_secs(30));
        (cluster, took)
    });
    let (cluster, _) = failover.await.expect("the cluster recovers");
    let failover_took = killed.elapsed();
    assert_ne!(cluster.master_of(&owner), master, "a replica took over the slot");
    let _ = app.state.cache.ping().await;

    // What the server's flusher task does every second: replay what the failure may have lost.
    let deadline = Instant::now() + Duration::from_secs(15);
    while app.state.cache.unsettled() {
        assert!(Instant::now() < deadline, "the cache settles after the failover");
        assert!(app.state.cache.ping().await || Instant::now() < deadline);
        let _ = mps::recovery::recover_after_redis_failures(&app.state).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tablet.get("/member/cards").await.assert_error(401, "UNAUTHENTICATED");
    assert_eq!(phone.get("/member/cards").await.status, 200);
    let new_master = cluster.master_of(&owner);
    let tombstones = keys_of(&cluster, &app, &member.id)
        .iter()
        .filter(|k| k.contains(":session:"))
        .filter(|k| cluster.cli(new_master, &["GET", k]).as_deref() == Some("revoked"))
        .count();
    assert_eq!(tombstones, 1, "the logout's tombstone is on the new master");
    eprintln!("redis cluster failover: {answers} answer pairs served meanwhile, cluster ok after {failover_took:?}");
}
