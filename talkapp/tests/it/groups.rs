//! Creating groups and channels and adding members through REST: the real grammers
//! client against the sandbox (embedded default on SQLite; split mode on PostgreSQL with
//! a replica that passes the call to the account's host), Telegram's refusals as stable
//! problem codes, and idempotency keys that give a retry the first answer.

use serde_json::{Value, json};
use talkapp_tg_sandbox::{Peer, SandboxHandle};

use crate::chats::{Alice, linked_alice};
use crate::helpers::{assert_problem, spawn_app};
use crate::support::{CHANNEL_ID_OFFSET, assert_flood_wait, chat_id_of, peer_of};

/// Carol (`+9996620003`, a contact of Alice) and Erin (`+9996620005`, who lets only
/// her contacts add her, and Alice is not one).
fn carol_and_erin(sandbox: &SandboxHandle) -> (i64, i64) {
    sandbox.world(|world| {
        (
            world.user_by_phone("9996620003").expect("carol"),
            world.user_by_phone("9996620005").expect("erin"),
        )
    })
}

fn titled(sandbox: &SandboxHandle, title: &str) -> usize {
    sandbox.world(|world| {
        world
            .basic_group_ids()
            .into_iter()
            .map(Peer::Chat)
            .chain(world.channel_ids().into_iter().map(Peer::Channel))
            .filter(|peer| world.title(*peer) == Some(title))
            .count()
    })
}

impl Alice {
    fn create_group_path(&self) -> String {
        format!("/me/create_group/{}/1", self.linker.user_id)
    }

    fn add_member_path(&self, chat_id: i64) -> String {
        format!("/me/add_member/{}/1/{chat_id}", self.linker.user_id)
    }
}

#[tokio::test]
async fn a_group_is_created_in_telegram_listed_and_a_retry_with_its_key_gets_the_same_one() {
    let app = spawn_app().await;
    let alice = linked_alice(&app, "groups-create@example.com").await;
    let (_, erin) = carol_and_erin(&alice.sandbox);

    // Bob by id (a chat of Alice's), Erin by phone: her privacy keeps her out.
    let body = json!({
        "title": "Weekend plans",
        "kind": "group",
        "members": [alice.bob, "+999 662 0005"],
    });
    let response = app
        .post_keyed(
            &alice.create_group_path(),
            &alice.linker.token,
            "create-1",
            &body,
        )
        .await;
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.expect("json");
    assert_eq!(created["type"], "group");
    assert_eq!(created["title"], "Weekend plans");
    assert_eq!(created["missing_members"], json!([erin.to_string()]));
    assert_eq!(
        created["last_message"]["service"]
            .as_str()
            .map(str::is_empty),
        Some(false),
        "the creation message is the chat's newest: {created}"
    );
    let chat_id = chat_id_of(&created);
    let mut members = alice.sandbox.world(|world| world.members(peer_of(chat_id)));
    members.sort_unstable();
    let mut expected = vec![alice.alice, alice.bob];
    expected.sort_unstable();
    assert_eq!(members, expected, "in Telegram: Alice and Bob, not Erin");

    // The retry (the first answer was lost, say) makes no second group.
    let again = app
        .post_keyed(
            &alice.create_group_path(),
            &alice.linker.token,
            "create-1",
            &body,
        )
        .await;
    assert_eq!(again.status(), 201);
    let again: Value = again.json().await.expect("json");
    assert_eq!(chat_id_of(&again), chat_id);
    assert_eq!(again["missing_members"], created["missing_members"]);
    assert_eq!(titled(&alice.sandbox, "Weekend plans"), 1);

    // The key for another request is refused.
    let other = app
        .post_keyed(
            &alice.create_group_path(),
            &alice.linker.token,
            "create-1",
            &json!({"title": "Another", "kind": "group", "members": [alice.bob]}),
        )
        .await;
    assert_problem(other, 422, "idempotency_key_reused").await;

    // It is in the chat list, as created.
    let chats = app
        .get_json(
            &format!("{}?type=group&limit=100", alice.chats_path()),
            &alice.linker.token,
        )
        .await;
    let listed = chats["chats"]
        .as_array()
        .expect("chats")
        .iter()
        .find(|chat| chat["chat_id"] == created["chat_id"])
        .unwrap_or_else(|| panic!("the new group is listed: {chats}"));
    assert_eq!(listed["title"], "Weekend plans");
    app.stop().await;
}

