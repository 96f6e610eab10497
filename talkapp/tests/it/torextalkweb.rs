//! The TorexTalkWeb compatibility routes, replaying each call the unchanged frontend makes
//! (`docs/compat/torextalkweb-contract.md` §3–§6) against the embedded default with the
//! in-process sandbox and the real grammers client; field names and JSON types as the
//! contract lists them.

use std::time::Duration;

use serde_json::{Value, json};

use crate::chats::{Alice, linked_alice};
use crate::helpers::{TestApp, assert_problem, spawn_app, spawn_app_with};
use crate::linking::Linker;
use crate::support::SplitSetUp;

impl TestApp {
    async fn compat_post(&self, linker: &Linker, path: &str, body: Value) -> reqwest::Response {
        self.post_with_token(path, &linker.token, &body).await
    }

    async fn compat_ok(&self, linker: &Linker, path: &str, body: Value) -> Value {
        let response = self.compat_post(linker, path, body).await;
        assert_eq!(response.status(), 200, "POST {path}");
        response.json().await.expect("json")
    }

    async fn telegrams(&self, linker: &Linker) -> Value {
        self.get_json("/me/telegrams", &linker.token).await
    }
}

fn assert_rfc3339_with_offset(date: &Value) {
    let text = date.as_str().expect("date is a string");
    chrono::DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|error| panic!("{text} is not RFC 3339: {error}"));
}

#[tokio::test]
async fn start_login_and_verify_code_link_an_account_without_2fa() {
    let app = spawn_app().await;
    let linker = app.linker("tw-login@example.com").await;

    let started = app
        .compat_ok(
            &linker,
            "/start_login",
            json!({ "phone_number": "+9996620001" }),
        )
        .await;
    assert_eq!(started["ok"], true);
    assert!(started["message"].is_string());
    assert!(
        started["phone_code_hash"]
            .as_str()
            .is_some_and(|hash| !hash.is_empty())
    );
    assert_eq!(started["session_name"], "1");
    assert_eq!(started["account_index"], 1, "account_index is a number");

    let verified = app
        .compat_ok(
            &linker,
            "/verify_code",
            json!({ "phone_number": "+9996620001", "code": "22222" }),
        )
        .await;
    assert_eq!(verified["ok"], true);
    assert_eq!(verified["status"], "LOGGED_IN");
    assert_eq!(verified["session_name"], "1");
    assert_eq!(verified["account_index"], 1);

    let alice_id = app
        .sandbox
        .as_ref()
        .expect("sandbox")
        .world(|world| world.user_by_phone("9996620001").expect("alice"));
    let accounts = app.telegrams(&linker).await;
    assert_eq!(accounts["ok"], true);
    assert_eq!(accounts["user_id"], linker.user_id.as_str());
    assert_eq!(accounts["email"], "tw-login@example.com");
    let list = accounts["telegram_accounts"].as_array().expect("array");
    assert_eq!(list.len(), 1, "{accounts}");
    let account = &list[0];
    assert_eq!(account["index"], "1", "index is a string");
    assert_eq!(account["full_name"], "Alice Sandbox");
    assert_eq!(account["username"], "alice_sandbox");
    assert_eq!(account["phone_number"], "9996620001", "digits, no +");
    assert_eq!(account["telegram_id"], alice_id, "telegram_id is a number");
    // Null until the account's host has cached its own user (right after the link), then
    // a signed link (see an_accounts_profile_picture_is_a_signed_link_to_its_photo).
    assert!(
        account["profile_picture"].is_null()
            || account["profile_picture"]
                .as_str()
                .is_some_and(|url| url.starts_with("/media/t/")),
        "{account}"
    );
    assert_eq!(account["profile_url"], "https://t.me/alice_sandbox");
    app.stop().await;
}

