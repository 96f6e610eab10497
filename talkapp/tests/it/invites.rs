//! Managing invite links and requests to join through REST: the account's links listed
//! (paged), revoked and edited, and pending requests listed, approved and declined; the
//! real grammers client against the sandbox (embedded default on SQLite; split mode on
//! PostgreSQL with a replica that passes the calls to the account's host), Telegram's
//! refusals as stable problem codes, the audit log, and the events and chat list that
//! follow an approval.

use std::time::Duration;

use serde_json::{Value, json};

use crate::chats::{Alice, linked_alice};
use crate::helpers::{TestApp, assert_problem, spawn_app};
use crate::joins::{check_invite, export, join_path, linked_carol};
use crate::linking::Linker;
use crate::realtime::wait_for_event;
use crate::support::{assert_flood_wait, chat_id_of, demo_chat, peer_of, sandbox_user};

fn invites_path(linker: &Linker, chat_id: i64) -> String {
    format!("/me/invites/{}/1/{chat_id}", linker.user_id)
}

fn revoke_path(linker: &Linker, chat_id: i64) -> String {
    format!("/me/revoke_invite/{}/1/{chat_id}", linker.user_id)
}

fn edit_path(linker: &Linker, chat_id: i64) -> String {
    format!("/me/edit_invite/{}/1/{chat_id}", linker.user_id)
}

fn requests_path(linker: &Linker, chat_id: i64) -> String {
    format!("/me/join_requests/{}/1/{chat_id}", linker.user_id)
}

/// The links of a listing.
fn links_of(page: &Value) -> Vec<String> {
    page["links"]
        .as_array()
        .expect("links")
        .iter()
        .map(|link| link["link"].as_str().expect("link").to_owned())
        .collect()
}

/// Alice's links to `chat_id` under `query` (`?revoked=true`, ...).
async fn listed(app: &TestApp, alice: &Alice, chat_id: i64, query: &str) -> Value {
    app.get_json(
        &format!("{}{query}", invites_path(&alice.linker, chat_id)),
        &alice.linker.token,
    )
    .await
}

