//! Media downloads through REST, against the in-process sandbox: the real grammers
//! client fetching files with `upload.getFile`, compared with the bytes the sandbox holds.

use std::time::Duration;

use serde_json::Value;
use talkapp_tg_sandbox::Peer;

use crate::chats::{Alice, linked_alice};
use crate::helpers::{TestApp, assert_problem, spawn_app, spawn_app_with};

/// A message with media in Alice's chat with Bob.
struct MediaMessage {
    id: i32,
    file_id: String,
    thumbnail_id: Option<String>,
}

impl Alice {
    fn media_path(&self, media_ref: &str) -> String {
        format!("/me/media/{}/1/{media_ref}", self.linker.user_id)
    }

    /// The bytes the sandbox holds for a message of Alice's chat with Bob.
    fn sandbox_file(&self, message_id: i32) -> Vec<u8> {
        self.sandbox
            .world(|world| world.message_file(self.alice, Peer::User(self.bob), message_id))
            .expect("the sandbox holds the file")
    }
}

/// Finds the first message of `kind` in Alice's chat with Bob (paging back through the
/// history as needed).
async fn media_message(app: &TestApp, alice: &Alice, kind: &str) -> MediaMessage {
    let mut cursor: Option<String> = None;
    for _ in 0..20 {
        let path = match &cursor {
            Some(cursor) => format!(
                "{}?limit=100&before={cursor}",
                alice.history_path(alice.bob)
            ),
            None => format!("{}?limit=100", alice.history_path(alice.bob)),
        };
        let page = app.get_json(&path, &alice.linker.token).await;
        let found = page["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .find(|message| message["media"]["kind"] == kind);
        if let Some(message) = found {
            return MediaMessage {
                id: i32::try_from(message["id"].as_i64().expect("id")).expect("i32"),
                file_id: message["media"]["file_id"]
                    .as_str()
                    .expect("file_id")
                    .to_owned(),
                thumbnail_id: message["media"]["thumbnail_id"].as_str().map(str::to_owned),
            };
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    panic!("no {kind} message in the chat with bob");
}

async fn get(
    app: &TestApp,
    path: &str,
    token: Option<&str>,
    range: Option<&str>,
) -> reqwest::Response {
    let mut request = app.client.get(app.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(range) = range {
        request = request.header("range", range);
    }
    request.send().await.expect("sent")
}

fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn a_photo_and_a_document_from_history_download_with_the_bytes_the_sandbox_holds() {
    let app = spawn_app().await;
    let alice = linked_alice(&app, "media-bytes@example.com").await;
    let photo = media_message(&app, &alice, "photo").await;
    let document = media_message(&app, &alice, "document").await;

    let response = get(
        &app,
        &alice.media_path(&photo.file_id),
        Some(&alice.linker.token),
        None,
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "content-type"), "image/png");
    assert_eq!(header(&response, "accept-ranges"), "bytes");
    assert!(header(&response, "content-disposition").starts_with("inline; filename="));
    let expected = alice.sandbox_file(photo.id);
    assert_eq!(
        header(&response, "content-length"),
        expected.len().to_string()
    );
    assert_eq!(response.bytes().await.expect("body").as_ref(), expected);

    let response = get(
        &app,
        &alice.media_path(&document.file_id),
        Some(&alice.linker.token),
        None,
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "content-type"), "text/plain");
    assert_eq!(
        header(&response, "content-disposition"),
        "attachment; filename=\"notes.txt\"; filename*=UTF-8''notes.txt"
    );
    assert_eq!(header(&response, "x-content-type-options"), "nosniff");
    assert_eq!(
        response.bytes().await.expect("body").as_ref(),
        alice.sandbox_file(document.id)
    );

    // The photo's preview is a smaller picture of its own.
    let thumbnail = photo.thumbnail_id.expect("the photo has a thumbnail");
    let response = get(
        &app,
        &alice.media_path(&thumbnail),
        Some(&alice.linker.token),
        None,
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "content-type"), "image/png");
    let preview = response.bytes().await.expect("body");
    assert!(!preview.is_empty() && preview.len() < expected.len());

    // A chat's photo, by the photo_id of the chat list.
    let chats = app
        .get_json(
            &format!("{}?limit=100", alice.chats_path()),
            &alice.linker.token,
        )
        .await;
    let lounge_photo = chats["chats"]
        .as_array()
        .expect("chats")
        .iter()
        .find(|chat| chat["title"] == "Sandbox Lounge")
        .and_then(|chat| chat["photo_id"].as_str())
        .expect("the lounge has a photo")
        .to_owned();
    let response = get(
        &app,
        &alice.media_path(&lounge_photo),
        Some(&alice.linker.token),
        None,
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "content-type"), "image/png");
    assert!(!response.bytes().await.expect("body").is_empty());
    app.stop().await;
}

