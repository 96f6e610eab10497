//! Renders the world into TL objects as one account sees it: its own access hashes, which
//! users are its contacts, whether a message is outgoing. Every answer that mentions a
//! peer must carry that peer in its `users`/`chats` vectors; [`Mentions`] collects them.

use std::collections::BTreeSet;

use grammers_tl_types as tl;

use crate::SANDBOX_DC_ID;
use crate::world::{
    DocAttribute, Event, Forwarded, HashKind, Logged, MessageMedia, Peer, PhotoSizeRecord,
    ServiceAction, StoredMessage, UserId, UserRecord, World, unix_now as now,
};

pub(crate) fn peer(peer: Peer) -> tl::enums::Peer {
    match peer {
        Peer::User(user_id) => tl::types::PeerUser { user_id }.into(),
        Peer::Chat(chat_id) => tl::types::PeerChat { chat_id }.into(),
        Peer::Channel(channel_id) => tl::types::PeerChannel { channel_id }.into(),
    }
}

/// The user as `viewer` sees them; `userEmpty` for an unknown id.
pub(crate) fn user(world: &World, viewer: UserId, id: UserId) -> tl::enums::User {
    let Some(record) = world.users.get(&id) else {
        return tl::types::UserEmpty { id }.into();
    };
    let is_self = viewer == id;
    let contact = world
        .users
        .get(&viewer)
        .is_some_and(|v| v.contacts.contains(&id));
    let mutual_contact = contact && record.contacts.contains(&viewer);
    // Telegram shows a phone number to the account itself and to its contacts.
    let phone = (is_self || contact).then(|| record.info.phone.clone());
    // A contact is shown under the name the account saved them as.
    let saved_name = world
        .users
        .get(&viewer)
        .filter(|_| contact && !is_self)
        .and_then(|v| v.contact_names.get(&id));
    tl::types::User {
        is_self,
        contact,
        mutual_contact,
        deleted: false,
        bot: false,
        bot_chat_history: false,
        bot_nochats: false,
        verified: false,
        restricted: false,
        min: false,
        bot_inline_geo: false,
        support: false,
        scam: false,
        apply_min_photo: false,
        fake: false,
        bot_attach_menu: false,
        premium: false,
        attach_menu_enabled: false,
        bot_can_edit: false,
        close_friend: false,
        stories_hidden: false,
        stories_unavailable: true,
        contact_require_premium: false,
        bot_business: false,
        bot_has_main_app: false,
        bot_forum_view: false,
        bot_forum_can_manage_topics: false,
        bot_can_manage_bots: false,
        bot_guestchat: false,
        bot_guard: false,
        id,
        access_hash: Some(world.access_hash(viewer, HashKind::User, id)),
        first_name: Some(saved_name.map_or_else(
            || record.info.first_name.clone(),
            |name| name.first_name.clone(),
        )),
        last_name: saved_name.map_or_else(
            || record.info.last_name.clone(),
            |name| name.last_name.clone(),
        ),
        username: record.info.username.clone(),
        phone,
        photo: Some(match record.photo {
            Some(photo_id) => tl::types::UserProfilePhoto {
                has_video: false,
                personal: false,
                photo_id,
                stripped_thumb: None,
                dc_id: SANDBOX_DC_ID,
            }
            .into(),
            None => tl::enums::UserProfilePhoto::Empty,
        }),
        status: Some(user_status(record, now())),
        bot_info_version: None,
        restriction_reason: None,
        bot_inline_placeholder: None,
        lang_code: None,
        emoji_status: None,
        usernames: None,
        stories_max_id: None,
        color: None,
        profile_color: None,
        bot_active_users: None,
        bot_verification_icon: None,
        send_paid_messages_stars: None,
        linked_community_id: None,
    }
    .into()
}

