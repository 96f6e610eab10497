//! What a stored file is beyond its type: image dimensions and a preview, the duration
//! and dimensions of audio and video from their containers. Reads the object by ranges,
//! so a 2 GiB video is never read whole.
//!
//! Done: JPEG/PNG/GIF/WebP (dimensions from the header, decompression bombs refused
//! before decoding, a downscaled JPEG preview with the EXIF orientation applied and no
//! metadata), MP4/M4A/QuickTime (`mvhd` duration, `tkhd` dimensions), Ogg Opus and
//! Vorbis (duration from the last granule position), Ogg Theora (duration from the last
//! video page's granule position, picture size from its header, [`theora`]), FLAC (STREAMINFO), WAV (`fmt ` and
//! `data`), WebM/Matroska (duration and video dimensions, [`matroska`]), MP3 (duration,
//! [`mpeg_audio`]), and the waveform of an Ogg Opus voice note (decoded with libopus,
//! [`waveform`]). The previews of videos and PDFs are made by external tools after this
//! analysis (`crate::frames`, ADR 0034); see each submodule for what it leaves out.

use std::io::Cursor;

use bytes::Bytes;
use image::{ImageDecoder as _, ImageReader, Limits};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt as _};
use talkapp_store::MediaKind;

use crate::error::{MediaError, Result};

pub(crate) mod matroska;
mod mpeg_audio;
mod ogg;
pub(crate) mod theora;
mod waveform;
pub(crate) mod window;

/// What analysis found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Findings {
    pub(crate) width: Option<u32>,
    pub(crate) height: Option<u32>,
    pub(crate) duration_ms: Option<u64>,
    /// A voice note's waveform: 100 values of 0..=31.
    pub(crate) waveform: Option<Vec<u8>>,
    /// A JPEG preview.
    pub(crate) preview: Option<Bytes>,
}

/// Limits of the analysis.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AnalysisLimits {
    pub(crate) max_image_pixels: u64,
    pub(crate) preview_max_side: u32,
    pub(crate) preview_max_source_bytes: u64,
    /// Largest `moov` box read (the index of a long video is a few MiB):
    /// `media.max_moov_bytes`.
    pub(crate) max_moov_bytes: u64,
    /// How far before its end a live WebM's last Cluster is looked for:
    /// `media.live_webm_search_bytes`.
    pub(crate) live_webm_search_bytes: u64,
}
/// The tail read to find an Ogg stream's last page (a page is at most 65,307 bytes).
const OGG_TAIL_BYTES: u64 = 70 * 1024;

async fn read_range(objects: &dyn ObjectStore, path: &Path, start: u64, end: u64) -> Result<Bytes> {
    Ok(objects.get_range(path, start..end).await?)
}

/// Analyses the object at `path` (`size` bytes, of `mime`/`kind`), whose first bytes are
/// `head`.
pub(crate) async fn analyze(
    objects: &dyn ObjectStore,
    path: &Path,
    size: u64,
    mime: &str,
    kind: MediaKind,
    head: &[u8],
    limits: AnalysisLimits,
) -> Result<Findings> {
    match (kind, mime) {
        (MediaKind::Photo, _) => analyze_image(objects, path, size, head, limits).await,
        (_, "video/mp4" | "video/quicktime" | "audio/mp4") => {
            Ok(analyze_mp4(objects, path, size, limits.max_moov_bytes)
                .await?
                .unwrap_or_default())
        }
        (_, "audio/ogg" | "video/ogg") => Ok(analyze_ogg(objects, path, size, kind, head)
            .await?
            .unwrap_or_default()),
        (_, "video/webm" | "video/x-matroska") => {
            let mut window = window::Window::new(objects, path, size);
            Ok(
                matroska::analyze_matroska(&mut window, limits.live_webm_search_bytes)
                    .await?
                    .unwrap_or_default(),
            )
        }
        (_, "audio/mpeg") => {
            let mut window = window::Window::new(objects, path, size);
            Ok(mpeg_audio::analyze_mp3(&mut window)
                .await?
                .unwrap_or_default())
        }
        (_, "audio/flac") => Ok(Findings {
            duration_ms: flac_duration(head),
            ..Findings::default()
        }),
        (_, "audio/wav") => Ok(Findings {
            duration_ms: wav_duration(head),
            ..Findings::default()
        }),
        _ => Ok(Findings::default()),
    }
}

