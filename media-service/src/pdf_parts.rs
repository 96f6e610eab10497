//! Where the objects a PDF's first page needs lie in the file, found from its
//! cross-reference data (ADR 0034, amended): the bounded copy of a large S3-stored PDF
//! for pdftoppm (`crate::frames`) holds its head and its tail; a PDF that is not
//! linearised may keep its first page's objects anywhere between them. Their byte ranges
//! are copied too, at their offsets.
//!
//! Read by ranges: `startxref` in the last KiB, then the cross-reference sections from
//! there along their `/Prev` chain (classic tables, and cross-reference streams, Flate
//! with or without a PNG predictor; a hybrid file's `/XRefStm`), then the catalog
//! (`/Root`), the page tree down its first kids to the first page, and everything that
//! page refers to, transitively (contents, resources: fonts and their files, images,
//! forms, annotations' appearances), but not back up (`/Parent`) nor across to other
//! pages (destinations, actions, outlines, threads). An object's range runs from its
//! offset to the next known offset (another object's, a cross-reference section's, or the
//! end of the file); an object inside an object stream brings that whole stream (parsed
//! to find what the object refers to). The cross-reference sections themselves are
//! copied too.
//!
//! Bounded: at most `max_objects` objects visited and `budget` bytes of ranges, at most
//! [`MAX_SECTIONS`] cross-reference sections of at most [`MAX_XREF_ENTRIES`] entries,
//! streams decoded to at most [`MAX_DECODED_BYTES`]. Anything that does not parse ends
//! the walk; what was found is copied, and the tool fails on the rest as it did before
//! (no preview, recorded as for any file the tool fails on).
//!
//! Not done: encrypted files (their streams cannot be read here: the tool reads the
//! objects' ranges, which still helps, but object streams are not parsed), filters
//! other than Flate for object and cross-reference streams, pages after the first.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::io::Read as _;
use std::ops::Range;

use bytes::Bytes;
use object_store::ObjectStore;
use object_store::path::Path;

use crate::analyze::window::Window;

/// Cross-reference sections followed along `/Prev`, at most.
const MAX_SECTIONS: usize = 32;
/// Cross-reference entries read, at most (all sections).
const MAX_XREF_ENTRIES: usize = 250_000;
/// Most bytes of a classic cross-reference section read (20 bytes an entry).
const MAX_XREF_BYTES: u64 = 8 * 1024 * 1024;
/// Most bytes of a stream read whole (a cross-reference or object stream) and decoded.
const MAX_DECODED_BYTES: u64 = 16 * 1024 * 1024;
/// Bytes of an object read to find what it refers to (its dictionary, not its stream).
const OBJECT_HEAD_BYTES: u64 = 64 * 1024;
/// Tokens of one object looked at, at most.
const MAX_TOKENS: usize = 200_000;
/// Keys whose references lead away from the first page (up the tree, to other pages,
/// to the document's outline or actions).
const SKIPPED_KEYS: &[&[u8]] = &[
    b"Parent",
    b"P",
    b"Dest",
    b"D",
    b"A",
    b"AA",
    b"Next",
    b"Prev",
    b"First",
    b"Last",
    b"B",
    b"Thread",
    b"Threads",
    b"Outlines",
    b"Names",
    b"StructTreeRoot",
    b"Pg",
    b"Popup",
    b"IRT",
];

/// The bounds of a search.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PdfLimits {
    /// Objects visited, at most.
    pub(crate) max_objects: usize,
    /// Most bytes the ranges hold.
    pub(crate) budget: u64,
}

/// Where an object is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Location {
    /// At this offset of the file.
    File(u64),
    /// In object stream `stream`, as its `index`th object.
    Stream { stream: u32, index: u32 },
}

/// What the cross-reference sections say.
#[derive(Default)]
struct Xref {
    locations: HashMap<u32, Location>,
    /// Every offset known to start something (objects, sections) and the file's end: an
    /// object ends where the next one starts.
    starts: BTreeSet<u64>,
    /// The sections' own ranges.
    sections: Vec<Range<u64>>,
    root: Option<u32>,
}

/// The byte ranges of the objects the first page of the PDF at `path` needs, and of its
/// cross-reference sections; `None` when its cross-reference data is not found or does
/// not parse (the copy is made as before).
pub(crate) async fn first_page_ranges(
    objects: &dyn ObjectStore,
    path: &Path,
    size: u64,
    limits: PdfLimits,
) -> Result<Option<Vec<Range<u64>>>, String> {
    let mut window = Window::new(objects, path, size);
    let Some(xref) = read_xref(&mut window, size).await? else {
        return Ok(None);
    };
    let Some(root) = xref.root else {
        return Ok(None);
    };
    let mut found = Found {
        ranges: xref.sections.clone(),
        total: xref
            .sections
            .iter()
            .map(|range| range.end - range.start)
            .sum(),
        limits,
        visited: HashSet::new(),
        streams: HashMap::new(),
    };
    if found.total > limits.budget {
        return Ok(None);
    }
    // (object, what it is to the walk)
    let mut queue = VecDeque::from([(root, Role::Catalog)]);
    while let Some((number, role)) = queue.pop_front() {
        if found.visited.contains(&number) {
            continue;
        }
        if found.visited.len() >= limits.max_objects {
            break;
        }
        found.visited.insert(number);
        let Some(text) = found.object_text(&mut window, &xref, number, size).await? else {
            if role == Role::Catalog {
                return Ok(None);
            }
            // Out of budget, or an object that is not there: what was found is copied.
            if found.total >= limits.budget {
                break;
            }
            continue;
        };
        let tokens = tokenize(&text);
        let kind = type_of(&tokens);
        match role {
            Role::Catalog => {
                if let Some(pages) = refs(&tokens)
                    .into_iter()
                    .find(|(key, _)| *key == b"Pages")
                    .map(|(_, number)| number)
                {
                    queue.push_back((pages, Role::Tree));
                }
            }
            Role::Tree if kind.as_deref() == Some(b"Pages".as_slice()) => {
                let mut first_kid = true;
                for (key, reference) in refs(&tokens) {
                    if key == b"Kids" {
                        if first_kid {
                            queue.push_back((reference, Role::Tree));
                            first_kid = false;
                        }
                    } else if !skipped(key) {
                        queue.push_back((reference, Role::Part));
                    }
                }
            }
            // The first page, and what it needs.
            Role::Tree | Role::Part => {
                for (key, reference) in refs(&tokens) {
                    if key != b"Kids" && !skipped(key) {
                        queue.push_back((reference, Role::Part));
                    }
                }
            }
        }
    }
    Ok(Some(found.ranges))
}

