//! The little HTTP/1.1 the open-loop generator speaks, so a request costs it a memcpy and two
//! syscalls rather than a client library's machinery: requests pre-built from a [`Sample`] with
//! only the id spliced in, and a parser that finds where a response ends and its status.

use crate::traffic::Sample;
use crate::util::{self, ID_LEN};

/// One body of the sample, cut around its id.
struct Template {
    /// The request head up to the client's address: method, path, `Host`, `Content-Type`,
    /// `Content-Length` (fixed: every id has [`ID_LEN`] digits) and `X-Forwarded-For: `.
    head: Vec<u8>,
    /// The end of the head and the body up to the id.
    pre: Vec<u8>,
    /// The body after the id.
    post: Vec<u8>,
}

/// Every request of a run, pre-built: request `i` is body `i mod bodies`, client `i mod
/// clients` and id `random_order_id(nonce, i)`, as the wrk script walks them.
pub(crate) struct Requests {
    /// Per body of the sample.
    templates: Vec<Template>,
    /// The client addresses as text, only as many as the run uses (formatting 500,000 addresses
    /// for a run of 20,000 requests would cost more than the run).
    clients: Vec<Box<[u8]>>,
    /// The run's id nonce.
    nonce: u32,
}

impl Requests {
    /// `POST path` to `host` (the `Host` header) for the first `count` requests of `sample`.
    pub(crate) fn new(host: &str, path: &str, sample: &Sample, nonce: u32, count: u64) -> Requests {
        let templates = sample
            .bodies
            .iter()
            .map(|b| {
                let (pre, post) = b.split_once("@ID@").expect("body with an @ID@ placeholder");
                let head = format!(
                    "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: text/plain;charset=UTF-8\r\nContent-Length: {}\r\nX-Forwarded-For: ",
                    pre.len() + ID_LEN + post.len()
                );
                Template { head: head.into_bytes(), pre: format!("\r\n\r\n{pre}").into_bytes(), post: post.as_bytes().to_vec() }
            })
            .collect();
        let used = sample.clients.len().min(usize::try_from(count).unwrap_or(usize::MAX));
        let clients = sample.clients[..used].iter().map(|ip| ip.to_string().into_bytes().into_boxed_slice()).collect();
        Requests { templates, clients, nonce }
    }

    /// Writes request `i` into `out` (cleared first).
    pub(crate) fn write(&self, i: u64, out: &mut Vec<u8>) {
        let t = &self.templates[(i % self.templates.len() as u64) as usize];
        out.clear();
        out.extend_from_slice(&t.head);
        out.extend_from_slice(&self.clients[(i % self.clients.len() as u64) as usize]);
        out.extend_from_slice(&t.pre);
        let at = out.len();
        out.resize(at + ID_LEN, 0);
        util::write_random_order_id(self.nonce, i, (&mut out[at..]).try_into().expect("id slot"));
        out.extend_from_slice(&t.post);
    }
}

/// A complete response at the start of a buffer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Response {
    /// Its status code.
    pub status: u16,
    /// Its length in bytes, head and body: where the next response would start.
    pub len: usize,
    /// The server will close the connection after it (`Connection: close`, or HTTP/1.0).
    pub close: bool,
}

/// A response this generator cannot read (the connection is then dropped and the request failed).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Malformed(pub &'static str);

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "malformed response: {}", self.0)
    }
}

impl std::error::Error for Malformed {}

/// Headers beyond this many make a response malformed here (servers under test send a handful).
const MAX_HEADERS: usize = 32;

/// The response at the start of `buf`, `None` while it is incomplete. The body is delimited by
/// `Content-Length` or chunked transfer coding (nginx's echo module sends chunks); a response
/// with neither must have no body (1xx, 204, 304).
pub(crate) fn parse_response(buf: &[u8]) -> Result<Option<Response>, Malformed> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut res = httparse::Response::new(&mut headers);
    let head = match res.parse(buf).map_err(|_| Malformed("head"))? {
        httparse::Status::Complete(n) => n,
        httparse::Status::Partial => return Ok(None),
    };
    let status = res.code.ok_or(Malformed("no status"))?;
    let mut close = res.version == Some(0);
    let (mut content_length, mut chunked) = (None, false);
    for h in res.headers.iter() {
        let value = std::str::from_utf8(h.value).map_err(|_| Malformed("header value"))?.trim();
        if h.name.eq_ignore_ascii_case("content-length") {
            content_length = Some(value.parse::<usize>().map_err(|_| Malformed("content-length"))?);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.eq_ignore_ascii_case("chunked");
        } else if h.name.eq_ignore_ascii_case("connection") {
            close = value.eq_ignore_ascii_case("close");
        }
    }
    let body = if chunked {
        match chunked_len(&buf[head..])? {
            Some(n) => n,
            None => return Ok(None),
        }
    } else if let Some(n) = content_length {
        if buf.len() < head + n {
            return Ok(None);
        }
        n
    } else if status < 200 || status == 204 || status == 304 {
        0
    } else {
        return Err(Malformed("no length (neither Content-Length nor chunked)"));
    };
    Ok(Some(Response { status, len: head + body, close }))
}

