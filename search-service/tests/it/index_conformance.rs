//! The behaviour every [`SearchIndex`] backend must have, written once and run on each
//! (`index_conformance_tests!` in `main.rs`), each run on fresh databases.

use std::sync::Arc;

use talkapp_search_service::index::{
    IndexChange, IndexedChat, IndexedMessage, MessageQuery, MessageRef, SearchIndex, kind,
};
use talkapp_search_service::normalize;
use talkapp_store::AccountKey;
use uuid::Uuid;

use crate::helpers::TestPlace;

fn account() -> AccountKey {
    AccountKey {
        user_id: Uuid::new_v4(),
        session_index: 1,
    }
}

fn message(
    key: AccountKey,
    chat_id: i64,
    message_id: i32,
    date: i64,
    text: &str,
) -> IndexedMessage {
    IndexedMessage {
        key,
        chat_id,
        message_id,
        date,
        sender_id: Some(100 + i64::from(message_id % 3)),
        kinds: kind::of_message(text, None, []),
        terms: normalize::terms(text),
    }
}

/// Upserts without event ids (as a build from the cache writes them).
fn upsert(messages: Vec<IndexedMessage>) -> Vec<IndexChange> {
    messages.into_iter().map(built).collect()
}

/// A message written by a build from the cache (no event id).
fn built(message: IndexedMessage) -> IndexChange {
    IndexChange::UpsertMessage {
        message,
        event_id: None,
    }
}

/// A message told by the event `event_id` (new or edited).
fn told(event_id: i64, message: IndexedMessage) -> IndexChange {
    IndexChange::UpsertMessage {
        message,
        event_id: Some(event_id),
    }
}

/// Messages deleted by the event `event_id`.
fn deleted(event_id: i64, key: AccountKey, chat_id: Option<i64>, ids: &[i32]) -> IndexChange {
    IndexChange::DeleteMessages {
        key,
        chat_id,
        message_ids: ids.to_vec(),
        event_id: Some(event_id),
    }
}

fn query(text: &str) -> MessageQuery {
    MessageQuery {
        terms: normalize::query_terms(text),
        limit: 50,
        ..MessageQuery::default()
    }
}

fn ids(found: &[MessageRef]) -> Vec<i32> {
    found.iter().map(|found| found.message_id).collect()
}

pub(crate) async fn word_prefixes_find_messages_of_that_account_only(place: Arc<TestPlace>) {
    let index = place.open_index().await;
    let (alice, bob) = (account(), account());
    index
        .apply(&upsert(vec![
            message(alice, 5, 1, 100, "Salomlar, dunyo!"),
            message(alice, 5, 2, 200, "Ассалому алайкум, салом"),
            message(alice, 6, 3, 300, "nothing here"),
            message(bob, 5, 1, 100, "salom from bob"),
        ]))
        .await
        .expect("indexed");

    let found = index
        .search_messages(alice, &query("salom"))
        .await
        .expect("search");
    assert_eq!(
        ids(&found),
        vec![2, 1],
        "newest first, Latin finds Cyrillic"
    );
    assert_eq!(
        ids(&index
            .search_messages(alice, &query("SALOM dun"))
            .await
            .expect("search")),
        vec![1],
        "every term must match"
    );
    assert!(
        index
            .search_messages(alice, &query("alom"))
            .await
            .expect("search")
            .is_empty(),
        "a prefix of a word, not any substring"
    );
    assert_eq!(
        ids(&index
            .search_messages(bob, &query("salom"))
            .await
            .expect("search")),
        vec![1]
    );
    let other = AccountKey {
        session_index: 2,
        ..alice
    };
    assert!(
        index
            .search_messages(other, &query("salom"))
            .await
            .expect("search")
            .is_empty(),
        "another account of the same user has its own index"
    );
    assert_eq!(index.message_count(alice).await.expect("count"), 3);
}

