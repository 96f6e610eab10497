//! Search end to end: the real grammers client against the in-process sandbox, the chat
//! cache, the events on the bus, the search service's index and the gateway's routes.
//! Messages arrive as Telegram updates; edits and deletions made in the sandbox reach the
//! results.

use std::time::{Duration, Instant};

use serde_json::Value;
use talkapp_tg_sandbox::Peer;

use crate::chats::{Alice, linked_alice};
use crate::helpers::{TestApp, assert_problem, spawn_app};

const WITHIN: Duration = Duration::from_secs(10);

/// `text` percent-encoded for a query string.
pub(crate) fn encoded(text: &str) -> String {
    text.bytes()
        .map(|byte| {
            if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
                char::from(byte).to_string()
            } else {
                format!("%{byte:02X}")
            }
        })
        .collect()
}

fn messages_path(alice: &Alice, query: &str) -> String {
    format!(
        "/me/search/messages/{}/1?q={}",
        alice.linker.user_id,
        encoded(query)
    )
}

async fn hits(app: &TestApp, alice: &Alice, query: &str) -> Vec<Value> {
    app.get_json(&messages_path(alice, query), &alice.linker.token)
        .await["hits"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn texts(hits: &[Value]) -> Vec<String> {
    hits.iter()
        .map(|hit| {
            hit["message"]["text"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

/// Polls the search until `check` holds on its hits; returns how long it took.
async fn until_hits(
    app: &TestApp,
    alice: &Alice,
    query: &str,
    check: impl Fn(&[Value]) -> bool,
) -> Duration {
    let started = Instant::now();
    loop {
        let found = hits(app, alice, query).await;
        if check(&found) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < WITHIN,
            "{query:?}: never as expected, last {:?}",
            texts(&found)
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test]
async fn a_message_from_telegram_is_found_and_its_edit_and_deletion_follow() {
    let app = spawn_app().await;
    let alice = linked_alice(&app, "search-live@example.com").await;

    let bob_id = alice
        .sandbox
        .send_message(
            alice.bob,
            Peer::User(alice.alice),
            "Salom Alisa! Ertaga soat 10 da uchrashamizmi?",
        )
        .expect("bob writes");
    until_hits(&app, &alice, "uchrash", |found| found.len() == 1).await;
    let hit = &hits(&app, &alice, "UCHRASH").await[0];
    assert_eq!(hit["session_index"], 1);
    assert_eq!(hit["source"], "cache");
    assert_eq!(hit["message"]["chat_id"], alice.bob.to_string());
    assert_eq!(hit["message"]["sender"]["id"], alice.bob.to_string());
    assert_eq!(hit["message"]["sender"]["name"], "Bob Sandbox");
    assert_eq!(hit["chat"]["title"], "Bob Sandbox");
    assert_eq!(hit["chat"]["type"], "private");
    // "uchrashamizmi" starts at UTF-16 offset 31.
    assert_eq!(hit["matches"][0]["offset"], 31);
    assert_eq!(hit["matches"][0]["length"], 13);
    assert_eq!(
        texts(&hits(&app, &alice, "салом алиса").await),
        vec!["Salom Alisa! Ertaga soat 10 da uchrashamizmi?"],
        "a Cyrillic query finds Latin text"
    );

    alice
        .sandbox
        .edit_message(
            alice.bob,
            Peer::User(alice.alice),
            bob_id,
            "Uchrashuv indinga ko‘chirildi",
        )
        .expect("bob edits");
    let lag = until_hits(&app, &alice, "ertaga", <[Value]>::is_empty).await;
    assert!(lag < Duration::from_secs(2), "the edit took {lag:?}");
    until_hits(&app, &alice, "ko'chir", |found| found.len() == 1).await;

    alice.sandbox.delete_messages(alice.bob, &[bob_id], true);
    let lag = until_hits(&app, &alice, "indinga", <[Value]>::is_empty).await;
    assert!(lag < Duration::from_secs(2), "the deletion took {lag:?}");
    app.stop().await;
}

#[tokio::test]
async fn uzbek_russian_and_english_messages_are_found_in_either_script() {
    let app = spawn_app().await;
    let alice = linked_alice(&app, "search-scripts@example.com").await;
    for text in [
        "Ўзбекистон бўйлаб саёҳат режаси",
        "g‘alaba bayrami bilan!",
        "Привет! Как дела на работе?",
        "Quarterly report attached",
    ] {
        alice
            .sandbox
            .send_message(alice.bob, Peer::User(alice.alice), text)
            .expect("bob writes");
    }
    // Each polled: Telegram's own search may find a message before its event is indexed,
    // so one query found says nothing of the others.
    for (query, expected) in [
        ("o'zbekiston", "Ўзбекистон бўйлаб саёҳат режаси"),
        ("O‘ZBEK bo`ylab", "Ўзбекистон бўйлаб саёҳат режаси"),
        ("ғалаба", "g‘alaba bayrami bilan!"),
        ("gʻalaba", "g‘alaba bayrami bilan!"),
        ("privet rabot", "Привет! Как дела на работе?"),
        ("как дела", "Привет! Как дела на работе?"),
        ("REPORT", "Quarterly report attached"),
    ] {
        until_hits(&app, &alice, query, |found| texts(found) == vec![expected]).await;
    }

    let across = app
        .get_json(
            &format!(
                "/me/search/messages/{}?q={}",
                alice.linker.user_id,
                encoded("report")
            ),
            &alice.linker.token,
        )
        .await;
    assert_eq!(across["hits"][0]["session_index"], 1);
    assert_eq!(
        across["hits"][0]["message"]["text"],
        "Quarterly report attached"
    );
    assert_eq!(across["partial"], false);
    app.stop().await;
}

#[tokio::test]
async fn backfilled_messages_and_chats_are_searchable_with_a_typo_in_a_name() {
    let app = spawn_app().await;
    let alice = linked_alice(&app, "search-backfill@example.com").await;
    // A word of a message the backfill cached (no event ever carried it).
    let history = app
        .get_json(&alice.history_path(alice.bob), &alice.linker.token)
        .await;
    let cached = history["messages"]
        .as_array()
        .and_then(|messages| {
            messages
                .iter()
                .filter_map(|message| message["text"].as_str())
                .find(|text| text.split_whitespace().any(|word| word.len() >= 4))
        })
        .expect("a cached message with a word")
        .to_owned();
    let word: String = cached
        .split_whitespace()
        .find(|word| word.len() >= 4)
        .expect("word")
        .chars()
        .filter(|c| c.is_alphanumeric())
        .collect();
    // Found in the index built from the cache (Telegram's own search finds it at once,
    // with source `telegram`, before the build).
    until_hits(&app, &alice, &word, |found| {
        found
            .iter()
            .any(|hit| hit["message"]["text"] == cached.as_str() && hit["source"] == "cache")
    })
    .await;

    let chats_path = |query: &str| {
        format!(
            "/me/search/chats/{}/1?q={}",
            alice.linker.user_id,
            encoded(query)
        )
    };
    let found = app
        .get_json(&chats_path("bob sandbx"), &alice.linker.token)
        .await;
    assert_eq!(found["hits"][0]["chat"]["title"], "Bob Sandbox");
    assert_eq!(found["hits"][0]["typos"], 1);
    let found = app
        .get_json(&chats_path("bob_sandbox"), &alice.linker.token)
        .await;
    assert_eq!(found["hits"][0]["chat"]["chat_id"], alice.bob.to_string());
    let found = app
        .get_json(
            &format!("{}&type=group", chats_path("bob")),
            &alice.linker.token,
        )
        .await;
    assert!(found["hits"].as_array().expect("hits").is_empty());
    app.stop().await;
}

#[tokio::test]
async fn bad_search_input_is_422_and_search_syntax_is_plain_text() {
    let app = spawn_app().await;
    let alice = linked_alice(&app, "search-input@example.com").await;
    let user = alice.linker.user_id.clone();
    let token = alice.linker.token.clone();
    let long = "a".repeat(257);
    for path in [
        format!("/me/search/messages/{user}/1?q="),
        format!("/me/search/messages/{user}/1"),
        format!("/me/search/messages/{user}/1?q={long}"),
        format!(
            "/me/search/messages/{user}/1?q=x&from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z"
        ),
        format!("/me/search/messages/{user}/1?q=x&from=1700000100&to=1700000000"),
        format!("/me/search/messages/{user}/1?q=x&from=yesterday"),
        format!("/me/search/messages/{user}/1?q=x&to=2026-13-40"),
        format!("/me/search/messages/{user}/1?q=x&limit=101"),
        format!("/me/search/messages/{user}/1?q=x&limit=0"),
        format!("/me/search/messages/{user}/1?q=x&kind=sticker"),
        format!("/me/search/messages/{user}/1?q=x&cursor=bm9wZQ"),
        format!("/me/search/messages/{user}/1?q=x&bogus=1"),
        format!("/me/search/messages/{user}/0?q=x"),
        format!("/me/search/messages/{user}?q="),
        format!("/me/search/messages/{user}?q={long}"),
        format!("/me/search/chats/{user}/1?q="),
        format!("/me/search/chats/{user}/1?q={long}"),
        format!("/me/search/chats/{user}/1?q=x&type=bot"),
        format!("/me/search/chats/{user}/1?q=x&limit=500"),
    ] {
        let response = app.get_with_token(&path, &token).await;
        assert_eq!(response.status(), 422, "{path}");
        assert_problem(response, 422, "validation_failed").await;
    }
    for syntax in [
        "\"salom",
        "salom*",
        "NEAR(salom, dunyo)",
        "salom OR dunyo",
        "text: salom",
        "((salom",
        "'; DROP TABLE search_messages; --",
        "*",
        "%",
        "\\",
        "' OR 1=1 --",
    ] {
        for path in [
            messages_path(&alice, syntax),
            format!("/me/search/messages/{user}?q={}", encoded(syntax)),
            format!("/me/search/chats/{user}/1?q={}", encoded(syntax)),
        ] {
            let response = app.get_with_token(&path, &token).await;
            assert_eq!(response.status(), 200, "{path}");
        }
    }
    let response = app
        .get_with_token(&format!("/me/search/messages/{user}/9?q=x"), &token)
        .await;
    assert_problem(response, 404, "not_found").await;
    app.stop().await;
}

#[tokio::test]
async fn another_users_search_paths_are_403() {
    let app = spawn_app().await;
    let alice = linked_alice(&app, "search-owner@example.com").await;
    let mallory = app.linker("search-mallory@example.com").await;
    for path in [
        format!("/me/search/messages/{}/1?q=salom", alice.linker.user_id),
        format!("/me/search/messages/{}?q=salom", alice.linker.user_id),
        format!("/me/search/chats/{}/1?q=bob", alice.linker.user_id),
    ] {
        let response = app.get_with_token(&path, &mallory.token).await;
        assert_problem(response, 403, "forbidden").await;
    }
    let own = app
        .get_json(
            &format!("/me/search/messages/{}?q=salom", mallory.user_id),
            &mallory.token,
        )
        .await;
    assert!(own["hits"].as_array().expect("hits").is_empty());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_split_mode_the_search_process_indexes_from_the_broker_catches_up_after_a_kill_and_asks_telegram()
 {
    use crate::support::SplitSetUp;

    let mut split = SplitSetUp::new().await;
    split.replicas.start_chat("chat-a");
    split.replicas.start_search();
    split.replicas.start_gateway("chat-a");
    let (user, index) = split.alice_linked("split-search@example.com").await;
    let (sandbox, replicas, alice, bob) = split.parts();
    let search = |query: &str| {
        format!(
            "/me/search/messages/{}/{index}?q={}",
            user.0,
            encoded(query)
        )
    };
    sandbox
        .send_message(bob, Peer::User(alice), "bo'lingan rejim ishlayapti")
        .expect("bob writes");
    until_texts(
        replicas,
        &search("bolingan"),
        &user.1,
        &["bo'lingan rejim ishlayapti"],
    )
    .await;

    // Events published while search-service is away wait in its queue.
    replicas.kill("search").await;
    sandbox
        .send_message(bob, Peer::User(alice), "Навбатда кутган хабар")
        .expect("bob writes");
    tokio::time::sleep(Duration::from_millis(500)).await;
    replicas.start_search();
    until_texts(
        replicas,
        &search("navbat"),
        &user.1,
        &["Навбатда кутган хабар"],
    )
    .await;

    // Telegram's own search from the search process, through the chat process's host: a
    // message no update carried is found, once.
    crate::support::old_message_from_bob(sandbox, alice, bob, "Navbatdan eski xabar");
    // Found by Telegram first; from then on it is in the index too (ADR 0035).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let reply = replicas.get(&search("navbatdan"), &user.1).await;
        if let Some(hit) = reply["hits"].as_array().and_then(|hits| hits.first()) {
            assert_eq!(hit["message"]["text"], "Navbatdan eski xabar");
            assert_eq!(hit["source"], "telegram", "{reply}");
            assert_eq!(reply["partial"], false);
            break;
        }
        assert!(Instant::now() < deadline, "never found: {reply}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    until_texts(
        replicas,
        &search("navbat"),
        &user.1,
        &["Навбатда кутган хабар", "Navbatdan eski xabar"],
    )
    .await;
    split.finish().await;
}

/// Polls a split deployment's search until its hits' texts are `expected`.
async fn until_texts(
    replicas: &crate::replicas::Replicas,
    path: &str,
    token: &str,
    expected: &[&str],
) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let reply = replicas.get(path, token).await;
        let found: Vec<String> = reply["hits"]
            .as_array()
            .map(|hits| {
                hits.iter()
                    .filter_map(|hit| hit["message"]["text"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        if found == expected {
            return;
        }
        assert!(Instant::now() < deadline, "{path}: {found:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn the_search_routes_declare_their_parameters_where_they_are() {
    let app = spawn_app().await;
    let document: Value = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    for (path, path_params, query_params) in [
        (
            "/me/search/chats/{user_id}/{session_index}",
            vec!["user_id", "session_index"],
            vec!["q", "type", "limit", "cursor"],
        ),
        (
            "/me/search/messages/{user_id}/{session_index}",
            vec!["user_id", "session_index"],
            vec![
                "q", "chat_id", "from", "to", "sender", "kind", "limit", "cursor",
            ],
        ),
        (
            "/me/search/messages/{user_id}",
            vec!["user_id"],
            vec![
                "q", "chat_id", "from", "to", "sender", "kind", "limit", "cursor",
            ],
        ),
        (
            "/me/contacts/{user_id}/{session_index}",
            vec!["user_id", "session_index"],
            vec!["q", "limit", "cursor"],
        ),
    ] {
        let parameters = document["paths"][path]["get"]["parameters"]
            .as_array()
            .unwrap_or_else(|| panic!("{path} is documented"));
        let named = |place: &str| {
            let mut names: Vec<&str> = parameters
                .iter()
                .filter(|parameter| parameter["in"] == place)
                .filter_map(|parameter| parameter["name"].as_str())
                .collect();
            names.sort_unstable();
            names
        };
        let sorted = |mut names: Vec<&'static str>| {
            names.sort_unstable();
            names
        };
        assert_eq!(named("path"), sorted(path_params), "{path}");
        assert_eq!(named("query"), sorted(query_params), "{path}");
        let responses = &document["paths"][path]["get"]["responses"];
        for status in ["200", "403", "422", "429"] {
            assert!(responses.get(status).is_some(), "{path} {status}");
        }
    }
    app.stop().await;
}
