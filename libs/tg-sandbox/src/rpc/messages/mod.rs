//! `messages.*`: dialogs, history, sending and editing here; reading, deleting and
//! typing in `reading`.

pub(super) mod groups;
pub(super) mod media;
pub(super) mod pins;
pub(super) mod reading;
pub(super) mod search;

use grammers_tl_types::{self as tl, functions as f};

use super::{Call, RpcError, resolve};
use crate::render::{self, Mentions};
use crate::state::Push;
use crate::world::{
    Draft, Forward, HistoryPage, HistoryQuery, Peer, SendError, Sent, UserId, World,
};

/// Telegram's page size when asked for 0, and its maximum.
const DEFAULT_LIMIT: usize = 20;
const MAX_LIMIT: usize = 100;

fn page_limit(limit: i32) -> usize {
    match usize::try_from(limit) {
        Ok(0) | Err(_) => DEFAULT_LIMIT,
        Ok(limit) => limit.min(MAX_LIMIT),
    }
}

impl From<SendError> for RpcError {
    fn from(error: SendError) -> Self {
        match error {
            SendError::PeerInvalid => RpcError::bad_request("PEER_ID_INVALID"),
            SendError::ChannelPrivate => RpcError::bad_request("CHANNEL_PRIVATE"),
            SendError::WriteForbidden => RpcError::new(403, "CHAT_WRITE_FORBIDDEN"),
            SendError::MessageEmpty => RpcError::bad_request("MESSAGE_EMPTY"),
            SendError::MessageTooLong => RpcError::bad_request("MESSAGE_TOO_LONG"),
            SendError::MessageIdInvalid => RpcError::bad_request("MESSAGE_ID_INVALID"),
            SendError::AuthorRequired => RpcError::new(403, "MESSAGE_AUTHOR_REQUIRED"),
            SendError::NotModified => RpcError::bad_request("MESSAGE_NOT_MODIFIED"),
            SendError::CaptionTooLong => RpcError::bad_request("MEDIA_CAPTION_TOO_LONG"),
            SendError::RandomIdDuplicate => RpcError::bad_request("RANDOM_ID_DUPLICATE"),
            SendError::DeleteForbidden => RpcError::new(403, "MESSAGE_DELETE_FORBIDDEN"),
            SendError::RandomIdInvalid => RpcError::bad_request("RANDOM_ID_INVALID"),
            SendError::AdminRequired => RpcError::bad_request("CHAT_ADMIN_REQUIRED"),
        }
    }
}

/// `messages.getDialogs`: the account's chats, most recent first, paged by
/// `offset_peer` (or `offset_date`/`offset_id`) and `limit`.
pub(super) fn get_dialogs(
    call: &mut Call,
    request: f::messages::GetDialogs,
) -> Result<tl::enums::messages::Dialogs, RpcError> {
    let viewer = call.require_user()?;
    let world = &call.state.world;
    // Nothing is ever archived (folder 1).
    let all = if request.folder_id.unwrap_or(0) == 0 {
        world.dialogs(viewer)
    } else {
        Vec::new()
    };
    let start = match resolve::peer(world, viewer, &request.offset_peer) {
        Ok(peer) if all.iter().any(|d| d.peer == peer) => {
            all.iter().position(|d| d.peer == peer).map_or(0, |i| i + 1)
        }
        _ if request.offset_date > 0 => all
            .iter()
            .position(|d| (d.top_date, d.top_message) < (request.offset_date, request.offset_id))
            .unwrap_or(all.len()),
        _ => 0,
    };
    let page = &all[start..(start + page_limit(request.limit)).min(all.len())];

    let mut mentions = Mentions::with_user(viewer);
    let mut messages = Vec::with_capacity(page.len());
    for dialog in page {
        mentions.peer(dialog.peer);
        if let Some(top) = world.message(viewer, dialog.peer, dialog.top_message) {
            mentions.message(top);
            messages.push(render::message(world, viewer, top));
        }
    }
    let dialogs = page.iter().map(render::dialog).collect();
    let users = mentions.users(world, viewer);
    let chats = mentions.chats(world, viewer);
    if start == 0 && page.len() == all.len() {
        Ok(tl::types::messages::Dialogs {
            dialogs,
            messages,
            chats,
            users,
        }
        .into())
    } else {
        Ok(tl::types::messages::DialogsSlice {
            count: all.len() as i32,
            dialogs,
            messages,
            chats,
            users,
        }
        .into())
    }
}

