//! Media downloads: a reference from a message or chat ([`MediaRef`], written by
//! `talkapp_views`) resolved for the account from its cache, and the
//! file fetched from Telegram through the account (by its host replica).
//!
//! Two ways to serve, by what is known up front:
//! * **Streamed**: a document of known size. The header (size, type, name) comes from the
//!   cache; the range asked for maps onto `upload.getFile` chunks; nothing is buffered.
//! * **Buffered**: photo sizes, thumbnails and chat photos, whose exact size and type are
//!   known only from their bytes. They are small (Telegram photos are at most 10 MB), so
//!   they are fetched whole, their type sniffed, and the range cut from memory.
//!
//! A stale file reference (`FILE_REFERENCE_EXPIRED`) is refreshed once by fetching the
//! message again (`messages.getMessages` / `channels.getMessages`); the cache keeps the
//! fresh copy.
//!
//! Not yet: a reference that expires in the middle of a long streamed download is not
//! refreshed there (the stream fails; the client asks again with a `Range` from where it
//! stopped, which refreshes); a message that is not in the cache is not fetched from
//! Telegram for its media (every reference a client holds came from the cache, but a
//! cleared cache answers 404 until the history is read again).

use std::pin::Pin;
use std::sync::Arc;

use futures::{Stream, StreamExt as _};
use talkapp_store::{AccountKey, ChatStore};
use talkapp_telegram::account::{Account, Download};
use talkapp_telegram::download::DownloadSource;
use talkapp_telegram::error::TelegramError;
use talkapp_telegram::model::{MediaInfo, MediaKind};

use crate::account_host::HostError;
use crate::cache::{message_from_record, message_record, profile_photo, user_from_record};
use crate::media_cache::{CachedFile, FileKey, MediaCache};

pub use talkapp_views::MediaRef;

/// Largest file served from memory (photo sizes and thumbnails are far smaller).
const BUFFERED_MAX_BYTES: u64 = 20 * 1024 * 1024;
/// Bytes per message when a file held in memory is sent.
const MEMORY_CHUNK_BYTES: usize = 256 * 1024;
/// Largest file kept in the cache of recently served files (thumbnails, chat photos).
const CACHED_FILE_MAX_BYTES: usize = 512 * 1024;

/// The bytes asked for (an HTTP Range, already parsed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ByteRange {
    /// From this byte.
    pub offset: u64,
    /// This many (`None`: to the end).
    pub length: Option<u64>,
    /// Or the last this many (wins over the others when set).
    pub suffix: Option<u64>,
}

impl ByteRange {
    /// `[start, start + length)` of a file of `size` bytes; `None` when unsatisfiable.
    pub fn within(self, size: u64) -> Option<(u64, u64)> {
        if let Some(suffix) = self.suffix {
            if size == 0 {
                return None;
            }
            let start = size.saturating_sub(suffix);
            return Some((start, size - start));
        }
        if self.offset == 0 && size == 0 {
            return Some((0, 0));
        }
        if self.offset >= size {
            return None;
        }
        let available = size - self.offset;
        Some((
            self.offset,
            self.length
                .map_or(available, |length| length.min(available)),
        ))
    }
}

/// A file resolved from a reference.
#[derive(Debug, Clone)]
struct Resolved {
    source: DownloadSource,
    kind: Option<MediaKind>,
    mime_type: Option<String>,
    file_name: Option<String>,
    /// Known up front only for documents.
    size: Option<u64>,
}

/// What a download serves, before its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileHeader {
    /// The file's type (`application/octet-stream` when unknown).
    pub mime_type: String,
    /// The whole file's size in bytes.
    pub size: u64,
    /// Its name; empty when it has none (photos).
    pub file_name: String,
    /// The bytes that follow, `(offset, length)`; `None` when the range asked for lies
    /// outside the file (nothing follows).
    pub range: Option<(u64, u64)>,
}

/// A download: its header, then its bytes.
pub struct MediaDownload {
    /// Type, size, name and the range that follows.
    pub header: FileHeader,
    /// The bytes, in order.
    pub chunks: ChunkStream,
}

/// The bytes of a download.
pub type ChunkStream = Pin<Box<dyn Stream<Item = Result<Vec<u8>, HostError>> + Send>>;

