//! Editing, deleting and marking read through REST: the real grammers client against
//! the sandbox, Telegram's state checked in the sandbox, and the events seen on a
//! WebSocket of the same account (another device of the user).

use std::time::Duration;

use serde_json::{Value, json};
use talkapp_tg_sandbox::Peer;

use crate::chats::{Alice, linked_alice};
use crate::helpers::{TestApp, assert_problem, spawn_app};
use crate::realtime::wait_for_event;

impl Alice {
    pub(crate) fn path(&self, route: &str) -> String {
        format!("/me/{route}/{}/1", self.linker.user_id)
    }
}

/// Alice sends `text` to `chat_id` through the API; the sent message's id.
pub(crate) async fn sent(app: &TestApp, alice: &Alice, chat_id: i64, text: &str) -> i32 {
    let job: Value = app
        .post_with_token(
            &alice.path("send_message"),
            &alice.linker.token,
            &json!({"chat_id": chat_id, "text": text, "client_message_id": text}),
        )
        .await
        .json()
        .await
        .expect("json");
    let job = app
        .wait_for_job(
            &alice.linker,
            job["job_id"].as_str().expect("job"),
            "sent",
            Duration::from_secs(20),
        )
        .await;
    i32::try_from(job["message_id"].as_i64().expect("message id")).expect("i32")
}

