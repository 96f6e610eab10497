//! Read receipts, deletions and typing: `messages.readHistory`, `channels.readHistory`,
//! `messages.deleteMessages`, `channels.deleteMessages`, `messages.setTyping`.

use grammers_tl_types::{self as tl, functions as f};

use super::super::{Call, RpcError, push_box_events, resolve};
use crate::render::{self, Mentions};
use crate::state::Push;
use crate::world::{Peer, UserId};

fn affected(pts: i32, pts_count: i32) -> tl::enums::messages::AffectedMessages {
    tl::types::messages::AffectedMessages { pts, pts_count }.into()
}

/// `messages.readHistory` for a private chat or basic group. The reader's other sessions
/// get `updateReadHistoryInbox`, the authors of the messages read
/// `updateReadHistoryOutbox`; both are in the boxes' `pts` sequences.
pub(crate) fn read_history(
    call: &mut Call,
    request: f::messages::ReadHistory,
) -> Result<tl::enums::messages::AffectedMessages, RpcError> {
    let reader = call.require_user()?;
    let peer = resolve::peer(&call.state.world, reader, &request.peer)?;
    let change = call
        .state
        .world
        .read_box_history(reader, peer, request.max_id)?;
    push_box_events(call, &change.events);
    Ok(affected(change.pts, change.pts_count))
}

/// `channels.readHistory`: `updateReadChannelInbox` to the reader's other sessions,
/// `updateReadChannelOutbox` to the authors whose messages became read.
pub(crate) fn read_channel_history(
    call: &mut Call,
    request: f::channels::ReadHistory,
) -> Result<bool, RpcError> {
    let reader = call.require_user()?;
    let channel_id = resolve::member_channel(&call.state.world, reader, &request.channel)?;
    let Some(read) = call
        .state
        .world
        .read_channel_history(reader, channel_id, request.max_id)?
    else {
        return Ok(true);
    };
    let inbox = tl::types::UpdateReadChannelInbox {
        folder_id: None,
        channel_id,
        max_id: read.max_id,
        still_unread_count: read.still_unread,
        pts: read.pts,
    };
    push_channel_update(call, reader, channel_id, inbox.into());
    for (author, max_id) in read.outbox {
        let outbox = tl::types::UpdateReadChannelOutbox { channel_id, max_id };
        push_channel_update(call, author, channel_id, outbox.into());
    }
    Ok(true)
}

/// Pushes one update about a channel to `user`'s connections (but the caller's).
fn push_channel_update(call: &mut Call, user: UserId, channel_id: i64, update: tl::enums::Update) {
    let mut mentions = Mentions::with_user(user);
    mentions.peer(Peer::Channel(channel_id));
    let updates = render::updates(&call.state.world, user, vec![update], &mentions, call.now);
    call.pushes.push(Push {
        user,
        updates,
        except: Some(call.connection),
    });
}

/// `messages.deleteMessages` (private chats and basic groups): `updateDeleteMessages`
/// in every box that lost a copy.
pub(crate) fn delete_messages(
    call: &mut Call,
    request: f::messages::DeleteMessages,
) -> Result<tl::enums::messages::AffectedMessages, RpcError> {
    let user = call.require_user()?;
    let change = call
        .state
        .world
        .delete_box_messages(user, &request.id, request.revoke);
    push_box_events(call, &change.events);
    Ok(affected(change.pts, change.pts_count))
}

/// `channels.deleteMessages`: `updateDeleteChannelMessages` to every member.
pub(crate) fn delete_channel_messages(
    call: &mut Call,
    request: f::channels::DeleteMessages,
) -> Result<tl::enums::messages::AffectedMessages, RpcError> {
    let user = call.require_user()?;
    let channel_id = resolve::member_channel(&call.state.world, user, &request.channel)?;
    let world = &mut call.state.world;
    let Some(logged) = world.delete_channel_messages(user, channel_id, &request.id)? else {
        let pts = world.channels.get(&channel_id).map_or(0, |c| c.pts);
        return Ok(affected(pts, 0));
    };
    let members: Vec<UserId> = world
        .channels
        .get(&channel_id)
        .map(|c| c.members.iter().copied().collect())
        .unwrap_or_default();
    for member in members {
        let world = &call.state.world;
        if let Some((update, mentions)) =
            render::logged_update(world, member, Some(channel_id), &logged)
        {
            let updates = render::updates(world, member, vec![update], &mentions, call.now);
            call.pushes.push(Push {
                user: member,
                updates,
                except: Some(call.connection),
            });
        }
    }
    Ok(affected(logged.pts, logged.pts_count))
}

/// `messages.setTyping`: `updateUserTyping` (private chats), `updateChatUserTyping`
/// (basic groups), `updateChannelUserTyping` (supergroups) to the other participants'
/// connections; nothing for broadcast channels. Typing has no `pts`.
pub(crate) fn set_typing(
    call: &mut Call,
    request: f::messages::SetTyping,
) -> Result<bool, RpcError> {
    let user = call.require_user()?;
    let world = &call.state.world;
    let peer = resolve::peer(world, user, &request.peer)?;
    if !world.can_access(user, peer) {
        return Err(RpcError::bad_request("PEER_ID_INVALID"));
    }
    let from_id = render::peer(Peer::User(user));
    let (update, recipients): (tl::enums::Update, Vec<UserId>) = match peer {
        // Typing in Saved Messages is seen by nobody.
        Peer::User(other) if other == user => return Ok(true),
        Peer::User(other) => (
            tl::types::UpdateUserTyping {
                user_id: user,
                top_msg_id: request.top_msg_id,
                action: request.action,
            }
            .into(),
            vec![other],
        ),
        Peer::Chat(chat_id) => (
            tl::types::UpdateChatUserTyping {
                chat_id,
                from_id,
                action: request.action,
            }
            .into(),
            world
                .chats
                .get(&chat_id)
                .map(|c| c.members.iter().copied().filter(|m| *m != user).collect())
                .unwrap_or_default(),
        ),
        Peer::Channel(channel_id) => {
            let Some(channel) = world.channels.get(&channel_id).filter(|c| !c.broadcast) else {
                return Ok(true);
            };
            (
                tl::types::UpdateChannelUserTyping {
                    channel_id,
                    top_msg_id: request.top_msg_id,
                    from_id,
                    action: request.action,
                }
                .into(),
                channel
                    .members
                    .iter()
                    .copied()
                    .filter(|m| *m != user)
                    .collect(),
            )
        }
    };
    for recipient in recipients {
        let mut mentions = Mentions::with_user(recipient);
        mentions.peer(Peer::User(user));
        mentions.peer(peer);
        let updates = render::updates(world, recipient, vec![update.clone()], &mentions, call.now);
        call.pushes.push(Push {
            user: recipient,
            updates,
            except: None,
        });
    }
    Ok(true)
}