pub(crate) async fn an_edit_replaces_the_terms_and_a_deletion_removes_them(place: Arc<TestPlace>) {
    let index = place.open_index().await;
    let key = account();
    index
        .apply(&upsert(vec![
            message(key, 5, 1, 100, "first draft"),
            message(key, -1_000_000_000_123, 1, 100, "channel post draft"),
        ]))
        .await
        .expect("indexed");
    index
        .apply(&upsert(vec![message(key, 5, 1, 100, "final version")]))
        .await
        .expect("edited");
    assert_eq!(
        ids(&index
            .search_messages(key, &query("draft"))
            .await
            .expect("search")),
        vec![1],
        "only the channel post still says draft"
    );
    assert_eq!(
        ids(&index
            .search_messages(key, &query("final"))
            .await
            .expect("search")),
        vec![1]
    );
    // Without a chat: private chats and basic groups only; the channel's id 1 stays.
    index
        .apply(&[IndexChange::DeleteMessages {
            key,
            chat_id: None,
            message_ids: vec![1],
            event_id: None,
        }])
        .await
        .expect("deleted");
    assert!(
        index
            .search_messages(key, &query("final"))
            .await
            .expect("search")
            .is_empty()
    );
    assert_eq!(
        ids(&index
            .search_messages(key, &query("draft"))
            .await
            .expect("search")),
        vec![1]
    );
    index
        .apply(&[IndexChange::DeleteMessages {
            key,
            chat_id: Some(-1_000_000_000_123),
            message_ids: vec![1, 99],
            event_id: None,
        }])
        .await
        .expect("deleted in the channel");
    assert_eq!(index.message_count(key).await.expect("count"), 0);
}

pub(crate) async fn filters_are_exact_at_their_edges_and_pages_follow_the_order(
    place: Arc<TestPlace>,
) {
    let index = place.open_index().await;
    let key = account();
    let mut messages: Vec<IndexedMessage> = (1..=10)
        .map(|id| {
            message(
                key,
                if id % 2 == 0 { 7 } else { 8 },
                id,
                1_000 + i64::from(id) * 10,
                "hisobot",
            )
        })
        .collect();
    messages[0].kinds = kind::PHOTO | kind::LINK;
    // Two messages at the same second: the order is then by chat, then id.
    messages.push(message(key, 9, 11, 1_100, "hisobot"));
    index.apply(&upsert(messages)).await.expect("indexed");

    let with = |change: fn(&mut MessageQuery)| {
        let mut query = query("hisobot");
        change(&mut query);
        query
    };
    let all = index
        .search_messages(key, &query("hisobot"))
        .await
        .expect("all");
    assert_eq!(ids(&all), vec![11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1]);
    let dated = index
        .search_messages(
            key,
            &with(|query| {
                query.from_date = Some(1_030);
                query.to_date = Some(1_060);
            }),
        )
        .await
        .expect("dated");
    assert_eq!(ids(&dated), vec![6, 5, 4, 3], "from and to are inclusive");
    let in_chat = index
        .search_messages(key, &with(|query| query.chat_id = Some(7)))
        .await
        .expect("chat");
    assert_eq!(ids(&in_chat), vec![10, 8, 6, 4, 2]);
    let by_sender = index
        .search_messages(key, &with(|query| query.sender_id = Some(100)))
        .await
        .expect("sender");
    assert_eq!(ids(&by_sender), vec![9, 6, 3]);
    let links = index
        .search_messages(key, &with(|query| query.kinds = Some(kind::LINK)))
        .await
        .expect("kind");
    assert_eq!(ids(&links), vec![1]);
    let no_text = index
        .search_messages(
            key,
            &MessageQuery {
                chat_id: Some(9),
                limit: 10,
                ..MessageQuery::default()
            },
        )
        .await
        .expect("filters alone");
    assert_eq!(ids(&no_text), vec![11]);

    let mut pages = Vec::new();
    let mut before = None;
    loop {
        let page = index
            .search_messages(
                key,
                &MessageQuery {
                    before,
                    limit: 3,
                    ..query("hisobot")
                },
            )
            .await
            .expect("page");
        let Some(last) = page.last() else { break };
        before = Some((last.date, last.chat_id, last.message_id));
        pages.extend(ids(&page));
    }
    assert_eq!(pages, ids(&all), "pages neither repeat nor skip");
}

