//! `contacts.*`.

use grammers_tl_types::{self as tl, functions as f};

use super::{Call, RpcError};
use crate::render;
use crate::render::Mentions;
use crate::world::{Peer, UserId, World};

/// `contacts.getContacts` (the `hash` is ignored: the full list is always returned).
pub(super) fn get_contacts(
    call: &mut Call,
    _: f::contacts::GetContacts,
) -> Result<tl::enums::contacts::Contacts, RpcError> {
    let viewer = call.require_user()?;
    let world = &call.state.world;
    let contacts: Vec<i64> = world
        .users
        .get(&viewer)
        .map(|u| u.contacts.iter().copied().collect())
        .unwrap_or_default();
    Ok(tl::types::contacts::Contacts {
        contacts: contacts
            .iter()
            .map(|id| {
                tl::types::Contact {
                    user_id: *id,
                    mutual: world
                        .users
                        .get(id)
                        .is_some_and(|u| u.contacts.contains(&viewer)),
                }
                .into()
            })
            .collect(),
        saved_count: 0,
        users: contacts
            .iter()
            .map(|id| render::user(world, viewer, *id))
            .collect(),
    }
    .into())
}

/// `contacts.getStatuses`: the online status of each of the caller's contacts.
pub(super) fn get_statuses(
    call: &mut Call,
    _: f::contacts::GetStatuses,
) -> Result<Vec<tl::enums::ContactStatus>, RpcError> {
    let viewer = call.require_user()?;
    let world = &call.state.world;
    let contacts = world
        .users
        .get(&viewer)
        .map(|u| u.contacts.iter().copied().collect::<Vec<_>>())
        .unwrap_or_default();
    Ok(contacts
        .into_iter()
        .filter_map(|id| world.users.get(&id))
        .map(|record| {
            tl::types::ContactStatus {
                user_id: record.info.id,
                status: render::user_status(record, call.now),
            }
            .into()
        })
        .collect())
}

/// `contacts.search`: contacts and the account's chats whose names (or usernames) start
/// with the query in `my_results`; other users and channels found by username in
/// `results`.
pub(super) fn search(
    call: &mut Call,
    request: f::contacts::Search,
) -> Result<tl::enums::contacts::Found, RpcError> {
    let viewer = call.require_user()?;
    if request.q.trim().trim_start_matches('@').is_empty() {
        return Err(RpcError::bad_request("SEARCH_QUERY_EMPTY"));
    }
    let world = &call.state.world;
    let limit = usize::try_from(request.limit).unwrap_or(0).clamp(1, 100);
    let (mine, public) = world.search_peers(viewer, &request.q, limit);
    let public: Vec<Peer> = public
        .into_iter()
        .filter(|p| !request.broadcasts || matches!(p, Peer::Channel(_)))
        .collect();
    let mut mentions = Mentions::with_user(viewer);
    for peer in mine.iter().chain(&public) {
        mentions.peer(*peer);
    }
    Ok(tl::types::contacts::Found {
        my_results: mine.into_iter().map(render::peer).collect(),
        results: public.into_iter().map(render::peer).collect(),
        chats: mentions.chats(world, viewer),
        users: mentions.users(world, viewer),
    }
    .into())
}

/// `contacts.resolveUsername`: the user or channel holding a username.
pub(super) fn resolve_username(
    call: &mut Call,
    request: f::contacts::ResolveUsername,
) -> Result<tl::enums::contacts::ResolvedPeer, RpcError> {
    let viewer = call.require_user()?;
    let username = request.username.trim_start_matches('@');
    if !crate::world::valid_username(username) {
        return Err(RpcError::bad_request("USERNAME_INVALID"));
    }
    let world = &call.state.world;
    let peer = world
        .resolve_username(username)
        .ok_or_else(|| RpcError::bad_request("USERNAME_NOT_OCCUPIED"))?;
    Ok(resolved(world, viewer, peer))
}

/// The answer of `contacts.resolveUsername` and `contacts.resolvePhone`: `peer`, with
/// the chat or user it names as `viewer` sees it.
fn resolved(world: &World, viewer: UserId, peer: Peer) -> tl::enums::contacts::ResolvedPeer {
    let mut mentions = Mentions::with_user(viewer);
    mentions.peer(peer);
    tl::types::contacts::ResolvedPeer {
        peer: render::peer(peer),
        chats: mentions.chats(world, viewer),
        users: mentions.users(world, viewer),
    }
    .into()
}

/// `contacts.resolvePhone`: the user with a phone number (Telegram finds a number
/// whatever the format: digits are compared). `PHONE_NOT_OCCUPIED` when nobody has it.
pub(super) fn resolve_phone(
    call: &mut Call,
    request: f::contacts::ResolvePhone,
) -> Result<tl::enums::contacts::ResolvedPeer, RpcError> {
    let viewer = call.require_user()?;
    let digits = crate::world::normalize_phone(&request.phone);
    if digits.len() < 5 || digits.len() > 15 {
        return Err(RpcError::bad_request("PHONE_NUMBER_INVALID"));
    }
    let world = &call.state.world;
    let user = world
        .user_by_phone(&digits)
        .ok_or_else(|| RpcError::bad_request("PHONE_NOT_OCCUPIED"))?;
    let peer = Peer::User(user);
    Ok(resolved(world, viewer, peer))
}
