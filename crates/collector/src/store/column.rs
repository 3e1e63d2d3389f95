//! Checked values out of SQLite text columns: a stored country, platform, target, site, outcome
//! or report id passes the same check as one from the wire, so a corrupt row is an error that
//! names its column, never a panic and never a value no other path could produce.

use rusqlite::types::Type;
use rusqlite::Row;
use vantage_protocol::{Country, IdError, Outcome, Platform, ReportId, SiteKey, TargetId};

/// A text column whose value failed its type's check.
#[derive(Debug, thiserror::Error)]
#[error("column {column} holds {value:?}, which {reason}")]
pub(super) struct CorruptColumn {
    /// The column's name in the query, so an operator knows what to repair.
    pub column: String,
    /// The value read (at most 80 characters of it).
    pub value: String,
    /// The rule it broke.
    pub reason: BrokenRule,
}

/// The rule a stored text broke: its type's own check, or (for an outcome) not being one of the
/// wire's outcomes.
#[derive(Debug, thiserror::Error)]
pub(super) enum BrokenRule {
    /// A domain type's check, whose message is the rule.
    #[error(transparent)]
    Id(#[from] IdError),
    /// Not an outcome of the wire.
    #[error("is not an outcome")]
    NotAnOutcome,
    /// Not packed measurements of the raw format (`sqlite_raw`): the fault says where.
    #[error("is not packed measurements: {0}")]
    NotPacked(String),
}

/// A domain type the store keeps as text.
pub(super) trait Checked: Sized {
    /// The value `s` stands for, or the rule it breaks.
    fn check(s: &str) -> Result<Self, BrokenRule>;
}

macro_rules! checked_by_try_from {
    ($($t:ty),*) => {$(
        impl Checked for $t {
            fn check(s: &str) -> Result<Self, BrokenRule> {
                Ok(<$t>::try_from(s)?)
            }
        }
    )*};
}

checked_by_try_from!(Country, Platform, TargetId, SiteKey, ReportId);

impl Checked for Outcome {
    fn check(s: &str) -> Result<Self, BrokenRule> {
        Outcome::from_wire(s).ok_or(BrokenRule::NotAnOutcome)
    }
}

/// Column `idx` of `r` through `T`'s check, borrowed (no copy of the text before the check).
pub(super) fn get<T: Checked>(r: &Row<'_>, idx: usize) -> rusqlite::Result<T> {
    let conversion = |e: Box<dyn std::error::Error + Send + Sync>| rusqlite::Error::FromSqlConversionFailure(idx, Type::Text, e);
    let s = r.get_ref(idx)?.as_str().map_err(|e| conversion(Box::new(e)))?;
    T::check(s).map_err(|reason| corrupt(r, idx, s, reason))
}

/// The conversion error of column `idx` of `r` holding `value`, which breaks `reason`: what
/// `StoreError::read` turns into `StoreError::Corrupt` naming the column.
pub(super) fn corrupt(r: &Row<'_>, idx: usize, value: &str, reason: BrokenRule) -> rusqlite::Error {
    let column = r.as_ref().column_name(idx).unwrap_or("?").to_string();
    rusqlite::Error::FromSqlConversionFailure(
        idx,
        Type::Text,
        Box::new(CorruptColumn { column, value: value.chars().take(80).collect(), reason }),
    )
}
