//! A TCP proxy on loopback in front of a server, to take the server away from the
//! processes under test without touching it: [`StallingProxy::cut`] drops every link and
//! refuses new ones (a server that went away), [`StallingProxy::stall`] keeps every link
//! open while nothing passes in either direction (a server, or a network, that stopped
//! answering: no FIN, no RST, only silence), and [`StallingProxy::silence_open_links`]
//! does so for the links open now only, new ones working (a connection lost in a NAT or
//! a half-open TCP link, while the server itself is fine).

use std::sync::Mutex;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// A proxy that can cut or stall its links.
pub struct StallingProxy {
    port: u16,
    target: String,
    running: Mutex<CancellationToken>,
    stalled: std::sync::Arc<Mutex<watch::Sender<bool>>>,
    /// The switches of silenced links, kept so that their links stay open.
    silenced: Mutex<Vec<watch::Sender<bool>>>,
}

impl StallingProxy {
    /// A proxy to `target` (`127.0.0.1:5672`) on a free port.
    pub async fn start(target: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        let token = CancellationToken::new();
        let stalled = std::sync::Arc::new(Mutex::new(watch::channel(false).0));
        spawn_accept_loop(listener, target.to_owned(), token.clone(), stalled.clone());
        Self {
            port,
            target: target.to_owned(),
            running: Mutex::new(token),
            stalled,
            silenced: Mutex::new(Vec::new()),
        }
    }

    /// `127.0.0.1:<port>`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Nothing passes any more, in either direction, on open links and new ones; links
    /// stay open.
    pub fn stall(&self) {
        self.current().send_replace(true);
    }

    /// Bytes flow again (what was held back is delivered).
    pub fn resume(&self) {
        self.current().send_replace(false);
    }

    /// The links open now go silent for good (they stay open, nothing passes); links
    /// opened from now on work.
    pub fn silence_open_links(&self) {
        let mut current = self.current();
        current.send_replace(true);
        let silenced = std::mem::replace(&mut *current, watch::channel(false).0);
        self.silenced
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(silenced);
    }

    fn current(&self) -> std::sync::MutexGuard<'_, watch::Sender<bool>> {
        self.stalled
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Refuses new connections and drops every open one.
    pub fn cut(&self) {
        self.running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .cancel();
    }

    /// Accepts connections again on the same port.
    pub async fn restore(&self) {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.set_reuseaddr(true).expect("reuseaddr");
        socket
            .bind(std::net::SocketAddr::from(([127, 0, 0, 1], self.port)))
            .expect("rebind the proxy port");
        let listener = socket.listen(128).expect("listen");
        let token = CancellationToken::new();
        spawn_accept_loop(
            listener,
            self.target.clone(),
            token.clone(),
            self.stalled.clone(),
        );
        *self
            .running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = token;
    }
}

impl Drop for StallingProxy {
    fn drop(&mut self) {
        self.cut();
    }
}

fn spawn_accept_loop(
    listener: TcpListener,
    target: String,
    token: CancellationToken,
    stalled: std::sync::Arc<Mutex<watch::Sender<bool>>>,
) {
    tokio::spawn(async move {
        loop {
            // `biased`, the cut first: once cut, nothing more is accepted or forwarded,
            // even when a connection or its bytes are ready in the same poll (a random
            // choice let a command written after the cut reach the server now and then).
            let accepted = tokio::select! {
                biased;
                () = token.cancelled() => return,
                accepted = listener.accept() => accepted,
            };
            let Ok((inbound, _)) = accepted else {
                continue;
            };
            let target = target.clone();
            let token = token.clone();
            let stalled = stalled
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .subscribe();
            tokio::spawn(async move {
                let Ok(outbound) = TcpStream::connect(&target).await else {
                    return;
                };
                let _ = inbound.set_nodelay(true);
                let _ = outbound.set_nodelay(true);
                let (inbound_read, inbound_write) = inbound.into_split();
                let (outbound_read, outbound_write) = outbound.into_split();
                tokio::select! {
                    biased;
                    () = token.cancelled() => {}
                    () = pump(inbound_read, outbound_write, stalled.clone(), &token) => {}
                    () = pump(outbound_read, inbound_write, stalled, &token) => {}
                }
            });
        }
    });
}

/// Copies `from` to `to`, holding each chunk while the proxy is stalled; a chunk read
/// when the proxy was cut (on another thread, while this one was reading) is dropped.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut stalled: watch::Receiver<bool>,
    cut: &CancellationToken,
) {
    let mut buffer = vec![0_u8; 16 * 1024];
    loop {
        let read = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(read) => read,
        };
        if stalled.wait_for(|stalled| !*stalled).await.is_err() || cut.is_cancelled() {
            return;
        }
        if to.write_all(&buffer[..read]).await.is_err() {
            return;
        }
    }
}
