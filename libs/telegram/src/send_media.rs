//! Sending files: the upload in parallel parts, `messages.sendMedia` for one file,
//! `messages.sendMultiMedia` for an album, and what each account uploaded already.
//!
//! * **Uploads stream.** The bytes come from a [`FileSource`] as a stream and go to
//!   Telegram in 512 KiB parts (`upload.saveFilePart`, or `upload.saveBigFilePart` above
//!   10 MiB, as <https://core.telegram.org/api/files> documents), [`PARALLEL_PARTS`] at a
//!   time: at most that many parts are in memory, whatever the file's size.
//! * **Nothing is uploaded twice.** Once Telegram has a file (a sent message's media, or
//!   `messages.uploadMedia`'s answer), the account remembers it by its SHA-256 and how it
//!   was sent ([`UploadMemory`]) and sends it again by reference. Telegram's file
//!   references expire: a reference Telegram refuses is forgotten and the file uploaded
//!   again, once. Given a [`SentFileMemory`] ([`crate::account::AccountOptions`]), the
//!   account also keeps these references beyond its process (chat-service keeps them in
//!   the store), so a file sent before a restart, or before the account moved to another
//!   replica, still goes by reference.
//! * **A retry is not a second message.** The send carries the job's `random_id` (an
//!   album's item `i` carries `random_id + i`); Telegram answers a repeat with the first
//!   message.
//! * **Albums** (2 to 10 files, or 1) are sent the way Telegram requires: each item is
//!   uploaded with `messages.uploadMedia` first, then all are sent by reference with
//!   `messages.sendMultiMedia`; the caption goes on the first item.
//!
//! * **Thumbnails.** A video, document or music file whose [`FileSource`] has a preview
//!   image ([`FileSource::thumb`]: a video's frame, a PDF's first page) carries it as the
//!   `thumb` of its `inputMediaUploadedDocument`, uploaded as one more file, when it is
//!   what Telegram takes ([`fits_telegram_thumb`]: a JPEG of at most
//!   [`THUMB_MAX_SIDE`] pixels a side and [`THUMB_MAX_BYTES`]); Telegram keeps it as the
//!   document's `thumbs`. A preview that cannot be read or does not fit is left out: a
//!   thumbnail never holds a send back. A file sent again by reference keeps the
//!   thumbnail it was first sent with.
//!
//! Not yet: captions with formatting entities.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use futures::StreamExt as _;
use futures::stream::{BoxStream, FuturesUnordered};
use grammers_client::tl;
use grammers_tl_types::{Deserializable as _, Serializable as _};

use crate::account::{Account, reply_header, sent_message};
use crate::error::TelegramError;
use crate::model::{ChatId, SentMessage};

/// The size of an upload part (Telegram's largest, 512 KiB).
pub const PART_SIZE: usize = 512 * 1024;
/// Files larger than this go up with `upload.saveBigFilePart` (10 MiB).
pub const BIG_FILE_THRESHOLD: u64 = 10 * 1024 * 1024;
/// Parts uploaded at once.
pub const PARALLEL_PARTS: usize = 4;
/// The most files in an album (Telegram's limit).
pub const MAX_ALBUM_FILES: usize = 10;
/// The longest caption Telegram takes (`caption_length_max`).
pub const MAX_CAPTION_CHARS: usize = 1024;
/// The most parts of one file (Telegram's 4,000 × 512 KiB).
const MAX_PARTS: u64 = 4000;
/// Uploads remembered per account (the oldest are forgotten beyond it), in memory and in
/// a [`SentFileMemory`].
pub const REMEMBERED_FILES: usize = 1024;
/// The longest side of a thumbnail Telegram takes (<https://core.telegram.org/api/files>).
pub const THUMB_MAX_SIDE: u32 = 320;
/// The largest thumbnail Telegram takes (200 KiB).
pub const THUMB_MAX_BYTES: usize = 200 * 1024;

