//! A voice note's waveform, as Telegram shows it: 100 values of 0..=31, computed from the
//! decoded Opus audio the way Telegram's own clients compute it (the peak of each of 100
//! equal slices, scaled against 1.8 × the slices' mean peak, at least 2500, and clipped).
//! Telegram packs the values 5 bits each when a voice is sent (`libs/telegram`); the
//! store keeps one value a byte.
//!
//! The Ogg pages are read in ranges of [`READ_BYTES`] and decoded as they come, off the
//! async runtime, so memory stays bounded whatever the file's size. At most
//! [`MAX_DECODED_SECONDS`] are decoded: a longer recording's waveform covers it whole,
//! each of its 100 slices drawn from its first hundredth of that (6 s), the packets of
//! the rest of the slice counted (their length read from their table of contents) and not
//! decoded, the decoder reset [`PRE_ROLL_SAMPLES`] before the next drawn part. At most
//! [`MAX_READ_BYTES`] of the file are read in order (some three hours at 32 kbit/s).
//!
//! The slices beyond are found by seeking ([`Seeking`], through [`PageSearch`], shared
//! with the preview of a large Ogg video), not by reading what lies before them: the page where a slice's drawn part (less the pre-roll) starts is found by a
//! bisection on the granule positions of pages found at probed offsets (a few KiB read
//! there, the first page of the stream after it checked: capture pattern, version,
//! lengths, CRC, serial), each probe placed by the byte rate between the pages known
//! around it at first, then halving the range; from that page the packets are counted
//! to the drawn part and decoded through it. A slice close after the one before is read
//! on to rather than searched. The reads stay bounded for a file of any size, or one that
//! lies: at most [`SLICE_MAX_READ_BYTES`] per slice (probes, at most `ogg::MAX_PROBES`, and
//! pages), [`SEEK_MAX_READ_BYTES`] for all slices, so [`MAX_READ_BYTES`] + 32 MiB = 80 MiB
//! in all; a page found out of order with those known (granule positions that go back)
//! ends the seeking, as do [`MAX_FAILED_SLICES`] slices not found. A slice not found
//! shows silence; the upload never fails for it. A real voice note costs far less: some
//! 30 KB a slice (one probe, then 6 s of pages), 3 MB for a 100-minute one at 16 kbit/s
//! (`tests::slices_past_the_bytes_read_in_order_are_found_by_seeking`). Only the first
//! logical stream, of one or two channels, is read (a multichannel stream gets no
//! waveform).
//!
//! The decoder is libopus (the reference decoder, fuzzed upstream) through the `opus`
//! crate, linked from the system (`libopus-dev` to build, `libopus0` to run). A pure-Rust
//! decoder was tried and left: `opus-decoder` 0.1 panicked on a valid stereo file. A
//! panic in decoding costs only the waveform, never the upload.

use opus::{Channels, Decoder};

use super::ogg::{Halt, NEAR_BYTES, NO_GRANULE, PageSearch, SearchBudget, checksum_matches};
use super::read_range;
use crate::error::{MediaError, Result};
use object_store::ObjectStore;
use object_store::path::Path;

/// Values in a waveform (Telegram's clients draw 100 bars).
pub(crate) const WAVEFORM_VALUES: usize = 100;
/// The largest value (5 bits).
const MAX_VALUE: u64 = 31;
/// Audio decoded at most, in seconds: bounds the time a long file costs.
const MAX_DECODED_SECONDS: u64 = 10 * 60;
/// Samples decoded before a drawn part of a long recording, after packets were skipped
/// and the decoder reset (80 ms: Opus settles within a few frames); not drawn.
const PRE_ROLL_SAMPLES: u64 = 80 * SAMPLE_RATE / 1000;
/// Opus always decodes at 48 kHz here (the rate its granule positions count in).
const SAMPLE_RATE: u64 = 48_000;
/// The longest Opus packet's samples at 48 kHz (120 ms), per channel.
const MAX_PACKET_SAMPLES: usize = 5760;
/// Bytes of the file read at a time.
const READ_BYTES: u64 = 256 * 1024;
/// Bytes of the file read at most: ten minutes at Opus's highest rate (510 kbit/s) are
/// 38 MiB, so a file whose pages are mostly of another stream (skipped, never decoded)
/// cannot make the analysis read gigabytes.
pub(super) const MAX_READ_BYTES: u64 = 48 * 1024 * 1024;
/// A packet longer than this is not Opus (the largest is 120 ms at 510 kbit/s, ~8 KiB
/// of frames; multistream packets are not read): the stream is given up.
const MAX_PACKET_BYTES: usize = 64 * 1024;
/// Packets that fail to decode before the stream is given up.
const MAX_BAD_PACKETS: usize = 16;
/// The floor of the scale, as Telegram's clients use, so that silence stays flat.
const MIN_SCALE_PEAK: u64 = 2500;

/// The peaks of 100 slices of the audio, fed with decoded samples.
struct Peaks {
    samples_per_slice: u64,
    /// The samples at the start of each slice that are drawn: all of them, unless the
    /// audio is longer than [`MAX_DECODED_SECONDS`].
    drawn_per_slice: u64,
    wanted_samples: u64,
    seen_samples: u64,
    peaks: [u16; WAVEFORM_VALUES],
}

