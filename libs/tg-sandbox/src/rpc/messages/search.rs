//! `messages.search` (one chat) and `messages.searchGlobal` (the account's chats).

use grammers_tl_types::{self as tl, functions as f};

use super::super::{Call, RpcError, resolve};
use crate::render::{self, Mentions};
use crate::world::{GlobalScope, HistoryQuery, Peer, SearchFilter, SearchQuery};

/// Results per page when asked for more (or, globally, for 0).
const MAX_LIMIT: i32 = 100;

fn filter(filter: &tl::enums::MessagesFilter) -> SearchFilter {
    use tl::enums::MessagesFilter as F;
    match filter {
        F::InputMessagesFilterEmpty => SearchFilter::Empty,
        F::InputMessagesFilterPhotos => SearchFilter::Photos,
        F::InputMessagesFilterVideo => SearchFilter::Video,
        F::InputMessagesFilterPhotoVideo => SearchFilter::PhotoVideo,
        F::InputMessagesFilterDocument => SearchFilter::Document,
        F::InputMessagesFilterUrl => SearchFilter::Url,
        F::InputMessagesFilterGif => SearchFilter::Gif,
        F::InputMessagesFilterVoice => SearchFilter::Voice,
        F::InputMessagesFilterMusic => SearchFilter::Music,
        F::InputMessagesFilterRoundVoice => SearchFilter::RoundVoice,
        F::InputMessagesFilterRoundVideo => SearchFilter::RoundVideo,
        _ => SearchFilter::Nothing,
    }
}

/// `messages.search`: messages of one chat matching `q` (case-insensitive), `from_id`,
/// the date range and the filter, paged by `offset_id`/`add_offset`/`limit` like
/// history. A `limit` of 0 returns only the count.
pub(crate) fn search(
    call: &mut Call,
    request: f::messages::Search,
) -> Result<tl::enums::messages::Messages, RpcError> {
    let viewer = call.require_user()?;
    let world = &call.state.world;
    let peer = resolve::peer(world, viewer, &request.peer)?;
    if !world.can_access(viewer, peer) {
        return Err(match peer {
            Peer::Channel(_) => RpcError::bad_request("CHANNEL_PRIVATE"),
            _ => RpcError::bad_request("PEER_ID_INVALID"),
        });
    }
    let from = match &request.from_id {
        None => None,
        Some(input) => match resolve::peer(world, viewer, input)? {
            Peer::User(user) => Some(user),
            _ => return Err(RpcError::bad_request("FROM_PEER_INVALID")),
        },
    };
    let query = SearchQuery {
        text: request.q.clone(),
        from,
        filter: filter(&request.filter),
        min_date: request.min_date,
        max_date: request.max_date,
    };
    let mut page = world.search(
        viewer,
        peer,
        &query,
        &HistoryQuery {
            offset_id: request.offset_id,
            offset_date: 0,
            add_offset: request.add_offset,
            limit: request.limit.min(MAX_LIMIT),
            max_id: request.max_id,
            min_id: request.min_id,
        },
    );
    if request.limit <= 0 {
        page.ids.clear();
    }
    Ok(super::messages_page(
        world,
        viewer,
        peer,
        &page,
        request.limit > 0,
    ))
}

/// `messages.searchGlobal`: matches across the account's chats, newest first by date, then
/// chat (Bot-API dialog id), then id, paged by `offset_rate` (the `next_rate` of the
/// previous page, which is its last message's date), `offset_peer` and `offset_id` (the
/// last message of the previous page).
pub(crate) fn search_global(
    call: &mut Call,
    request: f::messages::SearchGlobal,
) -> Result<tl::enums::messages::Messages, RpcError> {
    let viewer = call.require_user()?;
    let world = &call.state.world;
    let filter = filter(&request.filter);
    if request.q.trim().is_empty() && filter == SearchFilter::Empty {
        return Err(RpcError::bad_request("SEARCH_QUERY_EMPTY"));
    }
    let offset = if request.offset_rate > 0 || request.offset_id > 0 {
        let peer = match &request.offset_peer {
            tl::enums::InputPeer::Empty => None,
            input => Some(resolve::peer(world, viewer, input)?),
        };
        Some((request.offset_rate, peer, request.offset_id))
    } else {
        None
    };
    let limit = match request.limit {
        l if l <= 0 => 20,
        l => l.min(MAX_LIMIT),
    };
    let page = world.search_global(
        viewer,
        &SearchQuery {
            text: request.q.clone(),
            from: None,
            filter,
            min_date: request.min_date,
            max_date: request.max_date,
        },
        GlobalScope {
            broadcasts_only: request.broadcasts_only,
            groups_only: request.groups_only,
            users_only: request.users_only,
        },
        offset,
        usize::try_from(limit).unwrap_or(20),
    );
    let mut mentions = Mentions::with_user(viewer);
    let messages = page
        .hits
        .iter()
        .filter_map(|(peer, id)| world.message(viewer, *peer, *id))
        .inspect(|m| mentions.message(m))
        .map(|m| render::message(world, viewer, m))
        .collect();
    Ok(tl::types::messages::MessagesSlice {
        inexact: false,
        count: page.count as i32,
        next_rate: page.next_rate,
        offset_id_offset: None,
        search_flood: None,
        messages,
        topics: Vec::new(),
        chats: mentions.chats(world, viewer),
        users: mentions.users(world, viewer),
    }
    .into())
}