/// How a file is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SendAs {
    /// A compressed photo.
    Photo,
    /// A video (streamable).
    Video,
    /// A file, as it is.
    Document,
    /// A voice note (Ogg Opus).
    Voice,
    /// Music.
    Audio,
}

impl SendAs {
    /// The wire form.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Photo => "photo",
            Self::Video => "video",
            Self::Document => "document",
            Self::Voice => "voice",
            Self::Audio => "audio",
        }
    }

    /// Parses the wire form.
    pub fn parse(value: &str) -> Option<Self> {
        [
            Self::Photo,
            Self::Video,
            Self::Document,
            Self::Voice,
            Self::Audio,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == value)
    }
}

/// One file to send, as the media service knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingFile {
    /// Lower-case hex SHA-256 of the bytes (what the account remembers it by).
    pub sha256: String,
    /// Bytes.
    pub size: u64,
    /// The name shown to the recipient (may be empty).
    pub file_name: String,
    /// The type of the bytes.
    pub mime: String,
    /// How it is sent.
    pub send_as: SendAs,
    /// Pixels, when known (videos).
    pub width: Option<u32>,
    /// Pixels, when known (videos).
    pub height: Option<u32>,
    /// Milliseconds, when known (audio, video, voice).
    pub duration_ms: Option<u64>,
    /// A voice note's waveform, one value 0..=31 per byte.
    pub waveform: Option<Vec<u8>>,
}

/// A message with one file, or an album.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMedia {
    /// The chat.
    pub chat_id: ChatId,
    /// One file, or an album of up to [`MAX_ALBUM_FILES`].
    pub files: Vec<OutgoingFile>,
    /// The caption (on an album's first item).
    pub caption: String,
    /// Reply to this message.
    pub reply_to: Option<i32>,
    /// Without notification.
    pub silent: bool,
    /// Telegram's de-duplication key; an album's item `i` uses `random_id + i`.
    pub random_id: i64,
}

/// A stream of a file's bytes, in chunks of any size.
pub type ByteStream = BoxStream<'static, Result<Vec<u8>, TelegramError>>;

/// Where the bytes of the files of an [`OutgoingMedia`] come from.
#[async_trait]
pub trait FileSource: Send + Sync {
    /// The bytes of file number `index`, from the start.
    async fn open(&self, index: usize) -> Result<ByteStream, TelegramError>;

    /// A preview image of file number `index` (a JPEG), sent as its thumbnail when it is
    /// a video, document or music; `None` (the default) when it has none.
    async fn thumb(&self, index: usize) -> Result<Option<Vec<u8>>, TelegramError> {
        // Every file is without a preview unless the source says otherwise.
        let _ = index;
        Ok(None)
    }
}

/// Where an account keeps, beyond its process, the media Telegram returned for the files
/// it sent: by the file's SHA-256 and how it was sent, the serialized `InputMedia` (TL
/// bytes). At most [`REMEMBERED_FILES`] per account, the oldest remembered dropped first.
/// The references are not secrets (a file's id, access hash and file reference). A memory
/// that fails answers nothing and keeps nothing: the file is uploaded again.
#[async_trait]
pub trait SentFileMemory: Send + Sync + std::fmt::Debug {
    /// The media remembered for a file.
    async fn recall(&self, sha256: &str, send_as: SendAs) -> Option<Vec<u8>>;
    /// Remembers (or replaces) a file's media as the newest.
    async fn remember(&self, sha256: &str, send_as: SendAs, media: Vec<u8>);
    /// Forgets a file's media (Telegram refused it).
    async fn forget(&self, sha256: &str, send_as: SendAs);
}

/// What an account uploaded already: the media Telegram returned, by the file's SHA-256
/// and how it was sent; in memory, and in the account's [`SentFileMemory`] when it has
/// one (without one, a restarted account uploads a file again once).
#[derive(Default)]
pub struct UploadMemory {
    entries: Mutex<HashMap<(String, SendAs), (u64, tl::enums::InputMedia)>>,
    clock: std::sync::atomic::AtomicU64,
    lasting: Option<std::sync::Arc<dyn SentFileMemory>>,
}

