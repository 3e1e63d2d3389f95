//! Connection limits on the real binary: with `--max-connections 50`, 500 slow clients (half send
//! nothing, half an unfinished 48 KiB request head) cannot hold more than 50 sockets or their
//! buffers' memory, are closed by the server after `--header-timeout`, and then a normal client
//! is served; a body dripped slower than `--body-timeout` gets 408 and stores nothing; an idle
//! keep-alive connection is closed after the header timeout.

use crate::binary::*;
use crate::common::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// `--max-connections`.
const MAX_CONNECTIONS: usize = 50;
/// Slow clients opened at once.
const SLOW: usize = 500;
/// `--header-timeout` and `--body-timeout`.
const TIMEOUT: Duration = Duration::from_secs(1);
/// The unfinished request head every other slow client sends: under the 64 KiB a head may take,
/// so the server keeps it buffered and waits for the rest.
const PARTIAL_HEAD: usize = 48 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_capped_and_cut_off() {
    let _alone = heavy().await;
    let t = TestDir::new();
    let secs = TIMEOUT.as_secs_f64().to_string();
    let max = MAX_CONNECTIONS.to_string();
    let bin = Binary::start(&t, &["--max-connections", &max, "--header-timeout", &secs, "--body-timeout", &secs], &[]);
    let addr: std::net::SocketAddr = bin.addr.parse().unwrap();
    let pid = bin.child.id();
    {
        let c = client();
        assert_eq!(c.get(bin.url("/healthz")).send().await.unwrap().status(), 200, "warm-up");
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let idle_kib = bin.rss_kib();
    let idle_fds = fd_count(pid);
    assert!(idle_kib > 0 && idle_fds > 0, "no /proc/{pid}");

    // Peak RSS and open descriptors of the collector, sampled every 20 ms during the flood.
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let sampling = sampling.clone();
        tokio::spawn(async move {
            let (mut kib, mut fds) = (0u64, 0usize);
            while sampling.load(Ordering::Relaxed) {
                kib = kib.max(rss_kib(pid));
                fds = fds.max(fd_count(pid));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            (kib, fds)
        })
    };

    // 500 slow clients; each waits for the server to close its connection.
    let start = Instant::now();
    let slow: Vec<_> = (0..SLOW)
        .map(|i| {
            tokio::spawn(async move {
                let mut s = TcpStream::connect(addr).await.unwrap();
                if i % 2 == 1 {
                    let mut head = b"POST /v1/reports HTTP/1.1\r\nHost: x\r\nX-Pad: ".to_vec();
                    head.resize(PARTIAL_HEAD, b'a');
                    s.write_all(&head).await.unwrap();
                }
                let mut buf = [0u8; 1024];
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                }
                start.elapsed()
            })
        })
        .collect();
    let budget = TIMEOUT * (SLOW / MAX_CONNECTIONS + 6) as u32;
    let mut closed_at = Vec::new();
    for (i, task) in slow.into_iter().enumerate() {
        match tokio::time::timeout(budget.saturating_sub(start.elapsed()), task).await {
            Ok(at) => closed_at.push(at.unwrap()),
            Err(_) => {
                closed_at.sort();
                let secs: Vec<u64> = closed_at.iter().map(|d| d.as_secs()).collect();
                panic!("slow connection {i} was never closed by the server; closed {} at {secs:?}", closed_at.len());
            }
        }
    }
    sampling.store(false, Ordering::Relaxed);
    let (max_kib, max_fds) = sampler.await.unwrap();
    closed_at.sort();
    let (first, last) = (closed_at[0], closed_at[SLOW - 1]);

    // Memory bound: per connection 64 KiB read + 64 KiB write buffer + 32 KiB of task and parser
    // state, plus 4 MiB of allocator and thread slack: 12 MiB over idle. Without the cap the 250
    // partial heads alone would hold 250 x 48 KiB = 12 MiB, before any buffer or task.
    let bound_kib = idle_kib + MAX_CONNECTIONS as u64 * 160 + 4 * 1024;
    eprintln!(
        "limits: {SLOW} slow clients, cap {MAX_CONNECTIONS}: first closed after {first:.2?}, last after {last:.2?}; \
         fds idle {idle_fds}, max {max_fds}; RSS idle {idle_kib} KiB, max {max_kib} KiB, bound {bound_kib} KiB"
    );
    // (b) Closed by the server after the header timeout, not before; at most 50 at a time, so
    // 500 take at least 9 more timeouts.
    assert!(first >= TIMEOUT.mul_f64(0.9), "a slow connection closed after {first:?}, before the header timeout");
    assert!(first <= TIMEOUT * 3, "the first slow connections held {first:?}");
    assert!(last >= TIMEOUT.mul_f64(0.9 * (SLOW / MAX_CONNECTIONS) as f64), "500 slow connections all served in {last:?}: no cap");
    // (a) Never more than the cap open, and memory under the bound.
    assert!(max_fds <= idle_fds + MAX_CONNECTIONS, "{max_fds} descriptors open, idle {idle_fds}, cap {MAX_CONNECTIONS}");
    assert!(max_kib <= bound_kib, "RSS {max_kib} KiB over the bound {bound_kib} KiB");

    // (c) The slow ones gone, a normal client is served.
    let c = client();
    let res = c.post(bin.url("/v1/reports")).header("content-type", "text/plain").body(report(&id(1))).send().await.unwrap();
    assert_eq!(res.status(), 202);

    // (d) A body dripped slower than the body timeout: 408 with a JSON error, nothing stored.
    let body = report(&id(2));
    let mut s = TcpStream::connect(addr).await.unwrap();
    let head = format!("POST /v1/reports HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n", body.len());
    s.write_all(head.as_bytes()).await.unwrap();
    let (mut rd, mut wr) = s.into_split();
    let sent = Instant::now();
    let drip = tokio::spawn(async move {
        for chunk in body.as_bytes().chunks(8) {
            if wr.write_all(chunk).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    let answer = tokio::time::timeout(TIMEOUT * 5, read_to_close(&mut rd)).await.expect("no answer to a slow body");
    let took = sent.elapsed();
    drip.abort();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains(r#""error":"timeout""#), "{answer}");
    assert!(took >= TIMEOUT.mul_f64(0.9) && took <= TIMEOUT * 3, "408 after {took:?}");

    // (e) An idle keep-alive connection is closed after the header timeout.
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let since = Instant::now();
    let answer = tokio::time::timeout(TIMEOUT * 4, read_to_close(&mut s)).await.expect("idle keep-alive connection kept open");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(since.elapsed() >= TIMEOUT.mul_f64(0.9), "closed after {:?}", since.elapsed());

    drop(c);
    let exit = bin.term();
    assert!(exit.success(), "{exit:?}");
    let stored = stored(&t.db());
    assert_eq!(stored.keys().cloned().collect::<Vec<_>>(), vec![id(1)], "only the normal client's report is stored");
}

/// Everything the server sends until it closes the connection.
async fn read_to_close(r: &mut (impl AsyncReadExt + Unpin)) -> String {
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = r.read(&mut buf).await {
        if n == 0 {
            break;
        }
        all.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&all).into_owned()
}

fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0)
}
