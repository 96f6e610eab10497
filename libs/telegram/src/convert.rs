//! From Telegram's TL objects to [`crate::model`]. Pure functions: no I/O, no grammers
//! state, so every mapping is unit-tested on hand-built TL values.

use grammers_tl_types as tl;

use crate::model::{
    ChatAction, ChatId, ChatInfo, ChatKind, DialogInfo, FileLocation, ForwardInfo, MediaInfo,
    MediaKind, Message, PhotoRef, Presence, TelegramUpdate, TextEntity, TgUser,
};

/// Bot API ids of channels are `-(10^12 + id)`.
const CHANNEL_ID_OFFSET: i64 = 1_000_000_000_000;

/// A private chat's id (the user's id).
pub fn user_chat_id(user_id: i64) -> ChatId {
    user_id
}

/// A basic group's id.
pub fn group_chat_id(chat_id: i64) -> ChatId {
    -chat_id
}

/// A supergroup's or channel's id.
pub fn channel_chat_id(channel_id: i64) -> ChatId {
    -(CHANNEL_ID_OFFSET + channel_id)
}

/// What a chat id stands for, with Telegram's bare id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BarePeer {
    /// A user.
    User(i64),
    /// A basic group.
    Chat(i64),
    /// A supergroup or channel.
    Channel(i64),
}

/// Splits a chat id into its kind and bare id; `None` for 0 and ids outside every range.
pub fn bare_peer(chat_id: ChatId) -> Option<BarePeer> {
    if chat_id > 0 {
        Some(BarePeer::User(chat_id))
    } else if chat_id < -CHANNEL_ID_OFFSET {
        Some(BarePeer::Channel(-chat_id - CHANNEL_ID_OFFSET))
    } else if chat_id < 0 {
        Some(BarePeer::Chat(-chat_id))
    } else {
        None
    }
}

/// The chat id of a TL peer.
pub fn chat_id_of(peer: &tl::enums::Peer) -> ChatId {
    match peer {
        tl::enums::Peer::User(user) => user_chat_id(user.user_id),
        tl::enums::Peer::Chat(chat) => group_chat_id(chat.chat_id),
        tl::enums::Peer::Channel(channel) => channel_chat_id(channel.channel_id),
    }
}

/// A user's online state.
pub fn presence(status: Option<&tl::enums::UserStatus>) -> Presence {
    match status {
        Some(tl::enums::UserStatus::Online(online)) => Presence::Online {
            expires: i64::from(online.expires),
        },
        Some(tl::enums::UserStatus::Offline(offline)) => Presence::Offline {
            was_online: i64::from(offline.was_online),
        },
        Some(tl::enums::UserStatus::Recently(_)) => Presence::Recently,
        Some(tl::enums::UserStatus::LastWeek(_)) => Presence::LastWeek,
        Some(tl::enums::UserStatus::LastMonth(_)) => Presence::LastMonth,
        Some(tl::enums::UserStatus::Empty) | None => Presence::Unknown,
    }
}

fn user_photo(photo: Option<&tl::enums::UserProfilePhoto>) -> Option<PhotoRef> {
    match photo {
        Some(tl::enums::UserProfilePhoto::Photo(photo)) => Some(PhotoRef {
            photo_id: photo.photo_id,
            dc_id: photo.dc_id,
        }),
        Some(tl::enums::UserProfilePhoto::Empty) | None => None,
    }
}

fn chat_photo(photo: &tl::enums::ChatPhoto) -> Option<PhotoRef> {
    match photo {
        tl::enums::ChatPhoto::Photo(photo) => Some(PhotoRef {
            photo_id: photo.photo_id,
            dc_id: photo.dc_id,
        }),
        tl::enums::ChatPhoto::Empty => None,
    }
}

/// A user, or `None` for `userEmpty`.
pub fn user(user: &tl::enums::User) -> Option<TgUser> {
    let tl::enums::User::User(user) = user else {
        return None;
    };
    Some(TgUser {
        id: user.id,
        first_name: user.first_name.clone().unwrap_or_default(),
        last_name: user.last_name.clone().unwrap_or_default(),
        username: user.username.clone().unwrap_or_default(),
        phone: user.phone.clone().unwrap_or_default(),
        is_bot: user.bot,
        is_contact: user.contact,
        is_self: user.is_self,
        is_deleted: user.deleted,
        presence: presence(user.status.as_ref()),
        photo: user_photo(user.photo.as_ref()),
    })
}

