//! What TalkApp knows of Telegram's objects, independent of grammers and of the TL schema.
//!
//! Chats are addressed by their Bot-API-style id ([`ChatId`]): a user's id for a private
//! chat, `-id` for a basic group, `-100…` for supergroups and channels. That is the id
//! the TorexTalkWeb frontend already uses and it tells the chat's kind at a glance.
//! Times are Unix seconds.

use serde::{Deserialize, Serialize};

/// A chat's Bot-API-style id.
pub type ChatId = i64;

/// What kind of chat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChatKind {
    /// One to one (including "Saved Messages" with oneself).
    Private,
    /// A basic group.
    Group,
    /// A supergroup.
    Supergroup,
    /// A broadcast channel.
    Channel,
}

impl ChatKind {
    /// Wire and database form.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Private => "private",
            Self::Group => "group",
            Self::Supergroup => "supergroup",
            Self::Channel => "channel",
        }
    }

    /// Parses [`ChatKind::as_str`].
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "private" => Some(Self::Private),
            "group" => Some(Self::Group),
            "supergroup" => Some(Self::Supergroup),
            "channel" => Some(Self::Channel),
            _ => None,
        }
    }
}

/// Whether a user is online, as Telegram tells (or hides) it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Presence {
    /// Online until `expires`.
    Online {
        /// When the online state lapses unless renewed.
        expires: i64,
    },
    /// Offline since `was_online`.
    Offline {
        /// Last seen.
        was_online: i64,
    },
    /// Seen recently (exact time hidden).
    Recently,
    /// Seen within a week.
    LastWeek,
    /// Seen within a month.
    LastMonth,
    /// Not known or never shown.
    Unknown,
}

/// A Telegram user as seen by the account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TgUser {
    /// User id.
    pub id: i64,
    /// First name ("Deleted Account" users have none).
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// Username without `@`.
    pub username: String,
    /// Phone, digits only, when visible.
    pub phone: String,
    /// A bot.
    pub is_bot: bool,
    /// In the account's contacts.
    pub is_contact: bool,
    /// The account itself.
    pub is_self: bool,
    /// A deleted account.
    pub is_deleted: bool,
    /// Online state.
    pub presence: Presence,
    /// Profile photo, if any.
    pub photo: Option<PhotoRef>,
}

impl TgUser {
    /// "First Last", trimmed.
    pub fn full_name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name)
            .trim()
            .to_owned()
    }

    /// The name shown for them: "Deleted Account" for a deleted account (as Telegram's
    /// apps show it), else [`TgUser::full_name`].
    pub fn shown_name(&self) -> String {
        if self.is_deleted {
            "Deleted Account".to_owned()
        } else {
            self.full_name()
        }
    }
}

/// A profile or chat photo: enough to download it through the account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhotoRef {
    /// Telegram's photo id.
    pub photo_id: i64,
    /// The data center holding it.
    pub dc_id: i32,
}

/// A chat as listed (its dialog aside).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatInfo {
    /// Its id.
    pub id: ChatId,
    /// Its kind.
    pub kind: ChatKind,
    /// Title; for private chats the other user's name.
    pub title: String,
    /// Public username, if any.
    pub username: String,
    /// Photo, if any.
    pub photo: Option<PhotoRef>,
    /// Members, where Telegram says.
    pub members_count: Option<i32>,
    /// The account created it.
    pub is_creator: bool,
    /// The account administers it.
    pub is_admin: bool,
    /// The account left or was removed.
    pub has_left: bool,
}

/// A chat in the account's chat list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DialogInfo {
    /// The chat.
    pub chat: ChatInfo,
    /// Unread incoming messages.
    pub unread_count: i32,
    /// Highest incoming message id read by the account.
    pub read_inbox_max_id: i32,
    /// Highest outgoing message id read by the peer.
    pub read_outbox_max_id: i32,
    /// Id of the newest message.
    pub top_message_id: i32,
    /// Pinned in the chat list.
    pub pinned: bool,
    /// In the archive folder.
    pub archived: bool,
    /// Notifications muted until this time (0: not muted).
    pub muted_until: i64,
}

/// A formatting or link span of a message's text (offsets in UTF-16 code units, as
/// Telegram counts them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextEntity {
    /// `bold`, `italic`, `underline`, `strikethrough`, `spoiler`, `code`, `pre`, `url`,
    /// `text_url`, `mention`, `mention_name`, `hashtag`, `cashtag`, `bot_command`,
    /// `email`, `phone`, `blockquote`, `custom_emoji`, `bank_card`, `unknown`.
    pub kind: String,
    /// Start.
    pub offset: i32,
    /// Length.
    pub length: i32,
    /// For `text_url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// For `mention_name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<i64>,
    /// For `pre`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
}

