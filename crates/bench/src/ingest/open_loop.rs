//! Our own open-loop generator (wrk has no fixed rate; wrk2 is not packaged in Debian): request
//! *i* is due at its arrival time from a Poisson process at the asked rate, whatever happened to
//! the others, and latency counts from that due time (the wrk2 way, no coordinated omission).
//! Clients and bodies come from a [`Sample`], in arrival order.
//!
//! It shares the cores with the server it measures, so a request must cost it little: one thread,
//! a fixed pool of keep-alive connections opened before the clock starts, requests pre-built
//! ([`http1::Requests`]: a memcpy and the id spliced in), one write and usually one read each. A
//! due request goes to the most recently idle connection; when none is idle it waits in a queue,
//! and that wait counts in its latency.

use super::http1::{self, Requests};
use crate::traffic::{Arrivals, Sample};
use crate::util;
use anyhow::Context;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Requests in flight or queued beyond which the next due one is shed (counted as infinitely slow).
const MAX_OUTSTANDING: usize = 2048;
/// Keep-alive connections of the pool: as many as wrk's headline run, far more than 10,000
/// reports/s need at a few ms each, so a queue forms only when the server falls behind.
pub(crate) const CONNECTIONS: usize = 256;
/// A request not answered within this is failed and its connection dropped (reqwest's timeout
/// in the generator before this one).
const TIMEOUT: Duration = Duration::from_secs(10);

/// What a fixed-rate run saw.
#[derive(Debug, Default)]
pub(crate) struct FixedRun {
    /// Milliseconds from each answered request's due time to its full answer.
    pub latencies_ms: Vec<f64>,
    /// Answered 2xx.
    pub ok: u64,
    /// Answered otherwise, or not at all.
    pub failed: u64,
    /// Not sent because too many were outstanding (the server fell behind, or this thread was
    /// held off the cores long enough for that many to fall due).
    pub shed: u64,
    /// 2xx answers a second over the run.
    pub achieved: f64,
    /// CPU seconds the process spent during the run, minus this generator's own thread: the
    /// server's cost when the server is in process (threads of idle servers cost ~0).
    pub server_cpu_s: f64,
    /// Milliseconds from each sent request's due time to its first write: the generator's own
    /// lag (its timer's 1 ms tick, a busy thread) plus any wait for a free connection, so a
    /// latency can be told from the generator's share of it.
    pub send_lag_ms: Vec<f64>,
    /// CPU seconds of the generator's thread over the run.
    pub generator_cpu_s: f64,
    /// Requests that found every connection busy and waited for one: a server falling behind
    /// (a large send lag with none queued is the generator's own). After the generator's thread
    /// was held off the core, some count that were due before the answers that would have freed
    /// a connection were read.
    pub queued: u64,
}

impl FixedRun {
    /// p99 with every failed or shed request counted as infinitely slow.
    pub(crate) fn p99(&self) -> f64 {
        let mut all = self.latencies_ms.clone();
        all.extend(std::iter::repeat_n(f64::INFINITY, (self.failed + self.shed) as usize));
        util::percentile(&all, 99.0)
    }

    pub(crate) fn note(&self) -> String {
        format!(
            "achieved {:.0}/s, {} failed, {} shed, {} waited for a connection; due to sent p99 {:.2} ms; generator CPU {:.1} us a request",
            self.achieved,
            self.failed,
            self.shed,
            self.queued,
            util::percentile(&self.send_lag_ms, 99.0),
            self.generator_cpu_s * 1e6 / (self.ok + self.failed).max(1) as f64
        )
    }
}

/// CPU seconds (user + system) from a `/proc/.../stat` line.
pub(crate) fn cpu_s(stat_path: &str) -> f64 {
    let stat = std::fs::read_to_string(stat_path).unwrap_or_default();
    // Fields after the `(comm)`, which may hold spaces: utime and stime are the 12th and 13th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = rest.split_whitespace().skip(11).take(2).filter_map(|v| v.parse().ok()).collect();
    f.iter().sum::<f64>() / 100.0 // USER_HZ is 100 on Linux
}

/// A request handed to a connection.
#[derive(Clone, Copy)]
struct Job {
    /// Its index in the run (body, client and id).
    i: u64,
    /// When it was due.
    due: Instant,
}

/// A connection's word that a request is over and it is idle again.
struct Done {
    /// Which connection of the pool.
    conn: usize,
    /// The request's due time.
    due: Instant,
    /// When its first byte was written.
    sent: Instant,
    /// When its response was read whole (or the error seen).
    at: Instant,
    /// Answered 2xx.
    ok: bool,
}

