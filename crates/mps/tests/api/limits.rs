//! Resource limits over real sockets: oversized bodies, slow clients and floods are bounded, so
//! one client cannot hold the server's memory, connections or capacity.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::helpers::{TestApp, start_server};

/// Reads until the server closes the connection or `limit` passes: (what arrived, closed?).
async fn read_until_closed(stream: &mut tokio::net::tcp::OwnedReadHalf, limit: Duration) -> (String, bool) {
    let deadline = Instant::now() + limit;
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&received).into_owned(), true),
            Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
            Err(_) => return (String::from_utf8_lossy(&received).into_owned(), false),
        }
    }
}

/// Sends `head` at once, then `trickle` one piece every 200 ms while reading the answer.
async fn slow_client(addr: SocketAddr, head: String, trickle: Vec<u8>, limit: Duration) -> (String, bool, Duration) {
    let started = Instant::now();
    let (mut reader, mut writer) = TcpStream::connect(addr).await.expect("connect").into_split();
    writer.write_all(head.as_bytes()).await.expect("write the head");
    let writing = tokio::spawn(async move {
        for piece in trickle.chunks(1) {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if writer.write_all(piece).await.is_err() {
                return;
            }
        }
    });
    let (received, closed) = read_until_closed(&mut reader, limit).await;
    writing.abort();
    (received, closed, started.elapsed())
}

async fn raw(addr: SocketAddr, request: &[u8]) -> String {
    let (mut reader, mut writer) = TcpStream::connect(addr).await.expect("connect").into_split();
    writer.write_all(request).await.expect("write");
    read_until_closed(&mut reader, Duration::from_secs(10)).await.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_the_limit_are_413_whether_announced_or_streamed() {
    let app = TestApp::with_vars(&[("BODY_LIMIT_BYTES", "1024")]).await;
    let (addr, _shutdown, _server) = start_server(&app, axum::Router::new()).await;
    let big = format!(r#"{{"role":"member","identifier":"{}","password":"x"}}"#, "x".repeat(4096));

    let announced = format!(
        "POST /auth/login HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{big}",
        big.len()
    );
    let answer = raw(addr, announced.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "an announced oversized body is 413: {answer}");
    assert!(answer.contains("PAYLOAD_TOO_LARGE"), "in the envelope: {answer}");

    let mut streamed =
        "POST /auth/login HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\
         Connection: close\r\n\r\n"
            .to_owned();
    for chunk in big.as_bytes().chunks(512) {
        streamed.push_str(&format!("{:x}\r\n{}\r\n", chunk.len(), String::from_utf8_lossy(chunk)));
    }
    streamed.push_str("0\r\n\r\n");
    let answer = raw(addr, streamed.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "a streamed oversized body is 413: {answer}");
    assert!(answer.contains("PAYLOAD_TOO_LARGE"), "in the envelope: {answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_trickling_its_body_past_the_request_timeout_gets_503_and_is_disconnected() {
    let app = TestApp::with_vars(&[("REQUEST_TIMEOUT_SECONDS", "1")]).await;
    let (addr, _shutdown, _server) = start_server(&app, axum::Router::new()).await;
    let head = "POST /auth/login HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{";
    let (answer, closed, elapsed) = slow_client(addr, head.into(), vec![b' '; 199], Duration::from_secs(10)).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "the request is cut off at the timeout: {answer:?}");
    assert!(answer.contains("UNAVAILABLE"), "in the envelope: {answer}");
    assert!(closed, "the connection is closed, not kept waiting for the rest of the body");
    assert!(elapsed < Duration::from_secs(4), "bounded by REQUEST_TIMEOUT_SECONDS: took {elapsed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_trickling_its_headers_is_disconnected() {
    let app = TestApp::with_vars(&[("REQUEST_TIMEOUT_SECONDS", "1")]).await;
    let (addr, _shutdown, _server) = start_server(&app, axum::Router::new()).await;
    let trickle = "X-Slow: 1\r\n".repeat(100).into_bytes();
    let (answer, closed, elapsed) =
        slow_client(addr, "GET /health HTTP/1.1\r\nHost: t\r\n".into(), trickle, Duration::from_secs(15)).await;
    assert!(closed, "a client that never finishes its headers is disconnected (got {answer:?})");
    assert!(elapsed < Duration::from_secs(4), "bounded by REQUEST_TIMEOUT_SECONDS: took {elapsed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_that_send_nothing_are_closed_new_or_kept_alive() {
    let app = TestApp::with_vars(&[("REQUEST_TIMEOUT_SECONDS", "1")]).await;
    let (addr, _shutdown, _server) = start_server(&app, axum::Router::new()).await;
    let started = Instant::now();
    let (mut reader, _writer) = TcpStream::connect(addr).await.expect("connect").into_split();
    let (_, closed) = read_until_closed(&mut reader, Duration::from_secs(15)).await;
    assert!(closed, "a connection that never sends a request is closed");
    assert!(started.elapsed() < Duration::from_secs(4), "bounded: took {:?}", started.elapsed());

    let (mut reader, mut writer) = TcpStream::connect(addr).await.expect("connect").into_split();
    writer.write_all(b"GET /ready HTTP/1.1\r\nHost: t\r\n\r\n").await.expect("write");
    let started = Instant::now();
    let (answer, closed) = read_until_closed(&mut reader, Duration::from_secs(15)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "answered: {answer}");
    assert!(closed, "a kept-alive connection left idle is closed");
    assert!(started.elapsed() < Duration::from_secs(4), "bounded: took {:?}", started.elapsed());
}

#[tokio::test]
async fn a_flood_from_one_caller_is_rate_limited_while_another_is_still_served() {
    let app = TestApp::with_vars(&[("RATE_LIMIT_REQUESTS", "20"), ("RATE_LIMIT_WINDOW", "60")]).await;
    let admin = app.admin().await;
    let (ana, ben) = (admin.create_member("Ana").await, admin.create_member("Ben").await);
    let (ana, ben) = (app.member_client(&ana).await, app.member_client(&ben).await);
    let mut limited = 0;
    for _ in 0..40 {
        let response = ana.get("/member/cards").await;
        if response.status == 429 {
            response.assert_error(429, "RATE_LIMITED");
            assert!(response.header("retry-after").is_some_and(|s| s.parse::<u64>().is_ok_and(|s| s >= 1)));
            limited += 1;
        }
    }
    assert!(limited >= 19, "the flood beyond the burst of 20 is refused: {limited} of 40 were 429");
    assert_eq!(ben.get("/member/cards").await.status, 200, "another caller is still served");
    assert_eq!(app.get("/health").await.status, 200, "health checks are never limited");
}
