//! Pinning and unpinning through REST: the real grammers client against the sandbox,
//! Telegram's pins checked in the sandbox, `message.pinned` seen on the other
//! participant's socket and on a second socket of the account, the chat details'
//! `pinned_message_id` following, and the audit log.

use std::time::Duration;

use serde_json::{Value, json};
use talkapp_tg_sandbox::Peer;

use crate::chats::linked_alice;
use crate::helpers::assert_problem;
use crate::helpers::spawn_app;
use crate::message_actions::sent;
use crate::realtime::{connect_with_token, linked_bob, wait_for_event};
use crate::support::peer_of;

#[tokio::test]
async fn a_pin_reaches_telegram_both_sides_sockets_and_the_chat_details_then_unpins() {
    let app = spawn_app().await;
    let alice = linked_alice(&app, "pin-alice@example.com").await;
    let bob = linked_bob(&app, "pin-bob@example.com").await;
    let mut alice_socket = alice.socket(&app).await;
    let mut bob_socket =
        connect_with_token(&app.address, &format!("/ws/{}/1", bob.user_id), &bob.token).await;
    let message_id = sent(&app, &alice, alice.bob, "pin this one").await;

    let response = app
        .post_with_token(
            &alice.path("pin_message"),
            &alice.linker.token,
            &json!({"chat_id": alice.bob.to_string(), "message_id": message_id}),
        )
        .await;
    assert_eq!(response.status(), 204);
    assert_eq!(
        alice
            .sandbox
            .world(|world| world.pinned_ids(alice.alice, Peer::User(alice.bob))),
        vec![message_id]
    );
    let at_bob = alice
        .sandbox
        .world(|world| world.pinned_ids(alice.bob, Peer::User(alice.alice)));
    assert_eq!(at_bob.len(), 1, "pinned for both sides");
    let alice_text = alice.alice.to_string();
    let event = wait_for_event(&mut bob_socket, Duration::from_secs(15), |event| {
        event["type"] == "message.pinned" && event["data"]["chat_id"] == alice_text.as_str()
    })
    .await;
    assert_eq!(event["data"]["message_ids"], json!(at_bob));
    assert_eq!(event["data"]["pinned"], true);
    let bob_text = alice.bob.to_string();
    let event = wait_for_event(&mut alice_socket, Duration::from_secs(15), |event| {
        event["type"] == "message.pinned" && event["data"]["chat_id"] == bob_text.as_str()
    })
    .await;
    assert_eq!(event["data"]["message_ids"], json!([message_id]));

    // Pinned again: no error, nothing new at Telegram.
    let again = app
        .post_with_token(
            &alice.path("pin_message"),
            &alice.linker.token,
            &json!({"chat_id": alice.bob, "message_id": message_id, "silent": true}),
        )
        .await;
    assert_eq!(again.status(), 204);
    assert_eq!(
        alice
            .sandbox
            .world(|world| world.pinned_ids(alice.alice, Peer::User(alice.bob))),
        vec![message_id]
    );

    let details = app
        .get_json(
            &format!("/me/chat/{}/1/{}", alice.linker.user_id, alice.bob),
            &alice.linker.token,
        )
        .await;
    assert_eq!(details["pinned_message_id"], message_id, "{details}");
    assert_eq!(details["pinned_message"]["id"], message_id, "{details}");
    let bobs_details = app
        .get_json(
            &format!("/me/chat/{}/1/{}", bob.user_id, alice.alice),
            &bob.token,
        )
        .await;
    assert_eq!(
        bobs_details["pinned_message_id"], at_bob[0],
        "{bobs_details}"
    );

    // Unpinned: both sides, told to Bob, and the details follow.
    let response = app
        .post_with_token(
            &alice.path("unpin_message"),
            &alice.linker.token,
            &json!({"chat_id": alice.bob, "message_id": message_id}),
        )
        .await;
    assert_eq!(response.status(), 204);
    let event = wait_for_event(&mut bob_socket, Duration::from_secs(15), |event| {
        event["type"] == "message.pinned" && event["data"]["pinned"] == false
    })
    .await;
    assert_eq!(event["data"]["message_ids"], json!(at_bob));
    assert!(
        alice
            .sandbox
            .world(|world| world.pinned_ids(alice.bob, Peer::User(alice.alice)))
            .is_empty()
    );
    let details = app
        .get_json(
            &format!("/me/chat/{}/1/{}", alice.linker.user_id, alice.bob),
            &alice.linker.token,
        )
        .await;
    assert!(details["pinned_message_id"].is_null(), "{details}");

    // Two pins (one only for Alice), then all of them unpinned at once.
    let second = sent(&app, &alice, alice.bob, "pin this too").await;
    for (id, for_me_only) in [(message_id, false), (second, true)] {
        let response = app
            .post_with_token(
                &alice.path("pin_message"),
                &alice.linker.token,
                &json!({"chat_id": alice.bob, "message_id": id, "for_me_only": for_me_only}),
            )
            .await;
        assert_eq!(response.status(), 204);
    }
    assert_eq!(
        alice
            .sandbox
            .world(|world| world.pinned_ids(alice.alice, Peer::User(alice.bob))),
        vec![message_id, second]
    );
    assert_eq!(
        alice
            .sandbox
            .world(|world| world.pinned_ids(alice.bob, Peer::User(alice.alice)))
            .len(),
        1,
        "the one-sided pin stays Alice's"
    );
    let response = app
        .post_with_token(
            &format!("/me/unpin_all/{}/1/{}", alice.linker.user_id, alice.bob),
            &alice.linker.token,
            &json!({}),
        )
        .await;
    assert_eq!(response.status(), 204);
    for (viewer, peer) in [
        (alice.alice, Peer::User(alice.bob)),
        (alice.bob, Peer::User(alice.alice)),
    ] {
        assert!(
            alice
                .sandbox
                .world(|world| world.pinned_ids(viewer, peer))
                .is_empty()
        );
    }
    let event = wait_for_event(&mut alice_socket, Duration::from_secs(15), |event| {
        event["type"] == "message.pinned"
            && event["data"]["pinned"] == false
            && event["data"]["message_ids"]
                .as_array()
                .is_some_and(|ids| ids.contains(&json!(second)))
    })
    .await;
    assert_eq!(event["data"]["chat_id"], bob_text.as_str());
    app.stop().await;
}

