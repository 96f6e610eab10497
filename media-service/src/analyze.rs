//! What a stored file is beyond its type: image dimensions and a preview, the duration
//! and dimensions of audio and video from their containers. Reads the object by ranges,
//! so a 2 GiB video is never read whole.
//!
//! Done: JPEG/PNG/GIF/WebP (dimensions from the header, decompression bombs refused
//! before decoding, a downscaled JPEG preview with the EXIF orientation applied and no
//! metadata), MP4/M4A/QuickTime (`mvhd` duration, `tkhd` dimensions), Ogg Opus and
//! Vorbis (duration from the last granule position), FLAC (STREAMINFO), WAV (`fmt ` and
//! `data`). Not done: WebM/Matroska and MP3 durations, video frame previews, voice
//! waveforms (they need an Opus decoder; none is in this build).

use std::io::Cursor;

use bytes::Bytes;
use image::{ImageDecoder as _, ImageReader, Limits};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt as _};
use talkapp_store::MediaKind;

use crate::error::{MediaError, Result};

/// What analysis found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Findings {
    pub(crate) width: Option<u32>,
    pub(crate) height: Option<u32>,
    pub(crate) duration_ms: Option<u64>,
    /// A JPEG preview.
    pub(crate) preview: Option<Bytes>,
}

/// Limits of the analysis.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AnalysisLimits {
    pub(crate) max_image_pixels: u64,
    pub(crate) preview_max_side: u32,
    pub(crate) preview_max_source_bytes: u64,
}

/// Largest `moov` box read (the index of a long video is a few MiB).
const MAX_MOOV_BYTES: u64 = 64 * 1024 * 1024;
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
            Ok(analyze_mp4(objects, path, size).await?.unwrap_or_default())
        }
        (_, "audio/ogg" | "video/ogg") => Ok(analyze_ogg(objects, path, size, head)
            .await?
            .unwrap_or_default()),
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
fn preview_of(bytes: &[u8], max_side: u32, max_pixels: u64) -> Result<(Bytes, u32, u32), String> {
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

fn be_u32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn be_u64(bytes: &[u8], at: usize) -> Option<u64> {
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
) -> Result<Option<Findings>> {
    let mut offset = 0_u64;
    while offset + 8 <= size {
        let header = read_range(objects, path, offset, (offset + 16).min(size)).await?;
        let Some(short_size) = be_u32(&header, 0) else {
            return Ok(None);
        };
        let box_type = &header[4..8];
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
        if box_type == b"moov" {
            if box_size > MAX_MOOV_BYTES {
                return Ok(None);
            }
            let moov = read_range(
                objects,
                path,
                offset + header_len,
                (offset + box_size).min(size),
            )
            .await?;
            return Ok(Some(parse_moov(&moov)));
        }
        offset = offset.saturating_add(box_size);
    }
    Ok(None)
}

/// The children of a box's payload: `(type, payload)`.
fn boxes(mut payload: &[u8]) -> Vec<(&[u8], &[u8])> {
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
/// for Opus, at the stream's rate for Vorbis.
async fn analyze_ogg(
    objects: &dyn ObjectStore,
    path: &Path,
    size: u64,
    head: &[u8],
) -> Result<Option<Findings>> {
    let packet_start = head.get(26).map(|segments| 27 + usize::from(*segments));
    let Some(packet) = packet_start.and_then(|start| head.get(start..)) else {
        return Ok(None);
    };
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
    Ok(granule.map(|granule| Findings {
        duration_ms: Some(granule.saturating_sub(pre_skip).saturating_mul(1000) / rate),
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
}
