//! Incident events that must survive store failures.