#[tokio::test]
async fn supergroups_and_channels_are_created_with_members_by_username_and_a_description() {
    let app = spawn_app().await;
    let alice = linked_alice(&app, "groups-channels@example.com").await;

    let response = app
        .post_with_token(
            &alice.create_group_path(),
            &alice.linker.token,
            &json!({
                "title": "Sandbox Devs",
                "kind": "supergroup",
                "about": "Where the sandbox is built",
                "members": ["@bob_sandbox"],
                "client_request_id": "super-1",
            }),
        )
        .await;
    assert_eq!(response.status(), 201);
    let supergroup: Value = response.json().await.expect("json");
    assert_eq!(supergroup["type"], "supergroup");
    assert_eq!(supergroup["missing_members"], json!([]));
    let chat_id = chat_id_of(&supergroup);
    assert!(chat_id < -CHANNEL_ID_OFFSET, "{chat_id}");
    let mut members = alice.sandbox.world(|world| world.members(peer_of(chat_id)));
    members.sort_unstable();
    let mut expected = vec![alice.alice, alice.bob];
    expected.sort_unstable();
    assert_eq!(members, expected);
    let details = app
        .get_json(
            &format!("/me/chat/{}/1/{chat_id}", alice.linker.user_id),
            &alice.linker.token,
        )
        .await;
    assert_eq!(details["description"], "Where the sandbox is built");
    assert_eq!(details["role"], "creator");

    let response = app
        .post_with_token(
            &alice.create_group_path(),
            &alice.linker.token,
            &json!({"title": "Alice's news", "kind": "channel"}),
        )
        .await;
    assert_eq!(response.status(), 201);
    let channel: Value = response.json().await.expect("json");
    assert_eq!(channel["type"], "channel");
    assert_eq!(
        alice
            .sandbox
            .world(|world| world.members(peer_of(chat_id_of(&channel)))),
        vec![alice.alice]
    );
    app.stop().await;
}

#[tokio::test]
async fn adding_members_gives_telegrams_refusals_as_problems_and_a_retry_the_first_answer() {
    let app = spawn_app().await;
    let alice = linked_alice(&app, "groups-add@example.com").await;
    let (carol, erin) = carol_and_erin(&alice.sandbox);
    let created: Value = app
        .post_with_token(
            &alice.create_group_path(),
            &alice.linker.token,
            &json!({"title": "Adders", "kind": "group", "members": [alice.bob]}),
        )
        .await
        .json()
        .await
        .expect("json");
    let chat_id = chat_id_of(&created);
    let path = alice.add_member_path(chat_id);

    // Carol by phone: added, and the retry with the same key is not "already a member".
    let added = app
        .post_keyed(
            &path,
            &alice.linker.token,
            "add-carol",
            &json!({"user": "+9996620003"}),
        )
        .await;
    assert_eq!(added.status(), 200);
    let added: Value = added.json().await.expect("json");
    assert_eq!(added["user_id"], carol.to_string());
    assert_eq!(added["chat_id"], chat_id.to_string());
    assert!(
        alice
            .sandbox
            .world(|world| world.members(peer_of(chat_id)).contains(&carol))
    );
    let retried = app
        .post_keyed(
            &path,
            &alice.linker.token,
            "add-carol",
            &json!({"user": "+9996620003"}),
        )
        .await;
    assert_eq!(retried.status(), 200);
    assert_eq!(retried.json::<Value>().await.expect("json"), added);

    // Without a key the same request reaches Telegram again: already a member.
    let again = app
        .post_with_token(&path, &alice.linker.token, &json!({"user": carol}))
        .await;
    assert_problem(again, 409, "already_participant").await;

    // Erin lets only her contacts add her.
    let refused = app
        .post_with_token(&path, &alice.linker.token, &json!({"user": "+9996620005"}))
        .await;
    assert_problem(refused, 403, "telegram_privacy_restricted").await;
    assert!(
        !alice
            .sandbox
            .world(|world| world.members(peer_of(chat_id)).contains(&erin))
    );

    // A chat Telegram does not have, a user nobody has, a private chat.
    let unknown_chat = app
        .post_with_token(
            &alice.add_member_path(-CHANNEL_ID_OFFSET - 987_654),
            &alice.linker.token,
            &json!({"user": "@bob_sandbox"}),
        )
        .await;
    assert_problem(unknown_chat, 404, "not_found").await;
    let nobody = app
        .post_with_token(
            &path,
            &alice.linker.token,
            &json!({"user": "@nobody_at_all"}),
        )
        .await;
    assert_problem(nobody, 404, "not_found").await;
    let private = app
        .post_with_token(
            &alice.add_member_path(alice.bob),
            &alice.linker.token,
            &json!({"user": "@bob_sandbox"}),
        )
        .await;
    assert_problem(private, 422, "validation_failed").await;

    // Telegram asks to wait: 429 with its seconds.
    alice.sandbox.set_flood_wait(alice.alice, Some(17));
    let flood = app
        .post_with_token(&path, &alice.linker.token, &json!({"user": "@bob_sandbox"}))
        .await;
    assert_flood_wait(flood, "17").await;
    alice.sandbox.set_flood_wait(alice.alice, None);

    // Both changes to Telegram are in the account's audit log, the refusals too.
    app.wait_for_audit(
        &alice.linker.user_id,
        &alice.linker.token,
        "?action=telegram.group.",
        &[
            ("telegram.group.create", 201),
            ("telegram.group.add_member", 200),
            ("telegram.group.add_member", 429),
        ],
    )
    .await;
    app.stop().await;
}

