use talkapp_telegram::model::{FileLocation, MediaKind};

use super::*;

const CHAT: i64 = -100_123;

fn message() -> Message {
    Message {
        chat_id: CHAT,
        id: 7,
        sender_id: Some(42),
        outgoing: false,
        date: 1_800_000_000,
        edit_date: None,
        text: "hi".into(),
        entities: Vec::new(),
        reply_to: None,
        forward: None,
        media: None,
        views: None,
        service: None,
        silent: false,
        pinned: false,
        grouped_id: None,
    }
}

fn sender(id: i64, photo_id: Option<i64>) -> Sender {
    Sender {
        id,
        kind: "user",
        name: "Ann".into(),
        username: String::new(),
        photo_id,
    }
}

fn file() -> FileLocation {
    FileLocation::Photo {
        id: 1,
        access_hash: 2,
        file_reference: vec![3],
        thumb_size: "y".into(),
        dc_id: 2,
    }
}

fn entity(
    kind: &str,
    url: Option<&str>,
    user_id: Option<i64>,
    language: Option<&str>,
) -> TextEntity {
    TextEntity {
        kind: kind.into(),
        offset: 0,
        length: 2,
        url: url.map(str::to_owned),
        user_id,
        language: language.map(str::to_owned),
    }
}

#[test]
fn a_plain_text_message_has_its_columns_and_nothing_it_lacks() {
    let wire = to_proto_message(message(), Some(sender(42, None)), None);

    assert_eq!((wire.id, wire.chat_id.as_str()), (7, "-100123"));
    assert_eq!(wire.date, "2027-01-15T08:00:00Z");
    assert_eq!(wire.text, "hi");
    assert!(!wire.outgoing);
    assert!(wire.entities.is_empty());
    assert_eq!(
        (wire.reply_to, wire.edit_date, wire.views),
        (None, None, None)
    );
    assert_eq!((wire.service, wire.grouped_id), (None, None));
    assert_eq!((wire.forward, wire.media), (None, None));
    assert!(!wire.silent && !wire.pinned);
    let sender = wire.sender.expect("sender");
    assert_eq!((sender.id.as_str(), sender.kind.as_str()), ("42", "user"));
    assert_eq!((sender.username, sender.photo_id), (None, None));
}