pub(crate) async fn chats_keep_a_known_phone_and_accounts_are_forgotten_whole(
    place: Arc<TestPlace>,
) {
    let index = place.open_index().await;
    let key = account();
    let chat = |title: &str, phone: &str, top_date: i64| IndexedChat {
        key,
        chat_id: 42,
        kind: "private".into(),
        title: title.into(),
        username: "ali_v".into(),
        phone: phone.into(),
        top_date,
    };
    index
        .apply(&[IndexChange::UpsertChat {
            chat: chat("Ali", "998901112233", 50),
            event_id: None,
        }])
        .await
        .expect("chat");
    index
        .apply(&[
            IndexChange::UpsertChat {
                chat: chat("Ali Valiyev", "", 40),
                event_id: None,
            },
            built(message(key, 42, 1, 1, "salom")),
        ])
        .await
        .expect("renamed");
    let chats = index.chats(key, 10).await.expect("chats");
    assert_eq!(chats.len(), 1);
    assert_eq!(chats[0].title, "Ali Valiyev");
    assert_eq!(
        chats[0].phone, "998901112233",
        "an unknown phone keeps the known one"
    );
    assert_eq!(chats[0].top_date, 50, "activity only moves forward");

    assert!(index.built_accounts().await.expect("built").is_empty());
    index.mark_built(key).await.expect("built");
    assert_eq!(index.built_accounts().await.expect("built"), vec![key]);
    assert!(index.size_on_disk().await.expect("size") > 0);

    index.forget_account(key).await.expect("forgotten");
    assert!(index.chats(key, 10).await.expect("chats").is_empty());
    assert_eq!(index.message_count(key).await.expect("count"), 0);
    assert!(index.built_accounts().await.expect("built").is_empty());
}

pub(crate) async fn reopening_keeps_the_schema_and_the_data(place: Arc<TestPlace>) {
    let key = account();
    {
        let index = place.open_index().await;
        index
            .apply(&upsert(vec![message(key, 1, 1, 1, "kept across restarts")]))
            .await
            .expect("indexed");
    }
    let again: Arc<dyn SearchIndex> = place.open_index().await;
    assert_eq!(
        ids(&again
            .search_messages(key, &query("restarts"))
            .await
            .expect("search")),
        vec![1]
    );
}

pub(crate) async fn search_syntax_in_terms_is_never_an_error(place: Arc<TestPlace>) {
    let index = place.open_index().await;
    let key = account();
    index
        .apply(&upsert(vec![message(
            key,
            1,
            1,
            1,
            "or near and not salom",
        )]))
        .await
        .expect("indexed");
    for text in [
        "\"salom",
        "salom*",
        "NEAR(salom or)",
        "salom OR near",
        "terms: salom",
        "(salom",
        "'; DROP TABLE search_messages; --",
        "salom AND NOT",
        "^salom",
        "-salom",
        "salom\\",
        "'salom':*",
    ] {
        let found = index
            .search_messages(
                key,
                &MessageQuery {
                    terms: normalize::query_terms(text),
                    limit: 10,
                    ..MessageQuery::default()
                },
            )
            .await;
        assert!(found.is_ok(), "{text:?}: {found:?}");
    }
    assert_eq!(
        ids(&index
            .search_messages(key, &query("NEAR(salom"))
            .await
            .expect("search")),
        vec![1],
        "the words are found as words"
    );
}

