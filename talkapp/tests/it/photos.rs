//! Chat photos and the account's own profile photo from uploaded files, end to end: an
//! image uploaded with `POST /upload`, made a group's, a supergroup's or the account's
//! photo through the real grammers client against the sandbox (`messages.editChatPhoto`,
//! `channels.editPhoto`, `photos.uploadProfilePhoto`), the chat list, the profile and the
//! account list following, the photo downloaded again, another member's socket hearing
//! `chat.updated`; removing them; the refusals as stable problem codes; and split mode,
//! where the account's host (another process) reads the file from the media service.

use std::time::Duration;

use serde_json::{Value, json};
use talkapp_tg_sandbox::sample_png;

use crate::chats::linked_alice;
use crate::helpers::{TestApp, assert_problem, spawn_app};
use crate::linking::Linker;
use crate::realtime::{connect_with_token, wait_for_event};
use crate::support::{demo_chat, peer_of};

/// Width and height from a PNG's IHDR.
fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG");
    let number = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    (number(16), number(20))
}

/// A small, valid PDF (typed as a document by its bytes).
fn pdf() -> Vec<u8> {
    b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n".to_vec()
}

/// Uploads `bytes` as `token`'s user; the file id.
async fn upload(app: &TestApp, token: &str, name: &str, bytes: &[u8]) -> String {
    uploaded(app, token, name, bytes).await["file_id"]
        .as_str()
        .expect("file_id")
        .to_owned()
}

/// Uploads `bytes` as `token`'s user; the upload's reply.
async fn uploaded(app: &TestApp, token: &str, name: &str, bytes: &[u8]) -> Value {
    let response = app
        .client
        .post(app.url(&format!("/upload?filename={name}")))
        .bearer_auth(token)
        .header("content-type", "application/octet-stream")
        .body(bytes.to_vec())
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 201, "uploaded");
    response.json().await.expect("json")
}

async fn put(app: &TestApp, path: &str, token: &str, body: &Value) -> reqwest::Response {
    app.client
        .put(app.url(path))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .expect("sent")
}

