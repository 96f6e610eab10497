//! Sending media end to end (the embedded default): files uploaded with `POST /upload`,
//! sent with `POST /me/send_media` as a photo, a document, a voice note and an album, or
//! in one step as a form; Bob (the sandbox world) gets the very bytes; the socket tells
//! `message.status` and `message.new` with the media; idempotency; a file deleted while
//! its send waits still goes; a file sent before a restart goes again by reference (and
//! a refused reference is replaced, also when another chat-service replica took the
//! account over); a video and a PDF carry their preview to Telegram as the thumbnail;
//! and the bad inputs.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use talkapp_tg_sandbox::{DEMO_VOICE_OGG, DEMO_VOICE_WAVEFORM, Peer, sample_png};

use crate::chats::{Alice, linked_alice};
use crate::helpers::{TestApp, assert_problem, spawn_app, spawn_app_on, spawn_app_with};
use crate::realtime::{Socket, connect_with_token, next_event};

const BOUNDARY: &str = "talkapp-send-media-boundary-91xQ";
/// H.264, 96 × 160, with a preview frame made by ffmpeg.
const PORTRAIT_MP4: &[u8] = include_bytes!("../../../media-service/fixtures/portrait.mp4");
/// One page, with a preview made by pdftoppm.
const PAGE_PDF: &[u8] = include_bytes!("../../../media-service/fixtures/page.pdf");

/// Stops the backend and starts it again on its data (the in-process sandbox, its world
/// and Alice's link kept); Alice looks at the new sandbox.
async fn restarted(app: TestApp, alice: &mut Alice) -> TestApp {
    let data_dir = app.stop_keeping_data().await;
    let database_url = format!("sqlite://{}/talkapp.db", data_dir.display());
    let app = spawn_app_on(&database_url, data_dir, &[]).await;
    app.wait_for_status(&alice.linker, 1, "connected").await;
    alice.sandbox = app.sandbox.clone().expect("in-process sandbox");
    app
}

/// A small, valid PDF (typed as a document by its bytes).
fn pdf(marker: &str) -> Vec<u8> {
    format!("%PDF-1.4\n% {marker}\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")
        .into_bytes()
}

impl Alice {
    fn send_media_path(&self) -> String {
        format!("/me/send_media/{}/1", self.linker.user_id)
    }

    /// The bytes of the newest message Bob has from Alice, as the sandbox keeps them.
    fn newest_file_at_bob(&self) -> Vec<u8> {
        self.sandbox
            .world(|world| {
                let newest = world
                    .message_ids(self.bob, Peer::User(self.alice))
                    .into_iter()
                    .max()?;
                world.message_file(self.bob, Peer::User(self.alice), newest)
            })
            .expect("bob has a file from alice")
    }

    /// The file of message `id` of Alice's chat with Bob, as the sandbox keeps it.
    fn file_of(&self, id: i64) -> Vec<u8> {
        let id = i32::try_from(id).expect("message id");
        self.sandbox
            .world(|world| world.message_file(self.alice, Peer::User(self.bob), id))
            .expect("the message has a file")
    }

    /// The `documentAttributeAudio` waveform of the newest message Bob has from Alice.
    fn newest_voice_waveform_at_bob(&self) -> Vec<u8> {
        self.sandbox
            .world(|world| {
                let newest = world
                    .message_ids(self.bob, Peer::User(self.alice))
                    .into_iter()
                    .max()?;
                world.message_voice_waveform(self.bob, Peer::User(self.alice), newest)
            })
            .expect("bob has a voice note from alice")
    }

    fn messages_at_bob(&self) -> usize {
        self.sandbox
            .world(|world| world.message_count(self.bob, Peer::User(self.alice)))
    }
}

/// Telegram's packed waveform (5 bits a value, least significant bits first) as values;
/// written here from the TL documentation, apart from the packing under test.
fn unpack_waveform(packed: &[u8]) -> Vec<u8> {
    let values = packed.len() * 8 / 5;
    (0..values)
        .map(|index| {
            let bit = index * 5;
            let low = u16::from(packed[bit / 8]);
            let high = u16::from(packed.get(bit / 8 + 1).copied().unwrap_or(0));
            u8::try_from(((low | (high << 8)) >> (bit % 8)) & 31).expect("5 bits")
        })
        .collect()
}

