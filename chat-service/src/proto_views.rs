//! The domain's reads and jobs in their proto form: shared by the gRPC adapter and the
//! events (which carry the same shapes as the REST replies).

use chrono::SecondsFormat;
use talkapp_proto::chat::v1 as proto;
use talkapp_telegram::chat_members::MemberChange;
use talkapp_telegram::model::{PhotoRef, Presence, TgUser};

use crate::media::FileHeader;
use crate::reads::{ChatDetailsView, ChatView, MessageView, SenderView};

/// A download's header on the wire.
pub(crate) fn file_header_to_proto(header: &FileHeader) -> proto::MediaHeader {
    let (offset, length) = header.range.unwrap_or((0, 0));
    proto::MediaHeader {
        mime_type: header.mime_type.clone(),
        size: header.size,
        file_name: filled(header.file_name.clone()),
        offset,
        length,
        range_satisfiable: header.range.is_some(),
    }
}

/// A download's header from the wire.
pub(crate) fn file_header_from_proto(header: &proto::MediaHeader) -> FileHeader {
    FileHeader {
        mime_type: header.mime_type.clone(),
        size: header.size,
        file_name: header.file_name.clone().unwrap_or_default(),
        range: header
            .range_satisfiable
            .then_some((header.offset, header.length)),
    }
}

pub(crate) fn rfc3339(unix: i64) -> String {
    time(unix).unwrap_or_default()
}

/// A time as RFC 3339; none when it is out of range.
fn time(unix: i64) -> Option<String> {
    chrono::DateTime::from_timestamp(unix, 0)
        .map(|at| at.to_rfc3339_opts(SecondsFormat::Secs, true))
}

/// Text the wire carries only when there is some: an empty string is "none".
pub(crate) fn filled(text: String) -> Option<String> {
    Some(text).filter(|text| !text.is_empty())
}

/// A number the wire carries only when it is one: 0 and below are "unknown".
fn positive<T: PartialOrd + Default>(value: Option<T>) -> Option<T> {
    value.filter(|value| *value > T::default())
}

/// A user's online state as the API words it: the state, and until when (online) or since
/// when (offline) as RFC 3339, none when Telegram hides it.
pub(crate) fn presence_fields(presence: Presence) -> (&'static str, Option<String>) {
    match presence {
        Presence::Online { expires } => ("online", time(expires)),
        Presence::Offline { was_online } => ("offline", time(was_online)),
        Presence::Recently => ("recently", None),
        Presence::LastWeek => ("last_week", None),
        Presence::LastMonth => ("last_month", None),
        Presence::Unknown => ("unknown", None),
    }
}

/// A user's online state on the wire.
pub(crate) fn to_proto_presence(presence: Presence) -> proto::Presence {
    let (status, at) = presence_fields(presence);
    proto::Presence {
        status: status.to_owned(),
        at,
    }
}

/// A Telegram user on the wire (a contact, a person found, a profile).
pub(crate) fn to_proto_user(user: &TgUser) -> proto::TelegramUser {
    proto::TelegramUser {
        id: user.id.to_string(),
        first_name: user.first_name.clone(),
        last_name: filled(user.last_name.clone()),
        username: filled(user.username.clone()),
        phone: filled(user.phone.clone()),
        photo_id: user
            .photo
            .as_ref()
            .map(|photo| photo_reference(user.id, photo)),
    }
}

/// The media reference of a chat's (or user's) current photo.
pub(crate) fn photo_reference(chat_id: i64, photo: &PhotoRef) -> String {
    format!("p:{chat_id}:{}", photo.photo_id)
}

pub(crate) fn to_proto_sender(sender: SenderView) -> proto::Sender {
    proto::Sender {
        id: sender.id.to_string(),
        kind: sender.kind.to_owned(),
        name: sender.name,
        username: filled(sender.username),
        photo_id: sender.photo.map(|photo| photo_reference(sender.id, &photo)),
    }
}