/// A basic group, supergroup or channel as `viewer` sees it.
/// The rights every admin other than the creator holds here (one set for all: the
/// sandbox does not keep rights per admin).
pub(crate) fn admin_rights() -> tl::enums::ChatAdminRights {
    tl::types::ChatAdminRights {
        change_info: true,
        post_messages: true,
        edit_messages: true,
        delete_messages: true,
        ban_users: true,
        invite_users: true,
        pin_messages: true,
        add_admins: false,
        anonymous: false,
        manage_call: true,
        other: true,
        manage_topics: false,
        post_stories: false,
        edit_stories: false,
        delete_stories: false,
        manage_direct_messages: false,
        manage_ranks: false,
        manage_linked_peers: false,
        manage_welcome_messages: false,
    }
    .into()
}

pub(crate) fn chat(world: &World, viewer: UserId, peer: Peer) -> Option<tl::enums::Chat> {
    match peer {
        Peer::User(_) => None,
        Peer::Chat(id) => {
            let chat = world.chats.get(&id)?;
            Some(
                tl::types::Chat {
                    creator: chat.creator == viewer,
                    left: !chat.members.contains(&viewer),
                    deactivated: false,
                    call_active: false,
                    call_not_empty: false,
                    noforwards: false,
                    id,
                    title: chat.title.clone(),
                    photo: chat_photo(chat.photo),
                    participants_count: chat.members.len() as i32,
                    date: chat.date,
                    version: 1,
                    migrated_to: None,
                    admin_rights: chat.admins.contains(&viewer).then(admin_rights),
                    default_banned_rights: None,
                }
                .into(),
            )
        }
        Peer::Channel(id) => {
            let channel = world.channels.get(&id)?;
            Some(
                tl::types::Channel {
                    creator: channel.creator == viewer,
                    left: !channel.members.contains(&viewer),
                    broadcast: channel.broadcast,
                    verified: false,
                    megagroup: !channel.broadcast,
                    restricted: false,
                    signatures: false,
                    min: false,
                    scam: false,
                    has_link: false,
                    has_geo: false,
                    slowmode_enabled: false,
                    call_active: false,
                    call_not_empty: false,
                    fake: false,
                    gigagroup: false,
                    noforwards: false,
                    join_to_send: false,
                    join_request: false,
                    forum: false,
                    stories_hidden: false,
                    stories_hidden_min: false,
                    stories_unavailable: true,
                    signature_profiles: false,
                    autotranslation: false,
                    broadcast_messages_allowed: false,
                    monoforum: false,
                    forum_tabs: false,
                    id,
                    access_hash: Some(world.access_hash(viewer, HashKind::Channel, id)),
                    title: channel.title.clone(),
                    username: channel.username.clone(),
                    photo: chat_photo(channel.photo),
                    date: channel.date,
                    restriction_reason: None,
                    admin_rights: channel.admins.contains_key(&viewer).then(admin_rights),
                    banned_rights: None,
                    default_banned_rights: None,
                    participants_count: Some(channel.members.len() as i32),
                    usernames: None,
                    stories_max_id: None,
                    color: None,
                    profile_color: None,
                    emoji_status: None,
                    level: None,
                    subscription_until_date: None,
                    bot_verification_icon: None,
                    send_paid_messages_stars: None,
                    linked_monoforum_id: None,
                    linked_community_id: None,
                }
                .into(),
            )
        }
    }
}

fn reply_header(reply_to: Option<i32>) -> Option<tl::enums::MessageReplyHeader> {
    reply_to.map(|id| {
        tl::types::MessageReplyHeader {
            reply_to_scheduled: false,
            forum_topic: false,
            quote: false,
            reply_to_ephemeral: false,
            reply_to_msg_id: Some(id),
            reply_to_peer_id: None,
            reply_from: None,
            reply_media: None,
            reply_to_top_id: None,
            quote_text: None,
            quote_entities: None,
            quote_offset: None,
            todo_item_id: None,
            poll_option: None,
        }
        .into()
    })
}

