//! The search service at its gRPC boundary, on a real store and bus: events in, hits out.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use talkapp_common::ErrorCode;
use talkapp_proto::realtime::v1 as realtime;
use talkapp_proto::search::v1 as proto;
use talkapp_search_service::index::MessageQuery;
use talkapp_search_service::normalize;
use talkapp_search_service::remote::{
    RemoteContact, RemoteError, RemoteHits, RemoteQuery, TelegramSearch,
};
use talkapp_store::{AccountKey, CachedMessage, ChatProfile};

use crate::helpers::{SearchApp, TestPlace, eventually, link_account, request, text_message};
use uuid::Uuid;

const WITHIN: Duration = Duration::from_secs(10);

fn profile(chat_id: i64, kind: &str, title: &str, username: &str) -> ChatProfile {
    ChatProfile {
        chat_id,
        kind: kind.into(),
        title: title.into(),
        username: username.into(),
        photo: None,
        members_count: None,
        is_creator: false,
        is_admin: false,
        has_left: false,
    }
}

async fn wait_found(app: &SearchApp, key: AccountKey, query: &str, expected: &[i32]) -> Duration {
    eventually(WITHIN, &format!("{query:?} finds {expected:?}"), || async {
        app.found_ids(key, query).await == expected
    })
    .await
}

pub(crate) async fn a_new_message_is_searchable_within_a_second_and_edits_and_deletes_follow(
    place: Arc<TestPlace>,
) {
    let app = SearchApp::spawn(&place, None).await;
    let key = app.linked_account().await;

    app.new_message(
        key,
        &text_message(42, 1, 1_700_000_000, "Ertaga soat 10 da uchrashamiz"),
    )
    .await;
    let lag = wait_found(&app, key, "uchrash", &[1]).await;
    assert!(lag < Duration::from_secs(1), "indexing lag {lag:?}");

    app.edited_message(
        key,
        &text_message(42, 1, 1_700_000_000, "Indinga ko'chirildi"),
    )
    .await;
    let lag = wait_found(&app, key, "uchrash", &[]).await;
    assert!(lag < Duration::from_secs(1), "edit lag {lag:?}");
    wait_found(&app, key, "ko‘chir", &[1]).await;

    app.deleted_messages(key, None, &[1]).await;
    let lag = wait_found(&app, key, "indinga", &[]).await;
    assert!(lag < Duration::from_secs(1), "delete lag {lag:?}");
    app.stop().await;
}

/// Two new messages, an edit of the first and the deletion of the second; the events.
async fn tell_four_events(app: &SearchApp, key: AccountKey) -> Vec<realtime::Event> {
    vec![
        app.new_message(key, &text_message(42, 1, 1_700_000_000, "alpha plan"))
            .await,
        app.new_message(key, &text_message(42, 2, 1_700_000_001, "gamma plan"))
            .await,
        app.edited_message(key, &text_message(42, 1, 1_700_000_000, "beta plan"))
            .await,
        app.deleted_messages(key, None, &[2]).await,
    ]
}

/// A publisher that lost its broker connection publishes its recent events again, in
/// their order, before anything newer (ADR 0045): the index ends where it was.
pub(crate) async fn events_told_again_in_their_order_leave_the_index_where_it_was(
    place: Arc<TestPlace>,
) {
    let app = SearchApp::spawn(&place, None).await;
    let key = app.linked_account().await;
    let told = tell_four_events(&app, key).await;
    wait_found(&app, key, "gamma", &[]).await;
    wait_found(&app, key, "plan", &[1]).await;

    // The replay, then a newer event: once the newer one is in, so is the replay.
    for event in &told {
        app.tell_again(event).await;
    }
    app.new_message(key, &text_message(42, 3, 1_700_000_002, "omega"))
        .await;
    wait_found(&app, key, "omega", &[3]).await;

    assert_eq!(app.found_ids(key, "beta").await, [1]);
    assert!(app.found_ids(key, "alpha").await.is_empty());
    assert!(app.found_ids(key, "gamma").await.is_empty());
    assert_eq!(app.found_ids(key, "plan").await, [1]);
    app.stop().await;
}