/// Resolves references and downloads files through a connected account.
pub struct Media {
    store: Arc<dyn ChatStore>,
    max_file_bytes: u64,
    recent: MediaCache,
}

impl Media {
    /// Downloads over `store`'s cache, refusing files above `max_file_bytes`, keeping
    /// up to `cache_bytes` of recently served small files in memory.
    pub fn new(store: Arc<dyn ChatStore>, max_file_bytes: u64, cache_bytes: u64) -> Self {
        Self {
            store,
            max_file_bytes,
            recent: MediaCache::new(
                usize::try_from(cache_bytes).unwrap_or(usize::MAX),
                CACHED_FILE_MAX_BYTES,
            ),
        }
    }

    async fn resolve(&self, key: AccountKey, media_ref: MediaRef) -> Result<Resolved, HostError> {
        if let MediaRef::ChatPhoto { chat_id, photo_id } = media_ref {
            let current = match self.store.cached_chat(key, chat_id).await? {
                Some(chat) => profile_photo(&chat.profile),
                // A user without a chat in the list (the account itself, a sender): the
                // photo the cache has of the user.
                None if chat_id > 0 => self
                    .store
                    .cached_users(key, &[chat_id])
                    .await?
                    .first()
                    .and_then(|record| user_from_record(record).photo),
                None => None,
            }
            .ok_or(HostError::MediaNotFound)?;
            if current.photo_id != photo_id {
                return Err(HostError::MediaNotFound);
            }
            return Ok(Resolved {
                source: DownloadSource::ChatPhoto {
                    chat_id,
                    photo_id,
                    big: true,
                },
                kind: None,
                mime_type: Some("image/jpeg".to_owned()),
                file_name: None,
                size: None,
            });
        }
        let (chat_id, message_id) = media_ref.message().ok_or(HostError::MediaNotFound)?;
        let records = self
            .store
            .cached_messages_by_id(key, chat_id, &[message_id])
            .await?;
        let media = records
            .iter()
            .map(message_from_record)
            .find(|message| message.id == message_id)
            .and_then(|message| message.media)
            .ok_or(HostError::MediaNotFound)?;
        resolved_from(&media, media_ref).ok_or(HostError::MediaNotFound)
    }

    /// Fetches the message again for a fresh file reference, keeps it in the cache, and
    /// resolves the reference anew.
    async fn refresh(
        &self,
        account: &Account,
        key: AccountKey,
        media_ref: MediaRef,
    ) -> Result<Resolved, HostError> {
        let (chat_id, message_id) = media_ref.message().ok_or(HostError::MediaNotFound)?;
        let message = account
            .message(chat_id, message_id)
            .await?
            .ok_or(HostError::MediaNotFound)?;
        self.store
            .upsert_messages(key, &[message_record(&message)], false)
            .await?;
        let media = message.media.ok_or(HostError::MediaNotFound)?;
        resolved_from(&media, media_ref).ok_or(HostError::MediaNotFound)
    }

    /// Starts a download and fetches its first bytes, refreshing a stale file reference
    /// once; the first bytes come back with the download.
    async fn start(
        &self,
        account: &Account,
        key: AccountKey,
        media_ref: MediaRef,
        mut resolved: Resolved,
        offset: u64,
        length: Option<u64>,
    ) -> Result<(Resolved, Download, Option<Vec<u8>>), HostError> {
        let mut refreshed = false;
        loop {
            let mut download = account.download(&resolved.source, offset, length).await?;
            match download.next_chunk().await {
                Ok(first) => return Ok((resolved, download, first)),
                Err(TelegramError::Refused { name, .. })
                    if name == "FILE_REFERENCE_EXPIRED" && !refreshed =>
                {
                    tracing::debug!("file reference expired, fetching the message again");
                    refreshed = true;
                    resolved = self.refresh(account, key, media_ref).await?;
                }
                Err(error) => return Err(error.into()),
            }
        }
    }