/// A private chat with `user`.
pub fn private_chat(user: &TgUser) -> ChatInfo {
    ChatInfo {
        id: user_chat_id(user.id),
        kind: ChatKind::Private,
        title: user.shown_name(),
        username: user.username.clone(),
        photo: user.photo.clone(),
        members_count: None,
        is_creator: false,
        is_admin: false,
        has_left: false,
    }
}

/// A group, supergroup or channel; `None` for `chatEmpty`.
pub fn chat(chat: &tl::enums::Chat) -> Option<ChatInfo> {
    match chat {
        tl::enums::Chat::Chat(group) => Some(ChatInfo {
            id: group_chat_id(group.id),
            kind: ChatKind::Group,
            title: group.title.clone(),
            username: String::new(),
            photo: chat_photo(&group.photo),
            members_count: Some(group.participants_count),
            is_creator: group.creator,
            is_admin: group.creator || group.admin_rights.is_some(),
            has_left: group.left || group.deactivated,
        }),
        tl::enums::Chat::Forbidden(group) => Some(ChatInfo {
            id: group_chat_id(group.id),
            kind: ChatKind::Group,
            title: group.title.clone(),
            username: String::new(),
            photo: None,
            members_count: None,
            is_creator: false,
            is_admin: false,
            has_left: true,
        }),
        tl::enums::Chat::Channel(channel) => Some(ChatInfo {
            id: channel_chat_id(channel.id),
            kind: if channel.broadcast {
                ChatKind::Channel
            } else {
                ChatKind::Supergroup
            },
            title: channel.title.clone(),
            username: channel.username.clone().unwrap_or_default(),
            photo: chat_photo(&channel.photo),
            members_count: channel.participants_count,
            is_creator: channel.creator,
            is_admin: channel.creator || channel.admin_rights.is_some(),
            has_left: channel.left,
        }),
        tl::enums::Chat::ChannelForbidden(channel) => Some(ChatInfo {
            id: channel_chat_id(channel.id),
            kind: if channel.broadcast {
                ChatKind::Channel
            } else {
                ChatKind::Supergroup
            },
            title: channel.title.clone(),
            username: String::new(),
            photo: None,
            members_count: None,
            is_creator: false,
            is_admin: false,
            has_left: true,
        }),
        tl::enums::Chat::Empty(_)
        | tl::enums::Chat::CommunityForbidden(_)
        | tl::enums::Chat::Community(_) => None,
    }
}

/// A dialog, given its chat (looked up by the caller from the same reply).
pub fn dialog(dialog: &tl::types::Dialog, chat: ChatInfo) -> DialogInfo {
    let tl::enums::PeerNotifySettings::Settings(settings) = &dialog.notify_settings;
    DialogInfo {
        chat,
        unread_count: dialog.unread_count,
        read_inbox_max_id: dialog.read_inbox_max_id,
        read_outbox_max_id: dialog.read_outbox_max_id,
        top_message_id: dialog.top_message,
        pinned: dialog.pinned,
        archived: dialog.folder_id == Some(1),
        muted_until: i64::from(settings.mute_until.unwrap_or(0)),
    }
}

fn entity(entity: &tl::enums::MessageEntity) -> TextEntity {
    use tl::enums::MessageEntity as E;
    let span = |kind: &str, offset: i32, length: i32| TextEntity {
        kind: kind.to_owned(),
        offset,
        length,
        url: None,
        user_id: None,
        language: None,
    };
    match entity {
        E::Bold(e) => span("bold", e.offset, e.length),
        E::Italic(e) => span("italic", e.offset, e.length),
        E::Underline(e) => span("underline", e.offset, e.length),
        E::Strike(e) => span("strikethrough", e.offset, e.length),
        E::Spoiler(e) => span("spoiler", e.offset, e.length),
        E::Code(e) => span("code", e.offset, e.length),
        E::Pre(e) => TextEntity {
            language: (!e.language.is_empty()).then(|| e.language.clone()),
            ..span("pre", e.offset, e.length)
        },
        E::Url(e) => span("url", e.offset, e.length),
        E::TextUrl(e) => TextEntity {
            url: Some(e.url.clone()),
            ..span("text_url", e.offset, e.length)
        },
        E::Mention(e) => span("mention", e.offset, e.length),
        E::MentionName(e) => TextEntity {
            user_id: Some(e.user_id),
            ..span("mention_name", e.offset, e.length)
        },
        E::Hashtag(e) => span("hashtag", e.offset, e.length),
        E::Cashtag(e) => span("cashtag", e.offset, e.length),
        E::BotCommand(e) => span("bot_command", e.offset, e.length),
        E::Email(e) => span("email", e.offset, e.length),
        E::Phone(e) => span("phone", e.offset, e.length),
        E::Blockquote(e) => span("blockquote", e.offset, e.length),
        E::CustomEmoji(e) => span("custom_emoji", e.offset, e.length),
        E::BankCard(e) => span("bank_card", e.offset, e.length),
        E::Unknown(e) => span("unknown", e.offset, e.length),
        E::InputMessageEntityMentionName(e) => span("mention_name", e.offset, e.length),
        E::FormattedDate(e) => span("unknown", e.offset, e.length),
        E::DiffInsert(e) => span("unknown", e.offset, e.length),
        E::DiffReplace(e) => span("unknown", e.offset, e.length),
        E::DiffDelete(e) => span("unknown", e.offset, e.length),
        E::TonAddress(e) => span("unknown", e.offset, e.length),
    }
}

