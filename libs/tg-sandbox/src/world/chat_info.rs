//! A group's or channel's title and description over the API:
//! `messages.editChatTitle`, `channels.editTitle`, `messages.editChatAbout`.
//!
//! Telegram's rules kept: only the creator and admins change them
//! (`CHAT_ADMIN_REQUIRED`); the same title again is `CHAT_NOT_MODIFIED`, the same
//! description `CHAT_ABOUT_NOT_MODIFIED`, one over 255 characters `CHAT_ABOUT_TOO_LONG`; a
//! new title is told by `messageActionChatEditTitle`.
//!
//! Photos (`messages.editChatPhoto`, `channels.editPhoto`) and the account's own
//! (`photos.uploadProfilePhoto`, `photos.deletePhotos`): a new one is made of the
//! uploaded bytes (`IMAGE_PROCESS_FAILED` when they are no image,
//! `PHOTO_CROP_SIZE_SMALL` under 160×160) and told by `messageActionChatEditPhoto`,
//! a removed one by `messageActionChatDeletePhoto`; removing an absent one is
//! `CHAT_NOT_MODIFIED`. A user keeps only the current photo (Telegram keeps the older
//! ones, and makes the previous one current when the current one is deleted).

use super::groups::check_title;
use super::{Draft, GroupError, Peer, PeerPhotoError, Sent, ServiceAction, UserId, World};

/// Telegram's longest description.
const ABOUT_LENGTH_MAX: usize = 255;

impl World {
    /// Whether `by` may change the chat's info: its creator or an admin (`Err` when the
    /// chat does not exist or `by` is not a member).
    fn may_change_info(&self, by: UserId, peer: Peer) -> Result<bool, GroupError> {
        match peer {
            Peer::Chat(id) => {
                let group = self.chats.get(&id).ok_or(GroupError::ChatInvalid)?;
                if !group.members.contains(&by) {
                    return Err(GroupError::ChatInvalid);
                }
                Ok(group.creator == by || group.admins.contains(&by))
            }
            Peer::Channel(id) => {
                let record = self.channels.get(&id).ok_or(GroupError::ChatInvalid)?;
                if !record.members.contains(&by) {
                    return Err(GroupError::ChannelPrivate);
                }
                Ok(record.creator == by || record.admins.contains_key(&by))
            }
            Peer::User(_) => Err(GroupError::ChatInvalid),
        }
    }

    /// `messages.editChatTitle` / `channels.editTitle`: a new title, told to every member
    /// by `messageActionChatEditTitle`.
    pub(crate) fn edit_title(
        &mut self,
        by: UserId,
        peer: Peer,
        title: &str,
        date: i32,
    ) -> Result<Sent, GroupError> {
        if !self.may_change_info(by, peer)? {
            return Err(GroupError::AdminRequired);
        }
        let title = check_title(title)?;
        if self.title(peer) == Some(title.as_str()) {
            return Err(GroupError::NotModified);
        }
        let draft = Draft {
            action: Some(ServiceAction::ChatEditTitle {
                title: title.clone(),
            }),
            ..Draft::default()
        };
        match peer {
            Peer::Chat(id) => {
                if let Some(group) = self.chats.get_mut(&id) {
                    group.title = title;
                }
            }
            Peer::Channel(id) => {
                if let Some(record) = self.channels.get_mut(&id) {
                    record.title = title;
                }
            }
            Peer::User(_) => return Err(GroupError::ChatInvalid),
        }
        Ok(self.post(by, peer, draft, date)?)
    }

