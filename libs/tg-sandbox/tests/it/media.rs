//! Uploads, photos with size variants, documents, downloads, and the file rules.

use grammers_client::media::{Media, Uploaded};
use grammers_client::message::InputMessage;
use grammers_client::update::Update;
use grammers_tl_types as tl;
use talkapp_tg_sandbox::{DEMO_CLIP_MP4, DEMO_PHOTO_JPEG, Peer, sample_png};

use crate::support::{channel_titled, demo, dialog_ref, listen, next_matching, signed_in, within};

/// Deterministic bytes that do not compress to nothing.
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

async fn upload(client: &grammers_client::Client, bytes: &[u8], name: &str) -> Uploaded {
    let mut reader = std::io::Cursor::new(bytes.to_vec());
    within(
        "upload",
        client.upload_stream(&mut reader, bytes.len(), name.to_owned()),
    )
    .await
    .expect("uploaded")
}

async fn download(
    client: &grammers_client::Client,
    downloadable: &impl grammers_client::media::Downloadable,
) -> Vec<u8> {
    let mut chunks = client.iter_download(downloadable);
    let mut bytes = Vec::new();
    while let Some(chunk) = within("download", chunks.next()).await.expect("chunk") {
        bytes.extend_from_slice(&chunk);
    }
    bytes
}

/// Width and height from a PNG header.
fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert!(bytes.starts_with(b"\x89PNG"), "not a PNG");
    let word = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    (word(16), word(20))
}

#[tokio::test]
async fn an_uploaded_document_reaches_the_recipient_and_downloads_with_identical_bytes() {
    let demo = demo().await;
    let alice = signed_in(&demo.sandbox, demo.alice);
    let mut bob = signed_in(&demo.sandbox, demo.bob);
    let (mut bob_updates, _b) = listen(&mut bob).await;
    let to_bob = dialog_ref(&alice.client, Peer::User(demo.bob)).await;

    let bytes = pseudo_random(700 * 1024 + 123, 1);
    let uploaded = upload(&alice.client, &bytes, "report.bin").await;
    let sent = within(
        "send",
        alice.client.send_message(
            to_bob,
            InputMessage::new().text("the report").document(uploaded),
        ),
    )
    .await
    .expect("sent");
    assert_eq!(sent.text(), "the report");

    let received = next_matching(&mut bob_updates, "document", |u| match u {
        Update::NewMessage(m) if m.text() == "the report" => Some(m.clone()),
        _ => None,
    })
    .await;
    let Some(Media::Document(document)) = received.media() else {
        panic!("expected a document, got {:?}", received.media());
    };
    assert_eq!(document.name(), Some("report.bin"));
    assert_eq!(document.size(), Some(bytes.len()));
    assert_eq!(download(&bob.client, &document).await, bytes);
}

/// `jpeg` with the size in its start-of-frame header changed (the pixels are not read).
fn jpeg_claiming(jpeg: &[u8], width: u16, height: u16) -> Vec<u8> {
    let mut bytes = jpeg.to_vec();
    let mut at = 2;
    loop {
        let marker = bytes[at + 1];
        let length = usize::from(u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]));
        if marker == 0xc0 {
            bytes[at + 5..at + 7].copy_from_slice(&height.to_be_bytes());
            bytes[at + 7..at + 9].copy_from_slice(&width.to_be_bytes());
            return bytes;
        }
        at += 2 + length;
    }
}

