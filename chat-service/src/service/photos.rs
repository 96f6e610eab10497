//! Photos from uploaded files: a group's or channel's (`messages.editChatPhoto`,
//! `channels.editPhoto`) and the account's own profile photo
//! (`photos.uploadProfilePhoto`), set and removed through the account's host.
//!
//! The file is the user's upload at the media service: pinned for a job of its own
//! (another user's file is not found), checked to be a still image, read by the
//! account's host and streamed to Telegram as a media send's files are (ADR 0020), and
//! released when Telegram has answered.

use talkapp_store::{AccountKey, MediaKind};
use talkapp_telegram::profiles::UserProfile;

use super::{ChatError, ChatService, parse_uuid};
use crate::account_host::PhotoFile;
use crate::reads::{ChatView, ReadError};

/// Telegram's largest photo (10 MiB); a larger image is refused before it is uploaded.
const MAX_PHOTO_BYTES: u64 = 10 * 1024 * 1024;

impl ChatService {
    /// Pins the user's uploaded file `file_id` for a photo; a file that is no still
    /// image is released again and refused.
    async fn pin_photo(&self, key: AccountKey, file_id: &str) -> Result<PhotoFile, ChatError> {
        let file_id = parse_uuid("file_id", file_id)?;
        let (job_id, pinned) = self.sends.pin_photo(key.user_id, file_id).await?;
        if pinned.kind == MediaKind::Photo && pinned.size > MAX_PHOTO_BYTES {
            self.sends.release_photo(job_id).await;
            return Err(ChatError::PhotoInvalid(format!(
                "a photo may have at most {} MiB (Telegram's limit)",
                MAX_PHOTO_BYTES / (1024 * 1024)
            )));
        }
        if pinned.kind != MediaKind::Photo {
            self.sends.release_photo(job_id).await;
            return Err(ChatError::PhotoInvalid(format!(
                "the file is {} {}, not an image",
                article(pinned.kind.as_str()),
                pinned.kind.as_str()
            )));
        }
        Ok(PhotoFile {
            job_id,
            file_id: pinned.file_id,
            sha256: pinned.sha256,
            size: pinned.size,
            mime: pinned.mime,
            file_name: pinned.file_name,
        })
    }

    /// Sets a group's or channel's photo from the user's uploaded image (`file_id`), or
    /// removes it (`None`; removing none is no change), through the account's host; the
    /// chat as listed afterwards.
    #[tracing::instrument(skip_all, fields(user_id = %key.user_id, session_index = key.session_index))]
    pub async fn set_chat_photo(
        &self,
        key: AccountKey,
        chat_id: i64,
        file_id: Option<&str>,
    ) -> Result<ChatView, ChatError> {
        if chat_id > 0 {
            return Err(ChatError::InvalidArgument(
                "private chats have no photo to change".into(),
            ));
        }
        self.known_chat(key, chat_id).await?;
        let photo = match file_id {
            Some(file_id) => Some(self.pin_photo(key, file_id).await?),
            None => None,
        };
        let job_id = photo.as_ref().map(|photo| photo.job_id);
        let changed = match self.router.host_of(key) {
            Ok(host) => host.set_chat_photo(key, chat_id, photo).await,
            Err(error) => Err(error),
        };
        if let Some(job_id) = job_id {
            self.sends.release_photo(job_id).await;
        }
        changed?;
        Ok(self
            .reads
            .chat_view(key, chat_id)
            .await?
            .ok_or(ReadError::ChatNotFound(chat_id))?)
    }

    /// Sets the account's profile photo from the user's uploaded image (`file_id`), or
    /// removes the current one (`None`), through the account's host; the profile as it
    /// is afterwards (the list of linked accounts shows its photo from the cache).
    #[tracing::instrument(skip_all, fields(user_id = %key.user_id, session_index = key.session_index))]
    pub async fn set_own_photo(
        &self,
        key: AccountKey,
        file_id: Option<&str>,
    ) -> Result<UserProfile, ChatError> {
        let photo = match file_id {
            Some(file_id) => Some(self.pin_photo(key, file_id).await?),
            None => None,
        };
        let job_id = photo.as_ref().map(|photo| photo.job_id);
        let profile = match self.router.host_of(key) {
            Ok(host) => host.set_own_photo(key, photo).await,
            Err(error) => Err(error),
        };
        if let Some(job_id) = job_id {
            self.sends.release_photo(job_id).await;
        }
        let profile = profile?;
        self.follow_names(key, &profile).await?;
        Ok(profile)
    }
}

fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}