/// A media reference the media service resolves: which message of which chat, and
/// whether the file or its thumbnail.
pub(crate) fn media_ref(chat_id: i64, message_id: i32, part: &str) -> String {
    format!("{part}:{chat_id}:{message_id}")
}

pub(crate) fn to_proto_message(view: MessageView) -> proto::Message {
    let message = view.message;
    let media = message.media.as_ref().map(|media| proto::Media {
        kind: media.kind.as_str().to_owned(),
        file_id: media
            .file
            .as_ref()
            .map(|_| media_ref(message.chat_id, message.id, "m")),
        thumbnail_id: media
            .thumbnail
            .as_ref()
            .map(|_| media_ref(message.chat_id, message.id, "t")),
        mime_type: media.mime_type.clone().and_then(filled),
        size: positive(media.size),
        file_name: media.file_name.clone().and_then(filled),
        width: positive(media.width),
        height: positive(media.height),
        duration: positive(media.duration),
        waveform: media
            .waveform
            .clone()
            .filter(|waveform| !waveform.is_empty()),
        title: media.title.clone().and_then(filled),
        performer: media.performer.clone().and_then(filled),
        latitude: media.latitude,
        // Both or neither.
        longitude: media.latitude.map(|_| media.longitude.unwrap_or_default()),
    });
    proto::Message {
        id: message.id,
        chat_id: message.chat_id.to_string(),
        date: rfc3339(message.date),
        sender: view.sender.map(to_proto_sender),
        outgoing: message.outgoing,
        text: message.text,
        entities: message
            .entities
            .into_iter()
            .map(|entity| proto::Entity {
                kind: entity.kind,
                offset: entity.offset,
                length: entity.length,
                url: entity.url.and_then(filled),
                user_id: entity.user_id.map(|id| id.to_string()),
                language: entity.language.and_then(filled),
            })
            .collect(),
        reply_to: positive(message.reply_to),
        forward: message.forward.map(|forward| proto::Forward {
            from: view.forward_from.map(to_proto_sender),
            from_name: forward.from_name.and_then(filled),
            date: rfc3339(forward.date),
            channel_post: positive(forward.channel_post),
        }),
        edit_date: message.edit_date.and_then(time),
        media,
        views: message.views.filter(|views| *views >= 0),
        service: message.service.and_then(filled),
        silent: message.silent,
        pinned: message.pinned,
        grouped_id: message.grouped_id.map(|id| id.to_string()),
    }
}

pub(crate) fn to_proto_chat(view: ChatView) -> proto::Chat {
    let photo = crate::cache::profile_photo(&view.profile);
    let dialog = view.dialog.unwrap_or(talkapp_store::DialogState {
        unread_count: 0,
        read_inbox_max_id: 0,
        read_outbox_max_id: 0,
        top_message_id: 0,
        top_date: 0,
        pinned: false,
        archived: false,
        muted_until: 0,
    });
    let now = chrono::Utc::now().timestamp();
    proto::Chat {
        chat_id: view.profile.chat_id.to_string(),
        kind: view.profile.kind,
        title: view.profile.title,
        username: filled(view.profile.username),
        photo_id: photo.map(|photo| photo_reference(view.profile.chat_id, &photo)),
        unread_count: dialog.unread_count,
        last_message: view.last_message.map(to_proto_message),
        pinned: dialog.pinned,
        archived: dialog.archived,
        muted_until: (dialog.muted_until > now)
            .then_some(dialog.muted_until)
            .and_then(time),
        members_count: view.profile.members_count.filter(|count| *count >= 0),
        read_inbox_max_id: dialog.read_inbox_max_id,
        read_outbox_max_id: dialog.read_outbox_max_id,
        last_activity: (dialog.top_date > 0)
            .then_some(dialog.top_date)
            .and_then(time),
        presence: view.presence.map(to_proto_presence),
    }
}

