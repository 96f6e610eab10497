//! A RabbitMQ node of the test's own.
//!
//! `rabbitmq-server` with its own node name, AMQP and distribution ports, data and log
//! directories, Erlang cookie and no plugins, so it shares nothing with the machine's
//! broker but `epmd` (which keeps one entry per node name). It is stopped with
//! `rabbitmqctl shutdown` (or killed) and its directory removed on drop.

use std::io::{Read as _, Write as _};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::{free_port, temp_dir, wait_until};

/// How long a node may take to boot on a loaded two-core machine.
const BOOT: Duration = Duration::from_secs(60);

const SERVER: &str = "/usr/lib/rabbitmq/bin/rabbitmq-server";
const CTL: &str = "/usr/lib/rabbitmq/bin/rabbitmqctl";

/// A private RabbitMQ node (user `guest`, password `guest`, vhost `/`).
pub struct PrivateRabbitMq {
    dir: PathBuf,
    node: String,
    port: u16,
    dist_port: u16,
}

impl PrivateRabbitMq {
    /// Starts a node and waits until it answers the AMQP greeting.
    pub async fn start() -> Self {
        let dir = temp_dir("talkapp-rabbitmq");
        let port = free_port();
        let dist_port = free_port();
        let node = format!(
            "talkapp-test-{}@localhost",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        std::fs::write(
            dir.join("rabbitmq.conf"),
            format!(
                "listeners.tcp.1 = 127.0.0.1:{port}\n\
                 loopback_users.guest = true\n\
                 log.console = false\n"
            ),
        )
        .expect("rabbitmq.conf");
        std::fs::write(dir.join("enabled_plugins"), "[].\n").expect("enabled_plugins");
        let cookie = dir.join(".erlang.cookie");
        std::fs::write(&cookie, uuid::Uuid::new_v4().simple().to_string()).expect("cookie");
        set_mode(&cookie, 0o400);
        let broker = Self {
            dir,
            node,
            port,
            dist_port,
        };
        let status = broker
            .command(SERVER)
            .arg("-detached")
            .status()
            .expect("rabbitmq-server runs (is the rabbitmq-server package installed?)");
        assert!(
            status.success(),
            "rabbitmq-server -detached failed: {status}"
        );
        broker.wait_until_serving().await;
        broker
    }

    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        command
            .current_dir(&self.dir)
            .env("HOME", &self.dir)
            .env("RABBITMQ_NODENAME", &self.node)
            .env("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1")
            .env("RABBITMQ_NODE_PORT", self.port.to_string())
            .env("RABBITMQ_DIST_PORT", self.dist_port.to_string())
            .env("RABBITMQ_MNESIA_BASE", self.dir.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", self.dir.join("log"))
            .env(
                "RABBITMQ_ENABLED_PLUGINS_FILE",
                self.dir.join("enabled_plugins"),
            )
            .env("RABBITMQ_CONFIG_FILE", self.dir.join("rabbitmq.conf"))
            .env("RABBITMQ_PID_FILE", self.dir.join("pid"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        command
    }

    fn ctl(&self, arguments: &[&str]) {
        let status = self
            .command(CTL)
            .arg("-n")
            .arg(&self.node)
            .args(arguments)
            .status()
            .expect("rabbitmqctl runs");
        assert!(
            status.success(),
            "rabbitmqctl {arguments:?} failed: {status}"
        );
    }

    /// `amqp://guest:guest@127.0.0.1:<port>/%2f`.
    pub fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    /// `127.0.0.1:<port>`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Whether the broker answers the AMQP protocol header (not only accepts TCP).
    pub fn answers(&self) -> bool {
        amqp_answers(self.port)
    }

    async fn wait_until_serving(&self) {
        let port = self.port;
        wait_until("the private RabbitMQ node", BOOT, || amqp_answers(port)).await;
    }

    /// `rabbitmqctl stop_app`: the broker closes every connection and stops listening;
    /// the Erlang node stays up.
    pub async fn stop_app(&self) {
        self.ctl(&["stop_app"]);
    }

    /// `rabbitmqctl start_app`, then waits until the broker answers again.
    pub async fn start_app(&self) {
        self.ctl(&["start_app"]);
        self.wait_until_serving().await;
    }

    /// Stops the whole node and starts it again on the same ports and data (durable
    /// queues and persistent messages survive).
    pub async fn restart(&self) {
        self.ctl(&["shutdown"]);
        let status = self
            .command(SERVER)
            .arg("-detached")
            .status()
            .expect("rabbitmq-server runs");
        assert!(
            status.success(),
            "rabbitmq-server -detached failed: {status}"
        );
        self.wait_until_serving().await;
    }
}

impl Drop for PrivateRabbitMq {
    fn drop(&mut self) {
        let stopped = self
            .command(CTL)
            .arg("-n")
            .arg(&self.node)
            .args(["shutdown", "--timeout", "20"])
            .status()
            .is_ok_and(|status| status.success());
        if !stopped && let Ok(pid) = std::fs::read_to_string(self.dir.join("pid")) {
            let _ = Command::new("kill").args(["-9", pid.trim()]).status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn set_mode(path: &std::path::Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// Sends the AMQP 0-9-1 protocol header; a broker that is up answers with a method frame.
fn amqp_answers(port: u16) -> bool {
    let Ok(mut stream) = std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(500),
    ) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream.write_all(b"AMQP\x00\x00\x09\x01").is_err() {
        return false;
    }
    let mut frame_type = [0_u8; 1];
    stream.read_exact(&mut frame_type).is_ok() && frame_type[0] == 1
}
