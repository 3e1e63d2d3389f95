//! Decoded database records by their offset: a MaxMind file points many networks at one record
//! (every network of a country at the same country record), so a report's lookup decodes a
//! record only the first time its offset comes up. Decoding was most of a lookup's cost (a
//! GeoLite2-Country record holds names in eight languages, skipped field by field each time);
//! the tree walk that finds the offset is still done for every address, so the answer is always
//! the database's own for that address.

use std::sync::atomic::{AtomicU64, Ordering};

/// Slots of the table: a power of two. Country files have a few hundred records, ASN files tens
/// of thousands, of which Zipf-like traffic keeps the busy ones; 32 KiB a database.
const SLOTS: usize = 4096;

/// A direct-mapped table from a record's offset to its value packed in 32 bits, shared by the
/// runtime threads without a lock: each slot is one atomic word holding `offset + 1` (0: empty)
/// and the value, so a reader sees a whole entry or another one, never a mix.
pub(super) struct Memo {
    /// `(offset + 1) << 32 | value`, or 0.
    slots: Box<[AtomicU64]>,
}

impl Memo {
    /// An empty table.
    pub(super) fn new() -> Memo {
        Memo { slots: (0..SLOTS).map(|_| AtomicU64::new(0)).collect() }
    }

    /// The value of the record at `offset`: memoized, or `decode`d now and memoized. An offset
    /// past 4 GiB (no such database exists) is decoded every time.
    pub(super) fn get(&self, offset: usize, decode: impl FnOnce() -> u32) -> u32 {
        let Some(key) = u32::try_from(offset).ok().and_then(|o| o.checked_add(1)) else { return decode() };
        let slot = &self.slots[(u64::from(key).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - SLOTS.trailing_zeros())) as usize];
        let entry = slot.load(Ordering::Relaxed);
        if (entry >> 32) as u32 == key {
            return entry as u32;
        }
        let value = decode();
        slot.store(u64::from(key) << 32 | u64::from(value), Ordering::Relaxed);
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_decoded_once_and_every_offset_keeps_its_own_value() {
        let memo = Memo::new();
        let mut decoded = 0;
        let value = |offset: usize| offset as u32 * 3 + 1;
        for _ in 0..3 {
            assert_eq!(
                memo.get(40, || {
                    decoded += 1;
                    value(40)
                }),
                value(40)
            );
        }
        assert_eq!(decoded, 1);
        // Far more offsets than slots: every one still answers its own value.
        for round in 0..2 {
            for offset in 0..3 * SLOTS {
                assert_eq!(memo.get(offset, || value(offset)), value(offset), "round {round}");
            }
        }
        assert_eq!(memo.get(usize::MAX, || 9), 9, "an offset past u32 is decoded, not memoized");
    }
}