/// Open-loop load at `rate` a second for `secs` against `url` (`http://HOST:PORT/PATH`).
pub(crate) fn run(url: &str, sample: &Sample, nonce: u32, rate: f64, secs: f64, label: &str) -> anyhow::Result<FixedRun> {
    let url = reqwest::Url::parse(url).with_context(|| format!("url {url}"))?;
    let addr = *url.socket_addrs(|| None)?.first().with_context(|| format!("no address for {url}"))?;
    let host = format!("{}:{}", url.host_str().unwrap_or_default(), url.port_or_known_default().unwrap_or(80));
    let total = (rate * secs) as u64;
    let requests = Arc::new(Requests::new(&host, url.path(), sample, nonce, total));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let pb = util::bar(total, "ingest");
    pb.set_message(label.to_string());
    let (proc_before, self_before) = (cpu_s("/proc/self/stat"), cpu_s("/proc/thread-self/stat"));
    let mut run = rt.block_on(async {
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        let mut pool = Vec::with_capacity(CONNECTIONS);
        for conn in 0..CONNECTIONS {
            let stream = connect(addr).await.with_context(|| format!("connect to {addr}"))?;
            let (tx, rx) = mpsc::channel(1);
            tokio::spawn(connection(conn, addr, stream, requests.clone(), rx, done_tx.clone()));
            pool.push(tx);
        }
        drop(done_tx);
        let arrivals = Arrivals::new(rate, u64::from(nonce)).take(total as usize);
        anyhow::Ok(dispatch(pool, done_rx, arrivals, &pb).await)
    })?;
    let generator_cpu_s = cpu_s("/proc/thread-self/stat") - self_before;
    run.server_cpu_s = (cpu_s("/proc/self/stat") - proc_before) - generator_cpu_s;
    run.generator_cpu_s = generator_cpu_s;
    pb.finish_and_clear();
    Ok(run)
}

/// The pool as the dispatcher sees it, and what it has recorded.
struct Pool {
    /// Each connection's job queue (room for one: a connection gets a job only when idle).
    senders: Vec<mpsc::Sender<Job>>,
    /// Idle connections, the most recently idle last (its cache is warm).
    idle: Vec<usize>,
    /// Due requests that found every connection busy, oldest first.
    waiting: VecDeque<Job>,
    /// Requests sent or waiting, not yet finished.
    outstanding: usize,
    /// The results so far.
    run: FixedRun,
}

impl Pool {
    /// A request fell due: to an idle connection, else to the queue, else (too many) shed.
    fn due(&mut self, job: Job) {
        if self.outstanding >= MAX_OUTSTANDING {
            self.run.shed += 1;
            return;
        }
        self.outstanding += 1;
        match self.idle.pop() {
            Some(conn) => self.senders[conn].try_send(job).expect("an idle connection has room for a request"),
            None => {
                self.run.queued += 1;
                self.waiting.push_back(job);
            }
        }
    }

    /// A connection finished a request: record it and give the connection the oldest waiting one.
    fn finished(&mut self, d: Done) {
        self.outstanding -= 1;
        self.run.send_lag_ms.push((d.sent - d.due).as_secs_f64() * 1000.0);
        if d.ok {
            self.run.ok += 1;
            self.run.latencies_ms.push((d.at - d.due).as_secs_f64() * 1000.0);
        } else {
            self.run.failed += 1;
        }
        match self.waiting.pop_front() {
            Some(job) => self.senders[d.conn].try_send(job).expect("a connection that just finished has room for a request"),
            None => self.idle.push(d.conn),
        }
    }
}

/// Sends each arrival when due (see [`Pool::due`]), sheds beyond [`MAX_OUTSTANDING`], and
/// records what the connections report.
async fn dispatch(
    senders: Vec<mpsc::Sender<Job>>,
    mut done: mpsc::UnboundedReceiver<Done>,
    arrivals: impl Iterator<Item = f64>,
    pb: &indicatif::ProgressBar,
) -> FixedRun {
    let idle = (0..senders.len()).rev().collect();
    let mut pool = Pool { senders, idle, waiting: VecDeque::new(), outstanding: 0, run: FixedRun::default() };
    let start = Instant::now() + Duration::from_millis(20);
    let mut arrivals = arrivals.map(|at| start + Duration::from_secs_f64(at)).enumerate().peekable();
    let timer = tokio::time::sleep_until(start);
    tokio::pin!(timer);
    loop {
        // Answers already read first, so a request due now finds the connections they freed.
        while let Ok(d) = done.try_recv() {
            pool.finished(d);
        }
        let now = Instant::now();
        while let Some(&(i, due)) = arrivals.peek().filter(|(_, due)| *due <= now) {
            arrivals.next();
            if i % 1000 == 0 {
                pb.set_position(i as u64);
            }
            pool.due(Job { i: i as u64, due });
        }
        let next_due = arrivals.peek().map(|&(_, due)| due);
        if next_due.is_none() && pool.outstanding == 0 {
            break;
        }
        if let Some(due) = next_due {
            timer.as_mut().reset(due);
        }
        tokio::select! {
            biased;
            d = done.recv() => pool.finished(d.expect("connections live while the pool's senders do")),
            // Woken by the timer: let the connections whose answers arrived meanwhile read them
            // before dispatching.
            () = &mut timer, if next_due.is_some() => tokio::task::yield_now().await,
        }
    }
    let mut run = pool.run;
    run.achieved = run.ok as f64 / start.elapsed().as_secs_f64();
    run
}