/// `messages.getHistory`, paged as <https://core.telegram.org/api/offsets> describes.
pub(super) fn get_history(
    call: &mut Call,
    request: f::messages::GetHistory,
) -> Result<tl::enums::messages::Messages, RpcError> {
    let viewer = call.require_user()?;
    let world = &call.state.world;
    let peer = resolve::peer(world, viewer, &request.peer)?;
    if let Peer::Channel(_) = peer
        && !world.can_access(viewer, peer)
    {
        return Err(RpcError::bad_request("CHANNEL_PRIVATE"));
    }
    let page = world.history(
        viewer,
        peer,
        &HistoryQuery {
            offset_id: request.offset_id,
            offset_date: request.offset_date,
            add_offset: request.add_offset,
            limit: request.limit,
            max_id: request.max_id,
            min_id: request.min_id,
        },
    );
    Ok(messages_page(world, viewer, peer, &page, true))
}

/// A page of `peer`'s messages as `viewer` sees them, in the type Telegram answers with:
/// `messages.channelMessages` in a channel, else `messages.messages` when the page holds
/// every message (and `whole` allows it: a count-only search never does), else
/// `messages.messagesSlice`. For `messages.getHistory` and `messages.search` alike.
pub(super) fn messages_page(
    world: &World,
    viewer: UserId,
    peer: Peer,
    page: &HistoryPage,
    whole: bool,
) -> tl::enums::messages::Messages {
    let mut mentions = Mentions::with_user(viewer);
    mentions.peer(peer);
    let messages: Vec<_> = page
        .ids
        .iter()
        .filter_map(|id| world.message(viewer, peer, *id))
        .inspect(|m| mentions.message(m))
        .map(|m| render::message(world, viewer, m))
        .collect();
    let users = mentions.users(world, viewer);
    let chats = mentions.chats(world, viewer);
    let count = page.count as i32;

    match peer {
        Peer::Channel(id) => tl::types::messages::ChannelMessages {
            inexact: false,
            pts: world.channels.get(&id).map_or(0, |c| c.pts),
            count,
            offset_id_offset: None,
            messages,
            topics: Vec::new(),
            chats,
            users,
        }
        .into(),
        _ if whole && messages.len() == page.count => tl::types::messages::Messages {
            messages,
            topics: Vec::new(),
            chats,
            users,
        }
        .into(),
        _ => tl::types::messages::MessagesSlice {
            inexact: false,
            count,
            next_rate: None,
            offset_id_offset: None,
            search_flood: None,
            messages,
            topics: Vec::new(),
            chats,
            users,
        }
        .into(),
    }
}

/// Renders what a send or an edit changed: the result for the caller (its copy, with
/// `updateMessageID` when a `random_id` is given), and pushes to every other connection
/// of every account holding the message.
pub(super) fn announce(
    call: &mut Call,
    actor: UserId,
    sent: &Sent,
    random_id: Option<i64>,
    edit: bool,
) -> tl::enums::Updates {
    let (updates, mentions) = announce_parts(call, actor, sent, random_id, edit);
    render::updates(&call.state.world, actor, updates, &mentions, call.now)
}

/// [`announce`], leaving the caller's updates unwrapped (several sends make one answer).
pub(super) fn announce_parts(
    call: &mut Call,
    actor: UserId,
    sent: &Sent,
    random_id: Option<i64>,
    edit: bool,
) -> (Vec<tl::enums::Update>, Mentions) {
    let world = &call.state.world;
    let now = call.now;
    let render_update = |viewer: UserId, peer: Peer, id: i32, pts: i32| {
        let stored = world.message(viewer, peer, id)?;
        let update = if edit {
            render::edit_message_update(world, viewer, stored, pts)
        } else {
            render::new_message_update(world, viewer, stored, pts)
        };
        let mut mentions = Mentions::with_user(viewer);
        mentions.message(stored);
        Some((update, mentions))
    };
    let (copies, duplicate): (Vec<(UserId, Peer, i32, i32)>, bool) = match sent {
        Sent::Boxes { copies, duplicate } => (
            copies
                .iter()
                .filter_map(|c| {
                    let peer = world.boxes.get(&c.owner)?.messages.get(&c.id)?.peer;
                    Some((c.owner, peer, c.id, c.pts))
                })
                .collect(),
            *duplicate,
        ),
        Sent::Channel {
            channel,
            id,
            pts,
            duplicate,
        } => {
            let members = world
                .channels
                .get(channel)
                .map(|c| c.members.iter().copied().collect::<Vec<_>>())
                .unwrap_or_default();
            // The actor first, then every other member: one copy, seen by all.
            let ordered = std::iter::once(actor).chain(members.into_iter().filter(|m| *m != actor));
            (
                ordered
                    .map(|member| (member, Peer::Channel(*channel), *id, *pts))
                    .collect(),
                *duplicate,
            )
        }
    };

    let mut result = (Vec::new(), Mentions::with_user(actor));
    let mut pushes = Vec::new();
    for (index, (owner, peer, id, pts)) in copies.into_iter().enumerate() {
        let Some((update, mentions)) = render_update(owner, peer, id, pts) else {
            continue;
        };
        // A repeated random_id changed nothing: there is nothing to tell anyone.
        if !duplicate {
            pushes.push(Push {
                user: owner,
                updates: render::updates(world, owner, vec![update.clone()], &mentions, now),
                except: Some(call.connection),
            });
        }
        if index == 0 {
            if let Some(random_id) = random_id {
                result
                    .0
                    .push(tl::types::UpdateMessageId { id, random_id }.into());
            }
            result.0.push(update);
            result.1 = mentions;
        }
    }
    call.pushes.extend(pushes);
    result
}

