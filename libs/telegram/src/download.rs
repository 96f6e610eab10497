//! Downloading files with `upload.getFile`: what to download ([`DownloadSource`]) and how
//! a byte range maps onto the requests Telegram accepts ([`ChunkPlan`]).
//!
//! Telegram's rules (<https://core.telegram.org/api/files#downloading-files>): without
//! `precise`, `offset` is a multiple of 4 KiB, `limit` a multiple of 4 KiB that divides
//! 1 MiB, and one request never crosses a 1 MiB boundary. A plan therefore uses one
//! chunk size, a power of two between 4 KiB and 512 KiB, and requests whole chunks from a
//! chunk-aligned offset: no request can cross a megabyte boundary. The bytes before the
//! range (in the first chunk) and after it (in the last) are trimmed.

use grammers_client::media::Downloadable;
use grammers_client::tl;

use crate::model::{ChatId, FileLocation};

/// Smallest chunk Telegram accepts (and the alignment of offsets).
pub const MIN_CHUNK: u64 = 4 * 1024;
/// Largest chunk grammers asks for (Telegram allows up to 1 MiB).
pub const MAX_CHUNK: u64 = 512 * 1024;

/// A file to download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownloadSource {
    /// A photo size or a document (or one of its thumbnails).
    File(FileLocation),
    /// The current photo of a user, group or channel.
    ChatPhoto {
        /// Whose photo.
        chat_id: ChatId,
        /// Which photo (a stale id is refused by Telegram).
        photo_id: i64,
        /// The large variant (else the small one).
        big: bool,
    },
}

/// How a byte range is fetched: whole chunks from an aligned offset, then trimmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkPlan {
    /// Bytes per request: a power of two in `MIN_CHUNK..=MAX_CHUNK`.
    pub chunk_size: u64,
    /// The first chunk requested (its offset is `first_chunk * chunk_size`).
    pub first_chunk: u64,
    /// Bytes of the first chunk before the range starts.
    pub skip: u64,
    /// Bytes wanted; `None`: to the end of the file.
    pub length: Option<u64>,
}

impl ChunkPlan {
    /// The plan for `length` bytes (`None`: to the end) from `offset`.
    pub fn new(offset: u64, length: Option<u64>) -> Self {
        // Small ranges use small chunks, so little is fetched only to be trimmed.
        let chunk_size = length
            .map_or(MAX_CHUNK, |length| {
                length
                    .max(1)
                    .checked_next_power_of_two()
                    .unwrap_or(MAX_CHUNK)
            })
            .clamp(MIN_CHUNK, MAX_CHUNK);
        Self {
            chunk_size,
            first_chunk: offset / chunk_size,
            skip: offset % chunk_size,
            length,
        }
    }

    /// The `upload.getFile` offset of the `n`-th request (from 0).
    pub fn request_offset(&self, n: u64) -> u64 {
        (self.first_chunk + n) * self.chunk_size
    }
}

/// Trims the chunks of a [`ChunkPlan`] to the range it was made for.
#[derive(Debug, Clone)]
pub struct Trimmer {
    skip: u64,
    remaining: Option<u64>,
}

impl Trimmer {
    /// A trimmer for `plan`.
    pub fn new(plan: &ChunkPlan) -> Self {
        Self {
            skip: plan.skip,
            remaining: plan.length,
        }
    }

    /// Whether every wanted byte was handed out.
    pub fn is_done(&self) -> bool {
        self.remaining == Some(0)
    }

    /// The wanted part of the next chunk (possibly empty).
    pub fn take(&mut self, mut chunk: Vec<u8>) -> Vec<u8> {
        let skip = usize::try_from(self.skip)
            .unwrap_or(usize::MAX)
            .min(chunk.len());
        self.skip -= skip as u64;
        chunk.drain(..skip);
        if let Some(remaining) = self.remaining.as_mut() {
            let keep = usize::try_from(*remaining)
                .unwrap_or(usize::MAX)
                .min(chunk.len());
            chunk.truncate(keep);
            *remaining -= keep as u64;
        }
        chunk
    }
}

/// A location grammers' downloader understands (it then handles the file's data center:
/// `FILE_MIGRATE_X` and exporting the authorisation there).
pub(crate) struct RawLocation {
    pub(crate) location: tl::enums::InputFileLocation,
    pub(crate) dc_id: Option<i32>,
}

