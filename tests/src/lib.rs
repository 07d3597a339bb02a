//! Shared harness of the end-to-end tests: where the built components are, a
//! temporary data and plugin directory per test, a host over them, the `kri`
//! binary (with the set-up the tests share: tenants added through the CLI, JSON
//! output parsed, a run started in the background), and a small local HTTP server
//! for the cases okta-sim does not cover (huge responses, redirects, a token echo).
//!
//! The components and the binary come from `make build` (which `make test` runs
//! first); a test that cannot find them fails and says so.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use kri_host::{HostConfig, KriHost, NewTenant, RunOptions, RunOutcome, Token};
use okta_sim::{Org, OrgSpec, RateLimitConfig, SimConfig, SimServer};
use tokio::io::AsyncWriteExt;

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

fn built(rel: &str) -> PathBuf {
    let p = workspace().join(rel);
    assert!(
        p.exists(),
        "{} is missing: run `make build` (or `make test`, which builds first)",
        p.display()
    );
    p
}

/// A component built by `make build`, e.g. `plugins/okta.wasm` or `test-plugins/probe.wasm`.
pub fn component(rel: &str) -> PathBuf {
    built(&format!("target/{rel}"))
}

/// The `kri` binary built by `make build`.
pub fn kri_bin() -> PathBuf {
    built("target/release/kri")
}

/// The environment variable [`TestEnv::tenant_add`] passes a tenant's token in.
const TOKEN_ENV: &str = "KRI_TEST_TOKEN";

/// A temporary data directory and plugin directory.
pub struct TestEnv {
    pub dir: tempfile::TempDir,
}

impl TestEnv {
    /// A new environment whose plugin directory holds copies of `components`.
    pub fn new(components: &[&str]) -> TestEnv {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("plugins")).expect("plugins dir");
        let env = TestEnv { dir };
        for c in components {
            env.add_plugin(c);
        }
        env
    }

    pub fn add_plugin(&self, rel: &str) {
        let src = component(rel);
        let name = src.file_name().expect("file name").to_owned();
        std::fs::copy(&src, self.plugins_dir().join(name)).expect("copy component");
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn plugins_dir(&self) -> PathBuf {
        self.dir.path().join("plugins")
    }

    pub fn config(&self) -> HostConfig {
        let mut c = HostConfig::new(self.data_dir());
        c.plugins_dir = self.plugins_dir();
        c
    }

    pub async fn host(&self) -> KriHost {
        KriHost::open(self.config(), true).await.expect("open host")
    }

    /// Runs the `kri` binary against this environment.
    pub fn kri(&self, args: &[&str]) -> Output {
        self.kri_with_env(args, &[])
    }

    pub fn kri_with_env(&self, args: &[&str], envs: &[(&str, &str)]) -> Output {
        let mut cmd = self.kri_command(args);
        for (k, v) in envs {
            cmd.env(k, v);
        }
        cmd.output().expect("run kri")
    }

    /// The `kri` binary with `args` against this environment, not started yet.
    fn kri_command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(kri_bin());
        cmd.env("KRI_DATA_DIR", self.data_dir())
            .env("KRI_PLUGINS", self.plugins_dir())
            .env_remove("KRI_ENCRYPTION_KEY")
            .env_remove("KRI_DATABASE_URL")
            .env_remove("KRI_RUN_LEASE_MS")
            .args(args);
        cmd
    }

    /// Starts `kri run-connector CONNECTOR --tenant TENANT` in the background and
    /// returns it once `kri runs` shows its run as running (at most 30 s).
    pub fn spawn_run_until_running(&self, connector: &str, tenant: &str) -> Child {
        let mut child = self
            .kri_command(&["run-connector", connector, "--tenant", tenant])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn kri run-connector");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let runs = self.kri(&["runs", "--tenant", tenant, "--json"]);
            let v: serde_json::Value =
                serde_json::from_slice(&runs.stdout).unwrap_or(serde_json::Value::Null);
            if v[0]["status"] == "running" {
                break;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the run never started");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        child
    }

    /// Runs `kri tenant add ID --connector CONNECTOR --base-url BASE_URL` with `token`
    /// in an environment variable named by `--token-env`, then the `more` arguments
    /// (`--quota`, `--extra`, `--allow-insecure-local`).
    pub fn tenant_add(
        &self,
        id: &str,
        connector: &str,
        base_url: &str,
        token: &str,
        more: &[&str],
    ) -> Output {
        self.tenant_add_with_env(id, connector, base_url, token, more, &[])
    }

    /// [`TestEnv::tenant_add`] with more environment variables (`envs`).
    pub fn tenant_add_with_env(
        &self,
        id: &str,
        connector: &str,
        base_url: &str,
        token: &str,
        more: &[&str],
        envs: &[(&str, &str)],
    ) -> Output {
        let mut args = vec![
            "tenant",
            "add",
            id,
            "--connector",
            connector,
            "--base-url",
            base_url,
            "--token-env",
            TOKEN_ENV,
        ];
        args.extend_from_slice(more);
        let mut envs = envs.to_vec();
        envs.push((TOKEN_ENV, token));
        self.kri_with_env(&args, &envs)
    }

    /// [`TestEnv::tenant_add`], asserting that the tenant was added.
    pub fn add_tenant(
        &self,
        id: &str,
        connector: &str,
        base_url: &str,
        token: &str,
        more: &[&str],
    ) {
        let out = self.tenant_add(id, connector, base_url, token, more);
        assert!(out.status.success(), "tenant add {id}: {}", stderr(&out));
    }

    /// Adds the tenant `id` of the probe connector (`test-plugins/probe.wasm`) at
    /// `https://acme.example.com`, through `kri tenant add`.
    pub fn add_probe_tenant(&self, id: &str) {
        self.add_tenant(id, "probe", "https://acme.example.com", "tok-abcdef", &[]);
    }

    /// Runs the `kri` binary, asserts it succeeded and parses its standard output as
    /// JSON.
    pub fn kri_json(&self, args: &[&str]) -> serde_json::Value {
        let out = self.kri(args);
        assert!(out.status.success(), "kri {args:?}: {}", stderr(&out));
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("kri {args:?} printed no JSON ({e}): {}", stdout(&out)))
    }
}