/// A stored message as `viewer` sees it.
pub(crate) fn message(world: &World, viewer: UserId, stored: &StoredMessage) -> tl::enums::Message {
    let (out, post, views) = match stored.peer {
        Peer::Channel(id) => {
            let channel = world.channels.get(&id);
            let broadcast = channel.is_some_and(|c| c.broadcast);
            let out = stored.from == Some(viewer)
                || (broadcast && channel.is_some_and(|c| c.creator == viewer));
            let views = broadcast.then(|| channel.map_or(0, |c| c.members.len() as i32));
            (out, broadcast, views)
        }
        _ => (stored.out, false, None),
    };
    // In private chats Telegram leaves `from_id` out of incoming messages: the sender
    // is the peer itself.
    let from_id = match stored.peer {
        Peer::User(_) if !stored.out => None,
        _ => stored
            .from
            .map(|user_id| tl::types::PeerUser { user_id }.into()),
    };
    let peer_id = peer(stored.peer);

    if let Some(action) = &stored.action {
        let action = match action {
            ServiceAction::ChatCreate { title, users } => tl::types::MessageActionChatCreate {
                title: title.clone(),
                users: users.clone(),
            }
            .into(),
            ServiceAction::ChannelCreate { title } => tl::types::MessageActionChannelCreate {
                title: title.clone(),
            }
            .into(),
            ServiceAction::ChatAddUser { users } => tl::types::MessageActionChatAddUser {
                users: users.clone(),
            }
            .into(),
            ServiceAction::ChatDeleteUser { user } => {
                tl::types::MessageActionChatDeleteUser { user_id: *user }.into()
            }
            ServiceAction::ChatEditTitle { title } => tl::types::MessageActionChatEditTitle {
                title: title.clone(),
            }
            .into(),
            ServiceAction::PinMessage => tl::enums::MessageAction::PinMessage,
            ServiceAction::ChatJoinedByLink { inviter } => {
                tl::types::MessageActionChatJoinedByLink {
                    inviter_id: *inviter,
                }
                .into()
            }
            ServiceAction::ChatJoinedByRequest => tl::enums::MessageAction::ChatJoinedByRequest,
            ServiceAction::ChatEditPhoto { photo: id } => tl::types::MessageActionChatEditPhoto {
                photo: photo(world, *id),
            }
            .into(),
            ServiceAction::ChatDeletePhoto => tl::enums::MessageAction::ChatDeletePhoto,
        };
        return tl::types::MessageService {
            out,
            mentioned: false,
            media_unread: false,
            reactions_are_possible: false,
            silent: false,
            post,
            legacy: false,
            id: stored.id,
            from_id,
            peer_id,
            saved_peer_id: None,
            // A pin's service message replies to the pinned message.
            reply_to: reply_header(stored.reply_to),
            date: stored.date,
            action,
            reactions: None,
            ttl_period: None,
        }
        .into();
    }

    tl::types::Message {
        out,
        mentioned: false,
        media_unread: false,
        silent: false,
        post,
        from_scheduled: false,
        legacy: false,
        edit_hide: false,
        pinned: world.is_pinned(viewer, stored.peer, stored.id),
        noforwards: false,
        invert_media: false,
        offline: false,
        video_processing_pending: false,
        paid_suggested_post_stars: false,
        paid_suggested_post_ton: false,
        id: stored.id,
        from_id,
        from_boosts_applied: None,
        from_rank: None,
        peer_id,
        saved_peer_id: None,
        fwd_from: stored.fwd.as_ref().map(fwd_header),
        via_bot_id: None,
        via_business_bot_id: None,
        guestchat_via_from: None,
        reply_to: reply_header(stored.reply_to),
        date: stored.date,
        message: stored.text.clone(),
        media: stored.media.and_then(|m| message_media(world, m)),
        reply_markup: None,
        entities: None,
        views,
        forwards: views.map(|_| 0),
        replies: None,
        edit_date: stored.edit_date,
        post_author: None,
        grouped_id: stored.grouped_id,
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
    }
    .into()
}

/// Peers an answer mentions; rendered into its `users` and `chats`.
#[derive(Default)]
pub(crate) struct Mentions {
    users: BTreeSet<UserId>,
    chats: BTreeSet<Peer>,
}

impl Mentions {
    pub(crate) fn with_user(user: UserId) -> Self {
        let mut mentions = Self::default();
        mentions.users.insert(user);
        mentions
    }

    pub(crate) fn extend(&mut self, other: Mentions) {
        self.users.extend(other.users);
        self.chats.extend(other.chats);
    }

    pub(crate) fn peer(&mut self, peer: Peer) {
        match peer {
            Peer::User(id) => {
                self.users.insert(id);
            }
            other => {
                self.chats.insert(other);
            }
        }
    }

