//! Removing members, leaving chats, promoting and demoting admins, and changing a chat's
//! title and description through REST: the real
//! grammers client against the sandbox (embedded default on SQLite; split mode on
//! PostgreSQL with a replica that passes the call to the account's host), Telegram's
//! refusals as stable problem codes, the chat list following, and the events seen on a
//! WebSocket of the same account.

use std::time::Duration;

use serde_json::{Value, json};
use talkapp_tg_sandbox::SandboxHandle;

use crate::chats::{Alice, linked_alice};
use crate::helpers::{TestApp, assert_problem, spawn_app};
use crate::realtime::wait_for_event;
use crate::support::{CHANNEL_ID_OFFSET, assert_flood_wait, demo_chat, peer_of, sandbox_user};

fn carol(sandbox: &SandboxHandle) -> i64 {
    sandbox_user(sandbox, "9996620003")
}

impl Alice {
    fn members_path(&self, route: &str, chat_id: i64) -> String {
        format!("/me/{route}/{}/1/{chat_id}", self.linker.user_id)
    }

    /// Creates a group of `kind` with Bob and Carol; its chat id.
    async fn group_with_bob_and_carol(&self, app: &TestApp, kind: &str, title: &str) -> i64 {
        self.created_group(app, kind, title, json!([self.bob, "+9996620003"]))
            .await
    }
}

#[tokio::test]
async fn a_removed_member_leaves_telegram_and_a_second_socket_hears_it_once_per_key() {
    let app = spawn_app().await;
    let alice = linked_alice(&app, "members-remove@example.com").await;
    let carol = carol(&alice.sandbox);
    let mut socket = alice.socket(&app).await;

    for kind in ["supergroup", "group"] {
        let chat_id = alice
            .group_with_bob_and_carol(&app, kind, &format!("Removals {kind}"))
            .await;
        let path = alice.members_path("remove_member", chat_id);
        let removed = app
            .post_keyed(
                &path,
                &alice.linker.token,
                &format!("remove-bob-{kind}"),
                &json!({"user": "@bob_sandbox"}),
            )
            .await;
        assert_eq!(removed.status(), 200, "{kind}");
        let removed: Value = removed.json().await.expect("json");
        assert_eq!(removed["user_id"], alice.bob.to_string());
        assert_eq!(removed["chat_id"], chat_id.to_string());
        let members = alice.sandbox.world(|world| world.members(peer_of(chat_id)));
        assert!(!members.contains(&alice.bob), "{kind}: {members:?}");
        assert!(members.contains(&carol), "{kind}: Carol stays");
        let chat_text = chat_id.to_string();
        // Adding Bob and Carol gave `chat.member` (joined) events too (ADR 0030): the
        // removal's is the one that says Bob is out.
        let event = wait_for_event(&mut socket, Duration::from_secs(10), |event| {
            event["type"] == "chat.member"
                && event["data"]["chat_id"] == chat_text.as_str()
                && event["data"]["joined"] == false
        })
        .await;
        assert_eq!(event["data"]["user_id"], alice.bob.to_string());

        // The retry with the key gets the first answer; without it Telegram is asked
        // again, and Bob is no member any more.
        let retried = app
            .post_keyed(
                &path,
                &alice.linker.token,
                &format!("remove-bob-{kind}"),
                &json!({"user": "@bob_sandbox"}),
            )
            .await;
        assert_eq!(retried.status(), 200);
        assert_eq!(retried.json::<Value>().await.expect("json"), removed);
        let again = app
            .post_with_token(&path, &alice.linker.token, &json!({"user": alice.bob}))
            .await;
        assert_problem(again, 404, "not_participant").await;
    }
    app.stop().await;
}