impl UploadMemory {
    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<(String, SendAs), (u64, tl::enums::InputMedia)>> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A memory that also keeps what it learns in `lasting`.
    pub(crate) fn new(lasting: Option<std::sync::Arc<dyn SentFileMemory>>) -> Self {
        Self {
            lasting,
            ..Self::default()
        }
    }

    async fn get(&self, file: &OutgoingFile) -> Option<tl::enums::InputMedia> {
        let known = self
            .lock()
            .get(&(file.sha256.clone(), file.send_as))
            .map(|(_, media)| media.clone());
        if known.is_some() {
            return known;
        }
        let lasting = self.lasting.as_ref()?;
        let bytes = lasting.recall(&file.sha256, file.send_as).await?;
        match tl::enums::InputMedia::from_bytes(&bytes) {
            Ok(media) => {
                self.keep(file, media.clone());
                Some(media)
            }
            Err(error) => {
                tracing::warn!(%error, "a remembered file does not read back; uploading it again");
                lasting.forget(&file.sha256, file.send_as).await;
                None
            }
        }
    }

    async fn remember(&self, file: &OutgoingFile, media: tl::enums::InputMedia) {
        if let Some(lasting) = &self.lasting {
            lasting
                .remember(&file.sha256, file.send_as, media.to_bytes())
                .await;
        }
        self.keep(file, media);
    }

    /// Keeps `media` in memory only.
    fn keep(&self, file: &OutgoingFile, media: tl::enums::InputMedia) {
        let tick = self
            .clock
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut entries = self.lock();
        if entries.len() >= REMEMBERED_FILES
            && let Some(oldest) = entries
                .iter()
                .min_by_key(|(_, (tick, _))| *tick)
                .map(|(key, _)| key.clone())
        {
            entries.remove(&oldest);
        }
        entries.insert((file.sha256.clone(), file.send_as), (tick, media));
    }

    async fn forget(&self, file: &OutgoingFile) {
        self.lock().remove(&(file.sha256.clone(), file.send_as));
        if let Some(lasting) = &self.lasting {
            lasting.forget(&file.sha256, file.send_as).await;
        }
    }

    /// Whether a file is remembered (tests).
    pub fn knows(&self, sha256: &str, send_as: SendAs) -> bool {
        self.lock().contains_key(&(sha256.to_owned(), send_as))
    }
}

/// Whether Telegram refused a remembered file (its reference expired, or it is gone).
fn is_stale_reference(error: &TelegramError) -> bool {
    match error {
        TelegramError::Refused { name, .. } => {
            name.starts_with("FILE_REFERENCE_")
                || matches!(
                    name.as_str(),
                    "MEDIA_INVALID" | "PHOTO_INVALID" | "DOCUMENT_INVALID" | "MEDIA_EMPTY"
                )
        }
        _ => false,
    }
}

/// Packs a waveform of 5-bit values as Telegram stores it.
fn pack_waveform(values: &[u8]) -> Vec<u8> {
    let mut packed = vec![0_u8; (values.len() * 5).div_ceil(8)];
    for (index, value) in values.iter().enumerate() {
        let bit = index * 5;
        let word = u16::from(value & 31) << (bit % 8);
        let [low, high] = word.to_le_bytes();
        packed[bit / 8] |= low;
        if let Some(next) = packed.get_mut(bit / 8 + 1) {
            *next |= high;
        }
    }
    packed
}

fn seconds(duration_ms: Option<u64>) -> f64 {
    duration_ms.map_or(0.0, |ms| ms as f64 / 1000.0)
}

fn whole_seconds(duration_ms: Option<u64>) -> i32 {
    i32::try_from(duration_ms.unwrap_or(0).div_ceil(1000)).unwrap_or(i32::MAX)
}

fn pixels(value: Option<u32>) -> i32 {
    i32::try_from(value.unwrap_or(0)).unwrap_or(i32::MAX)
}

