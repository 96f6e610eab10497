//! The linked account's own profile through REST: read and changed at the sandbox
//! through the real grammers client by the account's host, with Telegram's refusals.

use serde_json::{Value, json};

use crate::chats::linked_alice;
use crate::helpers::{TestApp, assert_problem, spawn_app};
use crate::linking::Linker;

fn profile_path(linker: &Linker) -> String {
    format!("/me/profile/{}/1", linker.user_id)
}

async fn patch(app: &TestApp, path: &str, token: &str, body: &Value) -> reqwest::Response {
    app.client
        .patch(app.url(path))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .expect("request sent")
}

#[tokio::test]
async fn the_own_profile_shows_the_accounts_names_phone_and_username() {
    let app = spawn_app().await;
    let alice = linked_alice(&app, "own-profile-read@example.com").await;

    let me = app
        .get_json(&profile_path(&alice.linker), &alice.linker.token)
        .await;

    assert_eq!(me["id"], alice.alice.to_string());
    assert_eq!(me["first_name"], "Alice");
    assert_eq!(me["last_name"], "Sandbox");
    assert_eq!(me["username"], "alice_sandbox");
    assert_eq!(me["phone"], "9996620001");
    assert_eq!(me["is_self"], true);
    assert_eq!(me["is_verified"], false);
    assert!(me["bio"].is_null(), "{me}");
    app.stop().await;
}

#[tokio::test]
async fn changing_the_own_profile_reaches_telegram_the_session_list_and_other_accounts() {
    let app = spawn_app().await;
    let alice = linked_alice(&app, "own-profile-change@example.com").await;
    let path = profile_path(&alice.linker);

    let response = patch(
        &app,
        &path,
        &alice.linker.token,
        &json!({"first_name": " Alicia ", "last_name": "", "bio": "Salom, dunyo!", "username": "alicia_new"}),
    )
    .await;

    assert_eq!(response.status(), 200);
    let changed: Value = response.json().await.expect("json");
    assert_eq!(changed["first_name"], "Alicia");
    assert!(changed["last_name"].is_null(), "removed: {changed}");
    assert_eq!(changed["bio"], "Salom, dunyo!");
    assert_eq!(changed["username"], "alicia_new");
    let at_telegram = alice.sandbox.world(|world| {
        let user = world.user(alice.alice).expect("alice");
        (
            user.first_name.clone(),
            user.last_name.clone(),
            user.username.clone(),
        )
    });
    assert_eq!(
        at_telegram,
        ("Alicia".to_owned(), None, Some("alicia_new".to_owned()))
    );
    let read_again = app.get_json(&path, &alice.linker.token).await;
    assert_eq!(read_again["bio"], "Salom, dunyo!");
    let sessions = app.sessions_of(&alice.linker).await;
    assert_eq!(sessions[0]["telegram_user"]["first_name"], "Alicia");
    assert_eq!(sessions[0]["telegram_user"]["last_name"], "");
    assert_eq!(sessions[0]["telegram_user"]["username"], "alicia_new");
    let telegrams = app.get_json("/me/telegrams", &alice.linker.token).await;
    let account = &telegrams["telegram_accounts"][0];
    assert_eq!(account["full_name"], "Alicia", "{telegrams}");
    assert_eq!(account["username"], "alicia_new");
    assert_eq!(account["profile_url"], "https://t.me/alicia_new");

    // Carol, Alice's contact, linked by another TalkApp user, sees the new name.
    let carol = app.linker("own-profile-carol@example.com").await;
    app.link(&carol, "+9996620003").await;
    let carols_contacts = app
        .get_json(
            &format!("/me/contacts/{}/1?limit=100", carol.user_id),
            &carol.token,
        )
        .await;
    let alice_id = alice.alice.to_string();
    let seen = carols_contacts["contacts"]
        .as_array()
        .expect("contacts")
        .iter()
        .find(|contact| contact["user_id"] == alice_id.as_str())
        .cloned()
        .expect("Alice is Carol's contact");
    assert_eq!(seen["first_name"], "Alicia");
    let as_carol_sees_her = app
        .get_json(
            &format!("/me/user_profile/{}/1/{}", carol.user_id, alice.alice),
            &carol.token,
        )
        .await;
    assert_eq!(as_carol_sees_her["first_name"], "Alicia");
    assert_eq!(as_carol_sees_her["username"], "alicia_new");
    assert_eq!(as_carol_sees_her["bio"], "Salom, dunyo!");
    app.stop().await;
}

