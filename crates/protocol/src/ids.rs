//! Validating newtypes for the names the wire carries: one rule for each, checked on construction.
//!
//! A value of one of these types is valid by construction, so code that holds one never checks
//! again, and every crate that accepts a country, platform, site key or report id (wire, import,
//! API parameters, CLI flags, target lists) applies the same rule. The callers keep their own error
//! words (the API and the CLI phrase them for their readers); the rule lives here alone.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

/// Why a string is not a valid value of one of this module's types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdError {
    /// Not two upper-case ASCII letters.
    Country,
    /// Not 1 to 64 of `[a-z0-9_-]`.
    Platform,
    /// Not 1 to 64 of `[a-z0-9._-]`.
    TargetId,
    /// Not 1 to 64 of `[a-z0-9_-]`.
    SiteKey,
    /// Not 32 lower-case hex characters.
    ReportId,
}

impl fmt::Display for IdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IdError::Country => "must be two upper-case letters (ZZ unknown)",
            IdError::Platform => "must be 1 to 64 of [a-z0-9_-]",
            IdError::TargetId => "must be 1 to 64 of [a-z0-9._-]",
            IdError::SiteKey => "must be 1 to 64 characters of [a-z0-9_-]",
            IdError::ReportId => "must be 32 lowercase hex characters",
        })
    }
}

impl std::error::Error for IdError {}

/// Longest platform name, target id or site key.
pub const MAX_NAME_LEN: usize = 64;

/// Whether `s` is 1 to [`MAX_NAME_LEN`] bytes, each lower-case ASCII, a digit or in `extra`.
fn is_name(s: &str, extra: &[u8]) -> bool {
    !s.is_empty() && s.len() <= MAX_NAME_LEN && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || extra.contains(&b))
}

/// Whether `id` is a valid target id: 1..=64 of `[a-z0-9._-]`.
pub fn is_valid_target_id(id: &str) -> bool {
    is_name(id, b"._-")
}

/// The string conversions and serde impls every type here shares: all go through `TryFrom<&str>`.
macro_rules! string_newtype {
    ($t:ident) => {
        impl $t {
            /// The value as the wire writes it.
            pub fn as_str(&self) -> &str {
                self.as_ref()
            }
        }
        impl FromStr for $t {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                $t::try_from(s)
            }
        }
        impl TryFrom<String> for $t {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                $t::try_from(s.as_str())
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl PartialEq<str> for $t {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
                $t::try_from(&*s).map_err(serde::de::Error::custom)
            }
        }
    };
}

/// An ISO 3166-1 alpha-2 country code in upper case (`ZZ` for unknown), as rollups and exports
/// carry it. Two bytes, so it is `Copy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Country([u8; 2]);

impl Country {
    /// The code for a reader whose country is not known.
    pub const UNKNOWN: Country = Country(*b"ZZ");

    /// A code given in either case, as people type it (`pk` is `PK`): API parameters, CLI flags and
    /// a proxy's country header.
    pub fn from_any_case(s: &str) -> Result<Country, IdError> {
        // Without an upper-cased copy: ingest reads one for every report (a CDN header).
        match s.as_bytes() {
            &[a, b] => {
                Country::try_from(std::str::from_utf8(&[a.to_ascii_uppercase(), b.to_ascii_uppercase()]).map_err(|_| IdError::Country)?)
            }
            _ => Err(IdError::Country),
        }
    }
}

impl TryFrom<&str> for Country {
    type Error = IdError;
    fn try_from(s: &str) -> Result<Country, IdError> {
        match s.as_bytes() {
            &[a, b] if a.is_ascii_uppercase() && b.is_ascii_uppercase() => Ok(Country([a, b])),
            _ => Err(IdError::Country),
        }
    }
}

impl AsRef<str> for Country {
    fn as_ref(&self) -> &str {
        std::str::from_utf8(&self.0).expect("checked ASCII on construction")
    }
}

string_newtype!(Country);