#[tokio::test]
async fn a_chat_left_is_off_the_list_and_its_creator_cannot_leave_a_channel() {
    let app = spawn_app().await;
    let alice = linked_alice(&app, "members-leave@example.com").await;
    let mut socket = alice.socket(&app).await;

    // Erin's broadcast channel and Alice's own basic group.
    for title in ["Sandbox News", "Sandbox Friends"] {
        let chat_id = demo_chat(&alice.sandbox, title);
        assert!(
            app.listed_chat_ids(&alice.linker)
                .await
                .contains(&chat_id.to_string())
        );
        let path = alice.members_path("leave_chat", chat_id);
        let key = title.replace(' ', "-");
        let left = app
            .post_keyed(&path, &alice.linker.token, &key, &json!({}))
            .await;
        assert_eq!(left.status(), 200, "{title}");
        let left: Value = left.json().await.expect("json");
        assert_eq!(left["user_id"], alice.alice.to_string());
        assert!(
            !alice
                .sandbox
                .world(|world| world.members(peer_of(chat_id)))
                .contains(&alice.alice),
            "{title}"
        );
        assert!(
            !app.listed_chat_ids(&alice.linker)
                .await
                .contains(&chat_id.to_string())
        );
        let chat_text = chat_id.to_string();
        let event = wait_for_event(&mut socket, Duration::from_secs(10), |event| {
            event["type"] == "chat.updated" && event["data"]["chat_id"] == chat_text.as_str()
        })
        .await;
        assert_eq!(event["data"]["title"], title);
        let details = app
            .get_json(
                &format!("/me/chat/{}/1/{chat_id}", alice.linker.user_id),
                &alice.linker.token,
            )
            .await;
        assert_eq!(details["role"], "left", "{details}");

        // Leaving again: Telegram says the account is no member.
        let again = app
            .post_with_token(&path, &alice.linker.token, &json!({}))
            .await;
        assert_problem(again, 404, "not_participant").await;
    }

    // The creator of a supergroup cannot leave it.
    let own = alice
        .group_with_bob_and_carol(&app, "supergroup", "Mine to keep")
        .await;
    let refused = app
        .post_with_token(
            &alice.members_path("leave_chat", own),
            &alice.linker.token,
            &json!({}),
        )
        .await;
    assert_problem(refused, 409, "chat_creator").await;
    assert!(
        app.listed_chat_ids(&alice.linker)
            .await
            .contains(&own.to_string())
    );
    app.stop().await;
}

#[tokio::test]
async fn admins_are_promoted_and_demoted_and_telegrams_refusals_are_problems() {
    let app = spawn_app().await;
    let alice = linked_alice(&app, "members-admins@example.com").await;

    for kind in ["supergroup", "group"] {
        let chat_id = alice
            .group_with_bob_and_carol(&app, kind, &format!("Admins {kind}"))
            .await;
        let path = alice.members_path("set_admin", chat_id);
        let promoted = app
            .post_with_token(
                &path,
                &alice.linker.token,
                &json!({"user": alice.bob, "admin": true}),
            )
            .await;
        assert_eq!(promoted.status(), 200, "{kind}");
        let promoted: Value = promoted.json().await.expect("json");
        assert_eq!(promoted["user_id"], alice.bob.to_string());
        assert_eq!(
            alice.sandbox.world(|world| world.admins(peer_of(chat_id))),
            vec![alice.bob],
            "{kind}"
        );
        let demoted = app
            .post_with_token(
                &path,
                &alice.linker.token,
                &json!({"user": "@bob_sandbox", "admin": false}),
            )
            .await;
        assert_eq!(demoted.status(), 200, "{kind}");
        assert!(
            alice
                .sandbox
                .world(|world| world.admins(peer_of(chat_id)))
                .is_empty(),
            "{kind}"
        );
        // The creator's own rights do not change.
        let own = app
            .post_with_token(
                &path,
                &alice.linker.token,
                &json!({"user": alice.alice, "admin": false}),
            )
            .await;
        assert_problem(own, 409, "chat_creator").await;
    }

    // Dave is nobody's member here.
    let chat_id = alice
        .group_with_bob_and_carol(&app, "supergroup", "Admins of members only")
        .await;
    let dave = alice
        .sandbox
        .world(|world| world.user_by_phone("9996620004").expect("dave"));
    let stranger = app
        .post_with_token(
            &alice.members_path("set_admin", chat_id),
            &alice.linker.token,
            &json!({"user": dave, "admin": true}),
        )
        .await;
    assert_problem(stranger, 404, "not_participant").await;

    // Carol's supergroup, where Alice is a member only: she may not remove or promote.
    let lounge = demo_chat(&alice.sandbox, "Sandbox Lounge");
    let not_admin = app
        .post_with_token(
            &alice.members_path("remove_member", lounge),
            &alice.linker.token,
            &json!({"user": alice.bob}),
        )
        .await;
    assert_problem(not_admin, 403, "telegram_admin_required").await;
    let not_creator = app
        .post_with_token(
            &alice.members_path("set_admin", lounge),
            &alice.linker.token,
            &json!({"user": alice.bob, "admin": true}),
        )
        .await;
    assert_problem(not_creator, 403, "telegram_admin_required").await;
    // Made an admin by Carol, Alice still may not remove Bob, whom Carol promoted too.
    let carol = carol(&alice.sandbox);
    let lounge_channel = -lounge - CHANNEL_ID_OFFSET;
    alice.sandbox.update_world(|world| {
        world
            .make_channel_admin(lounge_channel, alice.alice, carol)
            .expect("alice admin");
        world
            .make_channel_admin(lounge_channel, alice.bob, carol)
            .expect("bob admin");
    });
    let other_admin = app
        .post_with_token(
            &alice.members_path("remove_member", lounge),
            &alice.linker.token,
            &json!({"user": alice.bob}),
        )
        .await;
    assert_problem(other_admin, 403, "telegram_admin_invalid").await;
    assert!(
        alice
            .sandbox
            .world(|world| world.members(peer_of(lounge)))
            .contains(&alice.bob)
    );

    // Telegram asks to wait: 429 with its seconds.
    alice.sandbox.set_flood_wait(alice.alice, Some(23));
    let flood = app
        .post_with_token(
            &alice.members_path("set_admin", chat_id),
            &alice.linker.token,
            &json!({"user": alice.bob, "admin": true}),
        )
        .await;
    assert_flood_wait(flood, "23").await;
    alice.sandbox.set_flood_wait(alice.alice, None);
    app.stop().await;
}

