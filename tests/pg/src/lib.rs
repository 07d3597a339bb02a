//! A throwaway PostgreSQL server for tests.
//!
//! [`TestPostgres::start`] finds Debian's PostgreSQL binaries
//! (`/usr/lib/postgresql/<version>/bin`, else `initdb` on the PATH), creates a
//! cluster in a temporary directory, and starts it listening on a free loopback
//! port (its unix socket stays in the cluster directory). PostgreSQL refuses to run
//! as root, so under root the directory is handed to the unprivileged `postgres`
//! user (Debian's package creates it) and the binaries run as that user. Dropping
//! the value stops the server and removes the directory.
//!
//! PostgreSQL is a real dependency of the tests (`make setup` installs it): when it
//! is missing, [`TestPostgres::start`] panics with what to install, it never skips.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The unprivileged user that runs the server when the tests run as root.
const SERVER_USER: &str = "postgres";

/// A running throwaway PostgreSQL server.
pub struct TestPostgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    as_user: Option<String>,
}

/// The directory of the newest installed PostgreSQL's binaries.
fn find_binaries() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(PathBuf::from)
        .find(|dir| dir.join("initdb").exists() && dir.join("pg_ctl").exists())
}

/// A loopback port nothing listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

impl TestPostgres {
    /// Creates and starts a fresh cluster. Panics, saying what to do, when
    /// PostgreSQL is not installed or does not start.
    pub fn start() -> TestPostgres {
        let bin = find_binaries().unwrap_or_else(|| {
            panic!(
                "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb, no initdb on the PATH): \
                 run `make setup`, which runs `apt-get install -y postgresql`"
            )
        });
        let dir = tempfile::Builder::new()
            .prefix("kri-pg-")
            .tempdir()
            .expect("a temporary directory for the cluster");
        let as_user = is_root().then(|| SERVER_USER.to_string());
        if let Some(user) = &as_user {
            let chown = Command::new("chown")
                .args(["-R", user])
                .arg(dir.path())
                .output()
                .expect("run chown");
            assert!(
                chown.status.success(),
                "cannot hand {} to the `{user}` user that runs PostgreSQL under root \
                 (Debian's postgresql package creates it): {}",
                dir.path().display(),
                String::from_utf8_lossy(&chown.stderr)
            );
        }
        let mut pg = TestPostgres {
            dir,
            bin,
            port: 0,
            as_user,
        };
        let data = pg.data_dir();
        let init = pg.run(
            "initdb",
            &[
                "-D",
                path_str(&data),
                "--auth=trust",
                "--no-locale",
                "--encoding=UTF8",
                "--username=postgres",
                "--no-sync",
            ],
        );
        assert!(init.status.success(), "initdb failed: {}", show(&init));
        // A port chosen free may be taken by the time the server binds it: try a few.
        for _ in 0..5 {
            pg.port = free_port();
            let options = format!(
                "-c listen_addresses=127.0.0.1 -c port={} -c unix_socket_directories={} \
                 -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
                 -c max_connections=200 -c shared_buffers=32MB",
                pg.port,
                path_str(&data)
            );
            let log = data.join("server.log");
            let start = pg.run(
                "pg_ctl",
                &[
                    "-D",
                    path_str(&data),
                    "-l",
                    path_str(&log),
                    "-o",
                    &options,
                    "-w",
                    "-t",
                    "60",
                    "start",
                ],
            );
            if start.status.success() {
                return pg;
            }
            let server_log = std::fs::read_to_string(&log).unwrap_or_default();
            if !server_log.contains("could not bind") {
                panic!("PostgreSQL did not start: {}\n{server_log}", show(&start));
            }
        }
        panic!("PostgreSQL found no free loopback port in 5 tries");
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Runs one of the server's binaries, as the server's user under root.
    fn run(&self, program: &str, args: &[&str]) -> Output {
        let exe = self.bin.join(program);
        let mut cmd = match &self.as_user {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&exe);
                c
            }
            None => Command::new(&exe),
        };
        cmd.args(args)
            .current_dir(self.dir.path())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", exe.display()))
    }

    /// The loopback port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of database `name` (see [`TestPostgres::create_database`]).
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// Creates an empty database and returns its URL.
    pub fn create_database(&self, name: &str) -> String {
        let port = self.port.to_string();
        let out = self.run(
            "createdb",
            &["-h", "127.0.0.1", "-p", &port, "-U", "postgres", name],
        );
        assert!(out.status.success(), "createdb {name}: {}", show(&out));
        self.url(name)
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        let data = self.data_dir();
        // Immediate: a test's leftover connections do not hold the teardown up.
        let _ = self.run(
            "pg_ctl",
            &["-D", path_str(&data), "-m", "immediate", "-w", "stop"],
        );
    }
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("temporary paths are UTF-8")
}

fn show(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