/// Uploads `bytes` as Alice; the upload's reply.
async fn upload(app: &TestApp, alice: &Alice, name: &str, bytes: &[u8]) -> Value {
    let response = app
        .client
        .post(app.url(&format!("/upload?filename={name}")))
        .bearer_auth(&alice.linker.token)
        .header("content-type", "application/octet-stream")
        .body(bytes.to_vec())
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 201, "uploaded");
    response.json().await.expect("json")
}

fn file_id(uploaded: &Value) -> String {
    uploaded["file_id"].as_str().expect("file_id").to_owned()
}

/// The `message.status` of `job` and the `message.new` of its message, whichever comes
/// first.
async fn status_and_new(socket: &mut Socket, job: &Value, message_id: &Value) -> (Value, Value) {
    let (mut status, mut new) = (None, None);
    while status.is_none() || new.is_none() {
        let event = next_event(socket, Duration::from_secs(10)).await;
        if event["type"] == "message.status" && event["data"]["job_id"] == job["job_id"] {
            status = Some(event);
        } else if event["type"] == "message.new" && event["data"]["id"] == *message_id {
            new = Some(event);
        }
    }
    (status.expect("status"), new.expect("new"))
}

async fn send(app: &TestApp, alice: &Alice, body: &Value) -> reqwest::Response {
    app.post_with_token(&alice.send_media_path(), &alice.linker.token, body)
        .await
}

async fn accepted(app: &TestApp, alice: &Alice, body: &Value) -> Value {
    let response = send(app, alice, body).await;
    assert_eq!(response.status(), 202, "accepted");
    response.json().await.expect("json")
}

