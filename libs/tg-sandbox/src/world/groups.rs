//! Creating groups and channels over the API and adding members to them.

use super::{Draft, Joined, Peer, SendError, Sent, ServiceAction, UserId, World};

/// Why a group operation was refused; mapped to Telegram's errors by the RPC layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GroupError {
    TitleEmpty,
    UsersTooFew,
    ChatInvalid,
    UserAlreadyParticipant,
    AdminRequired,
    ChannelPrivate,
    /// Every user asked for forbids this adder to add them (their chat-invite privacy).
    PrivacyRestricted,
    /// The user named is not a member (`USER_NOT_PARTICIPANT`).
    UserNotParticipant,
    /// The user is an admin the actor may not touch (`USER_ADMIN_INVALID`).
    UserAdminInvalid,
    /// The user is the chat's creator (`USER_CREATOR`).
    UserCreator,
    /// The title asked for is the title it has (`CHAT_NOT_MODIFIED`).
    NotModified,
    /// The description asked for is the one it has (`CHAT_ABOUT_NOT_MODIFIED`).
    AboutNotModified,
    /// A description longer than Telegram takes (`CHAT_ABOUT_TOO_LONG`).
    AboutTooLong,
    /// No invite link has the hash (`INVITE_HASH_INVALID`).
    InviteHashInvalid,
    /// An empty hash (`INVITE_HASH_EMPTY`).
    InviteHashEmpty,
    /// The link was revoked, expired or used up (`INVITE_HASH_EXPIRED`).
    InviteHashExpired,
    /// The link needs an admin's approval; the request was recorded
    /// (`INVITE_REQUEST_SENT`).
    InviteRequestSent,
    /// Editing or revoking a link revoked already (`INVITE_REVOKED_MISSING`).
    InviteRevokedMissing,
    /// No pending request to join from that user (`HIDE_REQUESTER_MISSING`).
    HideRequesterMissing,
    /// The user is in as many supergroups and channels as allowed (`CHANNELS_TOO_MUCH`).
    ChannelsTooMuch,
    /// A photo of bytes that are no image (`IMAGE_PROCESS_FAILED`).
    ImageProcessFailed,
    /// A photo smaller than 160×160 (`PHOTO_CROP_SIZE_SMALL`).
    PhotoCropSizeSmall,
    Send(SendError),
}

impl From<SendError> for GroupError {
    fn from(error: SendError) -> Self {
        GroupError::Send(error)
    }
}

/// What `channels.inviteToChannel` did.
pub(crate) struct Invited {
    /// The users added.
    pub(crate) added: Vec<UserId>,
    /// The users their privacy kept out (`missing_invitees`).
    pub(crate) missing: Vec<UserId>,
    /// In a supergroup, the `messageActionChatAddUser` message.
    pub(crate) sent: Option<Sent>,
}

/// Telegram's limit for a group or channel title.
const TITLE_LENGTH_MAX: usize = 128;

pub(super) fn check_title(title: &str) -> Result<String, GroupError> {
    let title = title.trim();
    if title.is_empty() {
        return Err(GroupError::TitleEmpty);
    }
    Ok(title.chars().take(TITLE_LENGTH_MAX).collect())
}

impl World {
    /// Splits `users` into those `by` may add and those whose privacy forbids it.
    pub(crate) fn split_by_privacy(
        &self,
        by: UserId,
        users: &[UserId],
    ) -> (Vec<UserId>, Vec<UserId>) {
        users
            .iter()
            .copied()
            .partition(|user| self.may_invite(by, *user))
    }

    /// `messages.createChat`: a basic group of the creator and the `users` whose privacy
    /// lets the creator add them; the others are returned (Telegram's
    /// `missing_invitees`). The group is created as long as one user was named.
    pub(crate) fn create_chat(
        &mut self,
        creator: UserId,
        title: &str,
        users: &[UserId],
        date: i32,
    ) -> Result<(i64, Sent, Vec<UserId>), GroupError> {
        let title = check_title(title)?;
        if users.iter().all(|u| *u == creator) {
            return Err(GroupError::UsersTooFew);
        }
        let (allowed, missing) = self.split_by_privacy(creator, users);
        let (id, sent) = self
            .create_basic_group_sent(creator, &title, &allowed, date)
            .map_err(|_| GroupError::Send(SendError::PeerInvalid))?;
        Ok((id, sent, missing))
    }

