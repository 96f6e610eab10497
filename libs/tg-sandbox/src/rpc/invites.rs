//! Invite links and joining: `messages.exportChatInvite`, `messages.checkChatInvite`,
//! `messages.importChatInvite`, `channels.joinChannel`, managing links
//! (`messages.getExportedChatInvites`, `messages.editExportedChatInvite`) and join
//! requests (`messages.getChatInviteImporters` with `requested`,
//! `messages.hideChatJoinRequest`). The rules are in `world::invites`; here the answers
//! and the updates other members get.
//!
//! Not served: `getChatInviteImporters` without `requested` (who joined through links),
//! its `q` search, and `updatePendingJoinRequests` to admins when a request comes in.

use grammers_tl_types::{self as tl, functions as f};

use super::messages::announce_parts;
use super::{Call, RpcError, resolve};
use crate::render::{self, Mentions};
use crate::state::Push;
use crate::world::{InviteEdit, InviteRecord, InviteRequest, JoinedChat, Peer, UserId};

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
    Ok(exported(&hash, &invite))
}

/// A link as Telegram shows it to admins (`usage` and `requested` only when not 0).
fn exported(hash: &str, invite: &InviteRecord) -> tl::enums::ExportedChatInvite {
    let pending = i32::try_from(invite.pending.len()).unwrap_or(i32::MAX);
    tl::types::ChatInviteExported {
        revoked: invite.revoked,
        permanent: false,
        request_needed: invite.request_needed,
        link: format!("https://t.me/+{hash}"),
        admin_id: invite.admin,
        date: invite.date,
        start_date: None,
        expire_date: invite.expire_date,
        usage_limit: invite.usage_limit,
        usage: (invite.usage > 0).then_some(invite.usage),
        requested: (pending > 0).then_some(pending),
        subscription_expired: None,
        title: invite.title.clone(),
        subscription_pricing: None,
    }
    .into()
}

/// Checks a link's settings as Telegram does (0 removes an expiry or a limit).
fn check_settings(
    now: i32,
    expire_date: Option<i32>,
    usage_limit: Option<i32>,
    title: Option<&String>,
) -> Result<(), RpcError> {
    if usage_limit.is_some_and(|limit| !(0..=MAX_USAGE_LIMIT).contains(&limit)) {
        return Err(RpcError::bad_request("USAGE_LIMIT_INVALID"));
    }
    if expire_date.is_some_and(|expires| expires != 0 && expires <= now) {
        return Err(RpcError::bad_request("EXPIRE_DATE_INVALID"));
    }
    if title.is_some_and(|title| title.chars().count() > MAX_INVITE_TITLE_CHARS) {
        return Err(RpcError::bad_request("INVITE_TITLE_INVALID"));
    }
    Ok(())
}

/// The hash of a link as `editExportedChatInvite` takes it (the whole link, or the hash).
fn link_hash(link: &str) -> &str {
    let link = link
        .strip_prefix("https://")
        .or_else(|| link.strip_prefix("http://"))
        .unwrap_or(link);
    [
        "t.me/+",
        "t.me/joinchat/",
        "telegram.me/+",
        "telegram.me/joinchat/",
    ]
    .iter()
    .find_map(|prefix| link.strip_prefix(prefix))
    .unwrap_or(link)
}

/// The users an answer names, rendered for `viewer`.
fn users_of(
    call: &Call,
    viewer: UserId,
    ids: impl IntoIterator<Item = UserId>,
) -> Vec<tl::enums::User> {
    let ids: std::collections::BTreeSet<UserId> = ids.into_iter().collect();
    ids.into_iter()
        .map(|id| render::user(&call.state.world, viewer, id))
        .collect()
}

/// At most 100 a page, as Telegram.
fn page_limit(limit: i32) -> usize {
    usize::try_from(limit.clamp(0, 100)).unwrap_or(0)
}

/// `messages.getExportedChatInvites`: the links an admin made to a chat, revoked ones or
/// the others, newest first, paged by `offset_date` + `offset_link`.
pub(super) fn get_exported_chat_invites(
    call: &mut Call,
    request: f::messages::GetExportedChatInvites,
) -> Result<tl::enums::messages::ExportedChatInvites, RpcError> {
    let by = call.require_user()?;
    let world = &call.state.world;
    let peer = resolve::peer(world, by, &request.peer)?;
    if matches!(peer, Peer::User(_)) {
        return Err(RpcError::bad_request("PEER_ID_INVALID"));
    }
    let admin = resolve::user(world, by, &request.admin_id)
        .ok_or_else(|| RpcError::bad_request("USER_ID_INVALID"))?;
    let offset = match (&request.offset_date, &request.offset_link) {
        (Some(date), Some(link)) => Some((*date, link_hash(link))),
        _ => None,
    };
    let (count, links) = world.exported_invites(
        by,
        peer,
        admin,
        request.revoked,
        offset,
        page_limit(request.limit),
    )?;
    let users = users_of(call, by, links.iter().map(|(_, invite)| invite.admin));
    Ok(tl::types::messages::ExportedChatInvites {
        count: i32::try_from(count).unwrap_or(i32::MAX),
        invites: links
            .iter()
            .map(|(hash, invite)| exported(hash, invite))
            .collect(),
        users,
    }
    .into())
}

