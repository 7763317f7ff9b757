//! A fault-injecting HTTP proxy between a registry client and a real registry, for tests.
//!
//! Owns: a loopback HTTP/1.1 server that forwards each request to the registry unchanged
//! (including `Host`, so the registry's upload `Location`s point back at the proxy) and applies
//! the first matching [`Rule`]: an error status with or without `Retry-After`, a 404
//! `MANIFEST_UNKNOWN`, a connection dropped in the middle of a blob (either direction), or a
//! blob with a flipped byte. Every request is recorded with what was done to it.
//!
//! Does not own: TLS (it speaks plain HTTP to both sides, so put it in front of the plain or
//! the token registry) or the token realm (the token server is reached directly).
//!
//! Bodies stream through; nothing is buffered.

mod body;
mod rule;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Incoming};
use hyper::client::conn::http1 as client_http1;
use hyper::server::conn::http1 as server_http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode, header};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

pub use body::InjectedReset;
use body::{BodyFault, BoxError, FaultBody};
pub use rule::{Endpoint, Fault, Rule, Target};

type ProxyBody = BoxBody<Bytes, BoxError>;

/// One request the proxy saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub method: String,
    /// Path and query as the client sent them.
    pub uri: String,
    /// The fault applied, if any.
    pub fault: Option<Fault>,
    /// The status the client got; `None` when the connection was dropped before a response.
    pub status: Option<u16>,
}

/// Errors starting the proxy.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("cannot listen on 127.0.0.1")]
    Listen(#[source] std::io::Error),
}

#[derive(Debug, Default)]
struct State {
    rules: Vec<Rule>,
    seen: Vec<Seen>,
}

/// A running proxy; stops when dropped.
#[derive(Debug)]
pub struct FaultProxy {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: JoinHandle<()>,
}

impl FaultProxy {
    /// Starts a proxy on an ephemeral port of 127.0.0.1 in front of `upstream` (`host:port`).
    /// Must be called inside a tokio runtime.
    pub async fn start(upstream: &str) -> Result<Self, ProxyError> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(ProxyError::Listen)?;
        let addr = listener.local_addr().map_err(ProxyError::Listen)?;
        let state = Arc::new(Mutex::new(State::default()));
        let upstream: Arc<str> = upstream.into();
        let task = tokio::spawn(accept(listener, upstream, Arc::clone(&state)));
        Ok(Self { addr, state, task })
    }

    /// The proxy's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `127.0.0.1:<port>`, to use as a registry host in references.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// Adds a rule after the existing ones; the first matching live rule wins.
    pub fn add(&self, rule: Rule) {
        lock(&self.state).rules.push(rule);
    }

    /// Removes every rule.
    pub fn clear_rules(&self) {
        lock(&self.state).rules.clear();
    }

    /// Every request seen so far, in order.
    pub fn seen(&self) -> Vec<Seen> {
        lock(&self.state).seen.clone()
    }

    /// The requests to which a fault was applied.
    pub fn faults(&self) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.fault.is_some())
            .collect()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // A test that panicked while holding the lock leaves usable data behind.
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn accept(listener: TcpListener, upstream: Arc<str>, state: Arc<Mutex<State>>) {
    while let Ok((stream, _)) = listener.accept().await {
        let upstream = Arc::clone(&upstream);
        let state = Arc::clone(&state);
        tokio::spawn(serve(stream, upstream, state));
    }
}

