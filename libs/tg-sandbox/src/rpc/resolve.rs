//! Turning `InputPeer`/`InputUser`/`InputChannel` into world peers, checking the access
//! hashes the caller presents against the ones it was given.

use grammers_tl_types as tl;

use super::RpcError;
use crate::world::{HashKind, Peer, UserId, World};

fn peer_invalid() -> RpcError {
    RpcError::bad_request("PEER_ID_INVALID")
}

fn channel_invalid() -> RpcError {
    RpcError::bad_request("CHANNEL_INVALID")
}

fn user_ok(world: &World, viewer: UserId, id: UserId, hash: i64) -> bool {
    world.users.contains_key(&id)
        && (id == viewer || world.access_hash(viewer, HashKind::User, id) == hash)
}

pub(super) fn channel_id(
    world: &World,
    viewer: UserId,
    input: &tl::enums::InputChannel,
) -> Result<i64, RpcError> {
    match input {
        tl::enums::InputChannel::Channel(c)
            if world.channels.contains_key(&c.channel_id)
                && world.access_hash(viewer, HashKind::Channel, c.channel_id) == c.access_hash =>
        {
            Ok(c.channel_id)
        }
        _ => Err(channel_invalid()),
    }
}

pub(super) fn peer(
    world: &World,
    viewer: UserId,
    input: &tl::enums::InputPeer,
) -> Result<Peer, RpcError> {
    match input {
        tl::enums::InputPeer::PeerSelf => Ok(Peer::User(viewer)),
        tl::enums::InputPeer::User(u) if user_ok(world, viewer, u.user_id, u.access_hash) => {
            Ok(Peer::User(u.user_id))
        }
        tl::enums::InputPeer::Chat(c) if world.chats.contains_key(&c.chat_id) => {
            Ok(Peer::Chat(c.chat_id))
        }
        tl::enums::InputPeer::Channel(c) => channel_id(
            world,
            viewer,
            &tl::types::InputChannel {
                channel_id: c.channel_id,
                access_hash: c.access_hash,
            }
            .into(),
        )
        .map(Peer::Channel),
        _ => Err(peer_invalid()),
    }
}

/// The user an `InputUser` names, `None` if it names nobody the caller may address.
pub(super) fn user(world: &World, viewer: UserId, input: &tl::enums::InputUser) -> Option<UserId> {
    match input {
        tl::enums::InputUser::UserSelf => Some(viewer),
        tl::enums::InputUser::User(u) if user_ok(world, viewer, u.user_id, u.access_hash) => {
            Some(u.user_id)
        }
        _ => None,
    }
}

/// A channel the caller is a member of.
pub(super) fn member_channel(
    world: &World,
    viewer: UserId,
    input: &tl::enums::InputChannel,
) -> Result<i64, RpcError> {
    let id = channel_id(world, viewer, input)?;
    if world.can_access(viewer, Peer::Channel(id)) {
        Ok(id)
    } else {
        Err(RpcError::bad_request("CHANNEL_PRIVATE"))
    }
}
