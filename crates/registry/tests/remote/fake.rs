//! A scripted fake registry on loopback: each connection serves one request, answered by a
//! closure from the request's head, then closed. TLS ClientHellos are hung up on, so the
//! client's https attempt fails fast and it falls back to http (the fake is on 127.0.0.1).

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the fake writes for one request: bytes, then the connection is closed.
/// Called with the request's number, its head, and its body.
pub type Handler = dyn Fn(usize, &str, &[u8]) -> Vec<u8> + Send + Sync;

pub struct Fake {
    pub addr: String,
    /// Request heads seen, in order.
    seen: Arc<Mutex<Vec<String>>>,
}

pub fn response(status: &str, headers: &[(&str, String)], body: &[u8], declared: usize) -> Vec<u8> {
    let mut out =
        format!("HTTP/1.1 {status}\r\nConnection: close\r\nContent-Length: {declared}\r\n");
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    out
}

async fn serve_one(
    mut sock: TcpStream,
    n: usize,
    handler: Arc<Handler>,
    seen: Arc<Mutex<Vec<String>>>,
) {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let Ok(read) = sock.read(&mut buf).await else {
            return;
        };
        if read == 0 || buf[0] == 0x16 && head.is_empty() {
            // Closed, or a TLS ClientHello: this fake speaks plain HTTP only.
            return;
        }
        head.extend_from_slice(&buf[..read]);
        if head.windows(4).any(|w| w == b"\r\n\r\n") || head.len() > 64 << 10 {
            break;
        }
    }
    let split = head
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(head.len(), |p| p + 4);
    let text = String::from_utf8_lossy(&head[..split]).into_owned();
    let mut body = head[split..].to_vec();
    let declared = text
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().to_owned())
        })
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0)
        .min(16 << 20);
    while body.len() < declared {
        match sock.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => body.extend_from_slice(&buf[..n]),
        }
    }
    seen.lock().unwrap().push(text.clone());
    let out = handler(n, &text, &body);
    let _ = sock.write_all(&out).await;
    let _ = sock.shutdown().await;
}

impl Fake {
    pub async fn start(handler: Arc<Handler>) -> Self {
        Self::start_on("127.0.0.1", handler).await
    }

    /// Like [`Fake::start`] on another loopback address (`127.0.0.2` is loopback on Linux but
    /// not "local" by go-containerregistry's heuristic).
    pub async fn start_on(ip: &str, handler: Arc<Handler>) -> Self {
        let listener = TcpListener::bind((ip, 0)).await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let seen2 = Arc::clone(&seen);
        tokio::spawn(async move {
            let mut n = 0;
            // Bounded: no test here needs more than a few dozen requests.
            while n < 200 {
                let Ok((sock, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(serve_one(sock, n, Arc::clone(&handler), Arc::clone(&seen2)));
                n += 1;
            }
        });
        Fake { addr, seen }
    }

    pub fn requests(&self, needle: &str) -> Vec<String> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.contains(needle))
            .cloned()
            .collect()
    }
}
