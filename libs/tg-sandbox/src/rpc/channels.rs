//! `channels.*`: channel lookups, creating and joining, participants, full info.

use grammers_tl_types::{self as tl, functions as f};

use super::messages::groups::{chat_photo_bytes, input_users, invited};
use super::messages::{announce, announce_parts};
use super::{Call, RpcError, resolve};
use crate::render::{self, Mentions};
use crate::state::Push;
use crate::world::{Peer, UserId};

/// Telegram's maximum `limit` for `channels.getParticipants`.
const MAX_PARTICIPANTS: usize = 200;

/// `channels.getChannels`: the channels the inputs name (with valid access hashes).
pub(super) fn get_channels(
    call: &mut Call,
    request: f::channels::GetChannels,
) -> Result<tl::enums::messages::Chats, RpcError> {
    let viewer = call.require_user()?;
    let world = &call.state.world;
    let chats = request
        .id
        .iter()
        .map(|input| resolve::channel_id(world, viewer, input))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .filter_map(|id| render::chat(world, viewer, Peer::Channel(id)))
        .collect();
    Ok(tl::types::messages::Chats { chats }.into())
}

/// `channels.createChannel`: a supergroup (`megagroup`) or broadcast channel with the
/// creator alone; the answer carries `updateChannel` and the creation message.
pub(super) fn create_channel(
    call: &mut Call,
    request: f::channels::CreateChannel,
) -> Result<tl::enums::Updates, RpcError> {
    let creator = call.require_user()?;
    let broadcast = !request.megagroup;
    let (channel_id, sent) = call.state.world.create_channel_by(
        creator,
        &request.title,
        &request.about,
        broadcast,
        call.now,
    )?;
    let (mut updates, mentions) = announce_parts(call, creator, &sent, None, false);
    updates.insert(0, tl::types::UpdateChannel { channel_id }.into());
    Ok(render::updates(
        &call.state.world,
        creator,
        updates,
        &mentions,
        call.now,
    ))
}

/// `channels.inviteToChannel`: new members get `updateChannel`; in a supergroup every
/// member gets `messageActionChatAddUser`.
pub(super) fn invite_to_channel(
    call: &mut Call,
    request: f::channels::InviteToChannel,
) -> Result<tl::enums::messages::InvitedUsers, RpcError> {
    let by = call.require_user()?;
    let channel_id = resolve::channel_id(&call.state.world, by, &request.channel)?;
    let users = input_users(call, by, &request.users)?;
    let crate::world::Invited {
        added,
        missing,
        sent,
    } = call
        .state
        .world
        .invite_to_channel(by, channel_id, &users, call.now)?;
    for user in &added {
        let mut mentions = Mentions::with_user(*user);
        mentions.peer(Peer::Channel(channel_id));
        let updates = render::updates(
            &call.state.world,
            *user,
            vec![tl::types::UpdateChannel { channel_id }.into()],
            &mentions,
            call.now,
        );
        call.pushes.push(Push {
            user: *user,
            updates,
            except: None,
        });
    }
    let updates = match sent {
        Some(sent) => announce(call, by, &sent, None, false),
        None => {
            let mut mentions = Mentions::with_user(by);
            mentions.peer(Peer::Channel(channel_id));
            render::updates(
                &call.state.world,
                by,
                vec![tl::types::UpdateChannel { channel_id }.into()],
                &mentions,
                call.now,
            )
        }
    };
    Ok(invited(updates, &missing))
}

fn full_admin_rights() -> tl::enums::ChatAdminRights {
    tl::types::ChatAdminRights {
        change_info: true,
        post_messages: true,
        edit_messages: true,
        delete_messages: true,
        ban_users: true,
        invite_users: true,
        pin_messages: true,
        add_admins: true,
        anonymous: false,
        manage_call: true,
        other: true,
        manage_topics: true,
        post_stories: true,
        edit_stories: true,
        delete_stories: true,
        manage_direct_messages: true,
        manage_ranks: true,
        manage_linked_peers: true,
        manage_welcome_messages: true,
    }
    .into()
}