/// What the index itself finds for `text` in the account (hits are shown from the cache,
/// which would hide a deleted message the index still held).
async fn indexed_ids(app: &SearchApp, key: AccountKey, text: &str) -> Vec<i32> {
    app.index
        .search_messages(
            key,
            &MessageQuery {
                terms: normalize::query_terms(text),
                limit: 50,
                ..MessageQuery::default()
            },
        )
        .await
        .expect("index searched")
        .iter()
        .map(|found| found.message_id)
        .collect()
}

/// An account moved to another host while its old host still ran: the old host's
/// replay (ADR 0045) brings its older events after the new host's newer ones. Through
/// the bus (RabbitMQ on PostgreSQL) and ingest, the index keeps the edit and the
/// deletion (ADR 0047).
pub(crate) async fn older_events_told_after_newer_ones_bring_back_no_edit_or_deletion(
    place: Arc<TestPlace>,
) {
    let app = SearchApp::spawn(&place, None).await;
    let key = app.linked_account().await;
    // The old host: two new messages.
    let old_host = vec![
        app.new_message(key, &text_message(42, 1, 1_700_000_000, "alpha plan"))
            .await,
        app.new_message(key, &text_message(42, 2, 1_700_000_001, "gamma plan"))
            .await,
    ];
    // The new host: an edit of the first, the deletion of the second.
    app.edited_message(key, &text_message(42, 1, 1_700_000_000, "beta plan"))
        .await;
    app.deleted_messages(key, None, &[2]).await;
    wait_found(&app, key, "plan", &[1]).await;

    // The old host's replay, then a newer event: once the newer one is in, so is the
    // replay.
    for event in &old_host {
        app.tell_again(event).await;
    }
    app.new_message(key, &text_message(42, 3, 1_700_000_002, "omega"))
        .await;
    wait_found(&app, key, "omega", &[3]).await;

    assert_eq!(indexed_ids(&app, key, "beta").await, [1], "the edit stays");
    assert!(
        indexed_ids(&app, key, "alpha").await.is_empty(),
        "the older text did not come back"
    );
    assert!(
        indexed_ids(&app, key, "gamma").await.is_empty(),
        "the deleted message did not come back"
    );
    assert_eq!(indexed_ids(&app, key, "plan").await, [1]);
    assert_eq!(app.index.message_count(key).await.expect("count"), 2);
    assert_eq!(app.found_ids(key, "plan").await, [1]);
    app.stop().await;
}

pub(crate) async fn hits_carry_the_message_its_chat_and_the_matched_ranges(place: Arc<TestPlace>) {
    let app = SearchApp::spawn(&place, None).await;
    let key = app.linked_account().await;
    app.chat(key, profile(-555, "group", "Oila", ""), 1_700_000_100)
        .await;
    let mut message = text_message(-555, 9, 1_700_000_100, "Salom! 👋 Саломлар hammaga");
    message.details = r#"{"entities":[{"kind":"bold","offset":0,"length":5}],"media":{"kind":"photo","file":null,"thumbnail":null,"mime_type":null,"size":null,"file_name":null,"width":640,"height":480,"duration":null,"waveform":null,"title":null,"performer":null,"latitude":null,"longitude":null}}"#.into();
    app.new_message(key, &message).await;
    wait_found(&app, key, "salom", &[9]).await;

    let reply = app.search(request(key, "salom")).await.expect("search");
    let hit = &reply.hits[0];
    assert_eq!(hit.session_index, key.session_index);
    assert_eq!(hit.source, "cache");
    let shown = hit.message.as_ref().expect("message");
    assert_eq!(shown.chat_id, "-555");
    assert_eq!(shown.date, "2023-11-14T22:15:00Z");
    assert_eq!(shown.entities[0].kind, "bold");
    assert_eq!(shown.media.as_ref().expect("media").kind, "photo");
    assert_eq!(shown.media.as_ref().expect("media").width, Some(640));
    let chat = hit.chat.as_ref().expect("chat");
    assert_eq!((chat.title.as_str(), chat.kind.as_str()), ("Oila", "group"));
    let ranges: Vec<(u32, u32)> = hit.ranges.iter().map(|r| (r.offset, r.length)).collect();
    // "Salom" at 0, and "Саломлар" after the emoji (two UTF-16 units).
    assert_eq!(ranges, vec![(0, 5), (10, 8)]);
    assert!(!reply.partial);
    app.stop().await;
}

