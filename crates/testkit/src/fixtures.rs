//! Fixture server for the widget's browser tests: a tiny raw-TCP HTTP/1.1 server whose paths
//! misbehave on purpose (the query string is ignored, `Connection: close` always):
//!
//! | path | answer |
//! |---|---|
//! | `/fast` | `200` at once, a small `image/x-icon` body, `Timing-Allow-Origin: *` |
//! | `/delay/{ms}` | waits `ms` (at most 120 s), then the same as `/fast`, plus `Server-Timing: wait;dur=W, total;dur=T`: the wait actually slept and the time from accepting the connection to the answer, in ms (a diagnostic: the fixture's own timer slack, readable in Resource Timing's `serverTiming`) |
//! | `/reset` | reads the request, then closes with `SO_LINGER` 0: a TCP RST |
//! | `/hang` | reads the request and never answers, until the client goes away |
//! | `/status/{code}` | that status (100..=599 else 400), otherwise the same as `/fast`: a readable non-2xx for cors requests |
//! | `/private` | `200` like `/fast` but without `Timing-Allow-Origin` and `Access-Control-Allow-Origin` (a cors request to it fails) |
//! | `/list.json` | `200` `{"version":"fixtures.1"}` as `application/json` |
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

/// Reads up to the end of the request head (or 16 KiB, or EOF) and a `Content-Length` body of at
/// most 16 KiB (unread bytes at close would make the kernel reset the connection before the
/// client reads the answer); returns the request path without its query string.
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
    let head_end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let length: usize = head.lines().find_map(|l| l.strip_prefix("content-length:")).and_then(|v| v.trim().parse().ok()).unwrap_or(0);
    let mut body_read = buf.len() - head_end;
    while body_read < length.min(16 * 1024) {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        body_read += n;
    }
    let line = buf.split(|&b| b == b'\r').next()?;
    let target = std::str::from_utf8(line).ok()?.split(' ').nth(1)?;
    Some(target.split(['?', '#']).next().unwrap_or("").to_string())
}

const ICON: &[u8] = &[0, 0, 1, 0, 1, 0, 1, 1, 0, 0, 1, 0, 24, 0, 48, 0, 0, 0, 22, 0, 0, 0];

/// Headers that open a response to other origins: its timing phases and (for cors) its body.
const OPEN: &str = "Timing-Allow-Origin: *\r\nAccess-Control-Allow-Origin: *\r\n";

async fn respond(stream: &mut TcpStream, status: &str, content_type: &str, body: &[u8]) {
    respond_with(stream, status, content_type, OPEN, body).await
}

async fn respond_with(stream: &mut TcpStream, status: &str, content_type: &str, extra: &str, body: &[u8]) {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\n{extra}Connection: close\r\n\r\n",
        body.len()
    );
    // One write, as a real server sends a small answer. (Checked: it did not change Chromium's
    // `responseEnd - responseStart`, about 1 ms either way.)
    let mut answer = head.into_bytes();
    answer.extend_from_slice(body);
    let _ = stream.write_all(&answer).await;
    let _ = stream.flush().await;
    let _ = stream.shutdown().await;
}

async fn handle(mut stream: TcpStream) {
    let accepted = std::time::Instant::now();
    let Some(path) = read_path(&mut stream).await else { return };
    match path.as_str() {
        "/fast" => respond(&mut stream, "200 OK", "image/x-icon", ICON).await,
        "/private" => respond_with(&mut stream, "200 OK", "image/x-icon", "", ICON).await,
        "/list.json" => respond(&mut stream, "200 OK", "application/json", br#"{"version":"fixtures.1"}"#).await,
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
        p if p.starts_with("/status/") => {
            let code = p["/status/".len()..].parse::<u16>().ok().filter(|c| (100..=599).contains(c)).unwrap_or(400);
            respond(&mut stream, &format!("{code} Fixture"), "image/x-icon", ICON).await
        }
        p => match p.strip_prefix("/delay/").and_then(|ms| ms.parse::<u64>().ok()) {
            Some(ms) => {
                let slept = std::time::Instant::now();
                precise_sleep(Duration::from_millis(ms.min(120_000))).await;
                let ms = |since: std::time::Instant| since.elapsed().as_secs_f64() * 1000.0;
                let timing = format!("{OPEN}Server-Timing: wait;dur={:.2}, total;dur={:.2}\r\n", ms(slept), ms(accepted));
                respond_with(&mut stream, "200 OK", "image/x-icon", &timing, ICON).await
            }
            None => respond(&mut stream, "404 Not Found", "text/plain", b"not found\n").await,
        },
    }
}

/// Sleeps `wait` to within a fraction of a millisecond: tokio's timer rounds up to its 1 ms
/// wheel (measured: +1.3 ms median, +4 ms p95 on the shared machine), which would count as the
/// client's timing error. The last 2 ms are a blocking thread sleep (the kernel's high-resolution
/// timer) on tokio's blocking pool.
async fn precise_sleep(wait: Duration) {
    let until = std::time::Instant::now() + wait;
    let coarse = wait.saturating_sub(Duration::from_millis(2));
    tokio::time::sleep(coarse).await;
    let _ = tokio::task::spawn_blocking(move || std::thread::sleep(until.saturating_duration_since(std::time::Instant::now()))).await;
}