impl Peaks {
    fn new(total_samples: u64) -> Self {
        let samples_per_slice = (total_samples / WAVEFORM_VALUES as u64).max(1);
        Self {
            samples_per_slice,
            drawn_per_slice: samples_per_slice
                .min(MAX_DECODED_SECONDS * SAMPLE_RATE / WAVEFORM_VALUES as u64),
            wanted_samples: total_samples,
            seen_samples: 0,
            peaks: [0; WAVEFORM_VALUES],
        }
    }

    fn full(&self) -> bool {
        self.seen_samples >= self.wanted_samples
    }

    /// Whether any of the next `count` samples is drawn.
    fn draws(&self, count: u64) -> bool {
        let into_slice = self.seen_samples % self.samples_per_slice;
        let next_slice = self.seen_samples - into_slice + self.samples_per_slice;
        into_slice < self.drawn_per_slice || next_slice < self.seen_samples.saturating_add(count)
    }

    fn feed(&mut self, samples: &[i16]) {
        for sample in samples {
            if self.full() {
                return;
            }
            if self.seen_samples % self.samples_per_slice < self.drawn_per_slice {
                let slice = usize::try_from(self.seen_samples / self.samples_per_slice)
                    .unwrap_or(usize::MAX)
                    .min(WAVEFORM_VALUES - 1);
                self.peaks[slice] = self.peaks[slice].max(sample.unsigned_abs());
            }
            self.seen_samples += 1;
        }
    }

    /// Counts `count` samples that were not decoded.
    fn skip(&mut self, count: u64) {
        self.seen_samples = self.seen_samples.saturating_add(count);
    }

    /// The waveform: each peak against 1.8 × the mean peak (at least
    /// [`MIN_SCALE_PEAK`]), clipped, as 0..=31.
    fn waveform(&self) -> Vec<u8> {
        let sum: u64 = self.peaks.iter().map(|peak| u64::from(*peak)).sum();
        let scale = (sum * 18 / (10 * WAVEFORM_VALUES as u64)).max(MIN_SCALE_PEAK);
        self.peaks
            .iter()
            .map(|peak| {
                let value = u64::from(*peak).min(scale) * MAX_VALUE / scale;
                u8::try_from(value).unwrap_or(u8::MAX)
            })
            .collect()
    }
}

/// A page of the stream read, with the packets that end on it.
struct Page {
    /// Its offset in the file.
    start: u64,
    /// Its granule position ([`NO_GRANULE`] when no packet ends on it).
    granule: u64,
    packets: Vec<Vec<u8>>,
}

/// Reassembles the packets of the first logical stream from Ogg pages.
#[derive(Default)]
struct OggPackets {
    buffered: Vec<u8>,
    /// The offset in the file of `buffered`'s first byte.
    base: u64,
    serial: Option<u32>,
    partial: Vec<u8>,
    /// Read from the middle of the stream: the end of a packet begun before is dropped.
    dropping: bool,
    /// Pages whose checksum is wrong end the stream (read after a seek, where a page
    /// that lies about its granule would mislead the search).
    checked: bool,
    /// The last page of the stream read with a granule position: `(offset, granule)`.
    last_page: Option<(u64, u64)>,
}

/// Why the packets stopped.
#[derive(Debug, PartialEq, Eq)]
enum Damaged {
    NotOgg,
    PacketTooLong,
    BadChecksum,
}

impl OggPackets {
    /// Packets read from the page of `serial` at `offset` on (a page found by seeking).
    fn at(offset: u64, serial: u32) -> Self {
        Self {
            base: offset,
            serial: Some(serial),
            dropping: true,
            checked: true,
            ..Self::default()
        }
    }

    /// Adds bytes; returns the pages of the stream completed by them, with their
    /// packets.
    fn push(&mut self, bytes: &[u8]) -> Result<Vec<Page>, Damaged> {
        self.buffered.extend_from_slice(bytes);
        let mut pages = Vec::new();
        let mut consumed = 0;
        loop {
            let page = &self.buffered[consumed..];
            if page.len() < 27 {
                break;
            }
            if &page[..4] != b"OggS" {
                return Err(Damaged::NotOgg);
            }
            let segments = usize::from(page[26]);
            let header_len = 27 + segments;
            let Some(lacing) = page.get(27..header_len) else {
                break;
            };
            let body_len: usize = lacing.iter().map(|value| usize::from(*value)).sum();
            let Some(body) = page.get(header_len..header_len + body_len) else {
                break;
            };
            if self.checked && !checksum_matches(&page[..header_len + body_len]) {
                return Err(Damaged::BadChecksum);
            }
            let serial = u32::from_le_bytes([page[14], page[15], page[16], page[17]]);
            if *self.serial.get_or_insert(serial) == serial {
                let granule = u64::from_le_bytes(page[6..14].try_into().unwrap_or([0xff; 8]));
                // Not a continued packet's end: nothing to drop.
                if page[5] & 1 == 0 {
                    self.dropping = false;
                }
                let mut packets = Vec::new();
                let mut at = 0;
                for value in lacing {
                    let value = usize::from(*value);
                    let segment = &body[at..at + value];
                    at += value;
                    if self.dropping {
                        self.dropping = value == 255;
                        continue;
                    }
                    self.partial.extend_from_slice(segment);
                    if self.partial.len() > MAX_PACKET_BYTES {
                        return Err(Damaged::PacketTooLong);
                    }
                    if value < 255 {
                        packets.push(std::mem::take(&mut self.partial));
                    }
                }
                let start = self.base + consumed as u64;
                if granule != NO_GRANULE {
                    self.last_page = Some((start, granule));
                }
                pages.push(Page {
                    start,
                    granule,
                    packets,
                });
            }
            consumed += header_len + body_len;
        }
        self.buffered.drain(..consumed);
        self.base += consumed as u64;
        Ok(pages)
    }
}

