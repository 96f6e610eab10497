//! The bare cost of the SQL a read runs, timed beside the read (issue 14: "the p50 of each
//! read against the bare cost of the SQL it runs, measured side by side in the same run:
//! within 3×").
//!
//! With `--store URL` (the backend's own database: `sqlite://…/talkapp.db` of the embedded
//! default, `postgres://…` of split mode), the `chats` and `history` scenarios also call
//! the store directly, from this process, during the same window: the same store reads
//! chat-service makes for the page (the list's one query; a history page's one query for
//! its chat, its messages and their senders), with no HTTP, JSON, gRPC or authentication
//! around them. The calls go one at a time at `BARE_PER_SECOND` (so they measure the queries' own
//! latency under the run's load, without adding much to it), each for the next user in
//! turn. Their CPU is this process's: the load generator's CPU line includes it.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use secrecy::SecretString;
use talkapp_store::{AccountKey, ChatListQuery, HistoryQuery, Store};

use crate::setup::Account;

/// How many direct store reads a second (one at a time).
const BARE_PER_SECOND: u64 = 100;

/// The page sizes the scenarios ask for (`?limit=20`, `?limit=50`), plus the one more
/// row chat-service reads to know whether there is a next page.
const CHATS_ROWS: u32 = 21;
const HISTORY_ROWS: u32 = 51;

/// Which read is timed.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Read {
    Chats,
    History,
}

impl Read {
    pub(crate) fn of_scenario(scenario: &str) -> Option<Self> {
        match scenario {
            "chats" => Some(Self::Chats),
            "history" => Some(Self::History),
            _ => None,
        }
    }
}

/// Opens the backend's store (no migration is made on a current schema).
pub(crate) async fn open(url: &str) -> anyhow::Result<Arc<dyn Store>> {
    let config = talkapp_common::config::DatabaseConfig {
        url: SecretString::from(url.to_owned()),
        max_connections: 2,
        connect_timeout_ms: 5_000,
        startup_timeout_ms: 5_000,
    };
    talkapp_store::connect(&config)
        .await
        .with_context(|| format!("cannot open the store at {url}"))
}

/// One read's store calls, as chat-service makes them for the page.
async fn read_once(store: &dyn Store, read: Read, account: &Account) -> anyhow::Result<()> {
    let key = AccountKey {
        user_id: account.user_id,
        session_index: 1,
    };
    match read {
        Read::Chats => {
            let query = ChatListQuery {
                kind: None,
                archived: None,
                after: None,
                limit: CHATS_ROWS,
            };
            let page = store.chat_list_page(key, &query).await?;
            anyhow::ensure!(!page.chats.is_empty(), "an empty chat list");
        }
        Read::History => {
            let chat_id: i64 = account.chat_id.parse().context("a chat id")?;
            let query = HistoryQuery {
                limit: HISTORY_ROWS,
                ..HistoryQuery::default()
            };
            // The chat, its messages and their senders (users), in one read; chats posting
            // in it other than itself (forwards from chats) in another, as the page's
            // views read them.
            let page = store
                .history_page(key, chat_id, &query)
                .await?
                .context("the chat is not cached")?;
            let chats: BTreeSet<i64> = page
                .messages
                .iter()
                .filter_map(|message| message.sender_id)
                .filter(|id| *id < 0 && *id != chat_id)
                .collect();
            if !chats.is_empty() {
                let ids: Vec<i64> = chats.into_iter().collect();
                store.cached_chats(key, &ids).await?;
            }
        }
    }
    Ok(())
}

/// What the direct reads measured.
pub(crate) struct Bare {
    /// Latencies in µs, sorted.
    pub(crate) latencies_micros: Vec<u32>,
    pub(crate) failures: usize,
}

/// Times `read` against `store` from `start` to `stop`, cycling through `accounts`.
pub(crate) async fn run(
    store: Arc<dyn Store>,
    read: Read,
    accounts: Arc<Vec<Account>>,
    start: Instant,
    stop: Instant,
) -> Bare {
    let mut bare = Bare {
        latencies_micros: Vec::new(),
        failures: 0,
    };
    if accounts.is_empty() {
        return bare;
    }
    tokio::time::sleep_until(start.into()).await;
    let mut ticks = tokio::time::interval(Duration::from_micros(1_000_000 / BARE_PER_SECOND));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut next = 0usize;
    loop {
        ticks.tick().await;
        if Instant::now() >= stop {
            break;
        }
        let account = &accounts[next % accounts.len()];
        next += 1;
        let began = Instant::now();
        match read_once(store.as_ref(), read, account).await {
            Ok(()) => bare
                .latencies_micros
                .push(u32::try_from(began.elapsed().as_micros()).unwrap_or(u32::MAX)),
            Err(error) => {
                if bare.failures == 0 {
                    eprintln!("a direct store read failed: {error:#}");
                }
                bare.failures += 1;
            }
        }
    }
    bare.latencies_micros.sort_unstable();
    bare
}
