//! The target list: parsing and validating the TOML file (docs/protocol.md §6) with errors that
//! name the line, and the set of ids a report may use (current list plus the previous one).

use serde::Deserialize;
use std::collections::{HashMap, HashSet};
use toml::Spanned;
use vantage_protocol::{Control, FetchMode, Platform, Target, TargetId, TargetList, CONTROL_ID};

/// The built-in list, validated by the same parser as `--targets` files.
const DEFAULT_TOML: &str = include_str!("../targets.default.toml");

/// The built-in target list.
pub fn default_targets() -> TargetList {
    parse_targets(DEFAULT_TOML, "targets.default.toml").expect("built-in target list is valid")
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    version: Spanned<String>,
    control: RawControl,
    #[serde(default)]
    target: Vec<RawTarget>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawControl {
    url: Spanned<String>,
    timeout_ms: Spanned<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTarget {
    id: Spanned<String>,
    platform: Spanned<String>,
    url: Spanned<String>,
    timeout_ms: Spanned<i64>,
    cache_bust: Option<bool>,
    /// `cors` or `no-cors` (default); serde refuses anything else, naming the line.
    #[serde(default)]
    mode: FetchMode,
}

/// Why a target list is refused, and where: its `Display` reads `NAME:LINE: problem`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{place}: {problem}")]
pub struct TargetsError {
    /// `NAME:LINE`, or `NAME` alone for what concerns the whole file.
    pub place: String,
    /// What is wrong there.
    pub problem: TargetsProblem,
}

/// What is wrong in a target list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetsProblem {
    /// Not TOML, or not the shape of docs/protocol.md §6 (the parser's message).
    #[error("{0}")]
    Toml(String),
    /// `version` is empty, too long or holds control characters.
    #[error("version must be 1 to 32 printable characters")]
    Version,
    /// The control URL is neither a path nor an https URL.
    #[error("control url must be a path (/v1/ping) or an https URL")]
    ControlUrl,
    /// The control URL could change the frame's CSP.
    #[error("control url {url:?}: {why}")]
    ControlUrlUnsafe {
        /// The URL as written.
        url: String,
        /// What in it is refused.
        why: UnsafeUrl,
    },
    /// A `timeout_ms` outside 1..=60000.
    #[error("timeout_ms {0} must be between 1 and 60000")]
    Timeout(i64),
    /// The file lists no `[[target]]`.
    #[error("at least one [[target]] is needed")]
    NoTargets,
    /// A target id that is not an id, or is the control's.
    #[error("target id {0:?} must be 1 to 64 of [a-z0-9._-] and not {control}", control = CONTROL_ID)]
    Id(String),
    /// A target id listed twice.
    #[error("target id {0:?} appears twice")]
    DuplicateId(String),
    /// A platform name that is not one.
    #[error("platform {0:?} must be 1 to 64 of [a-z0-9_-]")]
    Platform(String),
    /// A target URL that is not absolute https (or http on a `.test` host).
    #[error("url {0:?} must be an absolute https URL (plain http only for *.test hosts)")]
    NotHttps(String),
    /// A target URL that could change the frame's CSP.
    #[error("target {id:?} url {url:?}: {why}")]
    TargetUrlUnsafe {
        /// The target's id.
        id: String,
        /// The URL as written.
        url: String,
        /// What in it is refused.
        why: UnsafeUrl,
    },
}

/// What makes a URL unfit for the frame's `connect-src` header: it could end that directive and add another.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnsafeUrl {
    /// A character that could end or split a CSP directive.
    #[error("{0:?} is not allowed in a target URL (it could change the frame's Content-Security-Policy); percent-encode it")]
    Char(char),
    /// A port that is not a number.
    #[error("port {0:?} must be a number")]
    Port(String),
    /// A host that is not a plain name or address.
    #[error("host {0:?} must be a plain host name (letters, digits, '.', '-'), without user or password")]
    Host(String),
}

