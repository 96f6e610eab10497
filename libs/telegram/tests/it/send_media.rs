//! `Account::send_media`: uploads in parts, one file or an album, once per random id,
//! files sent again by reference (uploaded again when the reference expired), and the
//! thumbnails of videos and documents.

use async_trait::async_trait;
use futures::StreamExt as _;
use talkapp_telegram::download::DownloadSource;
use talkapp_telegram::error::TelegramError;
use talkapp_telegram::model::MediaKind;
use talkapp_telegram::send_media::{ByteStream, FileSource, OutgoingFile, OutgoingMedia, SendAs};
use talkapp_tg_sandbox::{
    DEMO_2FA_PHONE, DEMO_CLIP_MP4, DEMO_PHONE, DEMO_PHOTO_JPEG, DEMO_VOICE_OGG, Peer, sample_png,
};

use crate::{SignedIn, signed_in, within};

/// Files in memory, handed out in uneven chunks (as a network stream would).
struct Files(Vec<Vec<u8>>);

#[async_trait]
impl FileSource for Files {
    async fn open(&self, index: usize) -> Result<ByteStream, TelegramError> {
        let bytes = self.0.get(index).cloned().expect("a file of the test");
        let chunks: Vec<Result<Vec<u8>, TelegramError>> = bytes
            .chunks(100_003)
            .map(|chunk| Ok(chunk.to_vec()))
            .collect();
        Ok(futures::stream::iter(chunks).boxed())
    }
}

/// Files with a preview image each (or none), as the media service keeps them.
struct Previewed {
    files: Files,
    thumbs: Vec<Option<Vec<u8>>>,
}

#[async_trait]
impl FileSource for Previewed {
    async fn open(&self, index: usize) -> Result<ByteStream, TelegramError> {
        self.files.open(index).await
    }

    async fn thumb(&self, index: usize) -> Result<Option<Vec<u8>>, TelegramError> {
        Ok(self.thumbs.get(index).cloned().flatten())
    }
}

fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed;
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 56) as u8
        })
        .collect()
}

fn sha256_of(seed: u64) -> String {
    // Any stable name works: the account remembers files by what it is told.
    format!("{seed:064x}")
}

fn file(bytes: &[u8], seed: u64, send_as: SendAs, name: &str, mime: &str) -> OutgoingFile {
    OutgoingFile {
        sha256: sha256_of(seed),
        size: bytes.len() as u64,
        file_name: name.to_owned(),
        mime: mime.to_owned(),
        send_as,
        width: None,
        height: None,
        duration_ms: None,
        waveform: None,
    }
}

struct Chat {
    alice: i64,
    bob: i64,
}

