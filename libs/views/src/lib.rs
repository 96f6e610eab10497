//! A message in its three forms, and the one conversion between each pair: Telegram's
//! (`talkapp_telegram::model::Message`), the store's (`talkapp_store::CachedMessage`,
//! whose details JSON is declared here only) and the wire's (`talkapp.chat.v1.Message`).
//!
//! chat-service (history, chat lists, events) and search-service (message hits) both show
//! messages in chat.v1's shape; both call this crate, so a message looks the same whichever
//! service answers, and the media references the media service resolves (`m:`, `t:`,
//! `p:`) are written in one place (ADR 0054). Neither service may link the other, and the
//! store and the Telegram client do not know each other or the proto's message, hence a
//! crate of its own. A linked account's view ([`accounts`]) is here too: the gateway
//! shows the session list from the store itself (ADR 0072); and so are the chat cache's
//! reads ([`cached_reads`]: the chat list and the history pages the cache covers), which
//! the gateway and the chat service both run (ADR 0073).

pub mod accounts;
pub mod cached_reads;

use chrono::SecondsFormat;
use serde::{Deserialize, Serialize};
use talkapp_proto::chat::v1 as proto;
use talkapp_store::{CachedMessage, CachedUser, ChatProfile, DialogState};
use talkapp_telegram::model::{
    ForwardInfo, MediaInfo, Message, PhotoRef, Presence, TextEntity, TgUser,
};

/// What a cached message keeps beyond its columns: its `details` JSON.
#[derive(Debug, Default, Serialize, Deserialize)]
struct MessageDetails {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    entities: Vec<TextEntity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    forward: Option<ForwardInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    media: Option<MediaInfo>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    silent: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pinned: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    grouped_id: Option<i64>,
}

/// A message as the store keeps it.
pub fn message_record(message: &Message) -> CachedMessage {
    let details = MessageDetails {
        entities: message.entities.clone(),
        forward: message.forward.clone(),
        media: message.media.clone(),
        silent: message.silent,
        pinned: message.pinned,
        grouped_id: message.grouped_id,
    };
    CachedMessage {
        chat_id: message.chat_id,
        message_id: message.id,
        date: message.date,
        edit_date: message.edit_date,
        sender_id: message.sender_id,
        outgoing: message.outgoing,
        text: message.text.clone(),
        reply_to: message.reply_to,
        views: message.views,
        service: message.service.clone(),
        // Serialising plain data cannot fail; an empty object is the safe fallback.
        details: serde_json::to_string(&details).unwrap_or_else(|_| "{}".to_owned()),
    }
}

/// A message from the store. Details that do not parse (written by an older or broken
/// writer) read as none: the message still shows, with its columns.
pub fn message_from_record(record: &CachedMessage) -> Message {
    let details: MessageDetails = serde_json::from_str(&record.details).unwrap_or_default();
    Message {
        chat_id: record.chat_id,
        id: record.message_id,
        sender_id: record.sender_id,
        outgoing: record.outgoing,
        date: record.date,
        edit_date: record.edit_date,
        text: record.text.clone(),
        entities: details.entities,
        reply_to: record.reply_to,
        forward: details.forward,
        media: details.media,
        views: record.views,
        service: record.service.clone(),
        silent: details.silent,
        pinned: details.pinned,
        grouped_id: details.grouped_id,
    }
}

/// Who sent a message (or first sent a forward), as the caller resolved them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sender {
    /// User or chat id.
    pub id: i64,
    /// `user` or `chat`.
    pub kind: &'static str,
    /// Display name.
    pub name: String,
    /// Username; empty when none.
    pub username: String,
    /// Their current photo's Telegram id, when known.
    pub photo_id: Option<i64>,
}

/// A media reference the media service resolves (through the chat service, which
/// resolves it against the account's cache): its text form is written by [`Display`]
/// (`to_string`) and read by [`MediaRef::parse`], here only.
///
/// [`Display`]: std::fmt::Display
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaRef {
    /// A message's file (`m:{chat}:{msg}`).
    File {
        /// The chat.
        chat_id: i64,
        /// The message.
        message_id: i32,
    },
    /// A message's thumbnail (`t:{chat}:{msg}`).
    Thumbnail {
        /// The chat.
        chat_id: i64,
        /// The message.
        message_id: i32,
    },
    /// A chat's (or user's) current photo (`p:{chat}:{photo_id}`).
    ChatPhoto {
        /// The chat or user.
        chat_id: i64,
        /// The photo.
        photo_id: i64,
    },
}

