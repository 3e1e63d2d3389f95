//! MaxMind test database writer (owned by the collector work). Placeholder until written.
pub fn write_test_databases(_dir: &std::path::Path) -> Result<(), String> {
    Err("mmdb writer not written yet".into())
}
