//! Fixture server for the widget's browser tests: a tiny raw-TCP HTTP/1.1 server whose paths
//! misbehave on purpose (the query string is ignored, `Connection: close` always):
//!
//! | path | answer |
//! |---|---|
//! | `/fast` | `200` at once, a small `image/x-icon` body, `Timing-Allow-Origin: *` |
//! | `/delay/{ms}` | waits `ms` (at most 120 s), then the same as `/fast` |
//! | `/reset` | reads the request, then closes with `SO_LINGER` 0: a TCP RST |
//! | `/hang` | reads the request and never answers, until the client goes away |
//! | anything else | `404` |

use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Serves fixtures on `listener` forever, one task per connection.
pub async fn run(listener: TcpListener) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(handle(stream));
            }
            Err(e) => {
                eprintln!("fixtures: accept: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Reads up to the end of the request head (or 16 KiB, or EOF); returns the request path
/// without its query string.
async fn read_path(stream: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 || buf.len() > 16 * 1024 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let line = buf.split(|&b| b == b'\r').next()?;
    let target = std::str::from_utf8(line).ok()?.split(' ').nth(1)?;
    Some(target.split(['?', '#']).next().unwrap_or("").to_string())
}

const ICON: &[u8] = &[0, 0, 1, 0, 1, 0, 1, 1, 0, 0, 1, 0, 24, 0, 48, 0, 0, 0, 22, 0, 0, 0];

async fn respond(stream: &mut TcpStream, status: &str, content_type: &str, body: &[u8]) {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nTiming-Allow-Origin: *\r\nAccess-Control-Allow-Origin: *\r\n\
         Connection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(body).await;
    let _ = stream.flush().await;
    let _ = stream.shutdown().await;
}

async fn handle(mut stream: TcpStream) {
    let Some(path) = read_path(&mut stream).await else { return };
    match path.as_str() {
        "/fast" => respond(&mut stream, "200 OK", "image/x-icon", ICON).await,
        "/reset" => {
            let _ = stream.set_zero_linger();
            drop(stream);
        }
        "/hang" => {
            // Never answer; return when the client closes (EOF) or resets.
            let mut sink = [0u8; 1024];
            while let Ok(n) = stream.read(&mut sink).await {
                if n == 0 {
                    break;
                }
            }
        }
        p => match p.strip_prefix("/delay/").and_then(|ms| ms.parse::<u64>().ok()) {
            Some(ms) => {
                tokio::time::sleep(Duration::from_millis(ms.min(120_000))).await;
                respond(&mut stream, "200 OK", "image/x-icon", ICON).await
            }
            None => respond(&mut stream, "404 Not Found", "text/plain", b"not found\n").await,
        },
    }
}
