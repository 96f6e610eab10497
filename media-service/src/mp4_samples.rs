//! Where the first frames of an MP4's (or QuickTime file's) first video track lie in the
//! file, read from its `moov` box (its index): the byte ranges of the track's first
//! samples, from the first one through the frame a preview takes (ADR 0034, amended).
//!
//! The bounded copy of a large S3-stored file for ffmpeg (`crate::frames`) holds its head
//! and its `moov`; the samples a frame needs may lie beyond that head (the index at the
//! end and a video that starts after seconds of audio, or an `mdat` that opens with a
//! large chunk of another track). Those ranges are copied too, at their offsets.
//!
//! Read from the sample table (`stbl`): the chunks' offsets (`stco`, or `co64` for 64-bit
//! ones), the samples per chunk (`stsc`), the samples' sizes (`stsz`) and their decode
//! times (`stts`); the track's timescale (`mdhd`) and where its edit list starts it in its
//! media (`elst`). Parsed defensively: every read is checked against the box it is in
//! (a count claiming more entries than its box holds ends the walk there), at most
//! [`MAX_SAMPLES`] samples are looked at and [`MAX_RANGES`] ranges kept, and the bytes
//! beyond the head are bounded by a budget; anything that does not parse gives `None`,
//! and the copy is made as before.
//!
//! Not done: compact sample sizes (`stz2`), fragmented MP4 (`moof`: its samples are
//! described outside `moov`), a track's samples in another file (data references).

use std::ops::Range;

use crate::analyze::{be_u32, be_u64, boxes};

/// Samples of the track looked at, at most (a second of video is a few dozen).
const MAX_SAMPLES: usize = 4096;
/// Samples taken past the frame's time: a decoder's reordering delay (H.264's is at
/// most 16 frames).
const REORDER_SAMPLES: usize = 16;
/// Byte ranges kept, at most (one ranged read of the object each).
pub(crate) const MAX_RANGES: usize = 64;
/// Two ranges less than this apart are read as one (the gap counts in the budget):
/// another track's small chunks between video samples.
const MERGE_GAP: u64 = 64 * 1024;

/// What to copy for a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SamplePlan {
    /// Byte ranges of the file to copy, none of them inside the head already copied;
    /// ascending when the samples are.
    pub(crate) ranges: Vec<Range<u64>>,
    /// Whether they reach past the frame's time (with the reordering margin, or the
    /// track's end); if not (the budget or a bound stopped the walk), they hold the
    /// track's first frames only and the preview should take the first.
    pub(crate) reaches_frame_time: bool,
}

/// The bounds of a plan.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PlanLimits {
    /// The frame's time from the start, in milliseconds.
    pub(crate) at_ms: u64,
    /// The bytes from 0 to this are copied already (the head).
    pub(crate) head: u64,
    /// The file's size: a sample past it means a broken index.
    pub(crate) size: u64,
    /// Most bytes the ranges may hold.
    pub(crate) budget: u64,
}

/// The ranges of the first video track's samples through `limits.at_ms`, given the
/// whole `moov` box (with its header); `None` when there is no video track, its table
/// does not parse, or its first sample is not within the budget.
pub(crate) fn first_video_samples(moov_box: &[u8], limits: PlanLimits) -> Option<SamplePlan> {
    let (kind, moov) = boxes(moov_box).into_iter().next()?;
    if kind != b"moov" {
        return None;
    }
    let track = first_video_track(moov)?;
    plan(&track, limits)
}

/// The payload of the first child of `payload` of type `kind`.
fn child<'a>(payload: &'a [u8], kind: &[u8; 4]) -> Option<&'a [u8]> {
    boxes(payload)
        .into_iter()
        .find(|(child, _)| *child == kind)
        .map(|(_, payload)| payload)
}

/// The parts of a video track's sample table a plan reads (payloads of full boxes:
/// version and flags first).
struct Track<'a> {
    timescale: u32,
    /// Where the track's presentation starts in its media (`elst`), in its timescale.
    media_start: u64,
    /// `stco` (32-bit offsets) or `co64`.
    chunk_offsets: ChunkOffsets<'a>,
    stsc: &'a [u8],
    stsz: &'a [u8],
    stts: &'a [u8],
}

