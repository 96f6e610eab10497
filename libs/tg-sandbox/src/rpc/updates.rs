//! `updates.*`: the state a client starts from, and the differences it catches up with.

use grammers_tl_types::{self as tl, functions as f};

use super::{Call, RpcError, resolve};
use crate::render::{self, Mentions};
use crate::world::{Logged, Peer, UserId, World};

/// Events returned per `updates.getDifference`; more come as `differenceSlice`.
const DIFFERENCE_LIMIT: usize = 1000;
/// Telegram's default (and a user account's maximum) for `getChannelDifference`.
const CHANNEL_DIFFERENCE_LIMIT: usize = 100;

/// Logged events as a difference carries them: new messages apart, everything else as
/// the update it was pushed as.
fn replay(
    world: &World,
    user: UserId,
    channel: Option<i64>,
    events: &[Logged],
    mentions: &mut Mentions,
) -> (Vec<tl::enums::Message>, Vec<tl::enums::Update>) {
    let mut new_messages = Vec::new();
    let mut other_updates = Vec::new();
    for logged in events {
        let Some((update, mentioned)) = render::logged_update(world, user, channel, logged) else {
            continue;
        };
        mentions.extend(mentioned);
        match update {
            tl::enums::Update::NewMessage(update) => new_messages.push(update.message),
            tl::enums::Update::NewChannelMessage(update) => new_messages.push(update.message),
            other => other_updates.push(other),
        }
    }
    (new_messages, other_updates)
}

pub(super) fn state(world: &World, user: UserId, pts: i32, now: i32) -> tl::enums::updates::State {
    tl::types::updates::State {
        pts,
        qts: 0,
        date: now,
        seq: 0,
        unread_count: world.unread_total(user),
    }
    .into()
}

pub(super) fn get_state(
    call: &mut Call,
    _: f::updates::GetState,
) -> Result<tl::enums::updates::State, RpcError> {
    let user = call.require_user()?;
    let world = &call.state.world;
    Ok(state(world, user, world.box_pts(user), call.now))
}

/// `updates.getDifference` over the account's common box: new messages since `pts`,
/// and the edits as `updateEditMessage`. Channels catch up through their own difference.
pub(super) fn get_difference(
    call: &mut Call,
    request: f::updates::GetDifference,
) -> Result<tl::enums::updates::Difference, RpcError> {
    let user = call.require_user()?;
    let world = &call.state.world;
    let current = world.box_pts(user);
    let events = world.box_events_after(user, request.pts);
    if events.is_empty() || request.pts > current {
        return Ok(tl::types::updates::DifferenceEmpty {
            date: call.now,
            seq: 0,
        }
        .into());
    }
    let limit = request
        .pts_total_limit
        .and_then(|l| usize::try_from(l).ok())
        .filter(|l| *l > 0)
        .map_or(DIFFERENCE_LIMIT, |l| l.min(DIFFERENCE_LIMIT));
    let taken = &events[..events.len().min(limit)];

    let mut mentions = Mentions::with_user(user);
    let (new_messages, other_updates) = replay(world, user, None, taken, &mut mentions);
    let users = mentions.users(world, user);
    let chats = mentions.chats(world, user);
    if taken.len() < events.len() {
        let reached = taken.last().map_or(request.pts, |e| e.pts);
        return Ok(tl::types::updates::DifferenceSlice {
            new_messages,
            new_encrypted_messages: Vec::new(),
            other_updates,
            chats,
            users,
            intermediate_state: state(world, user, reached, call.now),
        }
        .into());
    }
    Ok(tl::types::updates::Difference {
        new_messages,
        new_encrypted_messages: Vec::new(),
        other_updates,
        chats,
        users,
        state: state(world, user, current, call.now),
    }
    .into())
}

/// `updates.getChannelDifference` for a channel the caller is a member of.
pub(super) fn get_channel_difference(
    call: &mut Call,
    request: f::updates::GetChannelDifference,
) -> Result<tl::enums::updates::ChannelDifference, RpcError> {
    let user = call.require_user()?;
    let world = &call.state.world;
    let channel_id = resolve::member_channel(world, user, &request.channel)?;
    let Some(channel) = world.channels.get(&channel_id) else {
        return Err(RpcError::bad_request("CHANNEL_INVALID"));
    };
    let events = world.channel_events_after(channel_id, request.pts);
    if events.is_empty() || request.pts > channel.pts {
        return Ok(tl::types::updates::ChannelDifferenceEmpty {
            r#final: true,
            pts: channel.pts,
            timeout: None,
        }
        .into());
    }
    let limit = usize::try_from(request.limit)
        .ok()
        .filter(|l| *l > 0)
        .map_or(CHANNEL_DIFFERENCE_LIMIT, |l| {
            l.min(CHANNEL_DIFFERENCE_LIMIT)
        });

    let mut mentions = Mentions::with_user(user);
    mentions.peer(Peer::Channel(channel_id));
    if events.len() > limit {
        // Too far behind: the client gets the latest messages and starts over from them.
        let messages: Vec<_> = channel
            .messages
            .values()
            .rev()
            .take(limit)
            .inspect(|m| mentions.message(m))
            .map(|m| render::message(world, user, m))
            .collect();
        let dialog = world
            .dialogs(user)
            .into_iter()
            .find(|d| d.peer == Peer::Channel(channel_id))
            .ok_or_else(|| RpcError::bad_request("CHANNEL_PRIVATE"))?;
        return Ok(tl::types::updates::ChannelDifferenceTooLong {
            r#final: true,
            timeout: None,
            dialog: render::dialog(&dialog),
            messages,
            chats: mentions.chats(world, user),
            users: mentions.users(world, user),
        }
        .into());
    }
    let (new_messages, other_updates) =
        replay(world, user, Some(channel_id), events, &mut mentions);
    Ok(tl::types::updates::ChannelDifference {
        r#final: true,
        pts: channel.pts,
        timeout: None,
        new_messages,
        other_updates,
        chats: mentions.chats(world, user),
        users: mentions.users(world, user),
    }
    .into())
}