/// okta-sim over the org generated from `seed` with `users` users and its clock at
/// `now_ms`, accepting `token`, with a full minute's rate-limit budget every second.
pub async fn start_okta_sim(seed: u64, users: usize, now_ms: i64, token: &str) -> SimServer {
    let org = Org::generate(&OrgSpec {
        seed,
        users,
        now_ms,
    });
    let config = SimConfig {
        token: token.into(),
        rate_limits: RateLimitConfig::scaled(1_000, 1.0),
        ..SimConfig::default()
    };
    SimServer::start(org, config, 0)
        .await
        .expect("start okta-sim")
}

/// Runs `job` of the Okta connector for `tenant` at `now_ms` and asserts that it
/// succeeded.
pub async fn run_okta_job(host: &KriHost, tenant: &str, job: &str, now_ms: i64) -> RunOutcome {
    let outcome = host
        .run(
            "okta",
            tenant,
            RunOptions {
                now_ms: Some(now_ms),
                progress: None,
                job: Some(job.into()),
            },
        )
        .await
        .expect("run starts");
    assert!(outcome.succeeded, "{tenant} {job}: {:?}", outcome.error);
    outcome
}

/// A tenant description with defaults for tests.
/// The Okta KRIs that read the System Log, and so can come from the stored stream.
pub const LOG_KRIS: [&str; 3] = [
    "okta_impossible_travel_24h",
    "okta_admin_session_outliers_24h",
    "okta_failed_mfa_push_24h",
];

/// A run's values of the [`LOG_KRIS`], by slug.
pub fn log_values(o: &RunOutcome) -> std::collections::BTreeMap<String, Option<f64>> {
    o.outputs
        .iter()
        .filter(|k| LOG_KRIS.contains(&k.slug.as_str()))
        .map(|k| (k.slug.clone(), k.value))
        .collect()
}

/// A run's note (empty when it has none).
pub fn run_note(o: &RunOutcome) -> String {
    o.stats.note.clone().unwrap_or_default()
}

pub fn tenant(id: &str, connector: &str, base_url: &str, extra: serde_json::Value) -> NewTenant {
    NewTenant {
        id: id.into(),
        connector: connector.into(),
        base_url: base_url.into(),
        kris: vec![],
        extra,
        allow_insecure_local: base_url.starts_with("http://"),
        quotas: Default::default(),
    }
}

pub fn token(s: &str) -> Token {
    Token::new(s).expect("token")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A local HTTP/1.1 server on 127.0.0.1 for edge cases. Routes:
/// - `/check`, `/api/v1/users...`: 200 `[]`
/// - `/echo-auth`: 200 with the request's Authorization header as the body
/// - `/redirect`: 302 to the cloud metadata address
/// - `/huge`: 200, chunked, 1 GiB of zeros (no Content-Length)
/// - `/huge-declared`: 200 with `Content-Length: 1073741824`
/// - `/items`: two items, and a `Link` to `/items?page=2`, which has a third
/// - `/slow`: 200 `[]` after 30 ms
/// - `/sleep/MS`: 200 `[]` after MS milliseconds (a long run)
/// - `/rate-limited`: 429 whose rate-limit window resets in an hour
///
/// Anything else: 404.
pub struct EdgeServer {
    pub base_url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for EdgeServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl EdgeServer {
    pub async fn start() -> EdgeServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(serve_edge(sock));
            }
        });
        EdgeServer {
            base_url: format!("http://{addr}"),
            task,
        }
    }
}

