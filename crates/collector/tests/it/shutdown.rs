//! Graceful shutdown: in-process with `run`, and the real binary on SIGTERM.

use crate::common::*;
use std::io::{BufRead, BufReader};
use std::process::Stdio;

#[tokio::test]
async fn shutdown_flushes_every_acknowledged_report() {
    let t = TestDir::new();
    let server = Server::start(t.config()).await;
    let url = server.url("/v1/reports");
    let sends: Vec<_> = (0..40)
        .map(|n| {
            let url = url.clone();
            tokio::spawn(async move {
                client().post(url).header("content-type", "text/plain").body(report(&id(500 + n))).send().await.unwrap().status()
            })
        })
        .collect();
    let mut accepted = 0;
    for s in sends {
        if s.await.unwrap() == 202 {
            accepted += 1;
        }
    }
    server.stop().await;
    assert_eq!(accepted, 40);
    assert_eq!(rows(&t.db(), ""), 80);
}

#[tokio::test]
async fn binary_prints_its_address_and_exits_0_on_sigterm() {
    let t = TestDir::new();
    let mut child = vantage()
        .args(["serve", "--listen", "127.0.0.1:0", "--store"])
        .arg(format!("sqlite:{}", t.db().display()))
        .arg("--www")
        .arg(t.path().join("www"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let addr = line.trim().strip_prefix("vantage listening on http://").unwrap_or_else(|| panic!("{line:?}")).to_string();
    assert!(!addr.ends_with(":0"), "the real port is printed: {addr}");
    let res = client()
        .post(format!("http://{addr}/v1/reports"))
        .header("content-type", "text/plain;charset=UTF-8")
        .body(report(&id(900)))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    let status = std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let exit = tokio::task::spawn_blocking(move || child.wait().unwrap()).await.unwrap();
    assert!(exit.success(), "{exit:?}");
    assert_eq!(rows(&t.db(), ""), 2);
}
