//! `messages.sendMedia`, `messages.sendMultiMedia` (albums) and `messages.uploadMedia`:
//! photos and documents, uploaded or sent again by reference.

use grammers_tl_types::{self as tl, functions as f};

use super::super::{Call, RpcError, resolve, upload};
use super::{announce, announce_parts, reply_to_id};
use crate::render::{self, Mentions};
use crate::world::{DocAttribute, Draft, MessageMedia, NewMedia, Peer, World};

/// Most items in an album (`MULTI_MEDIA_TOO_LONG` beyond).
const ALBUM_MAX_ITEMS: usize = 10;

/// What the sandbox keeps of a document attribute (the others are dropped).
fn attribute(attribute: &tl::enums::DocumentAttribute) -> Option<DocAttribute> {
    Some(match attribute {
        tl::enums::DocumentAttribute::Filename(a) => DocAttribute::Filename {
            name: a.file_name.clone(),
        },
        tl::enums::DocumentAttribute::ImageSize(a) => DocAttribute::ImageSize { w: a.w, h: a.h },
        tl::enums::DocumentAttribute::Animated => DocAttribute::Animated,
        tl::enums::DocumentAttribute::Video(a) => DocAttribute::Video {
            duration: a.duration,
            w: a.w,
            h: a.h,
            round_message: a.round_message,
            supports_streaming: a.supports_streaming,
        },
        tl::enums::DocumentAttribute::Audio(a) => DocAttribute::Audio {
            voice: a.voice,
            duration: a.duration,
            title: a.title.clone(),
            performer: a.performer.clone(),
            waveform: a.waveform.clone().unwrap_or_default(),
        },
        _ => return None,
    })
}

/// Stores the media an `InputMedia` uploads, or finds the one it refers to.
fn media_of(call: &mut Call, input: &tl::enums::InputMedia) -> Result<MessageMedia, RpcError> {
    let now = call.now;
    match input {
        tl::enums::InputMedia::UploadedPhoto(photo) => {
            let bytes = upload::uploaded_bytes(call, &photo.file)?;
            Ok(call
                .state
                .world
                .store_media(NewMedia::Photo { bytes }, now)?)
        }
        tl::enums::InputMedia::UploadedDocument(document) => {
            let bytes = upload::uploaded_bytes(call, &document.file)?;
            let thumb = document
                .thumb
                .as_ref()
                .map(|thumb| upload::uploaded_bytes(call, thumb))
                .transpose()?;
            let mime_type = if document.mime_type.is_empty() {
                "application/octet-stream".to_owned()
            } else {
                document.mime_type.clone()
            };
            let media = NewMedia::Document {
                bytes,
                mime_type,
                attributes: document.attributes.iter().filter_map(attribute).collect(),
                thumb,
            };
            Ok(call.state.world.store_media(media, now)?)
        }
        tl::enums::InputMedia::Photo(photo) => match &photo.id {
            tl::enums::InputPhoto::Photo(p) => Ok(MessageMedia::Photo(
                call.state
                    .world
                    .existing_photo(p.id, p.access_hash, &p.file_reference)?,
            )),
            tl::enums::InputPhoto::Empty => Err(RpcError::bad_request("MEDIA_INVALID")),
        },
        tl::enums::InputMedia::Document(document) => match &document.id {
            tl::enums::InputDocument::Document(d) => Ok(MessageMedia::Document(
                call.state
                    .world
                    .existing_document(d.id, d.access_hash, &d.file_reference)?,
            )),
            tl::enums::InputDocument::Empty => Err(RpcError::bad_request("MEDIA_INVALID")),
        },
        tl::enums::InputMedia::Empty => Err(RpcError::bad_request("MEDIA_EMPTY")),
        _ => Err(RpcError::bad_request("MEDIA_INVALID")),
    }
}

/// `messages.sendMedia`: a photo or document with an optional caption. A `random_id`
/// the sender already used returns the earlier message and stores nothing.
pub(crate) fn send_media(
    call: &mut Call,
    request: f::messages::SendMedia,
) -> Result<tl::enums::Updates, RpcError> {
    let viewer = call.require_user()?;
    let peer = resolve::peer(&call.state.world, viewer, &request.peer)?;
    call.state.world.check_can_write(viewer, peer)?;
    if let Some(sent) = call
        .state
        .world
        .repeated_send(viewer, peer, request.random_id)?
    {
        return Ok(announce(
            call,
            viewer,
            &sent,
            Some(request.random_id),
            false,
        ));
    }
    let media = media_of(call, &request.media)?;
    let draft = Draft {
        reply_to: reply_to_id(request.reply_to.as_ref()),
        media: Some(media),
        ..Draft::text(&request.message)
    };
    super::send_and_announce(call, viewer, peer, draft, request.random_id)
}