#[tokio::test]
async fn an_account_with_2fa_is_password_required_then_logged_in() {
    let app = spawn_app().await;
    let linker = app.linker("tw-2fa@example.com").await;
    app.compat_ok(
        &linker,
        "/start_login",
        json!({ "phone_number": "+999 662 0002" }),
    )
    .await;

    let step = app
        .compat_ok(
            &linker,
            "/verify_code",
            json!({ "phone_number": "+999 662 0002", "code": "22222" }),
        )
        .await;
    assert_eq!(step["ok"], false, "PASSWORD_REQUIRED is ok:false with 200");
    assert_eq!(step["status"], "PASSWORD_REQUIRED");
    assert_eq!(step["account_index"], 1);
    assert_eq!(step["session_name"], "1");

    let wrong = app
        .compat_post(
            &linker,
            "/verify_password",
            json!({ "phone_number": "+9996620002", "password": "not-it" }),
        )
        .await;
    assert_problem(wrong, 400, "telegram_password_invalid").await;

    let linked = app
        .compat_ok(
            &linker,
            "/verify_password",
            json!({ "phone_number": "+9996620002", "password": "sandbox-2fa" }),
        )
        .await;
    assert_eq!(linked["ok"], true);
    assert_eq!(linked["status"], "LOGGED_IN");
    assert!(linked["message"].is_string());
    assert_eq!(linked["account_index"], 1);

    let accounts = app.telegrams(&linker).await;
    assert_eq!(accounts["telegram_accounts"][0]["full_name"], "Bob Sandbox");
    assert_eq!(
        accounts["telegram_accounts"][0]["phone_number"],
        "9996620002"
    );
    app.stop().await;
}

#[tokio::test]
async fn login_mistakes_answer_the_contract_statuses() {
    let app = spawn_app().await;
    let linker = app.linker("tw-mistakes@example.com").await;
    let other = app.linker("tw-mistakes-other@example.com").await;

    let bad_phone = app
        .compat_post(&linker, "/start_login", json!({ "phone_number": "12ab" }))
        .await;
    let problem = assert_problem(bad_phone, 400, "phone_invalid").await;
    assert_eq!(problem["errors"][0]["field"], "phone_number");

    let missing = app.compat_post(&linker, "/start_login", json!({})).await;
    assert_problem(missing, 422, "validation_failed").await;

    let unknown = app
        .compat_post(
            &linker,
            "/verify_code",
            json!({ "phone_number": "+9996620001", "code": "22222" }),
        )
        .await;
    let problem = assert_problem(unknown, 404, "login_not_found").await;
    assert!(problem["detail"].is_string(), "the frontend-visible detail");

    app.compat_ok(
        &linker,
        "/start_login",
        json!({ "phone_number": "+9996620001" }),
    )
    .await;
    let wrong = app
        .compat_post(
            &linker,
            "/verify_code",
            json!({ "phone_number": "+9996620001", "code": "11111" }),
        )
        .await;
    assert_problem(wrong, 400, "telegram_code_invalid").await;
    let not_digits = app
        .compat_post(
            &linker,
            "/verify_code",
            json!({ "phone_number": "+9996620001", "code": "abc" }),
        )
        .await;
    assert_problem(not_digits, 400, "validation_failed").await;

    // Another user cannot take this user's pending login by its phone.
    let stolen = app
        .compat_post(
            &other,
            "/verify_code",
            json!({ "phone_number": "+9996620001", "code": "22222" }),
        )
        .await;
    assert_problem(stolen, 404, "login_not_found").await;
    assert!(
        app.telegrams(&other).await["telegram_accounts"]
            .as_array()
            .expect("array")
            .is_empty()
    );

    // The right code still links (the wrong one did not drop the login).
    let verified = app
        .compat_ok(
            &linker,
            "/verify_code",
            json!({ "phone_number": "+9996620001", "code": "22222" }),
        )
        .await;
    assert_eq!(verified["status"], "LOGGED_IN");

    let no_token = app
        .post_json("/start_login", &json!({ "phone_number": "+9996620001" }))
        .await;
    assert_eq!(no_token.status(), 401);
    app.stop().await;
}