    /// Downloads `range` of the file `media_ref` names, through `account` (this replica
    /// hosts it).
    pub async fn download(
        &self,
        account: Account,
        key: AccountKey,
        media_ref: &str,
        range: ByteRange,
    ) -> Result<MediaDownload, HostError> {
        let media_ref = MediaRef::parse(media_ref).ok_or(HostError::MediaNotFound)?;
        let resolved = self.resolve(key, media_ref).await?;
        let download = match resolved.size {
            Some(size) if resolved.kind != Some(MediaKind::Photo) => {
                self.streamed(account, key, media_ref, resolved, size, range)
                    .await
            }
            _ => {
                self.buffered(account, key, media_ref, resolved, range)
                    .await
            }
        }
        .map_err(file_gone)?;
        Ok(MediaDownload {
            header: download.header,
            chunks: Box::pin(download.chunks.map(|chunk| chunk.map_err(file_gone))),
        })
    }

    async fn streamed(
        &self,
        account: Account,
        key: AccountKey,
        media_ref: MediaRef,
        resolved: Resolved,
        size: u64,
        range: ByteRange,
    ) -> Result<MediaDownload, HostError> {
        if size > self.max_file_bytes {
            return Err(HostError::TooLarge {
                size,
                max: self.max_file_bytes,
            });
        }
        let mut header = FileHeader {
            mime_type: resolved
                .mime_type
                .clone()
                .filter(|mime| !mime.is_empty())
                .unwrap_or_else(|| "application/octet-stream".to_owned()),
            size,
            file_name: resolved.file_name.clone().unwrap_or_default(),
            range: None,
        };
        let Some((offset, length)) = range.within(size) else {
            return Ok(MediaDownload {
                header,
                chunks: Box::pin(futures::stream::empty()),
            });
        };
        header.range = Some((offset, length));
        if length == 0 {
            return Ok(MediaDownload {
                header,
                chunks: Box::pin(futures::stream::empty()),
            });
        }
        let (_, download, first) = self
            .start(&account, key, media_ref, resolved, offset, Some(length))
            .await?;
        let chunks =
            futures::stream::unfold((Some(download), first), |(download, pending)| async move {
                if let Some(chunk) = pending {
                    return Some((Ok(chunk), (download, None)));
                }
                let mut download = download?;
                match download.next_chunk().await {
                    Ok(Some(chunk)) => Some((Ok(chunk), (Some(download), None))),
                    Ok(None) => None,
                    Err(error) => Some((Err(error.into()), (None, None))),
                }
            });
        Ok(MediaDownload {
            header,
            chunks: Box::pin(chunks),
        })
    }

    async fn buffered(
        &self,
        account: Account,
        key: AccountKey,
        media_ref: MediaRef,
        resolved: Resolved,
        range: ByteRange,
    ) -> Result<MediaDownload, HostError> {
        let max = self.max_file_bytes.min(BUFFERED_MAX_BYTES);
        if let Some(size) = resolved.size
            && size > max
        {
            return Err(HostError::TooLarge { size, max });
        }
        let cache_key = FileKey::new(key, &resolved.source);
        let file = match self.recent.get(&cache_key) {
            Some(file) => file,
            None => {
                let file = self
                    .fetch_whole(&account, key, media_ref, resolved, max)
                    .await?;
                self.recent.put(cache_key, file.clone());
                file
            }
        };
        Ok(from_memory(&file, range))
    }

    /// Fetches a whole small file, its type sniffed from its bytes.
    async fn fetch_whole(
        &self,
        account: &Account,
        key: AccountKey,
        media_ref: MediaRef,
        resolved: Resolved,
        max: u64,
    ) -> Result<CachedFile, HostError> {
        let (resolved, mut download, first) = self
            .start(account, key, media_ref, resolved, 0, None)
            .await?;
        let mut bytes = first.unwrap_or_default();
        while let Some(chunk) = download.next_chunk().await? {
            bytes.extend_from_slice(&chunk);
            if bytes.len() as u64 > max {
                return Err(HostError::TooLarge {
                    size: bytes.len() as u64,
                    max,
                });
            }
        }
        let mime_type = sniff_image(&bytes)
            .map(str::to_owned)
            .or(resolved.mime_type.clone().filter(|mime| !mime.is_empty()))
            .unwrap_or_else(|| "application/octet-stream".to_owned());
        Ok(CachedFile {
            mime_type,
            file_name: resolved.file_name.unwrap_or_default(),
            bytes: bytes.into(),
        })
    }
}

