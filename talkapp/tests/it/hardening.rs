//! Issue 16's findings, each as the behaviour that must hold: bad input refused, files
//! private, slow clients cut off, sign-out ending everything the session opened.

use std::os::unix::fs::PermissionsExt as _;

use serde_json::json;

use crate::chats::linked_alice;
use crate::helpers::{assert_problem, spawn_app, spawn_app_on, temp_dir};

fn mode_of(path: &std::path::Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[tokio::test]
async fn the_data_directory_and_the_database_are_readable_by_their_owner_only() {
    let parent = temp_dir("talkapp-it-private");
    let data_dir = parent.join("data");
    let database_url = format!("sqlite://{}/talkapp.db", data_dir.display());

    let app = spawn_app_on(&database_url, data_dir.clone(), &[]).await;
    assert_eq!(app.register("private@example.com").await.status(), 201);

    assert_eq!(mode_of(&data_dir), 0o700, "data/ is its owner's only");
    for name in ["talkapp.db", "talkapp.db-wal", "talkapp.db-shm"] {
        let path = data_dir.join(name);
        if name == "talkapp.db" || path.exists() {
            assert_eq!(mode_of(&path), 0o600, "{name} is its owner's only");
        }
    }
    for entry in std::fs::read_dir(&data_dir).expect("data dir") {
        let path = entry.expect("entry").path();
        let mode = mode_of(&path);
        assert_eq!(
            mode & 0o077,
            0,
            "{} is readable by others ({mode:o})",
            path.display()
        );
    }
    app.stop().await;
    let _ = std::fs::remove_dir_all(&parent);
}

#[tokio::test]
async fn control_characters_and_message_ids_below_one_are_refused() {
    let app = spawn_app().await;

    // An email with a NUL in it is no email.
    let nul_email = app
        .post_json(
            "/auth/register",
            &json!({"email": "nul\u{0}l@example.com", "password": "correct horse battery"}),
        )
        .await;
    assert_problem(nul_email, 422, "validation_failed").await;
    let escape_email = app
        .post_json(
            "/auth/register",
            &json!({"email": "esc\u{1b}[31m@example.com", "password": "correct horse battery"}),
        )
        .await;
    assert_problem(escape_email, 422, "validation_failed").await;

    let alice = linked_alice(&app, "controls@example.com").await;
    let path = format!("/me/send_message/{}/1", alice.linker.user_id);
    for text in [
        "\u{0}",
        "hello\u{0}world",
        "bell\u{7}",
        "\u{1b}[2J",
        "del\u{7f}",
    ] {
        let response = app
            .post_with_token(
                &path,
                &alice.linker.token,
                &json!({"chat_id": alice.bob, "text": text}),
            )
            .await;
        assert_problem(response, 422, "validation_failed").await;
    }
    for reply_to in [-1, 0] {
        let response = app
            .post_with_token(
                &path,
                &alice.linker.token,
                &json!({"chat_id": alice.bob, "text": "hi", "reply_to": reply_to}),
            )
            .await;
        assert_problem(response, 422, "validation_failed").await;
    }
    let key = app
        .post_with_token(
            &path,
            &alice.linker.token,
            &json!({"chat_id": alice.bob, "text": "hi", "client_message_id": "a\u{0}b"}),
        )
        .await;
    assert_problem(key, 422, "validation_failed").await;

    // Line breaks and tabs are text.
    let fine = app
        .post_with_token(
            &path,
            &alice.linker.token,
            &json!({"chat_id": alice.bob, "text": "line one\nline\ttwo\r\n"}),
        )
        .await;
    assert_eq!(fine.status(), 202);
    app.stop().await;
}
