//! An Ogg video's Theora frames as far as a part of it read from its start holds them,
//! for the preview of a large file copied in part (`crate::frames`): Ogg has no index, so
//! ffmpeg finds a time by a bisection on the pages' granule positions, and a frame whose
//! pages were not copied comes out broken or not at all. The pages are checked as the
//! waveform's seeking checks them (capture pattern, version, lengths, CRC); the stream is
//! the first whose first packet is a Theora identification header, whose frame rate and
//! granule shift turn a page's granule position into the time of the last frame it
//! completes and of the keyframe that frame follows (counted as ffmpeg counts them).

use super::waveform::{PageCheck, check_page};

/// The time of a frame in a part of an Ogg file read from its start.
pub(crate) struct TheoraFrames {
    /// The frame's usual time.
    at_ms: u64,
    buffered: Vec<u8>,
    stream: Option<Stream>,
    /// The latest keyframe whose frames so far were all in the bytes fed.
    keyframe_ms: Option<u64>,
    /// A frame at or after `at_ms` was completed in the bytes fed.
    reached: bool,
    /// Nothing more is needed: the frame was reached, or the bytes are not Ogg.
    done: bool,
}

/// The Theora stream's serial number and what turns its granule positions into times.
#[derive(Debug, Clone, Copy)]
struct Stream {
    serial: u32,
    /// Frames per `rate_den` seconds.
    rate_num: u64,
    rate_den: u64,
    /// Bits of a granule position counting frames since the last keyframe.
    shift: u32,
    /// Bitstreams before 3.2.1 count keyframes from 0, later ones from 1.
    before_3_2_1: bool,
}

impl Stream {
    /// From a Theora identification header packet.
    fn parse(serial: u32, packet: &[u8]) -> Option<Self> {
        if !packet.starts_with(b"\x80theora") || packet.len() < 42 {
            return None;
        }
        let version =
            (u32::from(packet[7]) << 16) | (u32::from(packet[8]) << 8) | u32::from(packet[9]);
        let rate_num = u64::from(u32::from_be_bytes(packet[22..26].try_into().ok()?));
        let rate_den = u64::from(u32::from_be_bytes(packet[26..30].try_into().ok()?));
        let shift = (u32::from(packet[40] & 0x03) << 3) | u32::from(packet[41] >> 5);
        (rate_num > 0 && rate_den > 0).then_some(Self {
            serial,
            rate_num,
            rate_den,
            shift,
            before_3_2_1: version < 0x03_0201,
        })
    }

    /// The index of the last frame a page of granule position `granule` completes and of
    /// the keyframe before it; `None` for the header pages (no frame yet).
    fn frames(&self, granule: u64) -> Option<(u64, u64)> {
        let keyframes = granule
            .checked_shr(self.shift)
            .unwrap_or(0)
            .saturating_add(u64::from(self.before_3_2_1));
        let since = granule & ((1_u64 << self.shift) - 1);
        let keyframe = keyframes.checked_sub(1)?;
        Some((keyframe.saturating_add(since), keyframe))
    }

    fn ms(&self, frame: u64) -> u64 {
        let ms = u128::from(frame) * u128::from(self.rate_den) * 1000 / u128::from(self.rate_num);
        u64::try_from(ms).unwrap_or(u64::MAX)
    }
}

impl TheoraFrames {
    pub(crate) fn new(at_ms: u64) -> Self {
        Self {
            at_ms,
            buffered: Vec::new(),
            stream: None,
            keyframe_ms: None,
            reached: false,
            done: false,
        }
    }

    /// Feeds the next bytes of the file; `false` once no more are needed.
    pub(crate) fn push(&mut self, bytes: &[u8]) -> bool {
        if self.done {
            return false;
        }
        let mut buffered = std::mem::take(&mut self.buffered);
        buffered.extend_from_slice(bytes);
        let mut at = 0;
        while !self.done {
            match check_page(&buffered[at..]) {
                PageCheck::Valid {
                    len,
                    serial,
                    granule,
                } => {
                    self.page(&buffered[at..at + len], serial, granule);
                    at += len;
                }
                PageCheck::Incomplete(_) => break,
                PageCheck::Invalid => self.done = true,
            }
        }
        buffered.drain(..at);
        self.buffered = buffered;
        !self.done
    }

    fn page(&mut self, page: &[u8], serial: u32, granule: u64) {
        let beginning = page[5] & 2 != 0;
        let Some(stream) = self.stream else {
            // The first packet of a stream's first page names its codec.
            let body = 27 + usize::from(page[26]);
            if beginning
                && let Some(stream) = page
                    .get(body..)
                    .and_then(|packet| Stream::parse(serial, packet))
            {
                self.stream = Some(stream);
            } else if !beginning {
                // The streams' first pages come first: no Theora stream here.
                self.done = true;
            }
            return;
        };
        if serial != stream.serial || granule == u64::MAX {
            return;
        }
        let Some((last, keyframe)) = stream.frames(granule) else {
            return;
        };
        self.keyframe_ms = Some(stream.ms(keyframe));
        if stream.ms(last) >= self.at_ms {
            self.reached = true;
            self.done = true;
        }
    }