/// A document's `thumb` is kept as Telegram keeps it: a JPEG within 320 pixels a side and
/// 200 KiB becomes the document's `m` thumbnail, downloadable by its `thumb_size`; a PNG,
/// a larger picture or a heavier file is dropped, and the document goes without one.
#[tokio::test]
async fn a_documents_thumb_is_kept_when_telegram_would_and_downloads_by_its_size_type() {
    let demo = demo().await;
    let alice = signed_in(&demo.sandbox, demo.alice);
    let bob = signed_in(&demo.sandbox, demo.bob);
    let to_bob = dialog_ref(&alice.client, Peer::User(demo.bob)).await;
    let mut heavy = DEMO_PHOTO_JPEG.to_vec();
    heavy.resize(200 * 1024 + 1, 0);
    let thumbs: [(&str, Vec<u8>); 4] = [
        ("fits", DEMO_PHOTO_JPEG.to_vec()),
        ("png", sample_png(3, 160, 120)),
        ("wide", jpeg_claiming(DEMO_PHOTO_JPEG, 321, 240)),
        ("heavy", heavy),
    ];

    for (caption, thumb) in &thumbs {
        let clip = upload(&alice.client, DEMO_CLIP_MP4, "clip.mp4").await;
        let thumb = upload(&alice.client, thumb, "thumb.jpg").await;
        within(
            "send",
            alice.client.send_message(
                to_bob,
                InputMessage::new()
                    .text(*caption)
                    .document(clip)
                    .thumbnail(thumb),
            ),
        )
        .await
        .expect("sent");
    }

    let from_alice = dialog_ref(&bob.client, Peer::User(demo.alice)).await;
    let mut history = bob.client.iter_messages(from_alice).limit(4);
    let mut kept = Vec::new();
    while let Some(message) = within("history", history.next()).await.expect("history") {
        let Some(Media::Document(document)) = message.media() else {
            panic!("expected a document, got {:?}", message.media());
        };
        assert_eq!(download(&bob.client, &document).await, DEMO_CLIP_MP4);
        let thumbs = document.thumbs();
        let mut described = Vec::new();
        for thumb in &thumbs {
            let bytes = download(&bob.client, thumb).await;
            assert_eq!(bytes.len(), thumb.size());
            assert_eq!(bytes, DEMO_PHOTO_JPEG, "the thumb comes back unchanged");
            let grammers_client::media::PhotoSize::Size(size) = thumb else {
                panic!("a thumb of a known size: {thumb:?}");
            };
            described.push((thumb.photo_type(), size.width, size.height));
        }
        kept.push((message.text().to_owned(), described));
    }
    kept.reverse();

    assert_eq!(
        kept,
        [
            ("fits".to_owned(), vec![("m".to_owned(), 320, 240)]),
            ("png".to_owned(), vec![]),
            ("wide".to_owned(), vec![]),
            ("heavy".to_owned(), vec![]),
        ]
    );
}

#[tokio::test]
async fn a_photo_gets_thumbnails_and_keeps_its_original_as_the_largest_size() {
    let demo = demo().await;
    let alice = signed_in(&demo.sandbox, demo.alice);
    let to_bob = dialog_ref(&alice.client, Peer::User(demo.bob)).await;
    let png = sample_png(5, 640, 480);
    let uploaded = upload(&alice.client, &png, "photo.png").await;
    let sent = within(
        "send",
        alice
            .client
            .send_message(to_bob, InputMessage::new().text("look").photo(uploaded)),
    )
    .await
    .expect("sent");
    let Some(Media::Photo(photo)) = sent.media() else {
        panic!("expected a photo, got {:?}", sent.media());
    };

    let bob = signed_in(&demo.sandbox, demo.bob);
    let from_alice = dialog_ref(&bob.client, Peer::User(demo.alice)).await;
    let mut history = bob.client.iter_messages(from_alice).limit(1);
    let received = within("history", history.next())
        .await
        .expect("history")
        .expect("a message");
    let Some(Media::Photo(received_photo)) = received.media() else {
        panic!("bob sees no photo");
    };
    assert_eq!(received_photo.id(), photo.id());

    let thumbs = received_photo.thumbs();
    let types: Vec<String> = thumbs.iter().map(|t| t.photo_type()).collect();
    assert_eq!(types, ["s", "m", "x"]);
    let mut sizes = Vec::new();
    for thumb in &thumbs {
        let bytes = download(&bob.client, thumb).await;
        assert_eq!(bytes.len(), thumb.size());
        sizes.push((thumb.photo_type(), png_size(&bytes)));
        if thumb.photo_type() == "x" {
            assert_eq!(bytes, png, "the original comes back unchanged");
        }
    }
    assert_eq!(
        sizes,
        [
            ("s".to_owned(), (100, 75)),
            ("m".to_owned(), (320, 240)),
            ("x".to_owned(), (640, 480)),
        ]
    );
    // Downloading the photo itself gets the largest size.
    assert_eq!(download(&bob.client, &received_photo).await, png);
}