    pub(crate) fn message(&mut self, stored: &StoredMessage) {
        self.peer(stored.peer);
        if let Some(from) = stored.from {
            self.users.insert(from);
        }
        if let Some(
            ServiceAction::ChatCreate { users, .. } | ServiceAction::ChatAddUser { users },
        ) = &stored.action
        {
            self.users.extend(users.iter().copied());
        }
        if let Some(
            ServiceAction::ChatDeleteUser { user }
            | ServiceAction::ChatJoinedByLink { inviter: user },
        ) = &stored.action
        {
            self.users.insert(*user);
        }
        if let Some(from) = stored.fwd.and_then(|f| f.from) {
            self.peer(from);
        }
    }

    pub(crate) fn users(&self, world: &World, viewer: UserId) -> Vec<tl::enums::User> {
        self.users
            .iter()
            .map(|id| user(world, viewer, *id))
            .collect()
    }

    pub(crate) fn chats(&self, world: &World, viewer: UserId) -> Vec<tl::enums::Chat> {
        self.chats
            .iter()
            .filter_map(|p| chat(world, viewer, *p))
            .collect()
    }
}

/// `updates` carrying `updates` and every peer they mention (seq 0: these are not part
/// of the `seq` sequence, like most updates Telegram sends).
pub(crate) fn updates(
    world: &World,
    viewer: UserId,
    updates: Vec<tl::enums::Update>,
    mentions: &Mentions,
    date: i32,
) -> tl::enums::Updates {
    tl::types::Updates {
        updates,
        users: mentions.users(world, viewer),
        chats: mentions.chats(world, viewer),
        date,
        seq: 0,
    }
    .into()
}

/// The update announcing a new message in `viewer`'s box or in a channel.
pub(crate) fn new_message_update(
    world: &World,
    viewer: UserId,
    stored: &StoredMessage,
    pts: i32,
) -> tl::enums::Update {
    let message = message(world, viewer, stored);
    match stored.peer {
        Peer::Channel(_) => tl::types::UpdateNewChannelMessage {
            message,
            pts,
            pts_count: 1,
        }
        .into(),
        _ => tl::types::UpdateNewMessage {
            message,
            pts,
            pts_count: 1,
        }
        .into(),
    }
}

/// The update announcing an edit in `viewer`'s box or in a channel.
pub(crate) fn edit_message_update(
    world: &World,
    viewer: UserId,
    stored: &StoredMessage,
    pts: i32,
) -> tl::enums::Update {
    let message = message(world, viewer, stored);
    match stored.peer {
        Peer::Channel(_) => tl::types::UpdateEditChannelMessage {
            message,
            pts,
            pts_count: 1,
        }
        .into(),
        _ => tl::types::UpdateEditMessage {
            message,
            pts,
            pts_count: 1,
        }
        .into(),
    }
}

/// A dialog-list entry; notifications are left at their defaults.
pub(crate) fn dialog(entry: &crate::world::Dialog) -> tl::enums::Dialog {
    tl::types::Dialog {
        pinned: false,
        unread_mark: false,
        view_forum_as_messages: false,
        peer: peer(entry.peer),
        top_message: entry.top_message,
        read_inbox_max_id: entry.read_inbox_max_id,
        read_outbox_max_id: entry.read_outbox_max_id,
        unread_count: entry.unread_count,
        unread_mentions_count: 0,
        unread_reactions_count: 0,
        unread_poll_votes_count: 0,
        notify_settings: notify_settings(),
        pts: entry.pts,
        draft: None,
        folder_id: None,
        ttl_period: None,
    }
    .into()
}