pub(crate) async fn uzbek_russian_and_english_are_found_across_scripts_and_spellings(
    place: Arc<TestPlace>,
) {
    let app = SearchApp::spawn(&place, None).await;
    let key = app.linked_account().await;
    let texts = [
        (1, "O‘zbekiston bo'ylab sayohat"),
        (2, "Ғалаба куни табриклайман"),
        (3, "Привет, как дела? Хорошо"),
        (4, "Meeting notes for Tuesday"),
        (5, "gʻalaba yaqin"),
    ];
    for (id, text) in texts {
        app.new_message(
            key,
            &text_message(7, id, 1_700_000_000 + i64::from(id), text),
        )
        .await;
    }
    wait_found(&app, key, "meeting", &[4]).await;
    for (query, expected) in [
        ("ўзбекистон", vec![1]),
        ("oʻzbek", vec![1]),
        ("o`zbek", vec![1]),
        ("BO‘YLAB", vec![1]),
        ("g'alaba", vec![5, 2]),
        ("ҒАЛАБ", vec![5, 2]),
        ("privet", vec![3]),
        ("khorosho", vec![3]),
        ("как", vec![3]),
        ("tues", vec![4]),
        ("MEET NOTE", vec![4]),
        ("meeting salom", vec![]),
    ] {
        assert_eq!(app.found_ids(key, query).await, expected, "{query}");
    }
    app.stop().await;
}

pub(crate) async fn filters_are_inclusive_and_exact_at_the_edges_and_pages_do_not_repeat(
    place: Arc<TestPlace>,
) {
    let app = SearchApp::spawn(&place, None).await;
    let key = app.linked_account().await;
    for id in 1..=12 {
        let chat = if id % 2 == 0 { 100 } else { 200 };
        let mut message = text_message(chat, id, 1_000_000 + i64::from(id) * 60, "hisobot tayyor");
        if id == 5 {
            message.details = r#"{"media":{"kind":"document","file_name":"yillik.pdf"}}"#.into();
        }
        if id == 6 {
            message.details = r#"{"entities":[{"kind":"url","offset":0,"length":3}]}"#.into();
            message.sender_id = Some(4242);
        }
        app.new_message(key, &message).await;
    }
    eventually(WITHIN, "12 indexed", || async {
        app.found_ids(key, "hisobot").await.len() == 12
    })
    .await;
    let ids = |reply: proto::SearchMessagesResponse| {
        reply
            .hits
            .iter()
            .filter_map(|hit| hit.message.as_ref().map(|message| message.id))
            .collect::<Vec<_>>()
    };
    let dated = app
        .search(proto::SearchMessagesRequest {
            from_date: Some(1_000_000 + 3 * 60),
            to_date: Some(1_000_000 + 6 * 60),
            ..request(key, "hisobot")
        })
        .await
        .expect("dated");
    assert_eq!(
        ids(dated),
        vec![6, 5, 4, 3],
        "both edges included, nothing past them"
    );
    let in_chat = app
        .search(proto::SearchMessagesRequest {
            chat_id: Some("100".into()),
            limit: Some(3),
            ..request(key, "hisobot")
        })
        .await
        .expect("chat");
    assert_eq!(ids(in_chat), vec![12, 10, 8]);
    for (kind, expected) in [("document", vec![5]), ("link", vec![6])] {
        let reply = app
            .search(proto::SearchMessagesRequest {
                kind: Some(kind.into()),
                ..request(key, "")
            })
            .await
            .expect("kind");
        assert_eq!(ids(reply), expected, "{kind}");
    }
    let by_file_name = app.found_ids(key, "yillik").await;
    assert_eq!(by_file_name, vec![5], "a file's name is searchable");
    let by_sender = app
        .search(proto::SearchMessagesRequest {
            sender_id: Some("4242".into()),
            ..request(key, "tayyor")
        })
        .await
        .expect("sender");
    assert_eq!(ids(by_sender), vec![6]);

    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = app
            .search(proto::SearchMessagesRequest {
                cursor: cursor.clone(),
                limit: Some(5),
                ..request(key, "hisobot")
            })
            .await
            .expect("page");
        cursor = page.next_cursor.clone();
        seen.extend(ids(page));
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(seen, (1..=12).rev().collect::<Vec<_>>());
    app.stop().await;
}