/// Bytes of the chunked body at the start of `buf` (through the last chunk and its empty
/// trailer), `None` while incomplete.
fn chunked_len(buf: &[u8]) -> Result<Option<usize>, Malformed> {
    let mut at = 0;
    loop {
        let (line, size) = match httparse::parse_chunk_size(&buf[at..]).map_err(|_| Malformed("chunk size"))? {
            httparse::Status::Complete(c) => c,
            httparse::Status::Partial => return Ok(None),
        };
        at += line;
        if size == 0 {
            // Trailer fields, then an empty line; none are expected, but skip them if sent.
            let trailer = &buf[at..];
            return Ok(match trailer.windows(2).position(|w| w == b"\r\n") {
                Some(0) => Some(at + 2),
                Some(_) => trailer.windows(4).position(|w| w == b"\r\n\r\n").map(|p| at + p + 4),
                None => None,
            });
        }
        let end = at + usize::try_from(size).map_err(|_| Malformed("chunk size"))?;
        if buf.len() < end + 2 {
            return Ok(None);
        }
        if &buf[end..end + 2] != b"\r\n" {
            return Err(Malformed("chunk not followed by CRLF"));
        }
        at = end + 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn sample() -> Sample {
        Sample {
            clients: vec!["203.0.113.7".parse().unwrap(), "2001:db8:1::42".parse().unwrap(), "198.51.100.1".parse().unwrap()],
            bodies: vec![r#"{"id":"@ID@","v":1}"#.to_string(), r#"{"v":2,"id":"@ID@","m":[1,2,3]}"#.to_string()],
            networks: 3,
        }
    }

    /// Every spliced request parses as HTTP/1.1 with the headers the server needs, its
    /// `Content-Length` is its body's, the body is the sample's byte for byte with the request's
    /// id in place of `@ID@`, the client is the sample's next, and no id repeats.
    #[test]
    fn spliced_requests_are_the_samples_bodies_with_unique_ids() {
        let s = sample();
        let requests = Requests::new("127.0.0.1:8080", "/v1/reports", &s, 7, 30_000);
        let (mut out, mut ids) = (Vec::new(), HashSet::new());
        for i in 0..30_000u64 {
            requests.write(i, &mut out);
            let mut headers = [httparse::EMPTY_HEADER; 8];
            let mut req = httparse::Request::new(&mut headers);
            let head = match req.parse(&out).unwrap() {
                httparse::Status::Complete(n) => n,
                httparse::Status::Partial => panic!("request {i} incomplete"),
            };
            assert_eq!((req.method, req.path, req.version), (Some("POST"), Some("/v1/reports"), Some(1)));
            let header =
                |name: &str| req.headers.iter().find(|h| h.name.eq_ignore_ascii_case(name)).map(|h| std::str::from_utf8(h.value).unwrap());
            assert_eq!(header("host"), Some("127.0.0.1:8080"));
            assert_eq!(header("content-type"), Some("text/plain;charset=UTF-8"));
            assert_eq!(header("x-forwarded-for"), Some(s.clients[i as usize % 3].to_string().as_str()));
            let body = &out[head..];
            assert_eq!(header("content-length"), Some(body.len().to_string().as_str()));
            let id = util::random_order_id(7, i);
            assert_eq!(std::str::from_utf8(body).unwrap(), s.bodies[i as usize % 2].replace("@ID@", &id));
            assert!(ids.insert(id), "id of request {i} repeats");
        }
    }

    /// Only the clients a run reaches are formatted; the walk still wraps around them.
    #[test]
    fn a_short_run_formats_only_its_clients() {
        let requests = Requests::new("h", "/", &sample(), 1, 2);
        assert_eq!(requests.clients.len(), 2);
        let mut out = Vec::new();
        requests.write(2, &mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("X-Forwarded-For: 203.0.113.7\r\n\r\n{\"id\":\""), "{text}");
    }

    const AXUM: &[u8] =
        b"HTTP/1.1 202 Accepted\r\ncontent-type: application/json\r\ncontent-length: 17\r\ndate: x\r\n\r\n{\"accepted\":true}";
    const NGINX: &[u8] = b"HTTP/1.1 202 Accepted\r\nServer: nginx\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n11\r\n{\"accepted\":true}\r\n0\r\n\r\n";

    /// Complete responses give their status and length; every proper prefix is incomplete (so a
    /// response split across reads is read whole), whether delimited by length or by chunks.
    #[test]
    fn responses_are_read_whole_by_length_or_chunks() {
        for full in [AXUM, NGINX] {
            assert_eq!(parse_response(full), Ok(Some(Response { status: 202, len: full.len(), close: false })));
            for cut in 0..full.len() {
                assert_eq!(parse_response(&full[..cut]), Ok(None), "prefix of {cut} bytes of {}", String::from_utf8_lossy(full));
            }
        }
        let two_chunks = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\nTrailer: 1\r\n\r\n";
        assert_eq!(parse_response(two_chunks), Ok(Some(Response { status: 200, len: two_chunks.len(), close: false })));
    }

    /// Status, closing and errors: a refusal is read like any answer (the caller counts it as
    /// failed), `Connection: close` and HTTP/1.0 are noticed, and what cannot be delimited is an
    /// error rather than a guess.
    #[test]
    fn statuses_closes_and_malformed_responses() {
        let refused = b"HTTP/1.1 429 Too Many Requests\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}";
        assert_eq!(parse_response(refused), Ok(Some(Response { status: 429, len: refused.len(), close: true })));
        let old = b"HTTP/1.0 204 No Content\r\n\r\n";
        assert_eq!(parse_response(old), Ok(Some(Response { status: 204, len: old.len(), close: true })));
        assert!(parse_response(b"HTTP/1.1 200 OK\r\n\r\nbody until close").is_err());
        assert!(parse_response(b"garbage\r\n\r\n").is_err());
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n").is_err());
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXX0\r\n\r\n").is_err());
    }
}