/// `channels.getParticipants` with the filters recent (newest members first), admins
/// (the creator), search and contacts (name or username prefix); kicked, banned, bots
/// and mentions are always empty. In a broadcast channel only its admins may look.
pub(super) fn get_participants(
    call: &mut Call,
    request: f::channels::GetParticipants,
) -> Result<tl::enums::channels::ChannelParticipants, RpcError> {
    use tl::enums::ChannelParticipantsFilter as Filter;
    let viewer = call.require_user()?;
    let world = &call.state.world;
    let channel_id = resolve::member_channel(world, viewer, &request.channel)?;
    let Some(channel) = world.channels.get(&channel_id) else {
        return Err(RpcError::bad_request("CHANNEL_INVALID"));
    };
    if channel.broadcast && channel.creator != viewer {
        return Err(RpcError::bad_request("CHAT_ADMIN_REQUIRED"));
    }
    let joined = |member: UserId| {
        channel
            .joined
            .get(&member)
            .copied()
            .map_or((channel.creator, channel.date), |j| (j.inviter, j.date))
    };
    let name_of = |member: UserId| {
        world.user(member).map_or((String::new(), None), |u| {
            (
                format!(
                    "{} {}",
                    u.first_name,
                    u.last_name.as_deref().unwrap_or_default()
                ),
                u.username.clone(),
            )
        })
    };
    let named = |member: UserId, q: &str| {
        let (name, username) = name_of(member);
        q.trim().is_empty() || crate::world::name_matches(q, &name, username.as_deref())
    };
    let contacts = world.users.get(&viewer).map(|u| &u.contacts);
    let mut members: Vec<UserId> = match &request.filter {
        Filter::ChannelParticipantsRecent => channel.members.iter().copied().collect(),
        Filter::ChannelParticipantsAdmins => std::iter::once(channel.creator)
            .chain(channel.admins.keys().copied())
            .collect(),
        Filter::ChannelParticipantsSearch(search) => channel
            .members
            .iter()
            .copied()
            .filter(|m| named(*m, &search.q))
            .collect(),
        Filter::ChannelParticipantsContacts(search) => channel
            .members
            .iter()
            .copied()
            .filter(|m| contacts.is_some_and(|c| c.contains(m)) && named(*m, &search.q))
            .collect(),
        _ => Vec::new(),
    };
    // Newest members first, as Telegram lists recent participants.
    members.sort_by_key(|m| (std::cmp::Reverse(joined(*m).1), *m));
    let count = members.len();
    let offset = usize::try_from(request.offset).unwrap_or(0);
    let limit = usize::try_from(request.limit)
        .unwrap_or(0)
        .min(MAX_PARTICIPANTS);
    let page: Vec<UserId> = members.into_iter().skip(offset).take(limit).collect();
    let mut mentions = Mentions::with_user(viewer);
    let participants = page
        .iter()
        .map(|member| {
            mentions.peer(Peer::User(*member));
            let (inviter, date) = joined(*member);
            if *member == channel.creator {
                tl::types::ChannelParticipantCreator {
                    user_id: *member,
                    admin_rights: full_admin_rights(),
                    rank: None,
                }
                .into()
            } else if let Some(promoted_by) = channel.admins.get(member) {
                tl::types::ChannelParticipantAdmin {
                    can_edit: viewer == channel.creator || viewer == *promoted_by,
                    is_self: *member == viewer,
                    user_id: *member,
                    inviter_id: Some(inviter),
                    promoted_by: *promoted_by,
                    date,
                    admin_rights: render::admin_rights(),
                    rank: None,
                }
                .into()
            } else if *member == viewer {
                tl::types::ChannelParticipantSelf {
                    via_request: false,
                    user_id: *member,
                    inviter_id: inviter,
                    date,
                    subscription_until_date: None,
                    rank: None,
                }
                .into()
            } else {
                tl::types::ChannelParticipant {
                    user_id: *member,
                    date,
                    subscription_until_date: None,
                    rank: None,
                }
                .into()
            }
        })
        .collect();
    Ok(tl::types::channels::ChannelParticipants {
        count: count as i32,
        participants,
        chats: Vec::new(),
        users: mentions.users(world, viewer),
    }
    .into())
}