#[tokio::test]
async fn bad_member_changes_are_refused_before_telegram_and_another_users_ids_are_forbidden() {
    let app = spawn_app().await;
    let alice = linked_alice(&app, "members-input@example.com").await;
    let stranger = app.linker("members-stranger@example.com").await;
    let lounge = demo_chat(&alice.sandbox, "Sandbox Lounge");
    let members_before = alice.sandbox.world(|world| world.members(peer_of(lounge)));

    for (route, body) in [
        ("remove_member", json!({"user": ""})),
        ("remove_member", json!({"user": true})),
        ("remove_member", json!({"user": "not a user!"})),
        ("remove_member", json!({"user": "@bob_sandbox", "extra": 1})),
        (
            "remove_member",
            json!({"user": "@bob_sandbox", "client_request_id": "has space"}),
        ),
        ("leave_chat", json!({"why": "bored"})),
        ("set_admin", json!({"user": "@bob_sandbox"})),
        ("set_admin", json!({"user": "@bob_sandbox", "admin": "yes"})),
    ] {
        let response = app
            .post_with_token(
                &alice.members_path(route, lounge),
                &alice.linker.token,
                &body,
            )
            .await;
        assert_problem(response, 422, "validation_failed").await;
    }
    // A private chat has no members to change.
    for (route, body) in [
        ("remove_member", json!({"user": "@bob_sandbox"})),
        ("leave_chat", json!({})),
        ("set_admin", json!({"user": "@bob_sandbox", "admin": true})),
    ] {
        let response = app
            .post_with_token(
                &alice.members_path(route, alice.bob),
                &alice.linker.token,
                &body,
            )
            .await;
        assert_problem(response, 422, "validation_failed").await;
    }
    // A chat the account does not know.
    let unknown = app
        .post_with_token(
            &alice.members_path("leave_chat", -CHANNEL_ID_OFFSET - 987_654),
            &alice.linker.token,
            &json!({}),
        )
        .await;
    assert_problem(unknown, 404, "not_found").await;
    assert_eq!(
        alice.sandbox.world(|world| world.members(peer_of(lounge))),
        members_before,
        "nobody left or was removed"
    );

    // Another user's ids: 403.
    for (route, body) in [
        ("remove_member", json!({"user": "@bob_sandbox"})),
        ("leave_chat", json!({})),
        ("set_admin", json!({"user": "@bob_sandbox", "admin": true})),
        ("edit_chat", json!({"title": "Not mine"})),
    ] {
        let foreign = app
            .post_with_token(&alice.members_path(route, lounge), &stranger.token, &body)
            .await;
        assert_problem(foreign, 403, "forbidden").await;
    }
    app.stop().await;
}