pub(crate) async fn found_messages_are_added_once_and_never_over_what_the_events_wrote(
    place: Arc<TestPlace>,
) {
    let index = place.open_index().await;
    let key = account();
    let old = message(key, 5, 3, 100, "eski hisobot arxivdan");
    assert!(
        index
            .add_found(std::slice::from_ref(&old))
            .await
            .expect("add")
            .is_empty(),
        "an account not built yet takes nothing (its build reads the cache)"
    );
    assert_eq!(index.message_count(key).await.expect("count"), 0);

    index.mark_built(key).await.expect("built");
    // Indexed by an event, then edited: the index has the newest text.
    index
        .apply(&upsert(vec![message(key, 5, 4, 200, "yangi hisobot")]))
        .await
        .expect("indexed");
    index
        .apply(&upsert(vec![message(key, 5, 4, 200, "tahrirlangan matn")]))
        .await
        .expect("edited");
    // Telegram's search found the old message and an older copy of the edited one.
    let added = index
        .add_found(&[old.clone(), message(key, 5, 4, 200, "yangi hisobot")])
        .await
        .expect("add");
    assert_eq!(added, vec![(5, 3)], "only what the index lacked");
    assert_eq!(
        ids(&index
            .search_messages(key, &query("hisobot"))
            .await
            .expect("search")),
        vec![3],
        "the found copy did not bring the edited message's old words back"
    );
    assert_eq!(
        ids(&index
            .search_messages(key, &query("tahrir"))
            .await
            .expect("search")),
        vec![4]
    );
    assert!(
        index.add_found(&[old]).await.expect("again").is_empty(),
        "found again: nothing to add"
    );
    assert_eq!(index.message_count(key).await.expect("count"), 2);

    // A found message follows the events like any other.
    index
        .apply(&upsert(vec![message(key, 5, 3, 100, "eski arxiv")]))
        .await
        .expect("edited");
    assert!(
        index
            .search_messages(key, &query("hisobot"))
            .await
            .expect("search")
            .is_empty()
    );
    index
        .apply(&[IndexChange::DeleteMessages {
            key,
            chat_id: Some(5),
            message_ids: vec![3],
            event_id: None,
        }])
        .await
        .expect("deleted");
    assert!(
        index
            .search_messages(key, &query("arxiv"))
            .await
            .expect("search")
            .is_empty()
    );

    // Forgotten (unlinked): a search still under way adds nothing back.
    index.forget_account(key).await.expect("forgotten");
    assert!(
        index
            .add_found(&[message(key, 5, 9, 300, "kech qolgan")])
            .await
            .expect("add")
            .is_empty()
    );
    assert_eq!(index.message_count(key).await.expect("count"), 0);
}

fn private_chat(key: AccountKey, title: &str) -> IndexedChat {
    IndexedChat {
        key,
        chat_id: 42,
        kind: "private".into(),
        title: title.into(),
        username: String::new(),
        phone: String::new(),
        top_date: 10,
    }
}

async fn skipped(index: &Arc<dyn SearchIndex>, changes: &[IndexChange]) -> u64 {
    index.apply(changes).await.expect("applied").skipped_stale
}

async fn found(index: &Arc<dyn SearchIndex>, key: AccountKey, text: &str) -> Vec<i32> {
    ids(&index
        .search_messages(key, &query(text))
        .await
        .expect("search"))
}