/// The decoder's state between two reads (moved to a blocking thread and back).
struct Decoding {
    decoder: Decoder,
    /// 1 or 2; samples come interleaved.
    channels: usize,
    peaks: Peaks,
    /// Header packets (OpusHead, OpusTags) still to skip.
    headers_left: usize,
    /// Samples at the start still to drop (the stream's pre-skip).
    pre_skip_left: usize,
    bad_packets: usize,
    /// Whether packets were skipped since the last one decoded (the decoder is reset
    /// before the next).
    skipped: bool,
    output: Vec<i16>,
}

impl Decoding {
    fn decode(&mut self, packets: &[Vec<u8>]) {
        for packet in packets {
            if self.headers_left > 0 {
                self.headers_left -= 1;
                continue;
            }
            if self.peaks.full() || self.bad_packets >= MAX_BAD_PACKETS {
                return;
            }
            // Of a long recording, the packets before a drawn part's pre-roll are
            // counted, not decoded.
            if self.pre_skip_left == 0
                && let Ok(count) = opus::packet::get_nb_samples(packet, SAMPLE_RATE as u32)
            {
                let count = count as u64;
                if !self.peaks.draws(count.saturating_add(PRE_ROLL_SAMPLES)) {
                    self.peaks.skip(count);
                    self.skipped = true;
                    continue;
                }
            }
            if std::mem::take(&mut self.skipped)
                && let Err(error) = self.decoder.reset_state()
            {
                tracing::debug!(%error, "the opus decoder could not be reset");
                self.bad_packets = MAX_BAD_PACKETS;
                return;
            }
            match self.decoder.decode(packet, &mut self.output, false) {
                Ok(frames) => {
                    let samples = frames.saturating_mul(self.channels).min(self.output.len());
                    // The louder channel of each frame.
                    let loudest: Vec<i16> = self.output[..samples]
                        .chunks(self.channels)
                        .map(|frame| {
                            frame
                                .iter()
                                .copied()
                                .max_by_key(|sample| sample.unsigned_abs())
                                .unwrap_or(0)
                        })
                        .collect();
                    let skipped = self.pre_skip_left.min(loudest.len());
                    self.pre_skip_left -= skipped;
                    self.peaks.feed(&loudest[skipped..]);
                }
                Err(error) => {
                    tracing::debug!(%error, "an opus packet that does not decode");
                    self.bad_packets += 1;
                }
            }
        }
    }
}

/// What an `OpusHead` says that decoding needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct OpusHead {
    pub(super) channels: u8,
    /// Samples (at 48 kHz) to drop at the start.
    pub(super) pre_skip: u64,
}

impl OpusHead {
    /// Reads an `OpusHead` packet: `None` unless it is one of one or two channels in the
    /// plain mapping (family 0).
    pub(super) fn parse(packet: &[u8]) -> Option<Self> {
        if !packet.starts_with(b"OpusHead") {
            return None;
        }
        let channels = *packet.get(9)?;
        let pre_skip = u16::from_le_bytes([*packet.get(10)?, *packet.get(11)?]);
        let mapping_family = *packet.get(18)?;
        (mapping_family == 0 && matches!(channels, 1 | 2)).then_some(Self {
            channels,
            pre_skip: u64::from(pre_skip),
        })
    }
}