pub(crate) fn to_proto_details(details: ChatDetailsView) -> proto::ChatDetails {
    let profile = &details.chat.profile;
    let role = if profile.has_left {
        "left"
    } else if profile.is_creator {
        "creator"
    } else if profile.is_admin {
        "admin"
    } else {
        "member"
    };
    let can_send_messages =
        !profile.has_left && (profile.kind != "channel" || profile.is_creator || profile.is_admin);
    let full = details.full;
    let mut chat = to_proto_chat(details.chat);
    if let Some(members) = full.as_ref().and_then(|full| full.members_count) {
        chat.members_count = Some(members).filter(|count| *count >= 0);
    }
    proto::ChatDetails {
        chat: Some(chat),
        description: full
            .as_ref()
            .map(|full| full.about.clone())
            .filter(|about| !about.is_empty()),
        role: role.to_owned(),
        can_send_messages,
        pinned_message: details.pinned.map(to_proto_message),
        pinned_message_id: full.as_ref().and_then(|full| full.pinned_message_id),
        linked_chat_id: full
            .as_ref()
            .and_then(|full| full.linked_chat_id)
            .map(|id| id.to_string()),
        online_count: full.as_ref().and_then(|full| full.online_count),
        details_complete: full.is_some(),
    }
}

pub(crate) fn to_proto_job(job: talkapp_store::SendJob) -> proto::SendJob {
    proto::SendJob {
        job_id: job.job.job_id.to_string(),
        status: job.status.as_str().to_owned(),
        chat_id: job.job.chat_id.to_string(),
        message_id: job.message_id,
        sent_at: job.sent_date.map(rfc3339),
        failure: job.failure,
        client_message_id: job.job.client_message_id,
        created_at: job
            .job
            .created_at
            .to_rfc3339_opts(SecondsFormat::Millis, true),
        updated_at: job.updated_at.to_rfc3339_opts(SecondsFormat::Millis, true),
        attempts: job.attempts,
        media: job.job.media.map(|media| proto::SendJobMedia {
            kind: media.send_as,
            files: media
                .files
                .into_iter()
                .map(|file| proto::SendJobFile {
                    file_id: file.file_id.to_string(),
                    size: file.size,
                    mime: file.mime,
                    file_name: file.file_name,
                    width: file.width,
                    height: file.height,
                    duration_ms: file.duration_ms,
                })
                .collect(),
        }),
        text: job.job.text,
    }
}

/// A member change as the wire names it: the action and, except for leaving, the user
/// (`123`, `@name` or `+phone`); the reason when it is not acceptable.
pub(crate) fn member_change_from_proto(
    action: i32,
    user: Option<&str>,
) -> Result<MemberChange, String> {
    let action = proto::MemberAction::try_from(action)
        .map_err(|_| "action must be remove, leave, promote or demote".to_owned())?;
    let user = || {
        user.filter(|user| !user.trim().is_empty())
            .ok_or_else(|| "user is required".to_owned())
            .and_then(crate::groups::parse_member)
    };
    match action {
        proto::MemberAction::Unspecified => {
            Err("action must be remove, leave, promote or demote".into())
        }
        proto::MemberAction::Remove => Ok(MemberChange::Remove(user()?)),
        proto::MemberAction::Leave => Ok(MemberChange::Leave),
        proto::MemberAction::Promote => Ok(MemberChange::SetAdmin {
            user: user()?,
            admin: true,
        }),
        proto::MemberAction::Demote => Ok(MemberChange::SetAdmin {
            user: user()?,
            admin: false,
        }),
    }
}

/// The wire form of a member change, the inverse of [`member_change_from_proto`].
pub(crate) fn member_change_to_proto(
    change: &MemberChange,
) -> (proto::MemberAction, Option<String>) {
    match change {
        MemberChange::Remove(user) => (
            proto::MemberAction::Remove,
            Some(crate::groups::member_text(user)),
        ),
        MemberChange::Leave => (proto::MemberAction::Leave, None),
        MemberChange::SetAdmin { user, admin } => (
            if *admin {
                proto::MemberAction::Promote
            } else {
                proto::MemberAction::Demote
            },
            Some(crate::groups::member_text(user)),
        ),
    }
}

#[cfg(test)]
mod tests {
    use talkapp_telegram::model::{ForwardInfo, MediaInfo, MediaKind, Message, TextEntity};