async fn analyze_image(
    objects: &dyn ObjectStore,
    path: &Path,
    size: u64,
    head: &[u8],
    limits: AnalysisLimits,
) -> Result<Findings> {
    let whole = if size <= limits.preview_max_source_bytes {
        Some(read_range(objects, path, 0, size).await?)
    } else {
        None
    };
    let header_bytes = whole.as_deref().unwrap_or(head);
    let (width, height) = ImageReader::new(Cursor::new(header_bytes))
        .with_guessed_format()
        .map_err(|error| MediaError::Internal(error.to_string()))?
        .into_dimensions()
        .map_err(|error| MediaError::TypeNotAllowed(format!("not a readable image: {error}")))?;
    if u64::from(width) * u64::from(height) > limits.max_image_pixels {
        return Err(MediaError::ImageTooLarge { width, height });
    }
    let mut findings = Findings {
        width: Some(width),
        height: Some(height),
        ..Findings::default()
    };
    if let Some(whole) = whole {
        let max_side = limits.preview_max_side;
        let pixels = limits.max_image_pixels;
        // Decoding is CPU work: off the async runtime.
        let preview = tokio::task::spawn_blocking(move || preview_of(&whole, max_side, pixels))
            .await
            .map_err(|error| MediaError::Internal(error.to_string()))?;
        match preview {
            Ok((preview, oriented_width, oriented_height)) => {
                findings.preview = Some(preview);
                findings.width = Some(oriented_width);
                findings.height = Some(oriented_height);
            }
            Err(error) => tracing::info!(%error, "no preview for an image that does not decode"),
        }
    }
    Ok(findings)
}

/// A JPEG of at most `max_side` pixels a side, upright (EXIF orientation applied), with
/// no metadata (the encoder writes none); and the upright dimensions of the original.
pub(crate) fn preview_of(
    bytes: &[u8],
    max_side: u32,
    max_pixels: u64,
) -> Result<(Bytes, u32, u32), String> {
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|error| error.to_string())?;
    let mut image_limits = Limits::default();
    // Four bytes per pixel at most for the formats decoded here, and a margin.
    image_limits.max_alloc = Some(
        max_pixels
            .saturating_mul(4)
            .saturating_add(64 * 1024 * 1024),
    );
    reader.limits(image_limits);
    let mut decoder = reader.into_decoder().map_err(|error| error.to_string())?;
    let orientation = decoder.orientation().map_err(|error| error.to_string())?;
    let mut image =
        image::DynamicImage::from_decoder(decoder).map_err(|error| error.to_string())?;
    image.apply_orientation(orientation);
    let (width, height) = (image.width(), image.height());
    // Downscaled only: a small image keeps its size.
    let small = if width > max_side || height > max_side {
        image.thumbnail(max_side, max_side).to_rgb8()
    } else {
        image.to_rgb8()
    };
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 80)
        .encode_image(&small)
        .map_err(|error| error.to_string())?;
    Ok((Bytes::from(out), width, height))
}

pub(crate) fn be_u32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

