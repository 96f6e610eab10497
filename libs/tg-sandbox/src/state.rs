//! Everything the connections share, behind one lock: the world, the authorization keys
//! and what is bound to them, logins in progress, and who is connected.
//!
//! One lock keeps the order of events simple: a change to the world and the pushes it
//! causes are queued together, so every connection sees updates in `pts` order. Nothing
//! awaits while holding it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use grammers_tl_types::{self as tl, Serializable};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::crypto::AuthKey;
use crate::persist::Persister;
use crate::srp;
use crate::world::{UserId, World};

/// What the server knows about one authorization key.
pub(crate) struct KeyRecord {
    pub(crate) key: AuthKey,
    /// The account signed in with this key.
    pub(crate) user: Option<UserId>,
    /// Signed in with the code, waiting for the 2FA password (`SESSION_PASSWORD_NEEDED`).
    pub(crate) awaiting_password: Option<UserId>,
    /// The SRP round of the last `account.getPassword`.
    pub(crate) srp: Option<srp::Challenge>,
}

/// A login code that was "sent" by `auth.sendCode`.
pub(crate) struct PendingCode {
    pub(crate) phone: String,
    pub(crate) code: String,
    /// `auth.signIn` accepted the code for a number without an account: `auth.signUp`
    /// may now create one.
    pub(crate) verified: bool,
}

/// Something the writer of a connection sends.
#[derive(Debug)]
pub(crate) enum Outbound {
    /// From now on, encrypt with this key for this session (sent when either changes).
    Session { key: Box<AuthKey>, session_id: i64 },
    /// A server message answering the client.
    Reply {
        body: Vec<u8>,
        content_related: bool,
    },
    /// A server message on the server's initiative (updates, `new_session_created`).
    Push { body: Vec<u8> },
}

/// A connection, as the registry sees it.
pub(crate) struct ConnectionEntry {
    pub(crate) user: Option<UserId>,
    pub(crate) outbound: mpsc::UnboundedSender<Outbound>,
    pub(crate) cancel: CancellationToken,
    /// Updates are no longer pushed to it, though it stays open and answers calls: the
    /// link that "goes quiet", as Telegram's sometimes do (see
    /// [`crate::SandboxHandle::silence_updates`]).
    pub(crate) silenced: bool,
}

/// Updates for one account, to every connection of it but `except`.
pub(crate) struct Push {
    pub(crate) user: UserId,
    pub(crate) updates: tl::enums::Updates,
    /// The connection that caused them and gets them as its RPC result instead.
    pub(crate) except: Option<u64>,
}

/// A file being uploaded with `upload.saveFilePart` / `upload.saveBigFilePart`.
pub(crate) struct Upload {
    pub(crate) parts: std::collections::BTreeMap<i32, Vec<u8>>,
    /// `file_total_parts` of a big upload.
    pub(crate) total_parts: Option<i32>,
    pub(crate) started: i32,
}

pub(crate) struct State {
    pub(crate) world: World,
    pub(crate) keys: HashMap<u64, KeyRecord>,
    /// Uploads by `(auth key id, file_id)`: file ids are chosen by clients, per key.
    pub(crate) uploads: HashMap<(u64, i64), Upload>,
    /// Parts received (`upload.saveFilePart` / `saveBigFilePart`) since the start: tests
    /// tell a file sent by reference from one uploaded again, thumbnails included.
    pub(crate) saved_parts: u64,
    /// By `phone_code_hash`.
    pub(crate) codes: HashMap<String, PendingCode>,
    pub(crate) connections: HashMap<u64, ConnectionEntry>,
    /// Accounts whose requests get `FLOOD_WAIT_N`, and N.
    pub(crate) flood_wait: HashMap<UserId, i32>,
    next_connection_id: u64,
}

impl State {
    pub(crate) fn new(world: World) -> Self {
        Self {
            world,
            keys: HashMap::new(),
            uploads: HashMap::new(),
            saved_parts: 0,
            codes: HashMap::new(),
            connections: HashMap::new(),
            flood_wait: HashMap::new(),
            next_connection_id: 1,
        }
    }

