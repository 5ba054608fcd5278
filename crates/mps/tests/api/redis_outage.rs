//! Redis going away and coming back with its old data (a network split, a restart from its
//! dump): what was written meanwhile must not be undone by what Redis still remembers.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::http::Method;
use tokio::net::{TcpListener, TcpStream};

use crate::helpers::{TestApp, redis_url};

/// A TCP proxy in front of the test Redis that can cut every connection and refuse new ones.
struct RedisProxy {
    url: String,
    up: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl RedisProxy {
    async fn start() -> RedisProxy {
        let target: SocketAddr = {
            let url = redis_url();
            let host_port = url.trim_start_matches("redis://").trim_end_matches('/').to_owned();
            tokio::net::lookup_host(host_port).await.expect("Redis address").next().expect("an address")
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("redis://{}", listener.local_addr().expect("address"));
        let up = Arc::new(AtomicBool::new(true));
        let connections: Arc<Mutex<Vec<tokio::task::AbortHandle>>> = Arc::default();
        let (accepting, tracked) = (up.clone(), connections.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !accepting.load(Ordering::SeqCst) {
                    continue;
                }
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                tracked.lock().unwrap().push(task.abort_handle());
            }
        });
        RedisProxy { url, up, connections }
    }

    /// Redis is unreachable: open connections are cut, new ones closed at once.
    fn down(&self) {
        self.up.store(false, Ordering::SeqCst);
        for connection in self.connections.lock().unwrap().drain(..) {
            connection.abort();
        }
    }

    /// Redis answers again, with everything it held before.
    async fn up(&self, app: &TestApp) {
        self.up.store(true, Ordering::SeqCst);
        // The health check's PING closes the circuit breaker, as the next /health would.
        assert!(app.state.cache.ping().await, "Redis answers through the proxy again");
    }
}

#[tokio::test]
async fn a_session_revoked_while_redis_was_down_stays_revoked_when_redis_returns_with_its_old_data() {
    let proxy = RedisProxy::start().await;
    let app = TestApp::with_vars(&[("REDIS_URL", &proxy.url)]).await;
    let admin = app.admin().await;
    let member = admin.create_member("Ana").await;
    let leaving = app.member_client(&member).await;
    let staying = app.member_client(&member).await;
    assert_eq!(leaving.get("/auth/me").await.status, 200, "the session is live (and cached as live in Redis)");

    proxy.down();
    let logout = leaving.call(Method::POST, "/auth/logout", None, &[]).await;
    assert_eq!(logout.status, 204, "logout works without Redis: {}", logout.text);
    leaving.get("/auth/me").await.assert_error(401, "UNAUTHENTICATED");

    proxy.up(&app).await;
    leaving.get("/auth/me").await.assert_error(401, "UNAUTHENTICATED");
    assert_eq!(staying.get("/auth/me").await.status, 200, "the other session is untouched");

    mps::recovery::recover_after_redis_failures(&app.state).await.expect("recovery runs");
    assert!(!app.state.cache.unsettled(), "the recovery settles the cache");
    leaving.get("/auth/me").await.assert_error(401, "UNAUTHENTICATED");
    assert_eq!(staying.get("/auth/me").await.status, 200, "cached markers are trusted again");
}

#[tokio::test]
async fn a_card_list_cached_before_a_redis_outage_is_not_served_after_it() {
    let proxy = RedisProxy::start().await;
    let app = TestApp::with_vars(&[("REDIS_URL", &proxy.url)]).await;
    let admin = app.admin().await;
    let member = admin.create_member("Ana").await;
    let client = app.member_client(&member).await;
    let balance = |r: &crate::helpers::TestResponse| r.json["items"][0]["balance"].as_str().unwrap_or("").to_owned();
    assert_eq!(balance(&client.get("/member/cards").await), "0.00", "the list is cached with a zero balance");

    proxy.down();
    admin.credit(&member.card_id, "25.00").await;
    assert_eq!(balance(&client.get("/member/cards").await), "25.00", "without Redis the list comes from the database");

    proxy.up(&app).await;
    assert_eq!(balance(&client.get("/member/cards").await), "25.00", "the list cached before the outage is not served");

    mps::recovery::recover_after_redis_failures(&app.state).await.expect("recovery runs");
    for _ in 0..2 {
        assert_eq!(balance(&client.get("/member/cards").await), "25.00", "after recovery the cache serves fresh lists");
    }
}