/// A keep-alive connection to `addr`, Nagle off (each request is one write).
async fn connect(addr: SocketAddr) -> std::io::Result<TcpStream> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// One connection of the pool: runs the jobs it is given, one at a time. After an error or a
/// timeout (the request failed) or a `Connection: close`, the next job connects afresh, and that
/// connect counts in its latency.
async fn connection(
    conn: usize,
    addr: SocketAddr,
    stream: TcpStream,
    requests: Arc<Requests>,
    mut jobs: mpsc::Receiver<Job>,
    done: mpsc::UnboundedSender<Done>,
) {
    let mut stream = Some(stream);
    let (mut out, mut buf) = (Vec::with_capacity(4096), Vec::with_capacity(1024));
    while let Some(job) = jobs.recv().await {
        let sent = Instant::now();
        requests.write(job.i, &mut out);
        let status = tokio::time::timeout(TIMEOUT, exchange(addr, &mut stream, &out, &mut buf)).await;
        let ok = match status {
            Ok(Ok(status)) => (200..300).contains(&status),
            Ok(Err(_)) | Err(_) => {
                stream = None;
                false
            }
        };
        if done.send(Done { conn, due: job.due, sent, at: Instant::now(), ok }).is_err() {
            return;
        }
    }
}

/// Writes `request` and reads its whole response; its status.
async fn exchange(addr: SocketAddr, stream: &mut Option<TcpStream>, request: &[u8], buf: &mut Vec<u8>) -> std::io::Result<u16> {
    if stream.is_none() {
        *stream = Some(connect(addr).await?);
    }
    let s = stream.as_mut().expect("connected above");
    s.write_all(request).await?;
    buf.clear();
    let response = loop {
        if let Some(r) = http1::parse_response(buf).map_err(std::io::Error::other)? {
            break r;
        }
        if s.read_buf(buf).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    };
    if response.len != buf.len() {
        // Nothing was asked for beyond this response: bytes after it mean the framing is lost.
        return Err(std::io::Error::other("bytes after the response"));
    }
    if response.close {
        *stream = None;
    }
    Ok(response.status)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::test_server::{self, Answer};
    use std::sync::atomic::Ordering;

    fn sample() -> Sample {
        let model = crate::traffic::Model::new(&crate::traffic::ModelSpec::with_networks(10));
        crate::traffic::sample(&model, 1_000, &["x.main".to_string()], "v", 3)
    }

    /// Against the trivial axum handler at a rate it keeps up with, every request is answered 2xx
    /// and none is shed or failed.
    #[test]
    fn every_request_is_answered_by_a_server_that_keeps_up() {
        let server = util::Server::baseline().unwrap();
        let run = run(&server.url("/v1/reports"), &sample(), 5, 2_000.0, 0.5, "test").unwrap();
        assert_eq!((run.ok, run.failed, run.shed), (1_000, 0, 0), "{}", run.note());
        assert_eq!(run.latencies_ms.len(), 1_000);
    }

    /// A 500 counts as failed, and so does a connection closed before the answer, after which
    /// the connection is opened afresh; every 2xx the server sent is counted ok, no more.
    #[test]
    fn refusals_and_dropped_connections_count_as_failed_and_reconnect() {
        // By the running count: 202, 500, or the connection closed unanswered.
        let (addr, seen) = test_server::start(|n| [Answer::Accept, Answer::Fail, Answer::Drop][(n % 3) as usize]);
        let run = run(&format!("http://{addr}/v1/reports"), &sample(), 6, 2_000.0, 0.5, "test").unwrap();
        assert_eq!(run.shed, 0, "{}", run.note());
        assert_eq!(run.ok + run.failed, 1_000, "{}", run.note());
        assert_eq!(run.ok, seen.accepted.load(Ordering::Relaxed), "{}", run.note());
        assert_eq!(run.ok, 334, "{}", run.note());
        // Every third request closes its connection, and a closed connection carries nothing
        // more: the server read all 1,000 only because each was opened again for the next job.
        assert_eq!(seen.requests.lock().unwrap().len(), 1_000);
        assert!(seen.connections.load(Ordering::Relaxed) > CONNECTIONS as u64, "{} connections", seen.connections.load(Ordering::Relaxed));
    }
}
