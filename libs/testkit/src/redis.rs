//! A `redis-server` of the test's own, on a free port, its data (an append-only file) in
//! a temporary directory, killed and removed on drop.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::{free_port, port_open, temp_dir, wait_until};

/// A private Redis.
pub struct PrivateRedis {
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl PrivateRedis {
    /// Starts one and waits until it accepts connections.
    pub async fn start() -> Self {
        let mut redis = Self {
            dir: temp_dir("talkapp-redis"),
            port: free_port(),
            child: None,
        };
        redis.spawn().await;
        redis
    }

    async fn spawn(&mut self) {
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port"])
            .arg(self.port.to_string())
            .arg("--dir")
            .arg(&self.dir)
            // Like a production Redis: what it acknowledged survives a restart.
            .args([
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server runs (is the redis-server package installed?)");
        self.child = Some(child);
        let port = self.port;
        wait_until("the private Redis", Duration::from_secs(20), || {
            port_open(port)
        })
        .await;
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// `127.0.0.1:<port>`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Stops the server (SIGTERM: it closes every client and writes its file).
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
        let port = self.port;
        wait_until("the private Redis to stop", Duration::from_secs(20), || {
            !port_open(port)
        })
        .await;
    }

    /// Starts it again on the same port and data.
    pub async fn start_again(&mut self) {
        self.spawn().await;
    }

    /// Stops it and starts it again, its data kept.
    pub async fn restart(&mut self) {
        self.stop().await;
        self.start_again().await;
    }

    /// Stops it, deletes its data, and starts it again empty (a Redis without
    /// persistence, or a new one in its place).
    pub async fn restart_empty(&mut self) {
        self.stop().await;
        let _ = std::fs::remove_dir_all(&self.dir);
        std::fs::create_dir_all(&self.dir).expect("redis directory");
        self.start_again().await;
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