/// One client connection, forwarded over one upstream connection (opened on first use and
/// again after the registry closes it).
async fn serve(stream: TcpStream, upstream: Arc<str>, state: Arc<Mutex<State>>) {
    let sender: Arc<tokio::sync::Mutex<Option<client_http1::SendRequest<Incoming>>>> =
        Arc::default();
    let service = service_fn(move |req: Request<Incoming>| {
        let upstream = Arc::clone(&upstream);
        let state = Arc::clone(&state);
        let sender = Arc::clone(&sender);
        async move { handle(req, &upstream, &state, &sender).await }
    });
    // Errors here are the injected resets, or a client that went away.
    let _ = server_http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

async fn handle(
    req: Request<Incoming>,
    upstream: &str,
    state: &Mutex<State>,
    sender: &tokio::sync::Mutex<Option<client_http1::SendRequest<Incoming>>>,
) -> Result<Response<ProxyBody>, InjectedReset> {
    let method = req.method().clone();
    let uri = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "/".to_owned());
    let (fault, index) = {
        let mut state = lock(state);
        let fault = rule::pick(&mut state.rules, &method, req.uri().path());
        state.seen.push(Seen {
            method: method.to_string(),
            uri,
            fault: fault.clone(),
            status: None,
        });
        (fault, state.seen.len() - 1)
    };
    // Connections run concurrently, so the entry is found by its index, not by being last.
    let record = |status: Option<u16>| {
        if let Some(seen) = lock(state).seen.get_mut(index) {
            seen.status = status;
        }
    };

    let body_fault = match &fault {
        Some(Fault::Status {
            status,
            retry_after,
        }) => {
            record(Some(*status));
            return Ok(status_response(*status, *retry_after));
        }
        Some(Fault::ManifestUnknown) => {
            record(Some(404));
            return Ok(manifest_unknown(req.uri().path()));
        }
        Some(Fault::ResetAfter(bytes)) if has_request_body(&req) => {
            // Read part of the upload, then hang up without answering.
            let mut body = req.into_body();
            let mut read = 0u64;
            while read < *bytes {
                match body.frame().await {
                    Some(Ok(frame)) => read += frame.data_ref().map_or(0, |d| d.len() as u64),
                    _ => break,
                }
            }
            record(None);
            return Err(InjectedReset(read));
        }
        Some(Fault::ResetAfter(bytes)) => BodyFault::CutAfter(*bytes),
        Some(Fault::Corrupt) => BodyFault::Corrupt,
        None => BodyFault::None,
    };

    let response = match forward(req, upstream, sender).await {
        Ok(response) => response,
        Err(e) => {
            record(Some(502));
            let mut response = status_response(502, None);
            let cause = std::error::Error::source(&e)
                .map(|c| format!(": {c}"))
                .unwrap_or_default();
            *response.body_mut() = full(format!("fault proxy: upstream {upstream}: {e}{cause}"));
            return Ok(response);
        }
    };
    record(Some(response.status().as_u16()));
    Ok(response.map(|b| FaultBody::new(b, body_fault).boxed()))
}

fn has_request_body(req: &Request<Incoming>) -> bool {
    !req.body().is_end_stream()
        && (req.headers().contains_key(header::CONTENT_LENGTH)
            || req.headers().contains_key(header::TRANSFER_ENCODING))
}

/// Why a request could not be forwarded.
#[derive(Debug, thiserror::Error)]
enum ForwardError {
    #[error("cannot connect")]
    Connect(#[source] std::io::Error),
    #[error("HTTP exchange failed")]
    Http(#[source] hyper::Error),
}

async fn forward(
    req: Request<Incoming>,
    upstream: &str,
    sender: &tokio::sync::Mutex<Option<client_http1::SendRequest<Incoming>>>,
) -> Result<Response<Incoming>, ForwardError> {
    let mut guard = sender.lock().await;
    if let Some(s) = guard.as_mut()
        && s.ready().await.is_err()
    {
        *guard = None;
    }
    let s = match guard.as_mut() {
        Some(s) => s,
        None => {
            let stream = TcpStream::connect(upstream)
                .await
                .map_err(ForwardError::Connect)?;
            let (s, connection) = client_http1::handshake(TokioIo::new(stream))
                .await
                .map_err(ForwardError::Http)?;
            tokio::spawn(connection);
            guard.insert(s)
        }
    };
    s.send_request(req).await.map_err(ForwardError::Http)
}

fn full(text: impl Into<Bytes>) -> ProxyBody {
    Full::new(text.into())
        .map_err(|never| match never {})
        .boxed()
}

fn status_response(status: u16, retry_after: Option<u64>) -> Response<ProxyBody> {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let body = format!(
        r#"{{"errors":[{{"code":"UNAVAILABLE","message":"injected by the fault proxy: {status}"}}]}}"#
    );
    let mut response = Response::new(full(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    if let Some(seconds) = retry_after {
        headers.insert(header::RETRY_AFTER, header::HeaderValue::from(seconds));
    }
    response
}

fn manifest_unknown(path: &str) -> Response<ProxyBody> {
    let (name, reference) = match Endpoint::parse(path) {
        Endpoint::Manifest { name, reference } => (name, reference),
        _ => (String::new(), String::new()),
    };
    let body = serde_json::json!({"errors": [{
        "code": "MANIFEST_UNKNOWN",
        "message": "manifest unknown",
        "detail": {"Name": name, "Revision": reference},
    }]});
    let mut response = Response::new(full(body.to_string()));
    *response.status_mut() = StatusCode::NOT_FOUND;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}
