//! Users' profiles through REST: asked of the sandbox through the real grammers client
//! by the account's host.

use serde_json::json;

use crate::chats::linked_alice;
use crate::helpers::{assert_problem, spawn_app};

#[tokio::test]
async fn a_contacts_profile_shows_name_phone_presence_and_chats_in_common() {
    let app = spawn_app().await;
    let alice = linked_alice(&app, "profile@example.com").await;
    let common = alice.sandbox.world(|world| {
        world
            .dialog_peers(alice.alice)
            .into_iter()
            .filter(|peer| {
                let group = match peer {
                    talkapp_tg_sandbox::Peer::User(_) => false,
                    talkapp_tg_sandbox::Peer::Chat(_) => true,
                    talkapp_tg_sandbox::Peer::Channel(id) => !world.is_broadcast(*id),
                };
                group && world.members(*peer).contains(&alice.bob)
            })
            .count()
    });
    let path = |telegram_user: String| {
        format!(
            "/me/user_profile/{}/1/{telegram_user}",
            alice.linker.user_id
        )
    };

    let bob = app
        .get_json(&path(alice.bob.to_string()), &alice.linker.token)
        .await;
    assert_eq!(bob["id"], alice.bob.to_string());
    assert_eq!(bob["first_name"], "Bob");
    assert_eq!(bob["username"], "bob_sandbox");
    assert_eq!(bob["phone"], "9996620002");
    assert_eq!(bob["is_contact"], true);
    assert_eq!(bob["is_bot"], false);
    assert_eq!(bob["is_self"], false);
    assert!(bob["presence"]["status"].is_string(), "{bob}");
    assert!(
        bob["photo_id"].is_string(),
        "Bob has a profile photo: {bob}"
    );
    assert!(common >= 1, "the demo has groups with Bob");
    assert_eq!(bob["common_chats_count"], json!(common));

    let me = app
        .get_json(&path(alice.alice.to_string()), &alice.linker.token)
        .await;
    assert_eq!(me["is_self"], true);
    assert_eq!(me["first_name"], "Alice");

    let unknown = app
        .get_with_token(&path("987654321".into()), &alice.linker.token)
        .await;
    assert_problem(unknown, 404, "not_found").await;
    for bad in ["bob", "0", "-5", "99999999999999999999"] {
        let response = app
            .get_with_token(&path(bad.into()), &alice.linker.token)
            .await;
        assert_problem(response, 422, "validation_failed").await;
    }
    let stranger = app.linker("profile-stranger@example.com").await;
    let foreign = app
        .get_with_token(&path(alice.bob.to_string()), &stranger.token)
        .await;
    assert_problem(foreign, 403, "forbidden").await;
    app.stop().await;
}
