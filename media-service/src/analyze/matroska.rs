//! WebM and Matroska: the duration (Segment › Info › Duration × TimecodeScale) and the
//! first video track's PixelWidth × PixelHeight (Segment › Tracks), read by ranges. The
//! Segment's children are walked from its start, skipping each by its size, until Info
//! and Tracks are found or the first Cluster is reached; Info or Tracks written after the
//! media (rare) are found through the SeekHead.
//!
//! A file without a Duration (a live WebM, as a browser's `MediaRecorder` or a pipe writes
//! it) is timed by its last Cluster: its Timecode plus its last block's, read from the
//! last [`MAX_TAIL_BYTES`] of the file. Not done: a file whose last Cluster starts before
//! that tail gets no duration (walking every Cluster would read the whole file), and the
//! last block's own length is not added (a frame, some 20 to 40 ms, short).

use super::Findings;
use super::window::Window;
use crate::error::Result;

const EBML_HEADER: u32 = 0x1A45_DFA3;
const SEGMENT: u32 = 0x1853_8067;
const SEEK_HEAD: u32 = 0x114D_9B74;
const SEEK: u32 = 0x4DBB;
const SEEK_ID: u32 = 0x53AB;
const SEEK_POSITION: u32 = 0x53AC;
const INFO: u32 = 0x1549_A966;
const TIMECODE_SCALE: u32 = 0x2A_D7B1;
const DURATION: u32 = 0x4489;
const TRACKS: u32 = 0x1654_AE6B;
const TRACK_ENTRY: u32 = 0xAE;
const TRACK_TYPE: u32 = 0x83;
const TRACK_TYPE_VIDEO: u64 = 1;
const VIDEO: u32 = 0xE0;
const PIXEL_WIDTH: u32 = 0xB0;
const PIXEL_HEIGHT: u32 = 0xBA;
const CLUSTER: u32 = 0x1F43_B675;
const CLUSTER_ID_BYTES: [u8; 4] = [0x1F, 0x43, 0xB6, 0x75];
const CLUSTER_TIMECODE: u32 = 0xE7;
const SIMPLE_BLOCK: u32 = 0xA3;
const BLOCK_GROUP: u32 = 0xA0;
const BLOCK: u32 = 0xA1;

/// Largest Info or Tracks element read (both are a few hundred bytes in practice).
const MAX_HEADER_ELEMENT_BYTES: u64 = 1024 * 1024;
/// Top-level elements of a Segment looked at before giving up.
const MAX_SEGMENT_CHILDREN: usize = 256;
/// The end of a file searched for its last Cluster when Info has no Duration.
const MAX_TAIL_BYTES: u64 = 4 * 1024 * 1024;
/// The nanoseconds of a tick when the file does not say (Matroska's default).
const DEFAULT_TIMECODE_SCALE: u64 = 1_000_000;

/// An element's header: its id, its payload's size (`None`: unknown, "until the parent
/// ends"), and the header's length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Header {
    id: u32,
    size: Option<u64>,
    header_len: u64,
}

/// The id at the start of `bytes` (its length marker kept, as the specification writes
/// ids) and its length.
fn element_id(bytes: &[u8]) -> Option<(u32, usize)> {
    let first = *bytes.first()?;
    let len = usize::try_from(first.leading_zeros()).ok()? + 1;
    if len > 4 {
        return None;
    }
    let id = bytes
        .get(..len)?
        .iter()
        .fold(0_u32, |id, byte| (id << 8) | u32::from(*byte));
    Some((id, len))
}

/// The size at the start of `bytes` (`None` inside: all value bits set, unknown) and its
/// length.
fn element_size(bytes: &[u8]) -> Option<(Option<u64>, usize)> {
    let first = *bytes.first()?;
    let len = usize::try_from(first.leading_zeros()).ok()? + 1;
    if len > 8 {
        return None;
    }
    let marker_cleared = u64::from(first) & (0xFF_u64 >> len);
    let value = bytes
        .get(1..len)?
        .iter()
        .fold(marker_cleared, |value, byte| {
            (value << 8) | u64::from(*byte)
        });
    let all_ones = (1_u64 << (7 * len)) - 1;
    Some((if value == all_ones { None } else { Some(value) }, len))
}

fn header(bytes: &[u8]) -> Option<Header> {
    let (id, id_len) = element_id(bytes)?;
    let (size, size_len) = element_size(bytes.get(id_len..)?)?;
    Some(Header {
        id,
        size,
        header_len: (id_len + size_len) as u64,
    })
}