async fn delete(app: &TestApp, path: &str, token: &str) -> reqwest::Response {
    app.client
        .delete(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .expect("sent")
}

async fn ok_json(response: reqwest::Response) -> Value {
    let status = response.status();
    let body: Value = response.json().await.expect("json");
    assert_eq!(status, 200, "{body}");
    body
}

fn chat_photo_path(linker: &Linker, chat_id: i64) -> String {
    format!("/me/chat_photo/{}/1/{chat_id}", linker.user_id)
}

fn own_photo_path(linker: &Linker) -> String {
    format!("/me/profile/photo/{}/1", linker.user_id)
}

/// The chat `chat_id` as `linker`'s chat list shows it.
async fn listed(app: &TestApp, linker: &Linker, chat_id: i64) -> Option<Value> {
    let chats = app
        .get_json(
            &format!("/me/chats/{}/1?limit=100", linker.user_id),
            &linker.token,
        )
        .await;
    let chat_text = chat_id.to_string();
    chats["chats"]
        .as_array()
        .expect("chats")
        .iter()
        .find(|chat| chat["chat_id"] == chat_text.as_str())
        .cloned()
}

/// The bytes of a photo (`photo_id`) of `linker`'s account, through the media route.
async fn download(app: &TestApp, linker: &Linker, photo_id: &str) -> Vec<u8> {
    let response = app
        .get_with_token(
            &format!("/me/media/{}/1/{photo_id}", linker.user_id),
            &linker.token,
        )
        .await;
    assert_eq!(response.status(), 200, "downloaded");
    response.bytes().await.expect("bytes").to_vec()
}

/// Carol (`+9996620003`) linked by a TalkApp user of her own, once her list has
/// `chat_id`.
async fn linked_carol(app: &TestApp, email: &str, chat_id: i64) -> Linker {
    let carol = app.linker(email).await;
    app.link(&carol, "+9996620003").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while listed(app, &carol, chat_id).await.is_none() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "Carol's list has no {chat_id}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    carol
}

#[tokio::test]
async fn a_groups_photo_is_set_from_an_upload_listed_downloaded_heard_by_members_and_removed() {
    let app = spawn_app().await;
    let alice = linked_alice(&app, "photos-group@example.com").await;
    // Alice's own basic group, with Bob, Carol and Dave; no photo yet.
    let friends = demo_chat(&alice.sandbox, "Sandbox Friends");
    let carol = linked_carol(&app, "photos-group-carol@example.com", friends).await;
    let mut carols_socket = connect_with_token(
        &app.address,
        &format!("/ws/{}/1", carol.user_id),
        &carol.token,
    )
    .await;
    assert_eq!(
        listed(&app, &alice.linker, friends).await.expect("listed")["photo_id"],
        Value::Null
    );
    let carol_id = alice
        .sandbox
        .world(|world| world.user_by_phone("9996620003").expect("carol"));
    let messages_before = alice
        .sandbox
        .world(|world| world.message_count(carol_id, peer_of(friends)));

    // 300×200: Telegram crops it to its centred 200×200 square.
    let file_id = upload(
        &app,
        &alice.linker.token,
        "team.png",
        &sample_png(31, 300, 200),
    )
    .await;
    let chat = ok_json(
        put(
            &app,
            &chat_photo_path(&alice.linker, friends),
            &alice.linker.token,
            &json!({"file_id": file_id}),
        )
        .await,
    )
    .await;
    assert_eq!(chat["chat_id"], friends.to_string());
    let photo_id = chat["photo_id"].as_str().expect("a photo_id").to_owned();
    assert_eq!(
        listed(&app, &alice.linker, friends).await.expect("listed")["photo_id"],
        photo_id.as_str()
    );
    assert_eq!(
        png_size(&download(&app, &alice.linker, &photo_id).await),
        (200, 200),
        "the photo is the uploaded picture, cropped"
    );
    // Every member gets the service message; Carol's socket hears of the chat.
    assert_eq!(
        alice
            .sandbox
            .world(|world| world.message_count(carol_id, peer_of(friends))),
        messages_before + 1
    );
    let friends_text = friends.to_string();
    let heard = wait_for_event(&mut carols_socket, Duration::from_secs(10), |event| {
        event["type"] == "chat.updated"
            && event["data"]["chat_id"] == friends_text.as_str()
            && event["data"]["photo_id"].is_string()
    })
    .await;
    let carols_photo = heard["data"]["photo_id"].as_str().expect("photo_id");
    assert_eq!(
        png_size(&download(&app, &carol, carols_photo).await),
        (200, 200),
        "Carol downloads the same picture"
    );

    // Removed: the list and Carol follow.
    let chat = ok_json(
        delete(
            &app,
            &chat_photo_path(&alice.linker, friends),
            &alice.linker.token,
        )
        .await,
    )
    .await;
    assert_eq!(chat["photo_id"], Value::Null, "{chat}");
    assert_eq!(
        listed(&app, &alice.linker, friends).await.expect("listed")["photo_id"],
        Value::Null
    );
    wait_for_event(&mut carols_socket, Duration::from_secs(10), |event| {
        event["type"] == "chat.updated"
            && event["data"]["chat_id"] == friends_text.as_str()
            && event["data"]["photo_id"].is_null()
    })
    .await;
    // Removing none again: Telegram's CHAT_NOT_MODIFIED, no error and no message.
    let messages = alice
        .sandbox
        .world(|world| world.message_count(carol_id, peer_of(friends)));
    let again = delete(
        &app,
        &chat_photo_path(&alice.linker, friends),
        &alice.linker.token,
    )
    .await;
    assert_eq!(ok_json(again).await["photo_id"], Value::Null);
    assert_eq!(
        alice
            .sandbox
            .world(|world| world.message_count(carol_id, peer_of(friends))),
        messages
    );

    // A supergroup (`channels.editPhoto`), and the photo with a new title through
    // `edit_chat`.
    let supergroup = alice
        .created_group(&app, "supergroup", "Photo club", json!([alice.bob]))
        .await;
    let square = upload(
        &app,
        &alice.linker.token,
        "club.png",
        &sample_png(5, 700, 700),
    )
    .await;
    let edited = ok_json(
        app.post_with_token(
            &format!("/me/edit_chat/{}/1/{supergroup}", alice.linker.user_id),
            &alice.linker.token,
            &json!({"title": "Photo club!", "photo_file_id": square}),
        )
        .await,
    )
    .await;
    assert_eq!(edited["title"], "Photo club!");
    let club_photo = edited["photo_id"].as_str().expect("a photo_id").to_owned();
    assert_eq!(
        png_size(&download(&app, &alice.linker, &club_photo).await),
        (640, 640),
        "the big size is 640 pixels"
    );
    let removed = ok_json(
        delete(
            &app,
            &chat_photo_path(&alice.linker, supergroup),
            &alice.linker.token,
        )
        .await,
    )
    .await;
    assert_eq!(removed["photo_id"], Value::Null);
    app.stop().await;
}

#[tokio::test]
async fn photos_that_are_no_image_too_small_not_the_users_or_not_the_accounts_to_change_are_refused()
 {
    let app = spawn_app().await;
    let alice = linked_alice(&app, "photos-refused@example.com").await;
    let friends = demo_chat(&alice.sandbox, "Sandbox Friends");
    let path = chat_photo_path(&alice.linker, friends);
    let token = &alice.linker.token;

    let document = upload(&app, token, "notes.pdf", &pdf()).await;
    for (path, body) in [
        (path.clone(), json!({"file_id": document})),
        (own_photo_path(&alice.linker), json!({"file_id": document})),
    ] {
        assert_problem(put(&app, &path, token, &body).await, 422, "photo_invalid").await;
    }
    // Under 160×160: Telegram's PHOTO_CROP_SIZE_SMALL.
    let tiny = upload(&app, token, "tiny.png", &sample_png(2, 120, 300)).await;
    for path in [path.clone(), own_photo_path(&alice.linker)] {
        assert_problem(
            put(&app, &path, token, &json!({"file_id": tiny})).await,
            422,
            "photo_too_small",
        )
        .await;
    }
    // Over Telegram's 10 MiB for a photo: refused before it is uploaded.
    let mut heavy = sample_png(6, 200, 200);
    heavy.resize(heavy.len() + 10 * 1024 * 1024, 0);
    let heavy = uploaded(&app, token, "heavy.png", &heavy).await;
    assert_eq!(heavy["kind"], "photo", "{heavy}");
    let heavy = heavy["file_id"].as_str().expect("file_id");
    assert_problem(
        put(&app, &path, token, &json!({"file_id": heavy})).await,
        422,
        "photo_invalid",
    )
    .await;
    assert_eq!(
        listed(&app, &alice.linker, friends).await.expect("listed")["photo_id"],
        Value::Null
    );

    // Another user's upload is not found; another user's path is forbidden.
    let other = app.linker("photos-refused-other@example.com").await;
    let theirs = upload(&app, &other.token, "theirs.png", &sample_png(3, 200, 200)).await;
    for path in [path.clone(), own_photo_path(&alice.linker)] {
        assert_problem(
            put(&app, &path, token, &json!({"file_id": theirs})).await,
            404,
            "not_found",
        )
        .await;
    }
    let mine = upload(&app, token, "mine.png", &sample_png(4, 200, 200)).await;
    for path in [
        chat_photo_path(&other, friends),
        format!("/me/profile/photo/{}/1", other.user_id),
    ] {
        assert_problem(
            put(&app, &path, token, &json!({"file_id": mine})).await,
            403,
            "forbidden",
        )
        .await;
        assert_problem(delete(&app, &path, token).await, 403, "forbidden").await;
    }

    // Carol's supergroup, where Alice is a member only.
    let lounge = demo_chat(&alice.sandbox, "Sandbox Lounge");
    let lounge_path = chat_photo_path(&alice.linker, lounge);
    assert_problem(
        put(&app, &lounge_path, token, &json!({"file_id": mine})).await,
        403,
        "telegram_admin_required",
    )
    .await;
    assert_problem(
        delete(&app, &lounge_path, token).await,
        403,
        "telegram_admin_required",
    )
    .await;

    // Bad input, before Telegram is asked.
    for body in [
        json!({}),
        json!({"file_id": "not-a-uuid"}),
        json!({"file_id": "f".repeat(4096)}),
        json!({"file_id": mine, "crop": true}),
    ] {
        assert_problem(
            put(&app, &path, token, &body).await,
            422,
            "validation_failed",
        )
        .await;
    }
    let private = put(
        &app,
        &chat_photo_path(&alice.linker, alice.bob),
        token,
        &json!({"file_id": mine}),
    )
    .await;
    assert_problem(private, 422, "validation_failed").await;
    app.stop().await;
}

#[tokio::test]
async fn the_own_profile_photo_is_set_from_an_upload_shown_everywhere_and_removed() {
    let app = spawn_app().await;
    let alice = linked_alice(&app, "photos-own@example.com").await;
    let token = &alice.linker.token;
    let profile_path = format!("/me/profile/{}/1", alice.linker.user_id);
    let seeded = app.get_json(&profile_path, token).await["photo_id"].clone();

    let file_id = upload(&app, token, "me.png", &sample_png(77, 400, 480)).await;
    let profile = ok_json(
        put(
            &app,
            &own_photo_path(&alice.linker),
            token,
            &json!({"file_id": file_id}),
        )
        .await,
    )
    .await;
    let photo_id = profile["photo_id"].as_str().expect("a photo_id").to_owned();
    assert_ne!(Value::String(photo_id.clone()), seeded);
    assert_eq!(profile["first_name"], "Alice");
    assert_eq!(
        app.get_json(&profile_path, token).await["photo_id"],
        photo_id.as_str()
    );
    assert_eq!(
        png_size(&download(&app, &alice.linker, &photo_id).await),
        (400, 400)
    );
    let telegrams = app.get_json("/me/telegrams", token).await;
    assert!(
        telegrams["telegram_accounts"][0]["profile_picture"].is_string(),
        "{telegrams}"
    );
    // Telegram has it as the account's photo.
    let at_telegram = alice
        .sandbox
        .world(|world| world.user_photo_id(alice.alice));
    assert!(
        at_telegram.is_some_and(|id| photo_id.ends_with(&format!(":{id}"))),
        "Telegram has {at_telegram:?}, the profile {photo_id}"
    );

    // Removed: the profile and the account list show none.
    let removed = ok_json(delete(&app, &own_photo_path(&alice.linker), token).await).await;
    assert_eq!(removed["photo_id"], Value::Null, "{removed}");
    assert_eq!(
        app.get_json(&profile_path, token).await["photo_id"],
        Value::Null
    );
    let telegrams = app.get_json("/me/telegrams", token).await;
    assert_eq!(
        telegrams["telegram_accounts"][0]["profile_picture"],
        Value::Null,
        "{telegrams}"
    );
    assert_eq!(
        alice
            .sandbox
            .world(|world| world.user_photo_id(alice.alice)),
        None
    );
    // Without a photo, removing is answered with the profile as it is.
    let again = ok_json(delete(&app, &own_photo_path(&alice.linker), token).await).await;
    assert_eq!(again["photo_id"], Value::Null);
    app.stop().await;
}

/// Split mode: the gateway calls replica a, the account lives on replica b, the media
/// service is a process of its own. b pins nothing: a pins the file, b reads it from the
/// media service and uploads it to Telegram; refusals come back through a unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_split_mode_chat_and_own_photos_are_set_by_the_accounts_host() {
    let crate::replicas::OnReplicaB {
        database,
        sandbox,
        mut replicas,
        user,
        index,
    } = crate::replicas::user_on_replica_b("photos-replica").await;
    replicas.start_media();
    let friends = demo_chat(&sandbox, "Sandbox Friends");
    let picture = replicas
        .upload(&user.1, "split.png", &sample_png(12, 256, 256))
        .await;
    let file_id = picture["file_id"].as_str().expect("file_id").to_owned();
    let document = replicas.upload(&user.1, "split.pdf", &pdf()).await;
    let send = |method: reqwest::Method, path: String, body: Option<Value>| {
        let mut request = replicas
            .client
            .request(method, replicas.url(&path))
            .bearer_auth(&user.1);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send()
    };
    let chat_path = format!("/me/chat_photo/{}/{index}/{friends}", user.0);

    let set = send(
        reqwest::Method::PUT,
        chat_path.clone(),
        Some(json!({"file_id": file_id})),
    )
    .await
    .expect("sent");
    let chat = ok_json(set).await;
    assert!(chat["photo_id"].is_string(), "{chat}");
    assert!(
        sandbox
            .world(|world| world.chat_photo_id(peer_of(friends)))
            .is_some()
    );
    let refused = send(
        reqwest::Method::PUT,
        chat_path.clone(),
        Some(json!({"file_id": document["file_id"]})),
    )
    .await
    .expect("sent");
    assert_problem(refused, 422, "photo_invalid").await;
    let removed = ok_json(
        send(reqwest::Method::DELETE, chat_path, None)
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(removed["photo_id"], Value::Null, "{removed}");
    assert_eq!(
        sandbox.world(|world| world.chat_photo_id(peer_of(friends))),
        None
    );

    let own_path = format!("/me/profile/photo/{}/{index}", user.0);
    let profile = ok_json(
        send(
            reqwest::Method::PUT,
            own_path.clone(),
            Some(json!({"file_id": file_id})),
        )
        .await
        .expect("sent"),
    )
    .await;
    assert!(profile["photo_id"].is_string(), "{profile}");
    let alice = sandbox.world(|world| world.user_by_phone("9996620001").expect("alice"));
    assert!(sandbox.world(|world| world.user_photo_id(alice)).is_some());
    let removed = ok_json(
        send(reqwest::Method::DELETE, own_path, None)
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(removed["photo_id"], Value::Null);
    assert_eq!(sandbox.world(|world| world.user_photo_id(alice)), None);

    drop(replicas);
    sandbox.shutdown().await;
    database.drop_database().await;
}