#[tokio::test]
async fn a_file_of_more_than_ten_megabytes_round_trips_through_big_file_parts() {
    let demo = demo().await;
    let alice = signed_in(&demo.sandbox, demo.alice);
    let bytes = pseudo_random(10 * 1024 * 1024 + 300 * 1024, 7);
    let uploaded = upload(&alice.client, &bytes, "big.bin").await;
    assert!(matches!(uploaded.raw, tl::enums::InputFile::Big(_)));
    let sent = within(
        "send",
        alice.client.send_message(
            tl::enums::InputPeer::PeerSelf,
            InputMessage::new().text("big").document(uploaded),
        ),
    )
    .await
    .expect("sent");
    let Some(Media::Document(document)) = sent.media() else {
        panic!("expected a document");
    };
    let downloaded = download(&alice.client, &document).await;
    assert_eq!(downloaded.len(), bytes.len());
    assert!(downloaded == bytes, "the contents differ");
}

fn get_file(
    location: tl::enums::InputFileLocation,
    offset: i64,
    limit: i32,
    precise: bool,
) -> tl::functions::upload::GetFile {
    tl::functions::upload::GetFile {
        precise,
        cdn_supported: false,
        location,
        offset,
        limit,
    }
}

fn rpc_error(result: Result<tl::enums::upload::File, grammers_client::InvocationError>) -> String {
    match result {
        Err(grammers_client::InvocationError::Rpc(error)) => error.name,
        other => panic!("expected an RPC error, got {other:?}"),
    }
}

#[tokio::test]
async fn get_file_follows_telegrams_offset_and_limit_rules_and_checks_the_file_reference() {
    let demo = demo().await;
    let alice = signed_in(&demo.sandbox, demo.alice);
    let bytes = pseudo_random(20_000, 3);
    let uploaded = upload(&alice.client, &bytes, "rules.bin").await;
    let sent = within(
        "send",
        alice.client.send_message(
            tl::enums::InputPeer::PeerSelf,
            InputMessage::new().text("rules").document(uploaded),
        ),
    )
    .await
    .expect("sent");
    let Some(Media::Document(document)) = sent.media() else {
        panic!("expected a document");
    };
    let tl::enums::InputDocument::Document(input) = document.to_raw_input_document() else {
        panic!("empty document");
    };
    let location = |file_reference: Vec<u8>| -> tl::enums::InputFileLocation {
        tl::types::InputDocumentFileLocation {
            id: input.id,
            access_hash: input.access_hash,
            file_reference,
            thumb_size: String::new(),
        }
        .into()
    };
    let good = location(input.file_reference.clone());
    let client = &alice.client;
    let ask = |offset: i64, limit: i32, precise: bool| {
        let request = get_file(good.clone(), offset, limit, precise);
        async move { client.invoke(&request).await }
    };

    let tl::enums::upload::File::File(chunk) =
        within("get", ask(4096, 4096, false)).await.expect("chunk")
    else {
        panic!("cdn redirect");
    };
    assert_eq!(chunk.bytes, bytes[4096..8192]);
    let tl::enums::upload::File::File(precise) =
        within("get", ask(1024, 3072, true)).await.expect("chunk")
    else {
        panic!("cdn redirect");
    };
    assert_eq!(precise.bytes, bytes[1024..4096]);
    let tl::enums::upload::File::File(past_end) = within("get", ask(1024 * 1024, 4096, false))
        .await
        .expect("chunk")
    else {
        panic!("cdn redirect");
    };
    assert!(past_end.bytes.is_empty());

    assert_eq!(
        rpc_error(within("get", ask(0, 1000, false)).await),
        "LIMIT_INVALID"
    );
    assert_eq!(
        rpc_error(within("get", ask(0, 12288, false)).await),
        "LIMIT_INVALID"
    );
    assert_eq!(
        rpc_error(within("get", ask(0, 2 * 1024 * 1024, false)).await),
        "LIMIT_INVALID"
    );
    assert_eq!(
        rpc_error(within("get", ask(100, 4096, false)).await),
        "OFFSET_INVALID"
    );
    let stale = location(vec![1, 2, 3]);
    assert_eq!(
        rpc_error(within("get", alice.client.invoke(&get_file(stale, 0, 4096, false))).await),
        "FILE_REFERENCE_EXPIRED"
    );
}