/// Width and height of a baseline or progressive JPEG, from its first start-of-frame
/// marker; `None` for anything that is not a JPEG whose frame header is found.
fn jpeg_dimensions(bytes: &[u8]) -> Option<(u32, u32)> {
    if !bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        return None;
    }
    let mut at = 2;
    while at + 9 < bytes.len() {
        if bytes[at] != 0xff {
            return None;
        }
        let marker = bytes[at + 1];
        let length = usize::from(u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]));
        // SOF0..SOF15, apart from DHT (c4), JPG (c8) and DAC (cc).
        if (0xc0..=0xcf).contains(&marker) && ![0xc4, 0xc8, 0xcc].contains(&marker) {
            let height = u16::from_be_bytes([bytes[at + 5], bytes[at + 6]]);
            let width = u16::from_be_bytes([bytes[at + 7], bytes[at + 8]]);
            return (width > 0 && height > 0).then_some((u32::from(width), u32::from(height)));
        }
        at += 2 + length;
    }
    None
}

/// Whether Telegram takes `bytes` as a thumbnail: a JPEG of at most [`THUMB_MAX_SIDE`]
/// pixels a side and [`THUMB_MAX_BYTES`] (it drops any other).
pub fn fits_telegram_thumb(bytes: &[u8]) -> bool {
    bytes.len() <= THUMB_MAX_BYTES
        && jpeg_dimensions(bytes)
            .is_some_and(|(width, height)| width <= THUMB_MAX_SIDE && height <= THUMB_MAX_SIDE)
}

/// The `InputMedia` that sends freshly uploaded bytes (and their thumbnail, uploaded too)
/// as `file` says.
fn uploaded_media(
    file: &OutgoingFile,
    input: tl::enums::InputFile,
    thumb: Option<tl::enums::InputFile>,
) -> tl::enums::InputMedia {
    if file.send_as == SendAs::Photo {
        return tl::types::InputMediaUploadedPhoto {
            spoiler: false,
            live_photo: false,
            file: input,
            stickers: None,
            ttl_seconds: None,
            video: None,
        }
        .into();
    }
    let mut attributes = Vec::new();
    match file.send_as {
        SendAs::Video => attributes.push(
            tl::types::DocumentAttributeVideo {
                round_message: false,
                supports_streaming: true,
                nosound: false,
                duration: seconds(file.duration_ms),
                w: pixels(file.width),
                h: pixels(file.height),
                preload_prefix_size: None,
                video_start_ts: None,
                video_codec: None,
            }
            .into(),
        ),
        SendAs::Voice => attributes.push(
            tl::types::DocumentAttributeAudio {
                voice: true,
                duration: whole_seconds(file.duration_ms),
                title: None,
                performer: None,
                waveform: file.waveform.as_deref().map(pack_waveform),
            }
            .into(),
        ),
        SendAs::Audio => attributes.push(
            tl::types::DocumentAttributeAudio {
                voice: false,
                duration: whole_seconds(file.duration_ms),
                title: None,
                performer: None,
                waveform: None,
            }
            .into(),
        ),
        SendAs::Photo | SendAs::Document => {}
    }
    if !file.file_name.is_empty() && file.send_as != SendAs::Voice {
        attributes.push(
            tl::types::DocumentAttributeFilename {
                file_name: file.file_name.clone(),
            }
            .into(),
        );
    }
    tl::types::InputMediaUploadedDocument {
        nosound_video: false,
        force_file: file.send_as == SendAs::Document,
        spoiler: false,
        file: input,
        thumb,
        mime_type: file.mime.clone(),
        attributes,
        stickers: None,
        video_cover: None,
        video_timestamp: None,
        ttl_seconds: None,
    }
    .into()
}