#[tokio::test]
async fn a_chats_title_and_about_change_in_telegram_the_list_and_a_second_socket() {
    let app = spawn_app().await;
    let alice = linked_alice(&app, "members-edit@example.com").await;
    let mut socket = alice.socket(&app).await;

    for kind in ["supergroup", "group"] {
        let chat_id = alice
            .group_with_bob_and_carol(&app, kind, &format!("Before {kind}"))
            .await;
        let path = alice.members_path("edit_chat", chat_id);
        let title = format!("After {kind}");
        let body = json!({"title": title, "about": format!("About the {kind}")});
        let edited = app.post_with_token(&path, &alice.linker.token, &body).await;
        assert_eq!(edited.status(), 200, "{kind}");
        let edited: Value = edited.json().await.expect("json");
        assert_eq!(edited["title"], title.as_str());
        assert_eq!(edited["chat_id"], chat_id.to_string());
        let (telegram_title, telegram_about) = alice.sandbox.world(|world| {
            (
                world.title(peer_of(chat_id)).map(str::to_owned),
                world.about(peer_of(chat_id)).to_owned(),
            )
        });
        assert_eq!(telegram_title.as_deref(), Some(title.as_str()));
        assert_eq!(telegram_about, format!("About the {kind}"));
        let chat_text = chat_id.to_string();
        let event = wait_for_event(&mut socket, Duration::from_secs(10), |event| {
            event["type"] == "chat.updated"
                && event["data"]["chat_id"] == chat_text.as_str()
                && event["data"]["title"] == title.as_str()
        })
        .await;
        assert_eq!(event["data"]["type"], kind);
        let details = app
            .get_json(
                &format!("/me/chat/{}/1/{chat_id}", alice.linker.user_id),
                &alice.linker.token,
            )
            .await;
        assert_eq!(
            details["description"],
            format!("About the {kind}"),
            "{details}"
        );

        // The same again: Telegram changes nothing (CHAT_NOT_MODIFIED), and it is no error.
        let messages_before = alice
            .sandbox
            .world(|world| world.message_count(alice.alice, peer_of(chat_id)));
        let again = app.post_with_token(&path, &alice.linker.token, &body).await;
        assert_eq!(again.status(), 200, "{kind}");
        assert_eq!(
            again.json::<Value>().await.expect("json")["title"],
            title.as_str()
        );
        assert_eq!(
            alice
                .sandbox
                .world(|world| world.message_count(alice.alice, peer_of(chat_id))),
            messages_before,
            "{kind}: no second title message"
        );
    }

    // Carol's supergroup, where Alice is a member only.
    let lounge = demo_chat(&alice.sandbox, "Sandbox Lounge");
    let refused = app
        .post_with_token(
            &alice.members_path("edit_chat", lounge),
            &alice.linker.token,
            &json!({"title": "Alice's lounge"}),
        )
        .await;
    assert_problem(refused, 403, "telegram_admin_required").await;
    assert_eq!(
        alice
            .sandbox
            .world(|world| world.title(peer_of(lounge)).map(str::to_owned)),
        Some("Sandbox Lounge".to_owned())
    );

    // Bad input, before Telegram is asked.
    for body in [
        json!({}),
        json!({"title": ""}),
        json!({"title": "t".repeat(129)}),
        json!({"title": "two\nlines"}),
        json!({"about": "a".repeat(256)}),
        json!({"title": "Photo", "photo_file_id": "f"}),
    ] {
        let response = app
            .post_with_token(
                &alice.members_path("edit_chat", lounge),
                &alice.linker.token,
                &body,
            )
            .await;
        assert_problem(response, 422, "validation_failed").await;
    }
    let private = app
        .post_with_token(
            &alice.members_path("edit_chat", alice.bob),
            &alice.linker.token,
            &json!({"title": "Bob"}),
        )
        .await;
    assert_problem(private, 422, "validation_failed").await;

    // Telegram asks to wait: 429 with its seconds.
    alice.sandbox.set_flood_wait(alice.alice, Some(11));
    let flood = app
        .post_with_token(
            &alice.members_path("edit_chat", lounge),
            &alice.linker.token,
            &json!({"title": "Later"}),
        )
        .await;
    assert_flood_wait(flood, "11").await;
    alice.sandbox.set_flood_wait(alice.alice, None);
    app.stop().await;
}