/// `messages.editExportedChatInvite`: revokes a link, or changes its expiry, usage
/// limit, title or whether joining needs approval.
pub(super) fn edit_exported_chat_invite(
    call: &mut Call,
    request: f::messages::EditExportedChatInvite,
) -> Result<tl::enums::messages::ExportedChatInvite, RpcError> {
    let by = call.require_user()?;
    let peer = resolve::peer(&call.state.world, by, &request.peer)?;
    if matches!(peer, Peer::User(_)) {
        return Err(RpcError::bad_request("PEER_ID_INVALID"));
    }
    check_settings(
        call.now,
        request.expire_date,
        request.usage_limit,
        request.title.as_ref(),
    )?;
    let hash = link_hash(&request.link).to_owned();
    let invite = call.state.world.edit_invite(
        by,
        peer,
        &hash,
        InviteEdit {
            revoke: request.revoked,
            expire_date: request.expire_date,
            usage_limit: request.usage_limit,
            title: request.title,
            request_needed: request.request_needed,
        },
    )?;
    let users = users_of(call, by, [invite.admin]);
    Ok(tl::types::messages::ExportedChatInvite {
        invite: exported(&hash, &invite),
        users,
    }
    .into())
}

/// `messages.getChatInviteImporters` with `requested`: the pending requests to join,
/// newest first, paged by `offset_date` + `offset_user`, for one link or all.
pub(super) fn get_chat_invite_importers(
    call: &mut Call,
    request: f::messages::GetChatInviteImporters,
) -> Result<tl::enums::messages::ChatInviteImporters, RpcError> {
    let by = call.require_user()?;
    if !request.requested || request.subscription_expired || request.q.is_some() {
        // Who joined through links, and the search, are not served here.
        return Err(RpcError::bad_request("INPUT_METHOD_INVALID"));
    }
    let world = &call.state.world;
    let peer = resolve::peer(world, by, &request.peer)?;
    if matches!(peer, Peer::User(_)) {
        return Err(RpcError::bad_request("PEER_ID_INVALID"));
    }
    let offset = match &request.offset_user {
        tl::enums::InputUser::Empty => None,
        tl::enums::InputUser::User(user) => Some((request.offset_date, user.user_id)),
        _ => return Err(RpcError::bad_request("USER_ID_INVALID")),
    };
    let (count, mut requests) = world.join_requests(by, peer, offset, usize::MAX)?;
    if let Some(link) = &request.link {
        let hash = link_hash(link);
        requests.retain(|request| request.hash == hash);
    }
    requests.truncate(page_limit(request.limit));
    let users = users_of(call, by, requests.iter().map(|request| request.user));
    Ok(tl::types::messages::ChatInviteImporters {
        count: i32::try_from(count).unwrap_or(i32::MAX),
        importers: requests
            .iter()
            .map(|request| {
                tl::types::ChatInviteImporter {
                    requested: true,
                    via_chatlist: false,
                    user_id: request.user,
                    date: request.date,
                    about: None,
                    approved_by: None,
                }
                .into()
            })
            .collect(),
        users,
    }
    .into())
}

/// `messages.hideChatJoinRequest`: approves a request (the user joins; the members see
/// `messageActionChatJoinedByRequest`, the user's clients `updateChannel` for a channel)
/// or declines it.
pub(super) fn hide_chat_join_request(
    call: &mut Call,
    request: f::messages::HideChatJoinRequest,
) -> Result<tl::enums::Updates, RpcError> {
    let by = call.require_user()?;
    let peer = resolve::peer(&call.state.world, by, &request.peer)?;
    if matches!(peer, Peer::User(_)) {
        return Err(RpcError::bad_request("PEER_ID_INVALID"));
    }
    let user = resolve::user(&call.state.world, by, &request.user_id)
        .ok_or_else(|| RpcError::bad_request("USER_ID_INVALID"))?;
    let joined = call
        .state
        .world
        .hide_join_request(by, peer, user, request.approved, call.now)?;
    let Some(joined) = joined else {
        let mentions = Mentions::with_user(by);
        return Ok(render::updates(
            &call.state.world,
            by,
            Vec::new(),
            &mentions,
            call.now,
        ));
    };
    let (mut updates, mut mentions) = match &joined.sent {
        Some(sent) => announce_parts(call, by, sent, None, false),
        None => (Vec::new(), Mentions::with_user(by)),
    };
    mentions.peer(joined.peer);
    if let Peer::Channel(channel_id) = joined.peer {
        updates.insert(0, tl::types::UpdateChannel { channel_id }.into());
        let mut theirs = Mentions::with_user(user);
        theirs.peer(joined.peer);
        let pushed = render::updates(
            &call.state.world,
            user,
            vec![tl::types::UpdateChannel { channel_id }.into()],
            &theirs,
            call.now,
        );
        call.pushes.push(Push {
            user,
            updates: pushed,
            except: None,
        });
    }
    Ok(render::updates(
        &call.state.world,
        by,
        updates,
        &mentions,
        call.now,
    ))
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