/// The update an event of `viewer`'s box (`channel == None`) or of a channel stands for,
/// with the peers it mentions; `None` when what it was about is gone (a new message that
/// was deleted since: its deletion follows in the log).
pub(crate) fn logged_update(
    world: &World,
    viewer: UserId,
    channel: Option<i64>,
    logged: &Logged,
) -> Option<(tl::enums::Update, Mentions)> {
    let mut mentions = Mentions::with_user(viewer);
    let stored = |id: i32| match channel {
        Some(channel) => world.channels.get(&channel)?.messages.get(&id),
        None => world.boxes.get(&viewer)?.messages.get(&id),
    };
    let update = match &logged.event {
        Event::NewMessage(id) => {
            let stored = stored(*id)?;
            mentions.message(stored);
            new_message_update(world, viewer, stored, logged.pts)
        }
        Event::EditMessage(id) => {
            let stored = stored(*id)?;
            mentions.message(stored);
            edit_message_update(world, viewer, stored, logged.pts)
        }
        Event::DeleteMessages(ids) => match channel {
            Some(channel_id) => {
                mentions.peer(Peer::Channel(channel_id));
                tl::types::UpdateDeleteChannelMessages {
                    channel_id,
                    messages: ids.clone(),
                    pts: logged.pts,
                    pts_count: logged.pts_count,
                }
                .into()
            }
            None => tl::types::UpdateDeleteMessages {
                messages: ids.clone(),
                pts: logged.pts,
                pts_count: logged.pts_count,
            }
            .into(),
        },
        Event::ReadInbox {
            peer: read_peer,
            max_id,
            still_unread,
        } => {
            mentions.peer(*read_peer);
            tl::types::UpdateReadHistoryInbox {
                folder_id: None,
                peer: peer(*read_peer),
                top_msg_id: None,
                max_id: *max_id,
                still_unread_count: *still_unread,
                pts: logged.pts,
                pts_count: logged.pts_count,
            }
            .into()
        }
        Event::ReadOutbox {
            peer: read_peer,
            max_id,
        } => {
            mentions.peer(*read_peer);
            tl::types::UpdateReadHistoryOutbox {
                peer: peer(*read_peer),
                max_id: *max_id,
                pts: logged.pts,
                pts_count: logged.pts_count,
            }
            .into()
        }
        Event::Pinned {
            peer: pinned_peer,
            ids,
            pinned,
        } => {
            mentions.peer(*pinned_peer);
            match pinned_peer {
                Peer::Channel(channel_id) => tl::types::UpdatePinnedChannelMessages {
                    pinned: *pinned,
                    channel_id: *channel_id,
                    messages: ids.clone(),
                    pts: logged.pts,
                    pts_count: logged.pts_count,
                }
                .into(),
                _ => tl::types::UpdatePinnedMessages {
                    pinned: *pinned,
                    peer: peer(*pinned_peer),
                    messages: ids.clone(),
                    pts: logged.pts,
                    pts_count: logged.pts_count,
                }
                .into(),
            }
        }
    };
    Some((update, mentions))
}

/// `userStatusOnline` until the account's online period ends, then `userStatusOffline`.
pub(crate) fn user_status(record: &UserRecord, now: i32) -> tl::enums::UserStatus {
    if record.online_until > now {
        tl::types::UserStatusOnline {
            expires: record.online_until,
        }
        .into()
    } else {
        tl::types::UserStatusOffline {
            was_online: record.was_online,
        }
        .into()
    }
}

fn chat_photo(photo: Option<i64>) -> tl::enums::ChatPhoto {
    match photo {
        Some(photo_id) => tl::types::ChatPhoto {
            has_video: false,
            photo_id,
            stripped_thumb: None,
            dc_id: SANDBOX_DC_ID,
        }
        .into(),
        None => tl::enums::ChatPhoto::Empty,
    }
}

fn fwd_header(fwd: &Forwarded) -> tl::enums::MessageFwdHeader {
    tl::types::MessageFwdHeader {
        imported: false,
        saved_out: false,
        from_id: fwd.from.map(peer),
        from_name: None,
        date: fwd.date,
        channel_post: fwd.channel_post,
        post_author: None,
        saved_from_peer: None,
        saved_from_msg_id: None,
        saved_from_id: None,
        saved_from_name: None,
        saved_date: None,
        psa_type: None,
    }
    .into()
}

fn photo_size(size: &PhotoSizeRecord) -> tl::enums::PhotoSize {
    tl::types::PhotoSize {
        r#type: size.kind.clone(),
        w: size.w,
        h: size.h,
        size: i32::try_from(size.size).unwrap_or(i32::MAX),
    }
    .into()
}