/// The waveform of the Ogg Opus object at `path` (`size` bytes, described by `head`)
/// whose audio lasts `total_samples` at 48 kHz, reading at most `max_read_bytes` of it
/// in order and, for the slices beyond, at most [`SEEK_MAX_READ_BYTES`] more by seeking.
/// `None` when the stream cannot be decoded.
pub(super) async fn voice_waveform(
    objects: &dyn ObjectStore,
    path: &Path,
    size: u64,
    total_samples: u64,
    head: OpusHead,
    max_read_bytes: u64,
) -> Result<Option<Vec<u8>>> {
    if total_samples == 0 {
        return Ok(None);
    }
    let channels = usize::from(head.channels);
    let layout = if channels == 2 {
        Channels::Stereo
    } else {
        Channels::Mono
    };
    let decoder = Decoder::new(SAMPLE_RATE as u32, layout)
        .map_err(|error| MediaError::Internal(format!("opus decoder: {error}")))?;
    let mut decoding = Decoding {
        decoder,
        channels,
        peaks: Peaks::new(total_samples),
        headers_left: 2,
        pre_skip_left: usize::try_from(head.pre_skip).unwrap_or(usize::MAX),
        bad_packets: 0,
        skipped: false,
        output: vec![0; MAX_PACKET_SAMPLES * channels],
    };
    let mut pages = OggPackets::default();
    let mut offset = 0;
    let readable = size.min(max_read_bytes);
    // Packets read so far (the first two are headers), and the last page on which an
    // audio packet ends: where seeking starts from.
    let mut packets_read = 0;
    let mut last_audio_page = None;
    while offset < readable && !decoding.peaks.full() {
        let end = offset.saturating_add(READ_BYTES).min(readable);
        let bytes = read_range(objects, path, offset, end).await?;
        offset = end;
        let read = match pages.push(&bytes) {
            Ok(read) => read,
            Err(damaged) => {
                tracing::info!(?damaged, "no waveform for a damaged ogg stream");
                return Ok(None);
            }
        };
        let mut packets = Vec::new();
        for page in read {
            packets_read += page.packets.len();
            if packets_read > 2 && page.granule != NO_GRANULE {
                last_audio_page = Some((page.start, page.granule));
            }
            packets.extend(page.packets);
        }
        decoding = match decode_off_runtime(decoding, packets).await? {
            Some(decoding) => decoding,
            None => return Ok(None),
        };
        if decoding.bad_packets >= MAX_BAD_PACKETS {
            tracing::info!("no waveform for an opus stream that does not decode");
            return Ok(None);
        }
    }
    if offset < size
        && !decoding.peaks.full()
        && let (Some(serial), Some(last_audio_page)) = (pages.serial, last_audio_page)
    {
        let mut seeking = Seeking {
            search: PageSearch::new(
                objects,
                path,
                size,
                serial,
                Some as fn(u64) -> Option<u64>,
                total_samples.saturating_add(head.pre_skip),
                last_audio_page,
                SEEK_BUDGET,
            ),
            serial,
            pre_skip: head.pre_skip,
            decoding: Some(decoding),
        };
        pages.checked = true;
        let run = Run {
            pages,
            next: offset,
            positioned: true,
            granule: 0,
        };
        seeking.draw_the_rest(run).await?;
        match seeking.decoding {
            Some(done) => decoding = done,
            None => return Ok(None),
        }
    }
    if decoding.peaks.seen_samples == 0 {
        return Ok(None);
    }
    Ok(Some(decoding.peaks.waveform()))
}

/// Decodes `packets` on a blocking thread (decoding is CPU work: off the async runtime);
/// `None` when the decoder panicked (the waveform is given up).
async fn decode_off_runtime(
    mut decoding: Decoding,
    packets: Vec<Vec<u8>>,
) -> Result<Option<Decoding>> {
    match tokio::task::spawn_blocking(move || {
        decoding.decode(&packets);
        decoding
    })
    .await
    {
        Ok(decoding) => Ok(Some(decoding)),
        Err(error) if error.is_panic() => {
            tracing::warn!("the opus decoder panicked: no waveform for this file");
            Ok(None)
        }
        Err(error) => Err(MediaError::Internal(error.to_string())),
    }
}

/// Bytes read at most while seeking, for all slices together: with [`MAX_READ_BYTES`]
/// read in order, no file costs more than 80 MiB of reads, however long or hostile.
const SEEK_MAX_READ_BYTES: u64 = 32 * 1024 * 1024;
/// Bytes read at most for one slice past the bytes read in order (its probes, the
/// pages up to its drawn part and those of its 6 s: 6 s at Opus's highest rate are
/// 383 kB). A slice that needs more stays silent.
const SLICE_MAX_READ_BYTES: u64 = 1024 * 1024;
/// Bytes read at a time from a page found, through a slice's drawn part, at most; at
/// least what the byte rate says is left to read and [`FORWARD_MARGIN_BYTES`].
const FORWARD_READ_BYTES: u64 = 32 * 1024;
/// Read past where the byte rate puts a slice's drawn part's end (a page of a voice
/// note: a second at 32 kbit/s).
const FORWARD_MARGIN_BYTES: u64 = 4 * 1024;
/// Slices given up (no page found, damaged pages, over their budget) before the rest
/// are too.
const MAX_FAILED_SLICES: usize = 3;

/// Pages read in order from somewhere in the file.
struct Run {
    pages: OggPackets,
    /// The next byte to read.
    next: u64,
    /// Whether the position of its packets is known (from the first page read with a
    /// granule position), and so the decoder's count of samples.
    positioned: bool,
    /// Until positioned, the granule position of the page it starts from.
    granule: u64,
}

/// The slices past the bytes read in order, each found by seeking: a bisection on the
/// granule positions of pages found at probed offsets (each checked: capture pattern,
/// version, lengths, checksum, the stream's serial; [`PageSearch`]), then the pages from
/// there decoded through the slice's drawn part.
struct Seeking<'a> {
    /// Positions are granule positions (samples).
    search: PageSearch<'a, fn(u64) -> Option<u64>>,
    serial: u32,
    pre_skip: u64,
    /// `None` once the decoder panicked.
    decoding: Option<Decoding>,
}

/// A voice note's budget of reads while seeking.
const SEEK_BUDGET: SearchBudget = SearchBudget {
    all: SEEK_MAX_READ_BYTES,
    search: SLICE_MAX_READ_BYTES,
};