fn code_of(
    result: Result<proto::SearchMessagesResponse, talkapp_proto::tonic::Status>,
) -> ErrorCode {
    match result {
        Ok(reply) => panic!("expected a refusal, got {} hits", reply.hits.len()),
        Err(status) => ErrorCode::from_grpc_status(&status),
    }
}

pub(crate) async fn bad_input_is_refused_and_search_syntax_is_plain_text(place: Arc<TestPlace>) {
    let app = SearchApp::spawn(&place, None).await;
    let key = app.linked_account().await;
    app.new_message(key, &text_message(1, 1, 1_000, "select near or salom"))
        .await;
    wait_found(&app, key, "salom", &[1]).await;

    for (what, bad) in [
        ("empty q", request(key, "  ")),
        ("q over 256", request(key, &"a".repeat(257))),
        (
            "from after to",
            proto::SearchMessagesRequest {
                from_date: Some(2_000),
                to_date: Some(1_000),
                ..request(key, "salom")
            },
        ),
        (
            "limit over the maximum",
            proto::SearchMessagesRequest {
                limit: Some(101),
                ..request(key, "salom")
            },
        ),
        (
            "a foreign cursor",
            proto::SearchMessagesRequest {
                cursor: Some("bm90LWEtY3Vyc29y".into()),
                ..request(key, "salom")
            },
        ),
        (
            "an unknown kind",
            proto::SearchMessagesRequest {
                kind: Some("sticker".into()),
                ..request(key, "salom")
            },
        ),
        (
            "a chat id that is no id",
            proto::SearchMessagesRequest {
                chat_id: Some("abc".into()),
                ..request(key, "salom")
            },
        ),
        (
            "empty q across accounts",
            proto::SearchMessagesRequest {
                session_index: None,
                ..request(key, "")
            },
        ),
    ] {
        assert_eq!(
            code_of(app.search(bad).await),
            ErrorCode::ValidationFailed,
            "{what}"
        );
    }
    assert!(app.search(request(key, &"a".repeat(256))).await.is_ok());
    for syntax in [
        "\"salom",
        "salom*",
        "NEAR(salom, or)",
        "salom OR select",
        "text: salom",
        "((salom",
        "'; DROP TABLE search_messages; --",
        "*",
        "\"\"",
        "salom AND NOT",
    ] {
        let reply = app.search(request(key, syntax)).await;
        assert!(reply.is_ok(), "{syntax:?}: {reply:?}");
    }
    assert_eq!(app.found_ids(key, "NEAR(salom").await, vec![1]);
    app.stop().await;
}

pub(crate) async fn another_users_account_is_out_of_reach(place: Arc<TestPlace>) {
    let app = SearchApp::spawn(&place, None).await;
    let alice = app.linked_account().await;
    let bob = app.linked_account().await;
    app.new_message(alice, &text_message(1, 1, 1_000, "alice's secret maxfiy"))
        .await;
    wait_found(&app, alice, "maxfiy", &[1]).await;
    let as_bob = request(
        AccountKey {
            user_id: bob.user_id,
            session_index: alice.session_index + 1,
        },
        "maxfiy",
    );
    assert_eq!(code_of(app.search(as_bob).await), ErrorCode::NotFound);
    assert!(app.found_ids(bob, "maxfiy").await.is_empty());
    let across = app
        .search(proto::SearchMessagesRequest {
            session_index: None,
            ..request(bob, "maxfiy")
        })
        .await
        .expect("bob's accounts");
    assert!(across.hits.is_empty());
    app.stop().await;
}

