//! Telegram's people search (`contacts.search`) through REST: contacts and strangers
//! found by name or username, at the sandbox through the real grammers client.

use serde_json::{Value, json};

use crate::chats::linked_alice;
use crate::helpers::{assert_problem, spawn_app};
use crate::search::encoded;

fn found_ids(found: &Value) -> Vec<String> {
    found["people"]
        .as_array()
        .expect("people")
        .iter()
        .filter_map(|person| person["user_id"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn people_are_found_by_name_among_contacts_and_by_username_outside_them() {
    let app = spawn_app().await;
    let alice = linked_alice(&app, "people-search@example.com").await;
    // Frank is no contact of Alice's; linked by another TalkApp user, he takes a
    // username, which makes him findable.
    let frank_user = app.linker("people-search-frank@example.com").await;
    app.link(&frank_user, "+9996620006").await;
    let frank = alice
        .sandbox
        .world(|world| world.user_by_phone("9996620006").expect("frank"));
    let named = app
        .client
        .patch(app.url(&format!("/me/profile/{}/1", frank_user.user_id)))
        .bearer_auth(&frank_user.token)
        .json(&json!({"username": "frank_public"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(named.status(), 200);
    let path = |q: &str| {
        format!(
            "/me/search/people/{}/1?q={}&limit=10",
            alice.linker.user_id,
            encoded(q)
        )
    };

    let bob = app.get_json(&path("Bob"), &alice.linker.token).await;
    let stranger = app.get_json(&path("@frank_pub"), &alice.linker.token).await;

    assert_eq!(found_ids(&bob)[0], alice.bob.to_string(), "{bob}");
    assert_eq!(bob["people"][0]["is_contact"], true);
    assert_eq!(bob["people"][0]["phone"], "9996620002");
    assert_eq!(found_ids(&stranger), vec![frank.to_string()], "{stranger}");
    let frank_found = &stranger["people"][0];
    assert_eq!(frank_found["username"], "frank_public");
    assert_eq!(frank_found["is_contact"], false);
    assert!(
        frank_found["phone"].is_null(),
        "a stranger's phone is hidden"
    );
    let nobody = app
        .get_json(&path("zzz_nobody_here"), &alice.linker.token)
        .await;
    assert!(found_ids(&nobody).is_empty(), "{nobody}");
    let myself = app
        .get_json(&path("alice_sandbox"), &alice.linker.token)
        .await;
    assert!(
        !found_ids(&myself).contains(&alice.alice.to_string()),
        "never the account itself: {myself}"
    );
    app.stop().await;
}

#[tokio::test]
async fn bad_people_searches_are_422_and_another_users_is_403() {
    let app = spawn_app().await;
    let alice = linked_alice(&app, "people-search-bad@example.com").await;
    let user = alice.linker.user_id.clone();
    let long = "a".repeat(257);

    for path in [
        format!("/me/search/people/{user}/1"),
        format!("/me/search/people/{user}/1?q="),
        format!("/me/search/people/{user}/1?q=%20%20"),
        format!("/me/search/people/{user}/1?q=%40"),
        format!("/me/search/people/{user}/1?q={long}"),
        format!("/me/search/people/{user}/1?q=bob&limit=0"),
        format!("/me/search/people/{user}/1?q=bob&limit=101"),
        format!("/me/search/people/{user}/1?q=bob&bogus=1"),
        format!("/me/search/people/{user}/0?q=bob"),
    ] {
        let response = app.get_with_token(&path, &alice.linker.token).await;
        assert_problem(response, 422, "validation_failed").await;
    }
    for syntax in ["\"bob", "bob*", "' OR 1=1 --", "(("] {
        let response = app
            .get_with_token(
                &format!("/me/search/people/{user}/1?q={}", encoded(syntax)),
                &alice.linker.token,
            )
            .await;
        assert_eq!(response.status(), 200, "{syntax}");
    }
    let unlinked = app
        .get_with_token(
            &format!("/me/search/people/{user}/9?q=bob"),
            &alice.linker.token,
        )
        .await;
    assert_problem(unlinked, 404, "not_found").await;
    let mallory = app.linker("people-search-mallory@example.com").await;
    let foreign = app
        .get_with_token(&format!("/me/search/people/{user}/1?q=bob"), &mallory.token)
        .await;
    assert_problem(foreign, 403, "forbidden").await;
    app.stop().await;
}