#[tokio::test]
async fn profile_and_chat_photos_download_through_peer_photo_locations() {
    let demo = demo().await;
    let lounge = channel_titled(&demo.sandbox, "Sandbox Lounge");
    let alice = signed_in(&demo.sandbox, demo.alice);
    let bob_ref = dialog_ref(&alice.client, Peer::User(demo.bob)).await;
    let lounge_ref = dialog_ref(&alice.client, Peer::Channel(lounge)).await;

    let users = within(
        "users",
        alice.client.invoke(&tl::functions::users::GetUsers {
            id: vec![bob_ref.into()],
        }),
    )
    .await
    .expect("users");
    let tl::enums::User::User(bob) = &users[0] else {
        panic!("empty user");
    };
    let Some(tl::enums::UserProfilePhoto::Photo(photo)) = &bob.photo else {
        panic!("bob has no profile photo");
    };
    for (big, side) in [(false, 160), (true, 640)] {
        let location = tl::types::InputPeerPhotoFileLocation {
            big,
            peer: bob_ref.into(),
            photo_id: photo.photo_id,
        };
        let tl::enums::upload::File::File(file) = within(
            "get",
            alice
                .client
                .invoke(&get_file(location.into(), 0, 512 * 1024, false)),
        )
        .await
        .expect("photo") else {
            panic!("cdn redirect");
        };
        assert_eq!(png_size(&file.bytes), (side, side));
    }

    let chats = within(
        "channels",
        alice.client.invoke(&tl::functions::channels::GetChannels {
            id: vec![lounge_ref.into()],
        }),
    )
    .await
    .expect("channels");
    let tl::enums::messages::Chats::Chats(chats) = chats else {
        panic!("slice");
    };
    let Some(tl::enums::Chat::Channel(channel)) = chats.chats.first() else {
        panic!("no channel");
    };
    let tl::enums::ChatPhoto::Photo(chat_photo) = &channel.photo else {
        panic!("the lounge has no photo");
    };
    let location = tl::types::InputPeerPhotoFileLocation {
        big: true,
        peer: lounge_ref.into(),
        photo_id: chat_photo.photo_id,
    };
    let tl::enums::upload::File::File(file) = within(
        "get",
        alice
            .client
            .invoke(&get_file(location.into(), 0, 512 * 1024, false)),
    )
    .await
    .expect("chat photo") else {
        panic!("cdn redirect");
    };
    assert_eq!(png_size(&file.bytes), (640, 640));
}

#[tokio::test]
async fn uploaded_media_can_be_sent_later_by_reference_and_voice_notes_keep_their_waveform() {
    let demo = demo().await;
    let alice = signed_in(&demo.sandbox, demo.alice);
    let to_bob = dialog_ref(&alice.client, Peer::User(demo.bob)).await;
    let uploaded = upload(&alice.client, &sample_png(9, 300, 200), "p.png").await;
    let media = within(
        "upload media",
        alice.client.invoke(&tl::functions::messages::UploadMedia {
            business_connection_id: None,
            peer: to_bob.into(),
            media: tl::types::InputMediaUploadedPhoto {
                spoiler: false,
                live_photo: false,
                file: uploaded.raw,
                stickers: None,
                ttl_seconds: None,
                video: None,
            }
            .into(),
        }),
    )
    .await
    .expect("uploaded");
    let tl::enums::MessageMedia::Photo(tl::types::MessageMediaPhoto {
        photo: Some(tl::enums::Photo::Photo(photo)),
        ..
    }) = media
    else {
        panic!("expected a photo, got {media:?}");
    };
    let by_reference = |file_reference: Vec<u8>| tl::types::InputMediaPhoto {
        spoiler: false,
        live_photo: false,
        id: tl::types::InputPhoto {
            id: photo.id,
            access_hash: photo.access_hash,
            file_reference,
        }
        .into(),
        ttl_seconds: None,
        video: None,
    };
    let sent = within(
        "send",
        alice.client.send_message(
            to_bob,
            InputMessage::new()
                .text("again")
                .media(by_reference(photo.file_reference.clone())),
        ),
    )
    .await
    .expect("sent");
    let Some(Media::Photo(sent_photo)) = sent.media() else {
        panic!("expected a photo");
    };
    assert_eq!(sent_photo.id(), photo.id);
    let stale = within(
        "send",
        alice.client.send_message(
            to_bob,
            InputMessage::new()
                .text("stale")
                .media(by_reference(vec![0; 4])),
        ),
    )
    .await;
    match stale {
        Err(error) => assert!(error.is("FILE_REFERENCE_EXPIRED"), "{error:?}"),
        Ok(_) => panic!("a wrong file reference was accepted"),
    }

    // The demo's voice note from Bob.
    let mut history = alice.client.iter_messages(to_bob);
    let mut voice = None;
    while let Some(message) = within("history", history.next()).await.expect("history") {
        if let Some(Media::Document(document)) = message.media()
            && document.name() == Some("voice.ogg")
        {
            voice = Some(document);
            break;
        }
    }
    let voice = voice.expect("the demo has a voice note");
    let attributes = match &voice.raw.document {
        Some(tl::enums::Document::Document(d)) => d.attributes.clone(),
        other => panic!("{other:?}"),
    };
    assert!(attributes.iter().any(|a| matches!(a,
        tl::enums::DocumentAttribute::Audio(a) if a.voice && a.duration == 3 && a.waveform.is_some())));
    assert!(voice.raw.voice);
}