/// `channels.getFullChannel`: description, member counts (online members are those
/// with a current `userStatusOnline`), read positions, photo, pinned message, linked
/// chat and `pts`. Public channels (with a username) may be looked at from outside.
pub(super) fn get_full_channel(
    call: &mut Call,
    request: f::channels::GetFullChannel,
) -> Result<tl::enums::messages::ChatFull, RpcError> {
    let viewer = call.require_user()?;
    let world = &call.state.world;
    let channel_id = resolve::channel_id(world, viewer, &request.channel)?;
    let Some(channel) = world.channels.get(&channel_id) else {
        return Err(RpcError::bad_request("CHANNEL_INVALID"));
    };
    let member = channel.members.contains(&viewer);
    if !member && channel.username.is_none() {
        return Err(RpcError::bad_request("CHANNEL_PRIVATE"));
    }
    let dialog = world
        .dialogs(viewer)
        .into_iter()
        .find(|d| d.peer == Peer::Channel(channel_id));
    let online = channel
        .members
        .iter()
        .filter(|m| {
            world
                .users
                .get(m)
                .is_some_and(|u| u.online_until > call.now)
        })
        .count();
    let is_admin = channel.creator == viewer || channel.admins.contains_key(&viewer);
    let mut mentions = Mentions::with_user(viewer);
    mentions.peer(Peer::Channel(channel_id));
    if let Some(linked) = channel.linked_chat_id {
        mentions.peer(Peer::Channel(linked));
    }
    let full = tl::types::ChannelFull {
        can_view_participants: !channel.broadcast || is_admin,
        can_set_username: is_admin,
        can_set_stickers: false,
        hidden_prehistory: false,
        can_set_location: false,
        has_scheduled: false,
        can_view_stats: false,
        blocked: false,
        can_delete_channel: is_admin,
        antispam: false,
        participants_hidden: false,
        translations_disabled: false,
        stories_pinned_available: false,
        view_forum_as_messages: false,
        restricted_sponsored: false,
        can_view_revenue: false,
        paid_media_allowed: false,
        can_view_stars_revenue: false,
        paid_reactions_available: false,
        stargifts_available: false,
        paid_messages_available: false,
        has_welcome_messages: false,
        id: channel_id,
        about: channel.about.clone(),
        participants_count: Some(channel.members.len() as i32),
        admins_count: Some(1 + channel.admins.len() as i32),
        kicked_count: None,
        banned_count: None,
        online_count: Some(online as i32),
        read_inbox_max_id: dialog.as_ref().map_or(0, |d| d.read_inbox_max_id),
        read_outbox_max_id: dialog.as_ref().map_or(0, |d| d.read_outbox_max_id),
        unread_count: dialog.as_ref().map_or(0, |d| d.unread_count),
        chat_photo: match channel.photo {
            Some(photo) => render::photo(world, photo),
            None => tl::types::PhotoEmpty { id: 0 }.into(),
        },
        notify_settings: render::notify_settings(),
        exported_invite: None,
        bot_info: Vec::new(),
        migrated_from_chat_id: None,
        migrated_from_max_id: None,
        pinned_msg_id: world.pinned_msg_id(viewer, Peer::Channel(channel.id)),
        stickerset: None,
        available_min_id: None,
        folder_id: None,
        linked_chat_id: channel.linked_chat_id,
        location: None,
        slowmode_seconds: None,
        slowmode_next_send_date: None,
        stats_dc: None,
        pts: channel.pts,
        call: None,
        ttl_period: None,
        pending_suggestions: None,
        groupcall_default_join_as: None,
        theme_emoticon: None,
        requests_pending: None,
        recent_requesters: None,
        default_send_as: None,
        available_reactions: None,
        reactions_limit: None,
        stories: None,
        wallpaper: None,
        boosts_applied: None,
        boosts_unrestrict: None,
        emojiset: None,
        bot_verification: None,
        stargifts_count: None,
        send_paid_messages_stars: None,
        main_tab: None,
        guard_bot_id: None,
    };
    Ok(tl::types::messages::ChatFull {
        full_chat: full.into(),
        chats: mentions.chats(world, viewer),
        users: mentions.users(world, viewer),
    }
    .into())
}

/// Tells `user`'s clients that their standing in a channel changed (`updateChannel`),
/// as Telegram does for a member removed or promoted.
fn push_channel_update(call: &mut Call, user: UserId, channel_id: i64) {
    let mut mentions = Mentions::with_user(user);
    mentions.peer(Peer::Channel(channel_id));
    let updates = render::updates(
        &call.state.world,
        user,
        vec![tl::types::UpdateChannel { channel_id }.into()],
        &mentions,
        call.now,
    );
    call.pushes.push(Push {
        user,
        updates,
        except: None,
    });
}

/// The caller's answer to a membership or info change: the service message where there
/// is one, and `updateChannel`.
fn removal_answer(
    call: &mut Call,
    actor: UserId,
    channel_id: i64,
    sent: Option<&crate::world::Sent>,
) -> tl::enums::Updates {
    let (mut updates, mut mentions) = match sent {
        Some(sent) => announce_parts(call, actor, sent, None, false),
        None => (Vec::new(), Mentions::with_user(actor)),
    };
    mentions.peer(Peer::Channel(channel_id));
    updates.insert(0, tl::types::UpdateChannel { channel_id }.into());
    render::updates(&call.state.world, actor, updates, &mentions, call.now)
}