/// Parses and validates a target list; errors read `NAME:LINE: message`.
pub fn parse_targets(text: &str, name: &str) -> Result<TargetList, TargetsError> {
    let at = |span: std::ops::Range<usize>, problem: TargetsProblem| TargetsError {
        place: format!("{name}:{}", text[..span.start.min(text.len())].matches('\n').count() + 1),
        problem,
    };
    let whole = |problem: TargetsProblem| TargetsError { place: name.to_string(), problem };
    let raw: RawFile = toml::from_str(text).map_err(|e| {
        let problem = TargetsProblem::Toml(e.message().to_string());
        match e.span() {
            Some(span) => at(span, problem),
            None => whole(problem),
        }
    })?;
    let version = raw.version.get_ref();
    if version.is_empty() || version.len() > vantage_protocol::MAX_VERSION_LEN || version.chars().any(char::is_control) {
        return Err(at(raw.version.span(), TargetsProblem::Version));
    }
    let control_url = raw.control.url.get_ref();
    if !(control_url.starts_with('/') || is_https_url(control_url)) {
        return Err(at(raw.control.url.span(), TargetsProblem::ControlUrl));
    }
    check_header_safe(control_url)
        .map_err(|why| at(raw.control.url.span(), TargetsProblem::ControlUrlUnsafe { url: control_url.clone(), why }))?;
    let control_timeout = check_timeout(&raw.control.timeout_ms).map_err(|p| at(raw.control.timeout_ms.span(), p))?;
    if raw.target.is_empty() {
        return Err(whole(TargetsProblem::NoTargets));
    }
    let mut seen = HashSet::new();
    let mut targets = Vec::new();
    for t in raw.target {
        let id = t.id.get_ref();
        if TargetId::try_from(id.as_str()).is_err() || id == CONTROL_ID {
            return Err(at(t.id.span(), TargetsProblem::Id(id.clone())));
        }
        if !seen.insert(id.clone()) {
            return Err(at(t.id.span(), TargetsProblem::DuplicateId(id.clone())));
        }
        let platform = t.platform.get_ref();
        if Platform::try_from(platform.as_str()).is_err() {
            return Err(at(t.platform.span(), TargetsProblem::Platform(platform.clone())));
        }
        let url = t.url.get_ref();
        if !is_https_url(url) {
            return Err(at(t.url.span(), TargetsProblem::NotHttps(url.clone())));
        }
        check_header_safe(url)
            .map_err(|why| at(t.url.span(), TargetsProblem::TargetUrlUnsafe { id: id.clone(), url: url.clone(), why }))?;
        let timeout_ms = check_timeout(&t.timeout_ms).map_err(|p| at(t.timeout_ms.span(), p))?;
        targets.push(Target {
            id: id.clone(),
            platform: platform.clone(),
            url: t.url.into_inner(),
            timeout_ms,
            cache_bust: t.cache_bust.unwrap_or(true),
            mode: t.mode,
        });
    }
    Ok(TargetList {
        version: raw.version.into_inner(),
        targets,
        control: Control { id: CONTROL_ID.into(), url: raw.control.url.into_inner(), timeout_ms: control_timeout },
    })
}

/// Characters that end or split a Content-Security-Policy directive or source (`;` `,`
/// whitespace), or quote one (`'` `"`), plus `\` `<` `>` and backquote, which no target needs.
const CSP_BREAKERS: &[char] = &[';', ',', '\'', '"', '\\', '<', '>', '`'];

/// A target's origin goes into the frame's CSP header (`connect-src`): the URL may hold nothing
/// that could end that directive and add another (`; script-src *`), and its host must be a
/// plain host name, IPv6 literal or address, with an optional port (no userinfo).
fn check_header_safe(url: &str) -> Result<(), UnsafeUrl> {
    if let Some(c) = url.chars().find(|c| CSP_BREAKERS.contains(c) || c.is_whitespace() || c.is_control()) {
        return Err(UnsafeUrl::Char(c));
    }
    let Some(origin) = origin_of(url) else { return Ok(()) };
    let authority = origin.split_once("://").map_or("", |(_, a)| a);
    let host = match authority.rsplit_once(':') {
        Some((h, p)) if !p.contains(']') => {
            if !p.bytes().all(|b| b.is_ascii_digit()) || p.is_empty() || p.len() > 5 {
                return Err(UnsafeUrl::Port(p.to_string()));
            }
            h
        }
        _ => authority,
    };
    let plain = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(v6) => v6.parse::<std::net::Ipv6Addr>().is_ok(),
        None => !host.is_empty() && host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-'),
    };
    if plain {
        Ok(())
    } else {
        Err(UnsafeUrl::Host(host.to_string()))
    }
}

fn check_timeout(v: &Spanned<i64>) -> Result<u32, TargetsProblem> {
    match u32::try_from(*v.get_ref()) {
        Ok(ms @ 1..=60_000) => Ok(ms),
        _ => Err(TargetsProblem::Timeout(*v.get_ref())),
    }
}