    /// The time to ask ffmpeg for: `None` when the frame at its usual time was in the
    /// bytes fed; else that of the latest keyframe they held all of, or the first frame.
    pub(crate) fn frame_at_ms(&self) -> Option<u64> {
        (!self.reached).then(|| self.keyframe_ms.unwrap_or(0))
    }
}

/// The duration and picture size of an Ogg video whose first page (of stream `serial`)
/// holds the Theora identification header `packet`, from the last page of that stream
/// in `tail` (the end of the file): the frames its granule position counts.
pub(crate) fn theora_findings(packet: &[u8], serial: u32, tail: &[u8]) -> Option<super::Findings> {
    let stream = Stream::parse(serial, packet)?;
    let be24 = |at: usize| {
        packet
            .get(at..at + 3)
            .map(|bytes| {
                (u32::from(bytes[0]) << 16) | (u32::from(bytes[1]) << 8) | u32::from(bytes[2])
            })
            .filter(|value| *value > 0)
    };
    // The last page of the stream with a granule position whose bytes check.
    let frames = tail
        .windows(4)
        .enumerate()
        .rev()
        .filter(|(_, window)| *window == b"OggS")
        .find_map(|(at, _)| match check_page(&tail[at..]) {
            PageCheck::Valid {
                serial: page_serial,
                granule,
                ..
            } if page_serial == serial && granule != u64::MAX => stream.frames(granule),
            _ => None,
        });
    Some(super::Findings {
        duration_ms: frames.map(|(last, _)| stream.ms(last.saturating_add(1))),
        width: be24(14),
        height: be24(17),
        ..super::Findings::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 6 s of Theora from ffmpeg, 10 frames a second, a keyframe every `keyframes` frames.
    fn theora(keyframes: u32) -> Vec<u8> {
        let output = std::process::Command::new("ffmpeg")
            .args(["-nostdin", "-loglevel", "error", "-f", "lavfi", "-i"])
            .arg("testsrc=size=96x160:rate=10:duration=6")
            .args([
                "-vf",
                "noise=alls=60:allf=t",
                "-c:v",
                "libtheora",
                "-q:v",
                "7",
            ])
            .args(["-g", &keyframes.to_string(), "-f", "ogg", "pipe:1"])
            .output()
            .expect("ffmpeg ran");
        assert!(output.status.success(), "{output:?}");
        output.stdout
    }

    fn frame_at(bytes: &[u8], at_ms: u64) -> Option<u64> {
        let mut frames = TheoraFrames::new(at_ms);
        for chunk in bytes.chunks(1000) {
            if !frames.push(chunk) {
                break;
            }
        }
        frames.frame_at_ms()
    }

    #[test]
    fn the_head_of_an_ogg_video_tells_its_latest_keyframe_or_that_it_holds_the_frame() {
        let video = theora(20);
        let serial = u32::from_le_bytes(video[14..18].try_into().expect("4"));
        let packet = &video[28..];
        let findings =
            theora_findings(packet, serial, &video[video.len() - 70_000..]).expect("theora");
        assert_eq!(findings.duration_ms, Some(6000));
        assert_eq!((findings.width, findings.height), (Some(96), Some(160)));
        // The whole file holds the frame at 3 s; so does a head through it.
        assert_eq!(frame_at(&video, 3000), None);
        // A head of 2.5 s (some 24 kB a frame) does not: its latest keyframe (libtheora
        // may place more keyframes than asked for in noise), a frame's time.
        let head = &video[..video.len() * 25 / 60];
        let keyframe = frame_at(head, 3000).expect("a keyframe of the head");
        assert!(
            (1..=2500).contains(&keyframe) && keyframe.is_multiple_of(100),
            "{keyframe}"
        );
        // A head of the headers and no whole frame: the first frame.
        assert_eq!(frame_at(&video[..5000], 3000), Some(0));
        // Not Ogg, or no Theora: the first frame, and no panic.
        assert_eq!(
            frame_at(b"not an ogg file at all, but long enough to check", 0),
            Some(0)
        );
        assert_eq!(frame_at(&video[..100], 0), Some(0));
    }

    #[test]
    fn lying_headers_and_granule_positions_cost_no_panic() {
        // Version 3.2.0 (keyframes counted from 0), every other field all ones.
        let mut ident = b"\x80theora".to_vec();
        ident.extend([3, 2, 0]);
        ident.resize(42, 0xFF);
        let stream = Stream::parse(7, &ident).expect("parsed");
        assert_eq!(stream.shift, 31);
        let mut no_shift = ident.clone();
        no_shift[40] = 0;
        no_shift[41] = 0;
        let no_shift = Stream::parse(7, &no_shift).expect("parsed");
        for stream in [stream, no_shift] {
            for granule in [0, 1, 1 << 31, u64::MAX >> 1, u64::MAX - 1, u64::MAX] {
                if let Some((last, keyframe)) = stream.frames(granule) {
                    assert!(keyframe <= last);
                    let _ = (stream.ms(last), stream.ms(keyframe));
                }
            }
        }
        ident[22..30].fill(0);
        assert!(Stream::parse(7, &ident).is_none(), "a frame rate of 0");
        assert!(Stream::parse(7, &ident[..41]).is_none(), "too short");
    }
}