/// Whether references under `key` lead away from the first page.
fn skipped(key: &[u8]) -> bool {
    SKIPPED_KEYS.contains(&key)
}

/// What an object is to the walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Catalog,
    /// A node of the page tree: a `Pages` node (its first kid followed) or the page.
    Tree,
    /// Something the page needs.
    Part,
}

/// The ranges found so far.
struct Found {
    ranges: Vec<Range<u64>>,
    total: u64,
    limits: PdfLimits,
    visited: HashSet<u32>,
    /// Object streams read and decoded: each object's text by its index.
    streams: HashMap<u32, Option<Vec<Bytes>>>,
}

impl Found {
    /// Adds `range` if the budget allows.
    fn take(&mut self, range: Range<u64>) -> bool {
        let length = range.end - range.start;
        if self.total.saturating_add(length) > self.limits.budget {
            return false;
        }
        self.total += length;
        self.ranges.push(range);
        true
    }

    /// The text of object `number` (its range taken), or `None` when it is not found or
    /// not within the budget.
    async fn object_text(
        &mut self,
        window: &mut Window<'_>,
        xref: &Xref,
        number: u32,
        size: u64,
    ) -> Result<Option<Bytes>, String> {
        match xref.locations.get(&number) {
            Some(Location::File(offset)) if *offset < size => {
                let range = object_range(xref, *offset, size);
                let head = window
                    .read(
                        range.start,
                        (range.end - range.start).min(OBJECT_HEAD_BYTES),
                    )
                    .await
                    .map_err(|error| error.to_string())?;
                // Its own end when it tells (objects not in the table may follow it).
                let end =
                    object_end(&head, range.start).map_or(range.end, |end| end.min(range.end));
                if !self.take(range.start..end) {
                    return Ok(None);
                }
                Ok(Some(head))
            }
            Some(Location::Stream { stream, index }) => {
                let (stream, index) = (*stream, *index);
                if !self.streams.contains_key(&stream) {
                    let texts = match xref.locations.get(&stream) {
                        Some(Location::File(offset)) if *offset < size => {
                            let range = object_range(xref, *offset, size);
                            if range.end - range.start > MAX_DECODED_BYTES
                                || !self.take(range.clone())
                            {
                                None
                            } else {
                                let bytes = window
                                    .read(range.start, range.end - range.start)
                                    .await
                                    .map_err(|error| error.to_string())?;
                                object_stream(&bytes)
                            }
                        }
                        _ => None,
                    };
                    self.streams.insert(stream, texts);
                }
                Ok(self
                    .streams
                    .get(&stream)
                    .and_then(Option::as_ref)
                    .and_then(|texts| texts.get(usize::try_from(index).ok()?))
                    .cloned())
            }
            None | Some(Location::File(_)) => Ok(None),
        }
    }
}

/// Where the object whose first bytes are `head` (at `offset`) ends, when they tell: a
/// stream's after its data of a direct `/Length` (and `endstream endobj`), another
/// object's after its `endobj`.
fn object_end(head: &[u8], offset: u64) -> Option<u64> {
    let endobj = find(head, b"endobj");
    match stream_dictionary(head) {
        Some((dictionary, data_at)) if endobj.is_none_or(|endobj| data_at < endobj) => {
            let length = dict_int(&tokenize(dictionary), b"Length")?;
            // `\r\nendstream\r\nendobj` at most.
            offset
                .checked_add(data_at as u64)?
                .checked_add(length)?
                .checked_add(20)
        }
        _ => offset.checked_add(endobj? as u64 + 6),
    }
}

/// From `offset` to the next known start (or the end of the file).
fn object_range(xref: &Xref, offset: u64, size: u64) -> Range<u64> {
    let end = xref
        .starts
        .range(offset.saturating_add(1)..)
        .next()
        .copied()
        .unwrap_or(size)
        .min(size);
    offset..end.max(offset)
}