/// `messages.uploadMedia` for a photo: the photo by reference, for an album.
async fn uploaded_photo(
    client: &grammers_client::Client,
    peer: grammers_session::types::PeerRef,
    bytes: &[u8],
) -> tl::enums::InputMedia {
    let uploaded = upload(client, bytes, "p.png").await;
    let media = within(
        "upload media",
        client.invoke(&tl::functions::messages::UploadMedia {
            business_connection_id: None,
            peer: peer.into(),
            media: tl::types::InputMediaUploadedPhoto {
                spoiler: false,
                live_photo: false,
                file: uploaded.raw,
                stickers: None,
                ttl_seconds: None,
                video: None,
            }
            .into(),
        }),
    )
    .await
    .expect("uploaded");
    let tl::enums::MessageMedia::Photo(tl::types::MessageMediaPhoto {
        photo: Some(tl::enums::Photo::Photo(photo)),
        ..
    }) = media
    else {
        panic!("expected a photo, got {media:?}");
    };
    tl::types::InputMediaPhoto {
        spoiler: false,
        live_photo: false,
        id: tl::types::InputPhoto {
            id: photo.id,
            access_hash: photo.access_hash,
            file_reference: photo.file_reference,
        }
        .into(),
        ttl_seconds: None,
        video: None,
    }
    .into()
}

fn send_multi_media(
    peer: grammers_session::types::PeerRef,
    items: Vec<(tl::enums::InputMedia, i64, &str)>,
) -> tl::functions::messages::SendMultiMedia {
    tl::functions::messages::SendMultiMedia {
        silent: false,
        background: false,
        clear_draft: false,
        noforwards: false,
        update_stickersets_order: false,
        invert_media: false,
        allow_paid_floodskip: false,
        peer: peer.into(),
        reply_to: None,
        multi_media: items
            .into_iter()
            .map(|(media, random_id, caption)| {
                tl::types::InputSingleMedia {
                    media,
                    random_id,
                    message: caption.to_owned(),
                    entities: None,
                }
                .into()
            })
            .collect(),
        schedule_date: None,
        send_as: None,
        quick_reply_shortcut: None,
        effect: None,
        allow_paid_stars: None,
    }
}

/// (message id, grouped id) of a new message.
type NewInAlbum = (i32, Option<i64>);
/// (random id, message id) of an `updateMessageID`.
type Assigned = (i64, i32);

/// The new messages of an answer, and the ids assigned to random ids.
fn album_answer(updates: &tl::enums::Updates) -> (Vec<NewInAlbum>, Vec<Assigned>) {
    let tl::enums::Updates::Updates(updates) = updates else {
        panic!("expected updates, got {updates:?}");
    };
    let mut messages = Vec::new();
    let mut assigned = Vec::new();
    for update in &updates.updates {
        match update {
            tl::enums::Update::NewMessage(new) => {
                if let tl::enums::Message::Message(message) = &new.message {
                    messages.push((message.id, message.grouped_id));
                }
            }
            tl::enums::Update::MessageId(id) => assigned.push((id.random_id, id.id)),
            _ => {}
        }
    }
    (messages, assigned)
}

