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
//! Readers get a budget of their own: a `/v1/stream` connection, once its head has arrived, trades
//! its connection slot for one of `--max-streams` ([`Slots::swap_for_stream_slot`]) and closes when the
//! stream ends, so 6,000 open streams leave every connection slot to reports and short reads.
//! Keep-alive is what else could hold slots idle: when fewer than an eighth of them are free,
//! every answer closes its connection (`Connection: close`) and the slot goes to the next
//! client in the backlog.
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
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tower::ServiceExt;

/// Largest read (and write) buffer of one connection: the request head must fit in it (else 431).
/// Bounds what one connection can make us hold, whatever it sends.
pub(crate) const MAX_BUF_BYTES: usize = 64 * 1024;

/// Serves `router` on `listener` with the limits of `config` until `shutdown` resolves, then stops
/// accepting, lets open requests finish (idle connections close at once) and returns when every
/// connection has ended.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    config: &Config,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let listener = with_backlog(listener, BACKLOG)?;
    raise_fd_limit(config);
    let max = config.max_connections.max(1);
    let slots = Arc::new(Semaphore::new(max));
    let streams = Arc::new(Semaphore::new(config.max_streams));
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
        let slot = Slots { conn: Arc::new(std::sync::Mutex::new(Some(slot))), streams: streams.clone() };
        let held = slot.conn.clone();
        let pressure = slots.clone();
        let service = router
            .clone()
            .map_request(move |mut req: axum::extract::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                req.extensions_mut().insert(slot.clone());
                req
            })
            .map_response(move |mut res: axum::response::Response| {
                if pressure.available_permits() < max.div_ceil(8) {
                    res.headers_mut().insert(hyper::header::CONNECTION, hyper::header::HeaderValue::from_static("close"));
                }
                res
            });
        let conn = builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let _slot = held; // released when the connection ends, however it ends, or turns into a stream
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

/// A connection's place in the limits, handed to its requests: the stream handler trades the
/// connection slot for a stream slot.
#[derive(Clone)]
pub(crate) struct Slots {
    /// The connection's `--max-connections` permit; `None` once a stream took its place.
    conn: Arc<std::sync::Mutex<Option<OwnedSemaphorePermit>>>,
    /// The `--max-streams` budget shared by every connection.
    streams: Arc<Semaphore>,
}

impl Slots {
    /// A stream slot in place of the connection slot, or `None` when every stream slot is taken
    /// (the connection keeps its slot). The answer must close the connection: it holds no
    /// connection slot any more.
    pub(crate) fn swap_for_stream_slot(&self) -> Option<OwnedSemaphorePermit> {
        let permit = self.streams.clone().try_acquire_owned().ok()?;
        self.conn.lock().unwrap_or_else(|e| e.into_inner()).take();
        Some(permit)
    }
}

/// Raises the soft limit on open files to the hard one: every connection and stream is a file
/// descriptor, and the usual soft limit of 1,024 would make `accept` fail long before the caps.
fn raise_fd_limit(config: &Config) {
    let wanted = (config.max_connections + config.max_streams + 256) as u64;
    match rlimit::increase_nofile_limit(wanted) {
        Ok(got) if got < wanted => {
            tracing::warn!(open_files = got, wanted, "the open-file limit is under --max-connections + --max-streams; raise it (ulimit -n)")
        }
        Ok(_) => {}
        Err(e) => tracing::warn!("open-file limit not raised: {e}"),
    }
}

/// Connections the kernel holds completed for us while every slot is taken (`listen(2)` clamps it
/// to `net.core.somaxconn`); beyond it, a client's SYN is dropped and retried. Not our memory.
pub(crate) const BACKLOG: u32 = 4096;

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