#[tokio::test]
async fn pins_in_a_supergroup_need_an_admin_and_refusals_are_problems_in_the_audit_log() {
    let app = spawn_app().await;
    let alice = linked_alice(&app, "pin-group@example.com").await;
    let stranger = app.linker("pin-stranger@example.com").await;
    let group = alice
        .created_group(&app, "supergroup", "Pinners", json!([alice.bob]))
        .await;
    let message_id = sent(&app, &alice, group, "house rules").await;
    // Bob links after the group exists: his chat list has it.
    let bob = linked_bob(&app, "pin-group-bob@example.com").await;
    let mut bob_socket =
        connect_with_token(&app.address, &format!("/ws/{}/1", bob.user_id), &bob.token).await;

    let response = app
        .post_with_token(
            &alice.path("pin_message"),
            &alice.linker.token,
            &json!({"chat_id": group, "message_id": message_id, "silent": true}),
        )
        .await;
    assert_eq!(response.status(), 204);
    assert_eq!(
        alice
            .sandbox
            .world(|world| world.pinned_ids(alice.alice, peer_of(group))),
        vec![message_id]
    );
    let group_text = group.to_string();
    // The pin and Telegram's service message replying to it, in whichever order.
    let seen = std::sync::Mutex::new((None::<Value>, None::<Value>));
    wait_for_event(&mut bob_socket, Duration::from_secs(15), |event| {
        let mut seen = seen.lock().expect("not poisoned");
        if event["data"]["chat_id"] == group_text.as_str() {
            if event["type"] == "message.pinned" {
                seen.0 = Some(event.clone());
            } else if event["type"] == "message.new" {
                seen.1 = Some(event.clone());
            }
        }
        seen.0.is_some() && seen.1.is_some()
    })
    .await;
    let (pin_event, service) = seen.into_inner().expect("not poisoned");
    let (pin_event, service) = (pin_event.expect("pinned"), service.expect("service"));
    assert_eq!(pin_event["data"]["message_ids"], json!([message_id]));
    assert_eq!(pin_event["data"]["pinned"], true);
    assert_eq!(service["data"]["reply_to"], message_id, "{service}");
    assert_eq!(service["data"]["service"], "message_pinned", "{service}");

    // Bob is a member, not an admin.
    let refused = app
        .post_with_token(
            &format!("/me/unpin_message/{}/1", bob.user_id),
            &bob.token,
            &json!({"chat_id": group, "message_id": message_id}),
        )
        .await;
    assert_problem(refused, 403, "telegram_admin_required").await;
    let refused = app
        .post_with_token(
            &format!("/me/unpin_all/{}/1/{group}", bob.user_id),
            &bob.token,
            &json!({}),
        )
        .await;
    assert_problem(refused, 403, "telegram_admin_required").await;
    assert_eq!(
        alice
            .sandbox
            .world(|world| world.pinned_ids(alice.bob, peer_of(group))),
        vec![message_id]
    );

    let missing = app
        .post_with_token(
            &alice.path("pin_message"),
            &alice.linker.token,
            &json!({"chat_id": group, "message_id": 999_999}),
        )
        .await;
    assert_problem(missing, 404, "not_found").await;
    let unknown_chat = app
        .post_with_token(
            &alice.path("pin_message"),
            &alice.linker.token,
            &json!({"chat_id": -1_000_000_999_999_i64, "message_id": 1}),
        )
        .await;
    assert_problem(unknown_chat, 404, "not_found").await;
    for body in [
        json!({"chat_id": group, "message_id": 0}),
        json!({"chat_id": group, "message_id": message_id, "for_me_only": true}),
        json!({"chat_id": "not a chat", "message_id": 1}),
        json!({"chat_id": group, "message_id": 1, "unknown": 1}),
    ] {
        let response = app
            .post_with_token(&alice.path("pin_message"), &alice.linker.token, &body)
            .await;
        assert_problem(response, 422, "validation_failed").await;
    }
    for path in [
        alice.path("pin_message"),
        alice.path("unpin_message"),
        format!("/me/unpin_all/{}/1/{group}", alice.linker.user_id),
    ] {
        let response = app
            .post_with_token(
                &path,
                &stranger.token,
                &json!({"chat_id": group, "message_id": message_id}),
            )
            .await;
        assert_problem(response, 403, "forbidden").await;
    }

    let response = app
        .post_with_token(
            &format!("/me/unpin_all/{}/1/{group}", alice.linker.user_id),
            &alice.linker.token,
            &json!({}),
        )
        .await;
    assert_eq!(response.status(), 204);
    assert!(
        alice
            .sandbox
            .world(|world| world.pinned_ids(alice.alice, peer_of(group)))
            .is_empty()
    );
    wait_for_event(&mut bob_socket, Duration::from_secs(15), |event| {
        event["type"] == "message.pinned"
            && event["data"]["chat_id"] == group_text.as_str()
            && event["data"]["pinned"] == false
    })
    .await;

    app.wait_for_audit(
        &alice.linker.user_id,
        &alice.linker.token,
        "?action=telegram.message.",
        &[
            ("telegram.message.pin", 204),
            ("telegram.message.pin", 404),
            ("telegram.message.unpin_all", 204),
        ],
    )
    .await;
    app.wait_for_audit(
        &bob.user_id,
        &bob.token,
        "?action=telegram.message.",
        &[("telegram.message.unpin", 403)],
    )
    .await;
    app.stop().await;
}