/// The media a message carries, as an `InputMedia` that sends it again by reference.
fn by_reference(media: &tl::enums::MessageMedia) -> Option<tl::enums::InputMedia> {
    match media {
        tl::enums::MessageMedia::Photo(tl::types::MessageMediaPhoto {
            photo: Some(tl::enums::Photo::Photo(photo)),
            ..
        }) => Some(
            tl::types::InputMediaPhoto {
                spoiler: false,
                live_photo: false,
                id: tl::types::InputPhoto {
                    id: photo.id,
                    access_hash: photo.access_hash,
                    file_reference: photo.file_reference.clone(),
                }
                .into(),
                ttl_seconds: None,
                video: None,
            }
            .into(),
        ),
        tl::enums::MessageMedia::Document(tl::types::MessageMediaDocument {
            document: Some(tl::enums::Document::Document(document)),
            ..
        }) => Some(
            tl::types::InputMediaDocument {
                spoiler: false,
                id: tl::types::InputDocument {
                    id: document.id,
                    access_hash: document.access_hash,
                    file_reference: document.file_reference.clone(),
                }
                .into(),
                video_cover: None,
                video_timestamp: None,
                ttl_seconds: None,
                query: None,
            }
            .into(),
        ),
        _ => None,
    }
}

/// The media of the message `id` in an answer.
fn media_of_message(updates: &tl::enums::Updates, id: i32) -> Option<tl::enums::MessageMedia> {
    let (tl::enums::Updates::Updates(tl::types::Updates { updates, .. })
    | tl::enums::Updates::Combined(tl::types::UpdatesCombined { updates, .. })) = updates
    else {
        return None;
    };
    updates.iter().find_map(|update| {
        let message = match update {
            tl::enums::Update::NewMessage(new) => &new.message,
            tl::enums::Update::NewChannelMessage(new) => &new.message,
            _ => return None,
        };
        match message {
            tl::enums::Message::Message(message) if message.id == id => message.media.clone(),
            _ => None,
        }
    })
}

impl Account {
    /// Sends one file, or an album, and returns the messages (one per file, in order).
    /// Files this account sent before go again by reference, the others are uploaded
    /// from `source`. The same `random_id` sends once.
    pub async fn send_media(
        &self,
        media: &OutgoingMedia,
        source: &dyn FileSource,
    ) -> Result<Vec<SentMessage>, TelegramError> {
        if media.files.is_empty() || media.files.len() > MAX_ALBUM_FILES {
            return Err(TelegramError::Refused {
                code: 400,
                name: "MULTI_MEDIA_TOO_LONG".into(),
            });
        }
        if media.files.len() == 1 {
            self.send_single(media, source).await.map(|sent| vec![sent])
        } else {
            self.send_album(media, source).await
        }
    }

    async fn send_single(
        &self,
        media: &OutgoingMedia,
        source: &dyn FileSource,
    ) -> Result<SentMessage, TelegramError> {
        let file = &media.files[0];
        if let Some(remembered) = self.uploads().get(file).await {
            match self.send_media_call(media, remembered).await {
                Err(error) if is_stale_reference(&error) => {
                    tracing::debug!(%error, "a remembered file was refused; uploading it again");
                    self.uploads().forget(file).await;
                }
                sent => return sent,
            }
        }
        let input = self.upload(file, source, 0).await?;
        let thumb = self.upload_thumb(file, source, 0).await?;
        self.send_media_call(media, uploaded_media(file, input, thumb))
            .await
    }

    async fn send_media_call(
        &self,
        media: &OutgoingMedia,
        input: tl::enums::InputMedia,
    ) -> Result<SentMessage, TelegramError> {
        let peer = self.input_peer(media.chat_id).await?;
        let updates = self
            .call(&tl::functions::messages::SendMedia {
                silent: media.silent,
                background: false,
                clear_draft: false,
                noforwards: false,
                update_stickersets_order: false,
                invert_media: false,
                allow_paid_floodskip: false,
                peer,
                reply_to: reply_header(media.reply_to),
                media: input,
                message: media.caption.clone(),
                random_id: media.random_id,
                reply_markup: None,
                entities: None,
                schedule_date: None,
                schedule_repeat_period: None,
                send_as: None,
                quick_reply_shortcut: None,
                effect: None,
                allow_paid_stars: None,
                suggested_post: None,
            })
            .await?;
        let sent = sent_message(&updates, media.random_id).ok_or_else(|| {
            TelegramError::Internal("messages.sendMedia answered without the message".into())
        })?;
        if let Some(reference) = media_of_message(&updates, sent.id)
            .as_ref()
            .and_then(by_reference)
        {
            self.uploads().remember(&media.files[0], reference).await;
        }
        Ok(sent)
    }