/// `channels.editBanned`: with `view_messages` banned, an admin removes the member
/// (who gets `updateChannel`; a supergroup's members get `messageActionChatDeleteUser`).
/// Other restrictions are not served: `BANNED_RIGHTS_INVALID`.
pub(super) fn edit_banned(
    call: &mut Call,
    request: f::channels::EditBanned,
) -> Result<tl::enums::Updates, RpcError> {
    let by = call.require_user()?;
    let channel_id = resolve::channel_id(&call.state.world, by, &request.channel)?;
    let tl::enums::ChatBannedRights::Rights(rights) = &request.banned_rights;
    if !rights.view_messages {
        return Err(RpcError::bad_request("BANNED_RIGHTS_INVALID"));
    }
    let Peer::User(user) = resolve::peer(&call.state.world, by, &request.participant)? else {
        return Err(RpcError::bad_request("PARTICIPANT_ID_INVALID"));
    };
    let removed = call
        .state
        .world
        .ban_from_channel(by, channel_id, user, call.now)?;
    push_channel_update(call, user, channel_id);
    Ok(removal_answer(call, by, channel_id, removed.sent.as_ref()))
}

/// `channels.leaveChannel`: the caller leaves; `USER_CREATOR` for its creator.
pub(super) fn leave_channel(
    call: &mut Call,
    request: f::channels::LeaveChannel,
) -> Result<tl::enums::Updates, RpcError> {
    let user = call.require_user()?;
    let channel_id = resolve::channel_id(&call.state.world, user, &request.channel)?;
    let removed = call.state.world.leave_channel(user, channel_id, call.now)?;
    Ok(removal_answer(
        call,
        user,
        channel_id,
        removed.sent.as_ref(),
    ))
}

/// Whether admin rights grant anything (empty rights demote).
fn grants_anything(rights: &tl::types::ChatAdminRights) -> bool {
    rights.change_info
        || rights.post_messages
        || rights.edit_messages
        || rights.delete_messages
        || rights.ban_users
        || rights.invite_users
        || rights.pin_messages
        || rights.add_admins
        || rights.manage_call
        || rights.other
}

/// `channels.editAdmin`: the creator promotes a member (any right given) or demotes an
/// admin (no rights); the user gets `updateChannel`. Every admin holds the same rights
/// here, whatever was asked.
pub(super) fn edit_admin(
    call: &mut Call,
    request: f::channels::EditAdmin,
) -> Result<tl::enums::Updates, RpcError> {
    let by = call.require_user()?;
    let channel_id = resolve::channel_id(&call.state.world, by, &request.channel)?;
    let user = input_users(call, by, std::slice::from_ref(&request.user_id))?
        .into_iter()
        .next()
        .ok_or_else(|| RpcError::bad_request("USER_ID_INVALID"))?;
    let tl::enums::ChatAdminRights::Rights(rights) = &request.admin_rights;
    let changed =
        call.state
            .world
            .edit_channel_admin(by, channel_id, user, grants_anything(rights))?;
    if changed {
        push_channel_update(call, user, channel_id);
    }
    Ok(removal_answer(call, by, channel_id, None))
}

/// `channels.editTitle`: a supergroup's or channel's new title, told by
/// `messageActionChatEditTitle` in the channel.
pub(super) fn edit_title(
    call: &mut Call,
    request: f::channels::EditTitle,
) -> Result<tl::enums::Updates, RpcError> {
    let by = call.require_user()?;
    let channel_id = resolve::channel_id(&call.state.world, by, &request.channel)?;
    let sent =
        call.state
            .world
            .edit_title(by, Peer::Channel(channel_id), &request.title, call.now)?;
    Ok(removal_answer(call, by, channel_id, Some(&sent)))
}

/// `channels.editPhoto`: a supergroup's or channel's new photo, or none, told by
/// `updateChannel` and `messageActionChatEditPhoto` / `messageActionChatDeletePhoto`
/// in the channel.
pub(super) fn edit_photo(
    call: &mut Call,
    request: f::channels::EditPhoto,
) -> Result<tl::enums::Updates, RpcError> {
    let by = call.require_user()?;
    let channel_id = resolve::channel_id(&call.state.world, by, &request.channel)?;
    let bytes = chat_photo_bytes(call, &request.photo)?;
    let sent = call
        .state
        .world
        .edit_photo(by, Peer::Channel(channel_id), bytes, call.now)?;
    Ok(removal_answer(call, by, channel_id, Some(&sent)))
}