/// The children of an element's payload held in memory: `(id, payload)`. Stops at the
/// first malformed or unknown-size child.
fn children(mut payload: &[u8]) -> Vec<(u32, &[u8])> {
    let mut found = Vec::new();
    while let Some(Header {
        id,
        size: Some(size),
        header_len,
    }) = header(payload)
    {
        let start = usize::try_from(header_len).unwrap_or(usize::MAX);
        let Some(end) = usize::try_from(size)
            .ok()
            .and_then(|size| start.checked_add(size))
            .filter(|end| *end <= payload.len())
        else {
            break;
        };
        found.push((id, &payload[start..end]));
        payload = &payload[end..];
    }
    found
}

fn unsigned(payload: &[u8]) -> Option<u64> {
    (!payload.is_empty() && payload.len() <= 8).then(|| {
        payload
            .iter()
            .fold(0, |value, byte| (value << 8) | u64::from(*byte))
    })
}

fn float(payload: &[u8]) -> Option<f64> {
    match payload.len() {
        4 => Some(f64::from(f32::from_be_bytes(payload.try_into().ok()?))),
        8 => Some(f64::from_be_bytes(payload.try_into().ok()?)),
        _ => None,
    }
}

/// The nanoseconds of a tick from an Info element's payload (`None`: a scale of 0,
/// which is not Matroska).
fn info_timecode_scale(info: &[u8]) -> Option<u64> {
    match children(info)
        .into_iter()
        .find(|(id, _)| *id == TIMECODE_SCALE)
    {
        Some((_, payload)) => unsigned(payload).filter(|scale| *scale > 0),
        None => Some(DEFAULT_TIMECODE_SCALE),
    }
}

/// Milliseconds of `ticks` at `scale` nanoseconds each; `None` for a NaN, negative or
/// absurd (over a year) duration, a damaged header rather than a fact.
fn ticks_to_ms(ticks: f64, scale: u64) -> Option<u64> {
    let milliseconds = ticks * scale as f64 / 1_000_000.0;
    (milliseconds.is_finite() && (0.0..3.2e10).contains(&milliseconds))
        .then(|| milliseconds.round() as u64)
}

/// Milliseconds from an Info element's payload.
fn info_duration_ms(info: &[u8]) -> Option<u64> {
    let scale = info_timecode_scale(info)?;
    let ticks = children(info)
        .into_iter()
        .find(|(id, _)| *id == DURATION)
        .and_then(|(_, payload)| float(payload))?;
    ticks_to_ms(ticks, scale)
}

/// The relative timecode of a (Simple)Block's payload: after the track number (a
/// variable-length integer), a signed 16-bit count of ticks.
fn block_timecode(block: &[u8]) -> Option<i64> {
    let (_, track_len) = element_size(block)?;
    let bytes = block.get(track_len..track_len + 2)?;
    Some(i64::from(i16::from_be_bytes([bytes[0], bytes[1]])))
}

/// The latest block time (ticks) of the last Cluster in `tail`: the last occurrence of the
/// Cluster id whose first child is its Timecode, then its blocks.
fn last_cluster_end_ticks(tail: &[u8]) -> Option<u64> {
    let candidates = tail
        .windows(CLUSTER_ID_BYTES.len())
        .enumerate()
        .filter(|(_, bytes)| *bytes == CLUSTER_ID_BYTES)
        .map(|(at, _)| at);
    let clusters: Vec<usize> = candidates.collect();
    clusters.into_iter().rev().find_map(|at| {
        let cluster = header(&tail[at..])?;
        let start = at + usize::try_from(cluster.header_len).ok()?;
        let end = cluster
            .size
            .and_then(|size| usize::try_from(size).ok())
            .map_or(tail.len(), |size| {
                start.saturating_add(size).min(tail.len())
            });
        let body = tail.get(start..end)?;
        // The first child decides, before any walk: the children are walked once, for
        // the one Cluster taken, whatever the tail holds.
        let first = header(body)?;
        if first.id != CLUSTER_TIMECODE {
            return None;
        }
        let first_start = usize::try_from(first.header_len).ok()?;
        let first_end = first_start.checked_add(usize::try_from(first.size?).ok()?)?;
        let base = i64::try_from(unsigned(body.get(first_start..first_end)?)?).ok()?;
        let latest = children(body)
            .iter()
            .filter_map(|(id, payload)| match *id {
                SIMPLE_BLOCK => block_timecode(payload),
                BLOCK_GROUP => children(payload)
                    .into_iter()
                    .find(|(id, _)| *id == BLOCK)
                    .and_then(|(_, block)| block_timecode(block)),
                _ => None,
            })
            .map(|relative| base + relative)
            .max()
            .unwrap_or(base);
        Some(u64::try_from(latest).unwrap_or(0))
    })
}

