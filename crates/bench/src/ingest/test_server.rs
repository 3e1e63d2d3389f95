//! A raw HTTP/1.1 server for the generators' tests: it reads every request whole (head and
//! `Content-Length` body), keeps it, and answers as a rule says, so a test sees exactly what a
//! generator sent and how it took each kind of answer.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What the server does with the `n`th request it has read (counted over all connections).
#[derive(Clone, Copy)]
pub(crate) enum Answer {
    /// 202 with a small body.
    Accept,
    /// 500, no body.
    Fail,
    /// Closes the connection without a word.
    Drop,
}

/// What the server saw; it runs until the test process ends.
#[derive(Default)]
pub(crate) struct Seen {
    /// Every request read, head and body, in the order read.
    pub requests: Mutex<Vec<Vec<u8>>>,
    /// Requests answered 202.
    pub accepted: AtomicU64,
    /// Connections accepted.
    pub connections: AtomicU64,
}

/// Starts the server on a loopback port in a thread of its own.
pub(crate) fn start(rule: fn(u64) -> Answer) -> (SocketAddr, Arc<Seen>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("address");
    listener.set_nonblocking(true).expect("non-blocking");
    let seen = Arc::new(Seen::default());
    let server_seen = seen.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            while let Ok((stream, _)) = listener.accept().await {
                server_seen.connections.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(serve(stream, server_seen.clone(), rule));
            }
        })
    });
    (addr, seen)
}

async fn serve(mut stream: tokio::net::TcpStream, seen: Arc<Seen>, rule: fn(u64) -> Answer) {
    let mut buf = Vec::new();
    loop {
        let len = loop {
            if let Some(len) = request_len(&buf) {
                break len;
            }
            if stream.read_buf(&mut buf).await.unwrap_or(0) == 0 {
                return;
            }
        };
        let n = {
            let mut requests = seen.requests.lock().expect("lock");
            requests.push(buf.drain(..len).collect());
            requests.len() as u64 - 1
        };
        let answer: &[u8] = match rule(n) {
            Answer::Accept => {
                seen.accepted.fetch_add(1, Ordering::Relaxed);
                b"HTTP/1.1 202 Accepted\r\ncontent-length: 2\r\n\r\n{}"
            }
            Answer::Fail => b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\n\r\n",
            Answer::Drop => return,
        };
        if stream.write_all(answer).await.is_err() {
            return;
        }
    }
}

/// Length of the whole request at the start of `buf`, once it is all there.
fn request_len(buf: &[u8]) -> Option<usize> {
    let mut headers = [httparse::EMPTY_HEADER; 16];
    let mut req = httparse::Request::new(&mut headers);
    let head = match req.parse(buf).expect("a well-formed request") {
        httparse::Status::Complete(n) => n,
        httparse::Status::Partial => return None,
    };
    let length = req.headers.iter().find(|h| h.name.eq_ignore_ascii_case("content-length")).expect("Content-Length");
    let len = head + std::str::from_utf8(length.value).expect("ascii").parse::<usize>().expect("a length");
    (buf.len() >= len).then_some(len)
}