    /// `channels.createChannel`: a supergroup or broadcast channel with its creator alone.
    pub(crate) fn create_channel_by(
        &mut self,
        creator: UserId,
        title: &str,
        about: &str,
        broadcast: bool,
        date: i32,
    ) -> Result<(i64, Sent), GroupError> {
        let title = check_title(title)?;
        let (id, sent) = self
            .create_channel_sent(creator, &title, broadcast, &[], date)
            .map_err(|_| GroupError::Send(SendError::PeerInvalid))?;
        if let Some(channel) = self.channels.get_mut(&id) {
            channel.about = about.to_owned();
        }
        Ok((id, sent))
    }

    /// `messages.addChatUser`: any member may add someone to a basic group; everyone,
    /// the new member included, gets `messageActionChatAddUser`.
    pub(crate) fn add_chat_user(
        &mut self,
        by: UserId,
        chat: i64,
        user: UserId,
        date: i32,
    ) -> Result<Sent, GroupError> {
        let group = self.chats.get(&chat).ok_or(GroupError::ChatInvalid)?;
        if !group.members.contains(&by) {
            return Err(GroupError::ChatInvalid);
        }
        if group.members.contains(&user) {
            return Err(GroupError::UserAlreadyParticipant);
        }
        if !self.may_invite(by, user) {
            return Err(GroupError::PrivacyRestricted);
        }
        let group = self.chats.get_mut(&chat).ok_or(GroupError::ChatInvalid)?;
        if !group.members.insert(user) {
            return Err(GroupError::UserAlreadyParticipant);
        }
        group.joined.insert(user, Joined { inviter: by, date });
        group.version += 1;
        let draft = Draft {
            action: Some(ServiceAction::ChatAddUser { users: vec![user] }),
            ..Draft::default()
        };
        Ok(self.post(by, Peer::Chat(chat), draft, date)?)
    }

    /// `channels.inviteToChannel`: members of a supergroup may invite, only the creator
    /// into a broadcast channel. Returns who was added, who was not for their privacy
    /// (`missing_invitees`) and, in a supergroup, the `messageActionChatAddUser` message.
    /// `USER_PRIVACY_RESTRICTED` when nobody could be added and privacy was the reason.
    pub(crate) fn invite_to_channel(
        &mut self,
        by: UserId,
        channel: i64,
        users: &[UserId],
        date: i32,
    ) -> Result<Invited, GroupError> {
        let (allowed, missing) = self.split_by_privacy(by, users);
        let record = self
            .channels
            .get_mut(&channel)
            .ok_or(GroupError::ChatInvalid)?;
        if !record.members.contains(&by) {
            return Err(GroupError::ChannelPrivate);
        }
        if record.broadcast && record.creator != by {
            return Err(GroupError::AdminRequired);
        }
        let added: Vec<UserId> = allowed
            .into_iter()
            .filter(|u| !record.members.contains(u))
            .collect();
        if added.is_empty() && !missing.is_empty() {
            return Err(GroupError::PrivacyRestricted);
        }
        if added.is_empty() {
            return Err(GroupError::UserAlreadyParticipant);
        }
        for user in &added {
            record.members.insert(*user);
            record.joined.insert(*user, Joined { inviter: by, date });
        }
        if record.broadcast {
            return Ok(Invited {
                added,
                missing,
                sent: None,
            });
        }
        let draft = Draft {
            action: Some(ServiceAction::ChatAddUser {
                users: added.clone(),
            }),
            ..Draft::default()
        };
        let sent = self.post(by, Peer::Channel(channel), draft, date)?;
        Ok(Invited {
            added,
            missing,
            sent: Some(sent),
        })
    }
}