    async fn send_album(
        &self,
        media: &OutgoingMedia,
        source: &dyn FileSource,
    ) -> Result<Vec<SentMessage>, TelegramError> {
        match self.send_album_once(media, source).await {
            Err(error) if is_stale_reference(&error) => {
                tracing::debug!(%error, "a remembered file was refused; uploading the album again");
                for file in &media.files {
                    self.uploads().forget(file).await;
                }
                self.send_album_once(media, source).await
            }
            sent => sent,
        }
    }

    async fn send_album_once(
        &self,
        media: &OutgoingMedia,
        source: &dyn FileSource,
    ) -> Result<Vec<SentMessage>, TelegramError> {
        let peer = self.input_peer(media.chat_id).await?;
        let mut items = Vec::with_capacity(media.files.len());
        for (index, file) in media.files.iter().enumerate() {
            let input = match self.uploads().get(file).await {
                Some(remembered) => remembered,
                None => {
                    let uploaded = self.upload(file, source, index).await?;
                    let thumb = self.upload_thumb(file, source, index).await?;
                    let stored = self
                        .call(&tl::functions::messages::UploadMedia {
                            business_connection_id: None,
                            peer: peer.clone(),
                            media: uploaded_media(file, uploaded, thumb),
                        })
                        .await?;
                    let reference = by_reference(&stored).ok_or_else(|| {
                        TelegramError::Internal("messages.uploadMedia answered no file".into())
                    })?;
                    self.uploads().remember(file, reference.clone()).await;
                    reference
                }
            };
            let offset = i64::try_from(index).unwrap_or(0);
            items.push(
                tl::types::InputSingleMedia {
                    media: input,
                    random_id: media.random_id.wrapping_add(offset),
                    message: if index == 0 {
                        media.caption.clone()
                    } else {
                        String::new()
                    },
                    entities: None,
                }
                .into(),
            );
        }
        let updates = self
            .call(&tl::functions::messages::SendMultiMedia {
                silent: media.silent,
                background: false,
                clear_draft: false,
                noforwards: false,
                update_stickersets_order: false,
                invert_media: false,
                allow_paid_floodskip: false,
                peer,
                reply_to: reply_header(media.reply_to),
                multi_media: items,
                schedule_date: None,
                send_as: None,
                quick_reply_shortcut: None,
                effect: None,
                allow_paid_stars: None,
            })
            .await?;
        (0..media.files.len())
            .map(|index| {
                let offset = i64::try_from(index).unwrap_or(0);
                sent_message(&updates, media.random_id.wrapping_add(offset)).ok_or_else(|| {
                    TelegramError::Internal(
                        "messages.sendMultiMedia answered without a message".into(),
                    )
                })
            })
            .collect()
    }