/// Split mode: the gateway calls replica a, the account lives on replica b: pins and
/// unpins are made by b's connection, and a missing message is 404 through a too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_split_mode_pins_go_to_the_accounts_host() {
    let crate::replicas::OnReplicaB {
        database,
        sandbox,
        replicas,
        user,
        index,
    } = crate::replicas::user_on_replica_b("pins-replica").await;
    let (alice, bob) = sandbox.world(|world| {
        (
            world.user_by_phone("9996620001").expect("alice"),
            world.user_by_phone("9996620002").expect("bob"),
        )
    });
    let post = |path: String, body: Value| {
        replicas
            .client
            .post(replicas.url(&path))
            .bearer_auth(&user.1)
            .json(&body)
            .send()
    };
    let history = replicas
        .get(
            &format!("/me/chat/messages/{}/{index}/{bob}", user.0),
            &user.1,
        )
        .await;
    let message_id = history["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .find(|message| message["service"].is_null())
        .and_then(|message| message["id"].as_i64())
        .expect("a message with Bob");

    let pinned = post(
        format!("/me/pin_message/{}/{index}", user.0),
        json!({"chat_id": bob, "message_id": message_id}),
    )
    .await
    .expect("sent");
    assert_eq!(pinned.status(), 204);
    assert_eq!(
        sandbox.world(|world| world.pinned_ids(alice, Peer::User(bob))),
        vec![i32::try_from(message_id).expect("i32")]
    );
    let missing = post(
        format!("/me/pin_message/{}/{index}", user.0),
        json!({"chat_id": bob, "message_id": 999_999}),
    )
    .await
    .expect("sent");
    assert_problem(missing, 404, "not_found").await;
    let details = replicas
        .get(&format!("/me/chat/{}/{index}/{bob}", user.0), &user.1)
        .await;
    assert_eq!(details["pinned_message_id"], message_id, "{details}");

    let unpinned = post(format!("/me/unpin_all/{}/{index}/{bob}", user.0), json!({}))
        .await
        .expect("sent");
    assert_eq!(unpinned.status(), 204);
    assert!(
        sandbox
            .world(|world| world.pinned_ids(alice, Peer::User(bob)))
            .is_empty()
    );

    drop(replicas);
    sandbox.shutdown().await;
    database.drop_database().await;
}