pub(crate) async fn one_search_covers_every_account_of_the_user_and_names_each(
    place: Arc<TestPlace>,
) {
    let app = SearchApp::spawn(&place, None).await;
    let first = app.linked_account().await;
    let second = app.link(first.user_id).await;
    for (key, id, date) in [
        (first, 1, 1_000),
        (second, 1, 2_000),
        (first, 2, 3_000),
        (second, 2, 3_000),
    ] {
        app.new_message(key, &text_message(9, id, date, "umumiy xabar"))
            .await;
    }
    wait_found(&app, second, "umumiy", &[2, 1]).await;
    wait_found(&app, first, "umumiy", &[2, 1]).await;
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = app
            .search(proto::SearchMessagesRequest {
                session_index: None,
                cursor: cursor.clone(),
                limit: Some(1),
                ..request(first, "umumiy")
            })
            .await
            .expect("page");
        seen.extend(page.hits.iter().map(|hit| {
            (
                hit.session_index,
                hit.message.as_ref().map_or(0, |message| message.id),
            )
        }));
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(
        seen,
        vec![(2, 2), (1, 2), (2, 1), (1, 1)],
        "newest first, then by account; each hit names its account"
    );
    app.stop().await;
}

pub(crate) async fn the_index_is_built_from_the_cache_at_start_and_on_demand(
    place: Arc<TestPlace>,
) {
    // Messages backfilled into the cache come as no event: an account linked and
    // backfilled while the service was away is built from the cache when it starts. (One
    // backfilled while the service runs is built again 30 s and 3 min after linking:
    // `rebuild::Settling`, tested in that module.)
    let store = talkapp_store::connect(&place.config().database)
        .await
        .expect("store opens");
    let key = link_account(store.as_ref(), Uuid::new_v4()).await;
    store
        .upsert_messages(
            key,
            &(1..=700)
                .map(|id| text_message(3, id, i64::from(id), &format!("arxiv {id}")))
                .collect::<Vec<CachedMessage>>(),
            false,
        )
        .await
        .expect("backfilled");
    let first = SearchApp::spawn(&place, None).await;
    eventually(WITHIN, "backfill indexed", || async {
        first.index.message_count(key).await.unwrap_or(0) == 700
    })
    .await;
    assert_eq!(first.found_ids(key, "arxiv").await.len(), 20);

    first.index.forget_account(key).await.expect("lost");
    let rebuilt = first
        .client
        .clone()
        .rebuild_index(proto::RebuildIndexRequest {
            user_id: key.user_id.to_string(),
            session_index: key.session_index,
        })
        .await
        .expect("rebuilt")
        .into_inner();
    assert_eq!(rebuilt.messages, 700);
    assert_eq!(first.found_ids(key, "arxiv 700").await, vec![700]);
    first.stop().await;

    // An index that lacks the account (its data lost) is built again at start.
    let index = place.open_index().await;
    index.forget_account(key).await.expect("lost again");
    let second = SearchApp::spawn(&place, None).await;
    wait_found(&second, key, "arxiv 699", &[699]).await;
    second.stop().await;
}