#[tokio::test]
async fn bad_input_is_refused_before_telegram_and_another_users_ids_are_forbidden() {
    let app = spawn_app().await;
    let alice = linked_alice(&app, "groups-input@example.com").await;
    let stranger = app.linker("groups-stranger@example.com").await;
    let groups_before = alice.sandbox.world(|world| world.basic_group_ids().len());
    let channels_before = alice.sandbox.world(|world| world.channel_ids().len());

    let too_many: Vec<i64> = (1..=201).collect();
    for body in [
        json!({"title": "", "kind": "group", "members": [alice.bob]}),
        json!({"title": "x".repeat(129), "kind": "group", "members": [alice.bob]}),
        json!({"title": "Club", "kind": "club", "members": [alice.bob]}),
        json!({"title": "Lonely", "kind": "group", "members": []}),
        json!({"title": "Many", "kind": "supergroup", "members": too_many}),
        json!({"title": "Bad member", "kind": "supergroup", "members": ["not a user!"]}),
        json!({"title": "Bad member", "kind": "supergroup", "members": [true]}),
        json!({"title": "About", "kind": "supergroup", "about": "a".repeat(256)}),
        json!({"title": "Extra", "kind": "channel", "owner": "me"}),
        json!({"title": "Key", "kind": "channel", "client_request_id": "has space"}),
    ] {
        let response = app
            .post_with_token(&alice.create_group_path(), &alice.linker.token, &body)
            .await;
        assert_problem(response, 422, "validation_failed").await;
    }
    let response = app
        .post_with_token(
            &alice.add_member_path(-1),
            &alice.linker.token,
            &json!({"user": ""}),
        )
        .await;
    assert_problem(response, 422, "validation_failed").await;
    assert_eq!(
        alice
            .sandbox
            .world(|world| (world.basic_group_ids().len(), world.channel_ids().len())),
        (groups_before, channels_before),
        "nothing was created"
    );

    // Another user's ids: 403 before anything else is looked at.
    let foreign = app
        .post_with_token(
            &alice.create_group_path(),
            &stranger.token,
            &json!({"title": "Not mine", "kind": "group", "members": [alice.bob]}),
        )
        .await;
    assert_problem(foreign, 403, "forbidden").await;
    let foreign = app
        .post_with_token(
            &alice.add_member_path(-1),
            &stranger.token,
            &json!({"user": "@bob_sandbox"}),
        )
        .await;
    assert_problem(foreign, 403, "forbidden").await;
    // And a session the caller does not have: 404.
    let missing = app
        .post_with_token(
            &format!("/me/create_group/{}/7", alice.linker.user_id),
            &alice.linker.token,
            &json!({"title": "No account", "kind": "channel"}),
        )
        .await;
    assert_problem(missing, 404, "not_found").await;
    app.stop().await;
}

