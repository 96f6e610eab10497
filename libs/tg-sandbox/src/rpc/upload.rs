//! `upload.*`: receiving file parts and serving file contents.
//!
//! Parts are kept per authorization key and `file_id` until the file is used (it may be
//! used several times) and for a day at most, as Telegram documents. Downloads follow
//! Telegram's rules for `offset` and `limit`
//! (<https://core.telegram.org/api/files#downloading-files>).

use grammers_tl_types::{self as tl, functions as f};

use super::{Call, RpcError, resolve};
use crate::image::Format;
use crate::state::Upload;
use crate::world::{FileLocation, MediaError};

/// Largest part a client may send (512 KiB).
const MAX_PART_SIZE: usize = 512 * 1024;
/// Parts of one file (4000 × 512 KiB: Telegram's 2 GB (4 GB premium) limit is lower).
const MAX_PARTS: i32 = 4000;
/// Uploaded files expire after a day.
const UPLOAD_LIFETIME_SECONDS: i32 = 24 * 3600;
/// Downloads: 4 KiB alignment (1 KiB with `precise`), at most 1 MiB, never across a
/// megabyte boundary.
const DOWNLOAD_ALIGNMENT: i64 = 4096;
const PRECISE_ALIGNMENT: i64 = 1024;
const MEGABYTE: i64 = 1024 * 1024;

impl From<MediaError> for RpcError {
    fn from(error: MediaError) -> Self {
        match error {
            MediaError::PhotoInvalidDimensions => RpcError::bad_request("PHOTO_INVALID_DIMENSIONS"),
            MediaError::MediaInvalid => RpcError::bad_request("MEDIA_INVALID"),
            MediaError::FileReferenceExpired => RpcError::bad_request("FILE_REFERENCE_EXPIRED"),
            MediaError::LocationInvalid => RpcError::bad_request("LOCATION_INVALID"),
        }
    }
}

fn save_part(
    call: &mut Call,
    file_id: i64,
    file_part: i32,
    total_parts: Option<i32>,
    bytes: Vec<u8>,
) -> Result<bool, RpcError> {
    call.require_user()?;
    if bytes.is_empty() {
        return Err(RpcError::bad_request("FILE_PART_EMPTY"));
    }
    if bytes.len() > MAX_PART_SIZE {
        return Err(RpcError::bad_request("FILE_PART_TOO_BIG"));
    }
    if let Some(total) = total_parts
        && !(1..=MAX_PARTS).contains(&total)
    {
        return Err(RpcError::bad_request("FILE_PARTS_INVALID"));
    }
    if !(0..total_parts.unwrap_or(MAX_PARTS)).contains(&file_part) {
        return Err(RpcError::bad_request("FILE_PART_INVALID"));
    }
    let now = call.now;
    call.state
        .uploads
        .retain(|_, upload| now - upload.started < UPLOAD_LIFETIME_SECONDS);
    let upload = call
        .state
        .uploads
        .entry((call.key_id, file_id))
        .or_insert_with(|| Upload {
            parts: Default::default(),
            total_parts,
            started: now,
        });
    upload.total_parts = total_parts.or(upload.total_parts);
    upload.parts.insert(file_part, bytes);
    call.state.saved_parts += 1;
    Ok(true)
}

/// `upload.saveFilePart`: a part of a file of up to 10 MiB.
pub(super) fn save_file_part(
    call: &mut Call,
    request: f::upload::SaveFilePart,
) -> Result<bool, RpcError> {
    save_part(
        call,
        request.file_id,
        request.file_part,
        None,
        request.bytes,
    )
}

/// `upload.saveBigFilePart`: a part of a file of more than 10 MiB.
pub(super) fn save_big_file_part(
    call: &mut Call,
    request: f::upload::SaveBigFilePart,
) -> Result<bool, RpcError> {
    save_part(
        call,
        request.file_id,
        request.file_part,
        Some(request.file_total_parts),
        request.bytes,
    )
}

/// The contents of an uploaded `InputFile`, its parts joined. A missing part is
/// `FILE_PART_n_MISSING`, as on Telegram. (The MD5 checksum is not checked.)
pub(crate) fn uploaded_bytes(
    call: &Call,
    file: &tl::enums::InputFile,
) -> Result<Vec<u8>, RpcError> {
    let (id, parts) = match file {
        tl::enums::InputFile::File(f) => (f.id, f.parts),
        tl::enums::InputFile::Big(f) => (f.id, f.parts),
        tl::enums::InputFile::StoryDocument(_) => {
            return Err(RpcError::bad_request("MEDIA_INVALID"));
        }
    };
    if !(1..=MAX_PARTS).contains(&parts) {
        return Err(RpcError::bad_request("FILE_PARTS_INVALID"));
    }
    let upload = call
        .state
        .uploads
        .get(&(call.key_id, id))
        .ok_or_else(|| RpcError::bad_request("FILE_PART_0_MISSING"))?;
    let mut bytes = Vec::new();
    for part in 0..parts {
        let data = upload
            .parts
            .get(&part)
            .ok_or_else(|| RpcError::bad_request(&format!("FILE_PART_{part}_MISSING")))?;
        bytes.extend_from_slice(data);
    }
    Ok(bytes)
}

