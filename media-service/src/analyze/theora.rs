//! An Ogg video's Theora frames as far as a part of it read from its start holds them,
//! for the preview of a large file copied in part (`crate::frames`): Ogg has no index, so
//! ffmpeg finds a time by a bisection on the pages' granule positions, and a frame whose
//! pages were not copied comes out broken or not at all. The pages are checked as the
//! waveform's seeking checks them (capture pattern, version, lengths, CRC); the stream is
//! the first whose first packet is a Theora identification header, whose frame rate and
//! granule shift turn a page's granule position into the time of the last frame it
//! completes and of the keyframe that frame follows (counted as ffmpeg counts them).
//!
//! When the head does not reach the frame, [`middle_frames`] finds the pages it needs in
//! the rest of the object without reading what lies before them: the page completing the
//! frame by a bisection on the frames the pages' granule positions count
//! (`super::ogg::PageSearch`, as a voice note's waveform seeks), the keyframe that frame
//! follows from that page's granule position (a keyframe's index is its high bits), and
//! the page before that keyframe's packet by a second bisection when it is not among the
//! pages read on the way. The preview's copy then holds the head's whole pages followed
//! by those pages (`crate::frames`).

use std::ops::Range;

use object_store::ObjectStore;
use object_store::path::Path;

use super::ogg::{
    Halt, MAX_PAGE_BYTES, NO_GRANULE, PageCheck, PageSearch, SearchBudget, check_page,
};
use crate::error::Result;

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
    /// The offset in the file of the first byte buffered.
    offset: u64,
    /// The end of the last whole page fed (of any stream).
    pages_end: u64,
    /// The last Theora page with a frame fed: `(offset, index of its last frame)`.
    last_frame_page: Option<(u64, u64)>,
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
            offset: 0,
            pages_end: 0,
            last_frame_page: None,
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
                    let offset = self.offset + at as u64;
                    self.page(&buffered[at..at + len], offset, serial, granule);
                    at += len;
                    self.pages_end = self.offset + at as u64;
                }
                PageCheck::Incomplete(_) => break,
                PageCheck::Invalid => self.done = true,
            }
        }
        buffered.drain(..at);
        self.offset += at as u64;
        self.buffered = buffered;
        !self.done
    }

    fn page(&mut self, page: &[u8], offset: u64, serial: u32, granule: u64) {
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
        self.last_frame_page = Some((offset, last));
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

/// Bytes read at most while the pages of a frame beyond the head are looked for, in all
/// and for one bisection (its probes and the pages read on from where it lands): a few
/// of a real video's pages, whatever the file.
const MIDDLE_BUDGET: SearchBudget = SearchBudget {
    all: 8 * 1024 * 1024,
    search: 4 * 1024 * 1024,
};
/// Bytes read at a time while pages are read on from one found.
const FORWARD_READ_BYTES: u64 = 64 * 1024;

/// Where the pages a frame beyond the head needs lie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MiddleFrames {
    /// The end of the head's last whole page: the copy keeps the head up to it.
    pub(crate) head_end: u64,
    /// The object's bytes to put after it: from the page before the keyframe's packet
    /// through the page that completes the frame.
    pub(crate) range: Range<u64>,
    /// The frame's index, and that of the keyframe it follows.
    pub(crate) frame: u64,
    pub(crate) keyframe: u64,
    /// Bytes of the object read to find them.
    pub(crate) read: u64,
}

/// A Theora page read on from one found: where it is and what its granule position
/// counts.
#[derive(Debug, Clone, Copy)]
struct FramePage {
    start: u64,
    end: u64,
    last: u64,
    keyframe: u64,
}

impl TheoraFrames {
    /// The frame's index: the first at or after the frame's usual time.
    fn wanted_frame(&self, stream: &Stream) -> u64 {
        let scaled = u128::from(self.at_ms) * u128::from(stream.rate_num);
        let per = u128::from(stream.rate_den) * 1000;
        u64::try_from(scaled.div_ceil(per)).unwrap_or(u64::MAX)
    }
}