#[tokio::test]
async fn a_range_request_gets_the_exact_slice_and_one_outside_the_file_gets_416() {
    let app = spawn_app().await;
    let alice = linked_alice(&app, "media-range@example.com").await;
    let document = media_message(&app, &alice, "document").await;
    let photo = media_message(&app, &alice, "photo").await;
    let file = alice.sandbox_file(document.id);
    let size = file.len();
    let path = alice.media_path(&document.file_id);
    let token = Some(alice.linker.token.as_str());

    let response = get(&app, &path, token, Some("bytes=5-20")).await;
    assert_eq!(response.status(), 206);
    assert_eq!(
        header(&response, "content-range"),
        format!("bytes 5-20/{size}")
    );
    assert_eq!(header(&response, "content-length"), "16");
    assert_eq!(response.bytes().await.expect("body").as_ref(), &file[5..21]);

    let response = get(&app, &path, token, Some("bytes=-10")).await;
    assert_eq!(response.status(), 206);
    assert_eq!(
        response.bytes().await.expect("body").as_ref(),
        &file[size - 10..]
    );

    let response = get(&app, &path, token, Some(&format!("bytes={}-", size - 3))).await;
    assert_eq!(response.status(), 206);
    assert_eq!(
        response.bytes().await.expect("body").as_ref(),
        &file[size - 3..]
    );

    let response = get(&app, &path, token, Some(&format!("bytes={size}-"))).await;
    assert_eq!(
        header(&response, "content-range"),
        format!("bytes */{size}")
    );
    assert_problem(response, 416, "range_not_satisfiable").await;

    // Several ranges are not served as multipart: the whole file comes back.
    let response = get(&app, &path, token, Some("bytes=0-1,4-5")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.bytes().await.expect("body").as_ref(), file);

    // Photos are ranged too.
    let picture = alice.sandbox_file(photo.id);
    let response = get(
        &app,
        &alice.media_path(&photo.file_id),
        token,
        Some("bytes=100-4999"),
    )
    .await;
    assert_eq!(response.status(), 206);
    assert_eq!(
        header(&response, "content-range"),
        format!("bytes 100-4999/{}", picture.len())
    );
    assert_eq!(
        response.bytes().await.expect("body").as_ref(),
        &picture[100..5000]
    );
    app.stop().await;
}

