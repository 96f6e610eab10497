//! The domain's reads and jobs in their proto form: shared by the gRPC adapter and the
//! events (which carry the same shapes as the REST replies).

use chrono::SecondsFormat;
use talkapp_proto::chat::v1 as proto;
use talkapp_telegram::chat_members::MemberChange;
use talkapp_telegram::model::{PhotoRef, TgUser};
pub(crate) use talkapp_views::{filled, rfc3339};

use crate::media::FileHeader;
use crate::reads::ChatDetailsView;
pub(crate) use talkapp_views::cached_reads::{
    chat_to_proto as to_proto_chat, message_to_proto as to_proto_message, presence_fields,
    presence_to_proto as to_proto_presence,
};

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
    talkapp_views::photo_ref(chat_id, photo.photo_id)
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
    use talkapp_telegram::model::{ForwardInfo, Message, Presence};

    use super::*;
    use crate::reads::{MessageView, SenderView};

    fn forwarded() -> Message {
        Message {
            chat_id: -100_123,
            id: 7,
            sender_id: Some(42),
            outgoing: false,
            date: 1_800_000_000,
            edit_date: None,
            text: "hi".into(),
            entities: Vec::new(),
            reply_to: None,
            forward: Some(ForwardInfo {
                from_id: Some(43),
                from_name: None,
                date: 1_700_000_000,
                channel_post: None,
            }),
            media: None,
            views: None,
            service: None,
            silent: false,
            pinned: false,
            grouped_id: None,
        }
    }

    fn sender(id: i64, username: &str, photo: Option<i64>) -> SenderView {
        SenderView {
            id,
            kind: "user",
            name: "Ann".into(),
            username: username.into(),
            photo: photo.map(|photo_id| PhotoRef { photo_id, dc_id: 2 }),
        }
    }

    // The conversion itself is talkapp-views' (its tests cover each field); this is the
    // hand-over of the history's senders to it.
    #[test]
    fn a_message_views_senders_go_out_with_their_usernames_and_photos_as_references() {
        let wire = to_proto_message(MessageView {
            message: forwarded(),
            sender: Some(sender(42, "ann", Some(5))),
            forward_from: Some(sender(43, "", Some(6))),
        });
        let sent_by = wire.sender.expect("sender");
        assert_eq!((sent_by.id.as_str(), sent_by.kind.as_str()), ("42", "user"));
        assert_eq!(sent_by.username.as_deref(), Some("ann"));
        assert_eq!(sent_by.photo_id.as_deref(), Some("p:42:5"));
        let from = wire.forward.and_then(|forward| forward.from).expect("from");
        assert_eq!((from.id.as_str(), from.username), ("43", None));
        assert_eq!(from.photo_id.as_deref(), Some("p:43:6"));
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
