//! One client connection: a reader that decrypts and serves what the client sends, and a
//! writer that encrypts and frames everything going back (answers and pushed updates).
//!
//! Whatever a client sends, the worst outcome is this connection closing with a log line:
//! malformed frames, unknown keys and undecryptable messages end the reader, never the
//! server. An unknown key is *not* answered with transport error -404 as Telegram would:
//! grammers reacts to it by starting a key exchange the sandbox cannot do.

use std::sync::Arc;
use std::time::Duration;

use grammers_tl_types::{self as tl, Deserializable, Identifiable, Serializable};
use tl::functions as f;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::crypto::{self, AuthKey};
use crate::envelope::{self, InMessage, MsgKind, Sequencer};
use crate::rpc::{self, Call, Save};
use crate::state::{Outbound, Shared, State};
use crate::transport::{FrameReader, FrameWriter};

/// Why a connection was closed by the server.
#[derive(Debug, thiserror::Error)]
enum CloseReason {
    #[error("transport: {0}")]
    Transport(#[from] crate::transport::TransportError),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("plain (unencrypted) message: the sandbox cannot create auth keys")]
    PlainMessage,
    #[error("unknown auth key {0:#018x}")]
    UnknownKey(u64),
    #[error("decryption: {0}")]
    Crypto(#[from] crypto::CryptoError),
    #[error("envelope: {0}")]
    Envelope(#[from] envelope::EnvelopeError),
    #[error("no ping_delay_disconnect within the requested delay")]
    PingTimeout,
}

/// The session the client currently talks in over this connection.
#[derive(Clone, Copy, PartialEq, Eq)]
struct SessionId {
    key_id: u64,
    session_id: i64,
}

struct Reader {
    shared: Arc<Shared>,
    connection: u64,
    outbound: mpsc::UnboundedSender<Outbound>,
    session: Option<SessionId>,
    /// Set by `ping_delay_disconnect`.
    disconnect_at: Option<Instant>,
    /// What the frame being served answers, held back until its changes are saved.
    pending: Vec<Outbound>,
    /// How soon the frame being served must be saved.
    save: Save,
}

/// Serves one accepted TCP connection until either side closes it or `cancel` fires.
pub(crate) async fn serve(stream: TcpStream, shared: Arc<Shared>, cancel: CancellationToken) {
    let peer = stream.peer_addr().ok();
    let (read_half, write_half) = stream.into_split();
    let (outbound, outbound_rx) = mpsc::unbounded_channel();
    let connection = shared
        .lock()
        .register_connection(outbound.clone(), cancel.clone());
    debug!(connection, ?peer, "connection opened");

    let writer = tokio::spawn(write_loop(write_half, outbound_rx, cancel.clone()));
    let mut reader = Reader {
        shared: Arc::clone(&shared),
        connection,
        outbound,
        session: None,
        disconnect_at: None,
        pending: Vec::new(),
        save: Save::Nothing,
    };
    match reader.run(read_half, &cancel).await {
        Ok(()) => debug!(connection, "connection closed"),
        Err(reason) => {
            info!(connection, ?peer, %reason, "closing connection");
            // Nothing more is owed to a client that broke the protocol.
            cancel.cancel();
        }
    }
    shared.lock().connections.remove(&connection);
    // With the registry's sender gone too, the writer drains what is queued and stops,
    // unless the client stopped reading: then it is cut off.
    drop(reader);
    let abort = writer.abort_handle();
    if tokio::time::timeout(WRITER_DRAIN, writer).await.is_err() {
        cancel.cancel();
        abort.abort();
    }
}

/// How long a closing connection may take to flush what is queued for it.
const WRITER_DRAIN: Duration = Duration::from_secs(5);

impl Reader {
    async fn run(
        &mut self,
        mut read_half: OwnedReadHalf,
        cancel: &CancellationToken,
    ) -> Result<(), CloseReason> {
        let mut frames = FrameReader::new();
        loop {
            while let Some(frame) = frames.next_frame()? {
                self.handle_frame(frame)?;
                self.flush().await;
            }
            let deadline = self.disconnect_at;
            let read = tokio::select! {
                () = cancel.cancelled() => return Ok(()),
                () = async { if let Some(at) = deadline { sleep_until(at).await } },
                    if deadline.is_some() => return Err(CloseReason::PingTimeout),
                read = read_half.read_buf(frames.buffer_mut()) => read?,
            };
            if read == 0 {
                return Ok(());
            }
        }
    }

    fn send(&mut self, item: Outbound) {
        self.pending.push(item);
    }

    /// Saves what the last frame changed as its calls require, then lets the answers go.
    async fn flush(&mut self) {
        let saved = match std::mem::take(&mut self.save) {
            Save::Nothing => Ok(()),
            Save::Soon => {
                self.shared.changed();
                Ok(())
            }
            Save::CallerKey => {
                let key_ids = self.session.map(|s| s.key_id).into_iter().collect();
                self.shared.journal_keys(key_ids).await
            }
            Save::Everything => self.shared.save().await,
        };
        if let Err(error) = saved {
            // The client is answered anyway: refusing would not un-bind the key.
            warn!(
                connection = self.connection,
                error = format!("{error:#}"),
                "saving a key binding failed"
            );
        }
        for item in self.pending.drain(..) {
            // The writer only stops once the connection is closing.
            let _ = self.outbound.send(item);
        }
    }

    fn handle_frame(&mut self, mut frame: Vec<u8>) -> Result<(), CloseReason> {
        let key_id = crypto::peek_key_id(&frame).ok_or(
            crate::transport::TransportError::BadLength(frame.len() as i64),
        )?;
        if key_id == 0 {
            return Err(CloseReason::PlainMessage);
        }
        let key: AuthKey = self
            .shared
            .lock()
            .keys
            .get(&key_id)
            .map(|k| k.key.clone())
            .ok_or(CloseReason::UnknownKey(key_id))?;
        let plaintext = crypto::decrypt_from_client(&key, &mut frame)?;
        let envelope = envelope::parse_envelope(plaintext)?;

        let session = SessionId {
            key_id,
            session_id: envelope.session_id,
        };
        if self.session != Some(session) {
            // Every reply must echo the client's session id; grammers panics otherwise.
            self.session = Some(session);
            self.send(Outbound::Session {
                key: Box::new(key),
                session_id: envelope.session_id,
            });
            self.send(Outbound::Push {
                body: tl::enums::NewSession::Created(tl::types::NewSessionCreated {
                    first_msg_id: envelope.message.msg_id,
                    unique_id: rand::random(),
                    server_salt: 0,
                })
                .to_bytes(),
            });
        }

        let shared = Arc::clone(&self.shared);
        let mut state = shared.lock();
        self.handle_message(&mut state, key_id, envelope.message, false, false)?;
        // A sign-in or log-out may have changed which account this connection is for,
        // and so which pushed updates it receives.
        let user = state.keys.get(&key_id).and_then(|k| k.user);
        if let Some(entry) = state.connections.get_mut(&self.connection) {
            entry.user = user;
        }
        Ok(())
    }

    /// Serves one message; containers and `gzip_packed` recurse once each at most.
    fn handle_message(
        &mut self,
        state: &mut State,
        key_id: u64,
        message: InMessage,
        in_container: bool,
        unpacked: bool,
    ) -> Result<(), CloseReason> {
        let Some(constructor) = message.constructor_id() else {
            debug!(connection = self.connection, "empty message body ignored");
            return Ok(());
        };
        match constructor {
            envelope::MSG_CONTAINER_ID if !in_container && !unpacked => {
                for inner in envelope::parse_container(&message.body)? {
                    self.handle_message(state, key_id, inner, true, false)?;
                }
            }
            envelope::GZIP_PACKED_ID if !unpacked => {
                let body = envelope::unpack_gzip(&message.body)?;
                let inflated = InMessage { body, ..message };
                self.handle_message(state, key_id, inflated, in_container, true)?;
            }
            // Acknowledgments need no answer; the sandbox never re-sends anything.
            tl::types::MsgsAck::CONSTRUCTOR_ID => {}
            f::Ping::CONSTRUCTOR_ID => {
                if let Some(ping) = parse::<f::Ping>(&message.body) {
                    self.pong(message.msg_id, ping.ping_id);
                }
            }
            f::PingDelayDisconnect::CONSTRUCTOR_ID => {
                if let Some(ping) = parse::<f::PingDelayDisconnect>(&message.body) {
                    let delay = u64::try_from(ping.disconnect_delay).unwrap_or(0);
                    self.disconnect_at = Some(Instant::now() + Duration::from_secs(delay));
                    self.pong(message.msg_id, ping.ping_id);
                }
            }
            f::DestroySession::CONSTRUCTOR_ID => {
                if let Some(request) = parse::<f::DestroySession>(&message.body) {
                    let answer = tl::enums::DestroySessionRes::DestroySessionNone(
                        tl::types::DestroySessionNone {
                            session_id: request.session_id,
                        },
                    );
                    self.reply(answer.to_bytes(), true);
                }
            }
            f::GetFutureSalts::CONSTRUCTOR_ID => {
                // The salt never changes: one salt, 0, valid for the next hour.
                let now = crate::world::unix_now();
                let answer = tl::enums::FutureSalts::Salts(tl::types::FutureSalts {
                    req_msg_id: message.msg_id,
                    now,
                    salts: tl::RawVec(vec![tl::types::FutureSalt {
                        valid_since: now - 60,
                        valid_until: now + 3600,
                        salt: 0,
                    }]),
                });
                self.reply(answer.to_bytes(), false);
            }
            f::RpcDropAnswer::CONSTRUCTOR_ID => {
                // Answers are sent as soon as they exist; there is never one to drop.
                let answer = tl::enums::RpcDropAnswer::RpcAnswerUnknown.to_bytes();
                self.reply(envelope::rpc_result(message.msg_id, &answer), true);
            }
            tl::types::MsgsStateReq::CONSTRUCTOR_ID
            | tl::types::MsgResendReq::CONSTRUCTOR_ID
            | tl::types::HttpWait::CONSTRUCTOR_ID => {}
            envelope::MSG_CONTAINER_ID | envelope::GZIP_PACKED_ID => {
                debug!(connection = self.connection, "nested container ignored");
            }
            _ => {
                let mut call = Call::new(state, key_id, self.connection);
                let result = rpc::invoke(&mut call, &message.body);
                let pushes = std::mem::take(&mut call.pushes);
                self.save = self.save.max(call.save);
                let body = match result {
                    Ok(result) => result,
                    Err(error) => {
                        debug!(
                            connection = self.connection,
                            method = tl::name_for_id(constructor),
                            code = error.code,
                            error = %error.message,
                            "rpc error"
                        );
                        error.to_bytes()
                    }
                };
                self.reply(envelope::rpc_result(message.msg_id, &body), true);
                for push in pushes {
                    state.push(push);
                }
            }
        }
        Ok(())
    }

    fn reply(&mut self, body: Vec<u8>, content_related: bool) {
        self.send(Outbound::Reply {
            body,
            content_related,
        });
    }

    /// `pong` is not content-related and answers outside `rpc_result`.
    fn pong(&mut self, msg_id: i64, ping_id: i64) {
        let pong = tl::enums::Pong::Pong(tl::types::Pong { msg_id, ping_id });
        self.reply(pong.to_bytes(), false);
    }
}

fn parse<R: Deserializable>(body: &[u8]) -> Option<R> {
    R::from_bytes(body.get(4..)?).ok()
}

/// Encrypts, frames and writes what the reader and the pushes queue, in order.
async fn write_loop(
    mut write_half: OwnedWriteHalf,
    mut outbound: mpsc::UnboundedReceiver<Outbound>,
    cancel: CancellationToken,
) {
    let mut frames = FrameWriter::new();
    let mut sequencer = Sequencer::default();
    let mut session: Option<(Box<AuthKey>, i64)> = None;
    loop {
        let item = tokio::select! {
            () = cancel.cancelled() => break,
            item = outbound.recv() => match item {
                Some(item) => item,
                None => break,
            },
        };
        let (body, kind, content_related) = match item {
            Outbound::Session { key, session_id } => {
                if session.as_ref().is_none_or(|(_, id)| *id != session_id) {
                    sequencer.start_session();
                }
                session = Some((key, session_id));
                continue;
            }
            Outbound::Reply {
                body,
                content_related,
            } => (body, MsgKind::Response, content_related),
            Outbound::Push { body } => (body, MsgKind::Unsolicited, true),
        };
        let Some((key, session_id)) = &session else {
            warn!("dropping a message queued before the client's first message");
            continue;
        };
        let msg_id = sequencer.next_msg_id(kind);
        let seq_no = sequencer.next_seq_no(content_related);
        let plaintext = envelope::server_plaintext(*session_id, msg_id, seq_no, &body);
        let frame = frames.frame(&crypto::encrypt_for_client(key, plaintext));
        let written = tokio::select! {
            () = cancel.cancelled() => break,
            written = write_half.write_all(&frame) => written,
        };
        if let Err(error) = written {
            debug!(%error, "write failed; closing");
            break;
        }
    }
    // The connection is closing either way; a peer gone already needs no clean end.
    let _ = write_half.shutdown().await;
}
