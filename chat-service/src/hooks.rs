//! What happens when shards and accounts come to this replica and leave it: the hooks
//! that [`crate::ownership`] ([`ShardListener`]) and [`crate::hosted_accounts`]
//! ([`AccountHooks`], [`UpdateSink`]) call, implemented here over the send worker, the
//! chat cache and the events. Accounts of a shard are connected and its send queue
//! consumed; a connected account has its cache filled and its pending sends resumed; a
//! hosted account's updates go to the cache, then to the events.

use std::sync::Arc;

use async_trait::async_trait;
use talkapp_store::AccountKey;
use talkapp_telegram::account::Account;

use crate::cache::{BackfillLimits, ChatCache};
use crate::events::EventPublisher;
use crate::hosted_accounts::{AccountHooks, HostedAccounts, HostedUpdate, UpdateSink};
use crate::ownership::ShardListener;
use crate::sends::SendWorker;

/// Where hosted accounts' updates go: the cache first, then the events telling of them.
pub struct CacheAndEvents {
    /// The cache.
    pub cache: ChatCache,
    /// The events.
    pub events: Arc<EventPublisher>,
}

#[async_trait]
impl UpdateSink for CacheAndEvents {
    async fn apply(&self, update: &HostedUpdate) -> Result<(), talkapp_store::StoreError> {
        self.cache.apply(update).await?;
        self.events.publish_update(update).await;
        Ok(())
    }
}

/// Connects a shard's accounts and consumes its queue while the shard is held here.
pub struct ShardHosting {
    /// The accounts hosted here.
    pub accounts: Arc<HostedAccounts>,
    /// Their sends.
    pub worker: Arc<SendWorker>,
}

#[async_trait]
impl ShardListener for ShardHosting {
    async fn acquired(&self, shards: &[u16]) {
        self.worker.start_shards(shards);
        let mut pause = std::time::Duration::from_millis(200);
        // The store may be away for a moment: keep trying while the shards are ours.
        for _ in 0..20 {
            match self.accounts.host_shards(shards).await {
                Ok(_) => return,
                Err(error) => {
                    tracing::warn!(%error, "cannot list the accounts to host; retrying");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(std::time::Duration::from_secs(5));
                }
            }
        }
        tracing::error!(?shards, "accounts of these shards could not be listed");
    }

    async fn released(&self, shards: &[u16]) {
        self.worker.stop_shards(shards);
        self.accounts.release_shards(shards).await;
    }
}

/// Fills a newly connected account's cache and resumes its sends.
pub struct AccountLifecycle {
    /// The cache.
    pub cache: ChatCache,
    /// The sends.
    pub worker: Arc<SendWorker>,
    /// The events (their ids reserved while the account is hosted here).
    pub events: Arc<EventPublisher>,
    /// How much the first fill takes.
    pub limits: BackfillLimits,
}

impl AccountHooks for AccountLifecycle {
    fn connected(&self, key: AccountKey, account: Account) {
        let cache = self.cache.clone();
        let worker = Arc::clone(&self.worker);
        let limits = self.limits;
        tokio::spawn(async move {
            // Sends first: they do not wait for the cache.
            worker.account_connected(key);
            if let Err(error) = cache.backfill(key, &account, limits).await {
                tracing::warn!(user_id = %key.user_id, session_index = key.session_index, %error, "chat cache not filled");
            }
        });
    }

    fn released(&self, key: AccountKey) {
        self.worker.account_released(key);
        self.events.account_released(key);
    }
}