/// Where a forwarded message came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForwardInfo {
    /// The original sender (user or channel), when not hidden.
    pub from_id: Option<ChatId>,
    /// The original sender's name, when the id is hidden.
    pub from_name: Option<String>,
    /// The original date.
    pub date: i64,
    /// The original post id, for channel posts.
    pub channel_post: Option<i32>,
}

/// What kind of media a message carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaKind {
    /// A photo.
    Photo,
    /// A video.
    Video,
    /// A round video message.
    VideoNote,
    /// A voice message.
    Voice,
    /// Music or other audio.
    Audio,
    /// A GIF-like animation.
    Animation,
    /// A sticker.
    Sticker,
    /// Any other file.
    Document,
    /// A location or venue.
    Location,
    /// A shared contact.
    Contact,
    /// A poll.
    Poll,
    /// A link preview.
    WebPage,
    /// Something TalkApp does not describe yet.
    Other,
}

impl MediaKind {
    /// Wire form.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Photo => "photo",
            Self::Video => "video",
            Self::VideoNote => "video_note",
            Self::Voice => "voice",
            Self::Audio => "audio",
            Self::Animation => "animation",
            Self::Sticker => "sticker",
            Self::Document => "document",
            Self::Location => "location",
            Self::Contact => "contact",
            Self::Poll => "poll",
            Self::WebPage => "web_page",
            Self::Other => "other",
        }
    }
}

/// Where a file lives at Telegram: what `upload.getFile` needs (with the account that
/// can see it). Kept as given; the file reference may expire and is then refreshed by
/// fetching the message again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FileLocation {
    /// A photo, at one of its sizes (`thumb_size` is Telegram's size letter).
    Photo {
        /// Photo id.
        id: i64,
        /// Access hash.
        access_hash: i64,
        /// File reference (bytes).
        file_reference: Vec<u8>,
        /// Size letter (`s`, `m`, `x`, `y`, ...).
        thumb_size: String,
        /// Data center.
        dc_id: i32,
    },
    /// A document (or one of its thumbnails when `thumb_size` is not empty).
    Document {
        /// Document id.
        id: i64,
        /// Access hash.
        access_hash: i64,
        /// File reference (bytes).
        file_reference: Vec<u8>,
        /// Empty for the document itself, else a thumbnail's size letter.
        thumb_size: String,
        /// Data center.
        dc_id: i32,
    },
}

/// A message's media, described.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MediaInfo {
    /// Kind.
    pub kind: MediaKind,
    /// The file, for kinds that have one.
    pub file: Option<FileLocation>,
    /// A small preview (largest thumbnail), if any.
    pub thumbnail: Option<FileLocation>,
    /// MIME type.
    pub mime_type: Option<String>,
    /// Bytes.
    pub size: Option<i64>,
    /// Original file name.
    pub file_name: Option<String>,
    /// Pixels.
    pub width: Option<i32>,
    /// Pixels.
    pub height: Option<i32>,
    /// Seconds.
    pub duration: Option<f64>,
    /// Voice waveform (5-bit samples packed, as Telegram sends it).
    pub waveform: Option<Vec<u8>>,
    /// Audio title.
    pub title: Option<String>,
    /// Audio performer.
    pub performer: Option<String>,
    /// Latitude, for locations.
    pub latitude: Option<f64>,
    /// Longitude, for locations.
    pub longitude: Option<f64>,
}

impl MediaInfo {
    /// A description of `kind` with nothing else known yet.
    pub fn of_kind(kind: MediaKind) -> Self {
        Self {
            kind,
            file: None,
            thumbnail: None,
            mime_type: None,
            size: None,
            file_name: None,
            width: None,
            height: None,
            duration: None,
            waveform: None,
            title: None,
            performer: None,
            latitude: None,
            longitude: None,
        }
    }
}

/// A message as TalkApp keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// The chat.
    pub chat_id: ChatId,
    /// Id within the chat (per account for private chats and basic groups).
    pub id: i32,
    /// The sender (user id, or a channel's id for posts); `None` when anonymous.
    pub sender_id: Option<ChatId>,
    /// Sent by the account.
    pub outgoing: bool,
    /// When sent.
    pub date: i64,
    /// When last edited.
    pub edit_date: Option<i64>,
    /// Text (or the media caption).
    pub text: String,
    /// Formatting and links.
    pub entities: Vec<TextEntity>,
    /// The message this replies to.
    pub reply_to: Option<i32>,
    /// Forward header.
    pub forward: Option<ForwardInfo>,
    /// Media.
    pub media: Option<MediaInfo>,
    /// Views, for channel posts.
    pub views: Option<i32>,
    /// A service message (someone joined, the title changed): what happened.
    pub service: Option<String>,
    /// Sent without notification.
    pub silent: bool,
    /// Pinned in its chat.
    pub pinned: bool,
    /// Album id, for messages sent as one group.
    pub grouped_id: Option<i64>,
}