#[tokio::test]
async fn links_are_listed_page_by_page_edited_and_revoked_and_a_revoked_link_lets_nobody_in() {
    let app = spawn_app().await;
    let alice = linked_alice(&app, "invites-links-alice@example.com").await;
    let carol = linked_carol(&app, "invites-links-carol@example.com").await;
    let chat_id = alice
        .created_group(&app, "supergroup", "Managed links", json!([alice.bob]))
        .await;
    let first = export(&app, &alice, chat_id, &json!({"title": "First"})).await;
    let second = export(&app, &alice, chat_id, &json!({})).await;
    let first_url = first["link"].as_str().expect("link").to_owned();
    let second_url = second["link"].as_str().expect("link").to_owned();

    // Both listed; page by page with the cursor, then an empty last page.
    let all = listed(&app, &alice, chat_id, "").await;
    assert_eq!(all["count"], 2, "{all}");
    let mut both = links_of(&all);
    both.sort();
    let mut expected = vec![first_url.clone(), second_url.clone()];
    expected.sort();
    assert_eq!(both, expected);
    assert!(all["next_cursor"].is_null(), "{all}");
    let page_one = listed(&app, &alice, chat_id, "?limit=1").await;
    let cursor = page_one["next_cursor"]
        .as_str()
        .expect("a cursor")
        .to_owned();
    let page_two = app
        .client
        .get(app.url(&invites_path(&alice.linker, chat_id)))
        .bearer_auth(&alice.linker.token)
        .query(&[("limit", "1"), ("cursor", cursor.as_str())])
        .send()
        .await
        .expect("sent");
    assert_eq!(page_two.status(), 200);
    let page_two: Value = page_two.json().await.expect("json");
    let mut paged = [links_of(&page_one), links_of(&page_two)].concat();
    paged.sort();
    assert_eq!(paged, expected, "each link once over the pages");
    let last = app
        .client
        .get(app.url(&invites_path(&alice.linker, chat_id)))
        .bearer_auth(&alice.linker.token)
        .query(&[
            ("limit", "1"),
            (
                "cursor",
                page_two["next_cursor"].as_str().expect("a cursor"),
            ),
        ])
        .send()
        .await
        .expect("sent");
    let last: Value = last.json().await.expect("json");
    assert_eq!(links_of(&last), Vec::<String>::new(), "{last}");

    // Edited: a limit and a new title; the sandbox keeps them.
    let edited = app
        .post_keyed(
            &edit_path(&alice.linker, chat_id),
            &alice.linker.token,
            "edit-first",
            &json!({"invite_link": first_url, "usage_limit": 5, "title": "Renamed"}),
        )
        .await;
    let status = edited.status();
    let edited: Value = edited.json().await.expect("json");
    assert_eq!(status, 200, "{edited}");
    assert_eq!(edited["usage_limit"], 5);
    assert_eq!(edited["title"], "Renamed");
    assert_eq!(edited["revoked"], false);
    assert_eq!(edited["chat_id"], chat_id.to_string());

    // Revoked, once per key: the retry gets the first answer, a new try is refused.
    let revoke = |key: Option<&'static str>| {
        let body = json!({"invite_link": first_url});
        let app = &app;
        let alice = &alice;
        async move {
            let path = revoke_path(&alice.linker, chat_id);
            match key {
                Some(key) => app.post_keyed(&path, &alice.linker.token, key, &body).await,
                None => app.post_with_token(&path, &alice.linker.token, &body).await,
            }
        }
    };
    let revoked = revoke(Some("revoke-first")).await;
    let status = revoked.status();
    let revoked: Value = revoked.json().await.expect("json");
    assert_eq!(status, 200, "{revoked}");
    assert_eq!(revoked["revoked"], true);
    assert_eq!(revoked["link"], first_url.as_str());
    let retried = revoke(Some("revoke-first")).await;
    assert_eq!(retried.status(), 200);
    assert_eq!(retried.json::<Value>().await.expect("json"), revoked);
    assert_problem(revoke(None).await, 410, "invite_expired").await;

    // Nobody joins by it any more.
    let refused = app
        .post_with_token(
            &join_path(&carol),
            &carol.token,
            &json!({"invite_link": first_url}),
        )
        .await;
    assert_problem(refused, 410, "invite_expired").await;
    assert_problem(
        check_invite(&app, &carol, &first_url).await,
        410,
        "invite_expired",
    )
    .await;
    assert_eq!(
        links_of(&listed(&app, &alice, chat_id, "?revoked=true").await),
        vec![first_url.clone()]
    );
    assert_eq!(
        links_of(&listed(&app, &alice, chat_id, "").await),
        vec![second_url.clone()]
    );

    // Telegram's refusals.
    let unknown = app
        .post_with_token(
            &revoke_path(&alice.linker, chat_id),
            &alice.linker.token,
            &json!({"invite_link": "https://t.me/+NoSuchInvite123"}),
        )
        .await;
    assert_problem(unknown, 404, "invite_invalid").await;
    let lounge = demo_chat(&alice.sandbox, "Sandbox Lounge");
    assert_problem(
        app.get_with_token(&invites_path(&alice.linker, lounge), &alice.linker.token)
            .await,
        403,
        "telegram_admin_required",
    )
    .await;
    let not_admin = app
        .post_with_token(
            &revoke_path(&alice.linker, lounge),
            &alice.linker.token,
            &json!({"invite_link": second_url}),
        )
        .await;
    assert_problem(not_admin, 403, "telegram_admin_required").await;
    alice.sandbox.set_flood_wait(alice.alice, Some(21));
    assert_flood_wait(
        app.get_with_token(&invites_path(&alice.linker, chat_id), &alice.linker.token)
            .await,
        "21",
    )
    .await;
    alice.sandbox.set_flood_wait(alice.alice, None);

    // Bad input never reaches Telegram.
    for query in ["?limit=101", "?cursor=nonsense", "?revoked=maybe"] {
        assert_problem(
            app.get_with_token(
                &format!("{}{query}", invites_path(&alice.linker, chat_id)),
                &alice.linker.token,
            )
            .await,
            422,
            "validation_failed",
        )
        .await;
    }
    assert_problem(
        app.get_with_token(&invites_path(&alice.linker, alice.bob), &alice.linker.token)
            .await,
        422,
        "validation_failed",
    )
    .await;
    for body in [
        json!({"invite_link": second_url}),
        json!({"invite_link": "https://t.me/sandbox_plaza", "title": "x"}),
        json!({"invite_link": second_url, "usage_limit": 100_000}),
        json!({"invite_link": second_url, "expire_date": 1}),
        json!({"invite_link": second_url, "title": "t".repeat(33)}),
        json!({"invite_link": second_url, "usage_limit": 2, "request_needed": true}),
    ] {
        let refused = app
            .post_with_token(
                &edit_path(&alice.linker, chat_id),
                &alice.linker.token,
                &body,
            )
            .await;
        assert_problem(refused, 422, "validation_failed").await;
    }
    let too_long = app
        .post_with_token(
            &revoke_path(&alice.linker, chat_id),
            &alice.linker.token,
            &json!({"invite_link": format!("https://t.me/+{}", "a".repeat(300))}),
        )
        .await;
    assert_problem(too_long, 422, "validation_failed").await;
    let still = alice
        .sandbox
        .world(|world| world.invite_links(peer_of(chat_id)));
    assert_eq!(still.len(), 2, "no link was made or lost");

    // Another user's ids are forbidden.
    assert_problem(
        app.get_with_token(&invites_path(&alice.linker, chat_id), &carol.token)
            .await,
        403,
        "forbidden",
    )
    .await;
    for path in [
        revoke_path(&alice.linker, chat_id),
        edit_path(&alice.linker, chat_id),
    ] {
        let foreign = app
            .post_with_token(
                &path,
                &carol.token,
                &json!({"invite_link": second_url, "title": "x"}),
            )
            .await;
        assert_problem(foreign, 403, "forbidden").await;
    }

    app.wait_for_audit(
        &alice.linker.user_id,
        &alice.linker.token,
        "?action=telegram.group.",
        &[
            ("telegram.group.edit_invite", 200),
            ("telegram.group.revoke_invite", 200),
            ("telegram.group.revoke_invite", 410),
        ],
    )
    .await;
    app.stop().await;
}

