//! Pinning: `messages.updatePinnedMessage` and `messages.unpinAllMessages`.
//!
//! Every participant's clients get `updatePinnedMessages` (private chats and basic
//! groups, in each box's `pts`) or `updatePinnedChannelMessages` (supergroups and
//! channels, in the channel's `pts`), and a pin's `messageActionPinMessage` service
//! message as a new message.

use grammers_tl_types::{self as tl, functions as f};

use super::super::{Call, RpcError, resolve};
use super::announce_parts;
use crate::render::{self, Mentions};
use crate::state::Push;
use crate::world::{Peer, Pin, PinChange, UserId};

/// Pushes the pin events of `change` to every participant's connections (`except` one),
/// and returns the caller's own update, if it has one.
fn push_pin_events(
    call: &mut Call,
    caller: UserId,
    change: &PinChange,
    except: Option<u64>,
) -> Option<(tl::enums::Update, Mentions)> {
    let world = &call.state.world;
    let mut own = None;
    let mut pushes = Vec::new();
    let mut push = |owner: UserId, channel: Option<i64>, logged: &crate::world::Logged| {
        let Some((update, mentions)) = render::logged_update(world, owner, channel, logged) else {
            return;
        };
        pushes.push(Push {
            user: owner,
            updates: render::updates(world, owner, vec![update.clone()], &mentions, call.now),
            except,
        });
        if owner == caller && own.is_none() {
            own = Some((update, mentions));
        }
    };
    for event in &change.box_events {
        push(event.owner, None, &event.logged);
    }
    if let Some((channel, logged)) = &change.channel_event {
        let members: Vec<UserId> = world
            .channels
            .get(channel)
            .map(|c| c.members.iter().copied().collect())
            .unwrap_or_default();
        for member in members {
            push(member, Some(*channel), logged);
        }
    }
    call.pushes.extend(pushes);
    own
}

/// `messages.updatePinnedMessage`: pins (`silent`: without notifying; the sandbox
/// notifies nobody anyway) or unpins one message; `pm_oneside` pins a private chat's
/// message for the caller alone. A message already pinned answers an empty `updates`.
pub(crate) fn update_pinned_message(
    call: &mut Call,
    request: f::messages::UpdatePinnedMessage,
) -> Result<tl::enums::Updates, RpcError> {
    let viewer = call.require_user()?;
    let peer = resolve::peer(&call.state.world, viewer, &request.peer)?;
    let change = call.state.world.pin_message(
        viewer,
        Pin {
            peer,
            id: request.id,
            unpin: request.unpin,
            one_side: request.pm_oneside,
        },
        call.now,
    )?;
    let mut updates = Vec::new();
    let mut mentions = Mentions::with_user(viewer);
    mentions.peer(peer);
    // The caller's connection learns from the answer, its other connections from pushes.
    let connection = Some(call.connection);
    if let Some((update, mentioned)) = push_pin_events(call, viewer, &change, connection) {
        updates.push(update);
        mentions.extend(mentioned);
    }
    if let Some(service) = &change.service {
        let (mut part, mentioned) = announce_parts(call, viewer, service, None, false);
        updates.append(&mut part);
        mentions.extend(mentioned);
    }
    Ok(render::updates(
        &call.state.world,
        viewer,
        updates,
        &mentions,
        call.now,
    ))
}

/// `messages.unpinAllMessages` (no topics, no saved-messages sub-chats).
pub(crate) fn unpin_all_messages(
    call: &mut Call,
    request: f::messages::UnpinAllMessages,
) -> Result<tl::enums::messages::AffectedHistory, RpcError> {
    let viewer = call.require_user()?;
    let peer = resolve::peer(&call.state.world, viewer, &request.peer)?;
    let change = call.state.world.unpin_all(viewer, peer)?;
    // `messages.affectedHistory` carries the `pts` but no update; clients apply it when
    // the update arrives, so every connection (the caller's too) is told.
    push_pin_events(call, viewer, &change, None);
    let world = &call.state.world;
    let (pts, pts_count) = match (&change.channel_event, change.box_events.first()) {
        (Some((_, logged)), _) => (logged.pts, logged.pts_count),
        (None, Some(event)) if event.owner == viewer => (event.logged.pts, event.logged.pts_count),
        _ => match peer {
            Peer::Channel(channel) => (world.channel_pts(channel).unwrap_or(0), 0),
            _ => (world.box_pts(viewer), 0),
        },
    };
    Ok(tl::types::messages::AffectedHistory {
        pts,
        pts_count,
        offset: 0,
    }
    .into())
}