/// `messages.uploadMedia`: stores the media without sending it, for sending later by
/// reference (`inputMediaPhoto` / `inputMediaDocument`).
pub(crate) fn upload_media(
    call: &mut Call,
    request: f::messages::UploadMedia,
) -> Result<tl::enums::MessageMedia, RpcError> {
    let viewer = call.require_user()?;
    let peer = resolve::peer(&call.state.world, viewer, &request.peer)?;
    if !call.state.world.can_access(viewer, peer) && !matches!(peer, Peer::User(_)) {
        return Err(RpcError::bad_request("PEER_ID_INVALID"));
    }
    let media = media_of(call, &request.media)?;
    render::message_media(&call.state.world, media)
        .ok_or_else(|| RpcError::bad_request("MEDIA_INVALID"))
}

/// What may share an album with what: photos with videos, music with music, files with
/// files. Voice notes, round videos and animations are never grouped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AlbumClass {
    Visual,
    Music,
    Files,
}

fn album_class(world: &World, media: MessageMedia) -> Option<AlbumClass> {
    match media {
        MessageMedia::Photo(_) => Some(AlbumClass::Visual),
        MessageMedia::Document(id) => {
            let document = world.documents.get(&id)?;
            if document.is_voice() || document.is_round() || document.is_animated() {
                None
            } else if document.is_video() {
                Some(AlbumClass::Visual)
            } else if document.is_music() {
                Some(AlbumClass::Music)
            } else {
                Some(AlbumClass::Files)
            }
        }
    }
}

/// `messages.sendMultiMedia`: an album of up to 10 photos/videos, files or music tracks,
/// each already uploaded (`messages.uploadMedia`) and named by reference, as Telegram
/// requires: an `inputMediaUploaded*` item is `MEDIA_INVALID`. The messages share a
/// `grouped_id`; each has its own `random_id` and caption. When the first `random_id`
/// was used before, the earlier album is answered and nothing is stored.
pub(crate) fn send_multi_media(
    call: &mut Call,
    request: f::messages::SendMultiMedia,
) -> Result<tl::enums::Updates, RpcError> {
    let viewer = call.require_user()?;
    let peer = resolve::peer(&call.state.world, viewer, &request.peer)?;
    call.state.world.check_can_write(viewer, peer)?;
    if request.multi_media.is_empty() {
        return Err(RpcError::bad_request("MEDIA_EMPTY"));
    }
    if request.multi_media.len() > ALBUM_MAX_ITEMS {
        return Err(RpcError::bad_request("MULTI_MEDIA_TOO_LONG"));
    }
    let items: Vec<tl::types::InputSingleMedia> = request
        .multi_media
        .into_iter()
        .map(|tl::enums::InputSingleMedia::Media(item)| item)
        .collect();
    let mut random_ids: Vec<i64> = items.iter().map(|item| item.random_id).collect();
    random_ids.sort_unstable();
    random_ids.dedup();
    if random_ids.len() != items.len() {
        return Err(RpcError::bad_request("RANDOM_ID_INVALID"));
    }
    // A repeated album: the messages the first try created, nothing new.
    let mut repeated = Vec::new();
    for item in &items {
        if let Some(sent) = call
            .state
            .world
            .repeated_send(viewer, peer, item.random_id)?
        {
            repeated.push((item.random_id, sent));
        }
    }
    if !repeated.is_empty() {
        return Ok(announce_all(call, viewer, &repeated));
    }
    let mut drafts = Vec::with_capacity(items.len());
    let mut class = None;
    for item in &items {
        let media = match &item.media {
            tl::enums::InputMedia::Photo(_) | tl::enums::InputMedia::Document(_) => {
                media_of(call, &item.media)?
            }
            tl::enums::InputMedia::Empty => return Err(RpcError::bad_request("MEDIA_EMPTY")),
            _ => return Err(RpcError::bad_request("MEDIA_INVALID")),
        };
        let this_class = album_class(&call.state.world, media)
            .ok_or_else(|| RpcError::bad_request("MEDIA_INVALID"))?;
        if class.is_some_and(|class| class != this_class) {
            return Err(RpcError::bad_request("MEDIA_INVALID"));
        }
        class = Some(this_class);
        drafts.push((item.random_id, media, item.message.clone()));
    }
    let grouped_id = call.state.world.album_id(viewer, items[0].random_id);
    let reply_to = reply_to_id(request.reply_to.as_ref());
    let mut sent = Vec::with_capacity(drafts.len());
    for (random_id, media, caption) in drafts {
        let draft = Draft {
            reply_to,
            media: Some(media),
            grouped_id: Some(grouped_id),
            ..Draft::text(&caption)
        };
        sent.push((
            random_id,
            call.state
                .world
                .send(viewer, peer, draft, Some(random_id), call.now)?,
        ));
    }
    Ok(announce_all(call, viewer, &sent))
}

/// One answer for several sends: an `updateMessageID` and a new-message update each.
fn announce_all(
    call: &mut Call,
    viewer: crate::world::UserId,
    sent: &[(i64, crate::world::Sent)],
) -> tl::enums::Updates {
    let mut updates = Vec::with_capacity(sent.len() * 2);
    let mut mentions = Mentions::with_user(viewer);
    for (random_id, sent) in sent {
        let (mut part, mentioned) = announce_parts(call, viewer, sent, Some(*random_id), false);
        updates.append(&mut part);
        mentions.extend(mentioned);
    }
    render::updates(&call.state.world, viewer, updates, &mentions, call.now)
}
