//! `messages.sendMedia` and `messages.uploadMedia`: photos and documents, uploaded or
//! sent again by reference.

use grammers_tl_types::{self as tl, functions as f};

use super::super::{Call, RpcError, resolve, upload};
use super::{announce, reply_to_id};
use crate::render;
use crate::world::{DocAttribute, Draft, MessageMedia, NewMedia, Peer};

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
    let sent = call
        .state
        .world
        .send(viewer, peer, draft, Some(request.random_id), call.now)?;
    Ok(announce(
        call,
        viewer,
        &sent,
        Some(request.random_id),
        false,
    ))
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
