//! Connection limits: the accept loop `serve` runs instead of `axum::serve`, so that a client can
//! hold neither unbounded memory (a cap on open connections) nor a connection forever (a deadline
//! for the request head, which also closes idle keep-alive connections; the body deadline is in
//! `ingest`). `axum::serve` exposes neither a connection cap nor hyper's `header_read_timeout`.
//!
//! At the cap the loop stops calling `accept` until a connection ends (backpressure) rather than
//! accepting and closing: further connections wait in the kernel's listen backlog (kernel memory,
//! bounded by the backlog), cost no syscalls, tasks or buffers here, and are served in arrival
//! order as soon as a slot frees up; a slow client holds its slot at most `header_timeout` per
//! request. Accept-and-close would instead spin on every attempt and refuse a legitimate client
//! that happens to arrive while the slots are taken.
//!
//! HTTP/1.1 only: browsers speak HTTP/2 only over TLS, which a proxy in front terminates, and
//! hyper's cleartext HTTP/2 has no deadline for an idle or slow connection.

use crate::Config;
use axum::extract::ConnectInfo;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tower::ServiceExt;

/// Default `--max-connections`.
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;
/// Default `--header-timeout`: the request line and headers must arrive within it (also how long
/// an idle keep-alive connection stays open).
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Default `--body-timeout`: a report body must arrive within it, else 408.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest read (and write) buffer of one connection: the request head must fit in it (else 431).
/// Bounds what one connection can make us hold, whatever it sends.
pub const MAX_BUF_BYTES: usize = 64 * 1024;

/// Serves `router` on `listener` with the limits of `config` until `shutdown` resolves, then stops
/// accepting, lets open requests finish (idle connections close at once) and returns when every
/// connection has ended.
pub async fn serve(listener: TcpListener, router: Router, config: &Config, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
    let listener = with_backlog(listener, BACKLOG)?;
    let slots = Arc::new(Semaphore::new(config.max_connections.max(1)));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(config.header_timeout).max_buf_size(MAX_BUF_BYTES);
    loop {
        // Backpressure: no accept while every slot is taken.
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    accept_error(e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = router.clone().map_request(move |mut req: axum::extract::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            req
        });
        let conn = builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let _slot = slot; // released when the connection ends, however it ends
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                r = conn.as_mut() => return trace_end(r),
                _ = stop.wait_for(|s| *s) => conn.as_mut().graceful_shutdown(),
            }
            trace_end(conn.await);
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    // Every connection task holds a receiver; they are all gone when the last connection ends.
    drop(stop_rx);
    stop_tx.closed().await;
    Ok(())
}

/// Connections the kernel holds completed for us while every slot is taken (`listen(2)` clamps it
/// to `net.core.somaxconn`); beyond it, a client's SYN is dropped and retried. Not our memory.
pub const BACKLOG: u32 = 4096;

/// `listen(2)` again with `backlog` (Linux changes the queue length of a listening socket in
/// place): tokio binds with std's 128, which at the cap would make the 129th waiting client
/// retry its SYN for seconds.
fn with_backlog(listener: TcpListener, backlog: u32) -> std::io::Result<TcpListener> {
    let fd = std::os::fd::OwnedFd::from(listener.into_std()?);
    tokio::net::TcpSocket::from_std_stream(std::net::TcpStream::from(fd)).listen(backlog)
}

fn trace_end(r: Result<(), hyper::Error>) {
    if let Err(e) = r {
        tracing::trace!("connection ended: {e}");
    }
}

/// A failed `accept`: a connection that died in the backlog is nothing; anything else (out of
/// file descriptors) waits a second rather than spinning.
async fn accept_error(e: std::io::Error) {
    use std::io::ErrorKind::*;
    if matches!(e.kind(), ConnectionRefused | ConnectionAborted | ConnectionReset) {
        return;
    }
    tracing::error!("accept: {e}");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
