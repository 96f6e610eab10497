//! Building an account's index from the chat cache: messages backfilled into the cache
//! never come as events, so the index reads them from the store, page by page. At start,
//! every linked account the index has not built yet is built; on demand (the
//! `RebuildIndex` call) an account's index is dropped and built again. The same loop
//! sweeps the index's old tombstones ([`sweep_tombstones`]).
//!
//! A build's writes carry no event id: they never overwrite a message or chat an event
//! wrote (the events keep those current), and a deleted message's tombstone keeps it
//! out (ADR 0047).

use std::sync::Arc;

use talkapp_store::{AccountKey, ChatListQuery, SearchStore};
use tokio_util::sync::CancellationToken;

use crate::index::{IndexChange, IndexedChat, SearchIndex};
use crate::service::{SearchError, indexed_record};

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

/// Indexes everything the cache holds for `key` (upserts that leave what events wrote,
/// so events arriving meanwhile are not undone), then records the account as built.
pub async fn build_account(
    store: &dyn SearchStore,
    index: &dyn SearchIndex,
    key: AccountKey,
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
            .map(|chat| IndexChange::UpsertChat {
                chat: IndexedChat {
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
                },
                event_id: None,
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
            .map(|message| IndexChange::UpsertMessage {
                message: indexed_record(key, message),
                event_id: None,
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
    store: &dyn SearchStore,
    index: &dyn SearchIndex,
    key: AccountKey,
) -> Result<Built, SearchError> {
    index.forget_account(key).await?;
    build_account(store, index, key).await
}

/// When, after linking, an account is built again: its first backfill fills the cache in
/// its first minutes, and backfilled messages come as no event. Once at each of these ages
/// (not at every pass: a pass every few seconds over every account linked in the last
/// minutes rebuilt thousands of accounts over and over after a wave of linking).
const REBUILD_AFTER_LINKING: [chrono::TimeDelta; 2] = [
    chrono::TimeDelta::seconds(30),
    chrono::TimeDelta::minutes(3),
];

/// Which of the [`REBUILD_AFTER_LINKING`] builds each recently linked account has had.
#[derive(Debug, Default)]
pub struct Settling {
    done: std::collections::HashMap<AccountKey, usize>,
}

/// How many of the [`REBUILD_AFTER_LINKING`] ages an account linked `age` ago has passed.
fn stages_passed(age: chrono::TimeDelta) -> usize {
    REBUILD_AFTER_LINKING
        .iter()
        .filter(|after| age >= **after)
        .count()
}

impl Settling {
    /// Whether an account the index has built must be built again now. An account met
    /// for the first time (a restart of this service) is taken as built for the ages it
    /// has passed.
    fn due(&mut self, key: AccountKey, age: chrono::TimeDelta) -> bool {
        let passed = stages_passed(age);
        let done = self.done.entry(key).or_insert(passed);
        let due = passed > *done;
        *done = passed;
        due
    }

    /// An account built now: it has had every build its age asks for.
    fn built(&mut self, key: AccountKey, age: chrono::TimeDelta) {
        self.done.insert(key, stages_passed(age));
    }

    /// Forgets accounts past every age, and those no longer linked.
    fn prune(&mut self, linked: &std::collections::HashSet<AccountKey>) {
        self.done
            .retain(|key, done| linked.contains(key) && *done < REBUILD_AFTER_LINKING.len());
    }
}

/// One pass: builds every linked account the index has not built yet, builds again those
/// whose age since linking passed one of [`REBUILD_AFTER_LINKING`] since the last pass,
/// and forgets accounts no longer linked. Failures are logged and left for the next pass;
/// events keep the index current meanwhile.
pub async fn reconcile(
    store: &dyn SearchStore,
    index: &dyn SearchIndex,
    settling: &mut Settling,
    stop: &CancellationToken,
) {
    let shards: Vec<u16> = (0..talkapp_store::SHARD_COUNT).collect();
    let accounts = match store.hosted_accounts_of(&shards).await {
        Ok(accounts) => accounts,
        Err(error) => {
            tracing::warn!(%error, "cannot list the linked accounts; the index is not built now");
            return;
        }
    };
    let built: std::collections::HashSet<AccountKey> = match index.built_accounts().await {
        Ok(built) => built.into_iter().collect(),
        Err(error) => {
            tracing::warn!(%error, "search index unavailable; accounts are not built now");
            return;
        }
    };
    let now = chrono::Utc::now();
    let mut linked = std::collections::HashSet::new();
    for account in accounts {
        if stop.is_cancelled() {
            return;
        }
        let key = AccountKey {
            user_id: account.linked.user_id,
            session_index: account.linked.session_index,
        };
        linked.insert(key);
        let age = now - account.linked.linked_at;
        if built.contains(&key) && !settling.due(key, age) {
            continue;
        }
        match build_account(store, index, key).await {
            Ok(result) => {
                settling.built(key, age);
                tracing::debug!(
                    user_id = %key.user_id,
                    session_index = key.session_index,
                    messages = result.messages,
                    chats = result.chats,
                    "search index built from the cache"
                );
            }
            Err(error) => tracing::warn!(
                user_id = %key.user_id,
                session_index = key.session_index,
                %error,
                "search index build failed"
            ),
        }
    }
    settling.prune(&linked);
    for gone in built.difference(&linked) {
        if let Err(error) = index.forget_account(*gone).await {
            tracing::warn!(%error, "cannot forget an unlinked account's index");
        }
    }
}

/// How often tombstones past their retention are swept.
const SWEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

/// Removes the tombstones of deletions older than `retention` (ADR 0047). By age, not at
/// a rebuild: a rebuild is when an older upsert told again would do harm, and a
/// tombstone is worth keeping only as long as such an upsert can still come.
pub async fn sweep_tombstones(index: &dyn SearchIndex, retention: std::time::Duration) {
    let deleted_before =
        chrono::Utc::now().timestamp() - i64::try_from(retention.as_secs()).unwrap_or(i64::MAX);
    match index.sweep_tombstones(deleted_before).await {
        Ok(0) => {}
        Ok(swept) => tracing::debug!(swept, "search index tombstones swept"),
        Err(error) => tracing::warn!(%error, "search index tombstones not swept now"),
    }
}

/// Runs [`reconcile`] now and then every `interval`, and [`sweep_tombstones`] with
/// `tombstone_retention` every [`SWEEP_INTERVAL`], until `stop` fires.
pub async fn run(
    store: Arc<dyn SearchStore>,
    index: Arc<dyn SearchIndex>,
    interval: std::time::Duration,
    tombstone_retention: std::time::Duration,
    stop: CancellationToken,
) {
    let mut settling = Settling::default();
    let mut last_sweep: Option<std::time::Instant> = None;
    loop {
        reconcile(store.as_ref(), index.as_ref(), &mut settling, &stop).await;
        if last_sweep.is_none_or(|at| at.elapsed() >= SWEEP_INTERVAL) {
            sweep_tombstones(index.as_ref(), tombstone_retention).await;
            last_sweep = Some(std::time::Instant::now());
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(interval) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> AccountKey {
        AccountKey {
            user_id: uuid::Uuid::from_u128(7),
            session_index: 1,
        }
    }

    #[test]
    fn a_new_account_is_built_again_once_at_each_age_not_at_every_pass() {
        let mut settling = Settling::default();
        // Built at first sight, 2 s after linking.
        settling.built(key(), chrono::TimeDelta::seconds(2));
        let due_at = |settling: &mut Settling, seconds| {
            settling.due(key(), chrono::TimeDelta::seconds(seconds))
        };
        assert!(!due_at(&mut settling, 7));
        assert!(!due_at(&mut settling, 25));
        assert!(due_at(&mut settling, 31), "30 s after linking");
        assert!(!due_at(&mut settling, 36));
        assert!(!due_at(&mut settling, 170));
        assert!(due_at(&mut settling, 181), "3 min after linking");
        assert!(!due_at(&mut settling, 186));
        let linked = std::iter::once(key()).collect();
        settling.prune(&linked);
        assert!(settling.done.is_empty(), "past every age: forgotten");
    }

    #[test]
    fn an_account_met_after_a_restart_is_not_built_again_for_ages_it_passed() {
        let mut settling = Settling::default();
        assert!(!settling.due(key(), chrono::TimeDelta::seconds(100)));
        assert!(settling.due(key(), chrono::TimeDelta::seconds(200)));
        // An account older than every age never is.
        let mut settling = Settling::default();
        assert!(!settling.due(key(), chrono::TimeDelta::days(3)));
    }
}
