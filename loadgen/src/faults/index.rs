//! The search index after the fault: every accepted send must be found exactly once by
//! its sender's account and once by its peer's (each indexes the private chat they
//! share), through the index alone. The route is `GET /me/search/messages/{user}/1` with
//! `chat_id` and `from` and no words: without words Telegram's own search is not asked,
//! so nothing it finds is indexed on the way (ADR 0035) to hide a message the index
//! missed. The index is eventually consistent, so the check is read again (a few pages
//! of 100 per user each time) until it is complete or [`INDEX_WAIT`] is over.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures::StreamExt as _;
use serde_json::Value;

use super::{Copies, REQUEST_TIMEOUT, UserLog, numbered};
use crate::setup::Account;

/// How long, once the deliveries are checked, the index may take to hold them all.
pub(super) const INDEX_WAIT: Duration = Duration::from_secs(30);
/// The pause between two reads of every index.
const INDEX_POLL: Duration = Duration::from_secs(2);
/// A page of hits, the most the route gives.
const PAGE: u32 = 100;
/// A bound on one walk (100 pages: 10,000 messages of one chat since the run began).
const MAX_PAGES: usize = 100;
/// Users whose index is read at the same time.
const PARALLEL: usize = 4;

/// What the indexes hold against what was accepted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct IndexCounts {
    /// Accepted, not found by the sender's account.
    pub missing: usize,
    /// Found by the sender's account more than once.
    pub doubled: usize,
    /// Accepted, not found by the peer's account.
    pub missing_at_peer: usize,
    /// Found by the peer's account more than once.
    pub doubled_at_peer: usize,
}

impl IndexCounts {
    pub(super) fn complete(&self) -> bool {
        *self == Self::default()
    }
}

/// This run's texts one account's index found in its private chat: sender → the number
/// of each hit (a number twice when two hits carry the same text).
type Found = HashMap<usize, Vec<u64>>;

/// The counts, from what each user's index found (`found[user]`, empty when it could not
/// be read). `peers[user]` is the user writing into `user`'s private chat, if any.
pub(super) fn count_index(
    peers: &[Option<usize>],
    logs: &[UserLog],
    found: &[Found],
) -> IndexCounts {
    let mut counts = IndexCounts::default();
    let copies_by = |found: &Found, sender: usize| {
        Copies::of(found.get(&sender).into_iter().flatten().copied())
    };
    for (user, found) in found.iter().enumerate() {
        let mine = copies_by(found, user);
        counts.missing += mine.missing(&logs[user].accepted);
        counts.doubled += mine.doubled();
        let Some(peer) = peers[user] else { continue };
        let theirs = copies_by(found, peer);
        counts.missing_at_peer += theirs.missing(&logs[peer].accepted);
        counts.doubled_at_peer += theirs.doubled();
    }
    counts
}

/// Adds one page's hits of this run (`prefix`) to `found`: only the index's hits
/// (`source: cache`). A text on two hits is there twice: a message indexed twice, or
/// two pages that overlap, are both the index's fault.
fn take_page(page: &Value, prefix: &str, found: &mut Found) {
    let hits = page["hits"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    for hit in hits {
        if hit["source"].as_str() != Some("cache") {
            continue;
        }
        if let Some((sender, seq)) = hit["message"]["text"]
            .as_str()
            .and_then(|text| numbered(text, prefix))
        {
            found.entry(sender).or_default().push(seq);
        }
    }
}

/// Where a walk reads.
pub(super) struct Walk<'a> {
    pub client: &'a reqwest::Client,
    pub base: &'a str,
    pub prefix: &'a str,
    /// Unix seconds: messages sent before the run are not asked for.
    pub since: i64,
}

/// One account's index: every hit of its private chat since the run began, page by page.
/// Returns what it found and how many requests it took.
async fn walk(walk: &Walk<'_>, account: &Account) -> (anyhow::Result<Found>, u32) {
    let mut found = Found::new();
    let mut cursor: Option<String> = None;
    let mut requests = 0;
    for _ in 0..MAX_PAGES {
        let mut query = vec![
            ("chat_id", account.chat_id.clone()),
            ("from", walk.since.to_string()),
            ("limit", PAGE.to_string()),
        ];
        if let Some(cursor) = cursor.take() {
            query.push(("cursor", cursor));
        }
        requests += 1;
        let page = async {
            walk.client
                .get(format!(
                    "{}/me/search/messages/{}/1",
                    walk.base, account.user_id
                ))
                .query(&query)
                .bearer_auth(&account.token)
                .timeout(REQUEST_TIMEOUT)
                .send()
                .await?
                .error_for_status()?
                .json::<Value>()
                .await
        }
        .await
        .context("index search");
        let page = match page {
            Ok(page) => page,
            Err(error) => return (Err(error), requests),
        };
        take_page(&page, walk.prefix, &mut found);
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return (Ok(found), requests),
        }
    }
    (Ok(found), requests)
}

/// What the wait for the index ended with.
pub(super) struct IndexCheck {
    pub counts: IndexCounts,
    /// From the start of the check to its last read.
    pub waited: Duration,
    /// Search requests made.
    pub searches: u32,
    /// Walks that failed (a request refused or unanswered); their account counted as
    /// holding nothing in that read.
    pub errors: u32,
}

