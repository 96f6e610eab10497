//! Reaching an account's host: this replica when it holds the account's shard, else the
//! replica that does (over gRPC), so any replica can serve any request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use talkapp_proto::chat::v1 as proto;
use talkapp_proto::chat::v1::chat_service_client::ChatServiceClient;
use talkapp_proto::tonic::transport::{Channel, Endpoint};
use talkapp_store::SessionKey;
use talkapp_telegram::account::Account;

use crate::host::SessionHost;
use crate::ownership::{Ownership, ShardHost};

/// Where an account's Telegram calls go.
pub enum Route {
    /// This replica hosts it and it is connected.
    Local(Account),
    /// Another replica hosts it.
    Remote(ChatServiceClient<Channel>),
    /// Nobody hosts it right now (its shard is moving, or it is still connecting).
    Unavailable,
}

/// Finds the host of an account.
pub struct Router {
    ownership: Arc<Ownership>,
    host: Arc<SessionHost>,
    peers: Mutex<HashMap<String, ChatServiceClient<Channel>>>,
}

impl Router {
    /// A router over this replica's `ownership` and `host`.
    pub fn new(ownership: Arc<Ownership>, host: Arc<SessionHost>) -> Self {
        Self {
            ownership,
            host,
            peers: Mutex::new(HashMap::new()),
        }
    }

    /// Where the calls of `key` go now.
    pub fn route(&self, key: SessionKey) -> Route {
        let shard = talkapp_store::shard_of(key.user_id, key.session_index);
        match self.ownership.host_of(shard) {
            ShardHost::Local => match self.host.account(key) {
                Some(account) => Route::Local(account),
                None => Route::Unavailable,
            },
            ShardHost::Remote(address) => match self.peer(&address) {
                Some(client) => Route::Remote(client),
                None => Route::Unavailable,
            },
            ShardHost::Unknown => Route::Unavailable,
        }
    }

    fn peer(&self, address: &str) -> Option<ChatServiceClient<Channel>> {
        let mut peers = self
            .peers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(client) = peers.get(address) {
            return Some(client.clone());
        }
        let channel = Endpoint::from_shared(address.to_owned())
            .ok()?
            .connect_timeout(Duration::from_secs(1))
            .timeout(Duration::from_secs(30))
            .tcp_nodelay(true)
            .connect_lazy();
        let client = ChatServiceClient::new(channel);
        peers.insert(address.to_owned(), client.clone());
        Some(client)
    }
}

/// The request's account in proto form.
pub fn session_ref(key: SessionKey) -> proto::SessionRef {
    proto::SessionRef {
        user_id: key.user_id.to_string(),
        session_index: key.session_index,
    }
}
