//! Media sends at the chat service's boundary: `SendMedia` pins the files at the media
//! service, queues the job, and the account's host streams them to Telegram; bad input
//! gets its stable code. On SQLite with the bus in process, and on PostgreSQL with
//! RabbitMQ.

use std::time::{Duration, Instant};

use talkapp_common::ErrorCode;
use talkapp_proto::chat::v1 as proto;
use talkapp_proto::media::v1 as media;
use talkapp_tg_sandbox::{DEMO_2FA_PHONE, DEMO_PHONE, DEMO_VOICE_OGG, Peer, sample_png};

use crate::support::{Backing, ChatApp, code_of};

async fn upload(app: &ChatApp, user_id: &str, name: &str, bytes: &[u8]) -> media::FileInfo {
    let messages = vec![
        media::UploadRequest {
            part: Some(media::upload_request::Part::Start(media::UploadStart {
                user_id: user_id.to_owned(),
                file_name: name.to_owned(),
                declared_size: None,
            })),
        },
        media::UploadRequest {
            part: Some(media::upload_request::Part::Chunk(bytes.to_vec().into())),
        },
        media::UploadRequest {
            part: Some(media::upload_request::Part::End(media::UploadEnd {
                size: bytes.len() as u64,
            })),
        },
    ];
    app.media_client
        .clone()
        .upload(futures::stream::iter(messages))
        .await
        .expect("uploaded")
        .into_inner()
}

fn request(
    account: &proto::AccountRef,
    chat_id: i64,
    file_ids: Vec<String>,
    key: &str,
) -> proto::SendMediaRequest {
    proto::SendMediaRequest {
        account: Some(account.clone()),
        chat_id: chat_id.to_string(),
        file_ids,
        kind: None,
        caption: Some(format!("caption {key}")),
        reply_to: None,
        silent: false,
        client_message_id: key.to_owned(),
    }
}

