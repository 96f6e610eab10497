//! Ogg pages: checked (capture pattern, version, flags, lengths, CRC-32), and found by
//! their granule positions without reading what lies before them ([`PageSearch`]): a
//! bisection on the positions of pages found at probed offsets, each probe placed by the
//! byte rate between the pages known around it at first, then halving the range. The
//! reads are bounded whatever the file (a budget for one search, one for all), and a
//! page out of order with those known (positions that go back) ends the searching: a
//! file that lies costs bounded reads and no panic. Shared by a voice note's waveform
//! (`super::waveform`, Opus: a granule position counts samples) and the preview of a
//! large Ogg video copied in part (`super::theora`, Theora: a granule position tells a
//! keyframe and the frames since).

use object_store::ObjectStore;
use object_store::path::Path;

use super::read_range;
use crate::error::MediaError;

/// The granule position of a page on which no packet ends (-1).
pub(crate) const NO_GRANULE: u64 = u64::MAX;

/// Ogg's CRC-32 (polynomial 0x04c11db7, unreflected, no initial or final inversion).
const CRC_TABLE: [u32; 256] = {
    let mut table = [0_u32; 256];
    let mut index = 0;
    while index < 256 {
        let mut value = (index as u32) << 24;
        let mut bit = 0;
        while bit < 8 {
            value = if value & 0x8000_0000 != 0 {
                (value << 1) ^ 0x04c1_1db7
            } else {
                value << 1
            };
            bit += 1;
        }
        table[index] = value;
        index += 1;
    }
    table
};

/// The checksum of a whole page, its own checksum field (bytes 22..26) counted as zero.
pub(super) fn page_checksum(page: &[u8]) -> u32 {
    page.iter().enumerate().fold(0_u32, |crc, (at, byte)| {
        let byte = if (22..26).contains(&at) { 0 } else { *byte };
        (crc << 8) ^ CRC_TABLE[usize::from((crc >> 24) as u8 ^ byte)]
    })
}

/// Whether a whole page's checksum field matches its bytes.
pub(super) fn checksum_matches(page: &[u8]) -> bool {
    page.get(22..26).is_some_and(|field| {
        u32::from_le_bytes([field[0], field[1], field[2], field[3]]) == page_checksum(page)
    })
}

/// What the bytes at a candidate page start are.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PageCheck {
    /// A whole page, its checksum right.
    Valid {
        len: usize,
        serial: u32,
        granule: u64,
    },
    /// Not a page.
    Invalid,
    /// A page header so far: this many bytes are needed to check it.
    Incomplete(usize),
}

/// Checks the page that `bytes` start with: capture pattern, version, flags, lengths and
/// checksum.
pub(crate) fn check_page(bytes: &[u8]) -> PageCheck {
    if bytes.len() < 27 {
        return if b"OggS".starts_with(&bytes[..bytes.len().min(4)]) {
            PageCheck::Incomplete(27)
        } else {
            PageCheck::Invalid
        };
    }
    if &bytes[..4] != b"OggS" || bytes[4] != 0 || bytes[5] & !7 != 0 {
        return PageCheck::Invalid;
    }
    let header_len = 27 + usize::from(bytes[26]);
    let Some(lacing) = bytes.get(27..header_len) else {
        return PageCheck::Incomplete(header_len);
    };
    let len = header_len
        + lacing
            .iter()
            .map(|value| usize::from(*value))
            .sum::<usize>();
    let Some(page) = bytes.get(..len) else {
        return PageCheck::Incomplete(len);
    };
    if !checksum_matches(page) {
        return PageCheck::Invalid;
    }
    PageCheck::Valid {
        len,
        serial: u32::from_le_bytes([page[14], page[15], page[16], page[17]]),
        granule: u64::from_le_bytes(page[6..14].try_into().unwrap_or([0xff; 8])),
    }
}