/// The largest "real" size of a photo (not stripped or path), for the file itself.
fn largest_photo_size(sizes: &[tl::enums::PhotoSize]) -> Option<(String, i32, i32, i64)> {
    sizes
        .iter()
        .filter_map(|size| match size {
            tl::enums::PhotoSize::Size(size) => {
                Some((size.r#type.clone(), size.w, size.h, i64::from(size.size)))
            }
            tl::enums::PhotoSize::Progressive(size) => Some((
                size.r#type.clone(),
                size.w,
                size.h,
                size.sizes.last().copied().map(i64::from).unwrap_or(0),
            )),
            tl::enums::PhotoSize::PhotoCachedSize(size) => Some((
                size.r#type.clone(),
                size.w,
                size.h,
                i64::try_from(size.bytes.len()).unwrap_or(0),
            )),
            tl::enums::PhotoSize::Empty(_)
            | tl::enums::PhotoSize::PhotoStrippedSize(_)
            | tl::enums::PhotoSize::PhotoPathSize(_) => None,
        })
        .max_by_key(|(_, width, height, _)| i64::from(*width) * i64::from(*height))
}

/// The smallest real size: the preview.
fn smallest_photo_size(sizes: &[tl::enums::PhotoSize]) -> Option<String> {
    sizes
        .iter()
        .filter_map(|size| match size {
            tl::enums::PhotoSize::Size(size) => Some((size.r#type.clone(), size.w * size.h)),
            tl::enums::PhotoSize::Progressive(size) => Some((size.r#type.clone(), size.w * size.h)),
            _ => None,
        })
        .min_by_key(|(_, area)| *area)
        .map(|(kind, _)| kind)
}

fn photo_media(photo: &tl::types::Photo) -> MediaInfo {
    let largest = largest_photo_size(&photo.sizes);
    let location = |thumb_size: String| FileLocation::Photo {
        id: photo.id,
        access_hash: photo.access_hash,
        file_reference: photo.file_reference.clone(),
        thumb_size,
        dc_id: photo.dc_id,
    };
    let mut media = MediaInfo::of_kind(MediaKind::Photo);
    media.mime_type = Some("image/jpeg".to_owned());
    if let Some((kind, width, height, size)) = largest {
        media.file = Some(location(kind.clone()));
        media.width = Some(width);
        media.height = Some(height);
        media.size = Some(size);
        media.thumbnail = smallest_photo_size(&photo.sizes)
            .filter(|smallest| *smallest != kind)
            .map(location);
    }
    media
}

fn document_media(
    document: &tl::types::Document,
    hint: &tl::types::MessageMediaDocument,
) -> MediaInfo {
    use tl::enums::DocumentAttribute as A;
    let mut kind = MediaKind::Document;
    let mut media = MediaInfo::of_kind(kind);
    for attribute in &document.attributes {
        match attribute {
            A::Filename(name) => media.file_name = Some(name.file_name.clone()),
            A::ImageSize(size) => {
                media.width = Some(size.w);
                media.height = Some(size.h);
            }
            A::Video(video) => {
                kind = if video.round_message {
                    MediaKind::VideoNote
                } else if kind == MediaKind::Animation {
                    MediaKind::Animation
                } else {
                    MediaKind::Video
                };
                media.width = Some(video.w);
                media.height = Some(video.h);
                media.duration = Some(video.duration);
            }
            A::Audio(audio) => {
                kind = if audio.voice {
                    MediaKind::Voice
                } else {
                    MediaKind::Audio
                };
                media.duration = Some(f64::from(audio.duration));
                media.waveform = audio.waveform.clone();
                media.title = audio.title.clone();
                media.performer = audio.performer.clone();
            }
            A::Animated => kind = MediaKind::Animation,
            A::Sticker(_) => kind = MediaKind::Sticker,
            A::HasStickers | A::CustomEmoji(_) => {}
        }
    }
    if hint.voice {
        kind = MediaKind::Voice;
    } else if hint.round {
        kind = MediaKind::VideoNote;
    }
    media.kind = kind;
    media.mime_type = Some(document.mime_type.clone());
    media.size = Some(document.size);
    media.file = Some(FileLocation::Document {
        id: document.id,
        access_hash: document.access_hash,
        file_reference: document.file_reference.clone(),
        thumb_size: String::new(),
        dc_id: document.dc_id,
    });
    media.thumbnail =
        document
            .thumbs
            .as_deref()
            .and_then(largest_photo_size)
            .map(|(thumb_size, ..)| FileLocation::Document {
                id: document.id,
                access_hash: document.access_hash,
                file_reference: document.file_reference.clone(),
                thumb_size,
                dc_id: document.dc_id,
            });
    media
}

/// A message's media, described.
pub fn media(media: &tl::enums::MessageMedia) -> Option<MediaInfo> {
    use tl::enums::MessageMedia as M;
    match media {
        M::Empty => None,
        M::Photo(photo) => Some(match &photo.photo {
            Some(tl::enums::Photo::Photo(photo)) => photo_media(photo),
            Some(tl::enums::Photo::Empty(_)) | None => MediaInfo::of_kind(MediaKind::Photo),
        }),
        M::Document(document) => Some(match &document.document {
            Some(tl::enums::Document::Document(inner)) => document_media(inner, document),
            Some(tl::enums::Document::Empty(_)) | None => MediaInfo::of_kind(MediaKind::Document),
        }),
        M::Geo(geo) => Some(location(&geo.geo)),
        M::GeoLive(geo) => Some(location(&geo.geo)),
        M::Venue(venue) => {
            let mut media = location(&venue.geo);
            media.title = Some(venue.title.clone());
            Some(media)
        }
        M::Contact(contact) => {
            let mut media = MediaInfo::of_kind(MediaKind::Contact);
            media.title = Some(
                format!("{} {}", contact.first_name, contact.last_name)
                    .trim()
                    .to_owned(),
            );
            Some(media)
        }
        M::Poll(_) => Some(MediaInfo::of_kind(MediaKind::Poll)),
        M::WebPage(_) => Some(MediaInfo::of_kind(MediaKind::WebPage)),
        M::Unsupported
        | M::Game(_)
        | M::Invoice(_)
        | M::Dice(_)
        | M::Story(_)
        | M::Giveaway(_)
        | M::GiveawayResults(_)
        | M::PaidMedia(_)
        | M::ToDo(_)
        | M::VideoStream(_) => Some(MediaInfo::of_kind(MediaKind::Other)),
    }
}

fn location(geo: &tl::enums::GeoPoint) -> MediaInfo {
    let mut media = MediaInfo::of_kind(MediaKind::Location);
    if let tl::enums::GeoPoint::Point(point) = geo {
        media.latitude = Some(point.lat);
        media.longitude = Some(point.long);
    }
    media
}

fn forward(header: &tl::enums::MessageFwdHeader) -> ForwardInfo {
    let tl::enums::MessageFwdHeader::Header(header) = header;
    ForwardInfo {
        from_id: header.from_id.as_ref().map(chat_id_of),
        from_name: header.from_name.clone(),
        date: i64::from(header.date),
        channel_post: header.channel_post,
    }
}

fn reply_to(header: Option<&tl::enums::MessageReplyHeader>) -> Option<i32> {
    match header {
        Some(tl::enums::MessageReplyHeader::Header(header)) => header.reply_to_msg_id,
        Some(tl::enums::MessageReplyHeader::MessageReplyStoryHeader(_)) | None => None,
    }
}

/// What a service message says happened, as a short machine-readable phrase.
fn service_action(action: &tl::enums::MessageAction) -> String {
    use tl::enums::MessageAction as A;
    match action {
        A::ChatCreate(_) => "chat_created".to_owned(),
        A::ChannelCreate(_) => "channel_created".to_owned(),
        A::ChatEditTitle(_) => "title_changed".to_owned(),
        A::ChatEditPhoto(_) => "photo_changed".to_owned(),
        A::ChatDeletePhoto => "photo_removed".to_owned(),
        A::ChatAddUser(_) | A::ChatJoinedByLink(_) | A::ChatJoinedByRequest => {
            "members_joined".to_owned()
        }
        A::ChatDeleteUser(_) => "member_left".to_owned(),
        A::PinMessage => "message_pinned".to_owned(),
        A::ChatMigrateTo(_) | A::ChannelMigrateFrom(_) => "migrated".to_owned(),
        A::HistoryClear => "history_cleared".to_owned(),
        A::PhoneCall(_) => "phone_call".to_owned(),
        _ => "other".to_owned(),
    }
}

/// A message; `None` for `messageEmpty`.
pub fn message(message: &tl::enums::Message) -> Option<Message> {
    match message {
        tl::enums::Message::Message(message) => Some(Message {
            chat_id: chat_id_of(&message.peer_id),
            id: message.id,
            sender_id: message
                .from_id
                .as_ref()
                .map(chat_id_of)
                // In private chats Telegram omits from_id for the other user's messages.
                .or_else(|| match (&message.peer_id, message.out) {
                    (tl::enums::Peer::User(user), false) => Some(user_chat_id(user.user_id)),
                    _ => None,
                })
                .or_else(|| message.post.then(|| chat_id_of(&message.peer_id))),
            outgoing: message.out,
            date: i64::from(message.date),
            edit_date: message.edit_date.map(i64::from),
            text: message.message.clone(),
            entities: message
                .entities
                .as_deref()
                .unwrap_or_default()
                .iter()
                .map(entity)
                .collect(),
            reply_to: reply_to(message.reply_to.as_ref()),
            forward: message.fwd_from.as_ref().map(forward),
            media: message.media.as_ref().and_then(media),
            views: message.views,
            service: None,
            silent: message.silent,
            pinned: message.pinned,
            grouped_id: message.grouped_id,
        }),
        tl::enums::Message::Service(service) => Some(Message {
            chat_id: chat_id_of(&service.peer_id),
            id: service.id,
            sender_id: service.from_id.as_ref().map(chat_id_of).or_else(|| {
                match (&service.peer_id, service.out) {
                    (tl::enums::Peer::User(user), false) => Some(user_chat_id(user.user_id)),
                    _ => None,
                }
            }),
            outgoing: service.out,
            date: i64::from(service.date),
            edit_date: None,
            text: String::new(),
            entities: Vec::new(),
            reply_to: reply_to(service.reply_to.as_ref()),
            forward: None,
            media: None,
            views: None,
            service: Some(service_action(&service.action)),
            silent: service.silent,
            pinned: false,
            grouped_id: None,
        }),
        tl::enums::Message::Empty(_) => None,
    }
}

fn chat_action(action: &tl::enums::SendMessageAction) -> ChatAction {
    use tl::enums::SendMessageAction as A;
    match action {
        A::SendMessageTypingAction => ChatAction::Typing,
        A::SendMessageCancelAction => ChatAction::Cancel,
        A::SendMessageRecordAudioAction => ChatAction::RecordingVoice,
        A::SendMessageRecordVideoAction | A::SendMessageRecordRoundAction => {
            ChatAction::RecordingVideo
        }
        A::SendMessageUploadPhotoAction(_) => ChatAction::UploadingPhoto,
        A::SendMessageUploadVideoAction(_) | A::SendMessageUploadRoundAction(_) => {
            ChatAction::UploadingVideo
        }
        A::SendMessageUploadDocumentAction(_) | A::SendMessageUploadAudioAction(_) => {
            ChatAction::UploadingDocument
        }
        _ => ChatAction::Other,
    }
}

/// The action Telegram is told about when the user does `action`.
pub fn send_action(action: ChatAction) -> tl::enums::SendMessageAction {
    use tl::enums::SendMessageAction as A;
    match action {
        ChatAction::Typing | ChatAction::Other => A::SendMessageTypingAction,
        ChatAction::Cancel => A::SendMessageCancelAction,
        ChatAction::RecordingVoice => A::SendMessageRecordAudioAction,
        ChatAction::RecordingVideo => A::SendMessageRecordVideoAction,
        ChatAction::UploadingPhoto => {
            A::SendMessageUploadPhotoAction(tl::types::SendMessageUploadPhotoAction { progress: 0 })
        }
        ChatAction::UploadingVideo => {
            A::SendMessageUploadVideoAction(tl::types::SendMessageUploadVideoAction { progress: 0 })
        }
        ChatAction::UploadingDocument => {
            A::SendMessageUploadDocumentAction(tl::types::SendMessageUploadDocumentAction {
                progress: 0,
            })
        }
    }
}

/// A new message, and the members it says joined: Telegram tells a chat's members of
/// someone joining (added, by link, by an approved request) with a service message, not
/// with an update of its own (`updateChatParticipantAdd` is for basic groups only, and
/// not always sent).
fn with_joins(converted: Message, raw: &tl::enums::Message) -> Vec<TelegramUpdate> {
    use tl::enums::MessageAction as A;
    let chat_id = converted.chat_id;
    let joined: Vec<i64> = match raw {
        tl::enums::Message::Service(service) => match &service.action {
            A::ChatAddUser(added) => added.users.clone(),
            A::ChatJoinedByLink(_) | A::ChatJoinedByRequest => match &service.from_id {
                Some(tl::enums::Peer::User(user)) => vec![user.user_id],
                _ => Vec::new(),
            },
            _ => Vec::new(),
        },
        _ => Vec::new(),
    };
    let mut updates = vec![TelegramUpdate::NewMessage { message: converted }];
    updates.extend(
        joined
            .into_iter()
            .map(|user_id| TelegramUpdate::ChatMember {
                chat_id,
                user_id,
                joined: true,
            }),
    );
    updates
}

/// The normalised updates one TL update stands for (most give one, some none).
pub fn update(update: &tl::enums::Update) -> Vec<TelegramUpdate> {
    use tl::enums::Update as U;
    let one = |update: TelegramUpdate| vec![update];
    match update {
        U::NewMessage(new) => message(&new.message)
            .map(|converted| with_joins(converted, &new.message))
            .unwrap_or_default(),
        U::NewChannelMessage(new) => message(&new.message)
            .map(|converted| with_joins(converted, &new.message))
            .unwrap_or_default(),
        U::EditMessage(edit) => message(&edit.message)
            .map(|message| one(TelegramUpdate::MessageEdited { message }))
            .unwrap_or_default(),
        U::EditChannelMessage(edit) => message(&edit.message)
            .map(|message| one(TelegramUpdate::MessageEdited { message }))
            .unwrap_or_default(),
        U::DeleteMessages(deleted) => one(TelegramUpdate::MessagesDeleted {
            chat_id: None,
            message_ids: deleted.messages.clone(),
        }),
        U::DeleteChannelMessages(deleted) => one(TelegramUpdate::MessagesDeleted {
            chat_id: Some(channel_chat_id(deleted.channel_id)),
            message_ids: deleted.messages.clone(),
        }),
        U::ReadHistoryInbox(read) => one(TelegramUpdate::ReadInbox {
            chat_id: chat_id_of(&read.peer),
            max_id: read.max_id,
            still_unread_count: read.still_unread_count,
        }),
        U::ReadChannelInbox(read) => one(TelegramUpdate::ReadInbox {
            chat_id: channel_chat_id(read.channel_id),
            max_id: read.max_id,
            still_unread_count: read.still_unread_count,
        }),
        U::ReadHistoryOutbox(read) => one(TelegramUpdate::ReadOutbox {
            chat_id: chat_id_of(&read.peer),
            max_id: read.max_id,
        }),
        U::ReadChannelOutbox(read) => one(TelegramUpdate::ReadOutbox {
            chat_id: channel_chat_id(read.channel_id),
            max_id: read.max_id,
        }),
        U::UserStatus(status) => one(TelegramUpdate::UserStatus {
            user_id: status.user_id,
            presence: presence(Some(&status.status)),
        }),
        U::UserTyping(typing) => one(TelegramUpdate::Typing {
            chat_id: user_chat_id(typing.user_id),
            sender_id: user_chat_id(typing.user_id),
            action: chat_action(&typing.action),
        }),
        U::ChatUserTyping(typing) => one(TelegramUpdate::Typing {
            chat_id: group_chat_id(typing.chat_id),
            sender_id: chat_id_of(&typing.from_id),
            action: chat_action(&typing.action),
        }),
        U::ChannelUserTyping(typing) => one(TelegramUpdate::Typing {
            chat_id: channel_chat_id(typing.channel_id),
            sender_id: chat_id_of(&typing.from_id),
            action: chat_action(&typing.action),
        }),
        U::ChatParticipantAdd(added) => one(TelegramUpdate::ChatMember {
            chat_id: group_chat_id(added.chat_id),
            user_id: added.user_id,
            joined: true,
        }),
        U::ChatParticipantDelete(removed) => one(TelegramUpdate::ChatMember {
            chat_id: group_chat_id(removed.chat_id),
            user_id: removed.user_id,
            joined: false,
        }),
        U::Channel(channel) => one(TelegramUpdate::ChatChanged {
            chat_id: channel_chat_id(channel.channel_id),
        }),
        U::Chat(chat) => one(TelegramUpdate::ChatChanged {
            chat_id: group_chat_id(chat.chat_id),
        }),
        U::ChatParticipants(participants) => match &participants.participants {
            tl::enums::ChatParticipants::Participants(participants) => {
                one(TelegramUpdate::ChatChanged {
                    chat_id: group_chat_id(participants.chat_id),
                })
            }
            tl::enums::ChatParticipants::Forbidden(forbidden) => one(TelegramUpdate::ChatChanged {
                chat_id: group_chat_id(forbidden.chat_id),
            }),
        },
        U::PinnedMessages(pinned) => one(TelegramUpdate::MessagesPinned {
            chat_id: chat_id_of(&pinned.peer),
            message_ids: pinned.messages.clone(),
            pinned: pinned.pinned,
        }),
        U::PinnedChannelMessages(pinned) => one(TelegramUpdate::MessagesPinned {
            chat_id: channel_chat_id(pinned.channel_id),
            message_ids: pinned.messages.clone(),
            pinned: pinned.pinned,
        }),
        U::DialogPinned(pinned) => match &pinned.peer {
            tl::enums::DialogPeer::Peer(peer) => one(TelegramUpdate::DialogPinned {
                chat_id: chat_id_of(&peer.peer),
                pinned: pinned.pinned,
            }),
            tl::enums::DialogPeer::Folder(_) | tl::enums::DialogPeer::Community(_) => Vec::new(),
        },
        U::NotifySettings(settings) => match &settings.peer {
            tl::enums::NotifyPeer::Peer(peer) => {
                let tl::enums::PeerNotifySettings::Settings(notify) = &settings.notify_settings;
                one(TelegramUpdate::NotifySettings {
                    chat_id: chat_id_of(&peer.peer),
                    muted_until: i64::from(notify.mute_until.unwrap_or(0)),
                })
            }
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_ids_follow_the_bot_api_and_split_back() {
        assert_eq!(user_chat_id(42), 42);
        assert_eq!(group_chat_id(42), -42);
        assert_eq!(channel_chat_id(42), -1_000_000_000_042);
        assert_eq!(bare_peer(42), Some(BarePeer::User(42)));
        assert_eq!(bare_peer(-42), Some(BarePeer::Chat(42)));
        assert_eq!(bare_peer(-1_000_000_000_042), Some(BarePeer::Channel(42)));
        assert_eq!(bare_peer(0), None);
    }

    fn text_message(
        peer: tl::enums::Peer,
        out: bool,
        from: Option<tl::enums::Peer>,
    ) -> tl::enums::Message {
        tl::enums::Message::Message(tl::types::Message {
            out,
            mentioned: false,
            media_unread: false,
            silent: false,
            post: false,
            from_scheduled: false,
            legacy: false,
            edit_hide: false,
            pinned: false,
            noforwards: false,
            invert_media: false,
            offline: false,
            video_processing_pending: false,
            paid_suggested_post_stars: false,
            paid_suggested_post_ton: false,
            id: 7,
            from_id: from,
            from_boosts_applied: None,
            from_rank: None,
            peer_id: peer,
            saved_peer_id: None,
            fwd_from: None,
            via_bot_id: None,
            via_business_bot_id: None,
            guestchat_via_from: None,
            reply_to: Some(tl::enums::MessageReplyHeader::Header(
                tl::types::MessageReplyHeader {
                    reply_to_scheduled: false,
                    forum_topic: false,
                    quote: false,
                    reply_to_ephemeral: false,
                    reply_to_msg_id: Some(5),
                    reply_to_peer_id: None,
                    reply_from: None,
                    reply_media: None,
                    reply_to_top_id: None,
                    quote_text: None,
                    quote_entities: None,
                    quote_offset: None,
                    todo_item_id: None,
                    poll_option: None,
                },
            )),
            date: 1_700_000_000,
            message: "hello **world**".into(),
            media: None,
            reply_markup: None,
            entities: Some(vec![tl::enums::MessageEntity::TextUrl(
                tl::types::MessageEntityTextUrl {
                    offset: 0,
                    length: 5,
                    url: "https://example.com".into(),
                },
            )]),
            views: None,
            forwards: None,
            replies: None,
            edit_date: Some(1_700_000_100),
            post_author: None,
            grouped_id: None,
            reactions: None,
            restriction_reason: None,
            ttl_period: None,
            quick_reply_shortcut_id: None,
            effect: None,
            factcheck: None,
            report_delivery_until_date: None,
            paid_message_stars: None,
            suggested_post: None,
            schedule_repeat_period: None,
            summary_from_language: None,
            rich_message: None,
        })
    }

    #[test]
    fn an_incoming_private_message_is_from_the_peer_even_without_from_id() {
        let peer = tl::enums::Peer::User(tl::types::PeerUser { user_id: 99 });
        let converted = message(&text_message(peer, false, None)).expect("a message");
        assert_eq!(converted.chat_id, 99);
        assert_eq!(converted.sender_id, Some(99));
        assert!(!converted.outgoing);
        assert_eq!(converted.reply_to, Some(5));
        assert_eq!(converted.edit_date, Some(1_700_000_100));
        assert_eq!(converted.entities[0].kind, "text_url");
        assert_eq!(
            converted.entities[0].url.as_deref(),
            Some("https://example.com")
        );
    }

    #[test]
    fn a_supergroup_message_is_addressed_by_the_channel_id_and_sender() {
        let peer = tl::enums::Peer::Channel(tl::types::PeerChannel { channel_id: 5 });
        let from = tl::enums::Peer::User(tl::types::PeerUser { user_id: 11 });
        let converted = message(&text_message(peer, true, Some(from))).expect("a message");
        assert_eq!(converted.chat_id, -1_000_000_000_005);
        assert_eq!(converted.sender_id, Some(11));
        assert!(converted.outgoing);
    }

    fn service_message(
        peer: tl::enums::Peer,
        from: i64,
        action: tl::enums::MessageAction,
    ) -> tl::enums::Update {
        tl::enums::Update::NewMessage(tl::types::UpdateNewMessage {
            message: tl::enums::Message::Service(tl::types::MessageService {
                out: false,
                mentioned: false,
                media_unread: false,
                reactions_are_possible: false,
                silent: false,
                post: false,
                legacy: false,
                id: 9,
                from_id: Some(tl::enums::Peer::User(tl::types::PeerUser { user_id: from })),
                peer_id: peer,
                saved_peer_id: None,
                reply_to: None,
                date: 1_700_000_000,
                action,
                reactions: None,
                ttl_period: None,
            }),
            pts: 1,
            pts_count: 1,
        })
    }

    #[test]
    fn service_messages_of_joins_also_tell_who_joined() {
        let group = tl::enums::Peer::Chat(tl::types::PeerChat { chat_id: 3 });
        let by_link = update(&service_message(
            group.clone(),
            77,
            tl::types::MessageActionChatJoinedByLink { inviter_id: 5 }.into(),
        ));
        assert_eq!(by_link.len(), 2, "{by_link:?}");
        assert!(matches!(by_link[0], TelegramUpdate::NewMessage { .. }));
        assert_eq!(
            by_link[1],
            TelegramUpdate::ChatMember {
                chat_id: -3,
                user_id: 77,
                joined: true
            }
        );
        let added = update(&service_message(
            group.clone(),
            5,
            tl::types::MessageActionChatAddUser {
                users: vec![77, 78],
            }
            .into(),
        ));
        assert_eq!(added.len(), 3, "{added:?}");
        assert_eq!(
            added[2],
            TelegramUpdate::ChatMember {
                chat_id: -3,
                user_id: 78,
                joined: true
            }
        );
        let left = update(&service_message(
            group,
            77,
            tl::types::MessageActionChatDeleteUser { user_id: 77 }.into(),
        ));
        assert_eq!(left.len(), 1, "a departure has its own update: {left:?}");
    }

    #[test]
    fn read_receipts_and_deletions_become_their_updates() {
        let read = tl::enums::Update::ReadHistoryOutbox(tl::types::UpdateReadHistoryOutbox {
            peer: tl::enums::Peer::Chat(tl::types::PeerChat { chat_id: 3 }),
            max_id: 40,
            pts: 1,
            pts_count: 1,
        });
        assert_eq!(
            update(&read),
            vec![TelegramUpdate::ReadOutbox {
                chat_id: -3,
                max_id: 40
            }]
        );
        let deleted =
            tl::enums::Update::DeleteChannelMessages(tl::types::UpdateDeleteChannelMessages {
                channel_id: 8,
                messages: vec![1, 2],
                pts: 3,
                pts_count: 2,
            });
        assert_eq!(
            update(&deleted),
            vec![TelegramUpdate::MessagesDeleted {
                chat_id: Some(-1_000_000_000_008),
                message_ids: vec![1, 2]
            }]
        );
    }
}
