//! Fixture server (owned by the widget work). Placeholder until written.
pub async fn run(_listener: tokio::net::TcpListener) {
    unimplemented!("fixtures::run")
}