/// An account's events are applied in event-id order whatever order they come in: an
/// older upsert told after a newer one (a publisher's replay after the account moved to
/// another host, ADR 0045) leaves the newer text, one change at a time or in a batch.
pub(crate) async fn an_older_event_told_after_a_newer_one_changes_nothing(place: Arc<TestPlace>) {
    let index = place.open_index().await;
    let key = account();
    // One change per call (PostgreSQL's single-statement path).
    assert_eq!(
        skipped(&index, &[told(5, message(key, 5, 1, 100, "first draft"))]).await,
        0
    );
    assert_eq!(
        skipped(&index, &[told(10, message(key, 5, 1, 100, "edited text"))]).await,
        0
    );
    assert_eq!(
        skipped(
            &index,
            &[told(7, message(key, 5, 1, 100, "replayed draft"))]
        )
        .await,
        1,
        "the older upsert is skipped as stale"
    );
    assert_eq!(found(&index, key, "edited").await, [1]);
    assert!(found(&index, key, "draft").await.is_empty());
    assert_eq!(
        skipped(&index, &[told(10, message(key, 5, 1, 100, "same event"))]).await,
        1,
        "the same event again is no newer"
    );
    assert!(found(&index, key, "same").await.is_empty());

    // In one batch (a transaction), and for chats too.
    let applied = index
        .apply(&[
            told(20, message(key, 5, 2, 200, "yangi matn")),
            IndexChange::UpsertChat {
                chat: private_chat(key, "Ali Valiyev"),
                event_id: Some(21),
            },
            told(11, message(key, 5, 2, 200, "eski matn")),
            IndexChange::UpsertChat {
                chat: private_chat(key, "Ali"),
                event_id: Some(12),
            },
            told(22, message(key, 5, 1, 100, "latest text")),
        ])
        .await
        .expect("applied");
    assert_eq!(applied.skipped_stale, 2);
    assert_eq!(found(&index, key, "matn").await, [2]);
    assert!(found(&index, key, "eski").await.is_empty());
    assert_eq!(found(&index, key, "latest").await, [1]);
    let chats = index.chats(key, 10).await.expect("chats");
    assert_eq!(chats.len(), 1);
    assert_eq!(
        chats[0].title, "Ali Valiyev",
        "the older chat change is skipped"
    );
    assert_eq!(index.message_count(key).await.expect("count"), 2);
}

/// A deletion is final (Telegram never reuses a message id): its tombstone keeps out
/// every later upsert of the message, older or newer, an event's, a build's or a found
/// copy, and shows in no search or count.
pub(crate) async fn a_deletion_is_final_and_its_tombstone_neither_shows_nor_counts(
    place: Arc<TestPlace>,
) {
    let index = place.open_index().await;
    let key = account();
    index
        .apply(&[
            told(3, message(key, 5, 1, 100, "hisobot bir")),
            told(4, message(key, 5, 2, 200, "hisobot ikki")),
        ])
        .await
        .expect("indexed");
    assert_eq!(skipped(&index, &[deleted(12, key, Some(5), &[1])]).await, 0);
    assert_eq!(
        skipped(&index, &[told(9, message(key, 5, 1, 100, "hisobot bir"))]).await,
        1,
        "the replayed older upsert is stale"
    );
    assert_eq!(found(&index, key, "hisobot").await, [2]);
    assert_eq!(index.message_count(key).await.expect("count"), 1);
    let in_chat = index
        .search_messages(
            key,
            &MessageQuery {
                chat_id: Some(5),
                limit: 10,
                ..MessageQuery::default()
            },
        )
        .await
        .expect("filters alone");
    assert_eq!(ids(&in_chat), [2], "no tombstone among the filtered");
    assert_eq!(
        skipped(
            &index,
            &[told(15, message(key, 5, 1, 100, "hisobot qayta"))]
        )
        .await,
        1,
        "a newer upsert does not bring it back either"
    );
    assert!(found(&index, key, "qayta").await.is_empty());

    // A deletion told without its chat, before the message (its `message.new` lost,
    // replayed later): private chats and basic groups, not a channel's message 7.
    assert_eq!(
        skipped(&index, &[deleted(20, key, None, &[7, 7])]).await,
        0,
        "an id told twice is one tombstone"
    );
    assert_eq!(
        skipped(
            &index,
            &[told(8, message(key, 6, 7, 300, "yo'qolgan xabar"))]
        )
        .await,
        1
    );
    assert_eq!(
        skipped(
            &index,
            &[told(
                21,
                message(key, -1_000_000_000_123, 7, 300, "kanal xabari")
            )]
        )
        .await,
        0
    );
    assert!(found(&index, key, "yo'qolgan").await.is_empty());
    assert_eq!(found(&index, key, "xabar").await, [7]);

    // Neither a build nor a found copy brings a deleted message back.
    index.mark_built(key).await.expect("built");
    assert_eq!(
        skipped(&index, &[built(message(key, 5, 1, 100, "hisobot bir"))]).await,
        0,
        "a build's write is not an event's: not counted"
    );
    assert!(
        index
            .add_found(&[message(key, 6, 7, 300, "yo'qolgan xabar")])
            .await
            .expect("add")
            .is_empty()
    );
    assert_eq!(found(&index, key, "hisobot").await, [2]);
    // A deletion told again is no error and changes nothing.
    index
        .apply(&[deleted(12, key, Some(5), &[1])])
        .await
        .expect("again");
    assert_eq!(index.message_count(key).await.expect("count"), 2);
}