enum ChunkOffsets<'a> {
    Short(&'a [u8]),
    Long(&'a [u8]),
}

impl ChunkOffsets<'_> {
    /// The offset of chunk `index` (from 0), if the table has it.
    fn get(&self, index: u32) -> Option<u64> {
        let (table, width) = match self {
            Self::Short(table) => (*table, 4),
            Self::Long(table) => (*table, 8),
        };
        if index >= be_u32(table, 4)? {
            return None;
        }
        let at = usize::try_from(index)
            .ok()?
            .checked_mul(width)?
            .checked_add(8)?;
        match self {
            Self::Short(_) => be_u32(table, at).map(u64::from),
            Self::Long(_) => be_u64(table, at),
        }
    }
}

/// The first track whose handler is `vide` (ffmpeg's `0:v:0`), parsed; `None` when there
/// is none or its table is incomplete.
fn first_video_track(moov: &[u8]) -> Option<Track<'_>> {
    let (trak, mdia) = boxes(moov)
        .into_iter()
        .filter(|(kind, _)| *kind == b"trak")
        .find_map(|(_, trak)| {
            let mdia = child(trak, b"mdia")?;
            let hdlr = child(mdia, b"hdlr")?;
            (hdlr.get(8..12)? == b"vide").then_some((trak, mdia))
        })?;
    let mdhd = child(mdia, b"mdhd")?;
    let timescale = if mdhd.first() == Some(&1) {
        be_u32(mdhd, 20)?
    } else {
        be_u32(mdhd, 12)?
    };
    if timescale == 0 {
        return None;
    }
    let stbl = child(child(mdia, b"minf")?, b"stbl")?;
    let chunk_offsets = match (child(stbl, b"stco"), child(stbl, b"co64")) {
        (Some(stco), _) => ChunkOffsets::Short(stco),
        (None, Some(co64)) => ChunkOffsets::Long(co64),
        (None, None) => return None,
    };
    Some(Track {
        timescale,
        media_start: media_start(trak),
        chunk_offsets,
        stsc: child(stbl, b"stsc")?,
        stsz: child(stbl, b"stsz")?,
        stts: child(stbl, b"stts")?,
    })
}

/// Where the first edit that is not empty starts in the track's media (0 without an
/// edit list, or when it does not parse): the frame's time counts from there.
fn media_start(trak: &[u8]) -> u64 {
    let Some(elst) = child(trak, b"edts").and_then(|edts| child(edts, b"elst")) else {
        return 0;
    };
    let long = elst.first() == Some(&1);
    let (entry_len, time_at) = if long { (20, 8) } else { (12, 4) };
    let count = be_u32(elst, 4).unwrap_or(0).min(64) as usize;
    for entry in 0..count {
        let at = 8 + entry * entry_len + time_at;
        // Signed: -1 is an empty edit (a delay before the media starts).
        let media_time = if long {
            be_u64(elst, at).map(|time| time as i64)
        } else {
            be_u32(elst, at).map(|time| i64::from(time as i32))
        };
        match media_time {
            Some(time) if time >= 0 => return time as u64,
            Some(_) => continue,
            None => return 0,
        }
    }
    0
}