/// The first video track's pixel size from a Tracks element's payload.
fn tracks_video_size(tracks: &[u8]) -> Option<(u32, u32)> {
    children(tracks)
        .into_iter()
        .filter(|(id, _)| *id == TRACK_ENTRY)
        .find_map(|(_, entry)| {
            let fields = children(entry);
            let is_video = fields.iter().any(|(id, payload)| {
                *id == TRACK_TYPE && unsigned(payload) == Some(TRACK_TYPE_VIDEO)
            });
            let video = fields.iter().find(|(id, _)| *id == VIDEO)?.1;
            if !is_video {
                return None;
            }
            let video_fields = children(video);
            let dimension = |wanted: u32| {
                video_fields
                    .iter()
                    .find(|(id, _)| *id == wanted)
                    .and_then(|(_, payload)| unsigned(payload))
                    .and_then(|value| u32::try_from(value).ok())
                    .filter(|value| *value > 0)
            };
            Some((dimension(PIXEL_WIDTH)?, dimension(PIXEL_HEIGHT)?))
        })
}

/// Where the SeekHead says Info and Tracks are, relative to the Segment's payload.
fn seek_positions(seek_head: &[u8]) -> Vec<(u32, u64)> {
    children(seek_head)
        .into_iter()
        .filter(|(id, _)| *id == SEEK)
        .filter_map(|(_, seek)| {
            let fields = children(seek);
            let target = fields
                .iter()
                .find(|(id, _)| *id == SEEK_ID)
                .and_then(|(_, payload)| element_id(payload))
                .map(|(id, _)| id)?;
            let position = fields
                .iter()
                .find(|(id, _)| *id == SEEK_POSITION)
                .and_then(|(_, payload)| unsigned(payload))?;
            Some((target, position))
        })
        .collect()
}

/// What is known so far.
#[derive(Default)]
struct Found {
    duration_ms: Option<u64>,
    /// Nanoseconds a tick, from Info.
    timecode_scale: Option<u64>,
    video_size: Option<(u32, u32)>,
    info_seen: bool,
    tracks_seen: bool,
}

impl Found {
    fn take(&mut self, id: u32, payload: &[u8]) {
        match id {
            INFO => {
                self.info_seen = true;
                self.duration_ms = info_duration_ms(payload);
                self.timecode_scale = info_timecode_scale(payload);
            }
            TRACKS => {
                self.tracks_seen = true;
                self.video_size = tracks_video_size(payload);
            }
            _ => {}
        }
    }

    fn complete(&self) -> bool {
        self.info_seen && self.tracks_seen
    }
}

async fn header_at(window: &mut Window<'_>, offset: u64) -> Result<Option<Header>> {
    Ok(header(&window.read(offset, 12).await?))
}

/// Reads the payload of an Info or Tracks element whose header is at `offset`.
async fn wanted_payload_at(
    window: &mut Window<'_>,
    offset: u64,
    element: Header,
) -> Result<Option<bytes::Bytes>> {
    let Some(size) = element
        .size
        .filter(|size| *size <= MAX_HEADER_ELEMENT_BYTES)
    else {
        return Ok(None);
    };
    let payload = window.read(offset + element.header_len, size).await?;
    Ok((payload.len() as u64 == size).then_some(payload))
}

