//! Photos, documents and the bytes behind them.
//!
//! As on Telegram, a photo is a set of size variants (`s` and `m` thumbnails, the full
//! picture as `x`, `y` or `w` by its size; profile and chat photos as `a`, `b`, `c`), and a
//! document is one file with attributes and optional thumbnails. Every file is addressed
//! by id, access hash and file reference; a wrong reference is `FILE_REFERENCE_EXPIRED`.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Peer, UserId, World};
use crate::image::{self, Format, Rgb};
use crate::serde_util;

/// The longest side of a document's thumbnail Telegram keeps (a larger one is dropped).
const THUMB_MAX_SIDE: u32 = 320;
/// The largest document thumbnail Telegram keeps (200 KiB).
const THUMB_MAX_BYTES: usize = 200 * 1024;

/// One size variant of a photo (or a document's thumbnail).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PhotoSizeRecord {
    /// Telegram's size type: `s`, `m`, `x`, `y`, `w`, `a`, `b`, `c`.
    pub(crate) kind: String,
    pub(crate) w: i32,
    pub(crate) h: i32,
    pub(crate) blob: u64,
    pub(crate) size: i64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Photo {
    pub(crate) id: i64,
    pub(crate) access_hash: i64,
    #[serde(with = "serde_util::base64_bytes")]
    pub(crate) file_reference: Vec<u8>,
    pub(crate) date: i32,
    /// Smallest first.
    pub(crate) sizes: Vec<PhotoSizeRecord>,
}

/// The document attributes the sandbox keeps (others are dropped on upload).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum DocAttribute {
    Filename {
        name: String,
    },
    ImageSize {
        w: i32,
        h: i32,
    },
    Animated,
    Video {
        duration: f64,
        w: i32,
        h: i32,
        round_message: bool,
        supports_streaming: bool,
    },
    Audio {
        voice: bool,
        duration: i32,
        title: Option<String>,
        performer: Option<String>,
        #[serde(default, with = "serde_util::base64_bytes")]
        waveform: Vec<u8>,
    },
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Document {
    pub(crate) id: i64,
    pub(crate) access_hash: i64,
    #[serde(with = "serde_util::base64_bytes")]
    pub(crate) file_reference: Vec<u8>,
    pub(crate) date: i32,
    pub(crate) mime_type: String,
    pub(crate) size: i64,
    pub(crate) blob: u64,
    pub(crate) attributes: Vec<DocAttribute>,
    pub(crate) thumbs: Vec<PhotoSizeRecord>,
}

impl Document {
    pub(crate) fn is_video(&self) -> bool {
        self.attributes
            .iter()
            .any(|a| matches!(a, DocAttribute::Video { .. }))
    }

    pub(crate) fn is_voice(&self) -> bool {
        self.attributes
            .iter()
            .any(|a| matches!(a, DocAttribute::Audio { voice: true, .. }))
    }

    pub(crate) fn is_round(&self) -> bool {
        self.attributes.iter().any(|a| {
            matches!(
                a,
                DocAttribute::Video {
                    round_message: true,
                    ..
                }
            )
        })
    }

    /// Audio that is not a voice note.
    pub(crate) fn is_music(&self) -> bool {
        self.attributes
            .iter()
            .any(|a| matches!(a, DocAttribute::Audio { voice: false, .. }))
    }

    pub(crate) fn is_animated(&self) -> bool {
        self.attributes
            .iter()
            .any(|a| matches!(a, DocAttribute::Animated))
    }

    pub(crate) fn file_name(&self) -> Option<&str> {
        self.attributes.iter().find_map(|a| match a {
            DocAttribute::Filename { name } => Some(name.as_str()),
            _ => None,
        })
    }
}

/// Media to store, decoded by the RPC layer from an `InputMedia`.
#[derive(Clone, Debug)]
pub(crate) enum NewMedia {
    Photo {
        bytes: Vec<u8>,
    },
    Document {
        bytes: Vec<u8>,
        mime_type: String,
        attributes: Vec<DocAttribute>,
        thumb: Option<Vec<u8>>,
    },
}

/// A file to download, as `upload.getFile` names it.
#[derive(Clone, Debug)]
pub(crate) enum FileLocation {
    Photo {
        id: i64,
        access_hash: i64,
        file_reference: Vec<u8>,
        thumb_size: String,
    },
    Document {
        id: i64,
        access_hash: i64,
        file_reference: Vec<u8>,
        thumb_size: String,
    },
    /// The current photo of a user, group or channel (`inputPeerPhotoFileLocation`).
    PeerPhoto {
        peer: Peer,
        photo_id: i64,
        big: bool,
    },
}

