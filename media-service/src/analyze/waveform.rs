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
//! [`MAX_READ_BYTES`] of the file are read (some three hours at 32 kbit/s): the slices
//! beyond show silence. Only the first logical stream, of one or two channels, is read
//! (a multichannel stream gets no waveform).
//!
//! The decoder is libopus (the reference decoder, fuzzed upstream) through the `opus`
//! crate, linked from the system (`libopus-dev` to build, `libopus0` to run). A pure-Rust
//! decoder was tried and left: `opus-decoder` 0.1 panicked on a valid stereo file. A
//! panic in decoding costs only the waveform, never the upload.

use opus::{Channels, Decoder};

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

/// Reassembles the packets of the first logical stream from Ogg pages.
#[derive(Default)]
struct OggPackets {
    buffered: Vec<u8>,
    serial: Option<u32>,
    partial: Vec<u8>,
}

/// Why the packets stopped.
#[derive(Debug, PartialEq, Eq)]
enum Damaged {
    NotOgg,
    PacketTooLong,
}

impl OggPackets {
    /// Adds bytes; returns the packets completed by them.
    fn push(&mut self, bytes: &[u8]) -> Result<Vec<Vec<u8>>, Damaged> {
        self.buffered.extend_from_slice(bytes);
        let mut packets = Vec::new();
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
            let serial = u32::from_le_bytes([page[14], page[15], page[16], page[17]]);
            if *self.serial.get_or_insert(serial) == serial {
                let mut at = 0;
                for value in lacing {
                    let value = usize::from(*value);
                    self.partial.extend_from_slice(&body[at..at + value]);
                    at += value;
                    if self.partial.len() > MAX_PACKET_BYTES {
                        return Err(Damaged::PacketTooLong);
                    }
                    if value < 255 {
                        packets.push(std::mem::take(&mut self.partial));
                    }
                }
            }
            consumed += header_len + body_len;
        }
        self.buffered.drain(..consumed);
        Ok(packets)
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
/// whose audio lasts `total_samples` at 48 kHz, reading at most `max_read_bytes` of it.
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
    while offset < readable && !decoding.peaks.full() {
        let end = offset.saturating_add(READ_BYTES).min(readable);
        let bytes = read_range(objects, path, offset, end).await?;
        offset = end;
        let packets = match pages.push(&bytes) {
            Ok(packets) => packets,
            Err(damaged) => {
                tracing::info!(?damaged, "no waveform for a damaged ogg stream");
                return Ok(None);
            }
        };
        // Decoding is CPU work: off the async runtime.
        decoding = match tokio::task::spawn_blocking(move || {
            decoding.decode(&packets);
            decoding
        })
        .await
        {
            Ok(decoding) => decoding,
            Err(error) if error.is_panic() => {
                tracing::warn!("the opus decoder panicked: no waveform for this file");
                return Ok(None);
            }
            Err(error) => return Err(MediaError::Internal(error.to_string())),
        };
        if decoding.bad_packets >= MAX_BAD_PACKETS {
            tracing::info!("no waveform for an opus stream that does not decode");
            return Ok(None);
        }
    }
    if decoding.peaks.seen_samples == 0 {
        return Ok(None);
    }
    Ok(Some(decoding.peaks.waveform()))
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let mut found = packets.push(start).expect("ogg");
        found.extend(packets.push(end).expect("ogg"));
        assert_eq!(found.len(), 2);
        assert_eq!(found[0], vec![1; 3]);
        assert_eq!(found[1].len(), 256);
        assert_eq!(
            packets.push(b"RIFF and more than twenty-seven bytes"),
            Err(Damaged::NotOgg)
        );
    }
}
