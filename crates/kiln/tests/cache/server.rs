//! A file served over HTTP on 127.0.0.1, for `ADD <url>`.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// A file served over HTTP on 127.0.0.1 for `ADD <url>`, whose content can be changed.
pub struct FileServer {
    pub url: String,
    body: Arc<Mutex<Vec<u8>>>,
}

impl FileServer {
    pub fn start(body: &str) -> FileServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("listening on 127.0.0.1");
        let port = listener.local_addr().expect("local address").port();
        let body = Arc::new(Mutex::new(body.as_bytes().to_vec()));
        let served = Arc::clone(&body);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let body = served.lock().expect("body lock").clone();
                let mut response = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: text/plain\r\n\
                     Last-Modified: Wed, 21 Oct 2015 07:28:00 GMT\r\nConnection: close\r\n\r\n",
                    body.len()
                )
                .into_bytes();
                if !head.starts_with(b"HEAD ") {
                    response.extend(body);
                }
                let _ = stream.write_all(&response);
            }
        });
        FileServer {
            url: format!("http://127.0.0.1:{port}/data.txt"),
            body,
        }
    }

    pub fn set(&self, body: &str) {
        *self.body.lock().expect("body lock") = body.as_bytes().to_vec();
    }
}