/// Carol asks to join Alice's group through a link that needs approval; the request.
async fn carol_asks(app: &TestApp, carol: &Linker, url: &str) {
    let pending = app
        .post_with_token(
            &join_path(carol),
            &carol.token,
            &json!({"invite_link": url}),
        )
        .await;
    assert_eq!(pending.status(), 202);
}

#[tokio::test]
async fn a_request_to_join_is_listed_and_approved_the_requester_becomes_a_member_or_declined() {
    let app = spawn_app().await;
    let alice = linked_alice(&app, "invites-requests-alice@example.com").await;
    let carol = linked_carol(&app, "invites-requests-carol@example.com").await;
    let carol_id = sandbox_user(&alice.sandbox, "9996620003");
    let chat_id = alice
        .created_group(&app, "supergroup", "Approved members", json!([alice.bob]))
        .await;
    let link = export(&app, &alice, chat_id, &json!({"request_needed": true})).await;
    let url = link["link"].as_str().expect("link").to_owned();
    carol_asks(&app, &carol, &url).await;

    // The link counts the request; the list names Carol.
    let links = listed(&app, &alice, chat_id, "").await;
    assert_eq!(links["links"][0]["requested"], 1, "{links}");
    let requests = app
        .get_json(&requests_path(&alice.linker, chat_id), &alice.linker.token)
        .await;
    assert_eq!(requests["count"], 1, "{requests}");
    assert_eq!(requests["requests"][0]["user_id"], carol_id.to_string());
    assert!(requests["requests"][0]["date"].as_i64().expect("date") > 0);
    assert!(
        !requests["requests"][0]["first_name"]
            .as_str()
            .expect("name")
            .is_empty()
    );

    // Approved: Carol is a member, her chat list has the chat, Alice's socket hears it.
    let mut alices_socket = alice.socket(&app).await;
    let answer = json!({"user": carol_id.to_string(), "approve": true});
    let path = requests_path(&alice.linker, chat_id);
    let approved = app
        .post_keyed(&path, &alice.linker.token, "approve-carol", &answer)
        .await;
    let status = approved.status();
    let approved: Value = approved.json().await.expect("json");
    assert_eq!(status, 200, "{approved}");
    assert_eq!(
        approved,
        json!({"chat_id": chat_id.to_string(), "user_id": carol_id.to_string(), "approved": true})
    );
    assert!(
        alice
            .sandbox
            .world(|world| world.members(peer_of(chat_id)))
            .contains(&carol_id)
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
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !app.listed_chat_ids(&carol).await.contains(&chat_text) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the chat never reached Carol's chat list"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A member, not an admin: Telegram shows her no requests.
    assert_problem(
        app.get_with_token(&requests_path(&carol, chat_id), &carol.token)
            .await,
        403,
        "telegram_admin_required",
    )
    .await;
    let retried = app
        .post_keyed(&path, &alice.linker.token, "approve-carol", &answer)
        .await;
    assert_eq!(retried.status(), 200, "the retry gets the first answer");
    let again = app
        .post_with_token(&path, &alice.linker.token, &answer)
        .await;
    assert_problem(again, 404, "not_found").await;
    let none = app.get_json(&path, &alice.linker.token).await;
    assert_eq!(none["count"], 0, "{none}");

    // Declined: Carol leaves, asks again, and stays out.
    let left = app
        .post_with_token(
            &format!("/me/leave_chat/{}/1/{chat_id}", carol.user_id),
            &carol.token,
            &json!({}),
        )
        .await;
    assert_eq!(left.status(), 200);
    carol_asks(&app, &carol, &url).await;
    let declined = app
        .post_with_token(
            &path,
            &alice.linker.token,
            &json!({"user": carol_id.to_string(), "approve": false}),
        )
        .await;
    let declined: Value = declined.json().await.expect("json");
    assert_eq!(declined["approved"], false, "{declined}");
    assert!(
        !alice
            .sandbox
            .world(|world| world.members(peer_of(chat_id)))
            .contains(&carol_id)
    );
    let none = app.get_json(&path, &alice.linker.token).await;
    assert_eq!(none["count"], 0, "{none}");

    // Refusals: no longer a member, not an admin, bad input, another user's path, a
    // flood wait.
    let carols_view = app
        .get_with_token(&requests_path(&carol, chat_id), &carol.token)
        .await;
    assert_problem(carols_view, 403, "channel_private").await;
    let lounge = demo_chat(&alice.sandbox, "Sandbox Lounge");
    assert_problem(
        app.get_with_token(&requests_path(&alice.linker, lounge), &alice.linker.token)
            .await,
        403,
        "telegram_admin_required",
    )
    .await;
    for body in [
        json!({"user": "@carol", "approve": true}),
        json!({"user": "-5", "approve": true}),
        json!({"user": carol_id.to_string()}),
    ] {
        let refused = app.post_with_token(&path, &alice.linker.token, &body).await;
        assert_problem(refused, 422, "validation_failed").await;
    }
    assert_problem(
        app.get_with_token(&format!("{path}?limit=500"), &alice.linker.token)
            .await,
        422,
        "validation_failed",
    )
    .await;
    assert_problem(
        app.get_with_token(&path, &carol.token).await,
        403,
        "forbidden",
    )
    .await;
    let foreign = app.post_with_token(&path, &carol.token, &answer).await;
    assert_problem(foreign, 403, "forbidden").await;
    alice.sandbox.set_flood_wait(alice.alice, Some(12));
    let flooded = app
        .post_with_token(&path, &alice.linker.token, &answer)
        .await;
    assert_flood_wait(flooded, "12").await;
    alice.sandbox.set_flood_wait(alice.alice, None);

    app.wait_for_audit(
        &alice.linker.user_id,
        &alice.linker.token,
        "?action=telegram.group.",
        &[
            ("telegram.group.answer_join_request", 200),
            ("telegram.group.answer_join_request", 404),
        ],
    )
    .await;
    app.stop().await;
}

/// Split mode: the gateway calls replica a, the account lives on replica b (PostgreSQL,
/// RabbitMQ, one process each): listing, revoking and editing links and the join
/// requests are done by b's connection, Telegram's refusals come back through a.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_split_mode_links_and_join_requests_are_managed_by_the_accounts_host() {
    let crate::replicas::OnReplicaB {
        database,
        sandbox,
        replicas,
        user,
        index,
    } = crate::replicas::user_on_replica_b("invites-replica").await;
    let post = replicas.keyed_poster(&user.1);
    let get = |path: String| {
        replicas
            .client
            .get(replicas.url(&path))
            .bearer_auth(&user.1)
            .send()
    };
    let created = post(
        format!("/me/create_group/{}/{index}", user.0),
        "split-invites-group",
        json!({"title": "Split managed", "kind": "supergroup", "members": []}),
    )
    .await
    .expect("sent");
    assert_eq!(created.status(), 201);
    let chat_id = chat_id_of(&created.json().await.expect("json"));
    let exported = post(
        format!("/me/export_invite/{}/{index}/{chat_id}", user.0),
        "split-invites-export",
        json!({"request_needed": true}),
    )
    .await
    .expect("sent");
    assert_eq!(exported.status(), 201);
    let url = exported.json::<Value>().await.expect("json")["link"]
        .as_str()
        .expect("link")
        .to_owned();

    let listed = get(format!("/me/invites/{}/{index}/{chat_id}", user.0))
        .await
        .expect("sent");
    assert_eq!(listed.status(), 200);
    let listed: Value = listed.json().await.expect("json");
    assert_eq!(links_of(&listed), vec![url.clone()], "{listed}");

    let edited = post(
        format!("/me/edit_invite/{}/{index}/{chat_id}", user.0),
        "split-invites-edit",
        json!({"invite_link": url, "title": "Split title"}),
    )
    .await
    .expect("sent");
    let status = edited.status();
    let edited: Value = edited.json().await.expect("json");
    assert_eq!(status, 200, "{edited}");
    assert_eq!(edited["title"], "Split title");
    let revoked = post(
        format!("/me/revoke_invite/{}/{index}/{chat_id}", user.0),
        "split-invites-revoke",
        json!({"invite_link": url}),
    )
    .await
    .expect("sent");
    assert_eq!(revoked.status(), 200);
    assert_eq!(
        revoked.json::<Value>().await.expect("json")["revoked"],
        true
    );
    let again = post(
        format!("/me/revoke_invite/{}/{index}/{chat_id}", user.0),
        "split-invites-revoke-again",
        json!({"invite_link": url}),
    )
    .await
    .expect("sent");
    assert_problem(again, 410, "invite_expired").await;
    assert!(
        sandbox
            .world(|world| world.invite_links(peer_of(chat_id)))
            .len()
            == 1
    );

    let requests = get(format!("/me/join_requests/{}/{index}/{chat_id}", user.0))
        .await
        .expect("sent");
    assert_eq!(requests.status(), 200);
    assert_eq!(requests.json::<Value>().await.expect("json")["count"], 0);
    let missing = post(
        format!("/me/join_requests/{}/{index}/{chat_id}", user.0),
        "split-invites-answer",
        json!({"user": "777000", "approve": true}),
    )
    .await
    .expect("sent");
    assert_problem(missing, 404, "not_found").await;
    let lounge = demo_chat(&sandbox, "Sandbox Lounge");
    let not_admin = get(format!("/me/join_requests/{}/{index}/{lounge}", user.0))
        .await
        .expect("sent");
    assert_problem(not_admin, 403, "telegram_admin_required").await;

    drop(post);
    drop(replicas);
    sandbox.shutdown().await;
    database.drop_database().await;
}