/// Reads the cross-reference sections from `startxref` along `/Prev`.
async fn read_xref(window: &mut Window<'_>, size: u64) -> Result<Option<Xref>, String> {
    let tail_start = size.saturating_sub(1024);
    let tail = window
        .read(tail_start, size - tail_start)
        .await
        .map_err(|error| error.to_string())?;
    let Some(at) = rfind(&tail, b"startxref") else {
        return Ok(None);
    };
    let Some(first) = leading_int(&tail[at + 9..]) else {
        return Ok(None);
    };
    let mut xref = Xref::default();
    xref.starts.insert(size);
    xref.starts.insert(tail_start + at as u64);
    let mut next = vec![first];
    let mut seen = HashSet::new();
    while let Some(offset) = next.pop() {
        if offset >= size || !seen.insert(offset) {
            continue;
        }
        if seen.len() > MAX_SECTIONS {
            break;
        }
        let head = window
            .read(offset, 64)
            .await
            .map_err(|error| error.to_string())?;
        let section = if skip_space(&head, 0).is_some_and(|at| head[at..].starts_with(b"xref")) {
            classic_section(window, offset, size, &mut xref).await?
        } else {
            stream_section(window, offset, size, &mut xref).await?
        };
        let Some(section) = section else {
            // The newest section is needed; an older one that does not parse ends the chain.
            if xref.sections.is_empty() {
                return Ok(None);
            }
            break;
        };
        xref.starts.insert(offset);
        xref.sections.push(offset..section.end);
        xref.root = xref.root.or(section.root);
        // The hybrid file's stream is read before the older sections (it is newer).
        next.extend(section.prev);
        next.extend(section.stream);
        if xref.locations.len() > MAX_XREF_ENTRIES {
            return Ok(None);
        }
    }
    Ok(Some(xref))
}

/// What one section says beyond its entries.
struct Section {
    end: u64,
    root: Option<u32>,
    prev: Option<u64>,
    /// A hybrid file's `/XRefStm`.
    stream: Option<u64>,
}

/// A classic table at `offset`: `xref`, subsections of `start count` and 20-byte
/// entries, then `trailer` and its dictionary.
async fn classic_section(
    window: &mut Window<'_>,
    offset: u64,
    size: u64,
    xref: &mut Xref,
) -> Result<Option<Section>, String> {
    let mut want = 64 * 1024;
    loop {
        let bytes = window
            .read(offset, want)
            .await
            .map_err(|error| error.to_string())?;
        match parse_classic(&bytes, offset, xref) {
            Parsed::Done(section) => return Ok(Some(section)),
            Parsed::Bad => return Ok(None),
            Parsed::NeedMore if want < MAX_XREF_BYTES && offset + want < size => {
                want = (want * 4).min(MAX_XREF_BYTES);
            }
            Parsed::NeedMore => return Ok(None),
        }
    }
}

enum Parsed {
    Done(Section),
    NeedMore,
    Bad,
}

fn parse_classic(bytes: &[u8], offset: u64, xref: &mut Xref) -> Parsed {
    let mut words = Words {
        bytes,
        at: 0,
        complete: false,
    };
    if words.next_word() != Some(&b"xref"[..]) {
        return Parsed::Bad;
    }
    let mut entries = Vec::new();
    // Where the trailer's dictionary starts (`trailer` may touch it).
    let rest_at = loop {
        let Some(word) = words.next_word() else {
            return Parsed::NeedMore;
        };
        if word.starts_with(b"trailer") {
            break words.at - word.len() + 7;
        }
        let (Some(first), Some(count)) = (int_of(word), words.next_word().and_then(int_of)) else {
            return Parsed::Bad;
        };
        if count > MAX_XREF_ENTRIES as u64 || entries.len() as u64 + count > MAX_XREF_ENTRIES as u64
        {
            return Parsed::Bad;
        }
        for index in 0..count {
            let (Some(at), Some(_generation), Some(kind)) = (
                words.next_word().and_then(int_of),
                words.next_word().and_then(int_of),
                words.next_word(),
            ) else {
                return Parsed::NeedMore;
            };
            let Some(Ok(number)) = first.checked_add(index).map(u32::try_from) else {
                return Parsed::Bad;
            };
            if kind == b"n" {
                entries.push((number, at));
            }
        }
    };
    // The trailer's dictionary, up to its end.
    let rest = &bytes[rest_at..];
    let Some(end) = find(rest, b"startxref").or_else(|| find(rest, b"xref")) else {
        return Parsed::NeedMore;
    };
    let tokens = tokenize(&rest[..end]);
    let root = refs(&tokens)
        .into_iter()
        .find(|(key, _)| *key == b"Root")
        .map(|(_, number)| number);
    for (number, at) in entries {
        xref.locations.entry(number).or_insert(Location::File(at));
        xref.starts.insert(at);
    }
    Parsed::Done(Section {
        end: offset + (rest_at + end) as u64,
        root,
        prev: dict_int(&tokens, b"Prev"),
        stream: dict_int(&tokens, b"XRefStm"),
    })
}