/// What a user is doing in a chat ("typing...").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChatAction {
    /// Typing.
    Typing,
    /// Stopped.
    Cancel,
    /// Recording a voice message.
    RecordingVoice,
    /// Recording a video.
    RecordingVideo,
    /// Uploading a photo.
    UploadingPhoto,
    /// Uploading a video.
    UploadingVideo,
    /// Uploading a document.
    UploadingDocument,
    /// Something else.
    Other,
}

/// A change Telegram reported, normalised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TelegramUpdate {
    /// A new message (incoming or sent by the account from anywhere).
    NewMessage {
        /// The message.
        message: Message,
    },
    /// A message was edited.
    MessageEdited {
        /// The message as it is now.
        message: Message,
    },
    /// Messages were deleted. `chat_id` is `None` for private chats and basic groups:
    /// their ids are unique within the account, Telegram does not say the chat.
    MessagesDeleted {
        /// The chat, for supergroups and channels.
        chat_id: Option<ChatId>,
        /// Their ids.
        message_ids: Vec<i32>,
    },
    /// The account read incoming messages (on any of its devices).
    ReadInbox {
        /// The chat.
        chat_id: ChatId,
        /// Read up to here.
        max_id: i32,
        /// Still unread after that.
        still_unread_count: i32,
    },
    /// The peer read the account's messages.
    ReadOutbox {
        /// The chat.
        chat_id: ChatId,
        /// Read up to here.
        max_id: i32,
    },
    /// A user's online state changed.
    UserStatus {
        /// The user.
        user_id: i64,
        /// The new state.
        presence: Presence,
    },
    /// Someone is typing (or doing something) in a chat.
    Typing {
        /// The chat.
        chat_id: ChatId,
        /// Who.
        sender_id: ChatId,
        /// What.
        action: ChatAction,
    },
    /// Someone joined or left a group.
    ChatMember {
        /// The group.
        chat_id: ChatId,
        /// The user.
        user_id: i64,
        /// Joined (else left or was removed).
        joined: bool,
    },
    /// A chat's details changed (title, photo, membership): read it again.
    ChatChanged {
        /// The chat.
        chat_id: ChatId,
    },
    /// Messages were pinned or unpinned in a chat (on any device, by anyone allowed).
    MessagesPinned {
        /// The chat.
        chat_id: ChatId,
        /// Their ids.
        message_ids: Vec<i32>,
        /// Pinned now (else unpinned).
        pinned: bool,
    },
    /// A chat was pinned or unpinned in the chat list.
    DialogPinned {
        /// The chat.
        chat_id: ChatId,
        /// Pinned now.
        pinned: bool,
    },
    /// A chat's notification settings changed.
    NotifySettings {
        /// The chat.
        chat_id: ChatId,
        /// Muted until (0: not muted).
        muted_until: i64,
    },
}

/// A message was sent: its id and date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentMessage {
    /// The message id in the chat.
    pub id: i32,
    /// When Telegram accepted it.
    pub date: i64,
}

/// A page of the chat list.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DialogsPage {
    /// The chats, newest activity first.
    pub dialogs: Vec<DialogInfo>,
    /// Each chat's newest message, where there is one.
    pub messages: Vec<Message>,
    /// Users the page mentions.
    pub users: Vec<TgUser>,
    /// How many chats there are in all, when Telegram says.
    pub total: Option<i32>,
    /// Whether this was the last page.
    pub complete: bool,
}

/// A page of history, newest first.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MessagesPage {
    /// The messages.
    pub messages: Vec<Message>,
    /// Users they mention.
    pub users: Vec<TgUser>,
    /// Chats they mention.
    pub chats: Vec<ChatInfo>,
    /// How many there are in all, when Telegram says.
    pub total: Option<i32>,
}

/// What Telegram tells of a chat beyond its listing (`getFullChat`, `getFullChannel`,
/// `getFullUser`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ChatFullInfo {
    /// The description (bio for users).
    pub about: String,
    /// Members, where Telegram says.
    pub members_count: Option<i32>,
    /// Members online now, where Telegram says.
    pub online_count: Option<i32>,
    /// The pinned message.
    pub pinned_message_id: Option<i32>,
    /// The linked discussion group or channel.
    pub linked_chat_id: Option<ChatId>,
}
