//! Building an account's index from the chat cache: messages backfilled into the cache
//! never come as events, so the index reads them from the store, page by page. At start,
//! every linked account the index has not built yet is built; on demand (the
//! `RebuildIndex` call) an account's index is dropped and built again.

use std::sync::Arc;

use talkapp_store::{ChatListQuery, SessionKey, Store};
use tokio_util::sync::CancellationToken;

use crate::index::{IndexChange, IndexedChat, IndexedMessage, SearchIndex};
use crate::normalize;
use crate::service::{SearchError, kinds_of_record, searchable_text_of_record};

/// Messages read from the cache and written to the index at a time.
const PAGE: u32 = 500;

/// What a build did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Built {
    /// Messages indexed.
    pub messages: u64,
    /// Chats indexed.
    pub chats: u64,
}

/// Indexes everything the cache holds for `key` (upserts: events arriving meanwhile are
/// not undone), then records the account as built.
pub async fn build_account(
    store: &dyn Store,
    index: &dyn SearchIndex,
    key: SessionKey,
) -> Result<Built, SearchError> {
    let mut built = Built::default();
    let mut after = None;
    loop {
        let page = store
            .list_chats(
                key,
                &ChatListQuery {
                    after,
                    limit: PAGE,
                    ..ChatListQuery::default()
                },
            )
            .await?;
        let Some(last) = page.last() else { break };
        after = last
            .dialog
            .as_ref()
            .map(|dialog| (dialog.top_date, last.profile.chat_id));
        let private: Vec<i64> = page
            .iter()
            .map(|chat| chat.profile.chat_id)
            .filter(|chat_id| *chat_id > 0)
            .collect();
        let users = store.cached_users(key, &private).await?;
        let changes: Vec<IndexChange> = page
            .iter()
            .map(|chat| {
                IndexChange::UpsertChat(IndexedChat {
                    key,
                    chat_id: chat.profile.chat_id,
                    kind: chat.profile.kind.clone(),
                    title: chat.profile.title.clone(),
                    username: chat.profile.username.clone(),
                    phone: users
                        .iter()
                        .find(|user| user.tg_user_id == chat.profile.chat_id)
                        .map(|user| user.phone.clone())
                        .unwrap_or_default(),
                    top_date: chat.dialog.as_ref().map_or(0, |dialog| dialog.top_date),
                })
            })
            .collect();
        built.chats += u64::try_from(changes.len()).unwrap_or(0);
        index.apply(&changes).await?;
        if after.is_none() || page.len() < usize::try_from(PAGE).unwrap_or(usize::MAX) {
            break;
        }
    }
    let mut after = None;
    loop {
        let page = store.cached_messages_page(key, after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = Some((last.chat_id, last.message_id));
        let changes: Vec<IndexChange> = page
            .iter()
            .map(|message| {
                IndexChange::UpsertMessage(IndexedMessage {
                    key,
                    chat_id: message.chat_id,
                    message_id: message.message_id,
                    date: message.date,
                    sender_id: message.sender_id,
                    kinds: kinds_of_record(message),
                    terms: normalize::terms(&searchable_text_of_record(message)),
                })
            })
            .collect();
        built.messages += u64::try_from(changes.len()).unwrap_or(0);
        index.apply(&changes).await?;
    }
    index.mark_built(key).await?;
    Ok(built)
}

/// Drops the account's index and builds it again from the cache.
pub async fn rebuild_account(
    store: &dyn Store,
    index: &dyn SearchIndex,
    key: SessionKey,
) -> Result<Built, SearchError> {
    index.forget_account(key).await?;
    build_account(store, index, key).await
}

/// How long after linking an account is built again at every pass: its first backfill
/// fills the cache then, and backfilled messages come as no event.
const SETTLING: chrono::TimeDelta = chrono::TimeDelta::minutes(3);

/// One pass: builds every linked account the index has not built yet, builds again those
/// linked less than [`SETTLING`] ago, and forgets accounts no longer linked. Failures are
/// logged and left for the next pass; events keep the index current meanwhile.
pub async fn reconcile(store: &dyn Store, index: &dyn SearchIndex, stop: &CancellationToken) {
    let shards: Vec<u16> = (0..talkapp_store::SHARD_COUNT).collect();
    let accounts = match store.hosted_sessions(&shards).await {
        Ok(accounts) => accounts,
        Err(error) => {
            tracing::warn!(%error, "cannot list the linked accounts; the index is not built now");
            return;
        }
    };
    let built: std::collections::HashSet<SessionKey> = match index.built_accounts().await {
        Ok(built) => built.into_iter().collect(),
        Err(error) => {
            tracing::warn!(%error, "search index unavailable; accounts are not built now");
            return;
        }
    };
    let settling_since = chrono::Utc::now() - SETTLING;
    let mut linked = std::collections::HashSet::new();
    for account in accounts {
        if stop.is_cancelled() {
            return;
        }
        let key = SessionKey {
            user_id: account.session.user_id,
            session_index: account.session.session_index,
        };
        linked.insert(key);
        if built.contains(&key) && account.session.linked_at < settling_since {
            continue;
        }
        match build_account(store, index, key).await {
            Ok(result) => tracing::debug!(
                user_id = %key.user_id,
                session_index = key.session_index,
                messages = result.messages,
                chats = result.chats,
                "search index built from the cache"
            ),
            Err(error) => tracing::warn!(
                user_id = %key.user_id,
                session_index = key.session_index,
                %error,
                "search index build failed"
            ),
        }
    }
    for gone in built.difference(&linked) {
        if let Err(error) = index.forget_account(*gone).await {
            tracing::warn!(%error, "cannot forget an unlinked account's index");
        }
    }
}

/// Runs [`reconcile`] now and then every `interval` until `stop` fires.
pub async fn run(
    store: Arc<dyn Store>,
    index: Arc<dyn SearchIndex>,
    interval: std::time::Duration,
    stop: CancellationToken,
) {
    loop {
        reconcile(store.as_ref(), index.as_ref(), &stop).await;
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(interval) => {}
        }
    }
}
