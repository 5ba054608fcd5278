//! Past one machine (issue 21): the same load and the same book checks as the other scenarios,
//! on topologies of several processes (`test_support::topology`, ports from
//! `MPS_TEST_PORT_BASE` + 200…, which `scripts/faults.sh` sets from `FAULTS_PORTS`):
//!
//! - a PostgreSQL primary with a synchronous standby behind a repointable proxy, failed over
//!   under load;
//! - a Redis Cluster of three masters and three replicas, one master killed under load;
//! - three `mps` replicas behind nginx: one killed with -9 and restarted, then all three
//!   restarted one by one with SIGTERM.

use std::time::{Duration, Instant};

use serde_json::json;
use test_support::topology::{self, Nginx, PgPair, RedisCluster, TcpProxy, local, port};

use super::{Env, Front, Req, check_revocation, login, settings, token};
use crate::cluster::{Redis, Scratch, Server, start_postgres};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "fault suite: run by scripts/faults.sh"]
async fn failover_of_the_primary_under_load_loses_no_acknowledged_payment() {
    let settings = settings();
    let processes = topology::Scratch::new("faults-failover");
    let (primary_port, standby_port) = (port(200), port(201));
    let pair = tokio::task::block_in_place(|| PgPair::start(&processes.0, primary_port, standby_port));
    let proxy = TcpProxy::start(port(202), local(primary_port)).await;
    let scratch = Scratch::new("failover");
    let redis = tokio::task::block_in_place(|| Redis::start_new(&scratch.0));
    let redis_url = redis.url();
    // Declared after the topology, so the server stops before the databases do.
    let mut env = Env::on(scratch, None, Some(redis), &proxy.pg_url("mps"), &redis_url, &settings, None).await;
    let pid = env.server.pid();
    let load = env.start_load(&settings);
    let mut failures = Vec::new();
    let mut notes = Vec::new();

    tokio::time::sleep(settings.pause).await;
    let before = env.unavailable_answers();
    tokio::task::block_in_place(|| pair.primary.stop_immediate());
    let stopped = Instant::now();
    match env.await_health(503, "unhealthy", Duration::from_secs(10)).await {
        Ok(t) => notes.push(format!("/health 503 unhealthy {} ms after the primary stopped", t.as_millis())),
        Err(e) => failures.push(e),
    }
    // The stable address moves to the standby before it is promoted, as an operator's service
    // may: it answers, read-only, and every write must be a 503, never a 500.
    proxy.repoint(Some(local(standby_port)));
    tokio::time::sleep(Duration::from_secs(1)).await;
    tokio::task::block_in_place(|| pair.standby.promote());
    let promoted = stopped.elapsed();
    match env.await_health(200, "healthy", Duration::from_secs(30)).await {
        Ok(t) => notes.push(format!(
            "primary stopped hard, address repointed, standby promoted {} ms after the stop; /health healthy {} ms \
             after the promotion; clients got {} × 503 meanwhile",
            promoted.as_millis(),
            t.as_millis(),
            env.unavailable_answers() - before
        )),
        Err(e) => failures.push(format!("the server did not recover: {e}")),
    }
    env.finish_load_after_outage(load, &settings, (pid, before), "the failover", &mut failures).await;
    env.check(
        "PostgreSQL primary failed over to its synchronous standby under load",
        "1 × pg_ctl stop -m immediate of the primary, proxy repointed, pg_ctl promote of the standby",
        failures,
        &notes,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "fault suite: run by scripts/faults.sh"]
async fn a_redis_cluster_master_killed_under_load_keeps_money_right_and_revocations_enforced() {
    let settings = settings();
    let processes = topology::Scratch::new("faults-redis-cluster");
    let mut cluster = tokio::task::block_in_place(|| RedisCluster::start(&processes.0, port(210)));
    let scratch = Scratch::new("redis-cluster");
    let pg = tokio::task::block_in_place(|| start_postgres(&scratch.0));
    let database_url = pg.url("mps");
    let mut env = Env::on(scratch, Some(pg), None, &database_url, &cluster.url(), &settings, None).await;
    let api = env.api.clone();
    let revoked = token(&api, &login("member", &env.spare_phone, None)).await;
    let kept = env.spare.token.clone();
    api.expect(&Req::get("/auth/me", &revoked), 200).await;
    let mut failures = Vec::new();
    let mut notes = Vec::new();
    let load = env.start_load(&settings);

    // One kill: a second would have to spare the master that lost its replica to the first.
    tokio::time::sleep(settings.pause).await;
    let master = cluster.masters()[0];
    cluster.kill(master);
    let killed = Instant::now();
    let logout = Req::post("/auth/logout", Some(&revoked), json!({}));
    if api.resolve(&logout).await.map(|a| a.status) != Some(204) {
        failures.push("logout failed while a Redis master was down".into());
    }
    check_revocation(&api, &revoked, &kept, "while a Redis master is down", &mut failures).await;
    tokio::task::block_in_place(|| cluster.wait_ok(Duration::from_secs(30)));
    notes.push(format!(
        "master :{master} killed (cluster-node-timeout {} ms); every slot served again {} ms later",
        topology::CLUSTER_NODE_TIMEOUT_MS,
        killed.elapsed().as_millis()
    ));
    for _ in 0..10 {
        check_revocation(&api, &revoked, &kept, "after the Redis failover", &mut failures).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(settings.pause).await;
    load.finish().await;
    failures.dedup();
    env.check(
        "Redis Cluster master killed under load",
        "1 × kill -9 of a Redis Cluster master (3 masters, 3 replicas)",
        failures,
        &notes,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "fault suite: run by scripts/faults.sh"]
async fn three_replicas_behind_nginx_survive_kill_9_and_a_rolling_restart_with_the_books_right() {
    let settings = settings();
    let processes = topology::Scratch::new("faults-replicas");
    let replica_ports = [port(230), port(231), port(232)];
    let nginx = tokio::task::block_in_place(|| Nginx::start(&processes.0, port(233), &replica_ports));
    let scratch = Scratch::new("replicas");
    let (pg, redis) = tokio::task::block_in_place(|| (start_postgres(&scratch.0), Redis::start_new(&scratch.0)));
    let (database_url, redis_url) = (pg.url("mps"), redis.url());
    let front = Front { base_url: nginx.base_url(), first_replica_port: replica_ports[0] };
    let mut others: Vec<Server> = replica_ports[1..]
        .iter()
        .map(|p| Server::on_port(&scratch.0.join(format!("replica-{p}")), &database_url, &redis_url, *p))
        .collect();
    let mut env = Env::on(scratch, Some(pg), Some(redis), &database_url, &redis_url, &settings, Some(front)).await;
    for other in &mut others {
        other.start().await;
    }
    let api = env.api.clone();
    let revoked = token(&api, &login("member", &env.spare_phone, None)).await;
    let kept = env.spare.token.clone();
    let mut failures = Vec::new();
    let mut notes = Vec::new();
    let load = env.start_load(&settings);

    tokio::time::sleep(settings.pause).await;
    others[0].kill9();
    let killed = Instant::now();
    tokio::time::sleep(Duration::from_millis(500)).await;
    others[0].start().await;
    notes.push(format!("replica :{} killed -9 and back in {} ms", replica_ports[1], killed.elapsed().as_millis()));

    tokio::time::sleep(settings.pause).await;
    let rolling = Instant::now();
    for server in std::iter::once(&mut env.server).chain(others.iter_mut()) {
        server.sigterm();
        if server.wait_exit(Duration::from_secs(40)).await.is_none_or(|status| !status.success()) {
            failures.push(format!("replica :{} did not exit 0 within 40 s of SIGTERM", server.port));
        }
        server.start().await;
    }
    notes.push(format!("rolling SIGTERM restart of all three replicas took {} ms", rolling.elapsed().as_millis()));

    // A logout through the balancer holds on every replica (round-robin: ten reads reach all three).
    let logout = Req::post("/auth/logout", Some(&revoked), json!({}));
    if api.resolve(&logout).await.map(|a| a.status) != Some(204) {
        failures.push("logout through the load balancer failed".into());
    }
    for _ in 0..10 {
        check_revocation(&api, &revoked, &kept, "on some replica after the logout", &mut failures).await;
    }
    tokio::time::sleep(settings.pause).await;
    load.finish().await;
    failures.dedup();
    let stats = env.api.stats().clone();
    notes.push(format!(
        "clients met {} unknown outcomes ({} gateway errors from nginx), every one resolved by replaying its key",
        stats.unknown_ops, stats.gateway_errors
    ));
    env.check(
        "three mps replicas behind nginx",
        "1 × kill -9 + restart of one replica, then a rolling SIGTERM restart of all three",
        failures,
        &notes,
    )
    .await;
    drop(others);
}