/// Why media could not be stored or a file not found; mapped to Telegram's errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MediaError {
    /// Not an image the sandbox can read the size of (`PHOTO_INVALID_DIMENSIONS`).
    PhotoInvalidDimensions,
    /// An `InputPhoto`/`InputDocument` that names nothing (`MEDIA_INVALID`).
    MediaInvalid,
    FileReferenceExpired,
    LocationInvalid,
}

/// Why uploaded bytes make no profile or chat photo.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PeerPhotoError {
    /// Not an image the sandbox can read the size of (`IMAGE_PROCESS_FAILED`).
    NotAnImage,
    /// Smaller than 160×160 (`PHOTO_CROP_SIZE_SMALL`).
    TooSmall,
}

/// The smallest side Telegram crops a profile or chat photo from.
const PEER_PHOTO_MIN_SIDE: u32 = 160;

/// What `upload.getFile` needs to answer.
pub(crate) struct FileContent {
    pub(crate) bytes: Arc<[u8]>,
    pub(crate) format: Option<Format>,
    /// When the file was created (`upload.file.mtime`).
    pub(crate) date: i32,
}

/// Size variants of a photo: type letter and bounding box.
const PHOTO_THUMBS: [(&str, u32); 2] = [("s", 100), ("m", 320)];
/// Profile and chat photos: `a` is the small one, `c` the big one.
const PROFILE_SIZES: [(&str, u32); 3] = [("a", 160), ("b", 320), ("c", 640)];

impl World {
    fn media_secret(&self, purpose: &[u8], id: i64) -> [u8; 32] {
        Sha256::new()
            .chain_update(self.hash_secret)
            .chain_update(purpose)
            .chain_update(id.to_le_bytes())
            .finalize()
            .into()
    }

    fn next_media_ids(&mut self) -> (i64, i64, Vec<u8>) {
        let id = self.next_media_id;
        self.next_media_id += 1;
        let hash = self.media_secret(b"access", id);
        let mut access = [0u8; 8];
        access.copy_from_slice(&hash[..8]);
        let reference = self.media_secret(b"reference", id)[..16].to_vec();
        (id, i64::from_le_bytes(access), reference)
    }

    /// The `grouped_id` of the album `from` sends with `first_random_id` first: unique per
    /// album, and the same for a repeat of it.
    pub(crate) fn album_id(&self, from: UserId, first_random_id: i64) -> i64 {
        let hash = Sha256::new()
            .chain_update(self.hash_secret)
            .chain_update(b"album")
            .chain_update(from.to_le_bytes())
            .chain_update(first_random_id.to_le_bytes())
            .finalize();
        let mut id = [0u8; 8];
        id.copy_from_slice(&hash[..8]);
        // Positive, as Telegram's are.
        i64::from_le_bytes(id) & i64::MAX
    }

    /// Keeps file contents; returns the blob id records refer to.
    pub(crate) fn store_blob(&mut self, bytes: Vec<u8>) -> u64 {
        let id = self.next_blob_id;
        self.next_blob_id += 1;
        self.blobs.insert(id, Arc::from(bytes));
        id
    }

    fn size_record(&mut self, kind: &str, picture: &Rgb) -> PhotoSizeRecord {
        let png = image::encode_png(picture);
        let size = png.len() as i64;
        PhotoSizeRecord {
            kind: kind.to_owned(),
            w: picture.width as i32,
            h: picture.height as i32,
            blob: self.store_blob(png),
            size,
        }
    }

    /// Stores an uploaded picture as a photo: `s` and `m` thumbnails (scaled from PNGs,
    /// flat stand-ins for other formats) and the original bytes as the biggest size.
    pub(crate) fn create_photo(&mut self, bytes: Vec<u8>, date: i32) -> Result<i64, MediaError> {
        let (width, height) =
            image::dimensions(&bytes).ok_or(MediaError::PhotoInvalidDimensions)?;
        let decoded = image::decode_png(&bytes);
        let mut sizes = Vec::with_capacity(3);
        for (kind, max) in PHOTO_THUMBS {
            let (w, h) = image::fit(width, height, max);
            let thumb = match &decoded {
                Some(picture) => image::resize(picture, w, h),
                None => image::placeholder(&bytes, w, h),
            };
            sizes.push(self.size_record(kind, &thumb));
        }
        let full_kind = match width.max(height) {
            0..=800 => "x",
            801..=1280 => "y",
            _ => "w",
        };
        let size = bytes.len() as i64;
        sizes.push(PhotoSizeRecord {
            kind: full_kind.to_owned(),
            w: width as i32,
            h: height as i32,
            blob: self.store_blob(bytes),
            size,
        });
        let (id, access_hash, file_reference) = self.next_media_ids();
        self.photos.insert(
            id,
            Photo {
                id,
                access_hash,
                file_reference,
                date,
                sizes,
            },
        );
        Ok(id)
    }