async fn sent(app: &TestApp, alice: &Alice, job: &Value) -> Value {
    app.wait_for_job(
        &alice.linker,
        job["job_id"].as_str().expect("job id"),
        "sent",
        Duration::from_secs(30),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_photo_document_voice_note_and_album_reach_bob_with_identical_bytes_and_are_told_on_the_socket()
 {
    let app = spawn_app().await;
    let alice = linked_alice(&app, "send-media@example.com").await;
    let mut socket = connect_with_token(
        &app.address,
        &format!("/ws/{}/1", alice.linker.user_id),
        &alice.linker.token,
    )
    .await;
    let photo_bytes = sample_png(61, 640, 480);
    let photo = upload(&app, &alice, "holiday.png", &photo_bytes).await;

    let job = accepted(
        &app,
        &alice,
        &json!({
            "chat_id": alice.bob.to_string(),
            "file_id": file_id(&photo),
            "caption": "from the beach",
            "client_message_id": "photo-1",
        }),
    )
    .await;
    assert_eq!(job["status"], "queued");
    assert_eq!(job["media"]["kind"], "photo");
    assert_eq!(job["media"]["files"][0]["file_id"], photo["file_id"]);
    let done = sent(&app, &alice, &job).await;
    assert_eq!(
        alice.newest_file_at_bob(),
        photo_bytes,
        "bob has the very bytes"
    );
    let (status, new) = status_and_new(&mut socket, &job, &done["message_id"]).await;
    assert_eq!(status["data"]["status"], "sent");
    assert_eq!(status["data"]["media"]["kind"], "photo");
    assert_eq!(new["data"]["media"]["kind"], "photo");
    assert_eq!(new["data"]["text"], "from the beach");

    // A document, and a voice note (Ogg Opus, typed `voice` by its bytes).
    let document_bytes = pdf("report");
    let document = upload(&app, &alice, "report.pdf", &document_bytes).await;
    let job = accepted(
        &app,
        &alice,
        &json!({"chat_id": alice.bob, "file_id": file_id(&document), "client_message_id": "doc-1"}),
    )
    .await;
    assert_eq!(job["media"]["kind"], "document");
    sent(&app, &alice, &job).await;
    assert_eq!(alice.newest_file_at_bob(), document_bytes);
    let voice = upload(&app, &alice, "note.ogg", DEMO_VOICE_OGG).await;
    assert_eq!(voice["kind"], "voice");
    let waveform: Vec<u8> = serde_json::from_value(voice["waveform"].clone()).expect("a waveform");
    assert_eq!(waveform.len(), 100);
    assert_eq!(
        unpack_waveform(&DEMO_VOICE_WAVEFORM),
        waveform,
        "the sandbox seeds its demo voice note with the waveform computed here"
    );
    let job = accepted(
        &app,
        &alice,
        &json!({"chat_id": alice.bob, "file_id": file_id(&voice), "client_message_id": "voice-1"}),
    )
    .await;
    let done = sent(&app, &alice, &job).await;
    assert_eq!(alice.newest_file_at_bob(), DEMO_VOICE_OGG);
    assert_eq!(
        unpack_waveform(&alice.newest_voice_waveform_at_bob()),
        waveform,
        "bob's voice note carries the upload's waveform"
    );
    let (_, new) = status_and_new(&mut socket, &job, &done["message_id"]).await;
    assert_eq!(new["data"]["media"]["kind"], "voice");

    // An album: three photos, one message each, one group.
    let pictures: Vec<Vec<u8>> = (0..3).map(|n| sample_png(70 + n, 120, 90)).collect();
    let mut ids = Vec::new();
    for (n, bytes) in pictures.iter().enumerate() {
        ids.push(file_id(
            &upload(&app, &alice, &format!("a{n}.png"), bytes).await,
        ));
    }
    let before = alice.messages_at_bob();
    let job = accepted(
        &app,
        &alice,
        &json!({"chat_id": alice.bob, "file_ids": ids, "caption": "three", "client_message_id": "album-1"}),
    )
    .await;
    assert_eq!(job["media"]["files"].as_array().map(Vec::len), Some(3));
    let done = sent(&app, &alice, &job).await;
    assert_eq!(alice.messages_at_bob(), before + 3, "one message per item");
    let first = done["message_id"].as_i64().expect("message id");
    for (offset, bytes) in pictures.iter().enumerate() {
        assert_eq!(&alice.file_of(first + offset as i64), bytes);
    }
    // Alice's history follows her own update stream: the album's last items may land a
    // moment after the job is `sent`.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let history = app
            .get_json(
                &format!("{}?limit=3", alice.history_path(alice.bob)),
                &alice.linker.token,
            )
            .await;
        let groups: Vec<&Value> = history["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .map(|message| &message["grouped_id"])
            .collect();
        if groups.len() == 3
            && groups
                .iter()
                .all(|group| !group.is_null() && *group == groups[0])
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "one album: {history}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_send_is_one_message_and_a_file_deleted_while_its_send_waits_still_goes() {
    let app = spawn_app().await;
    let alice = linked_alice(&app, "send-media-pin@example.com").await;
    let bytes = pdf("pinned");
    let uploaded = upload(&app, &alice, "pinned.pdf", &bytes).await;
    let body = json!({
        "chat_id": alice.bob,
        "file_id": file_id(&uploaded),
        "caption": "pinned",
        "client_message_id": "pin-1",
    });
    // Telegram makes Alice wait: the send cannot go before the file is deleted.
    alice.sandbox.set_flood_wait(alice.alice, Some(1));
    let before = alice.messages_at_bob();

    let first = accepted(&app, &alice, &body).await;
    let deleted = app
        .delete_with_token(
            &format!("/media/{}", file_id(&uploaded)),
            &alice.linker.token,
        )
        .await;
    assert_eq!(deleted.status(), 204, "the owner deletes the file");
    let repeated = accepted(&app, &alice, &body).await;
    alice.sandbox.set_flood_wait(alice.alice, None);
    sent(&app, &alice, &first).await;
    let again = accepted(&app, &alice, &body).await;

    assert_eq!(
        repeated["job_id"], first["job_id"],
        "the same key, the same job"
    );
    assert_eq!(again["job_id"], first["job_id"]);
    assert_eq!(alice.messages_at_bob(), before + 1, "one message");
    assert_eq!(alice.newest_file_at_bob(), bytes, "the pinned bytes went");
    let gone = app
        .get_with_token(
            &format!("/media/{}", file_id(&uploaded)),
            &alice.linker.token,
        )
        .await;
    assert_eq!(gone.status(), 404, "the file stays deleted");
    app.stop().await;
}

/// The account's memory of the files it sent survives a restart of the process: the same
/// photo goes again by reference (the sandbox is given no new upload); a remembered
/// reference Telegram refuses costs one upload and is replaced, and the new one goes by
/// reference after the next restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_sent_before_a_restart_goes_again_by_reference_and_a_refused_reference_is_replaced()
{
    let app = spawn_app().await;
    let mut alice = linked_alice(&app, "sent-files@example.com").await;
    let png = sample_png(77, 640, 480);
    let photo = file_id(&upload(&app, &alice, "kept.png", &png).await);
    // Sends the photo (the `n`th time) and answers how many uploads it cost.
    let send_photo = async |app: &TestApp, alice: &Alice, n: u32| {
        let uploads_before = alice.sandbox.uploaded_file_count();
        let body = json!({
            "chat_id": alice.bob,
            "file_id": photo,
            "client_message_id": format!("kept-{n}"),
        });
        sent(app, alice, &accepted(app, alice, &body).await).await;
        assert_eq!(alice.newest_file_at_bob(), png, "send {n} arrives whole");
        alice.sandbox.uploaded_file_count() - uploads_before
    };
    assert_eq!(
        send_photo(&app, &alice, 1).await,
        1,
        "the first send uploads"
    );

    let app = restarted(app, &mut alice).await;
    assert_eq!(
        send_photo(&app, &alice, 2).await,
        0,
        "sent by the reference remembered before the restart, not uploaded again"
    );
    // Telegram renews its file references: the remembered one is refused.
    alice.sandbox.update_world(|w| w.renew_file_references());
    assert_eq!(
        send_photo(&app, &alice, 3).await,
        1,
        "uploaded again once the reference was refused"
    );

    let app = restarted(app, &mut alice).await;
    assert_eq!(
        send_photo(&app, &alice, 4).await,
        0,
        "the refused reference was replaced by the new one"
    );
    app.stop().await;
}

/// The message `id` of Alice's history with Bob once it is there with a thumbnail (her
/// history follows her own update stream: the message may land a moment after the job
/// is `sent`).
async fn with_thumbnail_in_history(app: &TestApp, alice: &Alice, id: &Value) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let history = app
            .get_json(
                &format!("{}?limit=5", alice.history_path(alice.bob)),
                &alice.linker.token,
            )
            .await;
        let found = history["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .find(|message| message["id"] == *id && !message["media"]["thumbnail_id"].is_null())
            .cloned();
        if let Some(message) = found {
            return message;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "message {id} with a thumbnail not in the history: {history}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A video and a PDF go to Telegram with their upload's preview (ffmpeg's frame,
/// pdftoppm's page) as the document's thumbnail: one more part uploaded each, and the
/// history's `thumbnail_id` downloads, through the account's Telegram connection, the
/// very preview the media service made; the video keeps its duration and size. Both are
/// sent right after their upload answered, while the preview is still being made (ffmpeg
/// here takes a second more than it does, ADR 0049): the send waits for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_video_and_a_pdf_reach_telegram_with_their_preview_as_the_thumbnail() {
    let tools = crate::helpers::temp_dir("talkapp-slow-ffmpeg");
    let script = crate::uploads::slow_ffmpeg(&tools, "/bin/sleep 1");
    let app = spawn_app_with(&[
        ("media.ffmpeg_path", &script),
        // Room for the slow tool on a busy machine (2 s by default).
        ("media.thumbnail_wait_ms", "10000"),
    ])
    .await;
    let alice = linked_alice(&app, "send-thumbs@example.com").await;

    for (name, bytes, kind) in [
        ("portrait.mp4", PORTRAIT_MP4, "video"),
        ("page.pdf", PAGE_PDF, "document"),
    ] {
        let uploaded = upload(&app, &alice, name, bytes).await;
        assert_eq!(uploaded["kind"], kind, "{name}");
        assert_eq!(
            uploaded["preview_pending"], true,
            "{name}'s preview is made after the answer (are ffmpeg and pdftoppm installed?): {uploaded}"
        );
        let parts_before = alice.sandbox.saved_part_count();

        let job = accepted(
            &app,
            &alice,
            &json!({
                "chat_id": alice.bob,
                "file_id": file_id(&uploaded),
                "client_message_id": format!("thumb-{name}"),
            }),
        )
        .await;
        let done = sent(&app, &alice, &job).await;
        let preview = app
            .get_with_token(
                &format!("/media/{}/preview", file_id(&uploaded)),
                &alice.linker.token,
            )
            .await;
        assert_eq!(preview.status(), 200, "{name}'s preview is made");
        let preview = preview.bytes().await.expect("preview bytes").to_vec();
        let message = with_thumbnail_in_history(&app, &alice, &done["message_id"]).await;
        let thumbnail = app
            .get_with_token(
                &format!(
                    "/me/media/{}/1/{}",
                    alice.linker.user_id,
                    message["media"]["thumbnail_id"]
                        .as_str()
                        .expect("a reference")
                ),
                &alice.linker.token,
            )
            .await;

        assert_eq!(
            alice.sandbox.saved_part_count() - parts_before,
            2,
            "{name}: its one part and its thumbnail's"
        );
        assert_eq!(alice.newest_file_at_bob(), bytes, "{name} arrives whole");
        assert_eq!(message["media"]["kind"], kind);
        assert_eq!(thumbnail.status(), 200, "{name}'s thumbnail downloads");
        assert_eq!(
            thumbnail.bytes().await.expect("thumbnail bytes").to_vec(),
            preview,
            "{name}'s thumbnail is its preview"
        );
        if kind == "video" {
            assert_eq!(message["media"]["width"], uploaded["width"]);
            assert_eq!(message["media"]["height"], uploaded["height"]);
            assert!(
                message["media"]["duration"]
                    .as_f64()
                    .is_some_and(|seconds| seconds > 0.0)
            );
        }
    }
    app.stop().await;
    let _ = std::fs::remove_dir_all(&tools);
}

/// A form as TorexTalkWeb's composer would post it: text fields, then the attachment.
fn form(fields: &[(&str, &str)], file: Option<(&str, &[u8])>) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    if let Some((name, bytes)) = file {
        body.extend(format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"attachment\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        ).as_bytes());
        body.extend(bytes);
        body.extend(b"\r\n");
    }
    body.extend(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

async fn post_form(app: &TestApp, alice: &Alice, body: Vec<u8>) -> reqwest::Response {
    app.client
        .post(app.url(&alice.send_media_path()))
        .bearer_auth(&alice.linker.token)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(body)
        .send()
        .await
        .expect("sent")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_composers_one_step_form_uploads_and_sends_and_a_repeat_leaves_no_second_upload() {
    let app = spawn_app().await;
    let alice = linked_alice(&app, "send-media-form@example.com").await;
    let bob = alice.bob.to_string();
    let picture = sample_png(81, 200, 150);
    let fields = [
        ("chat_id", bob.as_str()),
        ("text", "one step"),
        ("type", "image"),
        ("client_message_id", "form-1"),
    ];

    let response = post_form(&app, &alice, form(&fields, Some(("pic.png", &picture)))).await;
    assert_eq!(response.status(), 202);
    let job: Value = response.json().await.expect("json");
    assert_eq!(job["media"]["kind"], "photo");
    sent(&app, &alice, &job).await;
    assert_eq!(alice.newest_file_at_bob(), picture);
    let repeat = post_form(&app, &alice, form(&fields, Some(("pic.png", &picture)))).await;
    assert_eq!(repeat.status(), 202);
    let repeat: Value = repeat.json().await.expect("json");

    assert_eq!(repeat["job_id"], job["job_id"]);
    assert_eq!(
        repeat["media"]["files"][0]["file_id"],
        job["media"]["files"][0]["file_id"]
    );
    let first_file = job["media"]["files"][0]["file_id"].as_str().expect("file");
    let kept = app
        .get_with_token(&format!("/media/{first_file}"), &alice.linker.token)
        .await;
    assert_eq!(kept.status(), 200, "the sent upload stays the user's file");

    // A voice note in the composer's `audio` shape goes as a voice note.
    let response = post_form(
        &app,
        &alice,
        form(
            &[
                ("chat_id", bob.as_str()),
                ("type", "audio"),
                ("client_message_id", "form-voice"),
            ],
            Some(("rec.ogg", DEMO_VOICE_OGG)),
        ),
    )
    .await;
    assert_eq!(response.status(), 202);
    let job: Value = response.json().await.expect("json");
    assert_eq!(job["media"]["kind"], "voice");
    sent(&app, &alice, &job).await;
    assert_eq!(alice.newest_file_at_bob(), DEMO_VOICE_OGG);

    // A form without a file, a cut form, an image that is a PDF.
    assert_problem(
        post_form(&app, &alice, form(&fields, None)).await,
        422,
        "validation_failed",
    )
    .await;
    let mut cut = form(&fields, Some(("pic.png", &picture)));
    cut.truncate(cut.len() - 40);
    assert_problem(post_form(&app, &alice, cut).await, 400, "upload_incomplete").await;
    let not_an_image = [
        ("chat_id", bob.as_str()),
        ("type", "image"),
        ("client_message_id", "form-pdf"),
    ];
    assert_problem(
        post_form(
            &app,
            &alice,
            form(&not_an_image, Some(("x.png", &pdf("x")))),
        )
        .await,
        422,
        "media_kind_not_sendable",
    )
    .await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_sends_are_problems_and_another_users_file_is_not_found() {
    let app = spawn_app().await;
    let alice = linked_alice(&app, "send-media-bad@example.com").await;
    let mallory = app.linker("send-media-mallory@example.com").await;
    let theirs = app
        .client
        .post(app.url("/upload?filename=m.pdf"))
        .bearer_auth(&mallory.token)
        .body(pdf("mallory"))
        .send()
        .await
        .expect("sent");
    assert_eq!(theirs.status(), 201);
    let theirs: Value = theirs.json().await.expect("json");
    let document = file_id(&upload(&app, &alice, "doc.pdf", &pdf("mine")).await);
    let photo = file_id(&upload(&app, &alice, "p.png", &sample_png(3, 32, 32)).await);
    let voice = file_id(&upload(&app, &alice, "v.ogg", DEMO_VOICE_OGG).await);
    let bob = alice.bob;
    let cases: Vec<(Value, u16, &str)> = vec![
        (
            json!({"chat_id": bob, "file_id": file_id(&theirs), "client_message_id": "b1"}),
            404,
            "not_found",
        ),
        (
            json!({"chat_id": bob, "file_id": "not-a-uuid", "client_message_id": "b2"}),
            404,
            "not_found",
        ),
        (
            json!({"chat_id": bob, "file_id": document, "kind": "photo", "client_message_id": "b3"}),
            422,
            "media_kind_not_sendable",
        ),
        (
            json!({"chat_id": bob, "file_ids": [photo, voice], "client_message_id": "b4"}),
            422,
            "media_kind_not_sendable",
        ),
        (
            json!({"chat_id": bob, "file_id": photo, "caption": "x".repeat(1025), "client_message_id": "b5"}),
            422,
            "validation_failed",
        ),
        (
            json!({"chat_id": bob, "file_ids": vec![photo.clone(); 11], "client_message_id": "b6"}),
            422,
            "validation_failed",
        ),
        (
            json!({"chat_id": bob, "file_ids": [photo, photo], "client_message_id": "b7"}),
            422,
            "validation_failed",
        ),
        (
            json!({"chat_id": bob, "file_id": photo}),
            422,
            "validation_failed",
        ),
        (
            json!({"chat_id": bob, "file_id": photo, "file_ids": [photo], "client_message_id": "b9"}),
            422,
            "validation_failed",
        ),
        (
            json!({"chat_id": bob, "client_message_id": "b10"}),
            422,
            "validation_failed",
        ),
        (
            json!({"chat_id": bob, "file_id": photo, "kind": "sticker", "client_message_id": "b11"}),
            422,
            "validation_failed",
        ),
        (
            json!({"chat_id": 777_000_111, "file_id": photo, "client_message_id": "b12"}),
            404,
            "not_found",
        ),
    ];
    for (body, status, code) in cases {
        let problem = assert_problem(send(&app, &alice, &body).await, status, code).await;
        assert!(problem["detail"].is_string(), "{body}: {problem}");
    }
    // Another user's path; and a body that is not JSON.
    let response = app
        .post_with_token(
            &format!("/me/send_media/{}/1", mallory.user_id),
            &alice.linker.token,
            &json!({"chat_id": bob, "file_id": photo, "client_message_id": "b13"}),
        )
        .await;
    assert_problem(response, 403, "forbidden").await;
    let response = app
        .client
        .post(app.url(&alice.send_media_path()))
        .bearer_auth(&alice.linker.token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("sent");
    assert_problem(response, 400, "malformed_json").await;
    // Nothing was queued: the photo is still usable and no job took it.
    let job = accepted(
        &app,
        &alice,
        &json!({"chat_id": bob, "file_id": photo, "client_message_id": "b-ok"}),
    )
    .await;
    sent(&app, &alice, &job).await;
    app.stop().await;
}

/// Split mode: the gateway, the media service and the chat service each their own
/// process (PostgreSQL, RabbitMQ). Text and media sends queued together survive a SIGKILL
/// of the chat service exactly once and in order, and every file arrives whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_and_text_sends_survive_a_sigkill_of_the_chat_service_exactly_once_and_in_order() {
    use crate::support::SplitSetUp;

    let mut split = SplitSetUp::new().await;
    split.replicas.start_media();
    let (user, index) = split
        .alice_on_chat_a(false, "media-fault@example.com")
        .await;
    let (sandbox, replicas, alice, bob) = split.parts();
    let photo_bytes = sample_png(91, 300, 200);
    let document_bytes = pdf("fault");
    let photo = file_id(&replicas.upload(&user.1, "f.png", &photo_bytes).await);
    let document = file_id(&replicas.upload(&user.1, "f.pdf", &document_bytes).await);

    // Telegram makes Alice wait: every send queues up behind the first.
    sandbox.set_flood_wait(alice, Some(2));
    const SENDS: usize = 60;
    let mut jobs = Vec::with_capacity(SENDS);
    for n in 0..SENDS {
        let text = format!("mfault {n:03}");
        let (path, body) = match n % 3 {
            0 => (
                "send_message",
                json!({"chat_id": bob, "text": text, "client_message_id": format!("m-{n}")}),
            ),
            1 => (
                "send_media",
                json!({"chat_id": bob, "file_id": photo, "caption": text, "client_message_id": format!("m-{n}")}),
            ),
            _ => (
                "send_media",
                json!({"chat_id": bob, "file_id": document, "caption": text, "client_message_id": format!("m-{n}")}),
            ),
        };
        let response = replicas
            .post(&format!("/me/{path}/{}/{index}", user.0), &user.1, &body)
            .await;
        assert_eq!(response.status(), 202, "send {n} accepted");
        let job: Value = response.json().await.expect("json");
        jobs.push(job["job_id"].as_str().expect("job id").to_owned());
    }
    sandbox.set_flood_wait(alice, None);

    let at_bob = |sandbox: &talkapp_tg_sandbox::SandboxHandle| {
        sandbox.world(|world| {
            let mut ids = world.message_ids(bob, Peer::User(alice));
            ids.sort_unstable();
            ids.into_iter()
                .filter_map(|id| {
                    let text = world.message_text(bob, Peer::User(alice), id)?;
                    text.starts_with("mfault ").then(|| {
                        (
                            text.to_owned(),
                            world.message_file(bob, Peer::User(alice), id),
                        )
                    })
                })
                .collect::<Vec<_>>()
        })
    };
    let at_kill = replicas
        .kill_chat_while_sending("chat-a", 6, SENDS, || at_bob(sandbox).len())
        .await;
    replicas
        .wait_until_sent(&user, index, &jobs[SENDS - 1], 120)
        .await;

    let delivered = at_bob(sandbox);
    let texts: Vec<&str> = delivered.iter().map(|(text, _)| text.as_str()).collect();
    let expected: Vec<String> = (0..SENDS).map(|n| format!("mfault {n:03}")).collect();
    assert_eq!(
        texts, expected,
        "every send exactly once, in the order asked (killed after {at_kill})"
    );
    for (n, (_, file)) in delivered.iter().enumerate() {
        let expected_file = match n % 3 {
            0 => None,
            1 => Some(&photo_bytes),
            _ => Some(&document_bytes),
        };
        assert_eq!(file.as_ref(), expected_file, "send {n}'s file");
    }
    split.finish().await;
}

/// Split mode: the memory of sent files lives in PostgreSQL, not in the replica. A PDF
/// sent through the account's host (replica b: the file and its thumbnail uploaded) goes
/// again by reference, no part uploaded, once b is SIGKILLed and replica a has taken
/// the account over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_sent_before_its_replica_died_goes_by_reference_from_the_replica_taking_over() {
    use crate::replicas::user_on_replica_b;

    let mut split = user_on_replica_b("sent-files-split").await;
    // The media service finds pdftoppm and prlimit on the PATH (the processes start
    // with a cleared environment).
    if let Ok(path) = std::env::var("PATH") {
        split.replicas.environment.insert("PATH".into(), path);
    }
    split.replicas.start_media();
    let (user_id, token) = split.user.clone();
    let index = split.index;
    let (alice, bob) = crate::support::alice_and_bob(&split.sandbox);
    let uploaded = split.replicas.upload(&token, "page.pdf", PAGE_PDF).await;
    assert!(
        uploaded["preview_id"].is_string() || uploaded["preview_pending"] == true,
        "the PDF gets a preview (is pdftoppm installed?): {uploaded}"
    );
    let document = file_id(&uploaded);
    let newest_at_bob = |sandbox: &talkapp_tg_sandbox::SandboxHandle| {
        sandbox.world(|world| {
            let newest = world
                .message_ids(bob, Peer::User(alice))
                .into_iter()
                .max()?;
            Some((
                world
                    .message_text(bob, Peer::User(alice), newest)?
                    .to_owned(),
                world.message_file(bob, Peer::User(alice), newest)?,
            ))
        })
    };
    // Sends the PDF (the `n`th time) and answers how many parts it cost.
    let send_document = async |replicas: &crate::replicas::Replicas, n: u32| {
        let parts_before = split.sandbox.saved_part_count();
        let response = replicas
            .post(
                &format!("/me/send_media/{user_id}/{index}"),
                &token,
                &json!({
                    "chat_id": bob,
                    "file_id": document,
                    "caption": format!("split {n}"),
                    "client_message_id": format!("split-{n}"),
                }),
            )
            .await;
        assert_eq!(response.status(), 202, "send {n} accepted");
        let job: Value = response.json().await.expect("json");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let status = replicas
                .get(
                    &format!(
                        "/me/message_status/{user_id}/{index}/{}",
                        job["job_id"].as_str().expect("job id")
                    ),
                    &token,
                )
                .await;
            if status["status"] == "sent" {
                break;
            }
            assert!(Instant::now() < deadline, "send {n} never went: {status}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert_eq!(
            newest_at_bob(&split.sandbox),
            Some((format!("split {n}"), PAGE_PDF.to_vec())),
            "send {n} arrives whole"
        );
        split.sandbox.saved_part_count() - parts_before
    };

    assert_eq!(
        send_document(&split.replicas, 1).await,
        2,
        "the first send uploads the PDF and its thumbnail"
    );
    split.replicas.kill("chat-b").await;
    assert_eq!(
        send_document(&split.replicas, 2).await,
        0,
        "replica a sends it by the reference replica b kept in the store"
    );

    drop(split.replicas);
    split.sandbox.shutdown().await;
    split.database.drop_database().await;
}
