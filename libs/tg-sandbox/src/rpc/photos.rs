//! `photos.*`: the account's own profile photo. `photos.uploadProfilePhoto` makes one of
//! uploaded bytes (`IMAGE_PROCESS_FAILED` when they are no image, `PHOTO_CROP_SIZE_SMALL`
//! under 160×160); `photos.getUserPhotos` lists a user's photos (the sandbox keeps only
//! the current one); `photos.deletePhotos` deletes the account's own.
//!
//! Others see the change the next time they ask (`users.getUsers`, dialogs). Not done:
//! the `updateUser` push Telegram sends to contacts, `fallback` and video photos,
//! `photos.updateProfilePhoto` (an older photo made current again).

use grammers_tl_types::{self as tl, functions as f};

use super::{Call, RpcError, resolve, upload};
use crate::render;
use crate::world::PeerPhotoError;

/// Telegram's most photos per `photos.getUserPhotos` page.
const MAX_PHOTOS_LIMIT: i32 = 100;

impl From<PeerPhotoError> for RpcError {
    fn from(error: PeerPhotoError) -> Self {
        match error {
            PeerPhotoError::NotAnImage => RpcError::bad_request("IMAGE_PROCESS_FAILED"),
            PeerPhotoError::TooSmall => RpcError::bad_request("PHOTO_CROP_SIZE_SMALL"),
        }
    }
}

/// `photos.uploadProfilePhoto`: the account's new profile photo, answered with the
/// photo and the account.
pub(super) fn upload_profile_photo(
    call: &mut Call,
    request: f::photos::UploadProfilePhoto,
) -> Result<tl::enums::photos::Photo, RpcError> {
    let me = call.require_user()?;
    if request.bot.is_some() || request.fallback {
        return Err(RpcError::bad_request("PHOTO_INVALID"));
    }
    let file = request
        .file
        .as_ref()
        .ok_or_else(|| RpcError::bad_request("PHOTO_FILE_MISSING"))?;
    let bytes = upload::uploaded_bytes(call, file)?;
    let now = call.now;
    let photo = call.state.world.set_own_photo(me, bytes, now)?;
    let world = &call.state.world;
    Ok(tl::types::photos::Photo {
        photo: render::photo(world, photo),
        users: vec![render::user(world, me, me)],
    }
    .into())
}

/// `photos.getUserPhotos`: a user's profile photos, newest first (here: the current
/// one, if any).
pub(super) fn get_user_photos(
    call: &mut Call,
    request: f::photos::GetUserPhotos,
) -> Result<tl::enums::photos::Photos, RpcError> {
    let viewer = call.require_user()?;
    if !(0..=MAX_PHOTOS_LIMIT).contains(&request.limit) || request.offset < 0 {
        return Err(RpcError::bad_request("LIMIT_INVALID"));
    }
    let world = &call.state.world;
    let user = resolve::user(world, viewer, &request.user_id)
        .ok_or_else(|| RpcError::bad_request("USER_ID_INVALID"))?;
    let current = world.peer_photo(crate::world::Peer::User(user));
    let photos = current
        .filter(|_| request.offset == 0 && request.limit > 0)
        .map(|photo| render::photo(world, photo))
        .into_iter()
        .collect();
    Ok(tl::types::photos::Photos {
        photos,
        users: vec![render::user(world, viewer, user)],
    }
    .into())
}

/// `photos.deletePhotos`: deletes the account's own photos among those named; answers
/// the ids deleted.
pub(super) fn delete_photos(
    call: &mut Call,
    request: f::photos::DeletePhotos,
) -> Result<Vec<i64>, RpcError> {
    let me = call.require_user()?;
    let mut deleted = Vec::new();
    for input in &request.id {
        let tl::enums::InputPhoto::Photo(photo) = input else {
            continue;
        };
        let known = call
            .state
            .world
            .existing_photo(photo.id, photo.access_hash, &photo.file_reference)
            .is_ok();
        if known && call.state.world.delete_own_photo(me, photo.id) {
            deleted.push(photo.id);
        }
    }
    Ok(deleted)
}