/// Defines a name type held as a shared string (cheap to clone) and checked by `$valid`.
macro_rules! shared_name {
    ($(#[$doc:meta])* $t:ident, $valid:expr, $err:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $t(Arc<str>);

        impl TryFrom<&str> for $t {
            type Error = IdError;
            fn try_from(s: &str) -> Result<$t, IdError> {
                let valid: fn(&str) -> bool = $valid;
                if valid(s) { Ok($t(Arc::from(s))) } else { Err($err) }
            }
        }

        impl AsRef<str> for $t {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        string_newtype!($t);
    };
}

shared_name!(
    /// A platform name (`x`, `youtube`): 1 to 64 of `[a-z0-9_-]`. No dot, so a target id such as
    /// `x.video` can never be mistaken for a platform.
    Platform,
    |s| is_name(s, b"_-"),
    IdError::Platform
);

shared_name!(
    /// A target id from the target list: 1 to 64 of `[a-z0-9._-]`.
    TargetId,
    is_valid_target_id,
    IdError::TargetId
);

shared_name!(
    /// The embedding site's key (`data-site`): 1 to 64 of `[a-z0-9_-]`.
    SiteKey,
    |s| is_name(s, b"_-"),
    IdError::SiteKey
);

/// A report's idempotency key: 32 lower-case hex characters. Held inline, so it is `Copy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReportId([u8; 32]);

impl TryFrom<&str> for ReportId {
    type Error = IdError;
    fn try_from(s: &str) -> Result<ReportId, IdError> {
        let hex = |b: &u8| b.is_ascii_digit() || (b'a'..=b'f').contains(b);
        match <[u8; 32]>::try_from(s.as_bytes()) {
            Ok(bytes) if bytes.iter().all(hex) => Ok(ReportId(bytes)),
            _ => Err(IdError::ReportId),
        }
    }
}

impl AsRef<str> for ReportId {
    fn as_ref(&self) -> &str {
        std::str::from_utf8(&self.0).expect("checked ASCII on construction")
    }
}

string_newtype!(ReportId);

#[cfg(test)]
mod tests {
    use super::*;

    /// Read without an upper-cased copy, a code in either case is what the copy read: on every
    /// kind of input a CDN header or a geo database can hold.
    #[test]
    fn a_code_in_either_case_reads_as_its_upper_case_copy() {
        for s in ["PK", "pk", "Pk", "ZZ", "XX", "P", "PAK", "", "p1", "é", "ÿÿ", "P\u{0}", " PK"] {
            assert_eq!(Country::from_any_case(s).ok(), Country::try_from(s.to_ascii_uppercase().as_str()).ok(), "{s:?}");
        }
    }

    #[test]
    fn country_is_two_upper_case_letters() {
        assert_eq!(Country::try_from("PK").unwrap().as_str(), "PK");
        for bad in ["pk", "Pk", "P", "PAK", "", "P1", "ÄÖ"] {
            assert_eq!(Country::try_from(bad), Err(IdError::Country), "{bad:?}");
        }
        assert_eq!(Country::from_any_case("pk").unwrap().as_str(), "PK");
        assert_eq!(Country::from_any_case("p1"), Err(IdError::Country));
        assert_eq!(Country::UNKNOWN.to_string(), "ZZ");
    }

    #[test]
    fn platform_has_no_dot_and_target_id_may() {
        assert!(Platform::try_from("youtube").is_ok());
        assert_eq!(Platform::try_from("x.video"), Err(IdError::Platform));
        assert_eq!(TargetId::try_from("x.video").unwrap().as_str(), "x.video");
        for bad in ["", "X", "a b", &"a".repeat(65)] {
            assert!(Platform::try_from(bad).is_err() && TargetId::try_from(bad).is_err(), "{bad:?}");
        }
        assert!(TargetId::try_from("a".repeat(64).as_str()).is_ok());
    }

    #[test]
    fn site_key_is_the_wire_alphabet() {
        assert!(SiteKey::try_from("dawn-news_1").is_ok());
        for bad in ["", "Dawn", "dawn.com", "dawn news", &"a".repeat(65)] {
            assert_eq!(SiteKey::try_from(bad), Err(IdError::SiteKey), "{bad:?}");
        }
    }

    #[test]
    fn report_id_is_32_lower_case_hex() {
        let id = "0123456789abcdef0123456789abcdef";
        assert_eq!(ReportId::try_from(id).unwrap().as_str(), id);
        for bad in [id[1..].to_string(), id.to_uppercase(), format!("{id}0"), id.replace('0', "g")] {
            assert_eq!(ReportId::try_from(bad.as_str()), Err(IdError::ReportId), "{bad:?}");
        }
    }

    #[cfg(feature = "json")]
    #[test]
    fn deserializing_goes_through_the_check() {
        assert_eq!(serde_json::from_str::<Country>("\"PK\"").unwrap().as_str(), "PK");
        let err = serde_json::from_str::<Country>("\"pk\"").unwrap_err().to_string();
        assert!(err.contains("two upper-case letters"), "{err}");
        assert!(serde_json::from_str::<ReportId>("\"abc\"").is_err());
        assert_eq!(serde_json::to_string(&SiteKey::try_from("dawn").unwrap()).unwrap(), "\"dawn\"");
    }
}