    /// Registers a fresh authorization key, optionally already signed in.
    pub(crate) fn issue_key(&mut self, user: Option<UserId>) -> AuthKey {
        loop {
            let key = AuthKey::random();
            if self.register_key(key.clone(), user).is_ok() {
                return key;
            }
        }
    }

    /// Registers a known key; key ids must be unique.
    pub(crate) fn register_key(
        &mut self,
        key: AuthKey,
        user: Option<UserId>,
    ) -> anyhow::Result<()> {
        anyhow::ensure!(
            !self.keys.contains_key(&key.id()),
            "auth key {:#018x} is already registered",
            key.id()
        );
        self.keys.insert(
            key.id(),
            KeyRecord {
                key,
                user,
                awaiting_password: None,
                srp: None,
            },
        );
        Ok(())
    }

    pub(crate) fn register_connection(
        &mut self,
        outbound: mpsc::UnboundedSender<Outbound>,
        cancel: CancellationToken,
    ) -> u64 {
        let id = self.next_connection_id;
        self.next_connection_id += 1;
        self.connections.insert(
            id,
            ConnectionEntry {
                user: None,
                outbound,
                cancel,
                silenced: false,
            },
        );
        id
    }

    /// Queues updates to the account's connections (those signed in as it).
    pub(crate) fn push(&self, push: Push) {
        let body = push.updates.to_bytes();
        for (id, connection) in &self.connections {
            if connection.user == Some(push.user)
                && Some(*id) != push.except
                && !connection.silenced
            {
                // A closed channel means the connection is going away; nothing to do.
                let _ = connection
                    .outbound
                    .send(Outbound::Push { body: body.clone() });
            }
        }
    }

    /// Stops pushing updates to the account's open connections, which stay open and keep
    /// answering calls; connections opened later are not affected.
    pub(crate) fn silence_user(&mut self, user: UserId) -> usize {
        let mut silenced = 0;
        for connection in self.connections.values_mut() {
            if connection.user == Some(user) && !connection.silenced {
                connection.silenced = true;
                silenced += 1;
            }
        }
        silenced
    }

    /// Closes every connection of the account (they may reconnect).
    pub(crate) fn disconnect_user(&self, user: UserId) -> usize {
        let mut closed = 0;
        for connection in self.connections.values() {
            if connection.user == Some(user) {
                connection.cancel.cancel();
                closed += 1;
            }
        }
        closed
    }
}

/// The shared state of one sandbox.
pub(crate) struct Shared {
    state: Mutex<State>,
    /// Saves the state to its file, when there is one.
    pub(crate) persister: Option<Arc<Persister>>,
}

impl Shared {
    pub(crate) fn new(state: State, persister: Option<Arc<Persister>>) -> Self {
        Self {
            state: Mutex::new(state),
            persister,
        }
    }

    /// The state changed: save it soon.
    pub(crate) fn changed(&self) {
        if let Some(persister) = &self.persister {
            persister.mark_dirty();
        }
    }

    /// Keys were issued or (un)bound: journal them before anyone learns of it. Blocks on
    /// disk I/O.
    pub(crate) fn journal_keys_blocking(&self, key_ids: &[u64]) -> anyhow::Result<()> {
        match &self.persister {
            Some(persister) => persister.journal_keys_blocking(self, key_ids),
            None => Ok(()),
        }
    }

    /// [`Shared::journal_keys_blocking`] off the runtime's threads.
    pub(crate) async fn journal_keys(self: &Arc<Self>, key_ids: Vec<u64>) -> anyhow::Result<()> {
        match &self.persister {
            Some(persister) => persister.journal_keys(self, key_ids).await,
            None => Ok(()),
        }
    }

    /// Writes the whole state file now, off the runtime's threads.
    pub(crate) async fn save(self: &Arc<Self>) -> anyhow::Result<()> {
        match &self.persister {
            Some(persister) => persister.save(self).await,
            None => Ok(()),
        }
    }

    /// Locks the state. A panic elsewhere while holding it leaves the data usable (every
    /// mutation is a few field writes), so poisoning is ignored rather than spread.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