fn is_https_url(url: &str) -> bool {
    origin_of(url).is_some_and(|o| !o.ends_with("://")) && !url.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// `https://host[:port]` of an absolute https URL, or `http://host[:port]` when the host is in
/// the `.test` domain (RFC 6761: reserved for testing, never resolvable on the internet). Tests
/// point platform names at plain-HTTP fixture servers that way; a real platform is always https.
pub(crate) fn origin_of(url: &str) -> Option<&str> {
    let (scheme_len, rest) = match url.strip_prefix("https://") {
        Some(rest) => ("https://".len(), rest),
        None => ("http://".len(), url.strip_prefix("http://")?),
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    if scheme_len == "http://".len() {
        let host = rest[..end].rsplit_once(':').map_or(&rest[..end], |(h, _)| h);
        if !host.ends_with(".test") {
            return None;
        }
    }
    Some(&url[..(scheme_len + end)])
}

/// The ids reports may name: the current list's and the previous list's, each with its platform.
#[derive(Debug, Clone)]
pub struct KnownTargets {
    /// The list served now.
    pub current: TargetList,
    /// Target id -> platform for the list served before the current one (empty at start-up).
    previous: HashMap<String, String>,
}

impl KnownTargets {
    /// Starts with `list` as current and no previous list.
    pub fn new(list: TargetList) -> Self {
        KnownTargets { current: list, previous: HashMap::new() }
    }

    /// Makes `list` current; the old current list's ids stay acceptable until the next change.
    pub fn replace(&mut self, list: TargetList) {
        self.previous = platform_map(&self.current);
        self.current = list;
    }

    /// The platform of a current or previous target id.
    pub fn platform(&self, id: &str) -> Option<&str> {
        self.current.targets.iter().find(|t| t.id == id).map(|t| t.platform.as_str()).or_else(|| self.previous.get(id).map(String::as_str))
    }
}

fn platform_map(list: &TargetList) -> HashMap<String, String> {
    list.targets.iter().map(|t| (t.id.clone(), t.platform.clone())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "version = \"v1\"\n[control]\nurl = \"/v1/ping\"\ntimeout_ms = 5000\n\n[[target]]\nid = \"x.main\"\nplatform = \"x\"\nurl = \"https://x.com/favicon.ico\"\ntimeout_ms = 15000\n";

    #[test]
    fn built_in_list_is_valid_and_covers_the_platforms() {
        let list = default_targets();
        for p in ["x", "facebook", "instagram", "youtube", "whatsapp", "tiktok", "telegram", "wikipedia"] {
            assert_eq!(list.targets.iter().filter(|t| t.platform == p).count(), 2, "{p}");
        }
        assert_eq!(list.control.url, "/v1/ping");
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse_targets(&GOOD.replace("x.main", "X Main"), "t.toml").unwrap_err().to_string();
        assert!(e.starts_with("t.toml:7: target id"), "{e}");
        let e = parse_targets(&GOOD.replace("15000", "0"), "t.toml").unwrap_err().to_string();
        assert!(e.starts_with("t.toml:10: timeout_ms"), "{e}");
        let e = parse_targets(&GOOD.replace("https://x.com", "http://x.com"), "t.toml").unwrap_err().to_string();
        assert!(e.starts_with("t.toml:9: url"), "{e}");
        let e = parse_targets(&GOOD.replace("platform = \"x\"", "platform = "), "t.toml").unwrap_err().to_string();
        assert!(e.starts_with("t.toml:8:"), "{e}");
        let twice = format!("{GOOD}\n[[target]]\nid = \"x.main\"\nplatform = \"x\"\nurl = \"https://x.com/a\"\ntimeout_ms = 1\n");
        let e = parse_targets(&twice, "t.toml").unwrap_err().to_string();
        assert!(e.starts_with("t.toml:13: target id \"x.main\" appears twice"), "{e}");
    }

    #[test]
    fn urls_that_could_break_the_frames_csp_are_refused_naming_the_line_and_target() {
        for bad in [
            "https://x.com;script-src*/favicon.ico",
            "https://x.com/a;b",
            "https://x.com,https://evil.example/",
            "https://x.com/'unsafe-inline'",
            "https://x.com/\\\"a",
            "https://user@x.com/favicon.ico",
            "https://x.com:8x/favicon.ico",
        ] {
            let e = parse_targets(&GOOD.replace("https://x.com/favicon.ico", bad), "t.toml").unwrap_err().to_string();
            assert!(e.starts_with("t.toml:9: target \"x.main\" url"), "{bad}: {e}");
        }
        let e = parse_targets(&GOOD.replace("/v1/ping", "https://ctl.example;x"), "t.toml").unwrap_err().to_string();
        assert!(e.starts_with("t.toml:3: control url"), "{e}");
        for good in ["https://x.com:8443/a?b=c&d=%3B", "https://[2001:db8::1]/x", "https://a-b.example.org/x/y.png"] {
            assert!(parse_targets(&GOOD.replace("https://x.com/favicon.ico", good), "t.toml").is_ok(), "{good}");
        }
    }

    #[test]
    fn previous_ids_stay_known_for_one_change() {
        let mut known = KnownTargets::new(parse_targets(GOOD, "a").unwrap());
        known.replace(parse_targets(&GOOD.replace("x.main", "x.new"), "b").unwrap());
        assert_eq!(known.platform("x.main"), Some("x"));
        assert_eq!(known.platform("x.new"), Some("x"));
        known.replace(parse_targets(&GOOD.replace("x.main", "x.newer"), "c").unwrap());
        assert_eq!(known.platform("x.main"), None);
    }

    #[test]
    fn origins() {
        assert_eq!(origin_of("https://a.b:8443/x?y"), Some("https://a.b:8443"));
        assert_eq!(origin_of("https://a.b"), Some("https://a.b"));
        assert_eq!(origin_of("/v1/ping"), None);
        assert_eq!(origin_of("http://x.test:9000/fast"), Some("http://x.test:9000"));
        assert_eq!(origin_of("http://x.com/favicon.ico"), None, "plain http only for .test hosts");
        assert_eq!(origin_of("https://"), Some("https://"));
        assert!(!is_https_url("https://"));
    }
}