/// A build from the cache and a found copy carry no event id: they never overwrite a row
/// an event wrote (the events keep it current), and any event overwrites theirs.
pub(crate) async fn builds_never_overwrite_what_an_event_wrote_and_events_overwrite_builds(
    place: Arc<TestPlace>,
) {
    let index = place.open_index().await;
    let key = account();
    index
        .apply(&[told(10, message(key, 5, 1, 100, "voqea matni"))])
        .await
        .expect("told");
    assert_eq!(
        skipped(&index, &[built(message(key, 5, 1, 100, "kesh nusxasi"))]).await,
        0
    );
    assert_eq!(found(&index, key, "voqea").await, [1]);
    assert!(found(&index, key, "kesh").await.is_empty());

    index
        .apply(&[built(message(key, 5, 2, 200, "eski kesh"))])
        .await
        .expect("built");
    assert_eq!(
        skipped(&index, &[told(2, message(key, 5, 2, 200, "yangi voqea"))]).await,
        0
    );
    assert_eq!(found(&index, key, "yangi").await, [2]);

    // A build over a build: the cache's newer state.
    index
        .apply(&[built(message(key, 5, 3, 300, "birinchi"))])
        .await
        .expect("built");
    index
        .apply(&[built(message(key, 5, 3, 300, "ikkinchi"))])
        .await
        .expect("built again");
    assert_eq!(found(&index, key, "ikkinchi").await, [3]);

    index
        .apply(&[IndexChange::UpsertChat {
            chat: private_chat(key, "Ali Valiyev"),
            event_id: Some(10),
        }])
        .await
        .expect("chat told");
    index
        .apply(&[IndexChange::UpsertChat {
            chat: private_chat(key, "Ali"),
            event_id: None,
        }])
        .await
        .expect("chat built");
    assert_eq!(
        index.chats(key, 10).await.expect("chats")[0].title,
        "Ali Valiyev"
    );
}

/// Tombstones are not forgotten with the account's index (a rebuild is when a replayed
/// older upsert would bring a deleted message back); the sweep removes those older than
/// its limit.
pub(crate) async fn tombstones_outlive_a_rebuild_and_go_at_the_sweep(place: Arc<TestPlace>) {
    let index = place.open_index().await;
    let key = account();
    index
        .apply(&[
            told(3, message(key, 5, 1, 100, "salom")),
            deleted(4, key, Some(5), &[1]),
        ])
        .await
        .expect("told");
    index.forget_account(key).await.expect("forgotten");
    assert_eq!(
        skipped(&index, &[told(3, message(key, 5, 1, 100, "salom"))]).await,
        1
    );
    index
        .apply(&[built(message(key, 5, 1, 100, "salom"))])
        .await
        .expect("built");
    assert!(found(&index, key, "salom").await.is_empty());

    let now = chrono::Utc::now().timestamp();
    assert_eq!(
        index.sweep_tombstones(now - 3600).await.expect("sweep"),
        0,
        "a recent tombstone stays"
    );
    assert_eq!(index.sweep_tombstones(now + 1).await.expect("sweep"), 1);
    index
        .apply(&[built(message(key, 5, 1, 100, "salom"))])
        .await
        .expect("built");
    assert_eq!(found(&index, key, "salom").await, [1]);
}