impl Seeking<'_> {
    /// Draws each slice not drawn yet, continuing `run` (the pages read in order).
    async fn draw_the_rest(&mut self, run: Run) -> Result<()> {
        let mut run = Some(run);
        let mut failures = 0;
        for slice in 0..WAVEFORM_VALUES as u64 {
            let Some(decoding) = self.decoding.as_ref() else {
                return Ok(());
            };
            let peaks = &decoding.peaks;
            if peaks.full() {
                return Ok(());
            }
            let start = slice * peaks.samples_per_slice;
            let end = start
                .saturating_add(peaks.drawn_per_slice)
                .min(peaks.wanted_samples);
            let seen = peaks.seen_samples;
            let positioned = run.as_ref().is_some_and(|run| run.positioned);
            if positioned && seen >= end {
                // Drawn already (by the pages read in order, or by the run before).
                continue;
            }
            self.search.start_search();
            // The granule position of the page wanted: the decoder's pre-roll before.
            let goal = start
                .saturating_add(self.pre_skip)
                .saturating_sub(PRE_ROLL_SAMPLES);
            let here = seen.saturating_add(self.pre_skip);
            let near = positioned && self.search.bytes_for(goal.saturating_sub(here)) <= NEAR_BYTES;
            let outcome = if near {
                self.draw(run.as_mut(), end).await
            } else {
                if let Some(last) = run.take().and_then(|run| run.pages.last_page)
                    && let Err(halt) = self.search.remember(last)
                {
                    return self.stop(halt);
                }
                match self.search.locate(goal).await {
                    Ok((offset, granule)) => {
                        run = Some(Run {
                            pages: OggPackets::at(offset, self.serial),
                            next: offset,
                            positioned: false,
                            granule,
                        });
                        self.draw(run.as_mut(), end).await
                    }
                    Err(halt) => Err(halt),
                }
            };
            match outcome {
                Ok(()) => {}
                Err(Halt::Slice(why)) => {
                    tracing::debug!(slice, why, "a waveform slice left silent");
                    run = None;
                    failures += 1;
                    if failures >= MAX_FAILED_SLICES {
                        return self.stop(Halt::All("too many slices not found"));
                    }
                }
                Err(halt) => return self.stop(halt),
            }
        }
        Ok(())
    }

    /// Ends the seeking: the slices left stay silent (a read error fails the analysis).
    fn stop(&mut self, halt: Halt) -> Result<()> {
        match halt {
            Halt::Store(error) => Err(error),
            Halt::Slice(why) | Halt::All(why) => {
                tracing::info!(
                    why,
                    read = self.search.read,
                    "the waveform's later slices left silent"
                );
                Ok(())
            }
        }
    }

    /// Reads `run`'s pages on until the decoder has counted `end` samples.
    async fn draw(&mut self, run: Option<&mut Run>, end: u64) -> Result<(), Halt> {
        let Some(run) = run else {
            return Err(Halt::Slice("no pages to read"));
        };
        loop {
            let Some(decoding) = self.decoding.as_mut() else {
                return Ok(());
            };
            if decoding.bad_packets >= MAX_BAD_PACKETS {
                return Err(Halt::All("packets that do not decode"));
            }
            if run.positioned && (decoding.peaks.seen_samples >= end || decoding.peaks.full())
                || run.next >= self.search.size()
            {
                return Ok(());
            }
            // What is left to read by the byte rate, and a page: no more (a slice's 6 s
            // of a voice note are some 12 KB).
            let here = if run.positioned {
                decoding.peaks.seen_samples.saturating_add(self.pre_skip)
            } else {
                run.granule
            };
            let left = end.saturating_add(self.pre_skip).saturating_sub(here);
            let chunk = self
                .search
                .bytes_for(left)
                .saturating_add(FORWARD_MARGIN_BYTES)
                .min(FORWARD_READ_BYTES);
            let bytes = self
                .search
                .read(run.next, run.next.saturating_add(chunk))
                .await?;
            run.next += bytes.len() as u64;
            let pages = run
                .pages
                .push(&bytes)
                .map_err(|_| Halt::Slice("damaged pages"))?;
            let decoding = self.decoding.as_mut().ok_or(Halt::All("no decoder"))?;
            let mut packets = Vec::new();
            for page in pages {
                if !run.positioned {
                    if page.granule == NO_GRANULE {
                        continue;
                    }
                    // The packets ending on the page end at its granule position.
                    let mut duration = 0_u64;
                    for packet in &page.packets {
                        let samples = opus::packet::get_nb_samples(packet, SAMPLE_RATE as u32)
                            .map_err(|_| Halt::Slice("a packet of no length"))?;
                        duration = duration.saturating_add(samples as u64);
                    }
                    let position = page
                        .granule
                        .checked_sub(self.pre_skip.saturating_add(duration))
                        .ok_or(Halt::Slice("a page before the audio's start"))?;
                    decoding.peaks.seen_samples = position;
                    decoding.headers_left = 0;
                    decoding.pre_skip_left = 0;
                    // The packets skipped to get here: the decoder starts afresh.
                    decoding.skipped = true;
                    run.positioned = true;
                }
                packets.extend(page.packets);
            }
            if packets.is_empty() {
                continue;
            }
            let Some(decoding) = self.decoding.take() else {
                return Ok(());
            };
            match decode_off_runtime(decoding, packets).await? {
                Some(decoding) => self.decoding = Some(decoding),
                None => return Err(Halt::All("the decoder panicked")),
            }
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::analyze::ogg::{PageCheck, check_page, page_checksum};

    #[test]
    fn peaks_are_scaled_against_their_mean_and_clipped() {
        let mut peaks = Peaks::new(200);
        // Slices of two samples: silence, then a loud half.
        let samples: Vec<i16> = (0..200)
            .map(|at| if at < 100 { 0 } else { -20_000 })
            .collect();
        peaks.feed(&samples);
        let waveform = peaks.waveform();
        assert_eq!(waveform.len(), WAVEFORM_VALUES);
        assert!(waveform[..50].iter().all(|value| *value == 0));
        // Mean peak 10,000: the scale is 18,000, so 20,000 clips to 31.
        assert!(waveform[50..].iter().all(|value| *value == 31));
    }

    #[test]
    fn quiet_audio_stays_low_against_the_floor() {
        let mut peaks = Peaks::new(100);
        peaks.feed(&[1000; 100]);
        // 1000 against the floor of 2500: 12 of 31.
        assert!(peaks.waveform().iter().all(|value| *value == 12));
    }

    #[test]
    fn a_short_recording_is_drawn_whole() {
        let mut peaks = Peaks::new(MAX_DECODED_SECONDS * SAMPLE_RATE);
        assert_eq!(peaks.drawn_per_slice, peaks.samples_per_slice);
        assert!(peaks.draws(1));
        peaks.skip(peaks.samples_per_slice - 1);
        assert!(peaks.draws(1), "every sample");
    }

    #[test]
    fn a_long_recordings_slices_are_each_drawn_from_their_start() {
        // Twenty minutes: slices of 12 s, the first 6 s of each drawn.
        let mut peaks = Peaks::new(2 * MAX_DECODED_SECONDS * SAMPLE_RATE);
        assert_eq!(peaks.samples_per_slice, 12 * SAMPLE_RATE);
        assert_eq!(peaks.drawn_per_slice, 6 * SAMPLE_RATE);
        assert!(peaks.draws(1));
        peaks.feed(&vec![100; 6 * SAMPLE_RATE as usize]);
        // Now in the undrawn half: only a span reaching the next slice draws.
        assert!(!peaks.draws(6 * SAMPLE_RATE));
        assert!(peaks.draws(6 * SAMPLE_RATE + 1));
        // Fed there, nothing is drawn.
        peaks.feed(&vec![30_000; 6 * SAMPLE_RATE as usize]);
        assert_eq!(peaks.peaks[0], 100);
        // The next slice's start is drawn into its own peak.
        peaks.feed(&[20_000]);
        assert_eq!(peaks.peaks[1], 20_000);
        peaks.skip(2 * MAX_DECODED_SECONDS * SAMPLE_RATE);
        assert!(peaks.full());
    }

    #[test]
    fn opus_heads_of_one_or_two_plain_channels_are_read() {
        let head = |channels: u8, family: u8| {
            let mut packet = b"OpusHead\x01".to_vec();
            packet.push(channels);
            packet.extend(312_u16.to_le_bytes());
            packet.extend(48_000_u32.to_le_bytes());
            packet.extend([0, 0, family]);
            packet
        };
        assert_eq!(
            OpusHead::parse(&head(2, 0)),
            Some(OpusHead {
                channels: 2,
                pre_skip: 312
            })
        );
        assert_eq!(OpusHead::parse(&head(6, 1)), None);
        assert_eq!(OpusHead::parse(&head(0, 0)), None);
        assert_eq!(OpusHead::parse(&head(1, 0)[..12]), None);
    }

    #[test]
    fn ogg_packets_span_pages_and_other_streams_are_skipped() {
        let page = |serial: u32, lacing: &[u8], body: &[u8]| {
            let mut page = b"OggS\0\0".to_vec();
            page.extend([0; 8]);
            page.extend(serial.to_le_bytes());
            page.extend([0; 8]);
            page.push(u8::try_from(lacing.len()).expect("few"));
            page.extend(lacing);
            page.extend(body);
            page
        };
        let mut packets = OggPackets::default();
        let first = page(7, &[3, 255], &[1; 258]);
        let other = page(8, &[2], &[9, 9]);
        let last = page(7, &[1], &[2]);
        let bytes = [first, other, last].concat();
        // Fed in two halves: a page cut in the middle waits for its end.
        let (start, end) = bytes.split_at(100);
        let mut pages = packets.push(start).expect("ogg");
        pages.extend(packets.push(end).expect("ogg"));
        // The other stream's page is not among them.
        assert_eq!(pages.len(), 2);
        let found: Vec<Vec<u8>> = pages.into_iter().flat_map(|page| page.packets).collect();
        assert_eq!(found.len(), 2);
        assert_eq!(found[0], vec![1; 3]);
        assert_eq!(found[1].len(), 256);
        assert_eq!(
            packets.push(b"RIFF and more than twenty-seven bytes").err(),
            Some(Damaged::NotOgg)
        );
    }

    #[test]
    fn the_checksums_of_an_encoders_pages_match_and_a_changed_byte_does_not() {
        let voice = include_bytes!("../../fixtures/rising.ogg");
        let mut at = 0;
        let mut pages = 0;
        while at < voice.len() {
            let PageCheck::Valid { len, .. } = check_page(&voice[at..]) else {
                panic!("the page at {at} does not check");
            };
            let mut changed = voice[at..at + len].to_vec();
            changed[len - 1] ^= 1;
            assert_eq!(check_page(&changed), PageCheck::Invalid);
            assert_eq!(
                check_page(&voice[at..at + len - 1]),
                PageCheck::Incomplete(len)
            );
            at += len;
            pages += 1;
        }
        assert!(pages > 3, "{pages}");
    }

    /// An Ogg page of stream 7 with a right checksum.
    fn checked_page(flags: u8, granule: u64, lacing: &[u8], body: &[u8]) -> Vec<u8> {
        let mut page = b"OggS\0".to_vec();
        page.push(flags);
        page.extend(granule.to_le_bytes());
        page.extend(7_u32.to_le_bytes());
        page.extend([0; 8]);
        page.push(u8::try_from(lacing.len()).expect("few"));
        page.extend(lacing);
        page.extend(body);
        let checksum = page_checksum(&page);
        page[22..26].copy_from_slice(&checksum.to_le_bytes());
        page
    }

    #[test]
    fn pages_read_from_the_middle_drop_the_end_of_a_packet_begun_before() {
        // A continued page: 265 bytes end a packet begun before, then one of 3 bytes
        // and the start of one that ends on the next page.
        let first = checked_page(1, 960, &[255, 10, 3, 255], &[5; 523]);
        let second = checked_page(1, 1920, &[4], &[6; 4]);
        let mut packets = OggPackets::at(1000, 7);
        let pages = packets
            .push(&[first.clone(), second].concat())
            .expect("ogg");
        assert_eq!(pages.len(), 2);
        assert_eq!((pages[0].start, pages[0].granule), (1000, 960));
        assert_eq!(pages[0].packets, vec![vec![5; 3]]);
        assert_eq!(pages[1].start, 1000 + first.len() as u64);
        assert_eq!(pages[1].packets[0].len(), 259);
        assert_eq!(packets.last_page, Some((1000 + first.len() as u64, 1920)));
        // A page whose checksum is wrong ends a checked read.
        let mut bad = checked_page(0, 2880, &[1], &[1]);
        bad[28] ^= 1;
        assert_eq!(packets.push(&bad).err(), Some(Damaged::BadChecksum));
    }

    /// Counts the bytes read through it, and the reads (also for `super::theora`'s
    /// tests).
    #[derive(Debug)]
    pub(crate) struct Counting {
        pub(crate) inner: object_store::memory::InMemory,
        pub(crate) bytes: std::sync::atomic::AtomicU64,
        pub(crate) reads: std::sync::atomic::AtomicU64,
    }

    impl std::fmt::Display for Counting {
        fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(formatter, "Counting({})", self.inner)
        }
    }

    #[async_trait::async_trait]
    impl ObjectStore for Counting {
        async fn put_opts(
            &self,
            location: &Path,
            payload: object_store::PutPayload,
            opts: object_store::PutOptions,
        ) -> object_store::Result<object_store::PutResult> {
            self.inner.put_opts(location, payload, opts).await
        }

        async fn put_multipart_opts(
            &self,
            location: &Path,
            opts: object_store::PutMultipartOptions,
        ) -> object_store::Result<Box<dyn object_store::MultipartUpload>> {
            self.inner.put_multipart_opts(location, opts).await
        }

        async fn get_opts(
            &self,
            location: &Path,
            options: object_store::GetOptions,
        ) -> object_store::Result<object_store::GetResult> {
            let result = self.inner.get_opts(location, options).await?;
            self.reads
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.bytes.fetch_add(
                result.range.end - result.range.start,
                std::sync::atomic::Ordering::Relaxed,
            );
            Ok(result)
        }

        fn delete_stream(
            &self,
            locations: futures::stream::BoxStream<'static, object_store::Result<Path>>,
        ) -> futures::stream::BoxStream<'static, object_store::Result<Path>> {
            self.inner.delete_stream(locations)
        }

        fn list(
            &self,
            prefix: Option<&Path>,
        ) -> futures::stream::BoxStream<'static, object_store::Result<object_store::ObjectMeta>>
        {
            self.inner.list(prefix)
        }

        async fn list_with_delimiter(
            &self,
            prefix: Option<&Path>,
        ) -> object_store::Result<object_store::ListResult> {
            self.inner.list_with_delimiter(prefix).await
        }

        async fn copy_opts(
            &self,
            from: &Path,
            to: &Path,
            options: object_store::CopyOptions,
        ) -> object_store::Result<()> {
            self.inner.copy_opts(from, to, options).await
        }
    }

    /// Bytes read in order in the tests of long files: about two minutes of them.
    const IN_ORDER: u64 = 256 * 1024;

    /// The waveform of `voice` with [`IN_ORDER`] bytes read in order, and the bytes
    /// read in all (the reads printed).
    async fn waveform_of(voice: &[u8]) -> (Option<Vec<u8>>, u64) {
        let objects = Counting {
            inner: object_store::memory::InMemory::new(),
            bytes: 0.into(),
            reads: 0.into(),
        };
        let path = Path::from("voice");
        object_store::ObjectStoreExt::put(&objects.inner, &path, voice.to_vec().into())
            .await
            .expect("stored");
        // The duration from the last page, the header from the first (one segment).
        let last = voice
            .windows(4)
            .rposition(|window| window == b"OggS")
            .expect("pages");
        let granule = u64::from_le_bytes(voice[last + 6..last + 14].try_into().expect("8"));
        let head = OpusHead::parse(&voice[28..]).expect("an opus head");
        let waveform = voice_waveform(
            &objects,
            &path,
            voice.len() as u64,
            granule - head.pre_skip,
            head,
            IN_ORDER,
        )
        .await
        .expect("no error, whatever the file");
        println!("{} reads", objects.reads.into_inner());
        (waveform, objects.bytes.into_inner())
    }

    /// A voice note of 100 minutes (16 kbit/s, constant: some 12 MB), silent but for a
    /// loud tone over minutes 50 to 60 and 90 to 100: minutes of ffmpeg's encoding
    /// joined by its concat demuxer (copied, not encoded again).
    fn long_voice_note() -> Vec<u8> {
        talkapp_testkit::voice::voice_note(100, |minute| {
            (50..60).contains(&minute) || (90..100).contains(&minute)
        })
    }

    #[tokio::test]
    async fn slices_past_the_bytes_read_in_order_are_found_by_seeking() {
        let voice = long_voice_note();
        let (waveform, read) = waveform_of(&voice).await;
        let waveform = waveform.expect("a waveform");
        // Slices of a minute, the first 6 s of each drawn; those at the edges of the
        // loud minutes are left out (ffmpeg's joins shift by a few milliseconds).
        let quiet = [1..50, 61..90];
        let loud = [51..60, 91..100];
        for range in quiet {
            assert!(
                waveform[range].iter().all(|value| *value <= 1),
                "{waveform:?}"
            );
        }
        for range in loud {
            assert!(
                waveform[range].iter().all(|value| *value >= 20),
                "{waveform:?}"
            );
        }
        // Seeking read a part of the file, not all of it.
        let size = voice.len() as u64;
        assert!(read < size / 3, "{read} of {size} bytes read");
        println!("{read} of {size} bytes read");
    }

    /// Rewrites the granule position of each page that starts in `pages`, its checksum
    /// made right again (so that only the positions lie).
    fn rewrite_granules(
        voice: &mut [u8],
        pages: std::ops::Range<usize>,
        mut granule: impl FnMut(u64) -> u64,
    ) {
        let mut at = 0;
        while let PageCheck::Valid { len, .. } = check_page(&voice[at..]) {
            if pages.contains(&at) {
                let page = &mut voice[at..at + len];
                let old = u64::from_le_bytes(page[6..14].try_into().expect("8"));
                page[6..14].copy_from_slice(&granule(old).to_le_bytes());
                let checksum = page_checksum(page);
                page[22..26].copy_from_slice(&checksum.to_le_bytes());
            }
            at += len;
        }
        assert_eq!(at, voice.len(), "every page walked");
    }

    /// A xorshift generator: the same bytes on every run.
    fn pseudo_random(mut state: u64) -> impl FnMut() -> u64 {
        move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        }
    }

    #[tokio::test]
    async fn a_file_that_lies_past_the_bytes_read_in_order_costs_bounded_reads_and_no_error() {
        let voice = long_voice_note();
        let size = voice.len();
        let end = u64::from_le_bytes(
            voice[size - 2000..]
                .windows(4)
                .rposition(|w| w == b"OggS")
                .map(|at| {
                    voice[size - 2000 + at + 6..size - 2000 + at + 14]
                        .try_into()
                        .expect("8")
                })
                .expect("a last page"),
        );
        // From a little past the bytes read in order to the last 128 KiB (the last
        // page's granule position, the duration, stays true).
        let lying = usize::try_from(IN_ORDER).expect("small") + 64 * 1024..size - 128 * 1024;
        // What a file that lies, once found out, may cost: a few slices given up, each
        // of at most 1 MiB of reads.
        let found_out = IN_ORDER + 4 * 1024 * 1024;

        let mut garbage = voice.clone();
        let mut next = pseudo_random(0x9e37_79b9_7f4a_7c15);
        for byte in &mut garbage[lying.clone()] {
            *byte = next() as u8;
        }
        // Granule positions going backwards, all zero, all huge, all random.
        let mut backwards = voice.clone();
        rewrite_granules(&mut backwards, lying.clone(), |granule| {
            end.saturating_sub(granule)
        });
        let mut zero = voice.clone();
        rewrite_granules(&mut zero, lying.clone(), |_| 0);
        let mut huge = voice.clone();
        rewrite_granules(&mut huge, lying.clone(), |_| i64::MAX as u64);
        let mut random = voice.clone();
        let mut next = pseudo_random(7);
        rewrite_granules(&mut random, lying.clone(), |_| next() % (2 * end));

        for (name, file, bound) in [
            ("garbage", garbage, found_out),
            ("backwards", backwards, found_out),
            ("zero", zero, found_out),
            ("huge", huge, found_out),
            ("random", random, IN_ORDER + SEEK_MAX_READ_BYTES),
        ] {
            let (waveform, read) = waveform_of(&file).await;
            println!("{name}: {read} bytes read");
            assert!(read <= bound, "{name}: {read} bytes read");
            // The slices read in order are drawn (silence there), whatever lies after.
            let waveform = waveform.expect("a waveform");
            assert_eq!(waveform.len(), WAVEFORM_VALUES, "{name}");
        }
    }
}