    /// Uploads the thumbnail of file number `index` (one part), when it is sent as a
    /// video, document or music and `source` has a preview Telegram takes; `None`
    /// otherwise. Only Telegram refusing the upload is an error (as for any part).
    async fn upload_thumb(
        &self,
        file: &OutgoingFile,
        source: &dyn FileSource,
        index: usize,
    ) -> Result<Option<tl::enums::InputFile>, TelegramError> {
        if !matches!(
            file.send_as,
            SendAs::Video | SendAs::Document | SendAs::Audio
        ) {
            return Ok(None);
        }
        let preview = match source.thumb(index).await {
            Ok(Some(preview)) => preview,
            Ok(None) => return Ok(None),
            Err(error) => {
                tracing::info!(%error, "the file's preview cannot be read; sent without a thumbnail");
                return Ok(None);
            }
        };
        if !fits_telegram_thumb(&preview) {
            tracing::info!(
                bytes = preview.len(),
                dimensions = ?jpeg_dimensions(&preview),
                "the file's preview is no thumbnail telegram takes; sent without one"
            );
            return Ok(None);
        }
        let file_id: i64 = rand::random();
        let saved = self
            .client()
            .invoke(&tl::functions::upload::SaveFilePart {
                file_id,
                file_part: 0,
                bytes: preview,
            })
            .await
            .map_err(TelegramError::from)?;
        if !saved {
            return Err(TelegramError::Unavailable(
                "telegram did not keep the thumbnail".into(),
            ));
        }
        Ok(Some(
            tl::types::InputFile {
                id: file_id,
                parts: 1,
                name: "thumb.jpg".into(),
                md5_checksum: String::new(),
            }
            .into(),
        ))
    }

