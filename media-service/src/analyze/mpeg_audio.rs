//! MP3 (MPEG-1, -2 and -2.5 Layer III): the duration. After an ID3v2 tag (skipped by its
//! size), the first frame is found; a Xing/Info or VBRI header in it gives the number of
//! frames (VBR files, and LAME's CBR files), else the duration is the audio's bytes at the
//! first frame's bit rate (CBR). An ID3v1 tag at the end is not audio.
//!
//! Not done: a VBR file without a Xing or VBRI header gets the first frame's bit rate
//! (the estimate every player makes without reading the whole file).

use super::Findings;
use super::window::Window;
use crate::error::Result;

/// Bytes after the ID3v2 tag in which the first frame is looked for.
const FRAME_SEARCH_BYTES: u64 = 64 * 1024;
/// ID3v2 tags followed one another at most this many times (some taggers stack them).
const MAX_ID3_TAGS: usize = 4;
/// The ID3v1 tag at the end of a file.
const ID3V1_BYTES: u64 = 128;

/// Layer III bit rates in kbit/s by index, MPEG-1 then MPEG-2/2.5 (0: free, unsupported).
const BITRATES_MPEG1: [u32; 15] = [
    0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320,
];
const BITRATES_MPEG2: [u32; 15] = [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160];
const SAMPLE_RATES_MPEG1: [u32; 3] = [44_100, 48_000, 32_000];

/// A Layer III frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FrameHeader {
    mpeg1: bool,
    /// kbit/s.
    bitrate: u32,
    sample_rate: u32,
    mono: bool,
    /// Bytes, header included.
    frame_len: u32,
}

impl FrameHeader {
    fn parse(bytes: &[u8]) -> Option<Self> {
        let [sync, b1, b2, b3] = *bytes.get(..4)? else {
            return None;
        };
        if sync != 0xFF || b1 & 0xE0 != 0xE0 {
            return None;
        }
        // Version: 0 = 2.5, 1 = reserved, 2 = MPEG-2, 3 = MPEG-1; layer 1 = Layer III.
        let version = (b1 >> 3) & 0b11;
        let layer = (b1 >> 1) & 0b11;
        if version == 1 || layer != 1 {
            return None;
        }
        let mpeg1 = version == 3;
        let bitrates = if mpeg1 {
            BITRATES_MPEG1
        } else {
            BITRATES_MPEG2
        };
        let bitrate = *bitrates.get(usize::from(b2 >> 4))?;
        let rate_divisor = match version {
            3 => 1,
            2 => 2,
            _ => 4,
        };
        let sample_rate = SAMPLE_RATES_MPEG1.get(usize::from((b2 >> 2) & 0b11))? / rate_divisor;
        if bitrate == 0 {
            return None;
        }
        let padding = u32::from((b2 >> 1) & 1);
        let coefficient = if mpeg1 { 144_000 } else { 72_000 };
        Some(Self {
            mpeg1,
            bitrate,
            sample_rate,
            mono: b3 >> 6 == 0b11,
            frame_len: coefficient * bitrate / sample_rate + padding,
        })
    }

    fn samples_per_frame(self) -> u64 {
        if self.mpeg1 { 1152 } else { 576 }
    }

    /// Where a Xing/Info header would start: after the 4-byte header and the side info.
    fn xing_offset(self) -> usize {
        4 + match (self.mpeg1, self.mono) {
            (true, false) => 32,
            (true, true) | (false, false) => 17,
            (false, true) => 9,
        }
    }

    /// The number of frames a Xing/Info or VBRI header in this frame (`frame`) declares.
    fn declared_frames(self, frame: &[u8]) -> Option<u64> {
        let be_u32 = |at: usize| {
            frame
                .get(at..at + 4)
                .and_then(|bytes| bytes.try_into().ok())
                .map(u32::from_be_bytes)
        };
        let xing = self.xing_offset();
        if matches!(frame.get(xing..xing + 4), Some(b"Xing" | b"Info")) {
            const FRAMES_PRESENT: u32 = 1;
            let flags = be_u32(xing + 4)?;
            return (flags & FRAMES_PRESENT != 0)
                .then(|| be_u32(xing + 8))
                .flatten()
                .map(u64::from);
        }
        // Fraunhofer's VBRI sits 32 bytes after the header whatever the mode.
        const VBRI: usize = 4 + 32;
        if frame.get(VBRI..VBRI + 4) == Some(b"VBRI") {
            return be_u32(VBRI + 14).map(u64::from);
        }
        None
    }
}

/// The size of an ID3v2 tag at the start of `bytes`, header (and footer) included.
fn id3v2_len(bytes: &[u8]) -> Option<u64> {
    if bytes.get(..3) != Some(b"ID3") {
        return None;
    }
    let flags = *bytes.get(5)?;
    let syncsafe = bytes.get(6..10)?;
    if syncsafe.iter().any(|byte| byte & 0x80 != 0) {
        return None;
    }
    let size = syncsafe
        .iter()
        .fold(0_u64, |size, byte| (size << 7) | u64::from(*byte));
    let footer = if flags & 0x10 != 0 { 10 } else { 0 };
    Some(10 + size + footer)
}

