//! Query-string parameters of the read API: each rule lives here, and a broken one is a 400
//! that names the parameter (`{"error":"invalid_parameter","parameter":"from",...}`).

use crate::error::AppError;
use crate::store::rfc3339;
use vantage_protocol::{Country, Platform};

/// Decoded `name=value` pairs of one request.
pub(crate) struct Params(Vec<(String, String)>);

impl Params {
    /// Decodes a raw query string (absent = no parameters).
    pub(crate) fn parse(raw: Option<&str>) -> Params {
        Params(form_urlencoded::parse(raw.unwrap_or("").as_bytes()).into_owned().collect())
    }

    /// The first value of `name`; an empty value counts as absent.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
    }

    fn required<'a>(&'a self, name: &'static str) -> Result<&'a str, AppError> {
        self.get(name).ok_or_else(|| AppError::param(name, format!("{name} is required")))
    }

    /// An ISO country code (`pk` reads as `PK`).
    pub(crate) fn country(&self, name: &'static str) -> Result<Option<Country>, AppError> {
        self.get(name)
            .map(|v| match Country::from_any_case(v) {
                Ok(c) => Ok(c),
                Err(_) => Err(AppError::param(name, "must be a two-letter ISO 3166-1 country code")),
            })
            .transpose()
    }

    /// A required country code.
    pub(crate) fn required_country(&self, name: &'static str) -> Result<Country, AppError> {
        self.required(name)?;
        Ok(self.country(name)?.expect("present"))
    }

    /// A platform name (the target-id alphabet).
    pub(crate) fn platform(&self, name: &'static str) -> Result<Option<Platform>, AppError> {
        self.get(name)
            .map(|v| match Platform::try_from(v) {
                Ok(p) => Ok(p),
                Err(e) => Err(AppError::param(name, e.to_string())),
            })
            .transpose()
    }

    /// A required platform name.
    pub(crate) fn required_platform(&self, name: &'static str) -> Result<Platform, AppError> {
        self.required(name)?;
        Ok(self.platform(name)?.expect("present"))
    }

    /// An AS number.
    pub(crate) fn asn(&self, name: &'static str) -> Result<Option<u32>, AppError> {
        self.get(name).map(|v| v.parse::<u32>().map_err(|_| AppError::param(name, "must be an AS number (0 to 4294967295)"))).transpose()
    }

    /// An RFC 3339 time, as unix seconds.
    pub(crate) fn time(&self, name: &'static str) -> Result<Option<i64>, AppError> {
        self.get(name)
            .map(|v| rfc3339::parse(v).map_err(|_| AppError::param(name, "must be an RFC 3339 time, e.g. 2026-11-28T18:00:00Z")))
            .transpose()
    }

    /// `true` or `false`.
    pub(crate) fn flag(&self, name: &'static str) -> Result<bool, AppError> {
        match self.get(name) {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(_) => Err(AppError::param(name, "must be true or false")),
        }
    }

    /// An integer in `lo..=hi`, `default` when absent.
    pub(crate) fn int(&self, name: &'static str, lo: i64, hi: i64, default: i64) -> Result<i64, AppError> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => v
                .parse::<i64>()
                .ok()
                .filter(|n| (lo..=hi).contains(n))
                .ok_or_else(|| AppError::param(name, format!("must be an integer from {lo} to {hi}"))),
        }
    }

    /// A series step in seconds, one of `publish::STEPS_MIN` (default 60), as minutes. The steps
    /// form a chain (each divides the next) so that buckets of every step nest.
    pub(crate) fn step(&self, name: &'static str) -> Result<i64, AppError> {
        let allowed = crate::store::publish::STEPS_MIN.map(|m| m * 60);
        match self.get(name) {
            None => Ok(1),
            Some(v) => match v.parse::<i64>() {
                Ok(s) if allowed.contains(&s) => Ok(s / 60),
                _ => Err(AppError::param(name, "must be one of 60, 300, 900, 3600 or 86400 (seconds)")),
            },
        }
    }

    /// A comma-separated list of platform names.
    pub(crate) fn platforms(&self, name: &'static str) -> Result<Vec<String>, AppError> {
        let Some(v) = self.get(name) else { return Ok(Vec::new()) };
        let list: Vec<String> = v.split(',').map(str::to_string).collect();
        if list.len() > 16 || !list.iter().all(|p| Platform::try_from(p.as_str()).is_ok()) {
            return Err(AppError::param(name, "must be up to 16 comma-separated platform names"));
        }
        Ok(list)
    }

    /// A BCP 47-ish language tag such as `ur` or `pt-BR`.
    pub(crate) fn lang(&self, name: &'static str) -> Result<Option<String>, AppError> {
        self.get(name)
            .map(|v| {
                let mut parts = v.split('-');
                let primary = parts.next().unwrap_or("");
                let ok_primary = (2..=3).contains(&primary.len()) && primary.bytes().all(|b| b.is_ascii_lowercase());
                let ok_rest = parts.all(|p| (2..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()));
                match ok_primary && ok_rest && v.len() <= 35 {
                    true => Ok(v.to_string()),
                    false => Err(AppError::param(name, "must be a language tag such as ur or pt-BR")),
                }
            })
            .transpose()
    }
}

/// A `[from, to)` range in unix minutes from `from`/`to` (default: the last `default_s`),
/// at most `max_s` long.
pub(crate) fn range(p: &Params, now_s: i64, default_s: i64, max_s: i64) -> Result<(i64, i64), AppError> {
    let to = p.time("to")?.unwrap_or(now_s);
    let from = p.time("from")?.unwrap_or(to - default_s);
    if to <= from {
        return Err(AppError::param("to", "must be after from"));
    }
    if to - from > max_s {
        return Err(AppError::param("from", format!("the range may span at most {} days", max_s / 86_400)));
    }
    Ok((from.div_euclid(60), (to + 59).div_euclid(60)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        let p = Params::parse(Some("country=pk&asn=x&platform=X%20Y&open=yes&lang=ur&from=2026-11-28T18:00:00Z"));
        assert_eq!(p.country("country").unwrap().map(|c| c.to_string()).as_deref(), Some("PK"));
        assert!(matches!(p.asn("asn"), Err(AppError::InvalidParameter { parameter: "asn", .. })));
        assert!(p.platform("platform").is_err());
        // A platform name has no dot (that is a target id), as in the target list.
        let dotted = Params::parse(Some("platform=x.main&platforms=x,youtube.v"));
        assert!(matches!(dotted.platform("platform"), Err(AppError::InvalidParameter { parameter: "platform", .. })));
        assert!(dotted.platforms("platforms").is_err());
        assert!(Params::parse(Some("country=p1")).country("country").is_err());
        assert!(p.flag("open").is_err());
        assert_eq!(p.lang("lang").unwrap().as_deref(), Some("ur"));
        assert!(matches!(range(&p, 0, 60, 3600), Err(AppError::InvalidParameter { parameter: "to", .. })));
        assert_eq!(Params::parse(Some("step=900")).step("step").unwrap(), 15);
        assert_eq!(Params::parse(None).step("step").unwrap(), 1);
        for bad in ["120", "90", "0", "86401", "x"] {
            assert!(Params::parse(Some(&format!("step={bad}"))).step("step").is_err(), "{bad}");
        }
    }
}