#[tokio::test]
async fn a_signed_link_works_without_headers_and_stops_working_when_expired_or_altered() {
    let app = spawn_app_with(&[("downloads.signed_url_ttl_secs", "3")]).await;
    let alice = linked_alice(&app, "media-link@example.com").await;
    let photo = media_message(&app, &alice, "photo").await;
    let expected = alice.sandbox_file(photo.id);

    let response = app
        .client
        .post(app.url(&format!("{}/url", alice.media_path(&photo.file_id))))
        .bearer_auth(&alice.linker.token)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 201);
    let link: Value = response.json().await.expect("json");
    assert_eq!(link["expires_in"], 3);
    let url = link["url"].as_str().expect("url").to_owned();
    assert!(url.starts_with("/media/t/"), "{url}");

    let response = get(&app, &url, None, None).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "access-control-allow-origin"), "*");
    let cache_control = header(&response, "cache-control");
    assert!(
        cache_control.starts_with("private, max-age="),
        "{cache_control}"
    );
    assert_eq!(response.bytes().await.expect("body").as_ref(), expected);

    let response = get(&app, &url, None, Some("bytes=10-19")).await;
    assert_eq!(response.status(), 206);
    assert_eq!(
        response.bytes().await.expect("body").as_ref(),
        &expected[10..20]
    );

    // Another file under the same signature, or a forged signature.
    let (body, signature) = url.rsplit_once('.').expect("signed");
    let forged_signature = format!(
        "{body}.{}{}",
        if signature.starts_with('A') { 'B' } else { 'A' },
        &signature[1..]
    );
    assert_problem(
        get(&app, &forged_signature, None, None).await,
        403,
        "media_link_invalid",
    )
    .await;
    let other_ref = {
        let mut parts: Vec<String> = body.split('.').map(str::to_owned).collect();
        parts[3] = base64_url(b"m:1:1");
        format!("{}.{signature}", parts.join("."))
    };
    assert_problem(
        get(&app, &other_ref, None, None).await,
        403,
        "media_link_invalid",
    )
    .await;

    tokio::time::sleep(Duration::from_millis(3100)).await;
    assert_problem(get(&app, &url, None, None).await, 401, "media_link_expired").await;
    app.stop().await;
}

fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[tokio::test]
async fn another_user_is_refused_and_unknown_or_foreign_references_are_not_found() {
    let app = spawn_app().await;
    let alice = linked_alice(&app, "media-owner@example.com").await;
    let document = media_message(&app, &alice, "document").await;
    let someone = app.linker("media-other@example.com").await;

    // Another user's path.
    let response = get(
        &app,
        &alice.media_path(&document.file_id),
        Some(&someone.token),
        None,
    )
    .await;
    assert_problem(response, 403, "forbidden").await;
    let response = app
        .client
        .post(app.url(&format!("{}/url", alice.media_path(&document.file_id))))
        .bearer_auth(&someone.token)
        .send()
        .await
        .expect("sent");
    assert_problem(response, 403, "forbidden").await;

    // Alice's reference on another user's own path: that user has no such account.
    let response = get(
        &app,
        &format!("/me/media/{}/1/{}", someone.user_id, document.file_id),
        Some(&someone.token),
        None,
    )
    .await;
    assert_problem(response, 404, "not_found").await;

    // Dave linked: a reference to Alice's private chat with Carol names a chat his
    // account does not have.
    app.link(&someone, "+9996620004").await;
    let carol = alice
        .sandbox
        .world(|world| world.user_by_phone("9996620003").expect("carol"));
    let response = get(
        &app,
        &format!("/me/media/{}/1/m:{carol}:1", someone.user_id),
        Some(&someone.token),
        None,
    )
    .await;
    assert_problem(response, 404, "not_found").await;

    // Unknown and malformed references.
    for unknown in [
        format!("m:{}:999999", alice.bob),
        format!("t:{}:{}", alice.bob, document.id + 100_000),
        format!("p:{}:12345", alice.bob),
        "m:0:1".to_owned(),
        "nonsense".to_owned(),
    ] {
        let response = get(
            &app,
            &alice.media_path(&unknown),
            Some(&alice.linker.token),
            None,
        )
        .await;
        assert_problem(response, 404, "not_found").await;
    }
    app.stop().await;
}

#[tokio::test]
async fn a_stale_file_reference_is_refreshed_by_fetching_the_message_again() {
    let app = spawn_app().await;
    let alice = linked_alice(&app, "media-stale@example.com").await;
    let document = media_message(&app, &alice, "document").await;
    alice
        .sandbox
        .update_world(|world| world.renew_file_references());

    for _ in 0..2 {
        let response = get(
            &app,
            &alice.media_path(&document.file_id),
            Some(&alice.linker.token),
            None,
        )
        .await;
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.bytes().await.expect("body").as_ref(),
            alice.sandbox_file(document.id)
        );
    }
    app.stop().await;
}