impl MediaRef {
    /// Parses a reference; `None` when malformed.
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.split(':');
        let (Some(part), Some(chat_id), Some(id), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        let chat_id: i64 = chat_id.parse().ok().filter(|id| *id != 0)?;
        match part {
            "m" => Some(Self::File {
                chat_id,
                message_id: id.parse().ok()?,
            }),
            "t" => Some(Self::Thumbnail {
                chat_id,
                message_id: id.parse().ok()?,
            }),
            "p" => Some(Self::ChatPhoto {
                chat_id,
                photo_id: id.parse().ok()?,
            }),
            _ => None,
        }
    }

    /// The chat and message whose file (or thumbnail) this names; none for a photo.
    pub fn message(self) -> Option<(i64, i32)> {
        match self {
            Self::File {
                chat_id,
                message_id,
            }
            | Self::Thumbnail {
                chat_id,
                message_id,
            } => Some((chat_id, message_id)),
            Self::ChatPhoto { .. } => None,
        }
    }
}

impl std::fmt::Display for MediaRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Self::File {
                chat_id,
                message_id,
            } => write!(f, "m:{chat_id}:{message_id}"),
            Self::Thumbnail {
                chat_id,
                message_id,
            } => write!(f, "t:{chat_id}:{message_id}"),
            Self::ChatPhoto { chat_id, photo_id } => write!(f, "p:{chat_id}:{photo_id}"),
        }
    }
}

/// The reference of a chat's (or user's) current photo, `p:<owner>:<photo>`.
pub fn photo_ref(owner_id: i64, photo_id: i64) -> String {
    MediaRef::ChatPhoto {
        chat_id: owner_id,
        photo_id,
    }
    .to_string()
}

/// A time as RFC 3339; empty when it is out of range.
pub fn rfc3339(unix: i64) -> String {
    time(unix).unwrap_or_default()
}

/// A time as RFC 3339; none when it is out of range.
pub fn time(unix: i64) -> Option<String> {
    chrono::DateTime::from_timestamp(unix, 0)
        .map(|at| at.to_rfc3339_opts(SecondsFormat::Secs, true))
}

/// Text the wire carries only when there is some: an empty string is "none".
pub fn filled(text: String) -> Option<String> {
    Some(text).filter(|text| !text.is_empty())
}

/// A number the wire carries only when it is one: 0 and below are "unknown".
fn positive<T: PartialOrd + Default>(value: Option<T>) -> Option<T> {
    value.filter(|value| *value > T::default())
}

/// A sender on the wire.
pub fn to_proto_sender(sender: Sender) -> proto::Sender {
    proto::Sender {
        id: sender.id.to_string(),
        kind: sender.kind.to_owned(),
        name: sender.name,
        username: filled(sender.username),
        photo_id: sender.photo_id.map(|photo| photo_ref(sender.id, photo)),
    }
}

/// A message's media on the wire, its files as references to message `message_id` of
/// `chat_id`.
pub fn to_proto_media(chat_id: i64, message_id: i32, media: MediaInfo) -> proto::Media {
    proto::Media {
        kind: media.kind.as_str().to_owned(),
        file_id: media.file.as_ref().map(|_| {
            MediaRef::File {
                chat_id,
                message_id,
            }
            .to_string()
        }),
        thumbnail_id: media.thumbnail.as_ref().map(|_| {
            MediaRef::Thumbnail {
                chat_id,
                message_id,
            }
            .to_string()
        }),
        mime_type: media.mime_type.and_then(filled),
        size: positive(media.size),
        file_name: media.file_name.and_then(filled),
        width: positive(media.width),
        height: positive(media.height),
        duration: positive(media.duration),
        waveform: media.waveform.filter(|waveform| !waveform.is_empty()),
        title: media.title.and_then(filled),
        performer: media.performer.and_then(filled),
        latitude: media.latitude,
        // Both or neither.
        longitude: media.latitude.map(|_| media.longitude.unwrap_or_default()),
    }
}

/// A message on the wire, with its sender and (for a forward) its original sender as the
/// caller resolved them. What the message lacks is unset, never an empty or zero value.
pub fn to_proto_message(
    message: Message,
    sender: Option<Sender>,
    forward_from: Option<Sender>,
) -> proto::Message {
    proto::Message {
        id: message.id,
        chat_id: message.chat_id.to_string(),
        date: rfc3339(message.date),
        sender: sender.map(to_proto_sender),
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
            from: forward_from.map(to_proto_sender),
            from_name: forward.from_name.and_then(filled),
            date: rfc3339(forward.date),
            channel_post: positive(forward.channel_post),
        }),
        edit_date: message.edit_date.and_then(time),
        media: message
            .media
            .map(|media| to_proto_media(message.chat_id, message.id, media)),
        views: message.views.filter(|views| *views >= 0),
        service: message.service.and_then(filled),
        silent: message.silent,
        pinned: message.pinned,
        grouped_id: message.grouped_id.map(|id| id.to_string()),
    }
}