/// The pages beyond the head that the frame at its usual time needs, for a head fed to
/// `frames` that did not reach it (its [`TheoraFrames::frame_at_ms`] is `Some`), in the
/// object at `path` of `size` bytes: `None` when the head holds no Theora stream or frame,
/// the pages are not found within [`MIDDLE_BUDGET`] (a file that lies: positions out of
/// order, pages that do not check), or they span more than `budget` bytes. Only a store
/// error is an error.
pub(crate) async fn middle_frames(
    objects: &dyn ObjectStore,
    path: &Path,
    size: u64,
    frames: &TheoraFrames,
    budget: u64,
) -> Result<Option<MiddleFrames>> {
    let (Some(stream), Some(known), false) =
        (frames.stream, frames.last_frame_page, frames.reached)
    else {
        return Ok(None);
    };
    let last_frame = move |granule: u64| stream.frames(granule).map(|(last, _)| last);
    // The frames at the end, from the stream's last page there (else a guess the
    // bisection corrects).
    let tail_start = size.saturating_sub(2 * MAX_PAGE_BYTES);
    let tail = super::read_range(objects, path, tail_start, size).await?;
    let end = last_granule(&tail, stream.serial)
        .and_then(last_frame)
        .unwrap_or(known.1.saturating_mul(2).saturating_add(1));
    let frame = frames.wanted_frame(&stream).min(end);
    if frame <= known.1 {
        return Ok(None);
    }
    let mut search = PageSearch::new(
        objects,
        path,
        size,
        stream.serial,
        last_frame,
        end,
        known,
        MIDDLE_BUDGET,
    );
    let found = match find_frame_pages(&mut search, stream, frame).await {
        Ok(found) => found,
        Err(Halt::Store(error)) => return Err(error),
        Err(Halt::Slice(why) | Halt::All(why)) => {
            tracing::debug!(
                why,
                read = search.read,
                "an Ogg video's frame not found by seeking"
            );
            return Ok(None);
        }
    };
    let Some((before, through, keyframe)) = found else {
        return Ok(None);
    };
    let head_end = frames.pages_end;
    let range = before.max(head_end)..through;
    if range.end.saturating_sub(range.start) > budget || range.start >= range.end {
        return Ok(None);
    }
    Ok(Some(MiddleFrames {
        head_end,
        range,
        frame,
        keyframe,
        read: search.read,
    }))
}

/// The start of the page before the packet of the keyframe `frame` follows, the end of
/// the page completing `frame`, and that keyframe's index.
async fn find_frame_pages<P: Fn(u64) -> Option<u64>>(
    search: &mut PageSearch<'_, P>,
    stream: Stream,
    frame: u64,
) -> std::result::Result<Option<(u64, u64, u64)>, Halt> {
    search.start_search();
    let (from, _) = search.locate(frame - 1).await?;
    let pages = pages_on(search, stream, from, frame).await?;
    // The page completing the frame, and the one before it.
    let [.., before, through] = pages[..] else {
        return Ok(None);
    };
    if through.last < frame {
        return Ok(None);
    }
    // The keyframe of the page's last frame, unless that keyframe comes after the frame
    // (then the one before the page's: perhaps earlier than need be, never later).
    let keyframe = if through.keyframe <= frame {
        through.keyframe
    } else {
        before.keyframe
    };
    if keyframe == 0 {
        // The first frame's packet follows the headers, in the head.
        return Ok(Some((0, through.end, 0)));
    }
    if let Some(page) = pages.iter().rev().find(|page| page.last < keyframe) {
        return Ok(Some((page.start, through.end, keyframe)));
    }
    search.start_search();
    let (from, _) = search.locate(keyframe - 1).await?;
    let pages = pages_on(search, stream, from, keyframe).await?;
    Ok(pages
        .iter()
        .rev()
        .find(|page| page.last < keyframe)
        .map(|page| (page.start, through.end, keyframe)))
}

/// The Theora pages with a frame from the page at `from` (of the stream, found by the
/// search) through the first whose last frame is `frame` or later, reading on within the
/// search's budget; the pages of other streams and those that complete no packet are
/// passed, and a page that does not check ends the reading (what was read before is
/// answered).
async fn pages_on<P: Fn(u64) -> Option<u64>>(
    search: &mut PageSearch<'_, P>,
    stream: Stream,
    from: u64,
    frame: u64,
) -> std::result::Result<Vec<FramePage>, Halt> {
    let mut pages: Vec<FramePage> = Vec::new();
    let mut buffer: Vec<u8> = Vec::new();
    // The offset of the buffer's first byte, and the next byte to read.
    let mut base = from;
    let mut next = from;
    loop {
        match check_page(&buffer) {
            PageCheck::Valid {
                len,
                serial,
                granule,
            } => {
                let start = base;
                let end = base + len as u64;
                if serial == stream.serial
                    && granule != NO_GRANULE
                    && let Some((last, keyframe)) = stream.frames(granule)
                {
                    if pages.last().is_some_and(|page| page.last > last) {
                        return Err(Halt::All("frames out of order"));
                    }
                    pages.push(FramePage {
                        start,
                        end,
                        last,
                        keyframe,
                    });
                    if last >= frame {
                        return Ok(pages);
                    }
                }
                buffer.drain(..len);
                base = end;
            }
            PageCheck::Incomplete(needed) if next < search.size() => {
                let wanted = (needed as u64).max(FORWARD_READ_BYTES);
                let bytes = search.read(next, next.saturating_add(wanted)).await?;
                next += bytes.len() as u64;
                buffer.extend_from_slice(&bytes);
            }
            PageCheck::Incomplete(_) | PageCheck::Invalid => return Ok(pages),
        }
    }
}

