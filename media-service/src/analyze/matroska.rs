//! WebM and Matroska: the duration (Segment › Info › Duration × TimecodeScale) and the
//! first video track's PixelWidth × PixelHeight (Segment › Tracks), read by ranges. The
//! Segment's children are walked from its start, skipping each by its size, until Info
//! and Tracks are found or the first Cluster is reached; Info or Tracks written after the
//! media (rare) are found through the SeekHead.
//!
//! A file without a Duration (a live WebM, as a browser's `MediaRecorder` or a pipe writes
//! it) is timed by its last Cluster: its Timecode plus its last block's. The Cluster is
//! looked for in the last [`MAX_TAIL_BYTES`] of the file; when it starts before them (a
//! long Cluster of a high-rate video), it is looked for backwards in ranges of as much,
//! at most `media.live_webm_search_bytes` (64 MiB by default) before the end, and its
//! children's headers are walked from its start (ranged reads of [`WALK_CHUNK_BYTES`],
//! the walks bounded by as many bytes too). A last Cluster that starts before that, when it
//! has a size, is found by hopping the Clusters from the first by their sizes, and its
//! last blocks in its last [`MAX_TAIL_BYTES`] as the chain of children that ends exactly
//! at its end ([`hopped_last_cluster_ticks`]); when it, or one before it, is of unknown
//! size (as a browser's `MediaRecorder` writes them), it is hopped over by its children's
//! sizes, the hop the keyframe search uses ([`open_cluster_end`]), and the last one's
//! blocks' times are read on the way. Each way, a block counts to its end: its time plus
//! its duration ([`BlockDurations`]: a BlockGroup's BlockDuration, else its track's
//! DefaultDuration, else none), so the duration is the last frame's end, as a muxer
//! writes it in a file's header. Not done: a last Cluster behind more than
//! [`MAX_CLUSTER_HOPS`] Clusters or [`MAX_HOPPED_CHILDREN`] children of Clusters of
//! unknown size gets no duration.
//!
//! For the preview of a large file copied in part (`crate::frames`), [`keyframe_cluster`]
//! finds, in the Cues (the index, found through the SeekHead), the Cluster of the first
//! video track's keyframe at or before the frame's time; in a file without Cues (a live
//! recording), [`walked_keyframe_cluster`] finds it by walking the Clusters from the
//! first, over a bounded span (a SimpleBlock's flag, or a BlockGroup without a
//! ReferenceBlock, telling a keyframe), and beyond that span by hopping the Clusters by
//! their sizes (one of unknown size by its children's) to the one at the frame's time
//! and walking from there.

use std::ops::Range;

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
const TRACK_NUMBER: u32 = 0xD7;
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
const REFERENCE_BLOCK: u32 = 0xFB;
const BLOCK_DURATION: u32 = 0x9B;
const TRACK_DEFAULT_DURATION: u32 = 0x23_E383;
const CRC_32: u32 = 0xBF;
const CUES: u32 = 0x1C53_BB6B;
const CUE_POINT: u32 = 0xBB;
const CUE_TIME: u32 = 0xB3;
const CUE_TRACK_POSITIONS: u32 = 0xB7;
const CUE_TRACK: u32 = 0xF7;
const CUE_CLUSTER_POSITION: u32 = 0xF1;

/// Largest Info or Tracks element read (both are a few hundred bytes in practice).
const MAX_HEADER_ELEMENT_BYTES: u64 = 1024 * 1024;
/// Top-level elements of a Segment looked at before giving up.
const MAX_SEGMENT_CHILDREN: usize = 256;
/// The end of a file searched for its last Cluster when Info has no Duration.
const MAX_TAIL_BYTES: u64 = 4 * 1024 * 1024;
/// Bytes fetched at once while a Cluster's children are walked.
const WALK_CHUNK_BYTES: u64 = 1024 * 1024;
/// Bytes read at a child's offset: its header and the start of a block (its track
/// number and timecode), also inside a BlockGroup.
const CHILD_HEAD_BYTES: u64 = 32;
/// Bytes read past a search range: a Cluster whose id starts in it has its header and its
/// Timecode there.
const CLUSTER_HEAD_BYTES: u64 = 64;
/// Children of a Cluster walked, at most.
const MAX_CLUSTER_CHILDREN: usize = 1_000_000;
/// Possible Cluster starts walked from, at most, before giving up.
const MAX_CLUSTER_CANDIDATES: usize = 4;
/// Largest Cues element read (a point a second of a two-hour video is some 150 KiB).
const MAX_CUES_BYTES: u64 = 8 * 1024 * 1024;
/// Cue points looked at, at most.
const MAX_CUE_POINTS: usize = 200_000;
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
fn child_elements(mut payload: &[u8]) -> impl Iterator<Item = (u32, &[u8])> {
    std::iter::from_fn(move || {
        let Header {
            id,
            size: Some(size),
            header_len,
        } = header(payload)?
        else {
            return None;
        };
        let start = usize::try_from(header_len).ok()?;
        let end = usize::try_from(size)
            .ok()
            .and_then(|size| start.checked_add(size))
            .filter(|end| *end <= payload.len())?;
        let child = (id, &payload[start..end]);
        payload = &payload[end..];
        Some(child)
    })
}