/// Probes of one search, at most (interpolated, then bisecting:
/// 2 GiB narrowed to [`NEAR_BYTES`] take 15 bisections).
const MAX_PROBES: usize = 20;
/// The first probes of a search are placed by the byte rate between the pages known
/// around it; the later ones halve the range.
const INTERPOLATED_PROBES: usize = 3;
/// A probe is placed this much before where the byte rate puts the page looked for, so
/// that it more likely lands just before than just after it.
const PROBE_BACKOFF_BYTES: u64 = 4 * 1024;
/// Bytes read at a time by a probe looking for a page (a voice note's pages are of a
/// few KiB: a second of audio each, as ffmpeg and opusenc write them).
const PROBE_READ_BYTES: u64 = 8 * 1024;
/// The longest Ogg page (a 27-byte header, 255 lacing values, 255 segments of 255).
pub(super) const MAX_PAGE_BYTES: u64 = 27 + 255 + 255 * 255;
/// How far after a probe a page of the stream is looked for: a valid stream has a page
/// starting within any [`MAX_PAGE_BYTES`].
const MAX_SCAN_BYTES: u64 = 2 * MAX_PAGE_BYTES;
/// A page this close (in bytes, by the byte rate) before the audio wanted is read on
/// from rather than searched further; a run of pages this close to the next slice is
/// read on rather than left for a search.
pub(super) const NEAR_BYTES: u64 = 64 * 1024;

/// Why a search (for a waveform's slice, a video's frame) stopped.
pub(crate) enum Halt {
    /// A read failed: the analysis fails, as it does for a read in order.
    Store(MediaError),
    /// This slice stays silent.
    Slice(&'static str),
    /// The slices left stay silent.
    All(&'static str),
}

impl From<MediaError> for Halt {
    fn from(error: MediaError) -> Self {
        Self::Store(error)
    }
}

/// Bytes a [`PageSearch`] may read.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SearchBudget {
    /// For all its searches.
    pub(crate) all: u64,
    /// For one search (from [`PageSearch::start_search`]).
    pub(crate) search: u64,
}

/// Finds pages of one logical stream of an Ogg object by their positions: a page's granule
/// position turned by `position` into a count that grows along the stream (`None`: a page
/// not counted, such as a header's).
pub(crate) struct PageSearch<'a, P> {
    objects: &'a dyn ObjectStore,
    path: &'a Path,
    size: u64,
    serial: u32,
    position: P,
    /// The position at the end of the stream (from its last page).
    end: u64,
    /// Pages found, `(offset, position)`, in order of both (a page out of order is a file
    /// that lies: seeking stops).
    known: Vec<(u64, u64)>,
    /// Bytes read, in all and for the search at hand.
    pub(crate) read: u64,
    search_read: u64,
    budget: SearchBudget,
}