/// A cached message on the wire: [`message_from_record`], then [`to_proto_message`].
pub fn record_to_proto_message(
    record: &CachedMessage,
    sender: Option<Sender>,
    forward_from: Option<Sender>,
) -> proto::Message {
    to_proto_message(message_from_record(record), sender, forward_from)
}

#[cfg(test)]
mod tests;

/// The photo a cached chat's profile names (its `photo` JSON, as the chat cache writes
/// it); `None` when it has none or the JSON is not a photo.
pub fn profile_photo(profile: &ChatProfile) -> Option<PhotoRef> {
    profile
        .photo
        .as_deref()
        .and_then(|photo| serde_json::from_str(photo).ok())
}

/// A cached chat in the chat list's shape: its profile, its dialog (the list's state;
/// `None` for a chat outside the list: unread 0, not pinned), and what the caller knows
/// beside: its newest message and the other user's presence (a search hit has neither).
pub fn to_proto_chat(
    profile: ChatProfile,
    dialog: Option<&DialogState>,
    last_message: Option<proto::Message>,
    presence: Option<proto::Presence>,
) -> proto::Chat {
    let photo = profile_photo(&profile);
    let now = chrono::Utc::now().timestamp();
    proto::Chat {
        chat_id: profile.chat_id.to_string(),
        kind: profile.kind,
        title: profile.title,
        username: filled(profile.username),
        photo_id: photo.map(|photo| photo_ref(profile.chat_id, photo.photo_id)),
        unread_count: dialog.map_or(0, |dialog| dialog.unread_count),
        last_message,
        pinned: dialog.is_some_and(|dialog| dialog.pinned),
        archived: dialog.is_some_and(|dialog| dialog.archived),
        muted_until: dialog
            .filter(|dialog| dialog.muted_until > now)
            .and_then(|dialog| time(dialog.muted_until)),
        members_count: profile.members_count.filter(|count| *count >= 0),
        read_inbox_max_id: dialog.map_or(0, |dialog| dialog.read_inbox_max_id),
        read_outbox_max_id: dialog.map_or(0, |dialog| dialog.read_outbox_max_id),
        last_activity: dialog
            .filter(|dialog| dialog.top_date > 0)
            .and_then(|dialog| time(dialog.top_date)),
        presence,
    }
}

/// What a cached user keeps beyond its columns.
#[derive(Debug, Serialize, Deserialize)]
struct UserDetails {
    #[serde(default)]
    is_bot: bool,
    #[serde(default)]
    is_contact: bool,
    #[serde(default)]
    is_self: bool,
    #[serde(default)]
    is_deleted: bool,
    presence: Presence,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    photo: Option<PhotoRef>,
}

/// A user as the store keeps them.
pub fn user_record(user: &TgUser) -> CachedUser {
    let details = UserDetails {
        is_bot: user.is_bot,
        is_contact: user.is_contact,
        is_self: user.is_self,
        is_deleted: user.is_deleted,
        presence: user.presence,
        photo: user.photo.clone(),
    };
    CachedUser {
        tg_user_id: user.id,
        first_name: user.first_name.clone(),
        last_name: user.last_name.clone(),
        username: user.username.clone(),
        phone: user.phone.clone(),
        details: serde_json::to_string(&details).unwrap_or_else(|_| "{}".to_owned()),
    }
}

/// A user from the store.
pub fn user_from_record(record: &CachedUser) -> TgUser {
    let details: Option<UserDetails> = serde_json::from_str(&record.details).ok();
    TgUser {
        id: record.tg_user_id,
        first_name: record.first_name.clone(),
        last_name: record.last_name.clone(),
        username: record.username.clone(),
        phone: record.phone.clone(),
        is_bot: details.as_ref().is_some_and(|d| d.is_bot),
        is_contact: details.as_ref().is_some_and(|d| d.is_contact),
        is_self: details.as_ref().is_some_and(|d| d.is_self),
        is_deleted: details.as_ref().is_some_and(|d| d.is_deleted),
        presence: details
            .as_ref()
            .map_or(Presence::Unknown, |details| details.presence),
        photo: details.and_then(|details| details.photo),
    }
}
