//! The domain's reads and jobs in their proto form: shared by the gRPC adapter and the
//! events (which carry the same shapes as the REST replies).

use chrono::SecondsFormat;
use talkapp_proto::chat::v1 as proto;
use talkapp_telegram::chat_members::MemberChange;
use talkapp_telegram::model::{PhotoRef, Presence};

use crate::media::FileHeader;
use crate::reads::{ChatDetailsView, ChatView, MessageView, SenderView};

/// A download's header on the wire.
pub(crate) fn file_header_to_proto(header: &FileHeader) -> proto::MediaHeader {
    let (offset, length) = header.range.unwrap_or((0, 0));
    proto::MediaHeader {
        mime_type: header.mime_type.clone(),
        size: header.size,
        file_name: header.file_name.clone(),
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
        file_name: header.file_name.clone(),
        range: header
            .range_satisfiable
            .then_some((header.offset, header.length)),
    }
}

pub(crate) fn rfc3339(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .map(|at| at.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// A user's online state as the API words it: the state, and until when (online) or since
/// when (offline) as RFC 3339, empty when Telegram hides it.
pub(crate) fn presence_fields(presence: Presence) -> (&'static str, String) {
    match presence {
        Presence::Online { expires } => ("online", rfc3339(expires)),
        Presence::Offline { was_online } => ("offline", rfc3339(was_online)),
        Presence::Recently => ("recently", String::new()),
        Presence::LastWeek => ("last_week", String::new()),
        Presence::LastMonth => ("last_month", String::new()),
        Presence::Unknown => ("unknown", String::new()),
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
        username: sender.username,
        photo_id: sender
            .photo
            .map(|photo| photo_reference(sender.id, &photo))
            .unwrap_or_default(),
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
            .map(|_| media_ref(message.chat_id, message.id, "m"))
            .unwrap_or_default(),
        thumbnail_id: media
            .thumbnail
            .as_ref()
            .map(|_| media_ref(message.chat_id, message.id, "t"))
            .unwrap_or_default(),
        mime_type: media.mime_type.clone().unwrap_or_default(),
        size: media.size.unwrap_or(0),
        file_name: media.file_name.clone().unwrap_or_default(),
        width: media.width.unwrap_or(0),
        height: media.height.unwrap_or(0),
        duration: media.duration.unwrap_or(0.0),
        waveform: media.waveform.clone().unwrap_or_default(),
        title: media.title.clone().unwrap_or_default(),
        performer: media.performer.clone().unwrap_or_default(),
        has_location: media.latitude.is_some(),
        latitude: media.latitude.unwrap_or(0.0),
        longitude: media.longitude.unwrap_or(0.0),
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
                url: entity.url.unwrap_or_default(),
                user_id: entity.user_id.map(|id| id.to_string()).unwrap_or_default(),
                language: entity.language.unwrap_or_default(),
            })
            .collect(),
        reply_to: message.reply_to.unwrap_or(0),
        forward: message.forward.map(|forward| proto::Forward {
            from: view.forward_from.map(to_proto_sender),
            from_name: forward.from_name.unwrap_or_default(),
            date: rfc3339(forward.date),
            channel_post: forward.channel_post.unwrap_or(0),
        }),
        edit_date: message.edit_date.map(rfc3339).unwrap_or_default(),
        media,
        views: message.views.unwrap_or(-1),
        service: message.service.unwrap_or_default(),
        silent: message.silent,
        pinned: message.pinned,
        grouped_id: message
            .grouped_id
            .map(|id| id.to_string())
            .unwrap_or_default(),
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
        username: view.profile.username,
        photo_id: photo
            .map(|photo| photo_reference(view.profile.chat_id, &photo))
            .unwrap_or_default(),
        unread_count: dialog.unread_count,
        last_message: view.last_message.map(to_proto_message),
        pinned: dialog.pinned,
        archived: dialog.archived,
        muted_until: if dialog.muted_until > now {
            rfc3339(dialog.muted_until)
        } else {
            String::new()
        },
        members_count: view.profile.members_count.unwrap_or(-1),
        read_inbox_max_id: dialog.read_inbox_max_id,
        read_outbox_max_id: dialog.read_outbox_max_id,
        last_activity: if dialog.top_date > 0 {
            rfc3339(dialog.top_date)
        } else {
            String::new()
        },
        presence: view.presence.map(|presence| {
            let (status, at) = presence_fields(presence);
            proto::Presence {
                status: status.to_owned(),
                at,
            }
        }),
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
        chat.members_count = members;
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