impl<'a, P: Fn(u64) -> Option<u64>> PageSearch<'a, P> {
    /// A search of the stream `serial` of the object at `path` (`size` bytes), whose
    /// position is `end` at its end, knowing the page `known` (`(offset, position)`: one
    /// read in order before).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        objects: &'a dyn ObjectStore,
        path: &'a Path,
        size: u64,
        serial: u32,
        position: P,
        end: u64,
        known: (u64, u64),
        budget: SearchBudget,
    ) -> Self {
        Self {
            objects,
            path,
            size,
            serial,
            position,
            end,
            known: vec![known],
            read: 0,
            search_read: 0,
            budget,
        }
    }

    /// The object's size.
    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    /// Bytes that `positions` of the stream take, by the file's mean byte rate.
    pub(crate) fn bytes_for(&self, positions: u64) -> u64 {
        rate_scaled(positions, self.size, self.end.max(1))
    }

    /// Starts a search: its own budget of reads is whole again.
    pub(crate) fn start_search(&mut self) {
        self.search_read = 0;
    }

    /// Reads `start..end` (cut at the end of the object) within the budgets.
    pub(crate) async fn read(&mut self, start: u64, end: u64) -> Result<bytes::Bytes, Halt> {
        let end = end.min(self.size);
        let len = end.saturating_sub(start);
        if self.read.saturating_add(len) > self.budget.all {
            return Err(Halt::All("the budget of reads for seeking is spent"));
        }
        if self.search_read.saturating_add(len) > self.budget.search {
            return Err(Halt::Slice("the budget of reads for a search is spent"));
        }
        self.read += len;
        self.search_read += len;
        Ok(read_range(self.objects, self.path, start, end).await?)
    }

    /// Adds a page found, `(offset, position)`, to those known; a page out of order with
    /// them is a file that lies about its positions.
    pub(crate) fn remember(&mut self, (offset, granule): (u64, u64)) -> Result<(), Halt> {
        let at = self.known.partition_point(|(known, _)| *known < offset);
        let before = at.checked_sub(1).and_then(|at| self.known.get(at));
        if before.is_some_and(|(_, earlier)| *earlier > granule)
            || self
                .known
                .get(at)
                .is_some_and(|(_, later)| *later < granule)
        {
            return Err(Halt::All("granule positions out of order"));
        }
        if self.known.get(at) != Some(&(offset, granule)) {
            self.known.insert(at, (offset, granule));
        }
        Ok(())
    }

    /// A checked page whose position is at most `goal`, close before it, as `(offset,
    /// position)`: a bisection between the pages known around it, each probe placed by
    /// the byte rate between them at first, then halving.
    pub(crate) async fn locate(&mut self, goal: u64) -> Result<(u64, u64), Halt> {
        // The pages known are in order of position: the last at most `goal`, the first
        // after (or the end of the file).
        let after = self.known.partition_point(|(_, granule)| *granule <= goal);
        let mut low = *after
            .checked_sub(1)
            .and_then(|at| self.known.get(at))
            .ok_or(Halt::All("no page known before the slice"))?;
        let mut high = self
            .known
            .get(after)
            .copied()
            .unwrap_or((self.size, self.end.max(goal + 1)));
        for probe_number in 0..MAX_PROBES {
            let span = high.0.saturating_sub(low.0);
            let ahead = rate_scaled(goal - low.1, span, high.1 - low.1);
            if span <= NEAR_BYTES || ahead <= NEAR_BYTES {
                return Ok(low);
            }
            let guess = if probe_number < INTERPOLATED_PROBES {
                low.0 + ahead.saturating_sub(PROBE_BACKOFF_BYTES)
            } else {
                low.0 + span / 2
            };
            let probe = guess.clamp(low.0 + 1, high.0 - 1);
            match self.find_page(probe, high.0).await? {
                None => high.0 = probe,
                Some((offset, granule)) => {
                    if granule < low.1 || granule > high.1 {
                        return Err(Halt::All("granule positions out of order"));
                    }
                    self.remember((offset, granule))?;
                    if granule <= goal {
                        low = (offset, granule);
                    } else {
                        high = (probe, granule);
                    }
                }
            }
        }
        Err(Halt::Slice("no page found within the probes"))
    }

    /// The first checked page of the stream with a position that starts in `from..until`
    /// (looked for over [`MAX_SCAN_BYTES`] at most): `(offset, position)`.
    async fn find_page(&mut self, from: u64, until: u64) -> Result<Option<(u64, u64)>, Halt> {
        let scan_end = until
            .min(from.saturating_add(MAX_SCAN_BYTES))
            .min(self.size);
        let mut buffer = Vec::new();
        let mut at = 0;
        loop {
            let buffer_end = from + buffer.len() as u64;
            let candidate = buffer[at..]
                .windows(4)
                .position(|window| window == b"OggS")
                .map(|found| at + found);
            let Some(candidate) = candidate else {
                if buffer_end >= scan_end {
                    return Ok(None);
                }
                // "OggS" may straddle two reads.
                at = buffer.len().saturating_sub(3);
                let more = self
                    .read(buffer_end, buffer_end.saturating_add(PROBE_READ_BYTES))
                    .await?;
                buffer.extend_from_slice(&more);
                continue;
            };
            if from + candidate as u64 >= scan_end {
                return Ok(None);
            }
            match check_page(&buffer[candidate..]) {
                PageCheck::Incomplete(needed) => {
                    let needed_end = from + (candidate + needed) as u64;
                    if needed_end > self.size {
                        at = candidate + 1;
                        continue;
                    }
                    let more = self.read(buffer_end, needed_end).await?;
                    buffer.extend_from_slice(&more);
                }
                PageCheck::Valid {
                    len,
                    serial,
                    granule,
                } if serial == self.serial && granule != NO_GRANULE => {
                    match (self.position)(granule) {
                        Some(position) => return Ok(Some((from + candidate as u64, position))),
                        None => at = candidate + len,
                    }
                }
                PageCheck::Valid { len, .. } => at = candidate + len,
                PageCheck::Invalid => at = candidate + 1,
            }
        }
    }
}

/// `value × numerator / denominator`, without overflow (saturating).
pub(super) fn rate_scaled(value: u64, numerator: u64, denominator: u64) -> u64 {
    let scaled = u128::from(value) * u128::from(numerator) / u128::from(denominator.max(1));
    u64::try_from(scaled).unwrap_or(u64::MAX)
}