    /// A generated profile or chat photo (sizes `a`, `b`, `c`), the same for the same seed.
    pub(crate) fn create_profile_photo(&mut self, seed: u64, date: i32) -> i64 {
        let picture = image::pattern(seed, 640, 640);
        let mut sizes = Vec::with_capacity(PROFILE_SIZES.len());
        for (kind, side) in PROFILE_SIZES {
            let scaled = image::resize(&picture, side, side);
            sizes.push(self.size_record(kind, &scaled));
        }
        let (id, access_hash, file_reference) = self.next_media_ids();
        self.photos.insert(
            id,
            Photo {
                id,
                access_hash,
                file_reference,
                date,
                sizes,
            },
        );
        id
    }

    /// Stores an uploaded picture as a profile or chat photo: cropped to its centred
    /// square, sizes `a`, `b` and `c` (160, 320 and 640 pixels, never enlarged; PNGs
    /// scaled, flat stand-ins for other formats but the biggest, which keeps the bytes).
    pub(crate) fn create_peer_photo(
        &mut self,
        bytes: Vec<u8>,
        date: i32,
    ) -> Result<i64, PeerPhotoError> {
        let (width, height) = image::dimensions(&bytes).ok_or(PeerPhotoError::NotAnImage)?;
        if width.min(height) < PEER_PHOTO_MIN_SIDE {
            return Err(PeerPhotoError::TooSmall);
        }
        let square = image::decode_png(&bytes).map(|picture| image::crop_square(&picture));
        let side = width.min(height);
        let mut sizes = Vec::with_capacity(PROFILE_SIZES.len());
        for (index, (kind, max)) in PROFILE_SIZES.into_iter().enumerate() {
            let wanted = side.min(max);
            let record = match &square {
                Some(square) => self.size_record(kind, &image::resize(square, wanted, wanted)),
                None if index + 1 == PROFILE_SIZES.len() => {
                    let size = bytes.len() as i64;
                    PhotoSizeRecord {
                        kind: kind.to_owned(),
                        w: width as i32,
                        h: height as i32,
                        blob: self.store_blob(bytes.clone()),
                        size,
                    }
                }
                None => self.size_record(kind, &image::placeholder(&bytes, wanted, wanted)),
            };
            sizes.push(record);
        }
        let (id, access_hash, file_reference) = self.next_media_ids();
        self.photos.insert(
            id,
            Photo {
                id,
                access_hash,
                file_reference,
                date,
                sizes,
            },
        );
        Ok(id)
    }

    /// Stores an uploaded file as a document. An image sent as a file keeps its size in
    /// `documentAttributeImageSize` and gets an `m` thumbnail, as on Telegram. Another
    /// file keeps the `thumb` its sender uploaded as its `m` thumbnail when Telegram would:
    /// a JPEG of at most 320 pixels a side and 200 KiB; any other thumb is dropped
    /// silently, as Telegram does.
    pub(crate) fn create_document(
        &mut self,
        bytes: Vec<u8>,
        mime_type: String,
        mut attributes: Vec<DocAttribute>,
        thumb: Option<Vec<u8>>,
        date: i32,
    ) -> i64 {
        let mut thumbs = Vec::new();
        let picture = image::decode_png(&bytes);
        if let Some((width, height)) = image::dimensions(&bytes) {
            if !attributes
                .iter()
                .any(|a| matches!(a, DocAttribute::ImageSize { .. }))
            {
                attributes.push(DocAttribute::ImageSize {
                    w: width as i32,
                    h: height as i32,
                });
            }
            if let Some(picture) = &picture {
                let (w, h) = image::fit(width, height, 320);
                let scaled = image::resize(picture, w, h);
                thumbs.push(self.size_record("m", &scaled));
            }
        }
        if thumbs.is_empty()
            && let Some(thumb) = thumb
            && thumb.len() <= THUMB_MAX_BYTES
            && image::format(&thumb) == Some(Format::Jpeg)
            && let Some((width, height)) = image::dimensions(&thumb)
            && width <= THUMB_MAX_SIDE
            && height <= THUMB_MAX_SIDE
        {
            let size = thumb.len() as i64;
            thumbs.push(PhotoSizeRecord {
                kind: "m".to_owned(),
                w: width as i32,
                h: height as i32,
                blob: self.store_blob(thumb),
                size,
            });
        }
        let size = bytes.len() as i64;
        let blob = self.store_blob(bytes);
        let (id, access_hash, file_reference) = self.next_media_ids();
        self.documents.insert(
            id,
            Document {
                id,
                access_hash,
                file_reference,
                date,
                mime_type,
                size,
                blob,
                attributes,
                thumbs,
            },
        );
        id
    }