/// A cross-reference stream at `offset` (`N G obj << /Type /XRef ... >> stream ...`).
async fn stream_section(
    window: &mut Window<'_>,
    offset: u64,
    size: u64,
    xref: &mut Xref,
) -> Result<Option<Section>, String> {
    let head = window
        .read(offset, OBJECT_HEAD_BYTES)
        .await
        .map_err(|error| error.to_string())?;
    let Some((dictionary, data_at)) = stream_dictionary(&head) else {
        return Ok(None);
    };
    let tokens = tokenize(dictionary);
    if type_of(&tokens).as_deref() != Some(b"XRef".as_slice()) {
        return Ok(None);
    }
    let Some(length) = dict_int(&tokens, b"Length").filter(|length| *length <= MAX_DECODED_BYTES)
    else {
        return Ok(None);
    };
    let data_start = offset + data_at as u64;
    if data_start.saturating_add(length) > size {
        return Ok(None);
    }
    let data = window
        .read(data_start, length)
        .await
        .map_err(|error| error.to_string())?;
    let Some(data) = decode(&tokens, &data) else {
        return Ok(None);
    };
    let widths = dict_ints(&tokens, b"W");
    let &[w0, w1, w2] = widths.as_slice() else {
        return Ok(None);
    };
    if w0 > 8 || w1 > 8 || w2 > 8 || w0 + w1 + w2 == 0 {
        return Ok(None);
    }
    let row = (w0 + w1 + w2) as usize;
    let mut index = dict_ints(&tokens, b"Index");
    if index.is_empty() {
        index = vec![0, dict_int(&tokens, b"Size").unwrap_or(0)];
    }
    let mut rows = data.chunks_exact(row);
    for pair in index.chunks_exact(2) {
        let (first, count) = (pair[0], pair[1]);
        if count > MAX_XREF_ENTRIES as u64 {
            return Ok(None);
        }
        for number in first..first.saturating_add(count) {
            let Some(entry) = rows.next() else {
                break;
            };
            let (w0, w1) = (w0 as usize, w1 as usize);
            let kind = if w0 == 0 { 1 } else { be(&entry[..w0]) };
            let field2 = be(&entry[w0..w0 + w1]);
            let field3 = be(&entry[w0 + w1..]);
            let Ok(number) = u32::try_from(number) else {
                return Ok(None);
            };
            let location = match kind {
                1 => {
                    xref.starts.insert(field2);
                    Location::File(field2)
                }
                2 => match (u32::try_from(field2), u32::try_from(field3)) {
                    (Ok(stream), Ok(index)) => Location::Stream { stream, index },
                    _ => continue,
                },
                _ => continue,
            };
            xref.locations.entry(number).or_insert(location);
        }
    }
    let root = refs(&tokens)
        .into_iter()
        .find(|(key, _)| *key == b"Root")
        .map(|(_, number)| number);
    Ok(Some(Section {
        end: (data_start + length).saturating_add(20).min(size),
        root,
        prev: dict_int(&tokens, b"Prev"),
        stream: None,
    }))
}

/// The dictionary of a stream object (`N G obj << ... >> stream`) and where its data
/// starts, in `bytes` (the object's start).
fn stream_dictionary(bytes: &[u8]) -> Option<(&[u8], usize)> {
    let at = find(bytes, b"stream")?;
    let mut data = at + 6;
    if bytes.get(data) == Some(&b'\r') {
        data += 1;
    }
    if bytes.get(data) == Some(&b'\n') {
        data += 1;
    }
    let object = find(bytes, b"obj")?;
    (object < at).then(|| (&bytes[object + 3..at], data))
}