#[tokio::test]
async fn accounts_are_the_callers_only_and_can_be_deleted() {
    let app = spawn_app().await;
    let alice = linked_alice(&app, "tw-accounts@example.com").await;
    let intruder = app.linker("tw-intruder@example.com").await;

    // Another user's index 1 is not theirs: nothing reaches Alice's account.
    for path in [
        "/me/private_chats/1?dialog_limit=100",
        "/me/groups/1?dialog_limit=100",
        &format!(
            "/me/chats/{}/messages?limit=10&offset=0&session_index=1",
            alice.bob
        ),
    ] {
        let response = app.get_with_token(path, &intruder.token).await;
        assert_problem(response, 404, "not_found").await;
    }
    let response = app
        .delete_with_token("/me/telegrams/1", &intruder.token)
        .await;
    assert_problem(response, 404, "not_found").await;
    assert_eq!(
        app.telegrams(&alice.linker).await["telegram_accounts"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );

    let bad = app
        .delete_with_token("/me/telegrams/abc", &alice.linker.token)
        .await;
    assert_problem(bad, 422, "validation_failed").await;

    let deleted = app
        .delete_with_token("/me/telegrams/1", &alice.linker.token)
        .await;
    assert_eq!(deleted.status(), 200);
    let deleted: Value = deleted.json().await.expect("json");
    assert_eq!(
        deleted,
        json!({ "ok": true, "result": { "index": "1", "status": "logged_out" } })
    );
    assert_eq!(
        app.telegrams(&alice.linker).await["telegram_accounts"],
        json!([])
    );
    let again = app
        .delete_with_token("/me/telegrams/1", &alice.linker.token)
        .await;
    assert_problem(again, 404, "not_found").await;

    // Delete-all: link Alice again (index 2) and remove everything.
    app.compat_ok(
        &alice.linker,
        "/start_login",
        json!({ "phone_number": "+9996620001" }),
    )
    .await;
    let relinked = app
        .compat_ok(
            &alice.linker,
            "/verify_code",
            json!({ "phone_number": "+9996620001", "code": "22222" }),
        )
        .await;
    assert_eq!(relinked["account_index"], 2, "indices are not reused");
    let all = app
        .delete_with_token("/me/telegrams", &alice.linker.token)
        .await;
    assert_eq!(all.status(), 200);
    let all: Value = all.json().await.expect("json");
    assert_eq!(
        all,
        json!({ "ok": true, "results": [{ "index": "2", "status": "logged_out" }] })
    );
    assert_eq!(
        app.telegrams(&alice.linker).await["telegram_accounts"],
        json!([])
    );
    app.stop().await;
}

#[tokio::test]
async fn private_chats_and_groups_have_the_contract_fields() {
    let app = spawn_app().await;
    let alice = linked_alice(&app, "tw-lists@example.com").await;
    let token = &alice.linker.token;

    let private = app
        .get_json("/me/private_chats/1?dialog_limit=100", token)
        .await;
    assert_eq!(private["ok"], true);
    let items = private["items"].as_array().expect("items");
    assert_eq!(private["count"], items.len());
    assert!(
        items
            .iter()
            .all(|item| item["id"].as_i64().is_some_and(|id| id > 0))
    );
    let bob = items
        .iter()
        .find(|item| item["id"] == alice.bob)
        .unwrap_or_else(|| panic!("Bob in {private}"));
    assert_eq!(bob["full_name"], "Bob Sandbox");
    assert_eq!(bob["username"], "bob_sandbox");
    assert_eq!(bob["has_photo"], true);
    let photo_url = bob["photo_url"].as_str().expect("photo_url");
    assert!(photo_url.starts_with("/media/t/"), "{photo_url}");
    let photo = reqwest::get(app.url(photo_url)).await.expect("loaded");
    assert_eq!(photo.status(), 200, "the photo loads without headers");
    assert_eq!(bob["last_seen"], "offline", "the sandbox's Bob is offline");
    assert_eq!(bob["is_online"], false);
    assert_eq!(bob["is_premium"], false);
    assert!(bob["emoji_url"].is_null());

    let one = app
        .get_json("/me/private_chats/1?dialog_limit=1", token)
        .await;
    assert_eq!(one["count"], 1);
    let too_many = app
        .get_with_token("/me/private_chats/1?dialog_limit=101", token)
        .await;
    assert_problem(too_many, 422, "validation_failed").await;
    let not_an_index = app.get_with_token("/me/private_chats/x", token).await;
    assert_problem(not_an_index, 422, "validation_failed").await;

    let groups = app.get_json("/me/groups/1?dialog_limit=100", token).await;
    assert_eq!(groups["ok"], true);
    let items = groups["items"].as_array().expect("items");
    assert_eq!(groups["count"], items.len());
    let titles: Vec<&str> = items
        .iter()
        .filter_map(|item| item["title"].as_str())
        .collect();
    assert!(titles.contains(&"Sandbox Friends"), "{groups}");
    assert!(titles.contains(&"Sandbox Lounge"), "{groups}");
    assert!(!titles.contains(&"Sandbox News"), "channels are left out");
    for item in items {
        assert!(item["id"].as_i64().is_some_and(|id| id < 0), "{item}");
        assert!(item["member_count"].is_i64());
        assert!(item["online_count"].is_i64());
        assert!(item["has_photo"].is_boolean());
        assert!(item["photo_url"].is_string());
    }
    let lounge = items
        .iter()
        .find(|item| item["title"] == "Sandbox Lounge")
        .expect("lounge");
    assert!(
        lounge["id"]
            .as_i64()
            .is_some_and(|id| id < -1_000_000_000_000)
    );
    assert_eq!(lounge["username"], "sandbox_lounge");
    assert_eq!(lounge["has_photo"], true);
    app.stop().await;
}

/// Polls `/me/private_chats` until Bob's entry satisfies `wanted`; returns it.
async fn bob_in_private_chats(
    app: &TestApp,
    alice: &Alice,
    wanted: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let private = app
            .get_json("/me/private_chats/1?dialog_limit=100", &alice.linker.token)
            .await;
        let bob = private["items"]
            .as_array()
            .and_then(|items| items.iter().find(|item| item["id"] == alice.bob))
            .cloned()
            .unwrap_or(Value::Null);
        if wanted(&bob) {
            return bob;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "Bob never became as wanted: {bob}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_private_chat_shows_the_users_online_state_as_telegram_updates_it() {
    let app = spawn_app().await;
    let alice = linked_alice(&app, "tw-presence@example.com").await;
    bob_in_private_chats(&app, &alice, |bob| bob["last_seen"] == "offline").await;

    // Bob's own client goes online: Alice, who has him as a contact, is told.
    alice.sandbox.set_online(alice.bob, true).expect("online");
    let bob = bob_in_private_chats(&app, &alice, |bob| bob["is_online"] == true).await;
    assert_eq!(bob["last_seen"], "online");
    let chats = app
        .get_json(
            &format!("{}?type=private&limit=100", alice.chats_path()),
            &alice.linker.token,
        )
        .await;
    let native = chats["chats"]
        .as_array()
        .and_then(|chats| {
            chats
                .iter()
                .find(|chat| chat["chat_id"].as_str() == Some(alice.bob.to_string().as_str()))
        })
        .unwrap_or_else(|| panic!("Bob in {chats}"));
    assert_eq!(native["presence"]["status"], "online");
    let until = chrono::DateTime::parse_from_rfc3339(
        native["presence"]["at"].as_str().expect("online until"),
    )
    .expect("RFC 3339");
    assert!(until > chrono::Utc::now(), "online until a future time");

    alice.sandbox.set_online(alice.bob, false).expect("offline");
    let bob = bob_in_private_chats(&app, &alice, |bob| bob["is_online"] == false).await;
    assert_eq!(bob["last_seen"], "offline");
    app.stop().await;
}

#[tokio::test]
async fn the_frontends_photo_urls_outlast_the_short_signed_links_and_repeat_within_the_hour() {
    // The frontend keeps its URLs as long as a page is open: its links last (a day by
    // default) even where the native, short-lived links are down to a second.
    let app = spawn_app_with(&[("downloads.signed_url_ttl_secs", "1")]).await;
    let alice = linked_alice(&app, "tw-lasting@example.com").await;
    let bob = bob_in_private_chats(&app, &alice, |bob| bob["has_photo"] == true).await;
    let photo_url = bob["photo_url"].as_str().expect("photo_url").to_owned();

    tokio::time::sleep(Duration::from_millis(2100)).await;
    let photo = reqwest::get(app.url(&photo_url)).await.expect("loaded");
    assert_eq!(photo.status(), 200, "still loads after the short TTL");
    let again = bob_in_private_chats(&app, &alice, |bob| bob["has_photo"] == true).await;
    // The same URL unless the hour turned meanwhile (then the next one is as good).
    let repeated = again["photo_url"] == photo_url.as_str();
    let crossed_hour = chrono::Utc::now().timestamp() % 3600 < 5;
    assert!(
        repeated || crossed_hour,
        "{photo_url} then {}",
        again["photo_url"]
    );
    app.stop().await;
}

#[tokio::test]
async fn an_accounts_profile_picture_is_a_signed_link_to_its_photo() {
    let app = spawn_app().await;
    // Alice has a profile photo in the sandbox.
    let alice = linked_alice(&app, "tw-avatar@example.com").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let picture = loop {
        let accounts = app.telegrams(&alice.linker).await;
        if let Some(picture) = accounts["telegram_accounts"][0]["profile_picture"].as_str() {
            break picture.to_owned();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no profile_picture: {accounts}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(picture.starts_with("/media/t/"), "{picture}");
    let photo = reqwest::get(app.url(&picture)).await.expect("loaded");
    assert_eq!(photo.status(), 200, "the photo loads without headers");
    let content_type = photo
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(content_type.starts_with("image/"), "{content_type}");
    let bytes = photo.bytes().await.expect("bytes");
    assert!(!bytes.is_empty());

    // Only the photo the account has now: another photo id of the same user is not found.
    let stale = app
        .get_with_token(
            &format!(
                "/me/media/{}/1/p:{}:12345",
                alice.linker.user_id, alice.alice
            ),
            &alice.linker.token,
        )
        .await;
    assert_problem(stale, 404, "not_found").await;
    app.stop().await;
}

#[tokio::test]
async fn messages_come_newest_first_paged_by_offset_with_from_user() {
    let app = spawn_app().await;
    let alice = linked_alice(&app, "tw-messages@example.com").await;
    let token = &alice.linker.token;
    let path = |offset: u32| {
        format!(
            "/me/chats/{}/messages?limit=10&offset={offset}&session_index=1",
            alice.bob
        )
    };

    let first = app.get_json(&path(0), token).await;
    assert_eq!(first["ok"], true);
    let messages = first["messages"].as_array().expect("messages").clone();
    assert_eq!(first["count"], 10);
    assert_eq!(messages.len(), 10);
    let ids: Vec<i64> = messages
        .iter()
        .map(|m| m["id"].as_i64().expect("id"))
        .collect();
    assert!(
        ids.windows(2).all(|pair| pair[0] > pair[1]),
        "newest first: {ids:?}"
    );
    for message in &messages {
        assert_rfc3339_with_offset(&message["date"]);
        assert_eq!(message["chat_id"], alice.bob);
        assert_eq!(message["chat_type"], "private");
        assert!(message["is_read"].is_boolean());
        assert!(message["is_outgoing"].is_boolean());
        let from = &message["from_user"];
        assert!(from["id"].is_i64(), "from_user always present: {message}");
        let expected = if message["is_outgoing"] == true {
            alice.alice
        } else {
            alice.bob
        };
        assert_eq!(from["id"], expected, "{message}");
        assert!(
            message["thumb_url"].is_null()
                || message["thumb_url"]
                    .as_str()
                    .is_some_and(|url| url.starts_with("/media/t/")),
            "{message}"
        );
        assert!(message["file_url"].is_null());
        for key in [
            "text",
            "caption",
            "media_type",
            "file_id",
            "file_name",
            "mime_type",
        ] {
            assert!(message.get(key).is_some(), "{key} present: {message}");
        }
    }
    let bob_says = messages
        .iter()
        .find(|m| m["from_user"]["id"] == alice.bob)
        .expect("a message of Bob");
    assert_eq!(bob_says["from_user"]["first_name"], "Bob Sandbox");
    // Bob has a profile photo in the sandbox: his avatar beside his messages.
    let avatar = bob_says["from_user"]["photo_url"]
        .as_str()
        .unwrap_or_else(|| panic!("a photo_url: {bob_says}"));
    assert!(avatar.starts_with("/media/t/"), "{avatar}");
    let avatar = reqwest::get(app.url(avatar)).await.expect("loaded");
    assert_eq!(avatar.status(), 200, "the avatar loads without headers");
    assert_eq!(messages[0]["text"], "Call me when you can.");
    // The two newest (from Bob) are unread; everything before was read on both sides.
    assert_eq!(messages[0]["is_read"], false);
    assert_eq!(messages[1]["is_read"], false);
    assert!(
        messages[2..].iter().all(|m| m["is_read"] == true),
        "{messages:?}"
    );
    assert!(messages[0]["caption"].is_null());
    assert!(messages[0]["media_type"].is_null());

    let voice = messages
        .iter()
        .find(|m| m["media_type"] == "voice")
        .unwrap_or_else(|| panic!("a voice note in {messages:?}"));
    assert!(
        voice["file_id"]
            .as_str()
            .is_some_and(|id| id.starts_with("m:"))
    );
    assert_eq!(voice["mime_type"], "audio/ogg");
    assert_eq!(voice["duration_seconds"], 3);
    assert_eq!(voice["duration_formatted"], "0:03");
    assert!(voice["waveform"].is_array());
    // The demo voice note is a real Ogg Opus file of 5,021 bytes.
    assert_eq!(voice["file_size"], "4.9 KB");

    let photo = messages
        .iter()
        .find(|m| m["media_type"] == "photo")
        .expect("the photo");
    assert_eq!(photo["caption"], "Holiday picture");
    assert!(photo["text"].is_null());
    assert!(photo["file_size"].is_string());
    assert!(photo.get("duration_seconds").is_none());

    // The browser loads the links it gets without any header.
    let load = |url: &str| {
        let url = app.url(url);
        async move {
            let response = reqwest::get(url).await.expect("loaded");
            assert_eq!(response.status(), 200);
            response.bytes().await.expect("bytes")
        }
    };
    let thumb = photo["thumb_url"]
        .as_str()
        .expect("a photo has a thumbnail");
    assert!(!load(thumb).await.is_empty());
    let file_id = photo["file_id"].as_str().expect("file_id");
    assert!(
        file_id.ends_with("@1"),
        "the id names its account: {file_id}"
    );
    let download = app
        .get_json(
            &format!("/me/download_media?account_index=1&file_id={file_id}&media_type=photo"),
            token,
        )
        .await;
    assert_eq!(download["ok"], true, "{download}");
    let url = download["url"].as_str().expect("url");
    assert!(url.starts_with("/media/t/"), "{url}");
    let bytes = load(url).await;
    assert_eq!(Some(bytes.len() as u64), download["size"].as_u64());

    // Another user cannot reach the file, whichever account index they name.
    let other = app.linker("tw-messages-other@example.com").await;
    for index in ["1", "2"] {
        let response = app
            .get_with_token(
                &format!(
                    "/me/download_media?account_index={index}&file_id={file_id}&media_type=photo"
                ),
                &other.token,
            )
            .await;
        assert_eq!(response.status(), 404);
    }
    // Bad queries are named.
    for query in [
        format!("account_index=1&file_id={file_id}&media_type=gif"),
        "account_index=1&file_id=&media_type=photo".to_owned(),
        format!("account_index=0&file_id={file_id}&media_type=photo"),
    ] {
        let response = app
            .get_with_token(&format!("/me/download_media?{query}"), token)
            .await;
        assert_eq!(response.status(), 422, "{query}");
    }
    let legacy_path = app
        .get_with_token(
            "/me/download_media?account_index=1&file_id=/media/downloads/x/1/y.jpg&media_type=photo",
            token,
        )
        .await;
    assert_eq!(legacy_path.status(), 404);

    let document = messages
        .iter()
        .find(|m| m["media_type"] == "document")
        .expect("the document");
    assert_eq!(document["file_name"], "notes.txt");
    assert_eq!(document["mime_type"], "text/plain");
    assert_eq!(document["from_user"]["id"], alice.alice);
    assert_eq!(document["is_outgoing"], true);

    let second = app.get_json(&path(10), token).await;
    let older: Vec<i64> = second["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["id"].as_i64().expect("id"))
        .collect();
    assert_eq!(older.len(), 10);
    assert!(
        older[0] < ids[9],
        "offset 10 continues below the first page"
    );
    let both = app
        .get_json(
            &format!(
                "/me/chats/{}/messages?limit=20&offset=0&session_index=1",
                alice.bob
            ),
            token,
        )
        .await;
    let all: Vec<i64> = both["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["id"].as_i64().expect("id"))
        .collect();
    assert_eq!(
        all,
        [ids, older].concat(),
        "pages join without gap or overlap"
    );

    // The native list on the neighbouring path still answers.
    let native = app
        .get_with_token(&format!("/me/chats/{}/1", alice.linker.user_id), token)
        .await;
    assert_eq!(native.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn message_queries_are_validated_and_posts_get_a_from_user() {
    let app = spawn_app().await;
    let alice = linked_alice(&app, "tw-posts@example.com").await;
    let token = &alice.linker.token;

    for query in [
        "limit=10&offset=0",
        "limit=0&offset=0&session_index=1",
        "limit=101&offset=0&session_index=1",
        "limit=10&offset=-1&session_index=1",
        "limit=10&offset=0&session_index=0",
    ] {
        let response = app
            .get_with_token(&format!("/me/chats/{}/messages?{query}", alice.bob), token)
            .await;
        assert_problem(response, 422, "validation_failed").await;
    }
    let not_a_chat = app
        .get_with_token("/me/chats/abc/messages?session_index=1", token)
        .await;
    assert_problem(not_a_chat, 422, "validation_failed").await;
    let no_account = app
        .get_with_token(
            &format!("/me/chats/{}/messages?session_index=2", alice.bob),
            token,
        )
        .await;
    assert_problem(no_account, 404, "not_found").await;

    // Channel posts have no sending user: from_user is built from the chat.
    let channels = app
        .get_json(
            &format!("/me/chats/{}/1?type=channel", alice.linker.user_id),
            token,
        )
        .await;
    let news = channels["chats"]
        .as_array()
        .expect("chats")
        .iter()
        .find(|chat| chat["title"] == "Sandbox News")
        .expect("the news channel");
    let news_id: i64 = news["chat_id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("number");
    let posts = app
        .get_json(
            &format!("/me/chats/{news_id}/messages?limit=5&session_index=1"),
            token,
        )
        .await;
    let posts = posts["messages"].as_array().expect("messages");
    assert!(!posts.is_empty());
    for post in posts {
        assert_eq!(post["chat_type"], "channel");
        assert!(post["from_user"]["id"].is_i64(), "{post}");
        assert_eq!(post["from_user"]["first_name"], "Sandbox News", "{post}");
    }

    // Supergroup messages say so (the frontend groups them by sender).
    let groups = app.get_json("/me/groups/1?dialog_limit=100", token).await;
    let lounge = groups["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|item| item["title"] == "Sandbox Lounge")
        .expect("lounge")["id"]
        .as_i64()
        .expect("id");
    let page = app
        .get_json(
            &format!("/me/chats/{lounge}/messages?limit=10&session_index=1"),
            token,
        )
        .await;
    let messages = page["messages"].as_array().expect("messages");
    assert_eq!(messages.len(), 10);
    for message in messages {
        assert_eq!(message["chat_type"], "supergroup");
        assert!(message["from_user"]["id"].is_i64(), "{message}");
        assert!(message["from_user"]["first_name"].is_string(), "{message}");
    }
    app.stop().await;
}

#[tokio::test]
async fn the_openapi_document_lists_the_torextalkweb_routes() {
    let app = spawn_app().await;
    let document: Value = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    for (path, method) in [
        ("/start_login", "post"),
        ("/verify_code", "post"),
        ("/verify_password", "post"),
        ("/me/telegrams", "get"),
        ("/me/telegrams", "delete"),
        ("/me/telegrams/{index}", "delete"),
        ("/me/private_chats/{session_index}", "get"),
        ("/me/groups/{session_index}", "get"),
        ("/me/chats/{chat_id}/messages", "get"),
    ] {
        let operation = &document["paths"][path][method];
        assert_eq!(
            operation["tags"],
            json!(["torextalkweb"]),
            "{method} {path}"
        );
    }
    let schemas = &document["components"]["schemas"];
    assert_eq!(
        schemas["TelegramAccountOut"]["properties"]["index"]["type"],
        "string"
    );
    assert!(schemas["MessageOut"]["properties"]["from_user"].is_object());
    assert_eq!(
        document["paths"]["/me/download_media"]["get"]["tags"],
        json!(["torextalkweb"])
    );
    app.stop().await;
}

/// The frontend names the login by its phone only; the steps may land on different
/// gateway and chat-service replicas (separate processes on one PostgreSQL) and still
/// find it, because the pending login lives in the store, not in a process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_login_steps_can_land_on_different_gateway_and_chat_service_replicas() {
    let mut split = SplitSetUp::new().await;
    let replicas = &mut split.replicas;
    replicas.start_chat("chat-a");
    replicas.start_chat("chat-b");
    let gateway_b = replicas.start_gateway_named("gateway-b", "chat-b");
    replicas.gateway_url = gateway_b.clone();
    replicas.wait_until_serving().await;
    let gateway_a = replicas.start_gateway_named("gateway-a", "chat-a");
    replicas.gateway_url = gateway_a.clone();
    replicas.wait_until_serving().await;
    let (_, token) = replicas.user("tw-replicas@example.com").await;

    let started = replicas
        .post(
            "/start_login",
            &token,
            &json!({ "phone_number": "+9996620002" }),
        )
        .await;
    assert_eq!(started.status(), 200);

    replicas.gateway_url = gateway_b;
    let step = replicas
        .post(
            "/verify_code",
            &token,
            &json!({ "phone_number": "+9996620002", "code": "22222" }),
        )
        .await;
    assert_eq!(step.status(), 200);
    let step: Value = step.json().await.expect("json");
    assert_eq!(step["status"], "PASSWORD_REQUIRED");

    replicas.gateway_url = gateway_a;
    let linked = replicas
        .post(
            "/verify_password",
            &token,
            &json!({ "phone_number": "+9996620002", "password": "sandbox-2fa" }),
        )
        .await;
    assert_eq!(linked.status(), 200);
    let linked: Value = linked.json().await.expect("json");
    assert_eq!(linked["status"], "LOGGED_IN");
    assert_eq!(linked["account_index"], 1);

    let accounts = replicas.get("/me/telegrams", &token).await;
    assert_eq!(accounts["telegram_accounts"][0]["index"], "1");
    assert_eq!(
        accounts["telegram_accounts"][0]["phone_number"],
        "9996620002"
    );
    split.finish().await;
}