/// Walks the track's first samples in decode order, gathering their byte ranges.
fn plan(track: &Track<'_>, limits: PlanLimits) -> Option<SamplePlan> {
    let sample_count = be_u32(track.stsz, 8)?;
    let constant_size = be_u32(track.stsz, 4)?;
    let stsc_count = be_u32(track.stsc, 4)?;
    let stts_count = be_u32(track.stts, 4)?;
    // The frame's time in the track's media time.
    let at = limits
        .at_ms
        .saturating_mul(u64::from(track.timescale))
        .div_euclid(1000)
        .saturating_add(track.media_start);

    let mut ranges: Vec<Range<u64>> = Vec::new();
    let mut total = 0_u64;
    // The chunk (from 0), its stsc entry, its samples and where the next sample is.
    let mut chunk = 0_u32;
    let mut stsc_entry = 0_u32;
    let mut in_chunk = 0_u32;
    let mut position = track.chunk_offsets.get(0)?;
    // Decode time, and the stts entry with the samples left in it.
    let mut time = 0_u64;
    let mut stts_entry = 0_u32;
    let mut stts_left = stts_entry_at(track.stts, 0, stts_count).map_or(0, |(count, _)| count);
    let mut past_time = 0_usize;

    advance_stsc(track.stsc, stsc_count, chunk, &mut stsc_entry)?;
    let limit = usize::try_from(sample_count)
        .unwrap_or(usize::MAX)
        .min(MAX_SAMPLES);
    for sample in 0..limit {
        if in_chunk >= stsc_samples_per_chunk(track.stsc, stsc_entry)? {
            chunk = chunk.checked_add(1)?;
            in_chunk = 0;
            position = track.chunk_offsets.get(chunk)?;
            advance_stsc(track.stsc, stsc_count, chunk, &mut stsc_entry)?;
            if stsc_samples_per_chunk(track.stsc, stsc_entry)? == 0 {
                return None;
            }
        }
        let sample_size = if constant_size != 0 {
            constant_size
        } else {
            be_u32(track.stsz, 12_usize.checked_add(sample.checked_mul(4)?)?)?
        };
        let start = position;
        let end = start.checked_add(u64::from(sample_size))?;
        if end > limits.size {
            // An index that points past the file: none of it is trusted.
            return None;
        }
        if time > at {
            past_time += 1;
            if past_time > REORDER_SAMPLES {
                return Some(SamplePlan {
                    ranges,
                    reaches_frame_time: true,
                });
            }
        }
        // Its bytes beyond the head, merged with the last range when near it.
        if end > limits.head {
            let start = start.max(limits.head);
            let merged = ranges.last().is_some_and(|last| {
                start >= last.start && start <= last.end.saturating_add(MERGE_GAP)
            });
            let added = match ranges.last() {
                Some(last) if merged => end.saturating_sub(last.end),
                _ => end - start,
            };
            if total.saturating_add(added) > limits.budget
                || (!merged && ranges.len() >= MAX_RANGES)
            {
                // Not all of them fit: the first frames only, if the first sample is in.
                return (sample > 0).then_some(SamplePlan {
                    ranges,
                    reaches_frame_time: false,
                });
            }
            total += added;
            match ranges.last_mut() {
                Some(last) if merged => last.end = last.end.max(end),
                _ => ranges.push(start..end),
            }
        }
        position = end;
        in_chunk += 1;
        // The next sample's decode time.
        while stts_left == 0 && stts_entry + 1 < stts_count {
            stts_entry += 1;
            match stts_entry_at(track.stts, stts_entry, stts_count) {
                Some((count, _)) => stts_left = count,
                None => break,
            }
        }
        let delta = stts_entry_at(track.stts, stts_entry, stts_count).map_or(0, |(_, delta)| delta);
        time = time.saturating_add(u64::from(delta));
        stts_left = stts_left.saturating_sub(1);
    }
    // The track's end (all its samples are in), or the bound on samples looked at.
    Some(SamplePlan {
        ranges,
        reaches_frame_time: limit == usize::try_from(sample_count).unwrap_or(usize::MAX)
            || past_time > 0,
    })
}

/// Moves `entry` to the stsc entry that covers `chunk` (from 0).
fn advance_stsc(stsc: &[u8], count: u32, chunk: u32, entry: &mut u32) -> Option<()> {
    while *entry + 1 < count && stsc_first_chunk(stsc, *entry + 1)?.saturating_sub(1) <= chunk {
        *entry += 1;
    }
    Some(())
}

/// `(sample_count, sample_delta)` of stts entry `entry`, if the table has it.
fn stts_entry_at(stts: &[u8], entry: u32, count: u32) -> Option<(u32, u32)> {
    if entry >= count {
        return None;
    }
    let at = 8_usize.checked_add(usize::try_from(entry).ok()?.checked_mul(8)?)?;
    Some((be_u32(stts, at)?, be_u32(stts, at + 4)?))
}