/// Split mode: the gateway calls replica a, the account lives on replica b (PostgreSQL,
/// RabbitMQ, one process each): the group is made by b's connection, the idempotency
/// key is kept in PostgreSQL, Telegram's refusals come back through a unchanged, and
/// edits, deletions and profiles take the same way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_split_mode_group_actions_go_to_the_accounts_host_and_their_keys_to_postgres() {
    let crate::replicas::OnReplicaB {
        database,
        sandbox,
        replicas,
        user,
        index,
    } = crate::replicas::user_on_replica_b("groups-replica").await;
    let (bob, carol) = sandbox.world(|world| {
        (
            world.user_by_phone("9996620002").expect("bob"),
            world.user_by_phone("9996620003").expect("carol"),
        )
    });
    let keyed = replicas.keyed_poster(&user.1);

    let create_path = format!("/me/create_group/{}/{index}", user.0);
    let body = json!({"title": "Split plans", "kind": "group", "members": [bob]});
    let first = keyed(create_path.clone(), "split-1", body.clone())
        .await
        .expect("sent");
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.expect("json");
    let second = keyed(create_path, "split-1", body).await.expect("sent");
    assert_eq!(second.status(), 201);
    let second: Value = second.json().await.expect("json");
    assert_eq!(first["chat_id"], second["chat_id"]);
    assert_eq!(titled(&sandbox, "Split plans"), 1);
    let chat_id = chat_id_of(&first);

    let add_path = format!("/me/add_member/{}/{index}/{chat_id}", user.0);
    let refused = keyed(
        add_path.clone(),
        "split-erin",
        json!({"user": "+9996620005"}),
    )
    .await
    .expect("sent");
    assert_problem(refused, 403, "telegram_privacy_restricted").await;
    let added = keyed(add_path, "split-carol", json!({"user": "+9996620003"}))
        .await
        .expect("sent");
    assert_eq!(added.status(), 200);
    assert!(sandbox.world(|world| world.members(peer_of(chat_id)).contains(&carol)));

    // Editing and deleting go the same way: one of Alice's demo messages to Bob.
    let history = replicas
        .get(
            &format!("/me/chat/messages/{}/{index}/{bob}?limit=100", user.0),
            &user.1,
        )
        .await;
    let mine = history["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .find(|message| {
            message["outgoing"] == true
                && message["service"].is_null()
                && message["media"].is_null()
        })
        .and_then(|message| message["id"].as_i64())
        .expect("a text Alice sent");
    let edited = keyed(
        format!("/me/edit_message/{}/{index}", user.0),
        "unused",
        json!({"chat_id": bob, "message_id": mine, "text": "edited in split mode"}),
    )
    .await
    .expect("sent");
    assert_eq!(edited.status(), 200);
    let edited: Value = edited.json().await.expect("json");
    assert_eq!(edited["text"], "edited in split mode");
    let alice = sandbox.world(|world| world.user_by_phone("9996620001").expect("alice"));
    assert_eq!(
        sandbox.world(|world| world
            .message_text(alice, Peer::User(bob), i32::try_from(mine).expect("i32"))
            .map(str::to_owned)),
        Some("edited in split mode".to_owned())
    );
    let deleted = keyed(
        format!("/me/delete_messages/{}/{index}", user.0),
        "unused",
        json!({"chat_id": bob, "message_ids": [mine], "for_everyone": true}),
    )
    .await
    .expect("sent");
    assert_eq!(deleted.status(), 204);
    let profile = replicas
        .get(
            &format!("/me/user_profile/{}/{index}/{bob}", user.0),
            &user.1,
        )
        .await;
    assert_eq!(profile["first_name"], "Bob");
    assert_eq!(profile["is_contact"], true);
    assert!(
        !sandbox
            .world(|world| world.message_ids(alice, Peer::User(bob)))
            .contains(&i32::try_from(mine).expect("i32"))
    );

    drop(keyed);
    drop(replicas);
    sandbox.shutdown().await;
    database.drop_database().await;
}
