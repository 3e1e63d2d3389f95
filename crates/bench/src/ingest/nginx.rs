//! The nginx baseline: Debian's nginx (package `nginx-light`, installed by scripts/setup.sh)
//! started by the harness with its own generated configuration on a loopback port, never the
//! system service. It reads each request body (`echo_read_request_body`, the echo module that
//! ships with nginx-light; plain `return 202`, which discards the body unread into memory, when
//! the module is missing) and answers a constant 202: what the fastest possible ingest server
//! costs on this machine, fed the same wrk script.

use anyhow::Context;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where Debian puts the echo module.
const ECHO_MODULE: &str = "/usr/lib/nginx/modules/ngx_http_echo_module.so";

/// A running nginx of the harness; stopped (and its files removed with the temp dir) on drop.
pub(crate) struct Nginx {
    /// The master process.
    child: Child,
    /// Loopback port it listens on.
    pub port: u16,
    /// Whether it reads the body into memory (echo module) or only discards it.
    pub reads_body: bool,
}

fn binary() -> Option<PathBuf> {
    ["/usr/sbin/nginx", "/usr/bin/nginx"].iter().map(PathBuf::from).find(|p| p.is_file())
}

/// The configuration: one worker per core, no logs, keep-alive as wrk uses it.
fn config(dir: &Path, port: u16, reads_body: bool) -> String {
    let d = dir.display();
    let (load, body) = if reads_body {
        (
            format!("load_module {ECHO_MODULE};"),
            "echo_read_request_body;\n      echo_status 202;\n      default_type application/json;\n      echo -n '{\"accepted\":true}';",
        )
    } else {
        (String::new(), "default_type application/json;\n      return 202 '{\"accepted\":true}';")
    };
    format!(
        r#"{load}
worker_processes auto;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path {d}/body;
  proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fastcgi;
  uwsgi_temp_path {d}/uwsgi;
  scgi_temp_path {d}/scgi;
  client_body_buffer_size 64k;
  server {{
    listen 127.0.0.1:{port};
    location / {{
      {body}
    }}
  }}
}}
"#
    )
}

impl Nginx {
    /// Starts nginx under `dir` on a free loopback port and waits until it answers.
    pub(crate) fn start(dir: &Path) -> anyhow::Result<Nginx> {
        let bin = binary().context("nginx is not installed (Debian package nginx-light; ./build.sh setup installs it)")?;
        std::fs::create_dir_all(dir)?;
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr())?.port();
        let reads_body = Path::new(ECHO_MODULE).is_file();
        let conf = dir.join("nginx.conf");
        std::fs::write(&conf, config(dir, port, reads_body))?;
        let child = Command::new(bin)
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("stderr"))?)
            .spawn()
            .context("cannot start nginx")?;
        let mut nginx = Nginx { child, port, reads_body };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = nginx.child.try_wait() {
                let err = std::fs::read_to_string(dir.join("stderr")).unwrap_or_default();
                anyhow::bail!("nginx exited {status}: {err}");
            }
            if Instant::now() > deadline {
                anyhow::bail!("nginx did not listen within 10 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(nginx)
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM is nginx's fast shutdown: the master stops its workers, then exits; nothing
        // here needs the graceful one. SIGKILL only if it hangs.
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