#[tokio::test]
async fn the_username_the_account_has_already_is_no_error_and_one_taken_is_409() {
    let app = spawn_app().await;
    let alice = linked_alice(&app, "own-profile-username@example.com").await;
    let path = profile_path(&alice.linker);

    let same = patch(
        &app,
        &path,
        &alice.linker.token,
        &json!({"username": "alice_sandbox"}),
    )
    .await;
    assert_eq!(same.status(), 200, "USERNAME_NOT_MODIFIED is a success");
    let same: Value = same.json().await.expect("json");
    assert_eq!(same["username"], "alice_sandbox");

    let taken = patch(
        &app,
        &path,
        &alice.linker.token,
        &json!({"username": "BOB_sandbox", "first_name": "Not Applied"}),
    )
    .await;
    assert_problem(taken, 409, "username_taken").await;
    let unchanged = alice.sandbox.world(|world| {
        let user = world.user(alice.alice).expect("alice");
        (user.first_name.clone(), user.username.clone())
    });
    assert_eq!(
        unchanged,
        ("Alice".to_owned(), Some("alice_sandbox".to_owned())),
        "a refused username changes nothing"
    );

    // Passes the local check (letters, digits, underscores) but Telegram wants a letter
    // first: USERNAME_INVALID.
    let invalid = patch(
        &app,
        &path,
        &alice.linker.token,
        &json!({"username": "1alice"}),
    )
    .await;
    assert_problem(invalid, 422, "username_invalid").await;

    // Removing it.
    let removed = patch(&app, &path, &alice.linker.token, &json!({"username": ""})).await;
    assert_eq!(removed.status(), 200);
    let removed: Value = removed.json().await.expect("json");
    assert!(removed["username"].is_null(), "{removed}");
    app.stop().await;
}

#[tokio::test]
async fn a_first_name_telegram_finds_empty_is_refused_as_telegram_refuses_it() {
    let app = spawn_app().await;
    let alice = linked_alice(&app, "own-profile-invisible@example.com").await;

    // A zero-width space is not whitespace to the local check; Telegram strips it and
    // answers FIRST_NAME_INVALID.
    let response = patch(
        &app,
        &profile_path(&alice.linker),
        &alice.linker.token,
        &json!({"first_name": "\u{200b}"}),
    )
    .await;

    let problem = assert_problem(response, 422, "validation_failed").await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("FIRST_NAME_INVALID"),
        "{problem}"
    );
    app.stop().await;
}

