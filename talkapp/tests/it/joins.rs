//! Joining groups and channels by username or invite link, invite links' previews and
//! exporting them, through REST: the real grammers client against the sandbox (embedded
//! default on SQLite; split mode on PostgreSQL with a replica that passes the calls to
//! the account's host), Telegram's refusals as stable problem codes, the chat list
//! following, and the events other members' sockets see.

use std::time::Duration;

use serde_json::{Value, json};

use crate::chats::{Alice, linked_alice};
use crate::helpers::{TestApp, assert_problem, spawn_app};
use crate::linking::Linker;
use crate::realtime::wait_for_event;
use crate::support::{CHANNEL_ID_OFFSET, assert_flood_wait, chat_id_of, demo_chat, peer_of};

/// Carol (`+9996620003`) linked as session 1 of her own TalkApp user, her chats cached.
pub(crate) async fn linked_carol(app: &TestApp, email: &str) -> Linker {
    let carol = app.linker(email).await;
    app.link(&carol, "+9996620003").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let chats = app
            .get_json(&format!("/me/chats/{}/1", carol.user_id), &carol.token)
            .await;
        if chats["chats"]
            .as_array()
            .is_some_and(|chats| !chats.is_empty())
        {
            return carol;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "carol's chats never cached"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub(crate) fn join_path(linker: &Linker) -> String {
    format!("/me/join_chat/{}/1", linker.user_id)
}

fn export_path(linker: &Linker, chat_id: i64) -> String {
    format!("/me/export_invite/{}/1/{chat_id}", linker.user_id)
}

pub(crate) async fn check_invite(app: &TestApp, linker: &Linker, link: &str) -> reqwest::Response {
    app.client
        .get(app.url(&format!("/me/check_invite/{}/1", linker.user_id)))
        .bearer_auth(&linker.token)
        .query(&[("invite_link", link)])
        .send()
        .await
        .expect("sent")
}

/// Exports a link to `chat_id` through Alice's account; the link.
pub(crate) async fn export(app: &TestApp, alice: &Alice, chat_id: i64, body: &Value) -> Value {
    let response = app
        .post_with_token(
            &export_path(&alice.linker, chat_id),
            &alice.linker.token,
            body,
        )
        .await;
    let status = response.status();
    let link: Value = response.json().await.expect("json");
    assert_eq!(status, 201, "{link}");
    link
}

#[tokio::test]
async fn a_public_supergroup_is_joined_by_username_listed_and_a_retry_gets_the_first_answer() {
    let app = spawn_app().await;
    let alice = linked_alice(&app, "joins-username@example.com").await;
    let plaza = demo_chat(&alice.sandbox, "Sandbox Plaza");
    assert!(
        !alice
            .sandbox
            .world(|world| world.members(peer_of(plaza)))
            .contains(&alice.alice),
        "the seed keeps Alice out of the plaza"
    );
    let mut socket = alice.socket(&app).await;

    let path = join_path(&alice.linker);
    let joined = app
        .post_keyed(
            &path,
            &alice.linker.token,
            "join-plaza",
            &json!({"username": "@sandbox_plaza"}),
        )
        .await;
    let status = joined.status();
    let joined: Value = joined.json().await.expect("json");
    assert_eq!(status, 200, "{joined}");
    assert_eq!(chat_id_of(&joined), plaza);
    assert_eq!(joined["title"], "Sandbox Plaza");
    assert_eq!(joined["type"], "supergroup");
    assert!(
        alice
            .sandbox
            .world(|world| world.members(peer_of(plaza)))
            .contains(&alice.alice)
    );
    assert!(
        app.listed_chat_ids(&alice.linker)
            .await
            .contains(&plaza.to_string())
    );
    let plaza_text = plaza.to_string();
    wait_for_event(&mut socket, Duration::from_secs(10), |event| {
        event["type"] == "chat.updated" && event["data"]["chat_id"] == plaza_text.as_str()
    })
    .await;

    // The retry with the key gets the first answer; without it Telegram is asked again.
    let retried = app
        .post_keyed(
            &path,
            &alice.linker.token,
            "join-plaza",
            &json!({"username": "sandbox_plaza"}),
        )
        .await;
    assert_eq!(retried.status(), 200);
    let retried: Value = retried.json().await.expect("json");
    assert_eq!(retried["chat_id"], joined["chat_id"]);
    let again = app
        .post_with_token(
            &path,
            &alice.linker.token,
            &json!({"username": "t.me/sandbox_plaza"}),
        )
        .await;
    assert_problem(again, 409, "already_participant").await;
    let reused = app
        .post_keyed(
            &path,
            &alice.linker.token,
            "join-plaza",
            &json!({"username": "@sandbox_lounge"}),
        )
        .await;
    assert_problem(reused, 422, "idempotency_key_reused").await;

    for (username, code) in [
        ("@nobody_at_all", "not_found"),
        ("@bob_sandbox", "not_found"),
    ] {
        let refused = app
            .post_with_token(&path, &alice.linker.token, &json!({"username": username}))
            .await;
        assert_problem(refused, 404, code).await;
    }

    // Barred from a public channel (Telegram's ban list): CHANNEL_PRIVATE.
    let leave = app
        .post_with_token(
            &format!("/me/leave_chat/{}/1/{plaza}", alice.linker.user_id),
            &alice.linker.token,
            &json!({}),
        )
        .await;
    assert_eq!(leave.status(), 200);
    alice.sandbox.update_world(|world| {
        world
            .bar_from_channel(-plaza - CHANNEL_ID_OFFSET, alice.alice)
            .expect("barred")
    });
    let barred = app
        .post_with_token(
            &path,
            &alice.linker.token,
            &json!({"username": "@sandbox_plaza"}),
        )
        .await;
    assert_problem(barred, 403, "channel_private").await;

    // FLOOD_WAIT comes back as 429 with Retry-After.
    alice.sandbox.set_flood_wait(alice.alice, Some(30));
    let flooded = app
        .post_with_token(
            &path,
            &alice.linker.token,
            &json!({"username": "@sandbox_lounge"}),
        )
        .await;
    assert_flood_wait(flooded, "30").await;
    alice.sandbox.set_flood_wait(alice.alice, None);
    app.stop().await;
}

#[tokio::test]
async fn an_invite_link_exported_by_one_account_lets_another_join_and_the_first_hears_it() {
    let app = spawn_app().await;
    let alice = linked_alice(&app, "joins-link-alice@example.com").await;
    let carol = linked_carol(&app, "joins-link-carol@example.com").await;
    let carol_id = alice
        .sandbox
        .world(|world| world.user_by_phone("9996620003").expect("carol"));
    let mut alices_socket = alice.socket(&app).await;

    for (kind, title) in [
        ("group", "Invited group"),
        ("supergroup", "Invited supergroup"),
    ] {
        let chat_id = alice
            .created_group(&app, kind, title, json!([alice.bob]))
            .await;
        let link = export(&app, &alice, chat_id, &json!({"title": "For Carol"})).await;
        let url = link["link"].as_str().expect("link").to_owned();
        assert!(url.starts_with("https://t.me/+"), "{link}");
        assert_eq!(link["chat_id"], chat_id.to_string());
        assert_eq!(link["admin_id"], alice.alice.to_string());
        assert_eq!(link["title"], "For Carol");
        assert_eq!(link["usage"], 0);

        let preview = check_invite(&app, &carol, &url).await;
        assert_eq!(preview.status(), 200);
        let preview: Value = preview.json().await.expect("json");
        assert_eq!(preview["already_member"], false, "{preview}");
        assert_eq!(preview["title"], title);
        assert_eq!(preview["kind"], kind);
        assert_eq!(preview["members_count"], 2);
        assert_eq!(preview["request_needed"], false);

        // The link in another spelling names the same invite.
        let hash = url.trim_start_matches("https://t.me/+");
        let joined = app
            .post_keyed(
                &join_path(&carol),
                &carol.token,
                &format!("join-{kind}"),
                &json!({"invite_link": format!("tg://join?invite={hash}")}),
            )
            .await;
        let status = joined.status();
        let joined: Value = joined.json().await.expect("json");
        assert_eq!(status, 200, "{joined}");
        assert_eq!(chat_id_of(&joined), chat_id, "{kind}");
        assert_eq!(joined["title"], title);
        assert!(
            alice
                .sandbox
                .world(|world| world.members(peer_of(chat_id)))
                .contains(&carol_id)
        );
        assert!(
            app.listed_chat_ids(&carol)
                .await
                .contains(&chat_id.to_string())
        );
        let chat_text = chat_id.to_string();
        let carol_text = carol_id.to_string();
        let event = wait_for_event(&mut alices_socket, Duration::from_secs(10), |event| {
            event["type"] == "chat.member"
                && event["data"]["chat_id"] == chat_text.as_str()
                && event["data"]["user_id"] == carol_text.as_str()
        })
        .await;
        assert_eq!(event["data"]["joined"], true);

        let after = check_invite(&app, &carol, &url).await;
        assert_eq!(after.status(), 200);
        let after: Value = after.json().await.expect("json");
        assert_eq!(after["already_member"], true, "{after}");
        assert_eq!(after["chat_id"], chat_id.to_string());
        assert_eq!(after["chat"]["chat_id"], chat_id.to_string());

        let again = app
            .post_with_token(
                &join_path(&carol),
                &carol.token,
                &json!({"invite_link": url}),
            )
            .await;
        assert_problem(again, 409, "already_participant").await;
    }
    app.stop().await;
}

#[tokio::test]
async fn used_up_expired_and_unknown_links_are_refused_and_bad_input_never_reaches_telegram() {
    let app = spawn_app().await;
    let alice = linked_alice(&app, "joins-refusals-alice@example.com").await;
    let carol = linked_carol(&app, "joins-refusals-carol@example.com").await;
    let chat_id = alice
        .created_group(&app, "supergroup", "Limited", json!([alice.bob]))
        .await;

    // Used up: one use, then Carol leaves and the link is spent.
    let once = export(&app, &alice, chat_id, &json!({"usage_limit": 1})).await;
    assert_eq!(once["usage_limit"], 1);
    let url = once["link"].as_str().expect("link").to_owned();
    let joined = app
        .post_with_token(
            &join_path(&carol),
            &carol.token,
            &json!({"invite_link": url}),
        )
        .await;
    assert_eq!(joined.status(), 200);
    let left = app
        .post_with_token(
            &format!("/me/leave_chat/{}/1/{chat_id}", carol.user_id),
            &carol.token,
            &json!({}),
        )
        .await;
    assert_eq!(left.status(), 200);
    let spent = app
        .post_with_token(
            &join_path(&carol),
            &carol.token,
            &json!({"invite_link": url}),
        )
        .await;
    assert_problem(spent, 410, "invite_expired").await;
    assert_problem(
        check_invite(&app, &carol, &url).await,
        410,
        "invite_expired",
    )
    .await;

    // Expired: past its expire_date.
    let now = chrono::Utc::now().timestamp();
    let brief = export(&app, &alice, chat_id, &json!({"expire_date": now + 2})).await;
    assert_eq!(brief["expire_date"], now + 2);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let expired = app
        .post_with_token(
            &join_path(&carol),
            &carol.token,
            &json!({"invite_link": brief["link"]}),
        )
        .await;
    assert_problem(expired, 410, "invite_expired").await;

    // Needing approval: 202, and Carol is not in yet.
    let approval = export(&app, &alice, chat_id, &json!({"request_needed": true})).await;
    let approval_url = approval["link"].as_str().expect("link").to_owned();
    let preview: Value = check_invite(&app, &carol, &approval_url)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(preview["request_needed"], true, "{preview}");
    let pending = app
        .post_with_token(
            &join_path(&carol),
            &carol.token,
            &json!({"invite_link": approval_url}),
        )
        .await;
    assert_eq!(pending.status(), 202);
    assert_eq!(
        pending.json::<Value>().await.expect("json"),
        json!({"pending_approval": true})
    );
    let carol_id = alice
        .sandbox
        .world(|world| world.user_by_phone("9996620003").expect("carol"));
    assert!(
        !alice
            .sandbox
            .world(|world| world.members(peer_of(chat_id)))
            .contains(&carol_id)
    );

    // Unknown links.
    let unknown = app
        .post_with_token(
            &join_path(&carol),
            &carol.token,
            &json!({"invite_link": "https://t.me/+NoSuchInvite123"}),
        )
        .await;
    assert_problem(unknown, 404, "invite_invalid").await;
    assert_problem(
        check_invite(&app, &carol, "t.me/joinchat/NoSuchInvite123").await,
        404,
        "invite_invalid",
    )
    .await;

    // Only admins export: Alice is a member of Carol's lounge, not an admin.
    let lounge = demo_chat(&alice.sandbox, "Sandbox Lounge");
    let not_admin = app
        .post_with_token(
            &export_path(&alice.linker, lounge),
            &alice.linker.token,
            &json!({}),
        )
        .await;
    assert_problem(not_admin, 403, "telegram_admin_required").await;

    // Bad input is refused before Telegram is asked.
    let links_before = alice
        .sandbox
        .world(|world| world.invite_links(peer_of(chat_id)).len());
    for body in [
        json!({}),
        json!({"username": "@sandbox_plaza", "invite_link": url}),
        json!({"invite_link": "https://t.me/sandbox_plaza"}),
        json!({"invite_link": "https://example.com/+abc"}),
        json!({"invite_link": format!("https://t.me/+{}", "a".repeat(300))}),
        json!({"username": "ab"}),
        json!({"username": "t.me/+abcdef"}),
        json!({"username": "x".repeat(300)}),
    ] {
        let refused = app
            .post_with_token(&join_path(&carol), &carol.token, &body)
            .await;
        assert_problem(refused, 422, "validation_failed").await;
    }
    assert_problem(
        check_invite(&app, &carol, "sandbox_plaza").await,
        422,
        "validation_failed",
    )
    .await;
    for body in [
        json!({"usage_limit": 0}),
        json!({"usage_limit": 100_000}),
        json!({"expire_date": 1}),
        json!({"title": "t".repeat(33)}),
        json!({"usage_limit": 3, "request_needed": true}),
    ] {
        let refused = app
            .post_with_token(
                &export_path(&alice.linker, chat_id),
                &alice.linker.token,
                &body,
            )
            .await;
        assert_problem(refused, 422, "validation_failed").await;
    }
    let private_chat = app
        .post_with_token(
            &export_path(&alice.linker, alice.bob),
            &alice.linker.token,
            &json!({}),
        )
        .await;
    assert_problem(private_chat, 422, "validation_failed").await;
    assert_eq!(
        alice
            .sandbox
            .world(|world| world.invite_links(peer_of(chat_id)).len()),
        links_before,
        "no link was exported for bad input"
    );

    // Another user's ids are forbidden.
    let foreign_join = app
        .post_with_token(
            &join_path(&alice.linker),
            &carol.token,
            &json!({"username": "@sandbox_plaza"}),
        )
        .await;
    assert_problem(foreign_join, 403, "forbidden").await;
    let foreign_export = app
        .post_with_token(
            &export_path(&alice.linker, chat_id),
            &carol.token,
            &json!({}),
        )
        .await;
    assert_problem(foreign_export, 403, "forbidden").await;
    let foreign_check = app
        .client
        .get(app.url(&format!("/me/check_invite/{}/1", alice.linker.user_id)))
        .bearer_auth(&carol.token)
        .query(&[("invite_link", url.as_str())])
        .send()
        .await
        .expect("sent");
    assert_problem(foreign_check, 403, "forbidden").await;
    app.stop().await;
}

/// Split mode: the gateway calls replica a, the account lives on replica b (PostgreSQL,
/// RabbitMQ, one process each): joining, previews and exports are done by b's
/// connection, and Telegram's refusals come back through a unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_split_mode_joins_and_invite_links_go_to_the_accounts_host() {
    let crate::replicas::OnReplicaB {
        database,
        sandbox,
        replicas,
        user,
        index,
    } = crate::replicas::user_on_replica_b("joins-replica").await;
    let post = replicas.keyed_poster(&user.1);
    let plaza = demo_chat(&sandbox, "Sandbox Plaza");
    let alice = sandbox.world(|world| world.user_by_phone("9996620001").expect("alice"));

    let joined = post(
        format!("/me/join_chat/{}/{index}", user.0),
        "split-join",
        json!({"username": "@sandbox_plaza"}),
    )
    .await
    .expect("sent");
    let status = joined.status();
    let joined: Value = joined.json().await.expect("json");
    assert_eq!(status, 200, "{joined}");
    assert_eq!(chat_id_of(&joined), plaza);
    assert!(
        sandbox
            .world(|world| world.members(peer_of(plaza)))
            .contains(&alice)
    );
    let again = post(
        format!("/me/join_chat/{}/{index}", user.0),
        "split-join-again",
        json!({"username": "@sandbox_plaza"}),
    )
    .await
    .expect("sent");
    assert_problem(again, 409, "already_participant").await;

    let created = post(
        format!("/me/create_group/{}/{index}", user.0),
        "split-join-group",
        json!({"title": "Split invites", "kind": "supergroup", "members": []}),
    )
    .await
    .expect("sent");
    assert_eq!(created.status(), 201);
    let chat_id = chat_id_of(&created.json().await.expect("json"));
    let exported = post(
        format!("/me/export_invite/{}/{index}/{chat_id}", user.0),
        "unused",
        json!({"usage_limit": 5}),
    )
    .await
    .expect("sent");
    let status = exported.status();
    let exported: Value = exported.json().await.expect("json");
    assert_eq!(status, 201, "{exported}");
    assert_eq!(exported["usage_limit"], 5);
    let url = exported["link"].as_str().expect("link").to_owned();

    let preview = replicas
        .client
        .get(replicas.url(&format!("/me/check_invite/{}/{index}", user.0)))
        .bearer_auth(&user.1)
        .query(&[("invite_link", url.as_str())])
        .send()
        .await
        .expect("sent");
    assert_eq!(preview.status(), 200);
    let preview: Value = preview.json().await.expect("json");
    assert_eq!(preview["already_member"], true, "{preview}");
    assert_eq!(preview["chat_id"], chat_id.to_string());
    let unknown = replicas
        .client
        .get(replicas.url(&format!("/me/check_invite/{}/{index}", user.0)))
        .bearer_auth(&user.1)
        .query(&[("invite_link", "https://t.me/+NoSuchInvite123")])
        .send()
        .await
        .expect("sent");
    assert_problem(unknown, 404, "invite_invalid").await;

    drop(post);
    drop(replicas);
    sandbox.shutdown().await;
    database.drop_database().await;
}