/// The first frame in `bytes` whose successor (when within `bytes`) is a frame of the
/// same kind: a lone 0xFF 0xEx in a tag's padding is not taken for audio.
fn first_frame(bytes: &[u8]) -> Option<(usize, FrameHeader)> {
    (0..bytes.len().saturating_sub(3)).find_map(|at| {
        let frame = FrameHeader::parse(&bytes[at..])?;
        let next_at = at + usize::try_from(frame.frame_len).ok()?;
        match bytes.get(next_at..).and_then(FrameHeader::parse) {
            Some(next) if next.mpeg1 == frame.mpeg1 && next.sample_rate == frame.sample_rate => {
                Some((at, frame))
            }
            Some(_) => None,
            None if bytes.len() < next_at + 4 => Some((at, frame)),
            None => None,
        }
    })
}

/// Analyses an MP3 file of `window.size` bytes.
pub(super) async fn analyze_mp3(window: &mut Window<'_>) -> Result<Option<Findings>> {
    let mut audio_start = 0_u64;
    for _ in 0..MAX_ID3_TAGS {
        match id3v2_len(&window.read(audio_start, 10).await?) {
            Some(tag_len) => audio_start = audio_start.saturating_add(tag_len),
            None => break,
        }
    }
    let search = window.read(audio_start, FRAME_SEARCH_BYTES).await?;
    let Some((at, frame)) = first_frame(&search) else {
        return Ok(None);
    };
    let frame_start = audio_start + at as u64;
    let first = window.read(frame_start, u64::from(frame.frame_len)).await?;
    let duration_ms = match frame.declared_frames(&first) {
        Some(frames) => {
            frames
                .saturating_mul(frame.samples_per_frame())
                .saturating_mul(1000)
                / u64::from(frame.sample_rate)
        }
        None => {
            let tail_start = window.size.saturating_sub(ID3V1_BYTES);
            let has_id3v1 = window.read(tail_start, 3).await?.as_ref() == b"TAG";
            let audio_end = if has_id3v1 { tail_start } else { window.size };
            // kbit/s: bits / (kbit/s) = milliseconds.
            audio_end.saturating_sub(frame_start).saturating_mul(8) / u64::from(frame.bitrate)
        }
    };
    Ok(Some(Findings {
        duration_ms: Some(duration_ms),
        ..Findings::default()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// MPEG-1 Layer III, 128 kbit/s, 44.1 kHz, no padding, stereo.
    const HEADER_128K: [u8; 4] = [0xFF, 0xFB, 0x90, 0x00];

    #[test]
    fn frame_headers_give_rate_length_and_samples() {
        let frame = FrameHeader::parse(&HEADER_128K).expect("a frame");
        assert_eq!(
            (frame.bitrate, frame.sample_rate, frame.frame_len),
            (128, 44_100, 417)
        );
        assert_eq!(frame.samples_per_frame(), 1152);
        // MPEG-2, 32 kbit/s, 22.05 kHz, mono.
        let frame = FrameHeader::parse(&[0xFF, 0xF3, 0x40, 0xC0]).expect("a frame");
        assert_eq!(
            (frame.bitrate, frame.sample_rate, frame.mono),
            (32, 22_050, true)
        );
        assert_eq!(frame.samples_per_frame(), 576);
        // Free format, a bad bit rate, a reserved version, Layer II: not read.
        assert_eq!(FrameHeader::parse(&[0xFF, 0xFB, 0x00, 0x00]), None);
        assert_eq!(FrameHeader::parse(&[0xFF, 0xFB, 0xF0, 0x00]), None);
        assert_eq!(FrameHeader::parse(&[0xFF, 0xEB, 0x90, 0x00]), None);
        assert_eq!(FrameHeader::parse(&[0xFF, 0xFD, 0x90, 0x00]), None);
    }

    #[test]
    fn a_vbri_header_gives_the_frame_count() {
        let frame = FrameHeader::parse(&HEADER_128K).expect("a frame");
        let mut bytes = vec![0_u8; 417];
        bytes[..4].copy_from_slice(&HEADER_128K);
        bytes[36..40].copy_from_slice(b"VBRI");
        bytes[50..54].copy_from_slice(&383_u32.to_be_bytes());
        assert_eq!(frame.declared_frames(&bytes), Some(383));
        bytes[36..40].copy_from_slice(b"VBRX");
        assert_eq!(frame.declared_frames(&bytes), None);
    }

    #[test]
    fn an_id3v2_tag_is_measured_in_syncsafe_bytes() {
        assert_eq!(
            id3v2_len(b"ID3\x04\x00\x00\x00\x00\x01\x7F"),
            Some(10 + 255)
        );
        assert_eq!(
            id3v2_len(b"ID3\x04\x00\x10\x00\x00\x00\x01"),
            Some(10 + 1 + 10)
        );
        assert_eq!(id3v2_len(b"ID3\x04\x00\x00\x80\x00\x00\x00"), None);
        assert_eq!(id3v2_len(b"RIFF\x04\x00\x00\x00\x00\x00"), None);
    }
}
