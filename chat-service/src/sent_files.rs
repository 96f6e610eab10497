//! The files each hosted account sent to Telegram, kept in the store
//! ([`talkapp_store::SentFileStore`]) so that a file sent before a restart, or before the
//! account moved to another replica, goes again by reference and is not uploaded again
//! (ADR 0020). A store that fails costs an upload, never a send: failures are logged.

use std::sync::Arc;

use async_trait::async_trait;
use talkapp_store::{AccountKey, SentFileStore};
use talkapp_telegram::send_media::{REMEMBERED_FILES, SendAs, SentFileMemory};

/// One account's [`SentFileMemory`] over the store.
pub struct StoredSentFiles {
    store: Arc<dyn SentFileStore>,
    key: AccountKey,
}

impl StoredSentFiles {
    /// The memory of the account `key`.
    pub fn new(store: Arc<dyn SentFileStore>, key: AccountKey) -> Self {
        Self { store, key }
    }
}

impl std::fmt::Debug for StoredSentFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredSentFiles")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl SentFileMemory for StoredSentFiles {
    async fn recall(&self, sha256: &str, send_as: SendAs) -> Option<Vec<u8>> {
        self.store
            .recall_sent_file(self.key, sha256, send_as.as_str())
            .await
            .inspect_err(|error| tracing::warn!(%error, "cannot read a sent file's reference"))
            .ok()
            .flatten()
    }

    async fn remember(&self, sha256: &str, send_as: SendAs, media: Vec<u8>) {
        let keep = u32::try_from(REMEMBERED_FILES).unwrap_or(u32::MAX);
        if let Err(error) = self
            .store
            .remember_sent_file(self.key, sha256, send_as.as_str(), &media, keep)
            .await
        {
            tracing::warn!(%error, "cannot keep a sent file's reference");
        }
    }

    async fn forget(&self, sha256: &str, send_as: SendAs) {
        if let Err(error) = self
            .store
            .forget_sent_file(self.key, sha256, send_as.as_str())
            .await
        {
            tracing::warn!(%error, "cannot forget a refused file's reference");
        }
    }
}
