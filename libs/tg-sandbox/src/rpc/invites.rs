//! Invite links and joining: `messages.exportChatInvite`, `messages.checkChatInvite`,
//! `messages.importChatInvite`, `channels.joinChannel`. The rules are in
//! `world::invites`; here the answers and the updates other members get.

use grammers_tl_types::{self as tl, functions as f};

use super::messages::announce_parts;
use super::{Call, RpcError, resolve};
use crate::render::{self, Mentions};
use crate::world::{InviteRequest, JoinedChat, Peer};

/// Telegram's longest invite link title.
const MAX_INVITE_TITLE_CHARS: usize = 32;
/// Telegram's most uses of a link (`usage_limit`).
const MAX_USAGE_LIMIT: i32 = 99_999;

/// `messages.exportChatInvite`: a new `https://t.me/+HASH` link (admins and creators).
pub(super) fn export_chat_invite(
    call: &mut Call,
    request: f::messages::ExportChatInvite,
) -> Result<tl::enums::ExportedChatInvite, RpcError> {
    let by = call.require_user()?;
    let peer = resolve::peer(&call.state.world, by, &request.peer)?;
    if matches!(peer, Peer::User(_)) {
        return Err(RpcError::bad_request("PEER_ID_INVALID"));
    }
    if request
        .usage_limit
        .is_some_and(|limit| !(1..=MAX_USAGE_LIMIT).contains(&limit))
    {
        return Err(RpcError::bad_request("USAGE_LIMIT_INVALID"));
    }
    if request
        .expire_date
        .is_some_and(|expires| expires != 0 && expires <= call.now)
    {
        return Err(RpcError::bad_request("EXPIRE_DATE_INVALID"));
    }
    if request
        .title
        .as_ref()
        .is_some_and(|title| title.chars().count() > MAX_INVITE_TITLE_CHARS)
    {
        return Err(RpcError::bad_request("INVITE_TITLE_INVALID"));
    }
    let (hash, invite) = call.state.world.export_invite(
        by,
        peer,
        InviteRequest {
            expire_date: request.expire_date.filter(|expires| *expires != 0),
            usage_limit: request.usage_limit,
            title: request.title,
            request_needed: request.request_needed,
        },
        call.now,
    )?;
    Ok(tl::types::ChatInviteExported {
        revoked: false,
        permanent: false,
        request_needed: invite.request_needed,
        link: format!("https://t.me/+{hash}"),
        admin_id: invite.admin,
        date: invite.date,
        start_date: None,
        expire_date: invite.expire_date,
        usage_limit: invite.usage_limit,
        usage: None,
        requested: None,
        subscription_expired: None,
        title: invite.title,
        subscription_pricing: None,
    }
    .into())
}

/// `messages.checkChatInvite`: `chatInviteAlready` for a member, else `chatInvite` (title,
/// about, kind, member count, a few members of a group).
pub(super) fn check_chat_invite(
    call: &mut Call,
    request: f::messages::CheckChatInvite,
) -> Result<tl::enums::ChatInvite, RpcError> {
    let viewer = call.require_user()?;
    let world = &call.state.world;
    let check = world.check_invite(viewer, &request.hash, call.now)?;
    let (peer, request_needed) = match check {
        crate::world::InviteCheck::Already(peer) => {
            let chat = render::chat(world, viewer, peer)
                .ok_or_else(|| RpcError::bad_request("INVITE_HASH_INVALID"))?;
            return Ok(tl::types::ChatInviteAlready { chat }.into());
        }
        crate::world::InviteCheck::Preview {
            peer,
            request_needed,
        } => (peer, request_needed),
    };
    let members = world.members(peer);
    let (channel, broadcast, public, photo) = match peer {
        Peer::Channel(id) => {
            let record = world
                .channels
                .get(&id)
                .ok_or_else(|| RpcError::bad_request("INVITE_HASH_INVALID"))?;
            (
                true,
                record.broadcast,
                record.username.is_some(),
                record.photo,
            )
        }
        Peer::Chat(id) => (
            false,
            false,
            false,
            world.chats.get(&id).and_then(|c| c.photo),
        ),
        Peer::User(_) => return Err(RpcError::bad_request("INVITE_HASH_INVALID")),
    };
    // Telegram shows a few members of a group, none of a broadcast channel.
    let participants = (!broadcast).then(|| {
        members
            .iter()
            .take(10)
            .map(|member| render::user(world, viewer, *member))
            .collect()
    });
    let about = world.about(peer);
    Ok(tl::types::ChatInvite {
        channel,
        broadcast,
        public,
        megagroup: channel && !broadcast,
        request_needed,
        verified: false,
        scam: false,
        fake: false,
        can_refulfill_subscription: false,
        title: world.title(peer).unwrap_or_default().to_owned(),
        about: (!about.is_empty()).then(|| about.to_owned()),
        photo: match photo {
            Some(photo) => render::photo(world, photo),
            None => tl::types::PhotoEmpty { id: 0 }.into(),
        },
        participants_count: members.len() as i32,
        participants,
        color: 0,
        subscription_pricing: None,
        subscription_form_id: None,
        bot_verification: None,
    }
    .into())
}

/// The joiner's answer: `updateChannel` for a channel, the service message where the chat
/// shows one (other members get it pushed), and the chat.
fn joined_answer(
    call: &mut Call,
    user: crate::world::UserId,
    joined: &JoinedChat,
) -> tl::enums::messages::ChatInviteJoinResult {
    let (mut updates, mut mentions) = match &joined.sent {
        Some(sent) => announce_parts(call, user, sent, None, false),
        None => (Vec::new(), Mentions::with_user(user)),
    };
    mentions.peer(joined.peer);
    if let Peer::Channel(channel_id) = joined.peer {
        updates.insert(0, tl::types::UpdateChannel { channel_id }.into());
    }
    let updates = render::updates(&call.state.world, user, updates, &mentions, call.now);
    tl::types::messages::ChatInviteJoinResultOk { updates }.into()
}

/// `messages.importChatInvite`: joins the chat of a link.
pub(super) fn import_chat_invite(
    call: &mut Call,
    request: f::messages::ImportChatInvite,
) -> Result<tl::enums::messages::ChatInviteJoinResult, RpcError> {
    let user = call.require_user()?;
    let joined = call
        .state
        .world
        .import_invite(user, &request.hash, call.now)?;
    Ok(joined_answer(call, user, &joined))
}

/// `channels.joinChannel`: joins a public supergroup or channel.
pub(super) fn join_channel(
    call: &mut Call,
    request: f::channels::JoinChannel,
) -> Result<tl::enums::messages::ChatInviteJoinResult, RpcError> {
    let user = call.require_user()?;
    let channel_id = resolve::channel_id(&call.state.world, user, &request.channel)?;
    let joined = call.state.world.join_channel(user, channel_id, call.now)?;
    Ok(joined_answer(call, user, &joined))
}