    use super::*;

    fn message(media: Option<MediaInfo>) -> Message {
        Message {
            chat_id: -100_123,
            id: 7,
            sender_id: Some(42),
            outgoing: false,
            date: 1_800_000_000,
            edit_date: None,
            text: "hi".into(),
            entities: vec![TextEntity {
                kind: "pre".into(),
                offset: 0,
                length: 2,
                url: None,
                user_id: None,
                language: Some(String::new()),
            }],
            reply_to: None,
            forward: Some(ForwardInfo {
                from_id: None,
                from_name: Some(String::new()),
                date: 1_700_000_000,
                channel_post: Some(0),
            }),
            media,
            views: None,
            service: None,
            silent: false,
            pinned: false,
            grouped_id: None,
        }
    }

    fn view(message: Message) -> MessageView {
        MessageView {
            message,
            sender: Some(SenderView {
                id: 42,
                kind: "user",
                name: "Ann".into(),
                username: String::new(),
                photo: None,
            }),
            forward_from: None,
        }
    }

    #[test]
    fn what_a_message_lacks_is_unset_on_the_wire_and_never_an_empty_or_zero_value() {
        let mut media = MediaInfo::of_kind(MediaKind::Document);
        media.size = Some(0);
        media.width = Some(-1);
        media.duration = Some(0.0);
        media.mime_type = Some(String::new());
        media.waveform = Some(Vec::new());
        let wire = to_proto_message(view(message(Some(media))));

        assert_eq!(wire.reply_to, None);
        assert_eq!(wire.edit_date, None);
        assert_eq!(wire.views, None);
        assert_eq!(wire.service, None);
        assert_eq!(wire.grouped_id, None);
        let sender = wire.sender.expect("sender");
        assert_eq!((sender.username, sender.photo_id), (None, None));
        let entity = &wire.entities[0];
        assert_eq!(
            (&entity.url, &entity.user_id, &entity.language),
            (&None, &None, &None)
        );
        let forward = wire.forward.expect("forward");
        assert_eq!((forward.from_name, forward.channel_post), (None, None));
        let media = wire.media.expect("media");
        assert_eq!(media.kind, "document");
        assert_eq!((media.file_id, media.thumbnail_id), (None, None));
        assert_eq!((media.size, media.width, media.height), (None, None, None));
        assert_eq!(
            (media.duration, media.mime_type, media.waveform),
            (None, None, None)
        );
        assert_eq!((media.latitude, media.longitude), (None, None));
    }

    #[test]
    fn what_a_message_has_is_set_on_the_wire_as_it_is() {
        let mut media = MediaInfo::of_kind(MediaKind::Location);
        media.latitude = Some(0.0);
        media.longitude = Some(69.25);
        let mut with = message(Some(media));
        with.reply_to = Some(3);
        with.edit_date = Some(1_800_000_060);
        with.views = Some(0);
        with.service = Some("members_joined".into());
        with.grouped_id = Some(13_000_000_000_000_000);
        let wire = to_proto_message(view(with));

        assert_eq!(wire.reply_to, Some(3));
        assert_eq!(wire.edit_date.as_deref(), Some("2027-01-15T08:01:00Z"));
        assert_eq!(wire.views, Some(0), "a channel post nobody saw yet");
        assert_eq!(wire.service.as_deref(), Some("members_joined"));
        assert_eq!(wire.grouped_id.as_deref(), Some("13000000000000000"));
        let media = wire.media.expect("media");
        assert_eq!(media.latitude, Some(0.0), "the equator is a place");
        assert_eq!(media.longitude, Some(69.25));
    }

    #[test]
    fn a_hidden_presence_has_no_time() {
        let online = to_proto_presence(Presence::Online {
            expires: 1_800_000_000,
        });
        assert_eq!(online.status, "online");
        assert_eq!(online.at.as_deref(), Some("2027-01-15T08:00:00Z"));
        let recently = to_proto_presence(Presence::Recently);
        assert_eq!((recently.status.as_str(), recently.at), ("recently", None));
    }
}