/// The first chunk (from 1) of stsc entry `entry`.
fn stsc_first_chunk(stsc: &[u8], entry: u32) -> Option<u32> {
    be_u32(
        stsc,
        8_usize.checked_add(usize::try_from(entry).ok()?.checked_mul(12)?)?,
    )
}

/// The samples per chunk of stsc entry `entry`.
fn stsc_samples_per_chunk(stsc: &[u8], entry: u32) -> Option<u32> {
    be_u32(
        stsc,
        12_usize.checked_add(usize::try_from(entry).ok()?.checked_mul(12)?)?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boxed(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut out = u32::try_from(payload.len() + 8)
            .expect("small")
            .to_be_bytes()
            .to_vec();
        out.extend(kind);
        out.extend(payload);
        out
    }

    /// A box with a 64-bit size (`size` 1, then the size after the type).
    fn boxed_long(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut out = 1_u32.to_be_bytes().to_vec();
        out.extend(kind);
        out.extend((payload.len() as u64 + 16).to_be_bytes());
        out.extend(payload);
        out
    }

    /// A full box: version, three bytes of flags, then `body`.
    fn full(kind: &[u8; 4], version: u8, body: &[u8]) -> Vec<u8> {
        boxed(kind, &[&[version, 0, 0, 0][..], body].concat())
    }

    fn words(values: &[u32]) -> Vec<u8> {
        values
            .iter()
            .flat_map(|value| value.to_be_bytes())
            .collect()
    }

    /// A track's description.
    struct Spec {
        handler: &'static [u8; 4],
        timescale: u32,
        /// `(sample_count, delta)`.
        stts: Vec<(u32, u32)>,
        /// `(first_chunk, samples_per_chunk)`.
        stsc: Vec<(u32, u32)>,
        /// Each sample's size, or one size for all of `count`.
        sizes: Sizes,
        offsets: Vec<u64>,
        long_offsets: bool,
        /// `(segment_duration, media_time)`.
        edits: Vec<(u32, i32)>,
        /// `mdhd` version 1 (64-bit times).
        mdhd_v1: bool,
    }

    enum Sizes {
        Each(Vec<u32>),
        All { size: u32, count: u32 },
    }

    impl Spec {
        /// A video of 10 frames a second (timescale 1000): `samples` of `1000 + i` bytes,
        /// two samples in the first two chunks, then one a chunk; chunk `c` at
        /// `start + c * spacing`.
        fn video(samples: u32, start: u64, spacing: u64) -> Self {
            let chunks = 2 + samples.saturating_sub(4);
            Self {
                handler: b"vide",
                timescale: 1000,
                stts: vec![(samples, 100)],
                stsc: vec![(1, 2), (3, 1)],
                sizes: Sizes::Each((0..samples).map(|index| 1000 + index).collect()),
                offsets: (0..u64::from(chunks))
                    .map(|chunk| start + chunk * spacing)
                    .collect(),
                long_offsets: false,
                edits: Vec::new(),
                mdhd_v1: false,
            }
        }

        fn trak(&self) -> Vec<u8> {
            let mdhd = if self.mdhd_v1 {
                full(
                    b"mdhd",
                    1,
                    &[
                        &[0_u8; 16][..],
                        words(&[self.timescale]).as_slice(),
                        &[0_u8; 12][..],
                    ]
                    .concat(),
                )
            } else {
                full(
                    b"mdhd",
                    0,
                    &[
                        &[0_u8; 8][..],
                        words(&[self.timescale]).as_slice(),
                        &[0_u8; 8][..],
                    ]
                    .concat(),
                )
            };
            let hdlr = full(
                b"hdlr",
                0,
                &[&[0_u8; 4][..], &self.handler[..], &[0_u8; 13][..]].concat(),
            );
            let stts = full(
                b"stts",
                0,
                &[
                    words(&[self.stts.len() as u32]),
                    self.stts
                        .iter()
                        .flat_map(|(count, delta)| words(&[*count, *delta]))
                        .collect(),
                ]
                .concat(),
            );
            let stsc = full(
                b"stsc",
                0,
                &[
                    words(&[self.stsc.len() as u32]),
                    self.stsc
                        .iter()
                        .flat_map(|(first, per_chunk)| words(&[*first, *per_chunk, 1]))
                        .collect(),
                ]
                .concat(),
            );
            let stsz = match &self.sizes {
                Sizes::Each(sizes) => full(
                    b"stsz",
                    0,
                    &[words(&[0, sizes.len() as u32]), words(sizes)].concat(),
                ),
                Sizes::All { size, count } => full(b"stsz", 0, &words(&[*size, *count])),
            };
            let offsets = if self.long_offsets {
                full(
                    b"co64",
                    0,
                    &[
                        words(&[self.offsets.len() as u32]),
                        self.offsets
                            .iter()
                            .flat_map(|offset| offset.to_be_bytes())
                            .collect(),
                    ]
                    .concat(),
                )
            } else {
                full(
                    b"stco",
                    0,
                    &[
                        words(&[self.offsets.len() as u32]),
                        self.offsets
                            .iter()
                            .flat_map(|offset| {
                                u32::try_from(*offset).expect("32-bit").to_be_bytes()
                            })
                            .collect(),
                    ]
                    .concat(),
                )
            };
            // A 64-bit size on the sample table, as some muxers write.
            let stbl = boxed_long(b"stbl", &[stts, stsc, stsz, offsets].concat());
            let minf = boxed(b"minf", &stbl);
            let mdia = boxed(b"mdia", &[mdhd, hdlr, minf].concat());
            let edts = if self.edits.is_empty() {
                Vec::new()
            } else {
                boxed(
                    b"edts",
                    &full(
                        b"elst",
                        0,
                        &[
                            words(&[self.edits.len() as u32]),
                            self.edits
                                .iter()
                                .flat_map(|(duration, time)| {
                                    words(&[*duration, *time as u32, 0x0001_0000])
                                })
                                .collect(),
                        ]
                        .concat(),
                    ),
                )
            };
            boxed(b"trak", &[edts, mdia].concat())
        }
    }

    fn moov(tracks: &[&Spec]) -> Vec<u8> {
        let mvhd = full(b"mvhd", 0, &[0; 96]);
        let traks: Vec<u8> = tracks.iter().flat_map(|track| track.trak()).collect();
        boxed(b"moov", &[mvhd, traks].concat())
    }

    fn audio() -> Spec {
        Spec {
            handler: b"soun",
            sizes: Sizes::All {
                size: 4,
                count: 48_000,
            },
            stts: vec![(48_000, 1)],
            stsc: vec![(1, 48_000)],
            offsets: vec![40],
            ..Spec::video(0, 0, 0)
        }
    }

    fn limits(at_ms: u64, head: u64, budget: u64) -> PlanLimits {
        PlanLimits {
            at_ms,
            head,
            size: 1 << 40,
            budget,
        }
    }

    #[test]
    fn the_first_video_tracks_samples_through_the_frames_time_are_found_in_its_table() {
        // Chunks 100 kB apart (audio between them): a range each.
        let video = Spec::video(100, 300_000, 100_000);
        let index = moov(&[&audio(), &video]);
        let plan = first_video_samples(&index, limits(200, 1000, 1 << 30)).expect("a plan");
        // Times 0, 100, 200 are at most 200 ms; then 16 more for reordering: 19 samples,
        // two in each of the first two chunks, then one a chunk.
        assert!(plan.reaches_frame_time);
        assert_eq!(plan.ranges.len(), 17, "{:?}", plan.ranges);
        assert_eq!(plan.ranges[0], 300_000..300_000 + 1000 + 1001);
        assert_eq!(plan.ranges[1], 400_000..400_000 + 1002 + 1003);
        assert_eq!(plan.ranges[2], 500_000..500_000 + 1004);
        assert_eq!(plan.ranges[16], 1_900_000..1_900_000 + 1018);

        // The frame's time counts from where the edit list starts the media: 300 ms
        // later, three samples more.
        let edited = Spec {
            edits: vec![(500, -1), (10_000, 300)],
            ..Spec::video(100, 300_000, 100_000)
        };
        let plan =
            first_video_samples(&moov_of(&edited), limits(200, 1000, 1 << 30)).expect("a plan");
        assert_eq!(plan.ranges.len(), 20);

        // A short track: all its samples.
        let short = Spec::video(5, 300_000, 100_000);
        let plan = first_video_samples(&moov_of(&short), limits(1000, 0, 1 << 30)).expect("a plan");
        assert!(plan.reaches_frame_time);
        assert_eq!(plan.ranges.len(), 3);

        // No video track: nothing.
        assert_eq!(
            first_video_samples(&moov(&[&audio()]), limits(0, 0, 1 << 30)),
            None
        );
    }

    fn moov_of(video: &Spec) -> Vec<u8> {
        moov(&[video])
    }

    #[test]
    fn samples_in_the_head_are_left_out_and_near_ones_read_as_one_range() {
        // Contiguous chunks (spacing = two samples' bytes, about): one range, from the
        // end of the head.
        let video = Spec {
            long_offsets: true,
            mdhd_v1: true,
            ..Spec::video(30, 10_000, 2100)
        };
        let plan =
            first_video_samples(&moov_of(&video), limits(0, 12_000, 1 << 30)).expect("a plan");
        // Times 0 then 16 more: 17 samples, the last in chunk 14 (from 0).
        assert_eq!(plan.ranges, vec![12_000..10_000 + 14 * 2100 + 1016]);
        assert!(plan.reaches_frame_time);

        // All within the head: nothing to copy.
        let plan =
            first_video_samples(&moov_of(&video), limits(0, 1 << 20, 1 << 30)).expect("a plan");
        assert_eq!(plan.ranges, Vec::<Range<u64>>::new());
    }

    #[test]
    fn a_budget_too_small_for_the_frames_time_keeps_the_first_frames_only() {
        let video = Spec::video(100, 300_000, 100_000);
        let moov = moov_of(&video);
        let plan = first_video_samples(&moov, limits(1000, 0, 5000)).expect("a plan");
        assert!(!plan.reaches_frame_time);
        assert_eq!(plan.ranges, vec![300_000..302_001, 400_000..402_005]);
        // Not even the first sample: no plan (the copy is made as before).
        assert_eq!(first_video_samples(&moov, limits(1000, 0, 999)), None);
        // More ranges than allowed: cut there too.
        let plan = first_video_samples(&moov, limits(100_000, 0, 1 << 30)).expect("a plan");
        assert!(!plan.reaches_frame_time);
        assert_eq!(plan.ranges.len(), MAX_RANGES);
    }

    #[test]
    fn broken_tables_give_no_plan_and_never_a_panic() {
        let video = Spec::video(100, 300_000, 100_000);
        let moov = moov_of(&video);
        // A sample past the file's end.
        assert_eq!(
            first_video_samples(
                &moov,
                PlanLimits {
                    size: 400_000,
                    ..limits(200, 0, 1 << 30)
                }
            ),
            None
        );
        // Counts that claim more than their boxes hold, samples per chunk of 0.
        let claims = Spec {
            sizes: Sizes::All {
                size: 10,
                count: u32::MAX,
            },
            stts: vec![(0, 0); 3],
            offsets: vec![300_000],
            ..Spec::video(0, 0, 0)
        };
        let plan = first_video_samples(&moov_of(&claims), limits(200, 0, 1 << 30));
        assert_eq!(plan, None, "one chunk of two samples, then no chunk");
        let zero = Spec {
            stsc: vec![(1, 0)],
            ..Spec::video(100, 300_000, 100_000)
        };
        assert_eq!(
            first_video_samples(&moov_of(&zero), limits(200, 0, 1 << 30)),
            None
        );
        // Every truncation and every byte replaced: whatever comes out, no panic.
        for cut in 0..moov.len() {
            let _ = first_video_samples(&moov[..cut], limits(200, 0, 1 << 30));
        }
        for at in 0..moov.len() {
            for value in [0x00, 0x01, 0x7F, 0xFF] {
                let mut damaged = moov.clone();
                damaged[at] = value;
                let _ = first_video_samples(&damaged, limits(200, 0, 1 << 30));
            }
        }
    }
}