    /// Stores new media; returns what a message carries.
    pub(crate) fn store_media(
        &mut self,
        media: NewMedia,
        date: i32,
    ) -> Result<super::MessageMedia, MediaError> {
        match media {
            NewMedia::Photo { bytes } => self
                .create_photo(bytes, date)
                .map(super::MessageMedia::Photo),
            NewMedia::Document {
                bytes,
                mime_type,
                attributes,
                thumb,
            } => Ok(super::MessageMedia::Document(
                self.create_document(bytes, mime_type, attributes, thumb, date),
            )),
        }
    }

    /// An existing photo, by the `InputPhoto` a client presents.
    pub(crate) fn existing_photo(
        &self,
        id: i64,
        access_hash: i64,
        file_reference: &[u8],
    ) -> Result<i64, MediaError> {
        let photo = self
            .photos
            .get(&id)
            .filter(|p| p.access_hash == access_hash)
            .ok_or(MediaError::MediaInvalid)?;
        if photo.file_reference != file_reference {
            return Err(MediaError::FileReferenceExpired);
        }
        Ok(id)
    }

    /// An existing document, by the `InputDocument` a client presents.
    pub(crate) fn existing_document(
        &self,
        id: i64,
        access_hash: i64,
        file_reference: &[u8],
    ) -> Result<i64, MediaError> {
        let document = self
            .documents
            .get(&id)
            .filter(|d| d.access_hash == access_hash)
            .ok_or(MediaError::MediaInvalid)?;
        if document.file_reference != file_reference {
            return Err(MediaError::FileReferenceExpired);
        }
        Ok(id)
    }

    /// The current photo of a user, basic group or channel.
    pub(crate) fn peer_photo(&self, peer: Peer) -> Option<i64> {
        match peer {
            Peer::User(id) => self.users.get(&id)?.photo,
            Peer::Chat(id) => self.chats.get(&id)?.photo,
            Peer::Channel(id) => self.channels.get(&id)?.photo,
        }
    }

    fn blob(&self, id: u64, date: i32) -> Result<FileContent, MediaError> {
        let bytes = self
            .blobs
            .get(&id)
            .cloned()
            .ok_or(MediaError::LocationInvalid)?;
        let format = image::format(&bytes);
        Ok(FileContent {
            bytes,
            format,
            date,
        })
    }

    /// The bytes a file location names.
    pub(crate) fn file(&self, location: &FileLocation) -> Result<FileContent, MediaError> {
        match location {
            FileLocation::Photo {
                id,
                access_hash,
                file_reference,
                thumb_size,
            } => {
                let photo = self
                    .photos
                    .get(id)
                    .filter(|p| p.access_hash == *access_hash)
                    .ok_or(MediaError::LocationInvalid)?;
                if photo.file_reference != *file_reference {
                    return Err(MediaError::FileReferenceExpired);
                }
                let size = photo
                    .sizes
                    .iter()
                    .find(|s| s.kind == *thumb_size)
                    .ok_or(MediaError::LocationInvalid)?;
                self.blob(size.blob, photo.date)
            }
            FileLocation::Document {
                id,
                access_hash,
                file_reference,
                thumb_size,
            } => {
                let document = self
                    .documents
                    .get(id)
                    .filter(|d| d.access_hash == *access_hash)
                    .ok_or(MediaError::LocationInvalid)?;
                if document.file_reference != *file_reference {
                    return Err(MediaError::FileReferenceExpired);
                }
                if thumb_size.is_empty() {
                    let content = self.blob(document.blob, document.date)?;
                    // A document is served as a file, whatever it contains.
                    return Ok(FileContent {
                        format: None,
                        ..content
                    });
                }
                let thumb = document
                    .thumbs
                    .iter()
                    .find(|s| s.kind == *thumb_size)
                    .ok_or(MediaError::LocationInvalid)?;
                self.blob(thumb.blob, document.date)
            }
            FileLocation::PeerPhoto {
                peer,
                photo_id,
                big,
            } => {
                if self.peer_photo(*peer) != Some(*photo_id) {
                    return Err(MediaError::LocationInvalid);
                }
                let photo = self
                    .photos
                    .get(photo_id)
                    .ok_or(MediaError::LocationInvalid)?;
                // Small is the smallest variant, big the largest.
                let size = if *big {
                    photo.sizes.last()
                } else {
                    photo.sizes.first()
                }
                .ok_or(MediaError::LocationInvalid)?;
                self.blob(size.blob, photo.date)
            }
        }
    }
}