/// Analyses a WebM or Matroska file of `window.size` bytes.
pub(super) async fn analyze_matroska(window: &mut Window<'_>) -> Result<Option<Findings>> {
    let Some(ebml) = header_at(window, 0).await? else {
        return Ok(None);
    };
    let Some(ebml_size) = ebml.size.filter(|_| ebml.id == EBML_HEADER) else {
        return Ok(None);
    };
    let segment_offset = ebml.header_len.saturating_add(ebml_size);
    let Some(segment) = header_at(window, segment_offset).await? else {
        return Ok(None);
    };
    if segment.id != SEGMENT {
        return Ok(None);
    }
    let segment_start = segment_offset + segment.header_len;
    let segment_end = segment.size.map_or(window.size, |size| {
        segment_start.saturating_add(size).min(window.size)
    });

    let mut found = Found::default();
    let mut seeks = Vec::new();
    let mut offset = segment_start;
    for _ in 0..MAX_SEGMENT_CHILDREN {
        if found.complete() || offset >= segment_end {
            break;
        }
        let Some(child) = header_at(window, offset).await? else {
            break;
        };
        match child.id {
            INFO | TRACKS => {
                if let Some(payload) = wanted_payload_at(window, offset, child).await? {
                    found.take(child.id, &payload);
                }
            }
            SEEK_HEAD => {
                if let Some(payload) = wanted_payload_at(window, offset, child).await? {
                    seeks = seek_positions(&payload);
                }
            }
            CLUSTER => break,
            _ => {}
        }
        let Some(size) = child.size else {
            break;
        };
        offset = offset.saturating_add(child.header_len).saturating_add(size);
    }

    for (target, position) in seeks {
        let missing = match target {
            INFO => !found.info_seen,
            TRACKS => !found.tracks_seen,
            _ => false,
        };
        if !missing {
            continue;
        }
        let at = segment_start.saturating_add(position);
        if let Some(child) = header_at(window, at).await?
            && child.id == target
            && let Some(payload) = wanted_payload_at(window, at, child).await?
        {
            found.take(target, &payload);
        }
    }

    if found.duration_ms.is_none()
        && let Some(scale) = found.timecode_scale
    {
        let tail_start = segment_end
            .saturating_sub(MAX_TAIL_BYTES)
            .max(segment_start);
        let tail = window
            .read(tail_start, segment_end.saturating_sub(tail_start))
            .await?;
        found.duration_ms =
            last_cluster_end_ticks(&tail).and_then(|ticks| ticks_to_ms(ticks as f64, scale));
    }

    Ok(Some(Findings {
        duration_ms: found.duration_ms,
        width: found.video_size.map(|(width, _)| width),
        height: found.video_size.map(|(_, height)| height),
        ..Findings::default()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_keep_their_marker_and_sizes_lose_it() {
        assert_eq!(
            element_id(&[0x1A, 0x45, 0xDF, 0xA3]),
            Some((EBML_HEADER, 4))
        );
        assert_eq!(element_id(&[0xAE]), Some((TRACK_ENTRY, 1)));
        assert_eq!(element_id(&[0x00, 0x01]), None);
        assert_eq!(element_size(&[0x81]), Some((Some(1), 1)));
        assert_eq!(element_size(&[0x40, 0x02]), Some((Some(2), 2)));
        assert_eq!(element_size(&[0xFF]), Some((None, 1)));
        assert_eq!(
            element_size(&[0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]),
            Some((None, 8))
        );
        assert_eq!(element_size(&[0x00]), None);
        assert_eq!(element_size(&[0x40]), None);
    }

    #[test]
    fn a_live_cluster_of_unknown_size_is_timed_by_its_latest_block() {
        // Cluster (unknown size) { Timecode 5000, SimpleBlock at +40, BlockGroup { Block
        // at +60 }, SimpleBlock whose bytes happen to hold a Cluster id }.
        let mut tail = vec![0xAB; 7];
        tail.extend([
            0x1F, 0x43, 0xB6, 0x75, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        ]);
        tail.extend([0xE7, 0x82, 0x13, 0x88]);
        tail.extend([0xA3, 0x85, 0x81, 0x00, 0x28, 0x80, 0x00]);
        tail.extend([0xA0, 0x87, 0xA1, 0x85, 0x81, 0x00, 0x3C, 0x80, 0x00]);
        tail.extend([0xA3, 0x88, 0x81, 0x00, 0x14, 0x80, 0x1F, 0x43, 0xB6, 0x75]);
        assert_eq!(last_cluster_end_ticks(&tail), Some(5060));
        // No Timecode first: not a Cluster.
        assert_eq!(
            last_cluster_end_ticks(&[0x1F, 0x43, 0xB6, 0x75, 0x83, 0xA3, 0x81, 0x00]),
            None
        );
        assert_eq!(block_timecode(&[0x81, 0xFF, 0xF6, 0x80]), Some(-10));
    }

    #[test]
    fn a_damaged_duration_is_no_duration() {
        let info_with = |duration: f64| {
            let mut info = vec![0x44, 0x89, 0x88];
            info.extend(duration.to_be_bytes());
            info
        };
        assert_eq!(info_duration_ms(&info_with(2500.0)), Some(2500));
        assert_eq!(info_duration_ms(&info_with(f64::NAN)), None);
        assert_eq!(info_duration_ms(&info_with(-1.0)), None);
        assert_eq!(info_duration_ms(&info_with(1e300)), None);
        // A scale of 0 is not Matroska.
        let mut zero_scale = vec![0x2A, 0xD7, 0xB1, 0x81, 0x00];
        zero_scale.extend(info_with(2500.0));
        assert_eq!(info_duration_ms(&zero_scale), None);
    }
}