/// Split mode: the gateway calls replica a, the account lives on replica b (PostgreSQL,
/// RabbitMQ, one process each): promoting, removing, leaving and renaming are done by b's
/// connection, and Telegram's refusals come back through a unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_split_mode_member_changes_and_edits_go_to_the_accounts_host() {
    let crate::replicas::OnReplicaB {
        database,
        sandbox,
        replicas,
        user,
        index,
    } = crate::replicas::user_on_replica_b("members-replica").await;
    let (alice, bob) = sandbox.world(|world| {
        (
            world.user_by_phone("9996620001").expect("alice"),
            world.user_by_phone("9996620002").expect("bob"),
        )
    });
    let post = replicas.keyed_poster(&user.1);

    let created = post(
        format!("/me/create_group/{}/{index}", user.0),
        "split-members",
        json!({"title": "Split members", "kind": "supergroup", "members": [bob]}),
    )
    .await
    .expect("sent");
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.expect("json");
    let chat_id: i64 = created["chat_id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .expect("a chat id");

    let promoted = post(
        format!("/me/set_admin/{}/{index}/{chat_id}", user.0),
        "unused",
        json!({"user": bob, "admin": true}),
    )
    .await
    .expect("sent");
    assert_eq!(promoted.status(), 200);
    assert_eq!(
        sandbox.world(|world| world.admins(peer_of(chat_id))),
        vec![bob]
    );
    let removed = post(
        format!("/me/remove_member/{}/{index}/{chat_id}", user.0),
        "split-remove",
        json!({"user": bob}),
    )
    .await
    .expect("sent");
    assert_eq!(removed.status(), 200);
    assert!(
        !sandbox
            .world(|world| world.members(peer_of(chat_id)))
            .contains(&bob)
    );
    let creator = post(
        format!("/me/leave_chat/{}/{index}/{chat_id}", user.0),
        "split-leave-own",
        json!({}),
    )
    .await
    .expect("sent");
    assert_problem(creator, 409, "chat_creator").await;
    let renamed = post(
        format!("/me/edit_chat/{}/{index}/{chat_id}", user.0),
        "unused",
        json!({"title": "Split renamed", "about": "Renamed by b"}),
    )
    .await
    .expect("sent");
    let status = renamed.status();
    let renamed: Value = renamed.json().await.expect("json");
    assert_eq!(status, 200, "{renamed}");
    assert_eq!(renamed["title"], "Split renamed");
    // The list catches up with Telegram's updates.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let chat_text = chat_id.to_string();
    loop {
        let chats = replicas
            .get(&format!("/me/chats/{}/{index}?limit=100", user.0), &user.1)
            .await;
        let listed_title = chats["chats"]
            .as_array()
            .expect("chats")
            .iter()
            .find(|chat| chat["chat_id"] == chat_text.as_str())
            .map(|chat| chat["title"].clone());
        if listed_title == Some(json!("Split renamed")) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the list still has {listed_title:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        sandbox.world(|world| world.about(peer_of(chat_id)).to_owned()),
        "Renamed by b"
    );

    let news = demo_chat(&sandbox, "Sandbox News");
    let left = post(
        format!("/me/leave_chat/{}/{index}/{news}", user.0),
        "split-leave-news",
        json!({}),
    )
    .await
    .expect("sent");
    assert_eq!(left.status(), 200);
    assert!(
        !sandbox
            .world(|world| world.members(peer_of(news)))
            .contains(&alice)
    );
    let chats = replicas
        .get(&format!("/me/chats/{}/{index}?limit=100", user.0), &user.1)
        .await;
    let news_text = news.to_string();
    assert!(
        chats["chats"]
            .as_array()
            .expect("chats")
            .iter()
            .all(|chat| chat["chat_id"] != news_text.as_str()),
        "the channel left is not listed"
    );

    drop(post);
    drop(replicas);
    sandbox.shutdown().await;
    database.drop_database().await;
}