pub(super) fn reply_to_id(reply_to: Option<&tl::enums::InputReplyTo>) -> Option<i32> {
    match reply_to? {
        tl::enums::InputReplyTo::Message(reply) => Some(reply.reply_to_msg_id),
        _ => None,
    }
}

/// `messages.sendMessage`. A `random_id` the sender already used returns the message it
/// created then, and nothing is sent twice.
pub(super) fn send_message(
    call: &mut Call,
    request: f::messages::SendMessage,
) -> Result<tl::enums::Updates, RpcError> {
    let viewer = call.require_user()?;
    let peer = resolve::peer(&call.state.world, viewer, &request.peer)?;
    let draft = Draft {
        reply_to: reply_to_id(request.reply_to.as_ref()),
        ..Draft::text(&request.message)
    };
    send_and_announce(call, viewer, peer, draft, request.random_id)
}

/// Sends `draft` to `peer` as `viewer` under the client's `random_id` and announces it
/// (the caller's updates back, the others' pushed): `messages.sendMessage` and
/// `messages.sendMedia` alike.
pub(super) fn send_and_announce(
    call: &mut Call,
    viewer: UserId,
    peer: Peer,
    draft: Draft,
    random_id: i64,
) -> Result<tl::enums::Updates, RpcError> {
    let sent = call
        .state
        .world
        .send(viewer, peer, draft, Some(random_id), call.now)?;
    Ok(announce(call, viewer, &sent, Some(random_id), false))
}

/// `messages.editMessage` (text only).
pub(super) fn edit_message(
    call: &mut Call,
    request: f::messages::EditMessage,
) -> Result<tl::enums::Updates, RpcError> {
    let viewer = call.require_user()?;
    let peer = resolve::peer(&call.state.world, viewer, &request.peer)?;
    let text = request.message.ok_or(SendError::MessageEmpty)?;
    let edited = call
        .state
        .world
        .edit(viewer, peer, request.id, &text, call.now)?;
    Ok(announce(call, viewer, &edited, None, true))
}

/// `messages.getChats`: the basic groups the caller is in, among the ids asked for.
pub(super) fn get_chats(
    call: &mut Call,
    request: f::messages::GetChats,
) -> Result<tl::enums::messages::Chats, RpcError> {
    let viewer = call.require_user()?;
    let world = &call.state.world;
    let chats = request
        .id
        .iter()
        .filter(|id| world.can_access(viewer, Peer::Chat(**id)))
        .filter_map(|id| render::chat(world, viewer, Peer::Chat(*id)))
        .collect();
    Ok(tl::types::messages::Chats { chats }.into())
}

/// `messages.getPeerDialogs`: the dialog entries of the peers asked for (peers without
/// messages are left out), with the common box state.
pub(super) fn get_peer_dialogs(
    call: &mut Call,
    request: f::messages::GetPeerDialogs,
) -> Result<tl::enums::messages::PeerDialogs, RpcError> {
    let viewer = call.require_user()?;
    let world = &call.state.world;
    let mut wanted = Vec::with_capacity(request.peers.len());
    for input in &request.peers {
        match input {
            tl::enums::InputDialogPeer::Peer(p) => {
                wanted.push(resolve::peer(world, viewer, &p.peer)?);
            }
            _ => return Err(RpcError::bad_request("PEER_ID_INVALID")),
        }
    }
    let all = world.dialogs(viewer);
    let mut mentions = Mentions::with_user(viewer);
    let mut dialogs = Vec::new();
    let mut messages = Vec::new();
    for peer in wanted {
        let Some(dialog) = all.iter().find(|d| d.peer == peer) else {
            continue;
        };
        mentions.peer(peer);
        if let Some(top) = world.message(viewer, peer, dialog.top_message) {
            mentions.message(top);
            messages.push(render::message(world, viewer, top));
        }
        dialogs.push(render::dialog(dialog));
    }
    Ok(tl::types::messages::PeerDialogs {
        dialogs,
        messages,
        chats: mentions.chats(world, viewer),
        users: mentions.users(world, viewer),
        state: super::updates::state(world, viewer, world.box_pts(viewer), call.now),
    }
    .into())
}

