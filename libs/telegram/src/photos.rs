//! Photos of chats and of the account itself, from uploaded files: a basic group's with
//! `messages.editChatPhoto`, a supergroup's or channel's with `channels.editPhoto`
//! (`inputChatUploadedPhoto` to set, `inputChatPhotoEmpty` to remove), the account's
//! own with `photos.uploadProfilePhoto`; removing the own photo is
//! `photos.getUserPhotos` (the current one) then `photos.deletePhotos`, as Telegram's
//! apps do.
//!
//! The bytes go up the way a media send's do ([`Account::upload`](crate::send_media)):
//! streamed from a [`FileSource`] in 512 KiB parts. Removing a photo a chat does not
//! have (`CHAT_NOT_MODIFIED`) is no change, not an error.

use grammers_client::tl;

use crate::account::Account;
use crate::error::TelegramError;
use crate::model::ChatId;
use crate::profiles::UserProfile;
use crate::send_media::{FileSource, OutgoingFile};

/// An uploaded file to make a photo of, and where its bytes come from (file `0` of the
/// source).
#[derive(Clone, Copy)]
pub struct NewPhoto<'a> {
    /// The file, as the media service knows it.
    pub file: &'a OutgoingFile,
    /// Its bytes.
    pub source: &'a dyn FileSource,
}

fn not_modified(error: &TelegramError) -> bool {
    matches!(error, TelegramError::Refused { name, .. } if name == "CHAT_NOT_MODIFIED")
}

impl Account {
    /// Sets (`Some`) or removes (`None`) a group's or channel's photo. Returns whether
    /// Telegram changed anything. `PEER_ID_INVALID` for a private chat; Telegram's
    /// refusals otherwise as they come (`CHAT_ADMIN_REQUIRED`, `PHOTO_INVALID`,
    /// `IMAGE_PROCESS_FAILED`, `PHOTO_CROP_SIZE_SMALL`, ...).
    pub async fn set_chat_photo(
        &self,
        chat_id: ChatId,
        photo: Option<NewPhoto<'_>>,
    ) -> Result<bool, TelegramError> {
        let peer = self.input_peer(chat_id).await?;
        if !matches!(
            peer,
            tl::enums::InputPeer::Chat(_) | tl::enums::InputPeer::Channel(_)
        ) {
            return Err(TelegramError::Refused {
                code: 400,
                name: "PEER_ID_INVALID".into(),
            });
        }
        let input: tl::enums::InputChatPhoto = match photo {
            Some(photo) => tl::types::InputChatUploadedPhoto {
                file: Some(self.upload(photo.file, photo.source, 0).await?),
                video: None,
                video_start_ts: None,
                video_emoji_markup: None,
            }
            .into(),
            None => tl::enums::InputChatPhoto::Empty,
        };
        let answer = match &peer {
            tl::enums::InputPeer::Chat(chat) => {
                self.call(&tl::functions::messages::EditChatPhoto {
                    chat_id: chat.chat_id,
                    photo: input,
                })
                .await
            }
            tl::enums::InputPeer::Channel(channel) => {
                self.call(&tl::functions::channels::EditPhoto {
                    channel: tl::types::InputChannel {
                        channel_id: channel.channel_id,
                        access_hash: channel.access_hash,
                    }
                    .into(),
                    photo: input,
                })
                .await
            }
            _ => unreachable!("checked above"),
        };
        match answer {
            Ok(updates) => {
                if let tl::enums::Updates::Updates(all) = &updates {
                    self.remember(&all.users, &all.chats).await;
                }
                Ok(true)
            }
            Err(error) if not_modified(&error) => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// Makes an uploaded picture the account's profile photo; answers the profile as it
    /// is afterwards.
    pub async fn set_own_photo(&self, photo: NewPhoto<'_>) -> Result<UserProfile, TelegramError> {
        let file = self.upload(photo.file, photo.source, 0).await?;
        let tl::enums::photos::Photo::Photo(answer) = self
            .call(&tl::functions::photos::UploadProfilePhoto {
                fallback: false,
                bot: None,
                file: Some(file),
                video: None,
                video_start_ts: None,
                video_emoji_markup: None,
            })
            .await?;
        self.remember(&answer.users, &[]).await;
        self.own_profile().await
    }

    /// Removes the account's current profile photo (none: nothing to do); answers the
    /// profile as it is afterwards (an older photo may be current again).
    pub async fn delete_own_photo(&self) -> Result<UserProfile, TelegramError> {
        let photos = self
            .call(&tl::functions::photos::GetUserPhotos {
                user_id: tl::enums::InputUser::UserSelf,
                offset: 0,
                max_id: 0,
                limit: 1,
            })
            .await?;
        let (tl::enums::photos::Photos::Photos(tl::types::photos::Photos { photos, users })
        | tl::enums::photos::Photos::Slice(tl::types::photos::PhotosSlice {
            photos,
            users,
            ..
        })) = photos;
        self.remember(&users, &[]).await;
        let current = photos.into_iter().find_map(|photo| match photo {
            tl::enums::Photo::Photo(photo) => Some(tl::types::InputPhoto {
                id: photo.id,
                access_hash: photo.access_hash,
                file_reference: photo.file_reference,
            }),
            tl::enums::Photo::Empty(_) => None,
        });
        if let Some(current) = current {
            self.call(&tl::functions::photos::DeletePhotos {
                id: vec![current.into()],
            })
            .await?;
        }
        self.own_profile().await
    }
}