    /// Uploads file number `index` from `source` in parts, [`PARALLEL_PARTS`] at a time
    /// (also the bytes of chat and profile photos, [`crate::photos`]).
    pub(crate) async fn upload(
        &self,
        file: &OutgoingFile,
        source: &dyn FileSource,
        index: usize,
    ) -> Result<tl::enums::InputFile, TelegramError> {
        if self.is_stopped() {
            return Err(TelegramError::NotConnected);
        }
        let part_size = PART_SIZE as u64;
        let total_parts = file.size.div_ceil(part_size);
        if total_parts == 0 || total_parts > MAX_PARTS {
            return Err(TelegramError::Refused {
                code: 400,
                name: "FILE_PARTS_INVALID".into(),
            });
        }
        let total_parts = i32::try_from(total_parts).unwrap_or(i32::MAX);
        let big = file.size > BIG_FILE_THRESHOLD;
        let file_id: i64 = rand::random();
        let mut bytes = source.open(index).await?;
        let mut in_flight = FuturesUnordered::new();
        let mut part = Vec::with_capacity(PART_SIZE);
        let mut next_part: i32 = 0;
        let mut received: u64 = 0;
        let client = self.client().clone();
        let save = |number: i32, data: Vec<u8>| {
            let client = client.clone();
            async move {
                let saved = if big {
                    client
                        .invoke(&tl::functions::upload::SaveBigFilePart {
                            file_id,
                            file_part: number,
                            file_total_parts: total_parts,
                            bytes: data,
                        })
                        .await
                } else {
                    client
                        .invoke(&tl::functions::upload::SaveFilePart {
                            file_id,
                            file_part: number,
                            bytes: data,
                        })
                        .await
                };
                match saved {
                    Ok(true) => Ok(()),
                    Ok(false) => Err(TelegramError::Unavailable(format!(
                        "telegram did not keep part {number}"
                    ))),
                    Err(error) => Err(TelegramError::from(error)),
                }
            }
        };
        loop {
            let chunk = bytes.next().await.transpose()?;
            let finished = chunk.is_none();
            let mut chunk = chunk.unwrap_or_default();
            received += chunk.len() as u64;
            if received > file.size {
                return Err(TelegramError::Internal(format!(
                    "the file has more than its {} bytes",
                    file.size
                )));
            }
            while !chunk.is_empty() || (finished && !part.is_empty()) {
                let wanted = PART_SIZE - part.len();
                let taken = wanted.min(chunk.len());
                part.extend(chunk.drain(..taken));
                if part.len() == PART_SIZE || (finished && chunk.is_empty()) {
                    if in_flight.len() >= PARALLEL_PARTS
                        && let Some(result) = in_flight.next().await
                    {
                        result?;
                    }
                    let data = std::mem::replace(&mut part, Vec::with_capacity(PART_SIZE));
                    in_flight.push(save(next_part, data));
                    next_part += 1;
                }
            }
            if finished {
                break;
            }
        }
        while let Some(result) = in_flight.next().await {
            result?;
        }
        if received != file.size || next_part != total_parts {
            return Err(TelegramError::Internal(format!(
                "the file had {received} bytes, not {}",
                file.size
            )));
        }
        let name = if file.file_name.is_empty() {
            "file".to_owned()
        } else {
            file.file_name.clone()
        };
        Ok(if big {
            tl::types::InputFileBig {
                id: file_id,
                parts: total_parts,
                name,
            }
            .into()
        } else {
            tl::types::InputFile {
                id: file_id,
                parts: total_parts,
                name,
                // Optional: Telegram checks it only when given.
                md5_checksum: String::new(),
            }
            .into()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waveforms_pack_five_bits_per_value() {
        assert_eq!(
            pack_waveform(&[31, 0, 0, 0, 0, 0, 0, 0]),
            vec![31, 0, 0, 0, 0]
        );
        assert_eq!(pack_waveform(&[0, 31]), vec![0b1110_0000, 0b0000_0011]);
        assert_eq!(pack_waveform(&[1; 100]).len(), 63);
    }

    #[test]
    fn only_a_jpeg_within_telegrams_size_and_weight_is_a_thumbnail() {
        let jpeg = talkapp_tg_sandbox::DEMO_PHOTO_JPEG;
        assert_eq!(jpeg_dimensions(jpeg), Some((320, 240)));
        assert!(fits_telegram_thumb(jpeg));
        let mut heavy = jpeg.to_vec();
        heavy.resize(THUMB_MAX_BYTES + 1, 0);
        assert!(!fits_telegram_thumb(&heavy), "above 200 KiB");
        assert!(!fits_telegram_thumb(&talkapp_tg_sandbox::sample_png(
            1, 32, 32
        )));
        assert!(!fits_telegram_thumb(&jpeg[..20]), "no frame header");
        // The same header claiming 640 × 480.
        let mut wide = jpeg.to_vec();
        let frame = wide
            .windows(2)
            .position(|marker| marker == [0xff, 0xc0])
            .expect("a baseline frame");
        wide[frame + 5..frame + 7].copy_from_slice(&480_u16.to_be_bytes());
        wide[frame + 7..frame + 9].copy_from_slice(&640_u16.to_be_bytes());
        assert_eq!(jpeg_dimensions(&wide), Some((640, 480)));
        assert!(!fits_telegram_thumb(&wide), "larger than 320 a side");
    }

    #[test]
    fn a_video_goes_with_its_thumbnail_and_its_streaming_attributes() {
        let video = OutgoingFile {
            sha256: String::new(),
            size: 10,
            file_name: "clip.mp4".into(),
            mime: "video/mp4".into(),
            send_as: SendAs::Video,
            width: Some(160),
            height: Some(120),
            duration_ms: Some(2500),
            waveform: None,
        };
        let input = |id: i64| -> tl::enums::InputFile {
            tl::types::InputFile {
                id,
                parts: 1,
                name: "x".into(),
                md5_checksum: String::new(),
            }
            .into()
        };

        let media = uploaded_media(&video, input(1), Some(input(2)));

        let tl::enums::InputMedia::UploadedDocument(document) = media else {
            panic!("a document: {media:?}");
        };
        assert_eq!(document.thumb, Some(input(2)));
        assert!(!document.force_file, "a video, not a file");
        assert!(document.attributes.iter().any(|attribute| matches!(
            attribute,
            tl::enums::DocumentAttribute::Video(video)
                if video.supports_streaming && video.duration == 2.5 && video.w == 160 && video.h == 120
        )));
    }

    #[test]
    fn kinds_have_one_wire_form() {
        for kind in [
            SendAs::Photo,
            SendAs::Video,
            SendAs::Document,
            SendAs::Voice,
            SendAs::Audio,
        ] {
            assert_eq!(SendAs::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(SendAs::parse("sticker"), None);
    }
}