/// `messages.forwardMessages`: one new message per id, each with `updateMessageID` for
/// its `random_id` in the answer.
pub(super) fn forward_messages(
    call: &mut Call,
    request: f::messages::ForwardMessages,
) -> Result<tl::enums::Updates, RpcError> {
    let viewer = call.require_user()?;
    let world = &call.state.world;
    let from_peer = resolve::peer(world, viewer, &request.from_peer)?;
    let to_peer = resolve::peer(world, viewer, &request.to_peer)?;
    let forwarded = call.state.world.forward(
        viewer,
        &Forward {
            from_peer,
            ids: &request.id,
            random_ids: &request.random_id,
            to: to_peer,
            drop_author: request.drop_author,
        },
        call.now,
    )?;
    let mut updates = Vec::with_capacity(forwarded.len() * 2);
    let mut mentions = Mentions::with_user(viewer);
    for (random_id, sent) in &forwarded {
        let (mut part, mentioned) = announce_parts(call, viewer, sent, Some(*random_id), false);
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

/// The message an `InputMessage` names in `peer`'s history as `viewer` sees it
/// (`peer == None`: the account's box).
fn input_message_id(
    world: &crate::world::World,
    viewer: UserId,
    channel: Option<i64>,
    input: &tl::enums::InputMessage,
) -> Option<i32> {
    let stored = |id: i32| match channel {
        Some(channel) => world.channels.get(&channel)?.messages.get(&id),
        None => world.boxes.get(&viewer)?.messages.get(&id),
    };
    match input {
        tl::enums::InputMessage::Id(m) => Some(m.id),
        tl::enums::InputMessage::ReplyTo(m) => stored(m.id)?.reply_to,
        tl::enums::InputMessage::Pinned => {
            channel.and_then(|c| world.pinned_msg_id(viewer, Peer::Channel(c)))
        }
        _ => None,
    }
}

/// Renders looked-up messages, `messageEmpty` for those that do not exist.
fn looked_up(
    world: &crate::world::World,
    viewer: UserId,
    channel: Option<i64>,
    inputs: &[tl::enums::InputMessage],
    mentions: &mut Mentions,
) -> Vec<tl::enums::Message> {
    inputs
        .iter()
        .map(|input| {
            let id = input_message_id(world, viewer, channel, input).unwrap_or(0);
            let stored = match channel {
                Some(channel) => world
                    .channels
                    .get(&channel)
                    .and_then(|c| c.messages.get(&id)),
                None => world.boxes.get(&viewer).and_then(|b| b.messages.get(&id)),
            };
            match stored {
                Some(stored) => {
                    mentions.message(stored);
                    render::message(world, viewer, stored)
                }
                None => tl::types::MessageEmpty { id, peer_id: None }.into(),
            }
        })
        .collect()
}

/// `messages.getMessages`: messages of the account's box (private chats and basic
/// groups) by id; `messageEmpty` for ids it does not have.
pub(super) fn get_messages(
    call: &mut Call,
    request: f::messages::GetMessages,
) -> Result<tl::enums::messages::Messages, RpcError> {
    let viewer = call.require_user()?;
    let world = &call.state.world;
    let mut mentions = Mentions::with_user(viewer);
    let messages = looked_up(world, viewer, None, &request.id, &mut mentions);
    Ok(tl::types::messages::Messages {
        messages,
        topics: Vec::new(),
        chats: mentions.chats(world, viewer),
        users: mentions.users(world, viewer),
    }
    .into())
}

/// `channels.getMessages`: messages of a channel the caller is in, by id.
pub(super) fn get_channel_messages(
    call: &mut Call,
    request: f::channels::GetMessages,
) -> Result<tl::enums::messages::Messages, RpcError> {
    let viewer = call.require_user()?;
    let world = &call.state.world;
    let channel = resolve::member_channel(world, viewer, &request.channel)?;
    let mut mentions = Mentions::with_user(viewer);
    mentions.peer(Peer::Channel(channel));
    let messages = looked_up(world, viewer, Some(channel), &request.id, &mut mentions);
    let record = world.channels.get(&channel);
    Ok(tl::types::messages::ChannelMessages {
        inexact: false,
        pts: record.map_or(0, |c| c.pts),
        count: record.map_or(0, |c| c.messages.len() as i32),
        offset_id_offset: None,
        messages,
        topics: Vec::new(),
        chats: mentions.chats(world, viewer),
        users: mentions.users(world, viewer),
    }
    .into())
}
