//! Attacks on the published claims (issue 9), each run against the real router or binary.
//!
//! Every test here failed on the code before the defence it names, and passes after it. The
//! threat model they exercise is `docs/threat-model.md`.

mod detection;
mod edge;
mod events;
mod publication;