impl Downloadable for RawLocation {
    fn to_raw_input_location(&self) -> Option<tl::enums::InputFileLocation> {
        Some(self.location.clone())
    }

    fn dc_id(&self) -> Option<i32> {
        self.dc_id
    }
}

/// The `InputFileLocation` of a photo size or document.
pub(crate) fn input_location(location: &FileLocation) -> (tl::enums::InputFileLocation, i32) {
    match location {
        FileLocation::Photo {
            id,
            access_hash,
            file_reference,
            thumb_size,
            dc_id,
        } => (
            tl::types::InputPhotoFileLocation {
                id: *id,
                access_hash: *access_hash,
                file_reference: file_reference.clone(),
                thumb_size: thumb_size.clone(),
            }
            .into(),
            *dc_id,
        ),
        FileLocation::Document {
            id,
            access_hash,
            file_reference,
            thumb_size,
            dc_id,
        } => (
            tl::types::InputDocumentFileLocation {
                id: *id,
                access_hash: *access_hash,
                file_reference: file_reference.clone(),
                thumb_size: thumb_size.clone(),
            }
            .into(),
            *dc_id,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MEGABYTE: u64 = 1024 * 1024;

    /// Fetches `[offset, offset + length)` of `file` the way the account does, checking
    /// every request against Telegram's rules.
    fn fetch(file: &[u8], offset: u64, length: Option<u64>) -> Vec<u8> {
        let plan = ChunkPlan::new(offset, length);
        assert!(plan.chunk_size.is_power_of_two());
        assert!((MIN_CHUNK..=MAX_CHUNK).contains(&plan.chunk_size));
        let mut trimmer = Trimmer::new(&plan);
        let mut out = Vec::new();
        for n in 0.. {
            let request_offset = plan.request_offset(n);
            let limit = plan.chunk_size;
            assert_eq!(request_offset % MIN_CHUNK, 0, "offset aligned");
            assert_eq!(MEGABYTE % limit, 0, "limit divides 1 MiB");
            assert_eq!(
                request_offset / MEGABYTE,
                (request_offset + limit - 1) / MEGABYTE,
                "no request crosses a megabyte boundary"
            );
            let start = usize::try_from(request_offset)
                .unwrap_or(usize::MAX)
                .min(file.len());
            let end = (start + usize::try_from(limit).unwrap_or(0)).min(file.len());
            let chunk = file[start..end].to_vec();
            let short = (chunk.len() as u64) < limit;
            out.extend(trimmer.take(chunk));
            if short || trimmer.is_done() {
                break;
            }
        }
        out
    }

    #[test]
    fn any_range_maps_onto_aligned_requests_and_trims_to_the_exact_bytes() {
        let file: Vec<u8> = (0..3 * MEGABYTE + 12_345)
            .map(|n| (n % 251) as u8)
            .collect();
        let size = file.len() as u64;
        let cases = [
            (0, None),
            (0, Some(1)),
            (1, Some(1)),
            (4095, Some(2)),
            (MEGABYTE - 10, Some(20)),
            (MEGABYTE - 4096, Some(8192)),
            (700_000, Some(900_000)),
            (123_457, None),
            (size - 1, None),
            (size - 100, Some(100)),
            (2 * MEGABYTE + 1, Some(MEGABYTE)),
        ];
        for (offset, length) in cases {
            let end = length.map_or(size, |length| (offset + length).min(size));
            let expected =
                &file[usize::try_from(offset).unwrap_or(0)..usize::try_from(end).unwrap_or(0)];
            assert_eq!(
                fetch(&file, offset, length),
                expected,
                "offset {offset}, length {length:?}"
            );
        }
    }

    #[test]
    fn small_ranges_use_small_chunks_and_open_ones_the_largest() {
        assert_eq!(ChunkPlan::new(0, Some(10)).chunk_size, MIN_CHUNK);
        assert_eq!(ChunkPlan::new(0, Some(100_000)).chunk_size, 128 * 1024);
        assert_eq!(ChunkPlan::new(0, Some(10 * MEGABYTE)).chunk_size, MAX_CHUNK);
        assert_eq!(ChunkPlan::new(5, None).chunk_size, MAX_CHUNK);
        let plan = ChunkPlan::new(MAX_CHUNK + 7, None);
        assert_eq!((plan.first_chunk, plan.skip), (1, 7));
    }
}