/// The decoded data of a stream whose dictionary is `tokens`: Flate (with a PNG
/// predictor or none) or no filter; `None` for other filters or bad data.
fn decode(tokens: &[Token<'_>], data: &[u8]) -> Option<Vec<u8>> {
    let filters: Vec<&[u8]> = match after_key(tokens, b"Filter") {
        [Token::Name(name), ..] => vec![*name],
        [Token::OpenArray, rest @ ..] => rest
            .iter()
            .map_while(|token| match token {
                Token::Name(name) => Some(*name),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    let decoded = match filters[..] {
        [] => data.to_vec(),
        [b"FlateDecode"] => {
            let mut out = Vec::new();
            flate2::read::ZlibDecoder::new(data)
                .take(MAX_DECODED_BYTES + 1)
                .read_to_end(&mut out)
                .ok()?;
            if out.len() as u64 > MAX_DECODED_BYTES {
                return None;
            }
            out
        }
        _ => return None,
    };
    let predictor = dict_int(tokens, b"Predictor").unwrap_or(1);
    if predictor < 10 {
        return (predictor == 1).then_some(decoded);
    }
    let columns = usize::try_from(dict_int(tokens, b"Columns").unwrap_or(1)).ok()?;
    unpredict_png(&decoded, columns)
}

/// Undoes PNG prediction (one byte a pixel, as cross-reference streams use): each row
/// is a filter byte and `columns` bytes.
fn unpredict_png(data: &[u8], columns: usize) -> Option<Vec<u8>> {
    if columns == 0 || columns > 1 << 16 {
        return None;
    }
    let mut out: Vec<u8> = Vec::with_capacity(data.len());
    let mut previous = vec![0_u8; columns];
    for row in data.chunks(columns + 1) {
        let (filter, bytes) = row.split_first()?;
        if bytes.len() != columns {
            break;
        }
        let mut current = vec![0_u8; columns];
        for index in 0..columns {
            let left = if index > 0 { current[index - 1] } else { 0 };
            let up = previous[index];
            let up_left = if index > 0 { previous[index - 1] } else { 0 };
            current[index] = bytes[index].wrapping_add(match *filter {
                0 => 0,
                1 => left,
                2 => up,
                3 => ((u16::from(left) + u16::from(up)) / 2) as u8,
                4 => paeth(left, up, up_left),
                _ => return None,
            });
        }
        out.extend_from_slice(&current);
        previous = current;
    }
    Some(out)
}

fn paeth(left: u8, up: u8, up_left: u8) -> u8 {
    let estimate = i16::from(left) + i16::from(up) - i16::from(up_left);
    let (to_left, to_up, to_up_left) = (
        (estimate - i16::from(left)).abs(),
        (estimate - i16::from(up)).abs(),
        (estimate - i16::from(up_left)).abs(),
    );
    if to_left <= to_up && to_left <= to_up_left {
        left
    } else if to_up <= to_up_left {
        up
    } else {
        up_left
    }
}

/// The objects of an object stream (its whole bytes, from `N G obj`): each one's text,
/// by index.
fn object_stream(bytes: &[u8]) -> Option<Vec<Bytes>> {
    let (dictionary, data_at) = stream_dictionary(bytes)?;
    let tokens = tokenize(dictionary);
    let length = usize::try_from(dict_int(&tokens, b"Length")?).ok()?;
    let data = bytes.get(data_at..data_at.checked_add(length)?)?;
    let data = decode(&tokens, data)?;
    let count = usize::try_from(dict_int(&tokens, b"N")?).ok()?;
    let first = usize::try_from(dict_int(&tokens, b"First")?).ok()?;
    let mut words = Words {
        bytes: data.get(..first)?,
        at: 0,
        complete: true,
    };
    let mut offsets = Vec::new();
    for _ in 0..count.min(100_000) {
        let (Some(_number), Some(offset)) = (
            words.next_word().and_then(int_of),
            words.next_word().and_then(int_of),
        ) else {
            break;
        };
        offsets.push(first.checked_add(usize::try_from(offset).ok()?)?);
    }
    let data = Bytes::from(data);
    let mut texts = Vec::with_capacity(offsets.len());
    for (index, start) in offsets.iter().enumerate() {
        let start = (*start).min(data.len());
        let end = offsets
            .get(index + 1)
            .copied()
            .unwrap_or(data.len())
            .clamp(start, data.len());
        texts.push(data.slice(start..end));
    }
    Some(texts)
}

/// Whitespace-separated words.
struct Words<'a> {
    bytes: &'a [u8],
    at: usize,
    /// Whether `bytes` is all there is (else a word touching its end may go on).
    complete: bool,
}

impl<'a> Words<'a> {
    fn next_word(&mut self) -> Option<&'a [u8]> {
        let start = skip_space(self.bytes, self.at)?;
        let end = self.bytes[start..]
            .iter()
            .position(|byte| is_space(*byte))
            .map_or(self.bytes.len(), |length| start + length);
        if end == self.bytes.len() && !self.complete {
            return None;
        }
        self.at = end;
        Some(&self.bytes[start..end])
    }
}

fn is_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\n' | b'\r' | b'\t' | b'\x0c' | b'\0')
}

/// The first byte from `at` that is not whitespace.
fn skip_space(bytes: &[u8], at: usize) -> Option<usize> {
    bytes
        .get(at..)?
        .iter()
        .position(|byte| !is_space(*byte))
        .map(|length| at + length)
}

fn int_of(word: &[u8]) -> Option<u64> {
    if word.is_empty() || word.len() > 19 || !word.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(word).ok()?.parse().ok()
}

/// The integer at the start of `bytes` (after whitespace).
fn leading_int(bytes: &[u8]) -> Option<u64> {
    let start = skip_space(bytes, 0)?;
    let length = bytes[start..]
        .iter()
        .take_while(|byte| byte.is_ascii_digit())
        .count();
    int_of(&bytes[start..start + length])
}

/// Big-endian unsigned integer of up to 8 bytes.
fn be(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(0_u64, |value, byte| (value << 8) | u64::from(*byte))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

fn rfind(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .rposition(|window| window == needle)
}

/// A PDF token, as far as finding references needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token<'a> {
    /// Without its `/`.
    Name(&'a [u8]),
    Int(u64),
    /// Any other number, string, or keyword but `R`.
    Other,
    Reference,
    OpenArray,
    CloseArray,
    OpenDictionary,
    CloseDictionary,
}

/// The tokens of an object's text, up to its stream's data (`stream`) or `endobj`.
fn tokenize(text: &[u8]) -> Vec<Token<'_>> {
    let mut tokens = Vec::new();
    let mut at = 0;
    while at < text.len() && tokens.len() < MAX_TOKENS {
        let byte = text[at];
        match byte {
            _ if is_space(byte) => at += 1,
            b'%' => {
                while at < text.len() && !matches!(text[at], b'\n' | b'\r') {
                    at += 1;
                }
            }
            b'/' => {
                let start = at + 1;
                at = start;
                while at < text.len() && !is_space(text[at]) && !is_delimiter(text[at]) {
                    at += 1;
                }
                tokens.push(Token::Name(&text[start..at]));
            }
            b'[' => {
                tokens.push(Token::OpenArray);
                at += 1;
            }
            b']' => {
                tokens.push(Token::CloseArray);
                at += 1;
            }
            b'<' if text.get(at + 1) == Some(&b'<') => {
                tokens.push(Token::OpenDictionary);
                at += 2;
            }
            b'>' if text.get(at + 1) == Some(&b'>') => {
                tokens.push(Token::CloseDictionary);
                at += 2;
            }
            b'<' => {
                // A hex string.
                at = text[at..]
                    .iter()
                    .position(|byte| *byte == b'>')
                    .map_or(text.len(), |length| at + length + 1);
                tokens.push(Token::Other);
            }
            b'(' => {
                // A literal string: balanced parentheses, backslash escapes.
                let mut depth = 0_usize;
                while at < text.len() {
                    match text[at] {
                        b'\\' => at += 1,
                        b'(' => depth += 1,
                        b')' => {
                            depth -= 1;
                            if depth == 0 {
                                at += 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                    at += 1;
                }
                tokens.push(Token::Other);
            }
            _ => {
                let start = at;
                while at < text.len() && !is_space(text[at]) && !is_delimiter(text[at]) {
                    at += 1;
                }
                if at == start {
                    // A lone delimiter (`)`, `>`, `{`, `}`).
                    at += 1;
                    continue;
                }
                let word = &text[start..at];
                match word {
                    b"R" => tokens.push(Token::Reference),
                    b"stream" | b"endobj" => break,
                    _ => tokens.push(int_of(word).map_or(Token::Other, Token::Int)),
                }
            }
        }
    }
    tokens
}

fn is_delimiter(byte: u8) -> bool {
    matches!(
        byte,
        b'(' | b')' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'/' | b'%'
    )
}

/// The references in `tokens` (`N G R`), each with the last name before it (its key in
/// the dictionary, or the name before it in an array).
fn refs<'a>(tokens: &[Token<'a>]) -> Vec<(&'a [u8], u32)> {
    let mut found = Vec::new();
    let mut key: &'a [u8] = b"";
    for (index, token) in tokens.iter().enumerate() {
        match token {
            Token::Name(name) => key = *name,
            Token::Reference if index >= 2 => {
                if let (Token::Int(number), Token::Int(_)) = (tokens[index - 2], tokens[index - 1])
                    && let Ok(number) = u32::try_from(number)
                {
                    found.push((key, number));
                }
            }
            _ => {}
        }
    }
    found
}

/// The tokens after the first `/key`.
fn after_key<'t, 'a>(tokens: &'t [Token<'a>], key: &[u8]) -> &'t [Token<'a>] {
    tokens
        .iter()
        .position(|token| *token == Token::Name(key))
        .map_or(&[], |at| &tokens[at + 1..])
}