/// Bob sends Alice a document; waits until her history shows it; returns its `file_id`.
async fn received_document(app: &TestApp, alice: &Alice, name: &str, bytes: Vec<u8>) -> String {
    alice
        .sandbox
        .send_document(
            alice.bob,
            Peer::User(alice.alice),
            talkapp_tg_sandbox::SeedFile {
                name: name.to_owned(),
                mime_type: "application/octet-stream".to_owned(),
                bytes,
                voice_seconds: None,
                video: None,
            },
            "",
        )
        .expect("sent");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let page = app
            .get_json(
                &format!("{}?limit=10", alice.history_path(alice.bob)),
                &alice.linker.token,
            )
            .await;
        let file_id = page["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .find(|message| message["media"]["file_name"] == name)
            .and_then(|message| message["media"]["file_id"].as_str())
            .map(str::to_owned);
        if let Some(file_id) = file_id {
            return file_id;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name} never reached the history"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_large_document_streams_in_chunks_with_ranges_across_their_boundaries() {
    let app = spawn_app_with(&[("downloads.max_file_bytes", "2000000")]).await;
    let alice = linked_alice(&app, "media-large@example.com").await;
    let file: Vec<u8> = (0..1_572_867_u32)
        .map(|n| (n.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let file_id = received_document(&app, &alice, "large.bin", file.clone()).await;
    let path = alice.media_path(&file_id);
    let token = Some(alice.linker.token.as_str());

    let response = get(&app, &path, token, None).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "content-length"), file.len().to_string());
    assert_eq!(
        header(&response, "content-disposition"),
        "attachment; filename=\"large.bin\"; filename*=UTF-8''large.bin"
    );
    assert!(response.bytes().await.expect("body").as_ref() == file.as_slice());

    // Across a 512 KiB chunk boundary, across the 1 MiB boundary, and the tail.
    for (first, last) in [
        (524_287, 524_288),
        (1_000_000, 1_100_000),
        (4_096, 1_500_000),
        (1_572_000, 1_572_866),
    ] {
        let response = get(&app, &path, token, Some(&format!("bytes={first}-{last}"))).await;
        assert_eq!(response.status(), 206, "{first}-{last}");
        assert_eq!(
            header(&response, "content-range"),
            format!("bytes {first}-{last}/{}", file.len())
        );
        assert!(
            response.bytes().await.expect("body").as_ref() == &file[first..=last],
            "bytes {first}-{last}"
        );
    }

    // Above downloads.max_file_bytes.
    let too_large = received_document(&app, &alice, "too-large.bin", vec![7; 2_000_001]).await;
    let response = get(&app, &alice.media_path(&too_large), token, None).await;
    assert_problem(response, 413, "media_too_large").await;
    app.stop().await;
}

#[tokio::test]
async fn recently_served_thumbnails_come_from_memory_while_telegram_asks_to_wait() {
    let app = spawn_app().await;
    let alice = linked_alice(&app, "media-cache@example.com").await;
    let photo = media_message(&app, &alice, "photo").await;
    let document = media_message(&app, &alice, "document").await;
    let thumbnail = photo.thumbnail_id.expect("the photo has a thumbnail");
    let token = Some(alice.linker.token.as_str());
    let first = get(&app, &alice.media_path(&thumbnail), token, None).await;
    assert_eq!(first.status(), 200);
    let first = first.bytes().await.expect("body");

    alice.sandbox.set_flood_wait(alice.alice, Some(30));
    let again = get(
        &app,
        &alice.media_path(&thumbnail),
        token,
        Some("bytes=0-9"),
    )
    .await;
    assert_eq!(again.status(), 206, "served from memory");
    assert_eq!(again.bytes().await.expect("body").as_ref(), &first[..10]);
    let response = get(&app, &alice.media_path(&document.file_id), token, None).await;
    assert_eq!(header(&response, "retry-after"), "30");
    assert_problem(response, 429, "telegram_flood_wait").await;
    alice.sandbox.set_flood_wait(alice.alice, None);
    app.stop().await;
}