async fn serve_edge(sock: tokio::net::TcpStream) {
    let (read_half, mut sock) = sock.into_split();
    let mut reader = tokio::io::BufReader::new(read_half);
    loop {
        let mut buf = Vec::new();
        loop {
            let mut line = Vec::new();
            match tokio::io::AsyncBufReadExt::read_until(&mut reader, b'\n', &mut line).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            buf.extend_from_slice(&line);
            if line == b"\r\n" || buf.len() > 65536 {
                break;
            }
        }
        let head = String::from_utf8_lossy(&buf).to_string();
        let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
        let auth = head
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("authorization:"))
            .map(|l| {
                l.split_once(':')
                    .map(|x| x.1)
                    .unwrap_or("")
                    .trim()
                    .to_string()
            })
            .unwrap_or_default();
        let ok = |body: &str| {
            format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            )
        };
        let reply = if path == "/check" || path.starts_with("/api/v1/users") {
            ok("[]")
        } else if path == "/items" {
            let body = r#"[{"id":"i1","name":"one"},{"id":"i2","name":"two"}]"#;
            format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nlink: </items?page=2>; rel=\"next\"\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            )
        } else if path == "/items?page=2" {
            ok(r#"[{"id":"i3","name":"three"}]"#)
        } else if path == "/slow" {
            tokio::time::sleep(std::time::Duration::from_millis(30)).await;
            ok("[]")
        } else if let Some(ms) = path.strip_prefix("/sleep/") {
            let ms = ms.parse::<u64>().unwrap_or(0);
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
            ok("[]")
        } else if path == "/rate-limited" {
            let reset = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0)
                + 3600;
            format!(
                "HTTP/1.1 429 Too Many Requests\r\nx-rate-limit-limit: 600\r\n\
                 x-rate-limit-remaining: 0\r\nx-rate-limit-reset: {reset}\r\n\
                 content-length: 0\r\n\r\n"
            )
        } else if path == "/echo-auth" {
            ok(&format!("{{\"you sent\": \"{auth}\"}}"))
        } else if path == "/redirect" {
            "HTTP/1.1 302 Found\r\nlocation: http://169.254.169.254/latest/meta-data/\r\ncontent-length: 0\r\n\r\n".to_string()
        } else if path == "/huge-declared" {
            "HTTP/1.1 200 OK\r\ncontent-length: 1073741824\r\n\r\n".to_string()
        } else if path == "/huge" {
            let _ = sock
                .write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
                .await;
            let chunk = vec![0u8; 1 << 20];
            let header = format!("{:x}\r\n", chunk.len());
            for _ in 0..1024 {
                if sock.write_all(header.as_bytes()).await.is_err()
                    || sock.write_all(&chunk).await.is_err()
                    || sock.write_all(b"\r\n").await.is_err()
                {
                    return;
                }
            }
            let _ = sock.write_all(b"0\r\n\r\n").await;
            continue;
        } else {
            "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n".to_string()
        };
        if sock.write_all(reply.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// A running `kri serve` child process: its address, and its stderr collected.
/// Dropping it kills the process.
pub struct ServeProcess {
    child: Child,
    addr: std::net::SocketAddr,
    log: std::sync::Arc<std::sync::Mutex<String>>,
}

impl ServeProcess {
    /// Spawns `cmd` (a `kri serve --listen 127.0.0.1:0 …` command; its stdout is
    /// discarded and its stderr read here) and waits until it says where it listens.
    /// `watch` sees every line of stderr as it comes. Errs when it does not listen
    /// within `within`, with its stderr so far.
    pub fn spawn(
        mut cmd: Command,
        within: Duration,
        mut watch: impl FnMut(&str) + Send + 'static,
    ) -> Result<ServeProcess, String> {
        use std::io::BufRead;
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("spawn kri serve: {e}"))?;
        let Some(stderr) = child.stderr.take() else {
            let _ = child.kill();
            return Err("kri serve has no stderr".into());
        };
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                if let Some(addr) = line.split("listening on http://").nth(1) {
                    let _ = tx.send(addr.trim().to_string());
                }
                watch(&line);
                let mut log = sink.lock().unwrap_or_else(|p| p.into_inner());
                log.push_str(&line);
                log.push('\n');
            }
        });
        match rx.recv_timeout(within).ok().and_then(|a| a.parse().ok()) {
            Some(addr) => Ok(ServeProcess { child, addr, log }),
            None => {
                let _ = child.kill();
                let _ = child.wait();
                let log = log.lock().unwrap_or_else(|p| p.into_inner());
                Err(format!("kri serve did not start: {log}"))
            }
        }
    }

    /// The URL of `path` on this server.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its stderr so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Sends SIGTERM and waits for the exit (at most `within`).
    pub fn terminate(&mut self, within: Duration) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status();
        assert!(sent.map(|s| s.success()).unwrap_or(false), "kill -TERM");
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "kri serve did not stop within {within:?}: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends SIGKILL and reaps the process.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Its peak resident memory so far, in KiB (0 when /proc does not say).
    pub fn peak_rss_kib(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmHWM"))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            })
            .unwrap_or(0)
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