/// The integer after `/key` (not a reference).
fn dict_int(tokens: &[Token<'_>], key: &[u8]) -> Option<u64> {
    match after_key(tokens, key) {
        [Token::Int(_), Token::Int(_), Token::Reference, ..] => None,
        [Token::Int(value), ..] => Some(*value),
        _ => None,
    }
}

/// The integers of the array after `/key`.
fn dict_ints(tokens: &[Token<'_>], key: &[u8]) -> Vec<u64> {
    match after_key(tokens, key) {
        [Token::OpenArray, rest @ ..] => rest
            .iter()
            .map_while(|token| match token {
                Token::Int(value) => Some(*value),
                _ => None,
            })
            .take(MAX_XREF_ENTRIES)
            .collect(),
        _ => Vec::new(),
    }
}

/// The object's `/Type`.
fn type_of(tokens: &[Token<'_>]) -> Option<Vec<u8>> {
    match after_key(tokens, b"Type") {
        [Token::Name(name), ..] => Some(name.to_vec()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::io::Write as _;

    use object_store::ObjectStoreExt as _;

    use super::*;

    /// A PDF written object by object, each one's range kept.
    struct Builder {
        bytes: Vec<u8>,
        objects: BTreeMap<u32, Range<u64>>,
    }

    impl Builder {
        fn new() -> Self {
            Self {
                bytes: b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n".to_vec(),
                objects: BTreeMap::new(),
            }
        }

        fn object(&mut self, number: u32, body: &[u8]) {
            let start = self.bytes.len() as u64;
            self.bytes
                .extend_from_slice(format!("{number} 0 obj\n").as_bytes());
            self.bytes.extend_from_slice(body);
            self.bytes.extend_from_slice(b"\nendobj");
            self.objects.insert(number, start..self.bytes.len() as u64);
            self.bytes.push(b'\n');
        }

        fn stream(&mut self, number: u32, dictionary: &str, data: &[u8]) {
            let mut body =
                format!("<< {dictionary} /Length {} >>\nstream\n", data.len()).into_bytes();
            body.extend_from_slice(data);
            body.extend_from_slice(b"\nendstream");
            self.object(number, &body);
        }

        /// An unreferenced stream of `length` bytes.
        fn padding(&mut self, number: u32, length: usize) {
            let data: Vec<u8> = (0..length).map(|index| (index % 89) as u8 + b' ').collect();
            self.stream(number, "", &data);
        }

        /// A classic table and trailer; returns the file and the table's offset.
        fn classic(mut self, root: u32) -> (Vec<u8>, BTreeMap<u32, Range<u64>>, u64) {
            let xref = self.bytes.len() as u64;
            let size = self.objects.keys().max().copied().unwrap_or(0) + 1;
            self.bytes
                .extend_from_slice(format!("xref\n0 {size}\n").as_bytes());
            for number in 0..size {
                let entry = match self.objects.get(&number) {
                    Some(range) => format!("{:010} 00000 n \n", range.start),
                    None => "0000000000 65535 f \n".to_owned(),
                };
                self.bytes.extend_from_slice(entry.as_bytes());
            }
            self.bytes.extend_from_slice(
                format!("trailer\n<< /Size {size} /Root {root} 0 R >>\nstartxref\n{xref}\n%%EOF\n")
                    .as_bytes(),
            );
            (self.bytes, self.objects, xref)
        }
    }

    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut encoder =
            flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(data).expect("compressed");
        encoder.finish().expect("compressed")
    }

    const LIMITS: PdfLimits = PdfLimits {
        max_objects: 100,
        budget: 1 << 30,
    };

    async fn ranges_of(pdf: &[u8], limits: PdfLimits) -> Option<Vec<Range<u64>>> {
        let objects = object_store::memory::InMemory::new();
        let path = Path::from("doc.pdf");
        objects
            .put(&path, pdf.to_vec().into())
            .await
            .expect("stored");
        first_page_ranges(&objects, &path, pdf.len() as u64, limits)
            .await
            .expect("read")
    }

    fn covers(ranges: &[Range<u64>], object: &Range<u64>) -> bool {
        ranges
            .iter()
            .any(|range| range.start <= object.start && object.end <= range.end)
    }

    /// One page's objects between two paddings, a second page, an outline and a link
    /// to the second page that are not followed.
    fn middle_pdf() -> (Vec<u8>, BTreeMap<u32, Range<u64>>, u64) {
        let mut pdf = Builder::new();
        pdf.padding(20, 100_000);
        pdf.object(1, b"<< /Type /Catalog /Pages 2 0 R /Outlines 11 0 R >>");
        pdf.object(
            2,
            b"<< /Type /Pages /Kids [3 0 R 10 0 R] /Count 2 /Resources << /ProcSet 13 0 R >> >>",
        );
        pdf.object(
            3,
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 200] /Contents [4 0 R] \
              /Resources << /Font << /F1 5 0 R >> /XObject << /Im (a (string) 99 0 R) /Im1 6 0 R >> >> \
              /Annots [12 0 R] >>",
        );
        pdf.stream(4, "", b"1 0 0 rg 0 100 300 100 re f");
        pdf.object(
            5,
            b"<< /Type /Font /Subtype /TrueType /FontDescriptor 7 0 R >>",
        );
        pdf.stream(
            6,
            "/Type /XObject /Subtype /Image /Width 1 /Height 1 /ColorSpace [/ICCBased 9 0 R]",
            b"\xff",
        );
        pdf.object(7, b"<< /Type /FontDescriptor /FontFile2 8 0 R >>");
        pdf.stream(8, "", b"font bytes 3 0 R");
        pdf.stream(9, "/N 3", b"icc");
        pdf.object(10, b"<< /Type /Page /Parent 2 0 R /Contents 14 0 R >>");
        pdf.object(11, b"<< /Type /Outlines /First 10 0 R >>");
        pdf.object(
            12,
            b"<< /Type /Annot /Subtype /Link /P 3 0 R /Dest [10 0 R /Fit] >>",
        );
        pdf.object(13, b"[/PDF /Text]");
        pdf.stream(14, "", b"0 0 1 rg 0 0 300 200 re f");
        pdf.padding(21, 100_000);
        pdf.classic(1)
    }

    #[tokio::test]
    async fn the_first_pages_objects_are_found_from_a_classic_table_and_no_others() {
        let (pdf, objects, xref) = middle_pdf();
        let ranges = ranges_of(&pdf, LIMITS).await.expect("ranges");
        for number in [1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13] {
            assert!(
                covers(&ranges, &objects[&number]),
                "object {number}: {ranges:?}"
            );
        }
        for number in [10, 11, 14, 20, 21] {
            assert!(
                !covers(&ranges, &objects[&number]),
                "not object {number}: {ranges:?}"
            );
        }
        assert!(
            ranges.iter().any(|range| range.start == xref),
            "the table itself: {ranges:?}"
        );
        let total: u64 = ranges.iter().map(|range| range.end - range.start).sum();
        assert!(total < 4000, "{total} bytes");

        // A budget or an object count too small: cut short, never more than allowed.
        let few = ranges_of(
            &pdf,
            PdfLimits {
                max_objects: 3,
                budget: 1 << 30,
            },
        )
        .await
        .expect("ranges");
        assert!(
            covers(&few, &objects[&3]) && !covers(&few, &objects[&4]),
            "{few:?}"
        );
        let small = PdfLimits {
            max_objects: 100,
            budget: 1200,
        };
        let cut = ranges_of(&pdf, small).await.expect("ranges");
        let total: u64 = cut.iter().map(|range| range.end - range.start).sum();
        assert!(total <= 1200 && covers(&cut, &objects[&1]), "{cut:?}");
        assert_eq!(
            ranges_of(
                &pdf,
                PdfLimits {
                    max_objects: 100,
                    budget: 10
                }
            )
            .await,
            None,
            "not even the table"
        );
    }

    /// A PDF 1.5 of a page (red over white) whose catalog, page tree and page are in an
    /// object stream (30) and whose cross-reference stream (31) is at its end, both
    /// between two unreferenced streams of `padding` bytes (20, 21).
    fn xref_stream_pdf(padding: usize) -> (Vec<u8>, BTreeMap<u32, Range<u64>>) {
        let mut pdf = Builder::new();
        pdf.padding(20, padding);
        // Catalog, pages and page compressed in object stream 30.
        let texts: [&[u8]; 3] = [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 200] /Contents 4 0 R >>",
        ];
        let second = texts[0].len() + 1;
        let third = second + texts[1].len() + 1;
        let header = format!("1 0 2 {second} 3 {third}\n");
        let data = [
            header.as_bytes(),
            texts[0],
            &b"\n"[..],
            texts[1],
            &b"\n"[..],
            texts[2],
        ]
        .concat();
        pdf.stream(
            30,
            &format!(
                "/Type /ObjStm /N 3 /First {} /Filter /FlateDecode",
                header.len()
            ),
            &zlib(&data),
        );
        pdf.stream(4, "", b"1 0 0 rg 0 100 300 100 re f");
        pdf.padding(21, padding);
        // The cross-reference stream (object 31), rows of [1 4 2] with the PNG Up
        // predictor, as writers make them.
        let xref = pdf.bytes.len() as u64;
        let mut rows: Vec<[u8; 7]> = Vec::new();
        for number in 0..32_u32 {
            let (kind, field2, field3) = match number {
                1..=3 => (2_u8, 30_u32, (number - 1) as u16),
                31 => (1, xref as u32, 0),
                _ => match pdf.objects.get(&number) {
                    Some(range) => (1, range.start as u32, 0),
                    None => (0, 0, 0),
                },
            };
            let mut row = [0_u8; 7];
            row[0] = kind;
            row[1..5].copy_from_slice(&field2.to_be_bytes());
            row[5..].copy_from_slice(&field3.to_be_bytes());
            rows.push(row);
        }
        let mut predicted = Vec::new();
        let mut previous = [0_u8; 7];
        for row in &rows {
            predicted.push(2);
            predicted.extend(
                row.iter()
                    .zip(previous)
                    .map(|(byte, up)| byte.wrapping_sub(up)),
            );
            previous = *row;
        }
        pdf.stream(
            31,
            "/Type /XRef /Size 32 /W [1 4 2] /Root 1 0 R /Filter /FlateDecode \
             /DecodeParms << /Predictor 12 /Columns 7 >>",
            &zlib(&predicted),
        );
        let objects = pdf.objects.clone();
        let mut bytes = pdf.bytes;
        bytes.extend_from_slice(format!("startxref\n{xref}\n%%EOF\n").as_bytes());
        (bytes, objects)
    }

    #[tokio::test]
    async fn objects_in_an_object_stream_are_found_from_a_cross_reference_stream() {
        let (bytes, objects) = xref_stream_pdf(50_000);
        let ranges = ranges_of(&bytes, LIMITS).await.expect("ranges");
        for number in [30, 4, 31] {
            assert!(
                covers(&ranges, &objects[&number]),
                "object {number}: {ranges:?}"
            );
        }
        for number in [20, 21] {
            assert!(!covers(&ranges, &objects[&number]), "not object {number}");
        }
    }

    #[tokio::test]
    async fn broken_cross_reference_data_gives_nothing_and_never_a_panic() {
        let (pdf, _, xref) = middle_pdf();
        // No startxref; one past the end; a table that does not parse.
        let cut = &pdf[..pdf.len() - 30];
        assert_eq!(ranges_of(cut, LIMITS).await, None);
        let mut past = pdf[..xref as usize].to_vec();
        past.extend_from_slice(b"startxref\n99999999\n%%EOF\n");
        assert_eq!(ranges_of(&past, LIMITS).await, None);
        let mut bad = pdf.clone();
        bad[xref as usize..xref as usize + 4].copy_from_slice(b"xraf");
        assert_eq!(ranges_of(&bad, LIMITS).await, None);
        // A `/Prev` that points to itself ends.
        let mut looped = pdf[..xref as usize].to_vec();
        let table_end = pdf.len() - format!("startxref\n{xref}\n%%EOF\n").len();
        let table = String::from_utf8_lossy(&pdf[xref as usize..table_end])
            .replace("/Root 1 0 R", &format!("/Root 1 0 R /Prev {xref}"));
        looped.extend_from_slice(table.as_bytes());
        looped.extend_from_slice(format!("startxref\n{xref}\n%%EOF\n").as_bytes());
        assert!(ranges_of(&looped, LIMITS).await.is_some());
        // Every byte of the table and trailer replaced: whatever comes out, no panic.
        for at in (xref as usize..pdf.len()).step_by(3) {
            for value in [b'0', b'9', b' ', b'<', b'(', 0xFF] {
                let mut damaged = pdf.clone();
                damaged[at] = value;
                let _ = ranges_of(&damaged, LIMITS).await;
            }
        }
    }

    /// Through the copy for pdftoppm (64 KiB of head and tail): the object stream and the
    /// page's contents, found from the cross-reference stream, are enough to render it;
    /// without them (no extra bytes), nothing renders.
    #[tokio::test]
    async fn pdftoppm_renders_a_page_from_an_object_stream_copied_from_the_middle() {
        use talkapp_common::config::{Config, ConfigSources};

        let (bytes, objects) = xref_stream_pdf(600_000);
        // Between the head (48 KiB) and the tail (16 KiB).
        assert!(objects[&30].start > 65536 && objects[&4].end + 16384 < bytes.len() as u64);
        let store = object_store::memory::InMemory::new();
        let path = Path::from("doc.pdf");
        store
            .put(&path, bytes.clone().into())
            .await
            .expect("stored");
        for (extra, rendered) in [("16777216", true), ("0", false)] {
            let config = Config::load(&ConfigSources {
                overrides: [
                    ("media.frame_max_source_bytes", "65536"),
                    ("media.frame_max_extra_bytes", extra),
                ]
                .iter()
                .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
                .collect(),
                ..ConfigSources::default()
            })
            .expect("config");
            let tools = crate::frames::FrameTools::from_config(&config.media);
            assert!(
                tools.covers("application/pdf"),
                "pdftoppm and prlimit on PATH"
            );
            let preview = tools
                .preview(crate::frames::StoredFile {
                    objects: &store,
                    path: &path,
                    local: None,
                    size: bytes.len() as u64,
                    mime: "application/pdf",
                    duration_ms: None,
                })
                .await;
            if rendered {
                let image = image::load_from_memory(&preview.expect("a preview"))
                    .expect("an image")
                    .to_rgb8();
                let top = image.get_pixel(image.width() / 2, 10).0;
                assert!(top[0] > 200 && top[1] < 60 && top[2] < 60, "red: {top:?}");
            } else {
                assert!(preview.is_err(), "no page without its objects");
            }
        }
    }

    #[test]
    fn png_predictors_are_undone_and_tokens_skip_strings_and_comments() {
        // Rows of two columns: None, Sub, Up, Average, Paeth.
        let data = [0, 1, 2, 1, 1, 1, 2, 1, 1, 3, 1, 1, 4, 1, 1];
        assert_eq!(
            unpredict_png(&data, 2),
            Some(vec![1, 2, 1, 2, 2, 3, 2, 3, 3, 4])
        );
        assert_eq!(unpredict_png(&[9, 0, 0], 2), None, "no such filter");
        let tokens =
            tokenize(b"<< /A (x 1 0 R \\) y) % 2 0 R\n /B <4142> /C [5 0 R] >> stream 6 0 R");
        assert_eq!(refs(&tokens), vec![(&b"C"[..], 5)]);
    }
}