#[tokio::test]
async fn profile_changes_over_telegrams_limits_are_refused_before_telegram_is_asked() {
    let app = spawn_app().await;
    let alice = linked_alice(&app, "own-profile-limits@example.com").await;
    let path = profile_path(&alice.linker);
    let long_name = "n".repeat(65);
    let long_bio = "b".repeat(71);

    for body in [
        json!({}),
        json!({"first_name": ""}),
        json!({"first_name": "   "}),
        json!({"first_name": long_name}),
        json!({"first_name": "two\nlines"}),
        json!({"last_name": long_name}),
        json!({"bio": long_bio}),
        json!({"username": "abcd"}),
        json!({"username": "has space"}),
        json!({"username": "a".repeat(33)}),
        json!({"username": "алиса_123"}),
    ] {
        let response = patch(&app, &path, &alice.linker.token, &body).await;
        assert_problem(response, 422, "validation_failed").await;
    }
    let untouched = alice
        .sandbox
        .world(|world| world.user(alice.alice).expect("alice").first_name.clone());
    assert_eq!(untouched, "Alice");

    // At the limits, in characters: accepted.
    let at_limits = patch(
        &app,
        &path,
        &alice.linker.token,
        &json!({"first_name": "ё".repeat(64), "bio": "ў".repeat(70)}),
    )
    .await;
    assert_eq!(at_limits.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn another_users_own_profile_is_forbidden() {
    let app = spawn_app().await;
    let alice = linked_alice(&app, "own-profile-owner@example.com").await;
    let stranger = app.linker("own-profile-stranger@example.com").await;
    let path = profile_path(&alice.linker);

    let read = app.get_with_token(&path, &stranger.token).await;
    assert_problem(read, 403, "forbidden").await;
    let change = patch(
        &app,
        &path,
        &stranger.token,
        &json!({"first_name": "Mallory"}),
    )
    .await;
    assert_problem(change, 403, "forbidden").await;
    let unlinked = app
        .get_with_token(
            &format!("/me/profile/{}/7", alice.linker.user_id),
            &alice.linker.token,
        )
        .await;
    assert_problem(unlinked, 404, "not_found").await;
    assert_eq!(
        alice
            .sandbox
            .world(|world| world.user(alice.alice).expect("alice").first_name.clone()),
        "Alice"
    );
    app.stop().await;
}

#[tokio::test]
async fn in_split_mode_profile_contact_changes_and_people_search_go_to_the_accounts_host() {
    let crate::replicas::OnReplicaB {
        database,
        sandbox,
        replicas,
        user,
        index,
    } = crate::replicas::user_on_replica_b("profile-replica").await;
    let (alice, erin) = sandbox.world(|world| {
        (
            world.user_by_phone("9996620001").expect("alice"),
            world.user_by_phone("9996620005").expect("erin"),
        )
    });
    let profile_path = format!("/me/profile/{}/{index}", user.0);

    let read = replicas.get(&profile_path, &user.1).await;
    assert_eq!(read["first_name"], "Alice");
    let changed = replicas
        .client
        .patch(replicas.url(&profile_path))
        .bearer_auth(&user.1)
        .json(&json!({"first_name": "Split", "bio": "via replica a"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(changed.status(), 200);
    let changed: Value = changed.json().await.expect("json");
    assert_eq!(changed["first_name"], "Split");
    assert_eq!(changed["bio"], "via replica a");
    assert_eq!(
        sandbox.world(|world| world.user(alice).expect("alice").first_name.clone()),
        "Split"
    );
    let taken = replicas
        .client
        .patch(replicas.url(&profile_path))
        .bearer_auth(&user.1)
        .json(&json!({"username": "bob_sandbox"}))
        .send()
        .await
        .expect("sent");
    assert_problem(taken, 409, "username_taken").await;
    let sessions = replicas
        .get(&format!("/me/sessions/{}", user.0), &user.1)
        .await;
    assert_eq!(
        sessions["sessions"][0]["telegram_user"]["first_name"],
        "Split"
    );

    let contacts_path = format!("/me/contacts/{}/{index}", user.0);
    let added = replicas
        .client
        .post(replicas.url(&contacts_path))
        .bearer_auth(&user.1)
        .header("idempotency-key", "split-erin")
        .json(&json!({"phone": "+9996620005", "first_name": "Erin", "last_name": "Split"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(added.status(), 201);
    let added: Value = added.json().await.expect("json");
    assert_eq!(added["user_id"], erin.to_string());
    assert_eq!(added["last_name"], "Split");
    assert!(sandbox.world(|world| world.contacts_of(alice).contains(&erin)));
    let deleted = replicas
        .client
        .delete(replicas.url(&format!("{contacts_path}/{erin}")))
        .bearer_auth(&user.1)
        .send()
        .await
        .expect("sent");
    assert_eq!(deleted.status(), 204);
    assert!(!sandbox.world(|world| world.contacts_of(alice).contains(&erin)));
    let bob = sandbox.world(|world| world.user_by_phone("9996620002").expect("bob"));
    let people = replicas
        .get(
            &format!("/me/search/people/{}/{index}?q=bob_sand", user.0),
            &user.1,
        )
        .await;
    assert_eq!(people["people"][0]["user_id"], bob.to_string(), "{people}");

    drop(replicas);
    sandbox.shutdown().await;
    database.drop_database().await;
}