/// Checks `offset`/`limit` against Telegram's download rules.
fn check_range(precise: bool, offset: i64, limit: i32) -> Result<(), RpcError> {
    let alignment = if precise {
        PRECISE_ALIGNMENT
    } else {
        DOWNLOAD_ALIGNMENT
    };
    let limit = i64::from(limit);
    if offset < 0 || offset % alignment != 0 {
        return Err(RpcError::bad_request("OFFSET_INVALID"));
    }
    let limit_ok = limit > 0
        && limit % alignment == 0
        && limit <= MEGABYTE
        && (precise || MEGABYTE % limit == 0)
        && offset / MEGABYTE == (offset + limit - 1) / MEGABYTE;
    if limit_ok {
        Ok(())
    } else {
        Err(RpcError::bad_request("LIMIT_INVALID"))
    }
}

/// `upload.getFile`: a chunk of a photo size, a document (or its thumbnail), or a
/// profile/chat photo.
pub(super) fn get_file(
    call: &mut Call,
    request: f::upload::GetFile,
) -> Result<tl::enums::upload::File, RpcError> {
    let viewer = call.require_user()?;
    check_range(request.precise, request.offset, request.limit)?;
    let world = &call.state.world;
    let location = match request.location {
        tl::enums::InputFileLocation::InputPhotoFileLocation(l) => FileLocation::Photo {
            id: l.id,
            access_hash: l.access_hash,
            file_reference: l.file_reference,
            thumb_size: l.thumb_size,
        },
        tl::enums::InputFileLocation::InputDocumentFileLocation(l) => FileLocation::Document {
            id: l.id,
            access_hash: l.access_hash,
            file_reference: l.file_reference,
            thumb_size: l.thumb_size,
        },
        tl::enums::InputFileLocation::InputPeerPhotoFileLocation(l) => FileLocation::PeerPhoto {
            peer: resolve::peer(world, viewer, &l.peer)?,
            photo_id: l.photo_id,
            big: l.big,
        },
        _ => return Err(RpcError::bad_request("LOCATION_INVALID")),
    };
    let content = world.file(&location)?;
    let start = usize::try_from(request.offset).unwrap_or(usize::MAX);
    let end = start.saturating_add(usize::try_from(request.limit).unwrap_or(0));
    let bytes = content
        .bytes
        .get(start.min(content.bytes.len())..end.min(content.bytes.len()))
        .unwrap_or_default()
        .to_vec();
    let file_type = match content.format {
        Some(Format::Png) => tl::enums::storage::FileType::FilePng,
        Some(Format::Jpeg) => tl::enums::storage::FileType::FileJpeg,
        None => tl::enums::storage::FileType::FileUnknown,
    };
    Ok(tl::types::upload::File {
        r#type: file_type,
        mtime: content.date,
        bytes,
    }
    .into())
}

#[cfg(test)]
mod tests {
    use super::check_range;

    #[test]
    fn download_ranges_follow_telegrams_rules() {
        assert!(check_range(false, 0, 512 * 1024).is_ok());
        assert!(check_range(false, 512 * 1024, 512 * 1024).is_ok());
        assert!(check_range(false, 4096, 4096).is_ok());
        // Alignment, 1 MiB divisibility, the megabyte boundary.
        assert_eq!(
            check_range(false, 100, 4096).map_err(|e| e.message),
            Err("OFFSET_INVALID".into())
        );
        assert_eq!(
            check_range(false, 0, 1000).map_err(|e| e.message),
            Err("LIMIT_INVALID".into())
        );
        assert_eq!(
            check_range(false, 0, 12288).map_err(|e| e.message),
            Err("LIMIT_INVALID".into())
        );
        assert_eq!(
            check_range(false, 1024 * 1024 - 4096, 8192).map_err(|e| e.message),
            Err("LIMIT_INVALID".into())
        );
        assert_eq!(
            check_range(false, 0, 2 * 1024 * 1024).map_err(|e| e.message),
            Err("LIMIT_INVALID".into())
        );
        // precise: 1 KiB alignment, any multiple of 1 KiB up to 1 MiB.
        assert!(check_range(true, 1024, 3072).is_ok());
        assert!(check_range(false, 1024, 4096).is_err());
    }
}