impl World {
    /// Every blob a photo or document refers to.
    pub(crate) fn referenced_blobs(&self) -> Vec<u64> {
        let photos = self
            .photos
            .values()
            .flat_map(|p| p.sizes.iter().map(|s| s.blob));
        let documents = self
            .documents
            .values()
            .flat_map(|d| std::iter::once(d.blob).chain(d.thumbs.iter().map(|s| s.blob)));
        photos.chain(documents).collect()
    }
}

impl World {
    /// Sends a photo (PNG or JPEG bytes) with a caption at `date` (for seeding); returns
    /// the id the sender sees.
    ///
    /// # Errors
    /// When the bytes are not an image, or the sender may not write there.
    pub fn send_photo_at(
        &mut self,
        from: UserId,
        to: Peer,
        image: Vec<u8>,
        caption: &str,
        date: i32,
    ) -> anyhow::Result<i32> {
        self.check_can_write(from, to)
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let photo = self
            .create_photo(image, date)
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        self.send_media_draft(from, to, super::MessageMedia::Photo(photo), caption, date)
    }

    /// Sends a file as a document with a file name and MIME type at `date` (for seeding);
    /// returns the id the sender sees.
    ///
    /// # Errors
    /// When the sender may not write there.
    pub fn send_document_at(
        &mut self,
        from: UserId,
        to: Peer,
        file: SeedFile,
        caption: &str,
        date: i32,
    ) -> anyhow::Result<i32> {
        self.check_can_write(from, to)
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let mut attributes = vec![DocAttribute::Filename {
            name: file.name.clone(),
        }];
        if let Some(voice_seconds) = file.voice_seconds {
            attributes.push(DocAttribute::Audio {
                voice: true,
                duration: voice_seconds,
                title: None,
                performer: None,
                // The seeded voice note is the demo one.
                waveform: DEMO_VOICE_WAVEFORM.to_vec(),
            });
        }
        if let Some(video) = file.video {
            attributes.push(DocAttribute::Video {
                duration: video.seconds,
                w: video.width,
                h: video.height,
                round_message: false,
                supports_streaming: true,
            });
        }
        let document = self.create_document(file.bytes, file.mime_type, attributes, None, date);
        self.send_media_draft(
            from,
            to,
            super::MessageMedia::Document(document),
            caption,
            date,
        )
    }

    fn send_media_draft(
        &mut self,
        from: UserId,
        to: Peer,
        media: super::MessageMedia,
        caption: &str,
        date: i32,
    ) -> anyhow::Result<i32> {
        let draft = super::Draft {
            media: Some(media),
            ..super::Draft::text(caption)
        };
        let sent = self
            .send(from, to, draft, None, date)
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        Ok(sent.sender_message_id())
    }

    /// Gives a user, basic group or channel a generated profile photo (the same picture
    /// for the same `seed`).
    ///
    /// # Errors
    /// When the peer does not exist.
    pub fn set_generated_photo(&mut self, peer: Peer, seed: u64, date: i32) -> anyhow::Result<()> {
        let exists = match peer {
            Peer::User(id) => self.users.contains_key(&id),
            Peer::Chat(id) => self.chats.contains_key(&id),
            Peer::Channel(id) => self.channels.contains_key(&id),
        };
        anyhow::ensure!(exists, "no {peer:?}");
        let photo = self.create_profile_photo(seed, date);
        match peer {
            Peer::User(id) => {
                if let Some(user) = self.users.get_mut(&id) {
                    user.photo = Some(photo);
                }
            }
            Peer::Chat(id) => {
                if let Some(chat) = self.chats.get_mut(&id) {
                    chat.photo = Some(photo);
                }
            }
            Peer::Channel(id) => {
                if let Some(channel) = self.channels.get_mut(&id) {
                    channel.photo = Some(photo);
                }
            }
        }
        Ok(())
    }
}