fn children(payload: &[u8]) -> Vec<(u32, &[u8])> {
    child_elements(payload).collect()
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

/// The Cluster whose header is at the start of `bytes`, when its first child is its
/// Timecode (after a CRC-32, as Matroska muxers write by default): its header and that
/// Timecode (ticks).
fn cluster_start(bytes: &[u8]) -> Option<(Header, i64)> {
    let cluster = header(bytes).filter(|cluster| cluster.id == CLUSTER)?;
    let mut body = bytes.get(usize::try_from(cluster.header_len).ok()?..)?;
    let mut first = header(body)?;
    if first.id == CRC_32 && first.size == Some(4) {
        body = body.get(usize::try_from(first.header_len).ok()? + 4..)?;
        first = header(body)?;
    }
    if first.id != CLUSTER_TIMECODE {
        return None;
    }
    let first_start = usize::try_from(first.header_len).ok()?;
    let first_end = first_start.checked_add(usize::try_from(first.size?).ok()?)?;
    let base = i64::try_from(unsigned(body.get(first_start..first_end)?)?).ok()?;
    Some((cluster, base))
}

/// Where the Cluster id occurs in `bytes` with a Cluster's header and Timecode after it,
/// last first.
fn cluster_candidates(bytes: &[u8]) -> impl Iterator<Item = (usize, Header, i64)> {
    bytes
        .windows(CLUSTER_ID_BYTES.len())
        .enumerate()
        .rev()
        .filter(|(_, window)| *window == CLUSTER_ID_BYTES)
        .filter_map(|(at, _)| {
            let (cluster, base) = cluster_start(&bytes[at..])?;
            Some((at, cluster, base))
        })
}

/// The relative time of a SimpleBlock's or a BlockGroup's block, from the start of its
/// payload.
fn child_block_timecode(id: u32, payload: &[u8]) -> Option<i64> {
    match id {
        SIMPLE_BLOCK => block_timecode(payload),
        BLOCK_GROUP => {
            let block = header(payload).filter(|block| block.id == BLOCK)?;
            block_timecode(payload.get(usize::try_from(block.header_len).ok()?..)?)
        }
        _ => None,
    }
}

/// The track of a SimpleBlock's or a BlockGroup's block, from the start of its payload.
fn child_block_track(id: u32, payload: &[u8]) -> Option<u64> {
    let block = match id {
        SIMPLE_BLOCK => payload,
        BLOCK_GROUP => {
            let block = header(payload).filter(|block| block.id == BLOCK)?;
            payload.get(usize::try_from(block.header_len).ok()?..)?
        }
        _ => return None,
    };
    element_size(block)?.0
}

/// A block's duration past which it is not believed (a frame, a sound packet or a
/// subtitle lasts less than a minute): a header that lies rather than a fact.
const MAX_BLOCK_DURATION_NS: u64 = 60_000_000_000;

/// How long blocks last, in ticks: a BlockGroup's BlockDuration, else the block's track's
/// DefaultDuration (Tracks › TrackEntry, nanoseconds), else not known (0 added).
#[derive(Debug, Default)]
struct BlockDurations {
    /// Nanoseconds a tick.
    scale: u64,
    /// Each track's DefaultDuration, in ticks.
    defaults: Vec<(u64, i64)>,
}

impl BlockDurations {
    /// From the tracks' DefaultDurations (`(track, nanoseconds)`) at `scale` nanoseconds a
    /// tick; one over [`MAX_BLOCK_DURATION_NS`] is not known.
    fn new(defaults: &[(u64, u64)], scale: u64) -> Self {
        let defaults = defaults
            .iter()
            .filter(|(_, nanoseconds)| *nanoseconds <= MAX_BLOCK_DURATION_NS)
            .filter_map(|&(track, nanoseconds)| {
                let ticks = (nanoseconds as f64 / scale.max(1) as f64).round();
                Some((track, ticks as i64)).filter(|_| ticks.is_finite())
            })
            .collect();
        Self { scale, defaults }
    }

    /// The ticks of a BlockGroup's BlockDuration, when believed.
    fn block_duration(&self, ticks: u64) -> Option<i64> {
        (ticks.saturating_mul(self.scale) <= MAX_BLOCK_DURATION_NS)
            .then(|| i64::try_from(ticks).ok())
            .flatten()
    }

    /// The duration of a block of `track` that says none of its own.
    fn default_of(&self, track: Option<u64>) -> i64 {
        track
            .and_then(|track| self.defaults.iter().find(|(number, _)| *number == track))
            .map_or(0, |(_, ticks)| *ticks)
    }
}

/// The relative time (ticks) a SimpleBlock's or a BlockGroup's block ends: its time plus
/// its duration ([`BlockDurations`]; a BlockGroup's BlockDuration when `payload`, the
/// child's payload from its start, holds it whole), from the start of its payload.
fn child_block_end(id: u32, payload: &[u8], durations: &BlockDurations) -> Option<i64> {
    let relative = child_block_timecode(id, payload)?;
    let own = (id == BLOCK_GROUP)
        .then(|| {
            child_elements(payload)
                .take(MAX_GROUP_CHILDREN)
                .find(|(id, _)| *id == BLOCK_DURATION)
                .and_then(|(_, ticks)| unsigned(ticks))
                .and_then(|ticks| durations.block_duration(ticks))
        })
        .flatten();
    let duration = own.unwrap_or_else(|| durations.default_of(child_block_track(id, payload)));
    Some(relative.saturating_add(duration))
}

/// [`child_block_end`] of the Cluster's child at `offset` whose header is `child` and
/// whose first bytes are `head` (its header, then the start of its payload): a
/// BlockGroup's children are walked by their headers for its BlockDuration
/// ([`group_fields`], each taken off `children_left`), which follows its Block.
async fn read_block_end(
    window: &mut Window<'_>,
    offset: u64,
    child: Header,
    head: &[u8],
    durations: &BlockDurations,
    children_left: &mut usize,
) -> Result<Option<i64>> {
    let payload = head
        .get(usize::try_from(child.header_len).unwrap_or(usize::MAX)..)
        .unwrap_or_default();
    let (BLOCK_GROUP, Some(size)) = (child.id, child.size) else {
        return Ok(child_block_end(child.id, payload, durations));
    };
    let Some(relative) = child_block_timecode(BLOCK_GROUP, payload) else {
        return Ok(None);
    };
    let body_start = offset.saturating_add(child.header_len);
    let body = body_start..body_start.saturating_add(size);
    let own = group_fields(window, body, None, children_left)
        .await?
        .and_then(|group| group.duration)
        .and_then(|ticks| durations.block_duration(ticks));
    let duration =
        own.unwrap_or_else(|| durations.default_of(child_block_track(BLOCK_GROUP, payload)));
    Ok(Some(relative.saturating_add(duration)))
}

/// The latest time (ticks) a block of the last Cluster in `tail` ends: the last
/// occurrence of the Cluster id whose first child is its Timecode, then its blocks' times
/// and durations ([`child_block_end`]).
fn last_cluster_end_ticks(tail: &[u8], durations: &BlockDurations) -> Option<u64> {
    // The first child decides, before any walk: the children are walked once, for the
    // one Cluster taken, whatever the tail holds.
    let (at, cluster, base) = cluster_candidates(tail).next()?;
    let start = at + usize::try_from(cluster.header_len).ok()?;
    let end = cluster
        .size
        .and_then(|size| usize::try_from(size).ok())
        .map_or(tail.len(), |size| {
            start.saturating_add(size).min(tail.len())
        });
    let body = tail.get(start..end)?;
    let latest = child_elements(body)
        .filter_map(|(id, payload)| child_block_end(id, payload, durations))
        .map(|relative| base.saturating_add(relative))
        .max()
        .unwrap_or(base);
    Some(u64::try_from(latest).unwrap_or(0))
}

/// The latest time (ticks) a block of the Cluster at `at` ends ([`read_block_end`]), whose
/// children are walked by their headers up to `end` (the Segment's end, or the Cluster's
/// when it has a size), taking at most `budget` bytes of the object in steps (what it
/// walks is taken off; a BlockGroup's children read count as children walked).
/// `None` unless the walk reaches the end (the last child may run past it: a recording
/// cut short) through children that parse: not a Cluster, or not the last one.
async fn walk_cluster(
    window: &mut Window<'_>,
    at: u64,
    end: u64,
    budget: &mut u64,
    durations: &BlockDurations,
) -> Result<Option<u64>> {
    let Some((cluster, base)) = cluster_start(&window.read(at, CLUSTER_HEAD_BYTES).await?) else {
        return Ok(None);
    };
    let body_start = at.saturating_add(cluster.header_len);
    let body_end = cluster
        .size
        .map_or(end, |size| body_start.saturating_add(size).min(end));
    let mut latest = base;
    let mut offset = body_start;
    let mut children_left = MAX_CLUSTER_CHILDREN;
    while let Some(left) = children_left.checked_sub(1) {
        children_left = left;
        if offset >= body_end {
            return Ok(u64::try_from(latest).ok());
        }
        let bytes = window.read(offset, CHILD_HEAD_BYTES).await?;
        let Some(child) = header(&bytes) else {
            return Ok(None);
        };
        // An unknown size (a Cluster of a live file, say) inside a Cluster: this was not
        // the last one.
        let (Some(size), false) = (child.size, child.id == CLUSTER) else {
            return Ok(None);
        };
        let block_end =
            read_block_end(window, offset, child, &bytes, durations, &mut children_left).await?;
        if let Some(relative) = block_end {
            latest = latest.max(base.saturating_add(relative));
        }
        let step = child.header_len.saturating_add(size);
        let Some(left) = budget.checked_sub(step) else {
            return Ok(None);
        };
        *budget = left;
        offset = offset.saturating_add(step);
    }
    Ok(None)
}

/// The latest time (ticks) a block of the Segment's last Cluster ends (see the module's
/// notes).
async fn last_cluster_ticks(
    window: &mut Window<'_>,
    segment_start: u64,
    segment_end: u64,
    search_bytes: u64,
    durations: &BlockDurations,
) -> Result<Option<u64>> {
    let tail_start = segment_end
        .saturating_sub(MAX_TAIL_BYTES)
        .max(segment_start);
    let tail = window
        .read(tail_start, segment_end.saturating_sub(tail_start))
        .await?;
    if let Some(ticks) = last_cluster_end_ticks(&tail, durations) {
        return Ok(Some(ticks));
    }
    // Its start lies further back: searched for in ranges, its children then walked.
    let floor = segment_end.saturating_sub(search_bytes).max(segment_start);
    let mut walker = window.with_chunk(WALK_CHUNK_BYTES);
    let mut budget = search_bytes;
    let mut tried = 0;
    let mut range_end = tail_start;
    while range_end > floor && tried < MAX_CLUSTER_CANDIDATES {
        let range_start = range_end.saturating_sub(MAX_TAIL_BYTES).max(floor);
        let bytes = window
            .read(range_start, range_end - range_start + CLUSTER_HEAD_BYTES)
            .await?;
        let searched = usize::try_from(range_end - range_start).unwrap_or(usize::MAX);
        let candidates: Vec<usize> = cluster_candidates(&bytes)
            .map(|(at, _, _)| at)
            .filter(|at| *at < searched)
            .take(MAX_CLUSTER_CANDIDATES - tried)
            .collect();
        for at in candidates {
            tried += 1;
            let at = range_start + at as u64;
            let walked = walk_cluster(&mut walker, at, segment_end, &mut budget, durations).await?;
            if let Some(ticks) = walked {
                return Ok(Some(ticks));
            }
        }
        range_end = range_start;
    }
    Ok(None)
}

/// Clusters hopped over by their sizes, at most, looking for the last one.
const MAX_CLUSTER_HOPS: usize = 1024;
/// The last blocks of a Cluster whose times are looked at (a decoder's reordering).
const LAST_BLOCKS: usize = 16;
/// Children read, at most, looking for the chain that ends a Cluster.
const MAX_CHAIN_STEPS: usize = 1_000_000;

/// The latest time (ticks) a block of the Segment's last Cluster ends when that Cluster
/// starts too long before the end to be found from there (a live recording's): the
/// Clusters are hopped over from the first by their sizes (one read each, at most
/// [`MAX_CLUSTER_HOPS`]) to the one that reaches the Segment's end. A sized last Cluster's
/// last blocks are found in its last [`MAX_TAIL_BYTES`] as the chain of children that ends
/// exactly where it ends (the first such chain from the front of those bytes). A Cluster
/// of unknown size (as a browser's `MediaRecorder` writes them) is hopped over by its
/// children's sizes to the next top-level element ([`open_cluster_end`], the keyframe
/// search's hop: one read of a header each, at most [`MAX_HOPPED_CHILDREN`] in all), and
/// when it is the last, its blocks' times were read on the way. `None` when nothing
/// parses, the children or the hops run out, or the last Cluster does not end at the
/// Segment's end.
async fn hopped_last_cluster_ticks(
    window: &mut Window<'_>,
    walked_to: u64,
    segment_end: u64,
    durations: &BlockDurations,
) -> Result<Option<u64>> {
    /// The last Cluster hopped to.
    enum Last {
        /// Sized: where its children start and where it ends, its Timecode.
        Sized {
            body_start: u64,
            end: u64,
            base: i64,
        },
        /// Of unknown size: where it ends, its Timecode, its latest block's time.
        Open {
            end: u64,
            base: i64,
            latest_block: Option<i64>,
        },
    }
    let Some(mut offset) = first_cluster_from(window, walked_to, segment_end).await? else {
        return Ok(None);
    };
    let mut hopper = window.with_chunk(CLUSTER_HEAD_BYTES);
    let mut children_left = MAX_HOPPED_CHILDREN;
    let mut last = None;
    for _ in 0..MAX_CLUSTER_HOPS {
        if offset >= segment_end {
            break;
        }
        let bytes = hopper.read(offset, CLUSTER_HEAD_BYTES).await?;
        let Some(element) = header(&bytes) else {
            break;
        };
        let base = if element.id == CLUSTER {
            let Some((_, base)) = cluster_start(&bytes) else {
                return Ok(None);
            };
            Some(base)
        } else {
            None
        };
        let body_start = offset.saturating_add(element.header_len);
        offset = match (element.size, base) {
            (Some(size), _) => {
                let end = body_start.saturating_add(size);
                if let Some(base) = base {
                    last = Some(Last::Sized {
                        body_start,
                        end,
                        base,
                    });
                }
                end
            }
            (None, Some(base)) => {
                let open = open_cluster_end(
                    &mut hopper,
                    body_start,
                    segment_end,
                    &mut children_left,
                    Some(durations),
                )
                .await?;
                let Some(open) = open else {
                    return Ok(None);
                };
                last = Some(Last::Open {
                    end: open.end,
                    base,
                    latest_block: open.latest_block,
                });
                open.end
            }
            (None, None) => return Ok(None),
        };
    }
    let latest = match last {
        Some(Last::Sized {
            body_start,
            end,
            base,
        }) if end == segment_end => {
            let tail_start = end.saturating_sub(MAX_TAIL_BYTES).max(body_start);
            let tail = window.read(tail_start, end - tail_start).await?;
            last_blocks_relative(&tail, durations).map(|relative| base.saturating_add(relative))
        }
        Some(Last::Open {
            end,
            base,
            latest_block,
        }) if end == segment_end => {
            // As a walk from its start counts them ([`walk_cluster`]).
            Some(latest_block.map_or(base, |relative| base.saturating_add(relative).max(base)))
        }
        _ => None,
    };
    Ok(latest.map(|ticks| u64::try_from(ticks).unwrap_or(0)))
}

/// The latest relative time the last [`LAST_BLOCKS`] blocks end ([`child_block_end`]) of
/// a Cluster whose last bytes are `tail` (cut anywhere in its children): the first offset
/// from which a chain of children (blocks, block groups, CRC-32, Void) ends exactly at the
/// end. At most
/// [`MAX_CHAIN_STEPS`] children are read in all (bytes made of tiny look-alike elements
/// would otherwise cost a walk from every offset).
fn last_blocks_relative(tail: &[u8], durations: &BlockDurations) -> Option<i64> {
    const VOID: u32 = 0xEC;
    let mut steps = 0_usize;
    (0..tail.len()).find_map(|start| {
        let mut at = start;
        let mut times = std::collections::VecDeque::with_capacity(LAST_BLOCKS);
        while at < tail.len() {
            steps += 1;
            if steps > MAX_CHAIN_STEPS {
                return None;
            }
            let child = header(&tail[at..])?;
            if ![SIMPLE_BLOCK, BLOCK_GROUP, CRC_32, VOID].contains(&child.id) {
                return None;
            }
            let payload_start = at.checked_add(usize::try_from(child.header_len).ok()?)?;
            let next = payload_start.checked_add(usize::try_from(child.size?).ok()?)?;
            if next > tail.len() {
                return None;
            }
            let payload = &tail[payload_start..next];
            if let Some(relative) = child_block_end(child.id, payload, durations) {
                if times.len() == LAST_BLOCKS {
                    times.pop_front();
                }
                times.push_back(relative);
            }
            at = next;
        }
        times.into_iter().max()
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

/// The first video track's number from a Tracks element's payload.
fn tracks_video_number(tracks: &[u8]) -> Option<u64> {
    child_elements(tracks)
        .filter(|(id, _)| *id == TRACK_ENTRY)
        .find_map(|(_, entry)| {
            let fields = children(entry);
            let is_video = fields.iter().any(|(id, payload)| {
                *id == TRACK_TYPE && unsigned(payload) == Some(TRACK_TYPE_VIDEO)
            });
            if !is_video {
                return None;
            }
            fields
                .iter()
                .find(|(id, _)| *id == TRACK_NUMBER)
                .and_then(|(_, payload)| unsigned(payload))
        })
}

/// Each track's DefaultDuration (nanoseconds a block lasts) from a Tracks element's
/// payload: `(track, nanoseconds)`.
fn tracks_default_durations(tracks: &[u8]) -> Vec<(u64, u64)> {
    child_elements(tracks)
        .filter(|(id, _)| *id == TRACK_ENTRY)
        .filter_map(|(_, entry)| {
            let fields = children(entry);
            let field = |wanted: u32| {
                fields
                    .iter()
                    .find(|(id, _)| *id == wanted)
                    .and_then(|(_, payload)| unsigned(payload))
            };
            Some((field(TRACK_NUMBER)?, field(TRACK_DEFAULT_DURATION)?))
        })
        .collect()
}

/// Where the SeekHead says Info, Tracks and Cues are, relative to the Segment's payload.
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
    /// The first video track's number.
    video_track: Option<u64>,
    /// The tracks' DefaultDurations: `(track, nanoseconds)`.
    default_durations: Vec<(u64, u64)>,
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
                self.video_track = tracks_video_number(payload);
                self.default_durations = tracks_default_durations(payload);
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

/// A Segment as read from its start.
struct Segment {
    /// Where its payload starts (its children's positions count from there).
    start: u64,
    /// Where it ends (the file's end when its size is unknown).
    end: u64,
    found: Found,
    /// Where its Cues element is, when it was passed or the SeekHead says.
    cues_at: Option<u64>,
    /// Where the walk of its children stopped: its first Cluster, or the child after
    /// Info and Tracks; `None` when a child did not parse or had no size.
    walked_to: Option<u64>,
}

/// Reads the EBML header, the Segment's header, and its children up to Info and Tracks
/// (or its first Cluster), then what of Info and Tracks is missing through the SeekHead.
async fn read_segment(window: &mut Window<'_>) -> Result<Option<Segment>> {
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
    let mut cues_at = None;
    let mut walked_to = None;
    let mut offset = segment_start;
    for _ in 0..MAX_SEGMENT_CHILDREN {
        if found.complete() || offset >= segment_end {
            walked_to = Some(offset);
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
            CUES => cues_at = Some(offset),
            CLUSTER => {
                walked_to = Some(offset);
                break;
            }
            _ => {}
        }
        let Some(size) = child.size else {
            break;
        };
        offset = offset.saturating_add(child.header_len).saturating_add(size);
    }

    for (target, position) in seeks {
        let at = segment_start.saturating_add(position);
        let missing = match target {
            INFO => !found.info_seen,
            TRACKS => !found.tracks_seen,
            CUES => {
                cues_at = cues_at.or(Some(at));
                false
            }
            _ => false,
        };
        if !missing {
            continue;
        }
        if let Some(child) = header_at(window, at).await?
            && child.id == target
            && let Some(payload) = wanted_payload_at(window, at, child).await?
        {
            found.take(target, &payload);
        }
    }
    Ok(Some(Segment {
        start: segment_start,
        end: segment_end,
        found,
        cues_at,
        walked_to,
    }))
}

/// Analyses a WebM or Matroska file of `window.size` bytes; a live one's last Cluster
/// is looked for at most `search_bytes` before its end.
pub(super) async fn analyze_matroska(
    window: &mut Window<'_>,
    search_bytes: u64,
) -> Result<Option<Findings>> {
    let Some(Segment {
        start,
        end,
        found,
        walked_to,
        ..
    }) = read_segment(window).await?
    else {
        return Ok(None);
    };
    let mut found = found;
    if found.duration_ms.is_none()
        && let Some(scale) = found.timecode_scale
    {
        let durations = BlockDurations::new(&found.default_durations, scale);
        let mut ticks = last_cluster_ticks(window, start, end, search_bytes, &durations).await?;
        if ticks.is_none()
            && let Some(walked_to) = walked_to
        {
            ticks = hopped_last_cluster_ticks(window, walked_to, end, &durations).await?;
        }
        found.duration_ms = ticks.and_then(|ticks| ticks_to_ms(ticks as f64, scale));
    }

    Ok(Some(Findings {
        duration_ms: found.duration_ms,
        width: found.video_size.map(|(width, _)| width),
        height: found.video_size.map(|(_, height)| height),
        ..Findings::default()
    }))
}

/// Where the keyframe a preview takes lies in a Matroska file (`crate::frames`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyframeCluster {
    /// The Cluster holding it.
    pub(crate) cluster: Range<u64>,
    /// The Cues element (a demuxer seeks by it), when it was found there.
    pub(crate) cues: Option<Range<u64>>,
    /// Its time from the start.
    pub(crate) time_ms: u64,
    /// Where the first video block at or after the frame's time ends, when a walk of the
    /// Clusters ([`walked_keyframe_cluster`]) reached it.
    pub(crate) frame_end: Option<u64>,
}

/// The cue points of `track` as `(time in ticks, Cluster position)`, and the Cluster
/// positions of all the points (any track), from a Cues element's payload.
fn cue_points(cues: &[u8], track: u64) -> (Vec<(u64, u64)>, Vec<u64>) {
    let mut points = Vec::new();
    let mut clusters = Vec::new();
    for (_, point) in child_elements(cues)
        .filter(|(id, _)| *id == CUE_POINT)
        .take(MAX_CUE_POINTS)
    {
        let fields = children(point);
        let time = fields
            .iter()
            .find(|(id, _)| *id == CUE_TIME)
            .and_then(|(_, payload)| unsigned(payload));
        for (_, positions) in fields.iter().filter(|(id, _)| *id == CUE_TRACK_POSITIONS) {
            let fields = children(positions);
            let field = |wanted: u32| {
                fields
                    .iter()
                    .find(|(id, _)| *id == wanted)
                    .and_then(|(_, payload)| unsigned(payload))
            };
            let Some(position) = field(CUE_CLUSTER_POSITION) else {
                continue;
            };
            clusters.push(position);
            if let Some(time) = time
                && field(CUE_TRACK) == Some(track)
            {
                points.push((time, position));
            }
        }
    }
    (points, clusters)
}

/// The Cluster of the first video track's keyframe at or before `at_ms` (or its first
/// keyframe, when none is that early), found in the file's Cues; `None` when the file has
/// no Cues (a live file), no video track, or anything does not parse. A Cluster of
/// unknown size ends where the next one the Cues name begins (else at the Segment's end).
pub(crate) async fn keyframe_cluster(
    window: &mut Window<'_>,
    at_ms: u64,
) -> Result<Option<KeyframeCluster>> {
    let Some(segment) = read_segment(window).await? else {
        return Ok(None);
    };
    let (Some(track), Some(scale), Some(cues_at)) = (
        segment.found.video_track,
        segment.found.timecode_scale,
        segment.cues_at,
    ) else {
        return Ok(None);
    };
    let Some(cues) = header_at(window, cues_at).await? else {
        return Ok(None);
    };
    let Some(cues_size) = cues
        .size
        .filter(|size| cues.id == CUES && *size <= MAX_CUES_BYTES)
    else {
        return Ok(None);
    };
    let payload = window.read(cues_at + cues.header_len, cues_size).await?;
    if payload.len() as u64 != cues_size {
        return Ok(None);
    }
    let (points, clusters) = cue_points(&payload, track);
    let timed: Vec<(u64, u64)> = points
        .into_iter()
        .filter_map(|(ticks, position)| Some((ticks_to_ms(ticks as f64, scale)?, position)))
        .collect();
    let chosen = timed
        .iter()
        .filter(|(time_ms, _)| *time_ms <= at_ms)
        .max_by_key(|(time_ms, _)| *time_ms)
        .or_else(|| timed.iter().min_by_key(|(time_ms, _)| *time_ms));
    let Some(&(time_ms, position)) = chosen else {
        return Ok(None);
    };
    let start = segment.start.saturating_add(position);
    if start >= segment.end {
        return Ok(None);
    }
    let Some(cluster) = header_at(window, start)
        .await?
        .filter(|cluster| cluster.id == CLUSTER)
    else {
        return Ok(None);
    };
    let end = match cluster.size {
        Some(size) => start
            .saturating_add(cluster.header_len)
            .saturating_add(size),
        None => clusters
            .iter()
            .map(|position| segment.start.saturating_add(*position))
            .filter(|next| *next > start)
            .min()
            .unwrap_or(segment.end),
    };
    Ok(Some(KeyframeCluster {
        cluster: start..end.min(segment.end),
        cues: Some(cues_at..cues_at + cues.header_len + cues_size),
        time_ms,
        frame_end: None,
    }))
}

/// The first Cluster at or after the Segment's child at `offset`, the others (Tags,
/// Chapters, Void, ...) skipped by their sizes, at most [`MAX_SEGMENT_CHILDREN`].
async fn first_cluster_from(
    window: &mut Window<'_>,
    mut offset: u64,
    end: u64,
) -> Result<Option<u64>> {
    for _ in 0..MAX_SEGMENT_CHILDREN {
        if offset >= end {
            break;
        }
        let Some(child) = header_at(window, offset).await? else {
            break;
        };
        if child.id == CLUSTER {
            return Ok(Some(offset));
        }
        let Some(size) = child.size else {
            break;
        };
        offset = offset.saturating_add(child.header_len).saturating_add(size);
    }
    Ok(None)
}

/// A video block met on a walk of the Clusters.
struct VideoBlock {
    /// Its time from the start.
    time_ms: u64,
    keyframe: bool,
    /// Where it ends.
    end: u64,
}

/// The video block of `track` that a Cluster's child is, when it is a SimpleBlock of
/// that track (its flags say whether it is a keyframe).
fn simple_block_of(child: &Header, payload: &[u8], track: u64) -> Option<(i64, bool)> {
    if child.id != SIMPLE_BLOCK {
        return None;
    }
    let (number, number_len) = element_size(payload)?;
    if number != Some(track) {
        return None;
    }
    let relative = block_timecode(payload)?;
    let flags = *payload.get(number_len + 2)?;
    Some((relative, flags & 0x80 != 0))
}

/// Children of a BlockGroup looked at, at most (a Block, its duration, additions and
/// references: a handful).
const MAX_GROUP_CHILDREN: usize = 64;

/// What a BlockGroup holds ([`group_fields`]).
struct GroupFields {
    /// Its Block's relative time (ticks).
    relative: i64,
    /// Whether it has a ReferenceBlock (a block it depends on: not a keyframe).
    referenced: bool,
    /// Its BlockDuration (ticks), when it has one.
    duration: Option<u64>,
}

/// The BlockGroup whose payload spans `body`, its children walked by their headers (one
/// read each, the Block's bytes skipped), at most [`MAX_GROUP_CHILDREN`] of them and each
/// taken off `children_left`. `None` when it has no Block, its Block is not of `track`
/// (when one is asked for: the walk stops there), or a child does not parse, has no size
/// or runs past the group: a group that lies.
async fn group_fields(
    window: &mut Window<'_>,
    body: Range<u64>,
    track: Option<u64>,
    children_left: &mut usize,
) -> Result<Option<GroupFields>> {
    let mut block = None;
    let mut referenced = false;
    let mut duration = None;
    let mut offset = body.start;
    for _ in 0..MAX_GROUP_CHILDREN {
        if offset >= body.end {
            return Ok(block.map(|relative| GroupFields {
                relative,
                referenced,
                duration,
            }));
        }
        let Some(left) = children_left.checked_sub(1) else {
            return Ok(None);
        };
        *children_left = left;
        let bytes = window.read(offset, CHILD_HEAD_BYTES).await?;
        let Some(Header {
            id,
            size: Some(size),
            header_len,
        }) = header(&bytes)
        else {
            return Ok(None);
        };
        let end = offset.saturating_add(header_len).saturating_add(size);
        if end > body.end {
            return Ok(None);
        }
        let payload = bytes
            .get(usize::try_from(header_len).unwrap_or(usize::MAX)..)
            .unwrap_or_default();
        match id {
            BLOCK if block.is_none() => {
                let (number, _) = element_size(payload).unwrap_or((None, 0));
                if track.is_some_and(|track| number != Some(track)) {
                    return Ok(None);
                }
                let Some(relative) = block_timecode(payload) else {
                    return Ok(None);
                };
                block = Some(relative);
            }
            REFERENCE_BLOCK => referenced = true,
            BLOCK_DURATION => {
                duration = usize::try_from(size)
                    .ok()
                    .and_then(|size| payload.get(..size))
                    .and_then(unsigned);
            }
            _ => {}
        }
        offset = end;
    }
    Ok(None)
}

/// The video block of `track` in the BlockGroup whose payload spans `body`: its relative
/// time, and whether it is a keyframe, which a Block's flags do not say: it is one when
/// the group has no ReferenceBlock (a block it depends on). The group's children are
/// walked by their headers ([`group_fields`]: one read each, at most
/// [`MAX_GROUP_CHILDREN`] of them and each taken off `children_left`). `None` when it is
/// another track's, has no Block, or a child does not parse, has no size or runs past
/// the group: a group that lies is no keyframe.
async fn block_group_of(
    window: &mut Window<'_>,
    body: Range<u64>,
    track: u64,
    children_left: &mut usize,
) -> Result<Option<(i64, bool)>> {
    Ok(group_fields(window, body, Some(track), children_left)
        .await?
        .map(|group| (group.relative, !group.referenced)))
}

/// The Cluster of the first video track's keyframe at or before `at_ms` (or its first
/// keyframe, when none is that early) in a file without Cues (a live recording), found
/// by walking the Clusters from the first one, child by child (a SimpleBlock's flags say
/// whether it is a keyframe; a BlockGroup's Block is one when the group has no
/// ReferenceBlock, [`block_group_of`]), over at most `span` bytes of the file. The range
/// is the Cluster's start through the keyframe's block (what a demuxer needs of it);
/// `frame_end` says where the first video block at or after `at_ms` ends, when the walk
/// got there. When the span ends before the walk gets to `at_ms`, the Clusters are
/// hopped over by their sizes instead, reading only each one's head (its Timecode), to
/// the last that starts at or before `at_ms`, and walked from there
/// ([`hopped_keyframe_cluster`]); what that finds at or before `at_ms` is taken over an
/// earlier keyframe of the first walk. `None` when the file has no video track, no
/// Cluster where its children end, no keyframe within the span, or anything on the way
/// does not parse.
pub(crate) async fn walked_keyframe_cluster(
    window: &mut Window<'_>,
    at_ms: u64,
    span: u64,
) -> Result<Option<KeyframeCluster>> {
    let Some(segment) = read_segment(window).await? else {
        return Ok(None);
    };
    let (Some(track), Some(scale), Some(walked_to)) = (
        segment.found.video_track,
        segment.found.timecode_scale,
        segment.walked_to,
    ) else {
        return Ok(None);
    };
    let Some(first_cluster) = first_cluster_from(window, walked_to, segment.end).await? else {
        return Ok(None);
    };
    let walk = Walk {
        track,
        scale,
        segment_end: segment.end,
        at_ms,
        span,
    };
    let walked = walk.from(window, first_cluster).await?;
    let reached = walked
        .as_ref()
        .is_some_and(|found| found.frame_end.is_some());
    if reached || first_cluster.saturating_add(span) >= segment.end {
        return Ok(walked);
    }
    let hopped = hopped_keyframe_cluster(window, &walk, first_cluster).await?;
    Ok(match hopped {
        Some(found) if found.time_ms <= at_ms => Some(found),
        // No keyframe at or before the time where the hops led: the first walk's (an
        // earlier one), else the first after the time.
        hopped => walked.or(hopped),
    })
}

/// Clusters walked from, at most, going back from the one at the frame's time for a
/// keyframe at or before it.
const MAX_HOPPED_WALKS: usize = 4;

/// The keyframe for the frame at `walk.at_ms` found by hopping over the Clusters from
/// `first_cluster` by their sizes (one read of a Cluster's head each, at most
/// [`MAX_CLUSTER_HOPS`]; other elements between them skipped by their sizes) to the last
/// one starting at or before that time, then walking from it (over `walk.span`, as the
/// walk from the first does); when that walk finds no keyframe at or before the time,
/// from the Clusters before it, at most [`MAX_HOPPED_WALKS`] in all and none that the
/// walk from the first covered. A Cluster of unknown size is hopped over by its children's
/// sizes to the next top-level element ([`open_cluster_end`], one read each, at most
/// [`MAX_HOPPED_CHILDREN`] in all). The hops stop at a Timecode that goes back, too many
/// children, or anything that does not parse. The nearest keyframe after the time when
/// none is found before it.
async fn hopped_keyframe_cluster(
    window: &mut Window<'_>,
    walk: &Walk,
    first_cluster: u64,
) -> Result<Option<KeyframeCluster>> {
    let mut hopper = window.with_chunk(CLUSTER_HEAD_BYTES);
    let mut children_left = MAX_HOPPED_CHILDREN;
    let mut starts: Vec<u64> = Vec::new();
    let mut previous_time = 0;
    let mut offset = first_cluster;
    for _ in 0..MAX_CLUSTER_HOPS {
        if offset >= walk.segment_end {
            break;
        }
        let bytes = hopper.read(offset, CLUSTER_HEAD_BYTES).await?;
        let Some(element) = header(&bytes) else {
            break;
        };
        if element.id == CLUSTER {
            let Some((_, base)) = cluster_start(&bytes) else {
                break;
            };
            let time = u64::try_from(base)
                .ok()
                .and_then(|ticks| ticks_to_ms(ticks as f64, walk.scale));
            let Some(time) = time.filter(|time| *time >= previous_time) else {
                break;
            };
            if time > walk.at_ms {
                break;
            }
            previous_time = time;
            starts.push(offset);
        }
        let body = offset.saturating_add(element.header_len);
        offset = match element.size {
            Some(size) => body.saturating_add(size),
            // A Cluster of unknown size (a browser's live recording) ends where the next
            // top-level element begins: found by hopping its children by their sizes.
            None if element.id == CLUSTER => {
                match open_cluster_end(
                    &mut hopper,
                    body,
                    walk.segment_end,
                    &mut children_left,
                    None,
                )
                .await?
                {
                    Some(open) => open.end,
                    None => break,
                }
            }
            None => break,
        };
    }
    let covered = first_cluster.saturating_add(walk.span);
    let mut later = None;
    for start in starts
        .into_iter()
        .rev()
        .take(MAX_HOPPED_WALKS)
        .take_while(|start| *start >= covered)
    {
        match walk.from(window, start).await? {
            Some(found) if found.time_ms <= walk.at_ms => return Ok(Some(found)),
            Some(found) => later = Some(found),
            None => {}
        }
    }
    Ok(later)
}

/// Children of Clusters of unknown size hopped over, at most, in one search (a second of
/// a live recording has some 80 blocks: 30 frames, 50 of sound).
const MAX_HOPPED_CHILDREN: usize = 4096;

/// Top-level elements of a Segment, which end a Cluster of unknown size.
const TOP_LEVEL: [u32; 8] = [
    CLUSTER,
    CUES,
    INFO,
    TRACKS,
    SEEK_HEAD,
    0x1254_C367, // Tags
    0x1043_A770, // Chapters
    0x1941_A469, // Attachments
];

/// A Cluster of unknown size hopped over by its children ([`open_cluster_end`]).
struct OpenCluster {
    /// Where it ends: the next top-level element, or the end given (also when its last
    /// child runs past it: a recording cut short).
    end: u64,
    /// The latest relative time (ticks) a block among its children ends (a SimpleBlock, or
    /// a BlockGroup's Block: [`read_block_end`]), when asked for.
    latest_block: Option<i64>,
}

/// Where a Cluster of unknown size whose children start at `body` ends: the next
/// top-level element (or `end`), found by hopping its children by their sizes, one read
/// of a header each, each taken off `children_left`. With `durations`, the latest time a
/// block ends too: a SimpleBlock's time from the same read, a BlockGroup's children read
/// for its BlockDuration ([`read_block_end`], taken off `children_left` too). `None` when
/// a child does not parse, has no size, or the children left run out.
async fn open_cluster_end(
    hopper: &mut Window<'_>,
    body: u64,
    end: u64,
    children_left: &mut usize,
    durations: Option<&BlockDurations>,
) -> Result<Option<OpenCluster>> {
    let mut latest_block: Option<i64> = None;
    let mut offset = body;
    while offset < end {
        let bytes = hopper.read(offset, CLUSTER_HEAD_BYTES).await?;
        let Some(child) = header(&bytes) else {
            return Ok(None);
        };
        if TOP_LEVEL.contains(&child.id) {
            return Ok(Some(OpenCluster {
                end: offset,
                latest_block,
            }));
        }
        let (Some(size), Some(left)) = (child.size, children_left.checked_sub(1)) else {
            return Ok(None);
        };
        *children_left = left;
        if let Some(durations) = durations
            && let Some(relative) =
                read_block_end(hopper, offset, child, &bytes, durations, children_left).await?
        {
            latest_block = Some(latest_block.map_or(relative, |latest| latest.max(relative)));
        }
        offset = offset.saturating_add(child.header_len).saturating_add(size);
    }
    Ok(Some(OpenCluster { end, latest_block }))
}

/// A walk of the Clusters for the first video track's keyframe at or before `at_ms`.
struct Walk {
    track: u64,
    /// Nanoseconds a tick.
    scale: u64,
    segment_end: u64,
    at_ms: u64,
    /// Bytes of the file walked over, at most.
    span: u64,
}

impl Walk {
    /// Walks the Clusters from the one at `first_cluster`, child by child, over at most
    /// `span` bytes (see [`walked_keyframe_cluster`]).
    async fn from(
        &self,
        window: &mut Window<'_>,
        first_cluster: u64,
    ) -> Result<Option<KeyframeCluster>> {
        let &Self {
            track,
            scale,
            at_ms,
            span,
            ..
        } = self;
        let segment_end = self.segment_end;
        let limit = first_cluster.saturating_add(span).min(segment_end);
        let mut chosen: Option<KeyframeCluster> = None;
        let mut frame_end = None;
        let mut offset = first_cluster;
        let mut children_left = MAX_CLUSTER_CHILDREN;
        'clusters: while offset < limit {
            let Some((cluster, base)) =
                cluster_start(&window.read(offset, CLUSTER_HEAD_BYTES).await?)
            else {
                break;
            };
            let cluster_at = offset;
            let body_start = offset.saturating_add(cluster.header_len);
            let body_end = cluster.size.map_or(segment_end, |size| {
                body_start.saturating_add(size).min(segment_end)
            });
            offset = body_start;
            while offset < body_end {
                let bytes = window.read(offset, CHILD_HEAD_BYTES).await?;
                let Some(child) = header(&bytes) else {
                    break 'clusters;
                };
                // A Cluster of unknown size ends where the next one begins.
                if child.id == CLUSTER && cluster.size.is_none() {
                    continue 'clusters;
                }
                let (Some(size), Some(left)) = (child.size, children_left.checked_sub(1)) else {
                    break 'clusters;
                };
                children_left = left;
                let end = offset.saturating_add(child.header_len).saturating_add(size);
                if end > limit {
                    break 'clusters;
                }
                let payload = bytes
                    .get(usize::try_from(child.header_len).unwrap_or(usize::MAX)..)
                    .unwrap_or_default();
                let video = if child.id == BLOCK_GROUP {
                    let body = offset.saturating_add(child.header_len)..end;
                    block_group_of(window, body, track, &mut children_left).await?
                } else {
                    simple_block_of(&child, payload, track)
                };
                if let Some((relative, keyframe)) = video {
                    let block = VideoBlock {
                        time_ms: u64::try_from(base.saturating_add(relative))
                            .ok()
                            .and_then(|ticks| ticks_to_ms(ticks as f64, scale))
                            .unwrap_or(0),
                        keyframe,
                        end,
                    };
                    if block.time_ms >= at_ms && frame_end.is_none() {
                        frame_end = Some(block.end);
                    }
                    if block.keyframe {
                        let later = block.time_ms > at_ms;
                        if !(later && chosen.is_some()) {
                            chosen = Some(KeyframeCluster {
                                cluster: cluster_at..block.end,
                                cues: None,
                                time_ms: block.time_ms,
                                frame_end: None,
                            });
                        }
                        if later {
                            break 'clusters;
                        }
                    }
                }
                offset = end;
            }
        }
        Ok(chosen.map(|keyframe| KeyframeCluster {
            frame_end,
            ..keyframe
        }))
    }
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
        assert_eq!(
            last_cluster_end_ticks(&tail, &BlockDurations::default()),
            Some(5060)
        );
        // No Timecode first: not a Cluster.
        assert_eq!(
            last_cluster_end_ticks(
                &[0x1F, 0x43, 0xB6, 0x75, 0x83, 0xA3, 0x81, 0x00],
                &BlockDurations::default()
            ),
            None
        );
        assert_eq!(block_timecode(&[0x81, 0xFF, 0xF6, 0x80]), Some(-10));
    }

    /// An element with an 8-byte size.
    fn element(id: u32, payload: &[u8]) -> Vec<u8> {
        let id_bytes = id.to_be_bytes();
        let skip = id_bytes.iter().take_while(|byte| **byte == 0).count();
        let mut bytes = id_bytes[skip..].to_vec();
        bytes.push(0x01);
        bytes.extend_from_slice(&(payload.len() as u64).to_be_bytes()[1..]);
        bytes.extend_from_slice(payload);
        bytes
    }

    /// An element of unknown size.
    fn open_element(id: u32, payload: &[u8]) -> Vec<u8> {
        let mut bytes = id.to_be_bytes().to_vec();
        bytes.extend([0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]);
        bytes.extend_from_slice(payload);
        bytes
    }

    fn simple_block(track: u8, relative: i16, len: usize) -> Vec<u8> {
        let mut payload = vec![0x80 | track];
        payload.extend(relative.to_be_bytes());
        payload.push(0x80);
        payload.resize(len, 0x5A);
        element(SIMPLE_BLOCK, &payload)
    }

    fn ebml_header() -> Vec<u8> {
        element(EBML_HEADER, &element(0x4282, b"matroska"))
    }

    async fn stored(bytes: Vec<u8>) -> (object_store::memory::InMemory, object_store::path::Path) {
        use object_store::ObjectStoreExt as _;
        let objects = object_store::memory::InMemory::new();
        let path = object_store::path::Path::from("file");
        objects.put(&path, bytes.into()).await.expect("stored");
        (objects, path)
    }

    async fn duration_of(bytes: Vec<u8>) -> Option<u64> {
        let size = bytes.len() as u64;
        let (objects, path) = stored(bytes).await;
        analyze_matroska(&mut Window::new(&objects, &path, size), 64 << 20)
            .await
            .expect("read")
            .expect("matroska")
            .duration_ms
    }

    /// A live file (no Duration, a Segment and a Cluster of unknown size) whose one
    /// Cluster starts `blocks` × 512 KiB before its end.
    fn live_file(blocks: i16, damaged_at: Option<i16>) -> Vec<u8> {
        // A CRC-32 first, as ffmpeg writes in Matroska (its value is not checked).
        let mut cluster = element(CRC_32, &[1, 2, 3, 4]);
        cluster.extend(element(CLUSTER_TIMECODE, &1000_u16.to_be_bytes()));
        for index in 0..blocks {
            if damaged_at == Some(index) {
                cluster.extend([0x00, 0x00, 0x00]);
            }
            cluster.extend(simple_block(1, index * 40, 512 * 1024));
        }
        let info = element(INFO, &element(TIMECODE_SCALE, &1_000_000_u32.to_be_bytes()));
        let segment = [info, open_element(CLUSTER, &cluster)].concat();
        [ebml_header(), open_element(SEGMENT, &segment)].concat()
    }

    #[tokio::test]
    async fn a_live_files_last_cluster_starting_before_its_tail_is_walked_from_its_start() {
        // 12 blocks of 512 KiB: the Cluster starts 6 MiB before the end, beyond the tail
        // of 4 MiB read first; its last block is at 1000 + 11 × 40 ms.
        assert_eq!(duration_of(live_file(12, None)).await, Some(1440));
        // Short enough for the tail alone, as before.
        assert_eq!(duration_of(live_file(4, None)).await, Some(1120));
        // A child that does not parse on the way: not a Cluster to trust, no duration
        // (and no panic).
        assert_eq!(duration_of(live_file(12, Some(9))).await, None);
    }

    /// A live file (no Duration, a Segment of unknown size) of one sized Cluster of
    /// `blocks` × 512 KiB, its blocks 40 ms apart from 1000 ms, preceded by `filler`.
    fn live_file_of_one_sized_cluster(blocks: i16, filler: &[u8]) -> Vec<u8> {
        let mut cluster = element(CLUSTER_TIMECODE, &1000_u16.to_be_bytes());
        cluster.extend_from_slice(filler);
        for index in 0..blocks {
            cluster.extend(simple_block(1, index * 40, 512 * 1024));
        }
        let info = element(INFO, &element(TIMECODE_SCALE, &1_000_000_u32.to_be_bytes()));
        let segment = [info, element(CLUSTER, &cluster)].concat();
        [ebml_header(), open_element(SEGMENT, &segment)].concat()
    }

    async fn duration_searching(bytes: Vec<u8>, search_bytes: u64) -> Option<u64> {
        let size = bytes.len() as u64;
        let (objects, path) = stored(bytes).await;
        analyze_matroska(&mut Window::new(&objects, &path, size), search_bytes)
            .await
            .expect("read")
            .expect("matroska")
            .duration_ms
    }

    #[tokio::test]
    async fn a_live_files_sized_cluster_starting_before_the_search_is_found_by_hopping() {
        // 12 blocks of 512 KiB: the Cluster starts 6 MiB before the end, beyond a search
        // of 4 MiB; hopped to from the first Cluster, its last blocks end it.
        let file = live_file_of_one_sized_cluster(12, &[]);
        assert_eq!(duration_searching(file, 4 << 20).await, Some(1440));
        // Tiny look-alike elements (Voids of no bytes) before the last blocks: bounded
        // work, and the blocks after them still end the Cluster.
        let voids = [0xEC, 0x80].repeat(2 << 20);
        let file = live_file_of_one_sized_cluster(2, &voids);
        let started = std::time::Instant::now();
        let found = duration_searching(file, 4 << 20).await;
        assert!(started.elapsed() < std::time::Duration::from_secs(20));
        assert!(found.is_none() || found == Some(1040), "{found:?}");
    }

    /// The duration found with the search at `search_bytes`, and the bytes read.
    async fn duration_reading(bytes: Vec<u8>, search_bytes: u64) -> (Option<u64>, u64) {
        use crate::analyze::waveform::tests::Counting;
        let objects = Counting {
            inner: object_store::memory::InMemory::new(),
            bytes: 0.into(),
            reads: 0.into(),
        };
        let path = object_store::path::Path::from("file");
        let size = bytes.len() as u64;
        object_store::ObjectStoreExt::put(&objects.inner, &path, bytes.into())
            .await
            .expect("stored");
        let found = analyze_matroska(&mut Window::new(&objects, &path, size), search_bytes)
            .await
            .expect("read")
            .map(|found| found.duration_ms);
        (
            found.flatten(),
            objects.bytes.load(std::sync::atomic::Ordering::Relaxed),
        )
    }

    /// A live file as a browser writes it (no Duration, a Segment and Clusters of unknown
    /// size): `short` Clusters of a Timecode and two blocks 100 ms apart from 0, then one
    /// of unknown size at 1000 ms of `blocks` × 512 KiB blocks 40 ms apart (its `filler`
    /// first).
    fn live_file_ending_in_a_long_open_cluster(short: u16, blocks: i16, filler: &[u8]) -> Vec<u8> {
        let mut segment = element(INFO, &element(TIMECODE_SCALE, &1_000_000_u32.to_be_bytes()));
        for index in 0..short {
            let body = [
                element(CLUSTER_TIMECODE, &(index * 100).to_be_bytes()),
                simple_block(1, 0, 300),
                simple_block(2, 50, 200),
            ]
            .concat();
            segment.extend(open_element(CLUSTER, &body));
        }
        let mut last = element(CLUSTER_TIMECODE, &1000_u16.to_be_bytes());
        last.extend_from_slice(filler);
        for index in 0..blocks {
            last.extend(simple_block(1, index * 40, 512 * 1024));
        }
        segment.extend(open_element(CLUSTER, &last));
        [ebml_header(), open_element(SEGMENT, &segment)].concat()
    }

    #[tokio::test]
    async fn a_live_files_cluster_of_unknown_size_starting_before_the_search_is_found_by_hopping() {
        // 12 blocks of 512 KiB in one Cluster of unknown size: it starts 6 MiB before the
        // end, beyond a search of 4 MiB; hopped over by its children's sizes from its
        // start, it ends at the Segment's end, its last block at 1000 + 11 × 40 ms.
        assert_eq!(
            duration_searching(live_file(12, None), 4 << 20).await,
            Some(1440)
        );
        // Behind 30 short Clusters of unknown size, each hopped over by its children: the
        // tail of 4 MiB and one read of 64 bytes a Cluster or child, no more.
        let file = live_file_ending_in_a_long_open_cluster(30, 12, &[]);
        let size = file.len() as u64;
        let (found, read) = duration_reading(file, 4 << 20).await;
        assert_eq!(found, Some(1440));
        println!("{read} bytes of {size} read");
        assert!(
            read < (4 << 20) + (256 << 10),
            "{read} bytes of {size} read"
        );
        // A search that reaches the Cluster's start finds it so, as before.
        let file = live_file_ending_in_a_long_open_cluster(30, 12, &[]);
        assert_eq!(duration_searching(file, 64 << 20).await, Some(1440));
        // A child that does not parse on the way: not a Cluster to trust, no duration.
        assert_eq!(
            duration_searching(live_file(12, Some(9)), 4 << 20).await,
            None
        );
        // More children than the hops may read (5,000 tiny Voids before the blocks): no
        // duration, and no more reads.
        let voids = [0xEC, 0x80].repeat(5000);
        let file = live_file_ending_in_a_long_open_cluster(3, 12, &voids);
        let (found, read) = duration_reading(file, 4 << 20).await;
        assert_eq!(found, None);
        assert!(read < (4 << 20) + (512 << 10), "{read} bytes read");
    }

    #[tokio::test]
    async fn hops_to_a_last_cluster_of_unknown_size_that_lies_end_without_a_panic() {
        let file = live_file_ending_in_a_long_open_cluster(20, 12, &[]);
        let size = file.len();
        // Where the last Cluster starts: the 12 blocks, its Timecode and header before them.
        let last = size - 12 * (512 * 1024 + 9) - 11 - 12;
        assert_eq!(file[last..last + 4], CLUSTER_ID_BYTES);
        let bound = (4 << 20) + (512 << 10);
        let check = |name: String, (found, read): (Option<u64>, u64)| {
            assert!(read < bound, "{name}: {read} bytes read");
            if let Some(found) = found {
                assert!(found < 32_000_000_000, "{name}: {found}");
            }
        };
        // One byte changed anywhere in the heads of the last Cluster and its first
        // children, and of a short Cluster before it.
        let short = live_file_ending_in_a_long_open_cluster(5, 0, &[]).len() - 23;
        for (start, bytes) in [(short, &[0xFF][..]), (last, &[0x00, 0xFF][..])] {
            for offset in 0..36 {
                for &byte in bytes {
                    let mut damaged = file.clone();
                    damaged[start + offset] = byte;
                    let name = format!("byte {byte:#x} at {start} + {offset}");
                    check(name, duration_reading(damaged, 4 << 20).await);
                }
            }
        }
        // A child of unknown size in the last Cluster: no duration.
        let mut open_child = file.clone();
        let child = last + 12 + 11;
        open_child[child + 1..child + 9]
            .copy_from_slice(&[0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]);
        assert_eq!(duration_reading(open_child, 4 << 20).await.0, None);
        // A child whose size runs past the end (a recording cut short): timed by the
        // blocks before it and its own head.
        let mut past = file.clone();
        let child = last + 12 + 11 + 3 * (512 * 1024 + 9);
        past[child + 1..child + 9]
            .copy_from_slice(&[0x01, 0x0F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE]);
        assert_eq!(duration_reading(past, 4 << 20).await.0, Some(1120));
        // Garbage after the last Cluster's Timecode; and 10,000 empty Clusters of unknown
        // size before it: the hops run out, no duration.
        let mut state = 0x2545_F491_u32;
        let garbage: Vec<u8> = (0..6 << 20)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                state.to_be_bytes()[0]
            })
            .collect();
        let mut noisy = file[..last + 12 + 11].to_vec();
        noisy.extend(&garbage);
        check("garbage".to_owned(), duration_reading(noisy, 4 << 20).await);
        // A last BlockGroup (with a BlockDuration after a 300 kB Block) damaged in its head,
        // its Block's head or its BlockDuration.
        let grouped = live_file_with_durations(12, false, Some(70));
        let group = grouped.len() - (9 + 9 + 300_000 + 10);
        assert_eq!(grouped[group], 0xA0, "a BlockGroup's id");
        for offset in (0..24)
            .map(|offset| group + offset)
            .chain(grouped.len() - 12..grouped.len())
        {
            for byte in [0x00, 0xFF] {
                let mut damaged = grouped.clone();
                damaged[offset] = byte;
                check(
                    format!("group: byte {byte:#x} at {offset}"),
                    duration_reading(damaged, 4 << 20).await,
                );
            }
        }
        let empty = open_element(CLUSTER, &element(CLUSTER_TIMECODE, &[0x10])).repeat(10_000);
        let many = [&file[..last], &empty, &file[last..]].concat();
        let (found, read) = duration_reading(many, 4 << 20).await;
        assert_eq!(found, None);
        assert!(read < bound, "{read} bytes read");
    }

    /// A live file (no Duration, a Segment of unknown size) whose Tracks give video 1 a
    /// DefaultDuration of 40 ms and sound 2 one of 20 ms, and whose one Cluster (sized or
    /// not) at 1000 ms holds `blocks` video SimpleBlocks of 512 KiB 40 ms apart, then a
    /// BlockGroup of sound 10 ms after the last, its Block 300 kB (so that a read of the
    /// group's head does not hold what follows it) and its BlockDuration `duration` (ms)
    /// when given.
    fn live_file_with_durations(blocks: i16, sized: bool, duration: Option<u8>) -> Vec<u8> {
        let info = element(INFO, &element(TIMECODE_SCALE, &1_000_000_u32.to_be_bytes()));
        let track = |number: u8, kind: u8, nanoseconds: u32| {
            element(
                TRACK_ENTRY,
                &[
                    element(TRACK_NUMBER, &[number]),
                    element(TRACK_TYPE, &[kind]),
                    element(TRACK_DEFAULT_DURATION, &nanoseconds.to_be_bytes()),
                ]
                .concat(),
            )
        };
        let tracks = element(
            TRACKS,
            &[track(1, 1, 40_000_000), track(2, 2, 20_000_000)].concat(),
        );
        let mut cluster = element(CLUSTER_TIMECODE, &1000_u16.to_be_bytes());
        for index in 0..blocks {
            cluster.extend(simple_block(1, index * 40, 512 * 1024));
        }
        let mut sound = vec![0x82];
        sound.extend(((blocks - 1) * 40 + 10).to_be_bytes());
        sound.push(0);
        sound.resize(300_000, 0x5A);
        let mut group = element(BLOCK, &sound);
        if let Some(duration) = duration {
            group.extend(element(BLOCK_DURATION, &[duration]));
        }
        cluster.extend(element(BLOCK_GROUP, &group));
        let cluster = if sized {
            element(CLUSTER, &cluster)
        } else {
            open_element(CLUSTER, &cluster)
        };
        let segment = [info, tracks, cluster].concat();
        [ebml_header(), open_element(SEGMENT, &segment)].concat()
    }

    #[tokio::test]
    async fn a_live_files_duration_counts_its_last_blocks_own_length() {
        // Each way the last Cluster is found: in the 4 MiB tail (4 blocks), walked from
        // its start within the search (12 blocks, 6 MiB), hopped to by its size or by its
        // children's (12 blocks, the search at 4 MiB).
        for (way, blocks, sized, search) in [
            ("tail", 4, false, 64 << 20),
            ("walk", 12, false, 64 << 20),
            ("hop sized", 12, true, 4 << 20),
            ("hop open", 12, false, 4 << 20),
        ] {
            let last_video = 1000 + (u64::try_from(blocks).expect("few") - 1) * 40;
            // The sound group's BlockDuration (70 ms) outlasts the last video frame.
            let file = live_file_with_durations(blocks, sized, Some(70));
            let found = duration_searching(file, search).await;
            assert_eq!(found, Some(last_video + 10 + 70), "{way}");
            // Without one, the sound's DefaultDuration (20 ms) ends before the video's
            // last frame (40 ms).
            let file = live_file_with_durations(blocks, sized, None);
            let found = duration_searching(file, search).await;
            assert_eq!(found, Some(last_video + 40), "{way}");
        }
        // A BlockDuration or DefaultDuration that lies (over a minute) is not believed.
        let durations = BlockDurations::new(&[(1, 40_000_000), (2, 61_000_000_000)], 1_000_000);
        assert_eq!(durations.default_of(Some(1)), 40);
        assert_eq!(durations.default_of(Some(2)), 0);
        assert_eq!(durations.default_of(None), 0);
        assert_eq!(durations.block_duration(70), Some(70));
        assert_eq!(durations.block_duration(u64::MAX), None);
    }

    /// The test files' Info (millisecond timecodes) and Tracks (audio 2, video 1).
    fn info_and_tracks() -> (Vec<u8>, Vec<u8>) {
        let info = element(INFO, &element(TIMECODE_SCALE, &1_000_000_u32.to_be_bytes()));
        let track = |number: u8, kind: u8| {
            element(
                TRACK_ENTRY,
                &[
                    element(TRACK_NUMBER, &[number]),
                    element(TRACK_TYPE, &[kind]),
                ]
                .concat(),
            )
        };
        let tracks = element(TRACKS, &[track(2, 2), track(1, 1)].concat());
        (info, tracks)
    }

    /// A Matroska file: SeekHead (to its Cues), Info, Tracks (audio 2, video 1), an audio
    /// Cluster at 0, a video Cluster at 3000 ms, Cues pointing the video track there.
    /// `cue_position` overrides the Cue's Cluster position.
    fn indexed_file(cue_position: Option<u64>) -> (Vec<u8>, std::ops::Range<u64>) {
        let (info, tracks) = info_and_tracks();
        let audio = element(
            CLUSTER,
            &[element(CLUSTER_TIMECODE, &[0]), simple_block(2, 0, 100_000)].concat(),
        );
        let video = element(
            CLUSTER,
            &[
                element(CLUSTER_TIMECODE, &3000_u16.to_be_bytes()),
                simple_block(1, 0, 50_000),
            ]
            .concat(),
        );
        // The SeekHead's size does not depend on the position it holds (8 bytes).
        let seek_head = |cues: u64| {
            element(
                SEEK_HEAD,
                &element(
                    SEEK,
                    &[
                        element(SEEK_ID, &CUES.to_be_bytes()),
                        element(SEEK_POSITION, &cues.to_be_bytes()),
                    ]
                    .concat(),
                ),
            )
        };
        let before_video = (seek_head(0).len() + info.len() + tracks.len() + audio.len()) as u64;
        let cues_position = before_video + video.len() as u64;
        let cues = element(
            CUES,
            &element(
                CUE_POINT,
                &[
                    element(CUE_TIME, &3000_u16.to_be_bytes()),
                    element(
                        CUE_TRACK_POSITIONS,
                        &[
                            element(CUE_TRACK, &[1]),
                            element(
                                CUE_CLUSTER_POSITION,
                                &cue_position.unwrap_or(before_video).to_be_bytes(),
                            ),
                        ]
                        .concat(),
                    ),
                ]
                .concat(),
            ),
        );
        let segment = [
            seek_head(cues_position),
            info,
            tracks,
            audio,
            video.clone(),
            cues,
        ]
        .concat();
        let header = ebml_header();
        let segment_start = (header.len() + 12) as u64;
        let start = segment_start + before_video;
        let file = [header, element(SEGMENT, &segment)].concat();
        (file, start..start + video.len() as u64)
    }

    async fn keyframe_of(bytes: Vec<u8>, at_ms: u64) -> Option<KeyframeCluster> {
        let size = bytes.len() as u64;
        let (objects, path) = stored(bytes).await;
        keyframe_cluster(&mut Window::new(&objects, &path, size), at_ms)
            .await
            .expect("read")
    }

    #[tokio::test]
    async fn the_video_keyframes_cluster_is_found_in_the_cues() {
        let (file, video) = indexed_file(None);
        let size = file.len() as u64;
        let found = keyframe_of(file.clone(), 500)
            .await
            .expect("the first video keyframe, after the frame's time");
        assert_eq!(found.cluster, video);
        assert_eq!(found.time_ms, 3000);
        assert_eq!(
            found.cues.map(|cues| cues.end),
            Some(size),
            "the Cues, last"
        );
        assert_eq!(
            keyframe_of(file, 5000).await.map(|found| found.time_ms),
            Some(3000),
            "the last keyframe at or before the frame's time"
        );
        // A Cue past the end, or pointing at something that is not a Cluster: none.
        let (file, _) = indexed_file(Some(u64::MAX / 2));
        assert_eq!(keyframe_of(file, 500).await, None);
        let (file, _) = indexed_file(Some(3));
        assert_eq!(keyframe_of(file, 500).await, None);
        // Cut before its Cues: none.
        let (file, video) = indexed_file(None);
        let cut = file[..usize::try_from(video.end).expect("small")].to_vec();
        assert_eq!(keyframe_of(cut, 500).await, None);
    }

    /// A SimpleBlock of `track` at `relative` ticks, a keyframe or not.
    fn block(track: u8, relative: i16, len: usize, keyframe: bool) -> Vec<u8> {
        let mut payload = vec![0x80 | track];
        payload.extend(relative.to_be_bytes());
        payload.push(if keyframe { 0x80 } else { 0 });
        payload.resize(len, 0x5A);
        element(SIMPLE_BLOCK, &payload)
    }

    /// A BlockGroup of `track` at `relative` ticks: its Block, and a ReferenceBlock (the
    /// frame before) unless it is a keyframe.
    fn group(track: u8, relative: i16, len: usize, keyframe: bool) -> Vec<u8> {
        let mut payload = vec![0x80 | track];
        payload.extend(relative.to_be_bytes());
        // A Block's flags have no keyframe bit.
        payload.push(0);
        payload.resize(len, 0x5A);
        let mut children = element(BLOCK, &payload);
        if !keyframe {
            children.extend(element(REFERENCE_BLOCK, &(-40_i8).to_be_bytes()));
        }
        element(BLOCK_GROUP, &children)
    }

    /// A live file (no Cues, a Segment of unknown size): Info, Tracks (audio 2, video 1),
    /// a sized Cluster at 0 ms (sound, a video keyframe, a frame at 400 ms), then two of
    /// unknown size, at 800 ms (sound, a keyframe, a frame at 1200 ms) and at 1600 ms (a
    /// keyframe); each block made by `make` (`block` or `group`). Returns the file and,
    /// for each Cluster, where it starts and where its video blocks end.
    fn live_file_with_keyframes_of(
        make: fn(u8, i16, usize, bool) -> Vec<u8>,
    ) -> (Vec<u8>, Vec<(u64, Vec<u64>)>) {
        let (info, tracks) = info_and_tracks();
        // Each Cluster's timecode, whether it is sized, and its blocks: track, relative
        // time, length, keyframe.
        type Blocks = Vec<(u8, i16, usize, bool)>;
        let clusters: [(u16, bool, Blocks); 3] = [
            (
                0,
                true,
                vec![
                    (2, 0, 1000, true),
                    (1, 0, 2000, true),
                    (1, 400, 2000, false),
                ],
            ),
            (
                800,
                false,
                vec![
                    (2, 0, 1000, true),
                    (1, 0, 3000, true),
                    (1, 400, 2000, false),
                ],
            ),
            (1600, false, vec![(1, 0, 3000, true)]),
        ];
        let header = ebml_header();
        let mut at = (header.len() + 12 + info.len() + tracks.len()) as u64;
        let mut segment = [info, tracks].concat();
        let mut layout = Vec::new();
        for (timecode, sized, blocks) in clusters {
            let timecode = element(CLUSTER_TIMECODE, &timecode.to_be_bytes());
            let mut ends = Vec::new();
            let mut end = at + 12 + timecode.len() as u64;
            let mut body = timecode;
            for (track, relative, len, keyframe) in blocks {
                let block = make(track, relative, len, keyframe);
                end += block.len() as u64;
                if track == 1 {
                    ends.push(end);
                }
                body.extend(block);
            }
            let cluster = if sized {
                element(CLUSTER, &body)
            } else {
                open_element(CLUSTER, &body)
            };
            layout.push((at, ends));
            at += cluster.len() as u64;
            segment.extend(cluster);
        }
        ([header, open_element(SEGMENT, &segment)].concat(), layout)
    }

    /// [`live_file_with_keyframes_of`] in SimpleBlocks.
    fn live_file_with_keyframes() -> (Vec<u8>, Vec<(u64, Vec<u64>)>) {
        live_file_with_keyframes_of(block)
    }

    async fn walked_keyframe_of(bytes: Vec<u8>, at_ms: u64, span: u64) -> Option<KeyframeCluster> {
        let size = bytes.len() as u64;
        let (objects, path) = stored(bytes).await;
        walked_keyframe_cluster(&mut Window::new(&objects, &path, size), at_ms, span)
            .await
            .expect("read")
    }

    #[tokio::test]
    async fn a_live_files_keyframe_cluster_is_found_by_walking_its_clusters() {
        let (file, clusters) = live_file_with_keyframes();
        let [
            (first, first_ends),
            (second, second_ends),
            (third, third_ends),
        ] = <[_; 3]>::try_from(clusters).expect("three");
        let found = |keyframe: Option<KeyframeCluster>| {
            keyframe.map(|found| (found.cluster, found.time_ms, found.frame_end))
        };
        // The keyframe at or before 1 s opens the second Cluster (of unknown size); the
        // frame at 1 s (at 1200 ms) ends after it.
        assert_eq!(
            found(walked_keyframe_of(file.clone(), 1000, u64::MAX).await),
            Some((second..second_ends[0], 800, Some(second_ends[1])))
        );
        assert_eq!(
            found(walked_keyframe_of(file.clone(), 0, u64::MAX).await),
            Some((first..first_ends[0], 0, Some(first_ends[0])))
        );
        // Past the last keyframe: the last one; the walk ends with the file.
        assert_eq!(
            found(walked_keyframe_of(file.clone(), 5000, u64::MAX).await),
            Some((third..third_ends[0], 1600, None))
        );
        // A walk over the first Cluster's length only: the second Cluster (at 800 ms, of
        // unknown size) is hopped to by the first's size and walked as far: its
        // keyframe, the nearest before the time.
        assert_eq!(
            found(walked_keyframe_of(file.clone(), 1000, second - first).await),
            Some((second..second_ends[0], 800, None))
        );
        // Before the second Cluster's time, the first's keyframe (no hop past the time).
        assert_eq!(
            found(walked_keyframe_of(file.clone(), 700, second - first).await),
            Some((first..first_ends[0], 0, None))
        );
        // Not even the first keyframe within the span: none.
        assert_eq!(walked_keyframe_of(file.clone(), 1000, 100).await, None);
        // Cut in the middle of the second Cluster: what was found before it.
        let cut = file[..usize::try_from(second_ends[0]).expect("small") - 10].to_vec();
        assert_eq!(
            found(walked_keyframe_of(cut, 1000, u64::MAX).await),
            Some((first..first_ends[0], 0, None))
        );
    }

    #[tokio::test]
    async fn a_walk_over_a_cut_or_damaged_live_file_ends_without_a_panic() {
        let (file, _) = live_file_with_keyframes();
        let size = file.len() as u64;
        for cut in (0..file.len()).step_by(7) {
            if let Some(found) = walked_keyframe_of(file[..cut].to_vec(), 1000, u64::MAX).await {
                assert!(found.cluster.end <= cut as u64, "cut at {cut}: {found:?}");
            }
        }
        for at in (0..file.len()).step_by(5) {
            for byte in [0x00, 0x01, 0xFF] {
                let mut damaged = file.clone();
                damaged[at] = byte;
                if let Some(found) = walked_keyframe_of(damaged, 1000, u64::MAX).await {
                    assert!(
                        found.cluster.start < found.cluster.end && found.cluster.end <= size,
                        "{byte} at {at}: {found:?}"
                    );
                }
            }
        }
    }

    #[tokio::test]
    async fn a_live_files_keyframe_in_a_block_group_is_found_by_walking_its_clusters() {
        // The same file with every block in a BlockGroup: a keyframe is a group without a
        // ReferenceBlock (a Block's flags do not say).
        let (file, clusters) = live_file_with_keyframes_of(group);
        let [
            (first, first_ends),
            (second, second_ends),
            (third, third_ends),
        ] = <[_; 3]>::try_from(clusters).expect("three");
        let found = |keyframe: Option<KeyframeCluster>| {
            keyframe.map(|found| (found.cluster, found.time_ms, found.frame_end))
        };
        assert_eq!(
            found(walked_keyframe_of(file.clone(), 1000, u64::MAX).await),
            Some((second..second_ends[0], 800, Some(second_ends[1])))
        );
        // The frame at 400 ms has a ReferenceBlock: not a keyframe, so the one at 0 is
        // taken for 500 ms.
        assert_eq!(
            found(walked_keyframe_of(file.clone(), 500, u64::MAX).await),
            Some((first..first_ends[0], 0, Some(second_ends[0])))
        );
        assert_eq!(
            found(walked_keyframe_of(file.clone(), 5000, u64::MAX).await),
            Some((third..third_ends[0], 1600, None))
        );
        assert_eq!(walked_keyframe_of(file.clone(), 1000, 100).await, None);

        // Groups that lie: a ReferenceBlock running past its group, a child of unknown
        // size, no Block, the Block of another track, a group of many tiny children
        // before a keyframe's: none of them a keyframe, no panic, bounded work.
        let (info, tracks) = info_and_tracks();
        let key = group(1, 0, 500, true);
        let payload = |group: &[u8]| group[9..].to_vec();
        let mut past = payload(&group(1, 0, 500, true));
        past.extend([0xFB, 0x88, 0x00]);
        let mut open = payload(&group(1, 0, 500, true));
        open.extend([0xFB, 0xFF, 0x00]);
        let no_block = element(REFERENCE_BLOCK, &[0x00]);
        let other_track = payload(&group(2, 0, 500, true));
        let voids = [0xEC, 0x80].repeat(100_000);
        for (name, lying) in [
            ("past", past),
            ("open", open),
            ("no block", no_block),
            ("other track", other_track),
            ("voids", [voids, payload(&key)].concat()),
        ] {
            let cluster = [
                element(CLUSTER_TIMECODE, &[0]),
                element(BLOCK_GROUP, &lying),
            ]
            .concat();
            let segment = [info.clone(), tracks.clone(), element(CLUSTER, &cluster)].concat();
            let file = [ebml_header(), open_element(SEGMENT, &segment)].concat();
            assert_eq!(walked_keyframe_of(file, 0, u64::MAX).await, None, "{name}");
        }
    }

    #[tokio::test]
    async fn a_walk_over_a_cut_or_damaged_file_of_block_groups_ends_without_a_panic() {
        let (file, _) = live_file_with_keyframes_of(group);
        let size = file.len() as u64;
        for cut in (0..file.len()).step_by(7) {
            if let Some(found) = walked_keyframe_of(file[..cut].to_vec(), 1000, u64::MAX).await {
                assert!(found.cluster.end <= cut as u64, "cut at {cut}: {found:?}");
            }
        }
        for at in (0..file.len()).step_by(5) {
            for byte in [0x00, 0x01, 0xFB, 0xFF] {
                let mut damaged = file.clone();
                damaged[at] = byte;
                if let Some(found) = walked_keyframe_of(damaged, 1000, u64::MAX).await {
                    assert!(
                        found.cluster.start < found.cluster.end && found.cluster.end <= size,
                        "{byte} at {at}: {found:?}"
                    );
                }
            }
        }
    }

    /// A live file (no Cues, a Segment of unknown size) of `clusters` sized Clusters 100 ms
    /// apart, each a video block (a keyframe in every `keyframes`-th) and 100 kB of sound.
    /// Returns the file and where each Cluster starts.
    fn live_file_of_many_clusters(clusters: u16, keyframes: u16) -> (Vec<u8>, Vec<u64>) {
        live_file_of_many_clusters_sized(clusters, keyframes, true)
    }

    /// [`live_file_of_many_clusters`], its Clusters of unknown size unless `sized`.
    fn live_file_of_many_clusters_sized(
        clusters: u16,
        keyframes: u16,
        sized: bool,
    ) -> (Vec<u8>, Vec<u64>) {
        let (info, tracks) = info_and_tracks();
        let header = ebml_header();
        let mut at = (header.len() + 12 + info.len() + tracks.len()) as u64;
        let mut segment = [info, tracks].concat();
        let mut starts = Vec::new();
        for index in 0..clusters {
            let body = [
                element(CLUSTER_TIMECODE, &(index * 100).to_be_bytes()),
                block(1, 0, 3000, index % keyframes == 0),
                block(2, 0, 100_000, true),
            ]
            .concat();
            let cluster = if sized {
                element(CLUSTER, &body)
            } else {
                open_element(CLUSTER, &body)
            };
            starts.push(at);
            at += cluster.len() as u64;
            segment.extend(cluster);
        }
        ([header, open_element(SEGMENT, &segment)].concat(), starts)
    }

    /// The keyframe a walk over `span` finds for `at_ms`, and the bytes it read.
    async fn walked_keyframe_reading(
        bytes: &[u8],
        at_ms: u64,
        span: u64,
    ) -> (Option<KeyframeCluster>, u64) {
        use crate::analyze::waveform::tests::Counting;
        let objects = Counting {
            inner: object_store::memory::InMemory::new(),
            bytes: 0.into(),
            reads: 0.into(),
        };
        let path = object_store::path::Path::from("file");
        object_store::ObjectStoreExt::put(&objects.inner, &path, bytes.to_vec().into())
            .await
            .expect("stored");
        let found = walked_keyframe_cluster(
            &mut Window::new(&objects, &path, bytes.len() as u64),
            at_ms,
            span,
        )
        .await
        .expect("read");
        (
            found,
            objects.bytes.load(std::sync::atomic::Ordering::Relaxed),
        )
    }

    #[tokio::test]
    async fn a_keyframe_beyond_the_span_of_the_walk_is_reached_by_hopping_the_clusters() {
        // 50 Clusters of 103 kB (5 MB), a keyframe every second (10 Clusters).
        let (file, starts) = live_file_of_many_clusters(50, 10);
        let size = file.len() as u64;
        // The Cluster's header, its Timecode, the video block.
        let keyframe_at = |index: usize| starts[index]..starts[index] + 12 + 11 + 9 + 3000;
        let found = |keyframe: &Option<KeyframeCluster>| {
            keyframe
                .as_ref()
                .map(|found| (found.cluster.clone(), found.time_ms))
        };
        // Walked over 150 kB from the first Cluster, only its keyframe is seen; hopped
        // to the Cluster at 3.3 s and walked back from it, the keyframe at 3 s.
        let (keyframe, read) = walked_keyframe_reading(&file, 3350, 150_000).await;
        assert_eq!(found(&keyframe), Some((keyframe_at(30), 3000)));
        println!("{read} bytes of {size} read");
        assert!(read < 1024 * 1024, "{read} bytes of {size} read");
        // At a keyframe's own Cluster, that one.
        let (keyframe, _) = walked_keyframe_reading(&file, 2000, 150_000).await;
        assert_eq!(found(&keyframe), Some((keyframe_at(20), 2000)));
        // No keyframe within the walks back from there (four Clusters): the first walk's.
        let (keyframe, _) = walked_keyframe_reading(&file, 2450, 150_000).await;
        assert_eq!(found(&keyframe), Some((keyframe_at(0), 0)));
        // A span that covers the time: walked as before, never hopped.
        let (keyframe, _) = walked_keyframe_reading(&file, 500, 2_000_000).await;
        assert_eq!(found(&keyframe), Some((keyframe_at(0), 0)));

        // Clusters of unknown size (as a browser writes them): each hopped over by its
        // children's sizes (one read of a header each).
        let (file, starts) = live_file_of_many_clusters_sized(50, 10, false);
        let keyframe_at = |index: usize| starts[index]..starts[index] + 12 + 11 + 9 + 3000;
        let (keyframe, read) = walked_keyframe_reading(&file, 3350, 150_000).await;
        assert_eq!(found(&keyframe), Some((keyframe_at(30), 3000)));
        println!("{read} bytes of {size} read (Clusters of unknown size)");
        assert!(read < 1024 * 1024, "{read} bytes of {size} read");
        // Too many children to hop over (1,000 tiny Voids before each Cluster's blocks):
        // the hops stop after four Clusters, none with a keyframe, so the first walk's
        // keyframe (not the one at 1 s), and no more work.
        let (info, tracks) = info_and_tracks();
        let mut segment = [info, tracks].concat();
        for index in 0..20_u16 {
            let body = [
                element(CLUSTER_TIMECODE, &(index * 100).to_be_bytes()),
                [0xEC, 0x80].repeat(1000),
                block(1, 0, 3000, index % 10 == 0),
                block(2, 0, 100_000, true),
            ]
            .concat();
            segment.extend(open_element(CLUSTER, &body));
        }
        let file = [ebml_header(), open_element(SEGMENT, &segment)].concat();
        let (keyframe, _) = walked_keyframe_reading(&file, 1200, 150_000).await;
        assert_eq!(keyframe.map(|found| found.time_ms), Some(0));
    }

    #[tokio::test]
    async fn hops_over_clusters_that_lie_end_without_a_panic() {
        let (file, starts) = live_file_of_many_clusters(30, 10);
        let at = |index: usize| usize::try_from(starts[index]).expect("small");
        // A Cluster's size past the end, of unknown size, a Timecode that goes back, and
        // one byte changed anywhere in the Clusters' heads.
        let mut past = file.clone();
        past[at(5) + 4..at(5) + 12]
            .copy_from_slice(&[0x01, 0x0F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE]);
        let mut open = file.clone();
        open[at(5) + 4..at(5) + 12].fill(0xFF);
        open[at(5) + 4] = 0x01;
        let mut back = file.clone();
        back[at(12) + 15..at(12) + 17].copy_from_slice(&100_u16.to_be_bytes());
        for (name, bytes) in [("past", past), ("open", open), ("back", back)] {
            let (keyframe, _) = walked_keyframe_reading(&bytes, 2350, 150_000).await;
            let keyframe = keyframe.unwrap_or_else(|| panic!("{name}: the first walk's"));
            assert!(keyframe.time_ms <= 2350, "{name}: {keyframe:?}");
        }
        // Also with Clusters of unknown size, hopped over by their children: a byte
        // changed in a Cluster's head or a block's.
        let (open_file, open_starts) = live_file_of_many_clusters_sized(30, 10, false);
        for index in [3, 10, 20] {
            let start = usize::try_from(open_starts[index]).expect("small");
            for offset in (0..40).chain(3030..3045) {
                for byte in [0x00, 0x01, 0xFF] {
                    let mut damaged = open_file.clone();
                    damaged[start + offset] = byte;
                    let (keyframe, _) = walked_keyframe_reading(&damaged, 2350, 150_000).await;
                    if let Some(found) = keyframe {
                        assert!(found.cluster.end <= open_file.len() as u64, "{found:?}");
                    }
                }
            }
        }
        for index in [3, 10, 20] {
            for offset in 0..20 {
                for byte in [0x00, 0x01, 0xFF] {
                    let mut damaged = file.clone();
                    damaged[at(index) + offset] = byte;
                    let (keyframe, _) = walked_keyframe_reading(&damaged, 2350, 150_000).await;
                    if let Some(found) = keyframe {
                        assert!(found.cluster.end <= file.len() as u64, "{found:?}");
                    }
                }
            }
        }
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
