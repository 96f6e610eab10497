//! A small in-memory LRU of recently served small files (thumbnails, chat photos, small
//! photo sizes), so a chat list's pictures shown again do not each cost a Telegram call.
//!
//! Entries are per account and per file (Telegram's id and size letter, not the file
//! reference, which changes), and are only ever looked up after the reference was
//! resolved for that account: a hit never serves another account's file, and an edited
//! message's new file is a different entry.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use talkapp_store::AccountKey;
use talkapp_telegram::download::DownloadSource;
use talkapp_telegram::model::FileLocation;

/// A file kept in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedFile {
    /// Its type, as sniffed or described.
    pub mime_type: String,
    /// Its name, if any.
    pub file_name: String,
    /// Its bytes.
    pub bytes: Arc<[u8]>,
}

/// What identifies a file across file-reference refreshes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FileKey {
    account: AccountKey,
    file: String,
}

impl FileKey {
    /// The key of `source` for `account`.
    pub fn new(account: AccountKey, source: &DownloadSource) -> Self {
        let file = match source {
            DownloadSource::File(FileLocation::Photo { id, thumb_size, .. }) => {
                format!("photo:{id}:{thumb_size}")
            }
            DownloadSource::File(FileLocation::Document { id, thumb_size, .. }) => {
                format!("document:{id}:{thumb_size}")
            }
            DownloadSource::ChatPhoto {
                chat_id,
                photo_id,
                big,
            } => format!("chat-photo:{chat_id}:{photo_id}:{big}"),
        };
        Self { account, file }
    }
}

struct Entry {
    file: CachedFile,
    last_used: u64,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<FileKey, Entry>,
    /// `last_used` -> key, oldest first.
    order: BTreeMap<u64, FileKey>,
    bytes: usize,
    clock: u64,
}

/// The cache: at most `capacity_bytes` of files of at most `max_file_bytes` each.
pub struct MediaCache {
    capacity_bytes: usize,
    max_file_bytes: usize,
    inner: Mutex<Inner>,
}

impl MediaCache {
    /// A cache of `capacity_bytes` (0: nothing is kept) holding files up to
    /// `max_file_bytes`.
    pub fn new(capacity_bytes: usize, max_file_bytes: usize) -> Self {
        Self {
            capacity_bytes,
            max_file_bytes: max_file_bytes.min(capacity_bytes),
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The file, when kept; it becomes the most recently used.
    pub fn get(&self, key: &FileKey) -> Option<CachedFile> {
        let mut inner = self.lock();
        inner.clock += 1;
        let now = inner.clock;
        let entry = inner.entries.get_mut(key)?;
        let previous = std::mem::replace(&mut entry.last_used, now);
        let file = entry.file.clone();
        inner.order.remove(&previous);
        inner.order.insert(now, key.clone());
        Some(file)
    }

    /// Keeps a file when it is small enough, dropping the least recently used ones to
    /// make room.
    pub fn put(&self, key: FileKey, file: CachedFile) {
        let size = file.bytes.len();
        if size > self.max_file_bytes {
            return;
        }
        let mut inner = self.lock();
        inner.clock += 1;
        let now = inner.clock;
        if let Some(old) = inner.entries.remove(&key) {
            inner.order.remove(&old.last_used);
            inner.bytes -= old.file.bytes.len();
        }
        while inner.bytes + size > self.capacity_bytes {
            let Some((_, oldest)) = inner.order.pop_first() else {
                break;
            };
            if let Some(evicted) = inner.entries.remove(&oldest) {
                inner.bytes -= evicted.file.bytes.len();
            }
        }
        inner.bytes += size;
        inner.order.insert(now, key.clone());
        inner.entries.insert(
            key,
            Entry {
                file,
                last_used: now,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(account: u32, id: i64) -> FileKey {
        FileKey::new(
            AccountKey {
                user_id: uuid::Uuid::nil(),
                session_index: account,
            },
            &DownloadSource::File(FileLocation::Photo {
                id,
                access_hash: 1,
                file_reference: vec![id as u8],
                thumb_size: "m".into(),
                dc_id: 2,
            }),
        )
    }

    fn file(size: usize) -> CachedFile {
        CachedFile {
            mime_type: "image/png".into(),
            file_name: String::new(),
            bytes: vec![1; size].into(),
        }
    }

    #[test]
    fn the_least_recently_used_files_make_room_and_large_ones_are_not_kept() {
        let cache = MediaCache::new(100, 50);
        cache.put(key(1, 1), file(40));
        cache.put(key(1, 2), file(40));
        // Using 1 makes 2 the oldest.
        assert!(cache.get(&key(1, 1)).is_some());
        cache.put(key(1, 3), file(40));
        assert!(cache.get(&key(1, 2)).is_none());
        assert!(cache.get(&key(1, 1)).is_some());
        assert!(cache.get(&key(1, 3)).is_some());
        cache.put(key(1, 4), file(51));
        assert!(cache.get(&key(1, 4)).is_none());
    }

    #[test]
    fn files_are_kept_per_account_whatever_their_file_reference() {
        let cache = MediaCache::new(100, 50);
        cache.put(key(1, 1), file(10));
        assert!(cache.get(&key(2, 1)).is_none(), "another account's");
        let refreshed = FileKey::new(
            AccountKey {
                user_id: uuid::Uuid::nil(),
                session_index: 1,
            },
            &DownloadSource::File(FileLocation::Photo {
                id: 1,
                access_hash: 1,
                file_reference: vec![9, 9, 9],
                thumb_size: "m".into(),
                dc_id: 2,
            }),
        );
        assert!(cache.get(&refreshed).is_some());
        assert!(MediaCache::new(0, 50).get(&key(1, 1)).is_none());
    }
}