/// A stored photo; `photoEmpty` if it is gone.
pub(crate) fn photo(world: &World, id: i64) -> tl::enums::Photo {
    let Some(photo) = world.photos.get(&id) else {
        return tl::types::PhotoEmpty { id }.into();
    };
    tl::types::Photo {
        has_stickers: false,
        id,
        access_hash: photo.access_hash,
        file_reference: photo.file_reference.clone(),
        date: photo.date,
        sizes: photo.sizes.iter().map(photo_size).collect(),
        video_sizes: None,
        dc_id: SANDBOX_DC_ID,
    }
    .into()
}

fn document_attribute(attribute: &DocAttribute) -> tl::enums::DocumentAttribute {
    match attribute {
        DocAttribute::Filename { name } => tl::types::DocumentAttributeFilename {
            file_name: name.clone(),
        }
        .into(),
        DocAttribute::ImageSize { w, h } => {
            tl::types::DocumentAttributeImageSize { w: *w, h: *h }.into()
        }
        DocAttribute::Animated => tl::enums::DocumentAttribute::Animated,
        DocAttribute::Video {
            duration,
            w,
            h,
            round_message,
            supports_streaming,
        } => tl::types::DocumentAttributeVideo {
            round_message: *round_message,
            supports_streaming: *supports_streaming,
            nosound: false,
            duration: *duration,
            w: *w,
            h: *h,
            preload_prefix_size: None,
            video_start_ts: None,
            video_codec: None,
        }
        .into(),
        DocAttribute::Audio {
            voice,
            duration,
            title,
            performer,
            waveform,
        } => tl::types::DocumentAttributeAudio {
            voice: *voice,
            duration: *duration,
            title: title.clone(),
            performer: performer.clone(),
            waveform: (!waveform.is_empty()).then(|| waveform.clone()),
        }
        .into(),
    }
}

/// A stored document; `documentEmpty` if it is gone.
pub(crate) fn document(world: &World, id: i64) -> tl::enums::Document {
    let Some(document) = world.documents.get(&id) else {
        return tl::types::DocumentEmpty { id }.into();
    };
    tl::types::Document {
        id,
        access_hash: document.access_hash,
        file_reference: document.file_reference.clone(),
        date: document.date,
        mime_type: document.mime_type.clone(),
        size: document.size,
        thumbs: (!document.thumbs.is_empty())
            .then(|| document.thumbs.iter().map(photo_size).collect()),
        video_thumbs: None,
        dc_id: SANDBOX_DC_ID,
        attributes: document.attributes.iter().map(document_attribute).collect(),
    }
    .into()
}

/// What a message carries, as `messageMediaPhoto` / `messageMediaDocument`.
pub(crate) fn message_media(world: &World, media: MessageMedia) -> Option<tl::enums::MessageMedia> {
    match media {
        MessageMedia::Photo(id) => Some(
            tl::types::MessageMediaPhoto {
                spoiler: false,
                live_photo: false,
                photo: Some(photo(world, id)),
                ttl_seconds: None,
                video: None,
            }
            .into(),
        ),
        MessageMedia::Document(id) => {
            let stored = world.documents.get(&id);
            Some(
                tl::types::MessageMediaDocument {
                    nopremium: false,
                    spoiler: false,
                    video: stored.is_some_and(|d| d.is_video()),
                    round: stored.is_some_and(|d| d.is_round()),
                    voice: stored.is_some_and(|d| d.is_voice()),
                    document: Some(document(world, id)),
                    alt_documents: None,
                    video_cover: None,
                    video_timestamp: None,
                    ttl_seconds: None,
                }
                .into(),
            )
        }
    }
}

/// Default notification settings (nothing muted).
pub(crate) fn notify_settings() -> tl::enums::PeerNotifySettings {
    tl::types::PeerNotifySettings {
        show_previews: None,
        silent: None,
        mute_until: None,
        ios_sound: None,
        android_sound: None,
        other_sound: None,
        stories_muted: None,
        stories_hide_sender: None,
        stories_ios_sound: None,
        stories_android_sound: None,
        stories_other_sound: None,
    }
    .into()
}