    /// `messages.editChatPhoto` / `channels.editPhoto`: a new photo made of uploaded
    /// `bytes`, or none; told to every member by `messageActionChatEditPhoto` /
    /// `messageActionChatDeletePhoto`.
    pub(crate) fn edit_photo(
        &mut self,
        by: UserId,
        peer: Peer,
        bytes: Option<Vec<u8>>,
        date: i32,
    ) -> Result<Sent, GroupError> {
        if !self.may_change_info(by, peer)? {
            return Err(GroupError::AdminRequired);
        }
        let photo = match bytes {
            Some(bytes) => Some(self.create_peer_photo(bytes, date).map_err(
                |error| match error {
                    PeerPhotoError::NotAnImage => GroupError::ImageProcessFailed,
                    PeerPhotoError::TooSmall => GroupError::PhotoCropSizeSmall,
                },
            )?),
            None if self.peer_photo(peer).is_none() => return Err(GroupError::NotModified),
            None => None,
        };
        let draft = Draft {
            action: Some(match photo {
                Some(photo) => ServiceAction::ChatEditPhoto { photo },
                None => ServiceAction::ChatDeletePhoto,
            }),
            ..Draft::default()
        };
        match peer {
            Peer::Chat(id) => {
                if let Some(group) = self.chats.get_mut(&id) {
                    group.photo = photo;
                }
            }
            Peer::Channel(id) => {
                if let Some(record) = self.channels.get_mut(&id) {
                    record.photo = photo;
                }
            }
            Peer::User(_) => return Err(GroupError::ChatInvalid),
        }
        Ok(self.post(by, peer, draft, date)?)
    }

    /// `photos.uploadProfilePhoto`: the user's new profile photo, made of uploaded
    /// `bytes`.
    pub(crate) fn set_own_photo(
        &mut self,
        user: UserId,
        bytes: Vec<u8>,
        date: i32,
    ) -> Result<i64, PeerPhotoError> {
        let photo = self.create_peer_photo(bytes, date)?;
        if let Some(record) = self.users.get_mut(&user) {
            record.photo = Some(photo);
        }
        Ok(photo)
    }

    /// `photos.deletePhotos`: removes the user's photo `photo_id` if it is the current
    /// one; whether it was.
    pub(crate) fn delete_own_photo(&mut self, user: UserId, photo_id: i64) -> bool {
        match self.users.get_mut(&user) {
            Some(record) if record.photo == Some(photo_id) => {
                record.photo = None;
                true
            }
            _ => false,
        }
    }

    /// `messages.editChatAbout`: a new description of a group or channel.
    pub(crate) fn edit_about(
        &mut self,
        by: UserId,
        peer: Peer,
        about: &str,
    ) -> Result<(), GroupError> {
        if !self.may_change_info(by, peer)? {
            return Err(GroupError::AdminRequired);
        }
        if about.chars().count() > ABOUT_LENGTH_MAX {
            return Err(GroupError::AboutTooLong);
        }
        let current = match peer {
            Peer::Chat(id) => self.chats.get_mut(&id).map(|group| &mut group.about),
            Peer::Channel(id) => self.channels.get_mut(&id).map(|record| &mut record.about),
            Peer::User(_) => None,
        }
        .ok_or(GroupError::ChatInvalid)?;
        if current == about {
            return Err(GroupError::AboutNotModified);
        }
        about.clone_into(current);
        Ok(())
    }

    /// The id of a basic group's or channel's current photo (tests).
    pub fn chat_photo_id(&self, peer: Peer) -> Option<i64> {
        match peer {
            Peer::Chat(_) | Peer::Channel(_) => self.peer_photo(peer),
            Peer::User(_) => None,
        }
    }

    /// The id of a user's current profile photo (tests).
    pub fn user_photo_id(&self, user: UserId) -> Option<i64> {
        self.peer_photo(Peer::User(user))
    }

    /// A group's or channel's description (empty when there is none or no such chat).
    pub fn about(&self, peer: Peer) -> &str {
        match peer {
            Peer::Chat(id) => self.chats.get(&id).map_or("", |group| group.about.as_str()),
            Peer::Channel(id) => self
                .channels
                .get(&id)
                .map_or("", |record| record.about.as_str()),
            Peer::User(_) => "",
        }
    }
}