#[test]
fn entities_keep_their_url_user_and_language_and_unset_them_when_empty() {
    let mut with = message();
    with.entities = vec![
        entity("text_url", Some("https://t.me"), None, None),
        entity("mention_name", None, Some(9), None),
        entity("pre", None, None, Some("rust")),
        entity("pre", Some(""), None, Some("")),
    ];
    let wire = to_proto_message(with, None, None);

    let parts: Vec<_> = wire
        .entities
        .iter()
        .map(|entity| {
            (
                entity.kind.as_str(),
                entity.url.as_deref(),
                entity.user_id.as_deref(),
                entity.language.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        parts,
        [
            ("text_url", Some("https://t.me"), None, None),
            ("mention_name", None, Some("9"), None),
            ("pre", None, None, Some("rust")),
            ("pre", None, None, None),
        ]
    );
    assert_eq!((wire.entities[0].offset, wire.entities[0].length), (0, 2));
}

#[test]
fn a_forward_names_its_original_sender_their_name_its_date_and_post() {
    let mut with = message();
    with.forward = Some(ForwardInfo {
        from_id: Some(-1009),
        from_name: Some("News".into()),
        date: 1_700_000_000,
        channel_post: Some(55),
    });
    let wire = to_proto_message(with, None, Some(sender(-1009, Some(77))));
    let forward = wire.forward.expect("forward");
    assert_eq!(forward.from_name.as_deref(), Some("News"));
    assert_eq!(forward.date, "2023-11-14T22:13:20Z");
    assert_eq!(forward.channel_post, Some(55));
    let from = forward.from.expect("original sender");
    assert_eq!(from.id, "-1009");
    assert_eq!(from.photo_id.as_deref(), Some("p:-1009:77"));

    let mut hidden = message();
    hidden.forward = Some(ForwardInfo {
        from_id: None,
        from_name: Some(String::new()),
        date: 1_700_000_000,
        channel_post: Some(0),
    });
    let forward = to_proto_message(hidden, None, None)
        .forward
        .expect("forward");
    assert_eq!(
        (forward.from, forward.from_name, forward.channel_post),
        (None, None, None)
    );
}

#[test]
fn each_kind_of_media_is_named_and_its_files_are_references_to_the_message() {
    let kinds = [
        (MediaKind::Photo, "photo"),
        (MediaKind::Video, "video"),
        (MediaKind::VideoNote, "video_note"),
        (MediaKind::Voice, "voice"),
        (MediaKind::Audio, "audio"),
        (MediaKind::Animation, "animation"),
        (MediaKind::Sticker, "sticker"),
        (MediaKind::Document, "document"),
        (MediaKind::Location, "location"),
        (MediaKind::Contact, "contact"),
        (MediaKind::Poll, "poll"),
        (MediaKind::WebPage, "web_page"),
        (MediaKind::Other, "other"),
    ];
    for (kind, name) in kinds {
        let mut media = MediaInfo::of_kind(kind);
        media.file = Some(file());
        media.thumbnail = Some(file());
        let mut with = message();
        with.media = Some(media);
        let media = to_proto_message(with, None, None).media.expect("media");
        assert_eq!(media.kind, name);
        assert_eq!(media.file_id.as_deref(), Some("m:-100123:7"), "{name}");
        assert_eq!(media.thumbnail_id.as_deref(), Some("t:-100123:7"), "{name}");
    }
}

#[test]
fn a_files_description_is_kept_and_what_is_empty_or_zero_is_unset() {
    let mut media = MediaInfo::of_kind(MediaKind::Audio);
    media.mime_type = Some("audio/ogg".into());
    media.size = Some(1_024);
    media.file_name = Some("song.ogg".into());
    media.width = Some(640);
    media.height = Some(480);
    media.duration = Some(3.5);
    media.waveform = Some(vec![1, 2]);
    media.title = Some("Song".into());
    media.performer = Some("Band".into());
    let mut with = message();
    with.media = Some(media);
    let wire = to_proto_message(with, None, None).media.expect("media");
    assert_eq!(wire.mime_type.as_deref(), Some("audio/ogg"));
    assert_eq!(wire.file_name.as_deref(), Some("song.ogg"));
    assert_eq!(
        (wire.size, wire.width, wire.height),
        (Some(1_024), Some(640), Some(480))
    );
    assert_eq!(wire.duration, Some(3.5));
    assert_eq!(wire.waveform, Some(vec![1, 2]));
    assert_eq!(
        (wire.title.as_deref(), wire.performer.as_deref()),
        (Some("Song"), Some("Band"))
    );

    let mut empty = MediaInfo::of_kind(MediaKind::Document);
    empty.mime_type = Some(String::new());
    empty.size = Some(0);
    empty.file_name = Some(String::new());
    empty.width = Some(-1);
    empty.height = Some(0);
    empty.duration = Some(0.0);
    empty.waveform = Some(Vec::new());
    empty.title = Some(String::new());
    empty.performer = Some(String::new());
    let mut with = message();
    with.media = Some(empty);
    let wire = to_proto_message(with, None, None).media.expect("media");
    assert_eq!((wire.file_id, wire.thumbnail_id), (None, None));
    assert_eq!((wire.mime_type, wire.file_name), (None, None));
    assert_eq!((wire.size, wire.width, wire.height), (None, None, None));
    assert_eq!((wire.duration, wire.waveform), (None, None));
    assert_eq!((wire.title, wire.performer), (None, None));
    assert_eq!((wire.latitude, wire.longitude), (None, None));
}

#[test]
fn a_location_has_both_coordinates_or_neither() {
    let mut media = MediaInfo::of_kind(MediaKind::Location);
    media.latitude = Some(0.0);
    media.longitude = Some(69.25);
    let wire = to_proto_media(CHAT, 7, media);
    assert_eq!(wire.latitude, Some(0.0), "the equator is a place");
    assert_eq!(wire.longitude, Some(69.25));

    let mut only_latitude = MediaInfo::of_kind(MediaKind::Location);
    only_latitude.latitude = Some(41.3);
    let wire = to_proto_media(CHAT, 7, only_latitude);
    assert_eq!((wire.latitude, wire.longitude), (Some(41.3), Some(0.0)));

    let mut only_longitude = MediaInfo::of_kind(MediaKind::Location);
    only_longitude.longitude = Some(69.25);
    let wire = to_proto_media(CHAT, 7, only_longitude);
    assert_eq!((wire.latitude, wire.longitude), (None, None));
}

#[test]
fn a_reply_an_edit_views_a_service_message_and_an_album_are_set_as_they_are() {
    let mut with = message();
    with.outgoing = true;
    with.reply_to = Some(3);
    with.edit_date = Some(1_800_000_060);
    with.views = Some(0);
    with.service = Some("members_joined".into());
    with.silent = true;
    with.pinned = true;
    with.grouped_id = Some(13_000_000_000_000_000);
    let wire = to_proto_message(with, None, None);
    assert!(wire.outgoing && wire.silent && wire.pinned);
    assert_eq!(wire.reply_to, Some(3));
    assert_eq!(wire.date, "2027-01-15T08:00:00Z", "sent, not edited");
    assert_eq!(wire.edit_date.as_deref(), Some("2027-01-15T08:01:00Z"));
    assert_eq!(wire.views, Some(0), "a channel post nobody saw yet");
    assert_eq!(wire.service.as_deref(), Some("members_joined"));
    assert_eq!(wire.grouped_id.as_deref(), Some("13000000000000000"));

    let mut unknown = message();
    unknown.reply_to = Some(0);
    unknown.views = Some(-1);
    unknown.service = Some(String::new());
    unknown.edit_date = Some(i64::MAX);
    let wire = to_proto_message(unknown, None, None);
    assert_eq!((wire.reply_to, wire.views), (None, None));
    assert_eq!((wire.service, wire.edit_date), (None, None));
}

#[test]
fn a_sender_with_a_photo_and_a_username_has_them_on_the_wire() {
    let mut ann = sender(42, Some(5));
    ann.username = "ann".into();
    let wire = to_proto_sender(ann);
    assert_eq!(wire.username.as_deref(), Some("ann"));
    assert_eq!(wire.photo_id.as_deref(), Some("p:42:5"));
    assert_eq!(photo_ref(-1001, 6), "p:-1001:6");
}

#[test]
fn a_reference_reads_back_as_written_and_a_malformed_one_does_not() {
    let references = [
        MediaRef::File {
            chat_id: -1001,
            message_id: 7,
        },
        MediaRef::Thumbnail {
            chat_id: 5,
            message_id: 2,
        },
        MediaRef::ChatPhoto {
            chat_id: 42,
            photo_id: 9_007_199_254_740_993,
        },
    ];
    let written: Vec<String> = references.iter().map(ToString::to_string).collect();
    assert_eq!(written, ["m:-1001:7", "t:5:2", "p:42:9007199254740993"]);
    for (reference, text) in references.iter().zip(&written) {
        assert_eq!(MediaRef::parse(text).as_ref(), Some(reference));
    }
    assert_eq!(
        references.map(MediaRef::message),
        [Some((-1001, 7)), Some((5, 2)), None]
    );
    for bad in [
        "",
        "m:1",
        "x:1:2",
        "m:0:1",
        "m:1:2:3",
        "t:a:1",
        "m:1:99999999999",
    ] {
        assert_eq!(MediaRef::parse(bad), None, "{bad}");
    }
}

fn rich_message() -> Message {
    let mut media = MediaInfo::of_kind(MediaKind::Photo);
    media.file = Some(file());
    media.width = Some(800);
    let mut rich = message();
    rich.entities = vec![entity("text_url", Some("https://t.me"), None, None)];
    rich.forward = Some(ForwardInfo {
        from_id: Some(5),
        from_name: None,
        date: 1_700_000_000,
        channel_post: None,
    });
    rich.media = Some(media);
    rich.reply_to = Some(4);
    rich.views = Some(10);
    rich.silent = true;
    rich.pinned = true;
    rich.grouped_id = Some(99);
    rich
}

#[test]
fn a_stored_message_reads_back_as_the_message_that_was_stored() {
    let rich = rich_message();
    let record = message_record(&rich);
    assert_eq!(message_from_record(&record), rich);
    assert_eq!(
        record_to_proto_message(&record, Some(sender(42, None)), None),
        to_proto_message(rich, Some(sender(42, None)), None)
    );
    assert_eq!(
        message_record(&message()).details,
        "{}",
        "nothing kept for nothing"
    );
}

#[test]
fn details_as_the_cache_has_written_them_read_the_same() {
    // The details JSON of rows already in stores: its field names are a storage format.
    let record = CachedMessage {
        details: concat!(
            r#"{"entities":[{"kind":"text_url","offset":0,"length":2,"url":"https://t.me"}],"#,
            r#""forward":{"from_id":5,"from_name":null,"date":1700000000,"channel_post":null},"#,
            r#""media":{"kind":"photo","width":800},"silent":true,"pinned":true,"grouped_id":99}"#
        )
        .into(),
        ..message_record(&message())
    };
    let read = message_from_record(&record);
    assert_eq!(read.entities[0].url.as_deref(), Some("https://t.me"));
    assert_eq!(
        read.forward.as_ref().and_then(|forward| forward.from_id),
        Some(5)
    );
    let media = read.media.as_ref().expect("media");
    assert_eq!((media.kind, media.width), (MediaKind::Photo, Some(800)));
    assert!(read.silent && read.pinned);
    assert_eq!(read.grouped_id, Some(99));

    let broken = CachedMessage {
        details: "not json".into(),
        ..message_record(&rich_message())
    };
    let read = message_from_record(&broken);
    assert_eq!(
        (read.text.as_str(), read.reply_to),
        ("hi", Some(4)),
        "the columns stay"
    );
    assert_eq!(
        (read.entities.len(), read.forward, read.media),
        (0, None, None)
    );
}

fn profile(photo: Option<&str>, members_count: Option<i32>) -> ChatProfile {
    ChatProfile {
        chat_id: CHAT,
        kind: "supergroup".into(),
        title: "Team".into(),
        username: String::new(),
        photo: photo.map(str::to_owned),
        members_count,
        is_creator: false,
        is_admin: false,
        has_left: false,
    }
}

#[test]
fn a_listed_chat_has_its_dialogs_state_and_a_chat_outside_the_list_has_none() {
    let now = chrono::Utc::now().timestamp();
    let dialog = DialogState {
        unread_count: 3,
        read_inbox_max_id: 10,
        read_outbox_max_id: 9,
        top_message_id: 12,
        top_date: 1_800_000_000,
        pinned: true,
        archived: true,
        muted_until: now + 3600,
    };
    let listed = to_proto_chat(
        profile(Some(r#"{"photo_id":9,"dc_id":2}"#), Some(5)),
        Some(&dialog),
        Some(to_proto_message(message(), None, None)),
        Some(proto::Presence {
            status: "online".into(),
            ..Default::default()
        }),
    );
    assert_eq!(listed.chat_id, CHAT.to_string());
    assert_eq!(listed.username, None, "an empty username is unset");
    assert_eq!(listed.photo_id, Some(photo_ref(CHAT, 9)));
    assert_eq!(listed.members_count, Some(5));
    assert_eq!(
        (
            listed.unread_count,
            listed.read_inbox_max_id,
            listed.read_outbox_max_id
        ),
        (3, 10, 9)
    );
    assert!(listed.pinned && listed.archived);
    assert_eq!(listed.muted_until, time(now + 3600));
    assert_eq!(listed.last_activity, time(1_800_000_000));
    assert_eq!(listed.last_message.map(|message| message.id), Some(7));
    assert_eq!(
        listed.presence.map(|presence| presence.status),
        Some("online".into())
    );

    let past = DialogState {
        muted_until: now - 1,
        top_date: 0,
        ..dialog
    };
    let unmuted = to_proto_chat(profile(None, Some(-1)), Some(&past), None, None);
    assert_eq!(unmuted.muted_until, None, "a mute that ended is unset");
    assert_eq!(unmuted.last_activity, None, "no date is no activity");
    assert_eq!(unmuted.members_count, None, "a negative count is unknown");
    assert_eq!(unmuted.photo_id, None);

    let outside = to_proto_chat(profile(Some("not a photo"), None), None, None, None);
    assert_eq!(outside.photo_id, None, "a malformed photo is none");
    assert_eq!((outside.unread_count, outside.read_inbox_max_id), (0, 0));
    assert!(!outside.pinned && !outside.archived);
    assert_eq!((outside.muted_until, outside.last_activity), (None, None));
}

#[test]
fn a_stored_user_reads_back_as_the_user_that_was_stored_and_unknown_details_as_none() {
    let user = TgUser {
        id: 42,
        first_name: "Ann".into(),
        last_name: "Lee".into(),
        username: "ann".into(),
        phone: "15550001".into(),
        is_bot: false,
        is_contact: true,
        is_self: false,
        is_deleted: true,
        presence: Presence::Offline {
            was_online: 1_800_000_000,
        },
        photo: Some(PhotoRef {
            photo_id: 9,
            dc_id: 2,
        }),
    };
    let record = user_record(&user);
    assert_eq!(user_from_record(&record), user);
    assert_eq!(user.shown_name(), "Deleted Account");
    let broken = CachedUser {
        details: "not json".into(),
        ..record
    };
    let read = user_from_record(&broken);
    assert_eq!(read.shown_name(), "Ann Lee");
    assert_eq!(read.presence, Presence::Unknown);
    assert_eq!(
        (read.is_contact, read.is_deleted, read.photo),
        (false, false, None)
    );
}
