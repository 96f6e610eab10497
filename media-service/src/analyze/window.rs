//! Reads an object by ranges through a window of [`WINDOW_BYTES`] (or another size), so
//! that the many small reads of a container walk cost one request per window (S3) rather
//! than one each.

use bytes::Bytes;
use object_store::ObjectStore;
use object_store::path::Path;

use super::read_range;
use crate::error::Result;

/// Bytes fetched at once (the headers of a container sit in its first few KiB).
const WINDOW_BYTES: u64 = 64 * 1024;

/// A cached window over one object.
pub(crate) struct Window<'a> {
    objects: &'a dyn ObjectStore,
    path: &'a Path,
    /// The object's size.
    pub(crate) size: u64,
    /// Bytes fetched at once, at least.
    chunk: u64,
    start: u64,
    bytes: Bytes,
}

impl<'a> Window<'a> {
    pub(crate) fn new(objects: &'a dyn ObjectStore, path: &'a Path, size: u64) -> Self {
        Self {
            objects,
            path,
            size,
            chunk: WINDOW_BYTES,
            start: 0,
            bytes: Bytes::new(),
        }
    }

    /// Another window over the same object, fetching `chunk` bytes at once.
    pub(crate) fn with_chunk(&self, chunk: u64) -> Self {
        Self {
            chunk,
            ..Self::new(self.objects, self.path, self.size)
        }
    }

    /// Up to `len` bytes from `offset` (fewer at the end of the object, none past it).
    pub(crate) async fn read(&mut self, offset: u64, len: u64) -> Result<Bytes> {
        if offset >= self.size {
            return Ok(Bytes::new());
        }
        let end = offset.saturating_add(len).min(self.size);
        let cached_end = self.start + self.bytes.len() as u64;
        if offset < self.start || end > cached_end {
            let fetch_end = offset.saturating_add(len.max(self.chunk)).min(self.size);
            self.bytes = read_range(self.objects, self.path, offset, fetch_end).await?;
            self.start = offset;
        }
        let from = usize::try_from(offset - self.start).unwrap_or(usize::MAX);
        let to = usize::try_from(end - self.start).unwrap_or(usize::MAX);
        Ok(self
            .bytes
            .get(from..to)
            .map(|slice| self.bytes.slice_ref(slice))
            .unwrap_or_default())
    }
}