#[tokio::test]
async fn an_edit_and_a_deletion_reach_telegram_the_cache_and_a_second_socket() {
    let app = spawn_app().await;
    let alice = linked_alice(&app, "edit-delete@example.com").await;
    let mut socket = alice.socket(&app).await;
    let message_id = sent(&app, &alice, alice.bob, "first draft").await;

    let response = app
        .post_with_token(
            &alice.path("edit_message"),
            &alice.linker.token,
            &json!({"chat_id": alice.bob.to_string(), "message_id": message_id, "text": "final text"}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let edited: Value = response.json().await.expect("json");
    assert_eq!(edited["text"], "final text");
    assert!(edited["edit_date"].is_string(), "{edited}");
    assert_eq!(
        alice.sandbox.world(|world| world
            .message_text(alice.alice, Peer::User(alice.bob), message_id)
            .map(str::to_owned)),
        Some("final text".to_owned())
    );
    let event = wait_for_event(&mut socket, Duration::from_secs(10), |event| {
        event["type"] == "message.edited" && event["data"]["id"] == message_id
    })
    .await;
    assert_eq!(event["data"]["text"], "final text");

    // Deleted for everyone: gone at Bob's too, from the history, and told.
    let at_bob_before = alice
        .sandbox
        .world(|world| world.message_count(alice.bob, Peer::User(alice.alice)));
    let response = app
        .post_with_token(
            &alice.path("delete_messages"),
            &alice.linker.token,
            &json!({"chat_id": alice.bob, "message_ids": [message_id], "for_everyone": true}),
        )
        .await;
    assert_eq!(response.status(), 204);
    let event = wait_for_event(&mut socket, Duration::from_secs(10), |event| {
        event["type"] == "message.deleted"
            && event["data"]["message_ids"]
                .as_array()
                .is_some_and(|ids| ids.contains(&json!(message_id)))
    })
    .await;
    assert_eq!(event["data"]["chat_id"], alice.bob.to_string());
    assert_eq!(
        alice
            .sandbox
            .world(|world| world.message_count(alice.bob, Peer::User(alice.alice))),
        at_bob_before - 1
    );
    let history = app
        .get_json(&alice.history_path(alice.bob), &alice.linker.token)
        .await;
    assert!(
        !history["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .any(|message| message["id"] == message_id),
        "deleted from the cache"
    );

    // Deleted for Alice only: Bob keeps his copy.
    let mine_only = sent(&app, &alice, alice.bob, "only mine goes").await;
    let at_bob = alice
        .sandbox
        .world(|world| world.message_count(alice.bob, Peer::User(alice.alice)));
    let response = app
        .post_with_token(
            &alice.path("delete_messages"),
            &alice.linker.token,
            &json!({"chat_id": alice.bob, "message_ids": [mine_only]}),
        )
        .await;
    assert_eq!(response.status(), 204);
    assert_eq!(
        alice
            .sandbox
            .world(|world| world.message_count(alice.bob, Peer::User(alice.alice))),
        at_bob
    );
    assert!(
        !alice
            .sandbox
            .world(|world| world.message_ids(alice.alice, Peer::User(alice.bob)))
            .contains(&mine_only)
    );
    app.stop().await;
}

#[tokio::test]
async fn a_deletion_in_a_supergroup_names_the_chat_and_mark_read_knows_the_chats() {
    let app = spawn_app().await;
    let alice = linked_alice(&app, "delete-channel@example.com").await;
    let mut socket = alice.socket(&app).await;
    let chat_id = alice
        .created_group(&app, "supergroup", "Deleters", json!([alice.bob]))
        .await;
    let message_id = sent(&app, &alice, chat_id, "to be removed").await;
    let response = app
        .post_with_token(
            &alice.path("delete_messages"),
            &alice.linker.token,
            &json!({"chat_id": chat_id, "message_ids": [message_id]}),
        )
        .await;
    assert_eq!(response.status(), 204);
    let chat_text = chat_id.to_string();
    let event = wait_for_event(&mut socket, Duration::from_secs(10), |event| {
        event["type"] == "message.deleted"
            && event["data"]["chat_id"].as_str() == Some(chat_text.as_str())
    })
    .await;
    assert_eq!(event["data"]["message_ids"], json!([message_id]));

    // Marking Alice's chat with Bob read (the demo leaves it read: 0 stays 0, the call
    // still reaches Telegram) and a chat she does not have.
    let response = app
        .post_with_token(
            &format!("/me/mark_read/{}/1/{}", alice.linker.user_id, alice.bob),
            &alice.linker.token,
            &json!({}),
        )
        .await;
    assert_eq!(response.status(), 204);
    let response = app
        .post_with_token(
            &format!("/me/mark_read/{}/1/-1000000999999", alice.linker.user_id),
            &alice.linker.token,
            &json!({"max_id": 3}),
        )
        .await;
    assert_problem(response, 404, "not_found").await;
    app.stop().await;
}

#[tokio::test]
async fn message_changes_refuse_bad_input_others_messages_and_other_users() {
    let app = spawn_app().await;
    let alice = linked_alice(&app, "edit-input@example.com").await;
    let stranger = app.linker("edit-stranger@example.com").await;
    // A message Bob sent: Alice may not edit it.
    let history = app
        .get_json(&alice.history_path(alice.bob), &alice.linker.token)
        .await;
    let bobs = history["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .find(|message| message["outgoing"] == false && message["service"].is_null())
        .and_then(|message| message["id"].as_i64())
        .expect("a message from Bob");
    let response = app
        .post_with_token(
            &alice.path("edit_message"),
            &alice.linker.token,
            &json!({"chat_id": alice.bob, "message_id": bobs, "text": "not mine"}),
        )
        .await;
    assert_problem(response, 403, "forbidden").await;

    for (route, body) in [
        (
            "edit_message",
            json!({"chat_id": alice.bob, "message_id": 1, "text": ""}),
        ),
        (
            "edit_message",
            json!({"chat_id": alice.bob, "message_id": 0, "text": "x"}),
        ),
        (
            "edit_message",
            json!({"chat_id": alice.bob, "message_id": 1, "text": "x".repeat(4097)}),
        ),
        (
            "edit_message",
            json!({"chat_id": alice.bob, "message_id": 1, "text": "a\u{0}b"}),
        ),
        (
            "delete_messages",
            json!({"chat_id": alice.bob, "message_ids": []}),
        ),
        (
            "delete_messages",
            json!({"chat_id": alice.bob, "message_ids": (1..=101).collect::<Vec<i32>>()}),
        ),
        (
            "delete_messages",
            json!({"chat_id": alice.bob, "message_ids": [0]}),
        ),
        (
            "delete_messages",
            json!({"chat_id": "not a chat", "message_ids": [1]}),
        ),
    ] {
        let response = app
            .post_with_token(&alice.path(route), &alice.linker.token, &body)
            .await;
        assert_problem(response, 422, "validation_failed").await;
    }
    let response = app
        .post_with_token(
            &alice.path("delete_messages"),
            &alice.linker.token,
            &json!({"chat_id": -1_000_000_999_999_i64, "message_ids": [1]}),
        )
        .await;
    assert_problem(response, 404, "not_found").await;
    for route in ["edit_message", "delete_messages"] {
        let response = app
            .post_with_token(
                &alice.path(route),
                &stranger.token,
                &json!({"chat_id": alice.bob, "message_id": 1, "message_ids": [1], "text": "x"}),
            )
            .await;
        assert_problem(response, 403, "forbidden").await;
    }
    app.stop().await;
}

#[tokio::test]
async fn forwarded_messages_arrive_once_per_key_with_their_forward_header() {
    let app = spawn_app().await;
    let alice = linked_alice(&app, "forward@example.com").await;
    let group = alice
        .created_group(&app, "supergroup", "Forwards", json!([alice.bob]))
        .await;
    let history = app
        .get_json(&alice.history_path(alice.bob), &alice.linker.token)
        .await;
    let from_bob = history["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .find(|message| {
            message["outgoing"] == false
                && message["service"].is_null()
                && message["media"].is_null()
        })
        .cloned()
        .expect("a text from Bob");
    let peer = Peer::Channel(-group - 1_000_000_000_000);
    let before = alice
        .sandbox
        .world(|world| world.message_count(alice.alice, peer));
    let body =
        json!({"from_chat_id": alice.bob, "message_ids": [from_bob["id"]], "to_chat_id": group});
    let forward = |key: &'static str| {
        app.client
            .post(app.url(&alice.path("forward_messages")))
            .bearer_auth(&alice.linker.token)
            .header("idempotency-key", key)
            .json(&body)
            .send()
    };

    let first = forward("fwd-1").await.expect("sent");
    assert_eq!(first.status(), 200);
    let first: Value = first.json().await.expect("json");
    let copies = first["messages"].as_array().expect("messages");
    assert_eq!(copies.len(), 1, "{first}");
    assert_eq!(copies[0]["text"], from_bob["text"]);
    assert_eq!(copies[0]["chat_id"], group.to_string());
    assert_eq!(copies[0]["forward"]["from"]["id"], alice.bob.to_string());
    let again = forward("fwd-1").await.expect("sent");
    assert_eq!(again.status(), 200);
    assert_eq!(again.json::<Value>().await.expect("json"), first);
    assert_eq!(
        alice
            .sandbox
            .world(|world| world.message_count(alice.alice, peer)),
        before + 1,
        "one copy for one key"
    );

    let unknown = app
        .post_with_token(
            &alice.path("forward_messages"),
            &alice.linker.token,
            &json!({"from_chat_id": alice.bob, "message_ids": [1], "to_chat_id": -1_000_000_999_999_i64}),
        )
        .await;
    assert_problem(unknown, 404, "not_found").await;
    let empty = app
        .post_with_token(
            &alice.path("forward_messages"),
            &alice.linker.token,
            &json!({"from_chat_id": alice.bob, "message_ids": [], "to_chat_id": group}),
        )
        .await;
    assert_problem(empty, 422, "validation_failed").await;
    app.stop().await;
}