/// The granule position of the last page of stream `serial` in `tail` whose bytes check.
fn last_granule(tail: &[u8], serial: u32) -> Option<u64> {
    tail.windows(4)
        .enumerate()
        .rev()
        .filter(|(_, window)| *window == b"OggS")
        .find_map(|(at, _)| match check_page(&tail[at..]) {
            PageCheck::Valid {
                serial: page_serial,
                granule,
                ..
            } if page_serial == serial && granule != NO_GRANULE => Some(granule),
            _ => None,
        })
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
    let frames = last_granule(tail, serial).and_then(|granule| stream.frames(granule));
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
    use crate::analyze::waveform::tests::Counting;
    use std::sync::atomic::Ordering;

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

    /// 20 s of Theora from ffmpeg, 10 frames a second, noise over `testsrc` (the same
    /// noise in every frame, a little more changing), a keyframe every 7 frames (and
    /// where libtheora sees fit): some 13 kB a frame, 22 kB a keyframe.
    fn spaced_keyframes() -> Vec<u8> {
        let output = std::process::Command::new("ffmpeg")
            .args(["-nostdin", "-loglevel", "error", "-f", "lavfi", "-i"])
            .arg("testsrc=size=96x160:rate=10:duration=20")
            .args(["-vf", "noise=alls=50,noise=alls=15:allf=t"])
            .args(["-c:v", "libtheora", "-q:v", "7", "-g", "7"])
            .args(["-f", "ogg", "pipe:1"])
            .output()
            .expect("ffmpeg ran");
        assert!(output.status.success(), "{output:?}");
        output.stdout
    }

    /// Every page of the Theora stream with a frame, read in order from the start.
    fn pages_in_order(bytes: &[u8]) -> Vec<FramePage> {
        let serial = u32::from_le_bytes(bytes[14..18].try_into().expect("4"));
        let stream = Stream::parse(serial, &bytes[28..]).expect("theora first");
        let mut pages = Vec::new();
        let mut at = 0;
        while let PageCheck::Valid {
            len,
            serial: page_serial,
            granule,
        } = check_page(&bytes[at..])
        {
            if page_serial == serial
                && granule != NO_GRANULE
                && let Some((last, keyframe)) = stream.frames(granule)
            {
                pages.push(FramePage {
                    start: at as u64,
                    end: (at + len) as u64,
                    last,
                    keyframe,
                });
            }
            at += len;
        }
        assert_eq!(at, bytes.len(), "all pages check");
        pages
    }

    /// `bytes` in a store that counts the bytes read from it.
    async fn stored(bytes: &[u8]) -> (Counting, Path) {
        let objects = Counting {
            inner: object_store::memory::InMemory::new(),
            bytes: 0.into(),
            reads: 0.into(),
        };
        let path = Path::from("video.ogv");
        object_store::ObjectStoreExt::put(&objects.inner, &path, bytes.to_vec().into())
            .await
            .expect("stored");
        (objects, path)
    }

    fn fed(head: &[u8], at_ms: u64) -> TheoraFrames {
        let mut frames = TheoraFrames::new(at_ms);
        for chunk in head.chunks(1000) {
            if !frames.push(chunk) {
                break;
            }
        }
        frames
    }

    const HEAD: usize = 48 * 1024;

    #[tokio::test]
    async fn a_frame_beyond_the_head_is_found_by_seeking_with_its_keyframe() {
        let video = spaced_keyframes();
        let size = video.len() as u64;
        assert!(size > 2_000_000, "{size} bytes");
        let pages = pages_in_order(&video);
        let (objects, path) = stored(&video).await;
        for at_ms in [1000, 5050, 12_300, 19_900] {
            let frames = fed(&video[..HEAD], at_ms);
            assert!(frames.frame_at_ms().is_some(), "beyond the head");
            objects.bytes.store(0, Ordering::Relaxed);
            let middle = middle_frames(&objects, &path, size, &frames, u64::MAX)
                .await
                .expect("read")
                .unwrap_or_else(|| panic!("{at_ms} ms found"));
            let frame = at_ms.div_ceil(100);
            assert_eq!(middle.frame, frame);
            // Its keyframe: one (a page's granule position names it), at most a group
            // of pictures before.
            assert!(
                middle.keyframe <= frame && frame - middle.keyframe < 7,
                "{middle:?}"
            );
            assert!(pages.iter().any(|page| page.keyframe == middle.keyframe));
            // From the page before the keyframe's packet through the page completing the
            // frame, as a reading from the start finds them.
            let before = pages
                .iter()
                .rev()
                .find(|page| page.last < middle.keyframe)
                .expect("a page before");
            let through = pages
                .iter()
                .find(|page| page.last >= frame)
                .expect("the frame's page");
            assert_eq!(middle.range, before.start.max(middle.head_end)..through.end);
            assert!(middle.head_end <= HEAD as u64 && middle.head_end > 3000);
            // A bisection, not a reading: a small part of the file (the pages at its end
            // read for its length too).
            let read = objects.bytes.load(Ordering::Relaxed);
            println!(
                "{at_ms} ms: {read} bytes read, {} copied",
                middle.range.end - middle.range.start
            );
            assert!(
                middle.read < read && read < size / 4,
                "{read} of {size} read"
            );
            // Over the budget: none.
            let length = middle.range.end - middle.range.start;
            assert_eq!(
                middle_frames(&objects, &path, size, &frames, length - 1)
                    .await
                    .expect("read"),
                None
            );
        }
        // The head holds the frame: nothing to find.
        let frames = fed(&video[..HEAD], 0);
        assert_eq!(frames.frame_at_ms(), None);
        assert_eq!(
            middle_frames(&objects, &path, size, &frames, u64::MAX)
                .await
                .expect("read"),
            None
        );
    }

    #[tokio::test]
    async fn a_file_that_lies_past_the_head_costs_bounded_reads_and_no_panic() {
        let video = spaced_keyframes();
        let size = video.len();
        let pages = pages_in_order(&video);
        let frames = fed(&video[..HEAD], 12_300);
        let random = |seed: u32| {
            (0..size as u32).map(move |index| {
                (index.wrapping_add(seed).wrapping_mul(2_654_435_761) >> 13) as u8
            })
        };
        // Pages past the head whose granule positions go back to the first frames (their
        // checksums made right).
        let mut backwards = video.clone();
        for page in pages.iter().filter(|page| page.start > HEAD as u64) {
            let at = usize::try_from(page.start).expect("small");
            let end = usize::try_from(page.end).expect("small");
            backwards[at + 6..at + 14].copy_from_slice(&(1_u64 << 6).to_le_bytes());
            backwards[at + 22..at + 26].fill(0);
            let checksum = crate::analyze::ogg::page_checksum(&backwards[at..end]);
            backwards[at + 22..at + 26].copy_from_slice(&checksum.to_le_bytes());
        }
        let mut garbage = video[..HEAD].to_vec();
        garbage.extend(random(7).skip(HEAD));
        let mut zeros = video[..HEAD].to_vec();
        zeros.resize(size, 0);
        // Its pages cut short past the head: capture patterns of nothing.
        let mut patterns = video[..HEAD].to_vec();
        while patterns.len() < size {
            patterns.extend_from_slice(b"OggS\0\0");
        }
        for (name, bytes) in [
            ("backwards", backwards),
            ("garbage", garbage),
            ("zeros", zeros),
            ("patterns", patterns),
        ] {
            let (objects, path) = stored(&bytes).await;
            let found = middle_frames(&objects, &path, bytes.len() as u64, &frames, u64::MAX)
                .await
                .expect("read");
            // No pages claimed for a frame the file does not hold, and at most the budget
            // read (and the pages at the end, read once for the stream's length).
            assert_eq!(found, None, "{name}");
            let read = objects.bytes.load(Ordering::Relaxed);
            println!("{name}: {read} bytes read");
            assert!(
                read <= MIDDLE_BUDGET.all + 2 * MAX_PAGE_BYTES,
                "{name}: {read}"
            );
        }
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