/// Reads every account's index until the counts are complete or [`INDEX_WAIT`] is over.
pub(super) async fn check(
    walk_at: &Walk<'_>,
    accounts: &[Account],
    peers: &[Option<usize>],
    logs: &[UserLog],
) -> IndexCheck {
    let started = Instant::now();
    let deadline = started + INDEX_WAIT;
    let mut searches = 0;
    let mut errors = 0;
    loop {
        let walks: Vec<(usize, (anyhow::Result<Found>, u32))> =
            futures::stream::iter(accounts.iter().enumerate())
                .map(|(user, account)| async move { (user, walk(walk_at, account).await) })
                .buffer_unordered(PARALLEL)
                .collect()
                .await;
        let mut found = vec![Found::new(); accounts.len()];
        for (user, (result, requests)) in walks {
            searches += requests;
            match result {
                Ok(of_user) => found[user] = of_user,
                Err(error) => {
                    errors += 1;
                    eprintln!("index of user {user}: {error:#}");
                }
            }
        }
        let counts = count_index(peers, logs, &found);
        if counts.complete() || Instant::now() > deadline {
            return IndexCheck {
                counts,
                waited: started.elapsed(),
                searches,
                errors,
            };
        }
        tokio::time::sleep(INDEX_POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::Accepted;
    use super::*;

    fn accepted(seqs: &[u64]) -> UserLog {
        UserLog {
            accepted: seqs
                .iter()
                .map(|seq| Accepted {
                    seq: *seq,
                    job_id: format!("job-{seq}"),
                    accepted_at: chrono::Utc::now(),
                    accepted_instant: Instant::now(),
                })
                .collect(),
            ..UserLog::default()
        }
    }

    fn found(entries: &[(usize, &[u64])]) -> Found {
        entries
            .iter()
            .map(|(sender, seqs)| (*sender, seqs.to_vec()))
            .collect()
    }

    #[test]
    fn every_accepted_send_found_once_on_both_sides_is_complete() {
        let peers = [Some(1), Some(0)];
        let logs = [accepted(&[1, 2, 3]), accepted(&[1, 2])];
        let indexes = [
            found(&[(0, &[3, 2, 1]), (1, &[2, 1])]),
            found(&[(1, &[1, 2]), (0, &[1, 2, 3])]),
        ];
        let counts = count_index(&peers, &logs, &indexes);
        assert_eq!(counts, IndexCounts::default());
        assert!(counts.complete());
    }

    #[test]
    fn a_send_missing_or_doubled_counts_for_the_side_that_lacks_or_doubles_it() {
        let peers = [Some(1), Some(0)];
        let logs = [accepted(&[1, 2, 3]), accepted(&[1, 2])];
        let indexes = [
            // The sender's index lacks its #2 and holds its #3 twice; the peer's #1 twice.
            found(&[(0, &[1, 3, 3]), (1, &[1, 1, 2])]),
            // The peer's index lacks the sender's #1 and #3, and all of its own.
            found(&[(0, &[2])]),
        ];
        let counts = count_index(&peers, &logs, &indexes);
        assert_eq!(
            counts,
            IndexCounts {
                missing: 1 + 2,
                doubled: 1,
                missing_at_peer: 2,
                doubled_at_peer: 1,
            }
        );
        assert!(!counts.complete());
    }

    #[test]
    fn an_index_that_could_not_be_read_misses_everything_and_a_user_without_peer_only_its_own() {
        let peers = [None, Some(2), Some(1)];
        let logs = [accepted(&[1, 2]), accepted(&[1]), accepted(&[1, 2, 3])];
        // User 0 writes to someone outside the run; 1 and 2 share a chat; 2's index
        // could not be read.
        let indexes = [
            found(&[(0, &[1, 2])]),
            found(&[(1, &[1]), (2, &[1, 2, 3])]),
            Found::new(),
        ];
        let counts = count_index(&peers, &logs, &indexes);
        assert_eq!(
            counts,
            IndexCounts {
                missing: 3,
                doubled: 0,
                missing_at_peer: 1,
                doubled_at_peer: 0,
            }
        );
    }

    #[test]
    fn a_page_gives_this_runs_texts_of_the_index_alone() {
        let prefix = super::super::prefix_of("ab12cd34");
        let page = json!({
            "hits": [
                {"source": "cache", "message": {"text": "fault ab12cd34 u3 #7"}},
                {"source": "cache", "message": {"text": "fault ab12cd34 u3 #7"}},
                {"source": "cache", "message": {"text": "fault ab12cd34 u1 #12"}},
                // Another run, Telegram's own search, and no text of a run at all.
                {"source": "cache", "message": {"text": "fault ffffffff u3 #8"}},
                {"source": "telegram", "message": {"text": "fault ab12cd34 u3 #9"}},
                {"source": "cache", "message": {"text": "hello"}},
                {"source": "cache", "message": {"text": "fault ab12cd34 u3 #x"}},
            ],
            "next_cursor": null,
            "partial": false,
        });
        let mut found = Found::new();
        take_page(&page, &prefix, &mut found);
        take_page(&json!({"hits": []}), &prefix, &mut found);
        let mut expected = Found::new();
        expected.insert(3, vec![7, 7]);
        expected.insert(1, vec![12]);
        assert_eq!(found, expected);
    }
}