impl World {
    /// The bytes of a message's file as `viewer` sees it: a photo's largest size or a
    /// document's contents (for tests comparing downloads).
    pub fn message_file(&self, viewer: UserId, peer: Peer, message_id: i32) -> Option<Vec<u8>> {
        let blob = match self.message(viewer, peer, message_id)?.media? {
            super::MessageMedia::Photo(id) => self.photos.get(&id)?.sizes.last()?.blob,
            super::MessageMedia::Document(id) => self.documents.get(&id)?.blob,
        };
        self.blobs.get(&blob).map(|bytes| bytes.to_vec())
    }

    /// A voice message's waveform as `viewer` has it: the bytes of its
    /// `documentAttributeAudio` (5-bit values packed as Telegram packs them), for tests.
    pub fn message_voice_waveform(
        &self,
        viewer: UserId,
        peer: Peer,
        message_id: i32,
    ) -> Option<Vec<u8>> {
        let super::MessageMedia::Document(id) = self.message(viewer, peer, message_id)?.media?
        else {
            return None;
        };
        self.documents
            .get(&id)?
            .attributes
            .iter()
            .find_map(|attribute| match attribute {
                DocAttribute::Audio {
                    voice: true,
                    waveform,
                    ..
                } => Some(waveform.clone()),
                _ => None,
            })
    }

    /// Gives every photo and document a new file reference, as Telegram does from time
    /// to time: a client presenting an old one gets `FILE_REFERENCE_EXPIRED` until it
    /// fetches the message (or photo) again.
    pub fn renew_file_references(&mut self) {
        let renewed = |old: &[u8]| Sha256::digest(old)[..16].to_vec();
        for photo in self.photos.values_mut() {
            photo.file_reference = renewed(&photo.file_reference);
        }
        for document in self.documents.values_mut() {
            document.file_reference = renewed(&document.file_reference);
        }
    }
}

/// A file to send as a document with [`World::send_document_at`].
#[derive(Clone, Debug)]
pub struct SeedFile {
    pub name: String,
    pub mime_type: String,
    pub bytes: Vec<u8>,
    /// Sends it as a voice note of this many seconds.
    pub voice_seconds: Option<i32>,
    /// Sends it as a video of this length and size.
    pub video: Option<SeedVideo>,
}

/// What a video document says of itself.
#[derive(Clone, Copy, Debug)]
pub struct SeedVideo {
    pub seconds: f64,
    pub width: i32,
    pub height: i32,
}

/// A real Ogg Opus voice note (3 s, a 440 Hz tone), playable in a browser.
pub const DEMO_VOICE_OGG: &[u8] = include_bytes!("../../fixtures/voice.ogg");
/// The waveform of [`DEMO_VOICE_OGG`] as Telegram carries it (100 values of 5 bits,
/// packed), as TalkApp's media service computes it from the decoded audio (the test
/// `send_media::a_photo_document_voice_note_*` checks that they agree).
pub const DEMO_VOICE_WAVEFORM: [u8; 63] = [
    130, 152, 180, 218, 123, 239, 189, 247, 222, 123, 239, 189, 247, 222, 123, 239, 189, 247, 222,
    123, 239, 61, 248, 222, 123, 240, 189, 247, 32, 124, 239, 193, 247, 222, 123, 240, 189, 247,
    224, 123, 15, 190, 7, 223, 131, 239, 193, 7, 31, 132, 239, 193, 247, 224, 123, 142, 45, 149,
    144, 41, 100, 136, 0,
];
/// A real MP4 video (H.264, 160×120, 2 s, no sound), playable in a browser.
pub const DEMO_CLIP_MP4: &[u8] = include_bytes!("../../fixtures/clip.mp4");
/// A real JPEG photo (320×240).
pub const DEMO_PHOTO_JPEG: &[u8] = include_bytes!("../../fixtures/photo.jpg");

/// A deterministic PNG picture (diagonal bands in two colours picked by `seed`), for
/// seeding worlds and for tests that upload photos.
pub fn sample_png(seed: u64, width: u32, height: u32) -> Vec<u8> {
    image::encode_png(&image::pattern(seed, width, height))
}