pub(crate) async fn chats_are_found_by_title_username_name_and_phone_with_a_typo(
    place: Arc<TestPlace>,
) {
    let app = SearchApp::spawn(&place, None).await;
    let key = app.linked_account().await;
    app.store
        .upsert_users(
            key,
            &[talkapp_store::CachedUser {
                tg_user_id: 501,
                first_name: "Rustam".into(),
                last_name: "Qodirov".into(),
                username: "rustamq".into(),
                phone: "998901234567".into(),
                details: "{}".into(),
            }],
        )
        .await
        .expect("user");
    app.chat(
        key,
        profile(501, "private", "Rustam Qodirov", "rustamq"),
        300,
    )
    .await;
    app.chat(
        key,
        profile(
            -1_000_000_000_001,
            "channel",
            "Тошкент янгиликлари",
            "toshkent_news",
        ),
        200,
    )
    .await;
    app.chat(key, profile(-77, "group", "Futbol muxlislari", ""), 100)
        .await;
    let titles = |query: &'static str, kind: Option<&'static str>| {
        let mut client = app.client.clone();
        async move {
            client
                .search_chats(proto::SearchChatsRequest {
                    user_id: key.user_id.to_string(),
                    session_index: key.session_index,
                    query: query.into(),
                    kind: kind.map(str::to_owned),
                    ..proto::SearchChatsRequest::default()
                })
                .await
                .map(|reply| {
                    reply
                        .into_inner()
                        .hits
                        .into_iter()
                        .filter_map(|hit| hit.chat.map(|chat| chat.title))
                        .collect::<Vec<_>>()
                })
        }
    };
    eventually(WITHIN, "chats indexed", || async {
        titles("futbol", None)
            .await
            .map(|found| found.len())
            .unwrap_or(0)
            == 1
    })
    .await;
    for (query, expected) in [
        ("rustam", vec!["Rustam Qodirov"]),
        ("rsutam", vec!["Rustam Qodirov"]),
        ("qodirv", vec!["Rustam Qodirov"]),
        ("рустам", vec!["Rustam Qodirov"]),
        ("901234", vec!["Rustam Qodirov"]),
        ("toshkent", vec!["Тошкент янгиликлари"]),
        ("toshkent_news", vec!["Тошкент янгиликлари"]),
        ("yangilik", vec!["Тошкент янгиликлари"]),
        ("muxlis", vec!["Futbol muxlislari"]),
        ("zzzz", vec![]),
    ] {
        assert_eq!(
            titles(query, None).await.expect("chat search"),
            expected,
            "{query}"
        );
    }
    assert!(
        titles("rustam", Some("group"))
            .await
            .expect("typed")
            .is_empty()
    );
    let refused = titles("", None).await.expect_err("empty q");
    assert_eq!(
        ErrorCode::from_grpc_status(&refused),
        ErrorCode::ValidationFailed
    );
    let refused = titles("rustam", Some("bot")).await.expect_err("bad type");
    assert_eq!(
        ErrorCode::from_grpc_status(&refused),
        ErrorCode::ValidationFailed
    );
    app.stop().await;
}

/// Telegram's search as a test sees it: canned hits, or a refusal.
struct ScriptedTelegram {
    answer: Mutex<Result<RemoteHits, RemoteError>>,
    asked: Mutex<Vec<RemoteQuery>>,
    contacts: Mutex<Result<Vec<RemoteContact>, RemoteError>>,
}

impl ScriptedTelegram {
    /// Finds nothing and has no contacts, until a test says otherwise.
    fn new() -> Arc<Self> {
        Arc::new(Self {
            answer: Mutex::new(Ok(RemoteHits::default())),
            asked: Mutex::new(Vec::new()),
            contacts: Mutex::new(Ok(Vec::new())),
        })
    }
}

#[async_trait]
impl TelegramSearch for ScriptedTelegram {
    async fn search_messages(
        &self,
        _key: AccountKey,
        query: &RemoteQuery,
    ) -> Result<RemoteHits, RemoteError> {
        self.asked.lock().expect("lock").push(query.clone());
        self.answer.lock().expect("lock").clone()
    }

    async fn contacts(&self, _key: AccountKey) -> Result<Vec<RemoteContact>, RemoteError> {
        self.contacts.lock().expect("lock").clone()
    }
}

pub(crate) async fn telegram_hits_are_merged_without_duplicates_and_flood_wait_marks_partial(
    place: Arc<TestPlace>,
) {
    let telegram = ScriptedTelegram::new();
    let app = SearchApp::spawn(&place, Some(telegram.clone() as Arc<dyn TelegramSearch>)).await;
    let key = app.linked_account().await;
    app.new_message(key, &text_message(50, 10, 5_000, "yangi hisobot"))
        .await;
    wait_found(&app, key, "hisobot", &[10]).await;

    // Telegram finds the cached message again and an older one the cache lacks.
    *telegram.answer.lock().expect("lock") = Ok(RemoteHits {
        messages: vec![
            text_message(50, 10, 5_000, "yangi hisobot"),
            text_message(50, 3, 1_000, "eski hisobot"),
            text_message(51, 4, 900, "boshqa chatdagi hisobot"),
        ],
        chats: vec![profile(50, "private", "Nodira", "")],
        users: Vec::new(),
    });
    let reply = app.search(request(key, "hisobot")).await.expect("merged");
    let found: Vec<(i32, &str)> = reply
        .hits
        .iter()
        .map(|hit| {
            (
                hit.message.as_ref().map_or(0, |m| m.id),
                hit.source.as_str(),
            )
        })
        .collect();
    assert_eq!(
        found,
        vec![(10, "cache"), (3, "telegram"), (4, "telegram")],
        "one hit per message, newest first"
    );
    assert!(!reply.partial);
    let in_chat = app
        .search(proto::SearchMessagesRequest {
            chat_id: Some("50".into()),
            ..request(key, "hisobot")
        })
        .await
        .expect("chat");
    assert_eq!(
        in_chat.hits.len(),
        2,
        "Telegram's hits pass the same filters"
    );
    assert_eq!(
        telegram
            .asked
            .lock()
            .expect("lock")
            .last()
            .map(|query| query.chat_id),
        Some(Some(50))
    );

    *telegram.answer.lock().expect("lock") = Err(RemoteError::FloodWait { seconds: 30 });
    let reply = app.search(request(key, "hisobot")).await.expect("partial");
    assert!(reply.partial, "marked partial");
    assert_eq!(
        reply
            .hits
            .iter()
            .map(|hit| hit.message.as_ref().map_or(0, |m| m.id))
            .collect::<Vec<_>>(),
        vec![10],
        "the cached hits are still returned"
    );
    app.stop().await;
}

