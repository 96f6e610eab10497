//! A PostgreSQL cluster of the test's own: `initdb` into a temporary directory (trust
//! authentication, user `postgres`, no fsync: a test server), `pg_ctl` on a free port,
//! stopped (immediate) and removed on drop. PostgreSQL refuses to run as root, so as
//! root the cluster belongs to the `postgres` user.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::{free_port, port_open, running_as_root, temp_dir, wait_until};

/// A private PostgreSQL server.
pub struct PrivatePostgres {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    as_postgres_user: bool,
}

/// The newest installed server's binaries (`/usr/lib/postgresql/<version>/bin`).
fn server_binaries() -> PathBuf {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is installed under /usr/lib/postgresql")
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version = entry.file_name().to_string_lossy().parse::<u32>().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .filter(|(_, bin)| bin.join("initdb").exists())
        .collect();
    versions.sort();
    versions
        .pop()
        .expect("an initdb under /usr/lib/postgresql")
        .1
}

impl PrivatePostgres {
    /// Creates a cluster and starts it.
    pub async fn start() -> Self {
        let dir = temp_dir("talkapp-postgres");
        let as_postgres_user = running_as_root();
        let server = Self {
            bin: server_binaries(),
            port: free_port(),
            as_postgres_user,
            dir,
        };
        if as_postgres_user {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&server.dir)
                .status()
                .expect("chown runs");
            assert!(status.success(), "chown of the cluster directory failed");
        }
        let data = server.dir.join("data");
        server.run(
            "initdb",
            &[
                "-D",
                &data.display().to_string(),
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
                "--no-instructions",
            ],
        );
        server.pg_ctl_start().await;
        server
    }

    fn run(&self, program: &str, arguments: &[&str]) {
        let binary = self.bin.join(program);
        let mut command = if self.as_postgres_user {
            let mut command = Command::new("setpriv");
            command
                .args([
                    "--reuid=postgres",
                    "--regid=postgres",
                    "--init-groups",
                    "--reset-env",
                ])
                .arg(&binary);
            command
        } else {
            Command::new(&binary)
        };
        let status = command
            .args(arguments)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap_or_else(|error| panic!("{program} runs: {error}"));
        assert!(status.success(), "{program} {arguments:?} failed: {status}");
    }

    async fn pg_ctl_start(&self) {
        let data = self.dir.join("data").display().to_string();
        let log = self.dir.join("server.log").display().to_string();
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
            self.port,
            self.dir.display()
        );
        self.run(
            "pg_ctl",
            &[
                "-D", &data, "-l", &log, "-o", &options, "-w", "-t", "60", "start",
            ],
        );
        let port = self.port;
        wait_until("the private PostgreSQL", Duration::from_secs(30), || {
            port_open(port)
        })
        .await;
    }

    /// `postgres://postgres@127.0.0.1:<port>/<database>`.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// `127.0.0.1:<port>`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Stops the server (`fast`: open connections are ended).
    pub async fn stop(&self) {
        let data = self.dir.join("data").display().to_string();
        self.run("pg_ctl", &["-D", &data, "-m", "fast", "-w", "stop"]);
    }

    /// Starts it again on the same port and data.
    pub async fn start_again(&self) {
        self.pg_ctl_start().await;
    }

    /// Stops it and starts it again.
    pub async fn restart(&self) {
        self.stop().await;
        self.start_again().await;
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let data = self.dir.join("data").display().to_string();
        let binary = self.bin.join("pg_ctl");
        let mut command = if self.as_postgres_user {
            let mut command = Command::new("setpriv");
            command
                .args(["--reuid=postgres", "--regid=postgres", "--init-groups"])
                .arg(&binary);
            command
        } else {
            Command::new(&binary)
        };
        let _ = command
            .args(["-D", &data, "-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