#[tokio::test]
async fn an_album_is_sent_as_grouped_messages_once_per_random_id() {
    let demo = demo().await;
    let alice = signed_in(&demo.sandbox, demo.alice);
    let mut bob = signed_in(&demo.sandbox, demo.bob);
    let (mut bob_updates, _listening) = listen(&mut bob).await;
    let to_bob = dialog_ref(&alice.client, Peer::User(demo.bob)).await;
    let mut items = Vec::new();
    for seed in 0..3_u64 {
        let photo = uploaded_photo(&alice.client, to_bob, &sample_png(20 + seed, 64, 48)).await;
        items.push((
            photo,
            7_000 + seed as i64,
            if seed == 0 { "album" } else { "" },
        ));
    }

    let answer = within(
        "album",
        alice
            .client
            .invoke(&send_multi_media(to_bob, items.clone())),
    )
    .await
    .expect("sent");

    let (messages, assigned) = album_answer(&answer);
    assert_eq!(messages.len(), 3, "one new message per item: {answer:?}");
    assert_eq!(assigned.len(), 3, "one updateMessageID per random_id");
    let grouped = messages[0].1.expect("a grouped_id");
    assert!(messages.iter().all(|(_, group)| *group == Some(grouped)));
    // Bob gets three messages of the same album, the caption on the first.
    let mut received = Vec::new();
    while received.len() < 3 {
        let message = next_matching(&mut bob_updates, "album at bob", |update| match update {
            Update::NewMessage(message) if message.grouped_id().is_some() => {
                Some((message.grouped_id(), message.text().to_owned()))
            }
            _ => None,
        })
        .await;
        received.push(message);
    }
    assert!(received.iter().all(|(group, _)| *group == received[0].0));
    assert_eq!(received[0].1, "album");

    // The same random ids again: the same messages, nothing new.
    let count = |sandbox: &talkapp_tg_sandbox::SandboxHandle| {
        sandbox.world(|w| w.message_count(demo.bob, Peer::User(demo.alice)))
    };
    let before = count(&demo.sandbox);
    let again = within(
        "album again",
        alice.client.invoke(&send_multi_media(to_bob, items)),
    )
    .await
    .expect("answered");
    let (_, assigned_again) = album_answer(&again);
    assert_eq!(assigned_again, assigned);
    assert_eq!(count(&demo.sandbox), before);
}

#[tokio::test]
async fn an_album_refuses_items_not_uploaded_first_and_more_than_ten() {
    let demo = demo().await;
    let alice = signed_in(&demo.sandbox, demo.alice);
    let to_bob = dialog_ref(&alice.client, Peer::User(demo.bob)).await;
    let uploaded = upload(&alice.client, &sample_png(3, 32, 32), "p.png").await;
    let not_by_reference: tl::enums::InputMedia = tl::types::InputMediaUploadedPhoto {
        spoiler: false,
        live_photo: false,
        file: uploaded.raw,
        stickers: None,
        ttl_seconds: None,
        video: None,
    }
    .into();
    let refused = within(
        "album",
        alice
            .client
            .invoke(&send_multi_media(to_bob, vec![(not_by_reference, 1, "")])),
    )
    .await;
    match refused {
        Err(error) => assert!(error.is("MEDIA_INVALID"), "{error:?}"),
        Ok(answer) => panic!("an uploaded item was accepted: {answer:?}"),
    }
    let photo = uploaded_photo(&alice.client, to_bob, &sample_png(4, 32, 32)).await;
    let eleven = (0..11).map(|n| (photo.clone(), 100 + n, "")).collect();
    match within(
        "album",
        alice.client.invoke(&send_multi_media(to_bob, eleven)),
    )
    .await
    {
        Err(error) => assert!(error.is("MULTI_MEDIA_TOO_LONG"), "{error:?}"),
        Ok(answer) => panic!("eleven items were accepted: {answer:?}"),
    }
}