/// (id, source) of each hit, and whether the page is partial.
async fn sourced(app: &SearchApp, key: AccountKey, query: &str) -> (Vec<(i32, String)>, bool) {
    let reply = app
        .search(request(key, query))
        .await
        .expect("search answers");
    let hits = reply
        .hits
        .iter()
        .map(|hit| (hit.message.as_ref().map_or(0, |m| m.id), hit.source.clone()))
        .collect();
    (hits, reply.partial)
}

pub(crate) async fn telegram_hits_are_indexed_and_follow_edits_and_deletes_and_a_stale_one_stays_out(
    place: Arc<TestPlace>,
) {
    let telegram = ScriptedTelegram::new();
    let app = SearchApp::spawn(&place, Some(telegram.clone() as Arc<dyn TelegramSearch>)).await;
    let key = app.linked_account().await;
    eventually(WITHIN, "the account is built", || async {
        app.index
            .built_accounts()
            .await
            .is_ok_and(|built| built.contains(&key))
    })
    .await;
    let answer = |hits: Result<Vec<CachedMessage>, RemoteError>| {
        *telegram.answer.lock().expect("lock") = hits.map(|messages| RemoteHits {
            messages,
            chats: Vec::new(),
            users: Vec::new(),
        });
    };
    let away = || Err(RemoteError::Unavailable("telegram is away".into()));

    // What the account's host does with Telegram's hits: into the cache, no event. The
    // second hit was deleted from the cache before Telegram's answer was read (stale).
    let old = text_message(60, 7, 800, "arxivdagi hisobot");
    let stale = text_message(60, 8, 700, "o'chirilgan hisobot");
    app.store
        .upsert_messages(key, std::slice::from_ref(&old), false)
        .await
        .expect("cached by the host");
    answer(Ok(vec![old.clone(), stale.clone()]));
    assert_eq!(
        sourced(&app, key, "hisobot").await,
        (
            vec![(7, "telegram".to_owned()), (8, "telegram".to_owned())],
            false
        )
    );

    // Indexed: found without Telegram, and the stale hit is not.
    answer(away());
    assert_eq!(
        sourced(&app, key, "hisobot").await,
        (vec![(7, "cache".to_owned())], true),
        "found in the index with Telegram away"
    );
    assert_eq!(app.index.message_count(key).await.expect("count"), 1);
    // With Telegram back: once, from the index.
    answer(Ok(vec![old.clone(), stale.clone()]));
    assert_eq!(
        sourced(&app, key, "hisobot").await,
        (
            vec![(7, "cache".to_owned()), (8, "telegram".to_owned())],
            false
        )
    );

    // An edit follows; an older copy Telegram finds again does not undo it.
    app.edited_message(key, &text_message(60, 7, 800, "arxivdagi hujjat"))
        .await;
    answer(away());
    wait_found(&app, key, "hujjat", &[7]).await;
    answer(Ok(vec![old.clone()]));
    sourced(&app, key, "hisobot").await;
    answer(away());
    assert_eq!(app.found_ids(key, "hujjat").await, vec![7]);
    assert_eq!(app.found_ids(key, "hisobot").await, Vec::<i32>::new());

    // A deletion follows; the deleted message found again (stale) is not indexed again.
    app.deleted_messages(key, Some(60), &[7]).await;
    wait_found(&app, key, "arxiv", &[]).await;
    answer(Ok(vec![old]));
    sourced(&app, key, "arxiv").await;
    answer(away());
    assert_eq!(app.found_ids(key, "arxiv").await, Vec::<i32>::new());
    assert_eq!(
        app.index.message_count(key).await.expect("count"),
        0,
        "nothing the cache lacks stays indexed"
    );
    app.stop().await;
}