pub(crate) fn be_u64(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

fn le_u32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

/// Walks the top-level boxes to `moov` and reads it.
async fn analyze_mp4(
    objects: &dyn ObjectStore,
    path: &Path,
    size: u64,
    max_moov_bytes: u64,
) -> Result<Option<Findings>> {
    let Some(moov) = find_moov(objects, path, size, usize::MAX).await? else {
        return Ok(None);
    };
    if moov.size > max_moov_bytes {
        return Ok(None);
    }
    let payload = read_range(
        objects,
        path,
        moov.offset + moov.header_len,
        moov.offset.saturating_add(moov.size).min(size),
    )
    .await?;
    Ok(Some(parse_moov(&payload)))
}

/// Top-level boxes looked at by [`mp4_moov_range`], at most (a header read each).
const MAX_TOP_LEVEL_BOXES: usize = 64;

/// Where an MP4's `moov` box (its index) lies, wherever it is: found by reading the
/// top-level boxes' headers, at most [`MAX_TOP_LEVEL_BOXES`] of them; `None` when it is
/// not found (or the boxes do not parse).
pub(crate) async fn mp4_moov_range(
    objects: &dyn ObjectStore,
    path: &Path,
    size: u64,
) -> Result<Option<std::ops::Range<u64>>> {
    Ok(find_moov(objects, path, size, MAX_TOP_LEVEL_BOXES)
        .await?
        .map(|moov| moov.offset..moov.offset.saturating_add(moov.size).min(size)))
}

/// A top-level box: where it starts, its size with its header, and its header's length.
struct TopLevelBox {
    offset: u64,
    size: u64,
    header_len: u64,
}

/// The `moov` box among the first `max_boxes` top-level boxes of an MP4 of `size` bytes,
/// read header by header; `None` when it is not among them or a header does not parse.
async fn find_moov(
    objects: &dyn ObjectStore,
    path: &Path,
    size: u64,
    max_boxes: usize,
) -> Result<Option<TopLevelBox>> {
    let mut offset = 0_u64;
    for _ in 0..max_boxes {
        // Saturating: a box's 64-bit size can claim anything.
        if offset.saturating_add(8) > size {
            break;
        }
        let header = read_range(objects, path, offset, (offset + 16).min(size)).await?;
        let Some(short_size) = be_u32(&header, 0) else {
            return Ok(None);
        };
        let (box_size, header_len) = match short_size {
            0 => (size - offset, 8),
            1 => match be_u64(&header, 8) {
                Some(large) => (large, 16),
                None => return Ok(None),
            },
            small => (u64::from(small), 8),
        };
        if box_size < header_len {
            return Ok(None);
        }
        if &header[4..8] == b"moov" {
            return Ok(Some(TopLevelBox {
                offset,
                size: box_size,
                header_len,
            }));
        }
        offset = offset.saturating_add(box_size);
    }
    Ok(None)
}

/// The children of a box's payload: `(type, payload)`.
pub(crate) fn boxes(mut payload: &[u8]) -> Vec<(&[u8], &[u8])> {
    let mut children = Vec::new();
    while payload.len() >= 8 {
        let Some(size) = be_u32(payload, 0) else {
            break;
        };
        let (size, header_len) = match size {
            0 => (payload.len(), 8),
            1 => match be_u64(payload, 8).and_then(|size| usize::try_from(size).ok()) {
                Some(size) => (size, 16),
                None => break,
            },
            small => (usize::try_from(small).unwrap_or(usize::MAX), 8),
        };
        if size < header_len || size > payload.len() {
            break;
        }
        children.push((&payload[4..8], &payload[header_len..size]));
        payload = &payload[size..];
    }
    children
}

fn parse_moov(moov: &[u8]) -> Findings {
    let mut findings = Findings::default();
    for (box_type, payload) in boxes(moov) {
        if box_type == b"mvhd" {
            let version = payload.first().copied().unwrap_or(0);
            let (timescale, duration) = if version == 1 {
                (be_u32(payload, 20), be_u64(payload, 24))
            } else {
                (be_u32(payload, 12), be_u32(payload, 16).map(u64::from))
            };
            if let (Some(timescale), Some(duration)) = (timescale, duration)
                && timescale > 0
            {
                findings.duration_ms = Some(duration.saturating_mul(1000) / u64::from(timescale));
            }
        }
        if box_type == b"trak" && findings.width.is_none() {
            for (child, tkhd) in boxes(payload) {
                if child == b"tkhd" && tkhd.len() >= 8 {
                    // The last 8 bytes: width and height, 16.16 fixed point.
                    let width = be_u32(tkhd, tkhd.len() - 8).map(|value| value >> 16);
                    let height = be_u32(tkhd, tkhd.len() - 4).map(|value| value >> 16);
                    if let (Some(width), Some(height)) = (width, height)
                        && width > 0
                        && height > 0
                    {
                        findings.width = Some(width);
                        findings.height = Some(height);
                    }
                }
            }
        }
    }
    findings
}

/// Duration from the last page's granule position: samples at 48 kHz less the pre-skip
/// for Opus, at the stream's rate for Vorbis; and a voice note's waveform.
async fn analyze_ogg(
    objects: &dyn ObjectStore,
    path: &Path,
    size: u64,
    kind: MediaKind,
    head: &[u8],
) -> Result<Option<Findings>> {
    let packet_start = head.get(26).map(|segments| 27 + usize::from(*segments));
    let Some(packet) = packet_start.and_then(|start| head.get(start..)) else {
        return Ok(None);
    };
    if packet.starts_with(b"\x80theora") {
        let serial = head.get(14..18).and_then(|bytes| bytes.try_into().ok());
        let tail = read_range(objects, path, size.saturating_sub(OGG_TAIL_BYTES), size).await?;
        return Ok(serial.and_then(|serial| {
            theora::theora_findings(packet, u32::from_le_bytes(serial), &tail)
        }));
    }
    let opus_head = waveform::OpusHead::parse(packet);
    let (rate, pre_skip) = if packet.starts_with(b"OpusHead") {
        let pre_skip = packet
            .get(10..12)
            .map(|bytes| u16::from_le_bytes([bytes[0], bytes[1]]));
        (48_000_u64, u64::from(pre_skip.unwrap_or(0)))
    } else if packet.starts_with(b"\x01vorbis") {
        match le_u32(packet, 12) {
            Some(rate) if rate > 0 => (u64::from(rate), 0),
            _ => return Ok(None),
        }
    } else {
        return Ok(None);
    };
    let tail = read_range(objects, path, size.saturating_sub(OGG_TAIL_BYTES), size).await?;
    let last_page = tail.windows(4).rposition(|window| window == b"OggS");
    let granule = last_page
        .and_then(|at| tail.get(at + 6..at + 14))
        .and_then(|bytes| bytes.try_into().ok())
        .map(i64::from_le_bytes)
        .and_then(|granule| u64::try_from(granule).ok());
    let Some(granule) = granule else {
        return Ok(None);
    };
    let samples = granule.saturating_sub(pre_skip);
    let waveform = match opus_head {
        Some(opus_head) if kind == MediaKind::Voice => {
            waveform::voice_waveform(
                objects,
                path,
                size,
                samples,
                opus_head,
                waveform::MAX_READ_BYTES,
            )
            .await?
        }
        _ => None,
    };
    Ok(Some(Findings {
        duration_ms: Some(samples.saturating_mul(1000) / rate),
        waveform,
        ..Findings::default()
    }))
}

fn flac_duration(head: &[u8]) -> Option<u64> {
    // "fLaC", a 4-byte block header, then STREAMINFO: the sample rate (20 bits) and the
    // total samples (36 bits) start at its 11th byte.
    let info = head.get(8..8 + 18)?;
    let rate =
        (u64::from(info[10]) << 12) | (u64::from(info[11]) << 4) | (u64::from(info[12]) >> 4);
    let samples = (u64::from(info[13] & 0x0F) << 32)
        | u64::from(u32::from_be_bytes([info[14], info[15], info[16], info[17]]));
    (rate > 0 && samples > 0).then(|| samples * 1000 / rate)
}

fn wav_duration(head: &[u8]) -> Option<u64> {
    let mut offset = 12;
    let mut byte_rate = None;
    while offset + 8 <= head.len() {
        let chunk_size = u64::from(le_u32(head, offset + 4)?);
        match &head[offset..offset + 4] {
            b"fmt " => byte_rate = le_u32(head, offset + 8 + 8).map(u64::from),
            b"data" => {
                return byte_rate
                    .filter(|rate| *rate > 0)
                    .map(|rate| chunk_size * 1000 / rate);
            }
            _ => {}
        }
        offset += 8 + usize::try_from(chunk_size).ok()? + usize::try_from(chunk_size % 2).ok()?;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_moov_box_gives_duration_and_dimensions() {
        let mut mvhd = vec![0_u8; 100];
        mvhd[12..16].copy_from_slice(&1000_u32.to_be_bytes());
        mvhd[16..20].copy_from_slice(&2500_u32.to_be_bytes());
        let mut tkhd = vec![0_u8; 84];
        let len = tkhd.len();
        tkhd[len - 8..len - 4].copy_from_slice(&(640_u32 << 16).to_be_bytes());
        tkhd[len - 4..].copy_from_slice(&(360_u32 << 16).to_be_bytes());
        let wrap = |kind: &[u8], payload: &[u8]| {
            let mut out = u32::try_from(payload.len() + 8)
                .expect("small")
                .to_be_bytes()
                .to_vec();
            out.extend(kind);
            out.extend(payload);
            out
        };
        let moov = [wrap(b"mvhd", &mvhd), wrap(b"trak", &wrap(b"tkhd", &tkhd))].concat();
        let findings = parse_moov(&moov);
        assert_eq!(findings.duration_ms, Some(2500));
        assert_eq!((findings.width, findings.height), (Some(640), Some(360)));
    }

    #[test]
    fn wav_and_flac_durations_come_from_their_headers() {
        let mut wav = b"RIFF\0\0\0\0WAVEfmt \x10\0\0\0".to_vec();
        wav.extend([1, 0, 1, 0]);
        wav.extend(8000_u32.to_le_bytes());
        wav.extend(16000_u32.to_le_bytes());
        wav.extend([2, 0, 16, 0]);
        wav.extend(b"data");
        wav.extend(32000_u32.to_le_bytes());
        assert_eq!(wav_duration(&wav), Some(2000));

        let mut flac = b"fLaC\0\0\0\x22".to_vec();
        let mut info = [0_u8; 18];
        // 44100 Hz = 0x0AC44 over 20 bits; 88200 samples.
        info[10] = 0x0A;
        info[11] = 0xC4;
        info[12] = 0x40;
        info[14..18].copy_from_slice(&88200_u32.to_be_bytes());
        flac.extend(info);
        assert_eq!(flac_duration(&flac), Some(2000));
    }

    /// Analyses `bytes` as the upload path does: stored, then read by ranges.
    async fn analyze_stored(bytes: &[u8], mime: &str, kind: MediaKind) -> Findings {
        let objects = object_store::memory::InMemory::new();
        let path = Path::from("fixture");
        objects
            .put(&path, bytes.to_vec().into())
            .await
            .expect("stored");
        let head = &bytes[..bytes.len().min(crate::sniff::SNIFF_BYTES)];
        let limits = AnalysisLimits {
            max_image_pixels: 1 << 24,
            preview_max_side: 320,
            preview_max_source_bytes: 1 << 20,
            max_moov_bytes: 64 << 20,
            live_webm_search_bytes: 64 << 20,
        };
        analyze(
            &objects,
            &path,
            bytes.len() as u64,
            mime,
            kind,
            head,
            limits,
        )
        .await
        .expect("analysed")
    }

    #[tokio::test]
    async fn an_mp4_box_claiming_any_size_ends_the_walk_without_a_panic() {
        // A 64-bit box size near the top of u64: the next box's offset saturates.
        let mut file = 1_u32.to_be_bytes().to_vec();
        file.extend_from_slice(b"ftyp");
        file.extend_from_slice(&(u64::MAX - 4).to_be_bytes());
        file.extend_from_slice(b"isom\0\0\0\0isomiso2mp41");
        let findings = analyze_stored(&file, "video/mp4", MediaKind::Video).await;
        assert_eq!(findings.duration_ms, None);
        let objects = object_store::memory::InMemory::new();
        let path = Path::from("fixture");
        objects
            .put(&path, file.clone().into())
            .await
            .expect("stored");
        let range = mp4_moov_range(&objects, &path, file.len() as u64)
            .await
            .expect("read");
        assert_eq!(range, None);
    }

    fn assert_near(found: Option<u64>, expected_ms: u64) {
        let found = found.expect("a duration");
        assert!(
            found.abs_diff(expected_ms) <= 60,
            "{found} ms, expected about {expected_ms} ms"
        );
    }

    #[tokio::test]
    async fn a_webm_video_has_its_duration_and_dimensions() {
        let findings = analyze_stored(
            include_bytes!("../fixtures/clip.webm"),
            "video/webm",
            MediaKind::Video,
        )
        .await;
        assert_near(findings.duration_ms, 2010);
        assert_eq!((findings.width, findings.height), (Some(160), Some(120)));
    }

    #[tokio::test]
    async fn a_matroska_file_with_info_after_its_clusters_is_read_through_its_seek_head() {
        // Built here: muxers write Info first, and none here can be told otherwise.
        fn element(id: &[u8], payload: &[u8]) -> Vec<u8> {
            let size = u64::try_from(payload.len()).expect("small");
            // 8-byte sizes: 0x01 then 7 bytes.
            let mut out = id.to_vec();
            out.push(0x01);
            out.extend(&size.to_be_bytes()[1..]);
            out.extend(payload);
            out
        }
        let duration = element(&[0x44, 0x89], &2000.0_f64.to_be_bytes());
        let info = element(&[0x15, 0x49, 0xA9, 0x66], &duration);
        let video = element(
            &[0xE0],
            &[element(&[0xB0], &[96]), element(&[0xBA], &[64])].concat(),
        );
        let entry = element(&[0xAE], &[element(&[0x83], &[1]), video].concat());
        let tracks = element(&[0x16, 0x54, 0xAE, 0x6B], &entry);
        let cluster = element(&[0x1F, 0x43, 0xB6, 0x75], &[0; 300]);
        let seek = |id: &[u8], position: u64| {
            element(
                &[0x4D, 0xBB],
                &[
                    element(&[0x53, 0xAB], id),
                    element(&[0x53, 0xAC], &position.to_be_bytes()),
                ]
                .concat(),
            )
        };
        // Each Seek is 2 + 8 + (2 + 8 + 4) + (2 + 8 + 8) bytes; the SeekHead's header 12.
        let seek_head_len = 12 + 2 * 42;
        let tracks_at = (seek_head_len + cluster.len()) as u64;
        let info_at = tracks_at + tracks.len() as u64;
        let seek_head = element(
            &[0x11, 0x4D, 0x9B, 0x74],
            &[
                seek(&[0x16, 0x54, 0xAE, 0x6B], tracks_at),
                seek(&[0x15, 0x49, 0xA9, 0x66], info_at),
            ]
            .concat(),
        );
        assert_eq!(seek_head.len(), seek_head_len);
        let ebml = element(
            &[0x1A, 0x45, 0xDF, 0xA3],
            &element(&[0x42, 0x82], b"matroska"),
        );
        let mut segment = vec![
            0x18, 0x53, 0x80, 0x67, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        ];
        segment.extend([seek_head, cluster, tracks, info].concat());
        let file = [ebml, segment].concat();

        let findings = analyze_stored(&file, "video/x-matroska", MediaKind::Video).await;
        assert_eq!(findings.duration_ms, Some(2000));
        assert_eq!((findings.width, findings.height), (Some(96), Some(64)));
    }

    #[tokio::test]
    async fn a_live_webm_without_a_duration_is_timed_by_its_last_cluster() {
        let live = include_bytes!("../fixtures/live.webm");
        let findings = analyze_stored(live, "video/webm", MediaKind::Video).await;
        assert_near(findings.duration_ms, 3000);
        assert_eq!(findings.width, None, "no video track");
    }

    #[tokio::test]
    async fn a_cbr_mp3_after_an_id3_tag_is_timed_by_its_bit_rate() {
        let findings = analyze_stored(
            include_bytes!("../fixtures/cbr.mp3"),
            "audio/mpeg",
            MediaKind::Audio,
        )
        .await;
        assert_near(findings.duration_ms, 3030);

        // An ID3v1 tag at the end is not audio: the same duration.
        let mut with_id3v1 = include_bytes!("../fixtures/cbr.mp3").to_vec();
        with_id3v1.extend(b"TAG");
        with_id3v1.extend([b' '; 125]);
        let tagged = analyze_stored(&with_id3v1, "audio/mpeg", MediaKind::Audio).await;
        assert_eq!(tagged.duration_ms, findings.duration_ms);
    }

    #[tokio::test]
    async fn a_vbr_mp3_is_timed_by_its_xing_frame_count() {
        let findings = analyze_stored(
            include_bytes!("../fixtures/vbr.mp3"),
            "audio/mpeg",
            MediaKind::Audio,
        )
        .await;
        assert_near(findings.duration_ms, 4060);
    }

    #[tokio::test]
    async fn a_voice_note_gets_a_waveform_of_its_decoded_audio() {
        // A tone whose loudness rises linearly over 4 s.
        let findings = analyze_stored(
            include_bytes!("../fixtures/rising.ogg"),
            "audio/ogg",
            MediaKind::Voice,
        )
        .await;
        assert_near(findings.duration_ms, 4000);
        let waveform = findings.waveform.expect("a waveform");
        assert_eq!(waveform.len(), 100);
        assert!(waveform[0] <= 2, "{waveform:?}");
        assert_eq!(waveform[99], 31, "{waveform:?}");
        let quarter = |range: std::ops::Range<usize>| {
            waveform[range]
                .iter()
                .map(|value| u32::from(*value))
                .sum::<u32>()
        };
        assert!(quarter(0..25) < quarter(25..50), "{waveform:?}");
        assert!(quarter(25..50) < quarter(50..75), "{waveform:?}");
    }

    /// A voice note of 12 minutes made by ffmpeg, silent but for a loud tone over its
    /// last minute (60 ms Opus frames at 6 kbit/s: some 230 kB).
    fn long_voice_note() -> Vec<u8> {
        let output = std::process::Command::new("ffmpeg")
            .args(["-nostdin", "-loglevel", "error", "-f", "lavfi", "-i"])
            .arg("aevalsrc=0.8*sin(440*2*PI*t)*gte(t\\,660):d=720:s=8000")
            .args(["-ac", "1", "-c:a", "libopus", "-b:a", "6k"])
            .args(["-application", "voip", "-compression_level", "0"])
            .args(["-frame_duration", "60", "-f", "ogg", "pipe:1"])
            .output()
            .expect("ffmpeg ran");
        assert!(output.status.success(), "{output:?}");
        output.stdout
    }

    #[tokio::test]
    async fn a_voice_note_longer_than_ten_minutes_is_drawn_over_its_whole_length() {
        let voice = long_voice_note();
        let findings = analyze_stored(&voice, "audio/ogg", MediaKind::Voice).await;
        assert_near(findings.duration_ms, 720_000);
        let waveform = findings.waveform.expect("a waveform");
        // Slices of 7.2 s: the tone from 660 s fills the last eight and a bit.
        assert!(
            waveform[..91].iter().all(|value| *value <= 1),
            "{waveform:?}"
        );
        assert!(
            waveform[92..].iter().all(|value| *value >= 20),
            "{waveform:?}"
        );
    }

    #[tokio::test]
    async fn a_waveform_is_drawn_on_past_the_bytes_read_in_order() {
        let voice = include_bytes!("../fixtures/rising.ogg");
        let objects = object_store::memory::InMemory::new();
        let path = Path::from("voice");
        objects
            .put(&path, voice.to_vec().into())
            .await
            .expect("stored");
        let head = waveform::OpusHead {
            channels: 1,
            pre_skip: 312,
        };
        let size = voice.len() as u64;
        let samples = 4 * 48_000;
        let whole = waveform::voice_waveform(&objects, &path, size, samples, head, size)
            .await
            .expect("read")
            .expect("a waveform");
        // Half the bytes read in order: the second half of the bars is near (4 s), so
        // the pages are read on from where the reading in order stopped.
        let half = waveform::voice_waveform(&objects, &path, size, samples, head, size / 2)
            .await
            .expect("read")
            .expect("a waveform");
        assert!(whole[90..].iter().all(|value| *value > 20), "{whole:?}");
        assert_eq!(half, whole);
    }

    #[tokio::test]
    async fn a_stereo_voice_note_is_drawn_from_its_louder_channel() {
        // Left silent; right a tone for the first half second of one.
        let findings = analyze_stored(
            include_bytes!("../fixtures/stereo-right.ogg"),
            "audio/ogg",
            MediaKind::Voice,
        )
        .await;
        let waveform = findings.waveform.expect("a waveform");
        assert!(
            waveform[5..45].iter().all(|value| *value >= 20),
            "{waveform:?}"
        );
        assert!(
            waveform[60..].iter().all(|value| *value <= 1),
            "{waveform:?}"
        );
    }

    #[tokio::test]
    async fn damaged_containers_give_no_findings_rather_than_an_error() {
        let webm = include_bytes!("../fixtures/clip.webm");
        let mp3 = include_bytes!("../fixtures/cbr.mp3");
        let voice = include_bytes!("../fixtures/rising.ogg");
        // Junk where the fourth page should start: the stream is not Ogg from there on.
        let fourth_page = voice
            .windows(4)
            .enumerate()
            .filter(|(_, bytes)| bytes == b"OggS")
            .nth(3)
            .map(|(at, _)| at)
            .expect("pages");
        let cut_voice = [
            &voice[..fourth_page],
            &b"not ogg at all, but some other bytes"[..],
            &voice[fourth_page..],
        ]
        .concat();
        let truncated = [
            (&webm[..40], "video/webm", MediaKind::Video),
            (&mp3[..200], "audio/mpeg", MediaKind::Audio),
            (&cut_voice[..], "audio/ogg", MediaKind::Voice),
        ];
        for (bytes, mime, kind) in truncated {
            let findings = analyze_stored(bytes, mime, kind).await;
            assert_eq!(findings.waveform, None, "{mime}");
            assert_eq!(findings.width, None, "{mime}");
        }
    }
}