fn chat(signed: &SignedIn) -> Chat {
    Chat {
        alice: signed.sandbox.user_by_phone(DEMO_PHONE).expect("alice").id,
        bob: signed
            .sandbox
            .user_by_phone(DEMO_2FA_PHONE)
            .expect("bob")
            .id,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_photo_is_uploaded_in_parts_sent_once_per_random_id_and_arrives_with_identical_bytes() {
    let alice = signed_in(DEMO_PHONE).await;
    let people = chat(&alice);
    let png = sample_png(5, 1200, 900);
    let media = OutgoingMedia {
        chat_id: people.bob,
        files: vec![file(&png, 1, SendAs::Photo, "p.png", "image/png")],
        caption: "a photo".into(),
        reply_to: None,
        silent: false,
        random_id: 4242,
    };
    let source = Files(vec![png.clone()]);

    let sent = within("send", alice.account.send_media(&media, &source))
        .await
        .expect("sent");
    let count = || {
        alice
            .sandbox
            .world(|w| w.message_count(people.bob, Peer::User(people.alice)))
    };
    let before_repeat = count();
    let repeated = within("send again", alice.account.send_media(&media, &source))
        .await
        .expect("answered");

    assert_eq!(sent.len(), 1);
    assert_eq!(
        repeated[0].id, sent[0].id,
        "the same random_id is the same message"
    );
    assert_eq!(count(), before_repeat, "nothing new at Bob's");
    let stored = alice
        .sandbox
        .world(|w| w.message_file(people.alice, Peer::User(people.bob), sent[0].id))
        .expect("a file");
    assert_eq!(stored, png, "the photo's largest size is the bytes sent");
    let message = within("message", alice.account.message(people.bob, sent[0].id))
        .await
        .expect("fetched")
        .expect("exists");
    assert_eq!(message.text, "a photo");
    assert_eq!(message.media.expect("media").kind, MediaKind::Photo);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_sent_before_goes_by_reference_and_is_uploaded_again_once_its_reference_expired() {
    let alice = signed_in(DEMO_PHONE).await;
    let people = chat(&alice);
    // Three parts and a bit: parts go up in parallel.
    let bytes = pseudo_random(3 * 512 * 1024 + 77, 9);
    let document = file(
        &bytes,
        2,
        SendAs::Document,
        "report.bin",
        "application/octet-stream",
    );
    let source = Files(vec![bytes.clone()]);
    let send = |random_id: i64| OutgoingMedia {
        chat_id: people.bob,
        files: vec![document.clone()],
        caption: String::new(),
        reply_to: None,
        silent: false,
        random_id,
    };

    within("first", alice.account.send_media(&send(1), &source))
        .await
        .expect("sent");
    let uploads_after_first = alice.sandbox.uploaded_file_count();
    let second = within("second", alice.account.send_media(&send(2), &source))
        .await
        .expect("sent");
    let uploads_after_second = alice.sandbox.uploaded_file_count();
    alice.sandbox.update_world(|w| w.renew_file_references());
    let third = within("third", alice.account.send_media(&send(3), &source))
        .await
        .expect("sent after the reference expired");

    assert_eq!(
        uploads_after_second, uploads_after_first,
        "sent by reference"
    );
    assert_eq!(
        alice.sandbox.uploaded_file_count(),
        uploads_after_first + 1,
        "uploaded again once the reference was refused"
    );
    for sent in [&second[0], &third[0]] {
        let stored = alice
            .sandbox
            .world(|w| w.message_file(people.alice, Peer::User(people.bob), sent.id))
            .expect("a file");
        assert_eq!(stored, bytes);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_above_ten_megabytes_goes_up_in_big_parts() {
    let alice = signed_in(DEMO_PHONE).await;
    let people = chat(&alice);
    let bytes = pseudo_random(10 * 1024 * 1024 + 5000, 11);
    let media = OutgoingMedia {
        chat_id: people.bob,
        files: vec![file(
            &bytes,
            3,
            SendAs::Document,
            "big.bin",
            "application/octet-stream",
        )],
        caption: "big".into(),
        reply_to: None,
        silent: false,
        random_id: 77,
    };

    let sent = within(
        "send",
        alice
            .account
            .send_media(&media, &Files(vec![bytes.clone()])),
    )
    .await
    .expect("sent");

    let stored = alice
        .sandbox
        .world(|w| w.message_file(people.alice, Peer::User(people.bob), sent[0].id))
        .expect("a file");
    assert!(stored == bytes, "identical bytes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_album_is_uploaded_item_by_item_and_sent_as_one_group_and_a_voice_note_as_voice() {
    let alice = signed_in(DEMO_PHONE).await;
    let people = chat(&alice);
    let pictures: Vec<Vec<u8>> = (0..3).map(|seed| sample_png(30 + seed, 80, 60)).collect();
    let album = OutgoingMedia {
        chat_id: people.bob,
        files: pictures
            .iter()
            .enumerate()
            .map(|(n, bytes)| file(bytes, 10 + n as u64, SendAs::Photo, "a.png", "image/png"))
            .collect(),
        caption: "three".into(),
        reply_to: None,
        silent: false,
        random_id: 900,
    };
    let voice = OutgoingMedia {
        chat_id: people.bob,
        files: vec![OutgoingFile {
            duration_ms: Some(3000),
            waveform: Some(vec![0, 10, 31, 5]),
            ..file(DEMO_VOICE_OGG, 20, SendAs::Voice, "voice.ogg", "audio/ogg")
        }],
        caption: String::new(),
        reply_to: None,
        silent: false,
        random_id: 950,
    };

    let sent = within(
        "album",
        alice.account.send_media(&album, &Files(pictures.clone())),
    )
    .await
    .expect("sent");
    let voice_sent = within(
        "voice",
        alice
            .account
            .send_media(&voice, &Files(vec![DEMO_VOICE_OGG.to_vec()])),
    )
    .await
    .expect("sent");

    assert_eq!(sent.len(), 3);
    let mut groups = Vec::new();
    for (sent, bytes) in sent.iter().zip(&pictures) {
        let message = within("message", alice.account.message(people.bob, sent.id))
            .await
            .expect("fetched")
            .expect("exists");
        groups.push(message.grouped_id.expect("grouped"));
        let stored = alice
            .sandbox
            .world(|w| w.message_file(people.alice, Peer::User(people.bob), sent.id))
            .expect("a file");
        assert_eq!(&stored, bytes);
    }
    assert!(groups.iter().all(|group| *group == groups[0]));
    let voice_message = within(
        "message",
        alice.account.message(people.bob, voice_sent[0].id),
    )
    .await
    .expect("fetched")
    .expect("exists");
    let voice_media = voice_message.media.expect("media");
    assert_eq!(voice_media.kind, MediaKind::Voice);
    assert_eq!(voice_media.duration, Some(3.0));
    let stored = alice
        .sandbox
        .world(|w| w.message_file(people.alice, Peer::User(people.bob), voice_sent[0].id))
        .expect("a file");
    assert_eq!(stored, DEMO_VOICE_OGG);
}

/// The whole of a message's thumbnail, downloaded through the account.
async fn thumbnail_of(signed: &SignedIn, chat_id: i64, message_id: i32) -> Option<Vec<u8>> {
    let message = within("message", signed.account.message(chat_id, message_id))
        .await
        .expect("fetched")
        .expect("exists");
    let location = message.media.expect("media").thumbnail?;
    let mut download = within(
        "download",
        signed
            .account
            .download(&DownloadSource::File(location), 0, None),
    )
    .await
    .expect("download starts");
    let mut bytes = Vec::new();
    while let Some(chunk) = within("chunk", download.next_chunk()).await.expect("chunk") {
        bytes.extend_from_slice(&chunk);
    }
    Some(bytes)
}

/// A video and a PDF go with their preview as Telegram's `thumb` (one more small upload
/// each), the video with its duration and size; an album's document too; a preview that
/// is no JPEG Telegram takes is left out and the file still goes; a photo never asks for
/// one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn videos_and_documents_carry_their_preview_as_a_thumbnail_telegram_keeps() {
    let alice = signed_in(DEMO_PHONE).await;
    let people = chat(&alice);
    let pdf = b"%PDF-1.4\n% thumbs\n%%EOF\n".to_vec();
    let video = OutgoingFile {
        width: Some(160),
        height: Some(120),
        duration_ms: Some(2000),
        ..file(DEMO_CLIP_MP4, 40, SendAs::Video, "clip.mp4", "video/mp4")
    };
    let one = |file: OutgoingFile, random_id: i64| OutgoingMedia {
        chat_id: people.bob,
        files: vec![file],
        caption: String::new(),
        reply_to: None,
        silent: false,
        random_id,
    };
    let with_thumb = |bytes: &[u8], thumb: Option<Vec<u8>>| Previewed {
        files: Files(vec![bytes.to_vec()]),
        thumbs: vec![thumb],
    };

    let parts_before = alice.sandbox.saved_part_count();
    let sent_video = within(
        "video",
        alice.account.send_media(
            &one(video.clone(), 3001),
            &with_thumb(DEMO_CLIP_MP4, Some(DEMO_PHOTO_JPEG.to_vec())),
        ),
    )
    .await
    .expect("sent");
    let video_parts = alice.sandbox.saved_part_count() - parts_before;
    let sent_pdf = within(
        "pdf",
        alice.account.send_media(
            &one(
                file(&pdf, 41, SendAs::Document, "a.pdf", "application/pdf"),
                3002,
            ),
            &with_thumb(&pdf, Some(DEMO_PHOTO_JPEG.to_vec())),
        ),
    )
    .await
    .expect("sent");
    let sent_png_thumb = within(
        "a png preview",
        alice.account.send_media(
            &one(
                file(&pdf, 42, SendAs::Document, "b.pdf", "application/pdf"),
                3003,
            ),
            &with_thumb(&pdf, Some(sample_png(1, 64, 48))),
        ),
    )
    .await
    .expect("sent without a thumbnail");
    let album = OutgoingMedia {
        files: vec![
            file(&pdf, 43, SendAs::Document, "c.pdf", "application/pdf"),
            file(&pdf, 44, SendAs::Document, "d.pdf", "application/pdf"),
        ],
        ..one(video.clone(), 3004)
    };
    let sent_album = within(
        "album",
        alice.account.send_media(
            &album,
            &Previewed {
                files: Files(vec![pdf.clone(), pdf.clone()]),
                thumbs: vec![None, Some(DEMO_PHOTO_JPEG.to_vec())],
            },
        ),
    )
    .await
    .expect("sent");

    assert_eq!(video_parts, 2, "the clip's one part and the thumbnail's");
    for (what, sent, expected) in [
        ("video", &sent_video[0], Some(DEMO_PHOTO_JPEG)),
        ("pdf", &sent_pdf[0], Some(DEMO_PHOTO_JPEG)),
        ("png preview", &sent_png_thumb[0], None),
        ("album item 0", &sent_album[0], None),
        ("album item 1", &sent_album[1], Some(DEMO_PHOTO_JPEG)),
    ] {
        assert_eq!(
            thumbnail_of(&alice, people.bob, sent.id).await.as_deref(),
            expected,
            "{what}"
        );
    }
    let message = within(
        "message",
        alice.account.message(people.bob, sent_video[0].id),
    )
    .await
    .expect("fetched")
    .expect("exists");
    let media = message.media.expect("media");
    assert_eq!(media.kind, MediaKind::Video);
    assert_eq!((media.width, media.height), (Some(160), Some(120)));
    assert_eq!(media.duration, Some(2.0));
    let stored = alice
        .sandbox
        .world(|w| w.message_file(people.alice, Peer::User(people.bob), sent_video[0].id))
        .expect("a file");
    assert_eq!(stored, DEMO_CLIP_MP4, "the clip itself, not its thumbnail");
}