fn contact(user_id: i64, first_name: &str, last_name: &str, username: &str) -> RemoteContact {
    RemoteContact {
        user_id,
        first_name: first_name.into(),
        last_name: last_name.into(),
        username: username.into(),
        phone: format!("99890{user_id:07}"),
        photo_id: None,
        mutual: user_id % 2 == 0,
        presence: "recently".into(),
        presence_at: None,
    }
}

pub(crate) async fn contacts_are_filtered_with_the_search_folding_and_paged(place: Arc<TestPlace>) {
    let telegram = Arc::new(ScriptedTelegram {
        answer: Mutex::new(Ok(RemoteHits::default())),
        asked: Mutex::new(Vec::new()),
        contacts: Mutex::new(Ok(vec![
            contact(4, "Shoxrux", "Oʻrinov", "shoxrux"),
            contact(2, "Дилноза", "Каримова", ""),
            contact(3, "Alisher", "G‘aniyev", "alisher_g"),
        ])),
    });
    let app = SearchApp::spawn(&place, Some(telegram.clone() as Arc<dyn TelegramSearch>)).await;
    let key = app.linked_account().await;
    let ask = |query: &str, cursor: Option<String>, limit: Option<u32>| {
        let mut client = app.client.clone();
        let request = proto::SearchContactsRequest {
            user_id: key.user_id.to_string(),
            session_index: key.session_index,
            query: query.into(),
            cursor,
            limit,
        };
        async move { client.search_contacts(request).await }
    };
    let names = |reply: &proto::SearchContactsResponse| -> Vec<String> {
        reply
            .hits
            .iter()
            .filter_map(|hit| hit.contact.as_ref()?.user.as_ref())
            .map(|user| user.first_name.clone())
            .collect()
    };

    let all = ask("", None, None).await.expect("all").into_inner();
    assert_eq!(
        names(&all),
        vec!["Alisher", "Shoxrux", "Дилноза"],
        "by name"
    );
    for (query, expected) in [
        ("dilnoza", vec!["Дилноза"]),
        ("каримова", vec!["Дилноза"]),
        ("o'rinov", vec!["Shoxrux"]),
        ("ganiyev", vec!["Alisher"]),
        ("alishr", vec!["Alisher"]),
        ("alisher_g", vec!["Alisher"]),
        ("0000003", vec!["Alisher"]),
        ("nobody", vec![]),
        ("\"((\"", vec![]),
    ] {
        let reply = ask(query, None, None).await.expect(query).into_inner();
        assert_eq!(names(&reply), expected, "{query}");
    }
    let first = ask("", None, Some(2)).await.expect("page").into_inner();
    assert_eq!(names(&first), vec!["Alisher", "Shoxrux"]);
    let second = ask("", first.next_cursor.clone(), Some(2))
        .await
        .expect("next")
        .into_inner();
    assert_eq!(names(&second), vec!["Дилноза"]);
    assert!(second.next_cursor.is_none());

    let refused = ask("", None, Some(101)).await.expect_err("over the limit");
    assert_eq!(
        ErrorCode::from_grpc_status(&refused),
        ErrorCode::ValidationFailed
    );
    *telegram.contacts.lock().expect("lock") = Err(RemoteError::FloodWait { seconds: 7 });
    let waited = ask("", None, None).await.expect_err("flood wait");
    assert_eq!(
        ErrorCode::from_grpc_status(&waited),
        ErrorCode::TelegramFloodWait
    );
    assert_eq!(
        talkapp_common::error_code::retry_after_secs(&waited),
        Some(7)
    );
    app.stop().await;
}
