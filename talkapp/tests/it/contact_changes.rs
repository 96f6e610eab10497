//! Adding and deleting contacts through REST: by phone (`contacts.importContacts`), by
//! id or username (`contacts.addContact`), deleted (`contacts.deleteContacts`), at the
//! sandbox through the real grammers client, once per idempotency key.

use serde_json::{Value, json};

use crate::chats::linked_alice;
use crate::helpers::{assert_problem, spawn_app};

fn listed_ids(list: &Value) -> Vec<String> {
    list["contacts"]
        .as_array()
        .expect("contacts")
        .iter()
        .filter_map(|contact| contact["user_id"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn a_contact_added_by_phone_is_saved_under_the_name_given_once_per_key_and_deleted() {
    let app = spawn_app().await;
    let alice = linked_alice(&app, "contact-phone@example.com").await;
    let erin = alice
        .sandbox
        .world(|world| world.user_by_phone("9996620005").expect("erin"));
    let contacts_path = format!("/me/contacts/{}/1", alice.linker.user_id);
    let body = json!({"phone": "+999 662 0005", "first_name": "Erin", "last_name": "From Work"});

    let added = app
        .post_keyed(&contacts_path, &alice.linker.token, "erin-1", &body)
        .await;

    assert_eq!(added.status(), 201);
    let added: Value = added.json().await.expect("json");
    assert_eq!(added["user_id"], erin.to_string());
    assert_eq!(added["first_name"], "Erin");
    assert_eq!(added["last_name"], "From Work");
    assert_eq!(added["phone"], "9996620005", "a contact's phone is shown");
    assert_eq!(added["mutual"], false);
    assert!(added["presence"]["status"].is_string(), "{added}");
    assert!(
        alice
            .sandbox
            .world(|world| world.contacts_of(alice.alice).contains(&erin))
    );
    let list = app
        .get_json(&format!("{contacts_path}?limit=100"), &alice.linker.token)
        .await;
    assert!(listed_ids(&list).contains(&erin.to_string()), "{list}");

    let again = app
        .post_keyed(&contacts_path, &alice.linker.token, "erin-1", &body)
        .await;
    assert_eq!(again.status(), 201);
    let again: Value = again.json().await.expect("json");
    assert_eq!(again["user_id"], added["user_id"]);
    let other_body = app
        .post_keyed(
            &contacts_path,
            &alice.linker.token,
            "erin-1",
            &json!({"phone": "+9996620006", "first_name": "Frank"}),
        )
        .await;
    assert_problem(other_body, 422, "idempotency_key_reused").await;

    let deleted = app
        .delete_with_token(&format!("{contacts_path}/{erin}"), &alice.linker.token)
        .await;
    assert_eq!(deleted.status(), 204);
    assert!(
        !alice
            .sandbox
            .world(|world| world.contacts_of(alice.alice).contains(&erin))
    );
    let list = app
        .get_json(&format!("{contacts_path}?limit=100"), &alice.linker.token)
        .await;
    assert!(!listed_ids(&list).contains(&erin.to_string()), "{list}");

    // Met now: added back by id.
    let by_id = app
        .post_with_token(
            &contacts_path,
            &alice.linker.token,
            &json!({"user": erin, "first_name": "Erin", "last_name": "Again"}),
        )
        .await;
    assert_eq!(by_id.status(), 201);
    let by_id: Value = by_id.json().await.expect("json");
    assert_eq!(by_id["last_name"], "Again");
    app.stop().await;
}

#[tokio::test]
async fn a_contact_added_by_username_is_shown_under_the_saved_name_everywhere() {
    let app = spawn_app().await;
    let alice = linked_alice(&app, "contact-username@example.com").await;
    let contacts_path = format!("/me/contacts/{}/1", alice.linker.user_id);

    let added = app
        .post_with_token(
            &contacts_path,
            &alice.linker.token,
            &json!({"user": "@bob_sandbox", "first_name": "Bobby"}),
        )
        .await;

    assert_eq!(added.status(), 201);
    let added: Value = added.json().await.expect("json");
    assert_eq!(added["user_id"], alice.bob.to_string());
    assert_eq!(added["first_name"], "Bobby");
    assert_eq!(added["last_name"], "");
    assert_eq!(added["mutual"], true, "Bob has Alice in his contacts");
    let profile = app
        .get_json(
            &format!("/me/user_profile/{}/1/{}", alice.linker.user_id, alice.bob),
            &alice.linker.token,
        )
        .await;
    assert_eq!(profile["first_name"], "Bobby");
    assert_eq!(profile["is_contact"], true);
    app.stop().await;
}

#[tokio::test]
async fn people_telegram_does_not_know_are_not_found() {
    let app = spawn_app().await;
    let alice = linked_alice(&app, "contact-unknown@example.com").await;
    let contacts_path = format!("/me/contacts/{}/1", alice.linker.user_id);

    for who in [
        json!({"phone": "+9996629999", "first_name": "Nobody"}),
        json!({"user": "@nobody_has_this", "first_name": "Nobody"}),
        json!({"user": "987654321", "first_name": "Nobody"}),
    ] {
        let response = app
            .post_with_token(&contacts_path, &alice.linker.token, &who)
            .await;
        assert_problem(response, 404, "not_found").await;
    }
    let unknown_delete = app
        .delete_with_token(&format!("{contacts_path}/987654321"), &alice.linker.token)
        .await;
    assert_problem(unknown_delete, 404, "not_found").await;
    app.stop().await;
}

#[tokio::test]
async fn bad_contacts_are_refused_with_422() {
    let app = spawn_app().await;
    let alice = linked_alice(&app, "contact-bad@example.com").await;
    let contacts_path = format!("/me/contacts/{}/1", alice.linker.user_id);
    let long_name = "n".repeat(65);

    for body in [
        json!({"first_name": "Nobody"}),
        json!({"phone": "+9996620005", "user": "@bob_sandbox", "first_name": "Both"}),
        json!({"phone": "+9996620005", "first_name": ""}),
        json!({"phone": "+9996620005", "first_name": "   "}),
        json!({"phone": "+9996620005", "first_name": long_name}),
        json!({"phone": "+9996620005", "first_name": "Erin", "last_name": long_name}),
        json!({"phone": "+12", "first_name": "Short"}),
        json!({"phone": "+99966200aa", "first_name": "Letters"}),
        json!({"phone": "1".repeat(40), "first_name": "Long"}),
        json!({"user": "not a username!", "first_name": "Bad"}),
        json!({"user": true, "first_name": "Bad"}),
        json!({"user": -5, "first_name": "Bad"}),
        // The account itself: Telegram's CONTACT_ID_INVALID.
        json!({"user": "@alice_sandbox", "first_name": "Me"}),
    ] {
        let response = app
            .post_with_token(&contacts_path, &alice.linker.token, &body)
            .await;
        assert_problem(response, 422, "validation_failed").await;
    }
    for bad in ["bob", "0", "-5"] {
        let response = app
            .delete_with_token(&format!("{contacts_path}/{bad}"), &alice.linker.token)
            .await;
        assert_problem(response, 422, "validation_failed").await;
    }
    let erin = alice
        .sandbox
        .world(|world| world.user_by_phone("9996620005").expect("erin"));
    assert!(
        !alice
            .sandbox
            .world(|world| world.contacts_of(alice.alice).contains(&erin))
    );
    app.stop().await;
}

#[tokio::test]
async fn another_users_contacts_cannot_be_changed() {
    let app = spawn_app().await;
    let alice = linked_alice(&app, "contact-owner@example.com").await;
    let stranger = app.linker("contact-stranger@example.com").await;
    let contacts_path = format!("/me/contacts/{}/1", alice.linker.user_id);

    let add = app
        .post_with_token(
            &contacts_path,
            &stranger.token,
            &json!({"phone": "+9996620005", "first_name": "Erin"}),
        )
        .await;
    assert_problem(add, 403, "forbidden").await;
    let delete = app
        .delete_with_token(&format!("{contacts_path}/{}", alice.bob), &stranger.token)
        .await;
    assert_problem(delete, 403, "forbidden").await;
    assert!(
        alice
            .sandbox
            .world(|world| world.contacts_of(alice.alice).contains(&alice.bob)),
        "Bob is still Alice's contact"
    );
    app.stop().await;
}

#[tokio::test]
async fn profile_and_contact_changes_are_in_the_audit_log() {
    let app = spawn_app().await;
    let alice = linked_alice(&app, "contact-audit@example.com").await;
    let user = alice.linker.user_id.clone();
    let token = alice.linker.token.clone();
    let changed = app
        .client
        .patch(app.url(&format!("/me/profile/{user}/1")))
        .bearer_auth(&token)
        .json(&json!({"username": "bob_sandbox"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(changed.status(), 409);
    let added = app
        .post_with_token(
            &format!("/me/contacts/{user}/1"),
            &token,
            &json!({"phone": "+9996620005", "first_name": "Erin"}),
        )
        .await;
    assert_eq!(added.status(), 201);
    let erin = alice
        .sandbox
        .world(|world| world.user_by_phone("9996620005").expect("erin"));
    let deleted = app
        .delete_with_token(&format!("/me/contacts/{user}/1/{erin}"), &token)
        .await;
    assert_eq!(deleted.status(), 204);

    let recorded = app
        .wait_for_audit(
            &user,
            &token,
            "?action=telegram.",
            &[
                ("telegram.profile.update", 409),
                ("telegram.contact.add", 201),
                ("telegram.contact.delete", 204),
            ],
        )
        .await;
    for (action, outcome) in [
        ("telegram.profile.update", "failure"),
        ("telegram.contact.add", "success"),
        ("telegram.contact.delete", "success"),
    ] {
        assert!(
            recorded
                .iter()
                .any(|record| record.action == action && record.outcome == outcome),
            "{action} {outcome} in {recorded:?}"
        );
    }
    app.stop().await;
}
