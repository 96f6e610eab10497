//! Chats, history and sending through REST, against the in-process sandbox: the real
//! grammers client, the real cache, the real send queue.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::{Value, json};
use talkapp_tg_sandbox::{Peer, SandboxHandle};

use crate::helpers::{TestApp, assert_problem, spawn_app};
use crate::linking::Linker;

/// Alice (`+9996620001`) linked as session 1, her chat list cached.
pub(crate) struct Alice {
    pub(crate) linker: Linker,
    pub(crate) sandbox: std::sync::Arc<SandboxHandle>,
    pub(crate) alice: i64,
    pub(crate) bob: i64,
}

impl Alice {
    pub(crate) fn chats_path(&self) -> String {
        format!("/me/chats/{}/1", self.linker.user_id)
    }

    pub(crate) fn history_path(&self, chat_id: i64) -> String {
        format!("/me/chat/messages/{}/1/{chat_id}", self.linker.user_id)
    }
}

/// Links Alice and waits until her chat list is cached.
pub(crate) async fn linked_alice(app: &TestApp, email: &str) -> Alice {
    let linker = app.linker(email).await;
    app.link(&linker, "+9996620001").await;
    let sandbox = app.sandbox.clone().expect("in-process sandbox");
    let (alice, bob) = sandbox.world(|world| {
        (
            world.user_by_phone("9996620001").expect("alice"),
            world.user_by_phone("9996620002").expect("bob"),
        )
    });
    let alice = Alice {
        linker,
        sandbox,
        alice,
        bob,
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let chats = app
            .get_json(
                &format!("{}?limit=100", alice.chats_path()),
                &alice.linker.token,
            )
            .await;
        let count = chats["chats"].as_array().map_or(0, Vec::len);
        let expected = alice
            .sandbox
            .world(|world| world.dialog_peers(alice.alice).len());
        if count >= expected {
            return alice;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the chat list was never cached ({count} of {expected})"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

impl TestApp {
    pub(crate) async fn get_json(&self, path: &str, token: &str) -> Value {
        let response = self.get_with_token(path, token).await;
        assert_eq!(response.status(), 200, "GET {path}");
        response.json().await.expect("json")
    }

    /// Polls a send job until it is `status` (or fails the test).
    pub(crate) async fn wait_for_job(
        &self,
        linker: &Linker,
        job_id: &str,
        status: &str,
        within: Duration,
    ) -> Value {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let job = self
                .get_json(
                    &format!("/me/message_status/{}/1/{job_id}", linker.user_id),
                    &linker.token,
                )
                .await;
            if job["status"] == status {
                return job;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "job never became {status}: {job}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn unix(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .expect("rfc 3339")
        .timestamp()
}

#[tokio::test]
async fn private_chats_groups_supergroups_and_channels_are_all_listed() {
    let app = spawn_app().await;
    let alice = linked_alice(&app, "types@example.com").await;

    let list = app
        .get_json(
            &format!("{}?limit=100", alice.chats_path()),
            &alice.linker.token,
        )
        .await;

    let chats = list["chats"].as_array().expect("chats");
    let kind_of = |title: &str| {
        chats
            .iter()
            .find(|chat| chat["title"] == title)
            .map(|chat| chat["type"].as_str().expect("type").to_owned())
    };
    assert_eq!(kind_of("Bob Sandbox").as_deref(), Some("private"));
    assert_eq!(kind_of("Sandbox Friends").as_deref(), Some("group"));
    assert_eq!(kind_of("Sandbox Lounge").as_deref(), Some("supergroup"));
    assert_eq!(kind_of("Sandbox News").as_deref(), Some("channel"));
    let bob = chats
        .iter()
        .find(|chat| chat["title"] == "Bob Sandbox")
        .expect("bob's chat");
    assert_eq!(bob["chat_id"], alice.bob.to_string());
    assert_eq!(bob["unread_count"], 2, "the demo leaves two unread");
    assert_eq!(
        bob["last_message"]["text"], "Call me when you can.",
        "the newest message comes with the chat"
    );
    assert_eq!(bob["last_message"]["sender"]["name"], "Bob Sandbox");
    // Newest activity first.
    let dates: Vec<i64> = chats
        .iter()
        .filter_map(|chat| chat["last_activity"].as_str().map(unix))
        .collect();
    assert!(dates.windows(2).all(|pair| pair[0] >= pair[1]), "{dates:?}");

    let channels = app
        .get_json(
            &format!("{}?type=channel", alice.chats_path()),
            &alice.linker.token,
        )
        .await;
    let titles: Vec<&str> = channels["chats"]
        .as_array()
        .expect("chats")
        .iter()
        .map(|chat| chat["title"].as_str().expect("title"))
        .collect();
    assert_eq!(titles, vec!["Sandbox News"]);

    // Pages of two, followed by their cursors, list every chat once.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(cursor) => format!("{}?limit=2&cursor={cursor}", alice.chats_path()),
            None => format!("{}?limit=2", alice.chats_path()),
        };
        let page = app.get_json(&path, &alice.linker.token).await;
        for chat in page["chats"].as_array().expect("chats") {
            seen.push(chat["chat_id"].as_str().expect("id").to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no chat twice");
    assert_eq!(seen.len(), chats.len());
    app.stop().await;
}

#[tokio::test]
async fn chat_details_tell_the_role_description_and_members() {
    let app = spawn_app().await;
    let alice = linked_alice(&app, "details@example.com").await;
    let lounge = alice
        .sandbox
        .world(|world| world.resolve_username("sandbox_lounge"))
        .expect("the lounge has a username");
    let Peer::Channel(lounge_id) = lounge else {
        panic!("the lounge is a supergroup");
    };
    let chat_id = -1_000_000_000_000 - lounge_id;

    let details = app
        .get_json(
            &format!("/me/chat/{}/1/{chat_id}", alice.linker.user_id),
            &alice.linker.token,
        )
        .await;

    assert_eq!(details["type"], "supergroup");
    assert_eq!(details["role"], "member");
    assert_eq!(details["can_send_messages"], true);
    assert_eq!(details["details_complete"], true);
    let members = alice
        .sandbox
        .world(|world| world.channel_member_count(lounge_id));
    assert_eq!(details["members_count"], members);

    let response = app
        .get_with_token(
            &format!("/me/chat/{}/1/424242", alice.linker.user_id),
            &alice.linker.token,
        )
        .await;
    assert_problem(response, 404, "not_found").await;
    app.stop().await;
}

#[tokio::test]
async fn a_basic_groups_details_count_its_members_online() {
    let app = spawn_app().await;
    let alice = linked_alice(&app, "group-online@example.com").await;
    let friends = alice.sandbox.world(|world| {
        world
            .basic_group_ids()
            .into_iter()
            .find(|id| world.title(Peer::Chat(*id)) == Some("Sandbox Friends"))
            .expect("the demo group")
    });
    // Bob (a member) is online; nobody else in the group is (Alice's own TalkApp
    // connection does not tell Telegram she is online).
    alice.sandbox.set_online(alice.bob, true).expect("online");

    let details = app
        .get_json(
            &format!("/me/chat/{}/1/{}", alice.linker.user_id, -friends),
            &alice.linker.token,
        )
        .await;

    assert_eq!(details["type"], "group");
    assert_eq!(details["details_complete"], true);
    assert_eq!(details["members_count"], 4);
    assert_eq!(details["online_count"], 1, "{details}");
    app.stop().await;
}

#[tokio::test]
async fn history_pages_have_no_gaps_or_repeats_while_new_messages_arrive() {
    let app = spawn_app().await;
    let alice = linked_alice(&app, "paging@example.com").await;
    let lounge = alice
        .sandbox
        .world(|world| world.resolve_username("sandbox_lounge"))
        .expect("lounge");
    let Peer::Channel(lounge_id) = lounge else {
        panic!("supergroup");
    };
    let chat_id = -1_000_000_000_000 - lounge_id;
    // Everything there is now: the pages must cover exactly this.
    let existing: Vec<i32> = alice
        .sandbox
        .world(|world| world.message_ids(alice.alice, lounge));
    assert!(existing.len() > 100, "the lounge is long enough to page");

    let mut seen: Vec<i64> = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(cursor) => format!("{}?limit=25&before={cursor}", alice.history_path(chat_id)),
            None => format!("{}?limit=25", alice.history_path(chat_id)),
        };
        let page = app.get_json(&path, &alice.linker.token).await;
        for message in page["messages"].as_array().expect("messages") {
            seen.push(message["id"].as_i64().expect("id"));
        }
        pages += 1;
        // New messages arrive while the history is being paged.
        alice
            .sandbox
            .send_message(alice.bob, lounge, &format!("arrived during page {pages}"))
            .expect("bob writes");
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
        assert!(pages < 50, "paging never ended");
    }

    assert!(
        seen.windows(2).all(|pair| pair[0] > pair[1]),
        "newest first, no repeats"
    );
    let mut expected: Vec<i64> = existing.iter().map(|id| i64::from(*id)).collect();
    expected.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(seen, expected, "every message of the chat exactly once");

    // The newer side: what arrived meanwhile is behind the first page's prev cursor.
    let first = app
        .get_json(
            &format!(
                "{}?limit=1&to=2100-01-01T00:00:00Z",
                alice.history_path(chat_id)
            ),
            &alice.linker.token,
        )
        .await;
    let newest = first["messages"][0]["text"]
        .as_str()
        .expect("text")
        .to_owned();
    assert!(newest.starts_with("arrived during page"), "{newest}");
    app.stop().await;
}

#[tokio::test]
async fn the_date_filter_is_exact_at_its_edges() {
    let app = spawn_app().await;
    let alice = linked_alice(&app, "dates@example.com").await;
    let page = app
        .get_json(
            &format!("{}?limit=100", alice.history_path(alice.bob)),
            &alice.linker.token,
        )
        .await;
    let messages = page["messages"].as_array().expect("messages");
    // A message some way back, whose neighbours are at other seconds.
    let target = messages
        .windows(3)
        .map(|window| (&window[0], &window[1], &window[2]))
        .find(|(newer, message, older)| {
            unix(newer["date"].as_str().expect("date"))
                > unix(message["date"].as_str().expect("date"))
                && unix(message["date"].as_str().expect("date"))
                    > unix(older["date"].as_str().expect("date"))
        })
        .map(|(_, message, _)| message)
        .expect("a message with distinct neighbours");
    let date = target["date"].as_str().expect("date");
    let at = chrono::DateTime::parse_from_rfc3339(date).expect("date");
    let second_later = (at + chrono::TimeDelta::seconds(1)).to_rfc3339();

    let exact = app
        .get_json(
            &format!(
                "{}?from={}&to={}",
                alice.history_path(alice.bob),
                urlencode(date),
                urlencode(&second_later)
            ),
            &alice.linker.token,
        )
        .await;
    let ids: Vec<&Value> = exact["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|message| &message["id"])
        .collect();
    assert_eq!(ids, vec![&target["id"]], "from is inclusive, to exclusive");

    let before = app
        .get_json(
            &format!(
                "{}?to={}&limit=1",
                alice.history_path(alice.bob),
                urlencode(date)
            ),
            &alice.linker.token,
        )
        .await;
    assert!(
        unix(before["messages"][0]["date"].as_str().expect("date")) < at.timestamp(),
        "to excludes the message at that time"
    );

    let response = app
        .get_with_token(
            &format!("{}?from=yesterday", alice.history_path(alice.bob)),
            &alice.linker.token,
        )
        .await;
    assert_problem(response, 422, "validation_failed").await;
    app.stop().await;
}

fn urlencode(text: &str) -> String {
    text.replace('+', "%2B").replace(':', "%3A")
}

/// Bob's copy of the newest message in his chat with Alice.
fn bobs_last_text(alice: &Alice) -> Option<String> {
    alice.sandbox.world(|world| {
        let ids = world.message_ids(alice.bob, Peer::User(alice.alice));
        ids.iter()
            .max()
            .and_then(|id| world.message_text(alice.bob, Peer::User(alice.alice), *id))
            .map(str::to_owned)
    })
}

fn bobs_copies_of(alice: &Alice, text: &str) -> usize {
    alice.sandbox.world(|world| {
        world
            .message_ids(alice.bob, Peer::User(alice.alice))
            .iter()
            .filter(|id| world.message_text(alice.bob, Peer::User(alice.alice), **id) == Some(text))
            .count()
    })
}

#[tokio::test]
async fn a_sent_message_reaches_the_peer_and_is_tracked_to_sent() {
    let app = spawn_app().await;
    let alice = linked_alice(&app, "send@example.com").await;

    let response = app
        .post_with_token(
            &format!("/me/send_message/{}/1", alice.linker.user_id),
            &alice.linker.token,
            &json!({ "chat_id": alice.bob.to_string(), "text": "Hello from TalkApp" }),
        )
        .await;

    assert_eq!(response.status(), 202);
    let job: Value = response.json().await.expect("json");
    assert!(matches!(
        job["status"].as_str(),
        Some("queued" | "sending" | "sent")
    ));
    let job_id = job["job_id"].as_str().expect("job id");
    let sent = app
        .wait_for_job(&alice.linker, job_id, "sent", Duration::from_secs(15))
        .await;
    assert!(sent["message_id"].as_i64().expect("message id") > 0);
    assert!(sent["sent_at"].is_string());
    assert_eq!(
        bobs_last_text(&alice).as_deref(),
        Some("Hello from TalkApp")
    );

    // Alice's own history shows it too (her update stream fills the cache).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let page = app
            .get_json(
                &format!("{}?limit=1", alice.history_path(alice.bob)),
                &alice.linker.token,
            )
            .await;
        if page["messages"][0]["id"] == sent["message_id"] {
            assert_eq!(page["messages"][0]["outgoing"], true);
            assert_eq!(page["messages"][0]["text"], "Hello from TalkApp");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not in the history: {page}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app.stop().await;
}

#[tokio::test]
async fn a_repeated_client_message_id_makes_one_job_and_one_message() {
    let app = spawn_app().await;
    let alice = linked_alice(&app, "idempotent@example.com").await;
    let body = json!({
        "chat_id": alice.bob,
        "text": "exactly once",
        "client_message_id": "compose-42",
    });
    let path = format!("/me/send_message/{}/1", alice.linker.user_id);

    let first: Value = app
        .post_with_token(&path, &alice.linker.token, &body)
        .await
        .json()
        .await
        .expect("json");
    let second: Value = app
        .post_with_token(&path, &alice.linker.token, &body)
        .await
        .json()
        .await
        .expect("json");

    assert_eq!(first["job_id"], second["job_id"]);
    let job_id = first["job_id"].as_str().expect("job id");
    app.wait_for_job(&alice.linker, job_id, "sent", Duration::from_secs(15))
        .await;
    let third: Value = app
        .post_with_token(&path, &alice.linker.token, &body)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(third["job_id"], first["job_id"]);
    assert_eq!(
        third["status"], "sent",
        "a repeat after sending returns the sent job"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(bobs_copies_of(&alice, "exactly once"), 1);
    app.stop().await;
}

#[tokio::test]
async fn flood_wait_delays_the_accounts_sends_and_then_delivers_them_in_order() {
    let app = spawn_app().await;
    let alice = linked_alice(&app, "flood@example.com").await;
    alice.sandbox.set_flood_wait(alice.alice, Some(2));
    let path = format!("/me/send_message/{}/1", alice.linker.user_id);
    let mut jobs = Vec::new();
    for n in 0..3 {
        let job: Value = app
            .post_with_token(
                &path,
                &alice.linker.token,
                &json!({ "chat_id": alice.bob, "text": format!("after the wait {n}") }),
            )
            .await
            .json()
            .await
            .expect("json");
        jobs.push(job["job_id"].as_str().expect("id").to_owned());
    }

    // While Telegram asks to wait, nothing goes out and the account says so.
    app.wait_for_status(&alice.linker, 1, "flood_wait").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(bobs_copies_of(&alice, "after the wait 0"), 0);
    let waiting = app
        .get_json(
            &format!("/me/message_status/{}/1/{}", alice.linker.user_id, jobs[0]),
            &alice.linker.token,
        )
        .await;
    assert_eq!(waiting["status"], "queued");

    alice.sandbox.set_flood_wait(alice.alice, None);
    let mut message_ids = Vec::new();
    for job in &jobs {
        let sent = app
            .wait_for_job(&alice.linker, job, "sent", Duration::from_secs(20))
            .await;
        message_ids.push(sent["message_id"].as_i64().expect("id"));
    }
    assert!(
        message_ids.windows(2).all(|pair| pair[0] < pair[1]),
        "sent in the order asked: {message_ids:?}"
    );
    app.wait_for_status(&alice.linker, 1, "connected").await;
    app.stop().await;
}

#[tokio::test]
async fn sends_to_unknown_chats_and_bad_bodies_are_refused_clearly() {
    let app = spawn_app().await;
    let alice = linked_alice(&app, "badsend@example.com").await;
    let path = format!("/me/send_message/{}/1", alice.linker.user_id);

    let unknown = app
        .post_with_token(
            &path,
            &alice.linker.token,
            &json!({"chat_id": 31337, "text": "hi"}),
        )
        .await;
    assert_problem(unknown, 404, "not_found").await;
    let empty = app
        .post_with_token(
            &path,
            &alice.linker.token,
            &json!({"chat_id": alice.bob, "text": "  "}),
        )
        .await;
    assert_problem(empty, 422, "validation_failed").await;
    let long = app
        .post_with_token(
            &path,
            &alice.linker.token,
            &json!({"chat_id": alice.bob, "text": "x".repeat(4097)}),
        )
        .await;
    assert_problem(long, 422, "validation_failed").await;
    let no_session = app
        .post_with_token(
            &format!("/me/send_message/{}/7", alice.linker.user_id),
            &alice.linker.token,
            &json!({"chat_id": alice.bob, "text": "hi"}),
        )
        .await;
    assert_problem(no_session, 404, "not_found").await;
    let status = app
        .get_with_token(
            &format!(
                "/me/message_status/{}/1/00000000-0000-4000-8000-000000000000",
                alice.linker.user_id
            ),
            &alice.linker.token,
        )
        .await;
    assert_problem(status, 404, "not_found").await;
    app.stop().await;
}

/// The chat list and history pages the gateway reads itself (ADR 0073) refuse what the
/// chat service refused, with the same codes: an account the user has not linked (404),
/// a chat the account does not have (404), a cursor this API never gave out and an
/// unknown chat type (422). An account unlinked through this gateway is 404 at once
/// (not remembered as linked).
#[tokio::test]
async fn the_gateways_own_reads_refuse_unknown_accounts_and_chats_and_forget_an_unlinked_account() {
    let app = spawn_app().await;
    let alice = linked_alice(&app, "gateway-reads@example.com").await;
    let (user, token) = (&alice.linker.user_id, &alice.linker.token);
    let app_ref = &app;
    let get = |path: String| async move { app_ref.get_with_token(&path, token).await };

    assert_problem(get(format!("/me/chats/{user}/7")).await, 404, "not_found").await;
    assert_problem(
        get(format!("/me/chat/messages/{user}/7/{}", alice.bob)).await,
        404,
        "not_found",
    )
    .await;
    assert_problem(
        get(format!("/me/chat/messages/{user}/1/424242")).await,
        404,
        "not_found",
    )
    .await;
    assert_problem(
        get(format!(
            "/me/chat/messages/{user}/1/{}?before=bm90LWEtY3Vyc29y",
            alice.bob
        ))
        .await,
        422,
        "validation_failed",
    )
    .await;
    assert_problem(
        get(format!("/me/chats/{user}/1?type=robots")).await,
        422,
        "validation_failed",
    )
    .await;

    // Read once (the account is remembered as linked), then unlinked: 404 at once.
    let listed = get(format!("/me/chats/{user}/1")).await;
    assert_eq!(listed.status(), 200);
    let unlinked = app
        .delete_with_token(&format!("/me/sessions/{user}/1"), token)
        .await;
    assert!(unlinked.status().is_success(), "{}", unlinked.status());
    assert_problem(get(format!("/me/chats/{user}/1")).await, 404, "not_found").await;
    app.stop().await;
}
