//! Telegram's own search and the contact list, end to end: the real grammers client
//! against the in-process sandbox, through the chat service's account host, merged (or
//! filtered) by the search service, served by the gateway.

use std::time::{Duration, Instant};

use serde_json::Value;
use talkapp_search_service::index::SearchIndex as _;
use talkapp_search_service::index::sqlite::SqliteIndex;
use talkapp_store::AccountKey;
use talkapp_tg_sandbox::{NewUser, Peer};

use crate::chats::{Alice, linked_alice};
use crate::helpers::{TestApp, assert_problem, spawn_app};

const WITHIN: Duration = Duration::from_secs(10);

fn search_path(alice: &Alice, query: &str, extra: &str) -> String {
    format!(
        "/me/search/messages/{}/1?q={}{extra}",
        alice.linker.user_id,
        crate::search::encoded(query)
    )
}

fn contacts_path(alice: &Alice, extra: &str) -> String {
    format!("/me/contacts/{}/1{extra}", alice.linker.user_id)
}

/// (text, source) of each hit.
fn hits_of(reply: &Value) -> Vec<(String, String)> {
    reply["hits"]
        .as_array()
        .map(|hits| {
            hits.iter()
                .map(|hit| {
                    (
                        hit["message"]["text"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned(),
                        hit["source"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Waits until a message Bob sent through Telegram's updates is in the index.
async fn until_cached(app: &TestApp, alice: &Alice, query: &str, text: &str) {
    let started = Instant::now();
    loop {
        let reply = app
            .get_json(&search_path(alice, query, ""), &alice.linker.token)
            .await;
        if hits_of(&reply).contains(&(text.to_owned(), "cache".to_owned())) {
            return;
        }
        assert!(
            started.elapsed() < WITHIN,
            "{text:?} never indexed: {reply}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Waits until the search index has built Alice's account from the cache: Telegram's hits
/// are indexed for built accounts only (ADR 0035), so a test of that starts here.
async fn until_built(app: &TestApp, alice: &Alice) {
    let index = SqliteIndex::open(&app.data_dir().join("search.sqlite"))
        .await
        .expect("the embedded default's index");
    let key = AccountKey {
        user_id: alice.linker.user_id.parse().expect("a user id"),
        session_index: 1,
    };
    let started = Instant::now();
    while !index
        .built_accounts()
        .await
        .expect("built accounts")
        .contains(&key)
    {
        assert!(started.elapsed() < WITHIN, "the account was never built");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn names(reply: &Value) -> Vec<String> {
    reply["contacts"]
        .as_array()
        .map(|contacts| {
            contacts
                .iter()
                .map(|contact| {
                    format!(
                        "{} {}",
                        contact["first_name"].as_str().unwrap_or_default(),
                        contact["last_name"].as_str().unwrap_or_default()
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn a_message_the_cache_lacks_is_found_through_telegram_once_with_exact_date_edges() {
    let app = spawn_app().await;
    let alice = linked_alice(&app, "tg-search-old@example.com").await;
    alice
        .sandbox
        .send_message(
            alice.bob,
            Peer::User(alice.alice),
            "Hisobot yangi: mart oyi",
        )
        .expect("bob writes");
    until_cached(&app, &alice, "hisobot", "Hisobot yangi: mart oyi").await;
    until_built(&app, &alice).await;

    // Written straight into Telegram's world a month back: no update, no backfill, so the
    // cache and the index never saw it.
    let old_date = i32::try_from(chrono::Utc::now().timestamp()).expect("date") - 30 * 86_400;
    alice.sandbox.update_world(|world| {
        world
            .send_text_at(
                alice.bob,
                Peer::User(alice.alice),
                "Eski hisobot arxivdan",
                None,
                old_date,
            )
            .expect("an old message")
    });

    // The date edges are inclusive and exact for Telegram's hits (Telegram's own bounds
    // are exclusive; the host widens them and the search filters again). Asked first:
    // once Telegram has found the message it is indexed (ADR 0035).
    let only_old = |extra: String| {
        let path = search_path(&alice, "hisobot", &extra);
        let app = &app;
        let token = alice.linker.token.clone();
        async move { hits_of(&app.get_json(&path, &token).await) }
    };
    let old_text = "Eski hisobot arxivdan".to_owned();
    assert!(
        only_old(format!("&from={}", old_date + 1))
            .await
            .iter()
            .all(|hit| hit.0 != old_text),
        "a second later excludes it"
    );
    assert!(
        only_old(format!("&to={}", old_date - 1)).await.is_empty(),
        "a second earlier excludes it"
    );
    assert!(only_old("&kind=photo".to_owned()).await.is_empty());
    let path = search_path(
        &alice,
        "hisobot",
        &format!("&from={old_date}&to={old_date}"),
    );
    let reply = app.get_json(&path, &alice.linker.token).await;
    assert_eq!(
        hits_of(&reply),
        vec![(old_text.clone(), "telegram".to_owned())],
        "from = to = its date, found by Telegram"
    );
    assert_eq!(reply["partial"], false);
    assert_eq!(reply["hits"][0]["message"]["sender"]["name"], "Bob Sandbox");
    assert_eq!(reply["hits"][0]["chat"]["title"], "Bob Sandbox");

    // Now in the index: each message once (Telegram finds both too).
    let reply = app
        .get_json(&search_path(&alice, "hisobot", ""), &alice.linker.token)
        .await;
    assert_eq!(
        hits_of(&reply),
        vec![
            ("Hisobot yangi: mart oyi".to_owned(), "cache".to_owned()),
            (old_text.clone(), "cache".to_owned()),
        ],
        "one hit per message, both from the index"
    );
    assert_eq!(reply["partial"], false);
    let old = (old_text, "cache".to_owned());
    assert_eq!(
        only_old(format!("&from={old_date}&to={old_date}")).await,
        vec![old.clone()],
    );
    assert_eq!(
        only_old(format!("&to={old_date}&kind=text")).await,
        vec![old.clone()]
    );
    assert_eq!(
        only_old(format!("&chat_id={}", alice.bob)).await.len(),
        2,
        "one chat (messages.search) finds both as well"
    );

    // Across all of the user's accounts (messages.searchGlobal for each).
    let across = app
        .get_json(
            &format!("/me/search/messages/{}?q=arxivdan", alice.linker.user_id),
            &alice.linker.token,
        )
        .await;
    assert_eq!(hits_of(&across), vec![old]);
    assert_eq!(across["hits"][0]["session_index"], 1);
    app.stop().await;
}

/// Every page of a search, following `next_cursor`, as the texts of each page.
async fn every_page(app: &TestApp, alice: &Alice, query: &str, extra: &str) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut cursor = String::new();
    for _ in 0..20 {
        let path = search_path(alice, query, &format!("{extra}{cursor}"));
        let reply = app.get_json(&path, &alice.linker.token).await;
        assert_eq!(reply["partial"], false, "{reply}");
        pages.push(hits_of(&reply).into_iter().map(|(text, _)| text).collect());
        match reply["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => return pages,
        }
    }
    panic!("20 pages and still more: {pages:?}");
}

#[tokio::test]
async fn pages_past_the_first_reach_every_old_message_of_a_crowded_second_once() {
    let app = spawn_app().await;
    let alice = linked_alice(&app, "tg-search-pages@example.com").await;
    // A recent message the cache and the index hold, in another chat (Carol's): Telegram
    // numbers a chat's messages in sending order, so Bob's old ones below are written
    // into a chat where nothing newer was sent after them.
    let carol = alice
        .sandbox
        .world(|world| world.user_by_phone("9996620003"))
        .expect("carol");
    alice
        .sandbox
        .send_message(carol, Peer::User(alice.alice), "Kvartal yakuni tayyor")
        .expect("carol writes");
    until_cached(&app, &alice, "kvartal", "Kvartal yakuni tayyor").await;
    until_built(&app, &alice).await;

    // Only Telegram has these: written into its world a month back, all in one second,
    // more of them than a page holds (no update, no backfill).
    let old_date = i32::try_from(chrono::Utc::now().timestamp()).expect("date") - 30 * 86_400;
    let friends = alice.sandbox.world(|world| {
        world
            .basic_group_ids()
            .into_iter()
            .find(|id| world.title(Peer::Chat(*id)) == Some("Sandbox Friends"))
            .expect("the demo group")
    });
    let mut in_bobs_chat = Vec::new();
    let mut in_the_group = Vec::new();
    alice.sandbox.update_world(|world| {
        for n in 1..=4 {
            let text = format!("Eski kvartal {n}");
            world
                .send_text_at(alice.bob, Peer::User(alice.alice), &text, None, old_date)
                .expect("an old message");
            in_bobs_chat.push(text);
        }
        for n in 1..=2 {
            let text = format!("Guruhdagi eski kvartal {n}");
            world
                .send_text_at(alice.bob, Peer::Chat(friends), &text, None, old_date)
                .expect("an old group message");
            in_the_group.push(text);
        }
    });

    // One chat (messages.search): two a page, so the old second spans two pages.
    let pages = every_page(
        &app,
        &alice,
        "kvartal",
        &format!("&chat_id={}&limit=2", alice.bob),
    )
    .await;
    let mut expected = in_bobs_chat.clone();
    assert_each_once(&pages, &expected);
    assert_eq!(pages.len(), 2, "{pages:?}");
    assert!(
        pages[1].iter().all(|text| !pages[0].contains(text)),
        "page 1 and page 2 are disjoint: {pages:?}"
    );

    // Every chat (messages.searchGlobal): the recent one first, then the old second,
    // which the group's old messages share (only Telegram has those).
    let pages = every_page(&app, &alice, "kvartal", "&limit=2").await;
    expected.push("Kvartal yakuni tayyor".to_owned());
    expected.extend(in_the_group.iter().cloned());
    assert_each_once(&pages, &expected);
    assert!(
        pages[1].iter().all(|text| !pages[0].contains(text)),
        "page 1 and page 2 are disjoint: {pages:?}"
    );
    app.stop().await;
}

/// Every text of `expected` on exactly one page, exactly once, and nothing else.
fn assert_each_once(pages: &[Vec<String>], expected: &[String]) {
    let mut found: Vec<&String> = pages.iter().flatten().collect();
    found.sort();
    let mut wanted: Vec<&String> = expected.iter().collect();
    wanted.sort();
    assert_eq!(found, wanted, "each message once over the pages: {pages:?}");
}

#[tokio::test]
async fn a_message_found_through_telegram_is_indexed_and_follows_edits_and_deletes() {
    let app = spawn_app().await;
    let alice = linked_alice(&app, "tg-search-indexed@example.com").await;
    until_built(&app, &alice).await;
    // Only Telegram has it: written into its world 40 days back, no update, no backfill.
    let old_date = i32::try_from(chrono::Utc::now().timestamp()).expect("date") - 40 * 86_400;
    let text = "Qadimgi shartnoma nusxasi";
    let bobs_id = alice.sandbox.update_world(|world| {
        world
            .send_text_at(alice.bob, Peer::User(alice.alice), text, None, old_date)
            .expect("an old message")
    });
    let search = |query: &str| {
        let path = search_path(&alice, query, "");
        let app = &app;
        let token = alice.linker.token.clone();
        async move { app.get_json(&path, &token).await }
    };
    let found = |source: &str| vec![(text.to_owned(), source.to_owned())];

    let reply = search("shartnoma").await;
    assert_eq!(hits_of(&reply), found("telegram"), "{reply}");
    assert_eq!(reply["partial"], false);

    // Telegram asking to wait: found in the index all the same (marked partial).
    alice.sandbox.set_flood_wait(alice.alice, Some(30));
    let reply = search("shartnoma").await;
    assert_eq!(hits_of(&reply), found("cache"), "{reply}");
    assert_eq!(reply["partial"], true);
    let reply = search("nusx").await;
    assert_eq!(hits_of(&reply), found("cache"), "a word prefix, locally");
    alice.sandbox.set_flood_wait(alice.alice, None);

    // Telegram answering again: once, from the index.
    let started = Instant::now();
    loop {
        let reply = search("shartnoma").await;
        if reply["partial"] == false {
            assert_eq!(hits_of(&reply), found("cache"), "{reply}");
            break;
        }
        assert!(started.elapsed() < WITHIN, "still partial: {reply}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Bob edits it: the index follows the edit's event (Telegram finds the new words
    // too, but the hit comes from the index, and the old words find nothing).
    let edited = "Qadimgi kelishuv nusxasi";
    alice
        .sandbox
        .edit_message(alice.bob, Peer::User(alice.alice), bobs_id, edited)
        .expect("bob edits");
    let started = Instant::now();
    loop {
        let reply = search("kelishuv").await;
        if hits_of(&reply) == vec![(edited.to_owned(), "cache".to_owned())] {
            break;
        }
        assert!(
            started.elapsed() < WITHIN,
            "the edit never indexed: {reply}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(hits_of(&search("shartnoma").await).is_empty());

    // Bob deletes it for both: gone from the index too.
    alice.sandbox.delete_messages(alice.bob, &[bobs_id], true);
    let started = Instant::now();
    loop {
        let reply = search("kelishuv").await;
        if hits_of(&reply).is_empty() {
            break;
        }
        assert!(
            started.elapsed() < WITHIN,
            "the deletion never reached: {reply}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    alice.sandbox.set_flood_wait(alice.alice, Some(30));
    let reply = search("nusxa").await;
    assert!(hits_of(&reply).is_empty(), "not in the index: {reply}");
    app.stop().await;
}

#[tokio::test]
async fn telegram_asking_to_wait_leaves_the_cached_hits_marked_partial() {
    let app = spawn_app().await;
    let alice = linked_alice(&app, "tg-search-flood@example.com").await;
    alice
        .sandbox
        .send_message(alice.bob, Peer::User(alice.alice), "Tezkor xabar keldi")
        .expect("bob writes");
    until_cached(&app, &alice, "tezkor", "Tezkor xabar keldi").await;

    alice.sandbox.set_flood_wait(alice.alice, Some(30));
    let reply = app
        .get_json(&search_path(&alice, "tezkor", ""), &alice.linker.token)
        .await;
    assert_eq!(reply["partial"], true, "{reply}");
    assert_eq!(
        hits_of(&reply),
        vec![("Tezkor xabar keldi".to_owned(), "cache".to_owned())]
    );
    // The contact list has no cached answer: Telegram's wait is the caller's.
    let response = app
        .get_with_token(&contacts_path(&alice, ""), &alice.linker.token)
        .await;
    assert_eq!(response.status(), 429);
    assert!(response.headers().get("retry-after").is_some());
    assert_problem(response, 429, "telegram_flood_wait").await;

    alice.sandbox.set_flood_wait(alice.alice, None);
    let started = Instant::now();
    loop {
        let reply = app
            .get_json(&search_path(&alice, "tezkor", ""), &alice.linker.token)
            .await;
        if reply["partial"] == false {
            assert_eq!(hits_of(&reply).len(), 1);
            break;
        }
        assert!(started.elapsed() < WITHIN, "still partial: {reply}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    app.stop().await;
}

#[tokio::test]
async fn contacts_come_with_presence_and_are_filtered_like_search() {
    let app = spawn_app().await;
    let alice = linked_alice(&app, "tg-contacts@example.com").await;
    let gulom = alice.sandbox.update_world(|world| {
        let gulom = world
            .add_user(NewUser::new("Gʻulom", Some("Oʻktamov"), "9996629990"))
            .expect("a new user");
        world.add_contact(alice.alice, gulom).expect("a contact");
        gulom
    });
    alice
        .sandbox
        .set_online(alice.bob, true)
        .expect("bob online");

    let all = app
        .get_json(&contacts_path(&alice, ""), &alice.linker.token)
        .await;
    assert_eq!(
        names(&all),
        vec!["Bob Sandbox", "Carol Demo", "Dave Demo", "Gʻulom Oʻktamov"],
        "every contact, by name"
    );
    let bob = &all["contacts"][0];
    assert_eq!(bob["user_id"], alice.bob.to_string());
    assert_eq!(bob["username"], "bob_sandbox");
    assert_eq!(bob["mutual"], true);
    assert_eq!(bob["presence"]["status"], "online");
    assert!(bob["presence"]["at"].is_string());
    assert_eq!(
        all["contacts"][2]["mutual"], false,
        "Dave has not added Alice"
    );
    assert_eq!(all["contacts"][3]["user_id"], gulom.to_string());
    assert!(all["next_cursor"].is_null());

    for (query, expected) in [
        ("bob", vec!["Bob Sandbox"]),
        ("боб", vec!["Bob Sandbox"]),
        ("sandbx", vec!["Bob Sandbox"]),
        ("demo", vec!["Carol Demo", "Dave Demo"]),
        ("g'ulom", vec!["Gʻulom Oʻktamov"]),
        ("ғулом ўктам", vec!["Gʻulom Oʻktamov"]),
        ("zzz", vec![]),
    ] {
        let reply = app
            .get_json(
                &contacts_path(&alice, &format!("?q={}", crate::search::encoded(query))),
                &alice.linker.token,
            )
            .await;
        assert_eq!(names(&reply), expected, "{query}");
    }
    let typo = app
        .get_json(&contacts_path(&alice, "?q=sandbx"), &alice.linker.token)
        .await;
    assert_eq!(typo["contacts"][0]["typos"], 1);
    let exact = app
        .get_json(&contacts_path(&alice, "?q=sand"), &alice.linker.token)
        .await;
    assert_eq!(exact["contacts"][0]["typos"], 0);
    assert_eq!(exact["contacts"][0]["name_matches"][0]["offset"], 4);
    assert_eq!(exact["contacts"][0]["name_matches"][0]["length"], 7);

    // Pages follow the cursor, with no repeats.
    let first = app
        .get_json(&contacts_path(&alice, "?limit=3"), &alice.linker.token)
        .await;
    assert_eq!(names(&first).len(), 3);
    let cursor = first["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_owned();
    let second = app
        .get_json(
            &contacts_path(&alice, &format!("?limit=3&cursor={cursor}")),
            &alice.linker.token,
        )
        .await;
    assert_eq!(names(&second), vec!["Gʻulom Oʻktamov"]);
    assert!(second["next_cursor"].is_null());
    app.stop().await;
}

#[tokio::test]
async fn bad_contact_list_input_is_422_and_another_users_is_403() {
    let app = spawn_app().await;
    let alice = linked_alice(&app, "tg-contacts-input@example.com").await;
    let user = alice.linker.user_id.clone();
    let token = alice.linker.token.clone();
    let long = "a".repeat(257);
    for path in [
        format!("/me/contacts/{user}/1?limit=101"),
        format!("/me/contacts/{user}/1?limit=0"),
        format!("/me/contacts/{user}/1?q={long}"),
        format!("/me/contacts/{user}/1?cursor=bm9wZQ"),
        format!("/me/contacts/{user}/1?bogus=1"),
        format!("/me/contacts/{user}/0"),
    ] {
        let response = app.get_with_token(&path, &token).await;
        assert_problem(response, 422, "validation_failed").await;
    }
    for syntax in ["\"bob", "bob*", "' OR 1=1 --", "((", "%"] {
        let path = format!("/me/contacts/{user}/1?q={}", crate::search::encoded(syntax));
        let response = app.get_with_token(&path, &token).await;
        assert_eq!(response.status(), 200, "{path}");
    }
    let response = app
        .get_with_token(&format!("/me/contacts/{user}/9"), &token)
        .await;
    assert_problem(response, 404, "not_found").await;
    let mallory = app.linker("tg-contacts-mallory@example.com").await;
    let response = app
        .get_with_token(&format!("/me/contacts/{user}/1"), &mallory.token)
        .await;
    assert_problem(response, 403, "forbidden").await;
    app.stop().await;
}