pub(crate) async fn until_sent(
    app: &ChatApp,
    account: &proto::AccountRef,
    job_id: &str,
) -> proto::SendJob {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let job = app
            .client
            .clone()
            .get_message_status(proto::GetMessageStatusRequest {
                account: Some(account.clone()),
                job_id: job_id.to_owned(),
            })
            .await
            .expect("status")
            .into_inner();
        if job.status == "sent" {
            return job;
        }
        assert!(Instant::now() < deadline, "never sent: {job:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn media_sends_are_queued_streamed_and_checked(backing: Backing) {
    let app = ChatApp::start(backing).await;
    let account = app.link(DEMO_PHONE).await;
    app.chats_once_cached(&account).await;
    let (alice, bob) = (
        app.sandbox.user_by_phone(DEMO_PHONE).expect("alice").id,
        app.sandbox.user_by_phone(DEMO_2FA_PHONE).expect("bob").id,
    );
    let photo_bytes = sample_png(12, 300, 200);
    let photo = upload(&app, &account.user_id, "p.png", &photo_bytes).await;
    let voice = upload(&app, &account.user_id, "v.ogg", DEMO_VOICE_OGG).await;

    let job = app
        .client
        .clone()
        .send_media(request(&account, bob, vec![photo.file_id.clone()], "p-1"))
        .await
        .expect("accepted")
        .into_inner();
    let repeated = app
        .client
        .clone()
        .send_media(request(&account, bob, vec![photo.file_id.clone()], "p-1"))
        .await
        .expect("accepted")
        .into_inner();
    let sent = until_sent(&app, &account, &job.job_id).await;

    assert_eq!(repeated.job_id, job.job_id);
    let media = job.media.expect("the job carries its files");
    assert_eq!(media.kind, "photo");
    assert_eq!(media.files[0].file_id, photo.file_id);
    assert_eq!(job.text, "caption p-1");
    let at_alice = app
        .sandbox
        .world(|world| world.message_file(alice, Peer::User(bob), sent.message_id.expect("sent")))
        .expect("a file");
    assert_eq!(at_alice, photo_bytes);

    // Bad input, each with its code.
    let stranger = proto::AccountRef {
        user_id: uuid::Uuid::new_v4().to_string(),
        ..account.clone()
    };
    let cases = [
        (
            request(&account, bob, vec![uuid::Uuid::new_v4().to_string()], "b-1"),
            ErrorCode::NotFound,
        ),
        (
            proto::SendMediaRequest {
                kind: Some("photo".into()),
                ..request(&account, bob, vec![voice.file_id.clone()], "b-2")
            },
            ErrorCode::MediaKindNotSendable,
        ),
        (
            request(
                &account,
                bob,
                vec![photo.file_id.clone(), voice.file_id.clone()],
                "b-3",
            ),
            ErrorCode::MediaKindNotSendable,
        ),
        (
            request(&account, bob, vec![photo.file_id.clone()], ""),
            ErrorCode::ValidationFailed,
        ),
        (
            proto::SendMediaRequest {
                caption: Some("x".repeat(1025)),
                ..request(&account, bob, vec![photo.file_id.clone()], "b-5")
            },
            ErrorCode::ValidationFailed,
        ),
        (
            request(&account, bob, vec![], "b-6"),
            ErrorCode::ValidationFailed,
        ),
        (
            request(&stranger, bob, vec![photo.file_id.clone()], "b-7"),
            ErrorCode::NotFound,
        ),
    ];
    for (bad, code) in cases {
        let refused = app
            .client
            .clone()
            .send_media(bad.clone())
            .await
            .expect_err("refused");
        assert_eq!(code_of(&refused), code, "{bad:?}: {refused:?}");
    }
    app.stop().await;
}

/// A media send to a chat the account's cache does not know is `not_found`, and keeps no
/// pin: the files pinned for it before the job's insert found the chat unknown are
/// released, so once the owner deletes the file not even that job id reads it.
async fn a_media_send_to_an_unknown_chat_is_not_found_and_keeps_no_pin(backing: Backing) {
    let app = ChatApp::start(backing).await;
    let account = app.link(DEMO_PHONE).await;
    app.chats_once_cached(&account).await;
    let photo = upload(&app, &account.user_id, "p.png", &sample_png(5, 64, 64)).await;

    let refused = app
        .client
        .clone()
        .send_media(request(
            &account,
            777_000_111,
            vec![photo.file_id.clone()],
            "u-1",
        ))
        .await
        .expect_err("refused");
    assert_eq!(code_of(&refused), ErrorCode::NotFound, "{refused:?}");

    app.media_client
        .clone()
        .delete(media::FileRef {
            user_id: account.user_id.clone(),
            file_id: photo.file_id.clone(),
        })
        .await
        .expect("deleted");
    let job_id = talkapp_chat_service::sends::job_id_for(
        talkapp_store::AccountKey {
            user_id: account.user_id.parse().expect("uuid"),
            session_index: account.session_index,
        },
        Some("u-1"),
    );
    let read = app
        .media_client
        .clone()
        .read_pinned(media::ReadPinnedRequest {
            job_id: job_id.to_string(),
            file_id: photo.file_id.clone(),
            preview: false,
        })
        .await;
    let status = match read {
        Err(status) => status,
        Ok(stream) => {
            let mut stream = stream.into_inner();
            match futures::StreamExt::next(&mut stream).await {
                Some(Err(status)) => status,
                other => panic!("the refused send's pin still reads the file: {other:?}"),
            }
        }
    };
    assert_eq!(code_of(&status), ErrorCode::NotFound, "{status:?}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_media_send_to_an_unknown_chat_is_not_found_and_keeps_no_pin_on_sqlite() {
    a_media_send_to_an_unknown_chat_is_not_found_and_keeps_no_pin(Backing::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_media_send_to_an_unknown_chat_is_not_found_and_keeps_no_pin_on_postgres() {
    a_media_send_to_an_unknown_chat_is_not_found_and_keeps_no_pin(Backing::Servers).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_sends_are_queued_streamed_and_checked_on_sqlite() {
    media_sends_are_queued_streamed_and_checked(Backing::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_sends_are_queued_streamed_and_checked_on_postgres_and_rabbitmq() {
    media_sends_are_queued_streamed_and_checked(Backing::Servers).await;
}
