//! A lean HTTP/1.1 client: one kept-alive connection per virtual user, straight on hyper, so the
//! load generator spends as little of the shared CPU as it can.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderValue, Method, Request, StatusCode, header};
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// A request failed below HTTP (connection refused, reset, timed out).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TransportError(String);

impl TransportError {
    fn new(e: impl std::fmt::Display) -> TransportError {
        TransportError(e.to_string())
    }
}

/// No single request of the harness may take longer than this.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// An answer: status, body, and how long it took from sending to the last body byte.
pub struct Answer {
    pub status: StatusCode,
    pub body: Bytes,
    pub latency: Duration,
}

/// One HTTP/1.1 connection, reopened when the server closes it.
pub struct Conn {
    addr: SocketAddr,
    sender: Option<SendRequest<Full<Bytes>>>,
}

/// `Authorization: Bearer …`, built once per identity.
pub fn bearer(token: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("Bearer {token}")).unwrap_or_else(|_| HeaderValue::from_static("Bearer invalid"))
}

impl Conn {
    /// A connection to `addr`, opened on first use.
    pub fn new(addr: SocketAddr) -> Conn {
        Conn { addr, sender: None }
    }

    async fn sender(&mut self) -> Result<&mut SendRequest<Full<Bytes>>, TransportError> {
        let usable = match &mut self.sender {
            Some(sender) => sender.ready().await.is_ok(),
            None => false,
        };
        if !usable {
            let stream = TcpStream::connect(self.addr).await.map_err(TransportError::new)?;
            stream.set_nodelay(true).map_err(TransportError::new)?;
            let (sender, connection) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(TransportError::new)?;
            tokio::spawn(connection);
            self.sender = Some(sender);
        }
        self.sender.as_mut().ok_or_else(|| TransportError::new("no connection"))
    }

    /// Sends one request; `body` is JSON when present.
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        auth: Option<&HeaderValue>,
        idempotency_key: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> Result<Answer, TransportError> {
        let mut request = Request::builder().method(method).uri(path).header(header::HOST, "bench");
        if let Some(auth) = auth {
            request = request.header(header::AUTHORIZATION, auth);
        }
        if let Some(key) = idempotency_key {
            request = request.header("idempotency-key", key);
        }
        let payload = match body {
            Some(json) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Bytes::from(json)
            }
            None => Bytes::new(),
        };
        let request = request.body(Full::new(payload)).map_err(TransportError::new)?;
        let started = Instant::now();
        let exchange = async {
            let response = self.sender().await?.send_request(request).await.map_err(TransportError::new)?;
            let status = response.status();
            let body = response.into_body().collect().await.map_err(TransportError::new)?.to_bytes();
            Ok::<_, TransportError>((status, body))
        };
        match tokio::time::timeout(REQUEST_TIMEOUT, exchange).await {
            Ok(Ok((status, body))) => Ok(Answer { status, body, latency: started.elapsed() }),
            Ok(Err(e)) => {
                self.sender = None;
                Err(e)
            }
            Err(_) => {
                self.sender = None;
                Err(TransportError::new("timed out"))
            }
        }
    }
}