/// A file Telegram refuses to serve (a location gone stale, a deleted file) is not there
/// for the caller; other errors stay as they are.
fn file_gone(error: HostError) -> HostError {
    match error {
        HostError::Telegram(TelegramError::Refused { code, .. }) if code != 403 => {
            HostError::MediaNotFound
        }
        other => other,
    }
}

/// A download of `range` of a file held in memory.
fn from_memory(file: &CachedFile, range: ByteRange) -> MediaDownload {
    let bytes = &file.bytes;
    let size = bytes.len() as u64;
    let mut header = FileHeader {
        mime_type: file.mime_type.clone(),
        size,
        file_name: file.file_name.clone(),
        range: None,
    };
    let Some((offset, length)) = range.within(size) else {
        return MediaDownload {
            header,
            chunks: Box::pin(futures::stream::empty()),
        };
    };
    header.range = Some((offset, length));
    let start = usize::try_from(offset).unwrap_or(usize::MAX);
    let end = usize::try_from(offset + length).unwrap_or(usize::MAX);
    // In pieces well under gRPC's default 4 MiB message limit.
    let chunks: Vec<Result<Vec<u8>, HostError>> = bytes
        .get(start..end)
        .unwrap_or_default()
        .chunks(MEMORY_CHUNK_BYTES)
        .map(|piece| Ok(piece.to_vec()))
        .collect();
    MediaDownload {
        header,
        chunks: Box::pin(futures::stream::iter(chunks)),
    }
}

/// The file a message's media offers for a reference.
fn resolved_from(media: &MediaInfo, media_ref: MediaRef) -> Option<Resolved> {
    match media_ref {
        MediaRef::File { .. } => Some(Resolved {
            source: DownloadSource::File(media.file.clone()?),
            kind: Some(media.kind),
            mime_type: media.mime_type.clone(),
            file_name: media.file_name.clone(),
            size: media.size.and_then(|size| u64::try_from(size).ok()),
        }),
        MediaRef::Thumbnail { .. } => Some(Resolved {
            source: DownloadSource::File(media.thumbnail.clone()?),
            kind: Some(MediaKind::Photo),
            mime_type: Some("image/jpeg".to_owned()),
            file_name: None,
            size: None,
        }),
        MediaRef::ChatPhoto { .. } => None,
    }
}

/// The image type of `bytes` by their signature, for photo sizes (Telegram's are JPEG,
/// the sandbox's PNG).
fn sniff_image(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(b"GIF8") {
        Some("image/gif")
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_file_in_memory_goes_out_in_pieces_under_the_grpc_message_limit() {
        use futures::StreamExt as _;
        let file = CachedFile {
            mime_type: "image/png".into(),
            file_name: String::new(),
            bytes: (0..600 * 1024)
                .map(|n| (n % 251) as u8)
                .collect::<Vec<u8>>()
                .into(),
        };
        let download = from_memory(
            &file,
            ByteRange {
                offset: 10,
                length: None,
                suffix: None,
            },
        );
        assert_eq!(
            (download.header.range, download.header.size),
            (Some((10, 600 * 1024 - 10)), 600 * 1024)
        );
        let pieces: Vec<Vec<u8>> = download
            .chunks
            .map(|piece| piece.expect("in memory"))
            .collect()
            .await;
        assert_eq!(pieces.len(), 3);
        assert!(pieces.iter().all(|piece| piece.len() <= MEMORY_CHUNK_BYTES));
        assert_eq!(pieces.concat(), file.bytes[10..].to_vec());
    }

    #[test]
    fn ranges_are_cut_to_the_file_or_refused() {
        let whole = ByteRange::default();
        assert_eq!(whole.within(10), Some((0, 10)));
        assert_eq!(whole.within(0), Some((0, 0)));
        let from = |offset, length| ByteRange {
            offset,
            length,
            suffix: None,
        };
        assert_eq!(from(3, Some(4)).within(10), Some((3, 4)));
        assert_eq!(from(3, Some(40)).within(10), Some((3, 7)));
        assert_eq!(from(9, None).within(10), Some((9, 1)));
        assert_eq!(from(10, None).within(10), None);
        let suffix = |n| ByteRange {
            suffix: Some(n),
            ..ByteRange::default()
        };
        assert_eq!(suffix(4).within(10), Some((6, 4)));
        assert_eq!(suffix(40).within(10), Some((0, 10)));
        assert_eq!(suffix(4).within(0), None);
    }
}
