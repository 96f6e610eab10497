//! Removing members, leaving, and admins, over the API: `messages.deleteChatUser` and
//! `messages.editChatAdmin` in basic groups, `channels.editBanned` (a ban from viewing
//! messages removes the member), `channels.leaveChannel` and `channels.editAdmin` in
//! supergroups and channels.
//!
//! Telegram's rules kept: only the creator and admins remove others, never the creator,
//! and an admin is removed only by the creator or whoever promoted them
//! (`USER_ADMIN_INVALID`); a name that is not a member gives `USER_NOT_PARTICIPANT`; the
//! creator of a supergroup or channel cannot leave it (`USER_CREATOR`).
//!
//! Simplified: only the creator promotes and demotes admins, every admin holds the same
//! rights, and a removed member is not kept on a ban list (they may be added again).

use super::{Draft, GroupError, Peer, SendError, Sent, ServiceAction, UserId, World};

impl World {
    /// The admins of a basic group, supergroup or channel other than its creator,
    /// ascending (empty if there is no such chat).
    pub fn admins(&self, peer: Peer) -> Vec<UserId> {
        match peer {
            Peer::User(_) => Vec::new(),
            Peer::Chat(id) => self
                .chats
                .get(&id)
                .map(|c| c.admins.iter().copied().collect())
                .unwrap_or_default(),
            Peer::Channel(id) => self
                .channels
                .get(&id)
                .map(|c| c.admins.keys().copied().collect())
                .unwrap_or_default(),
        }
    }

    /// Makes a member of a supergroup or channel an admin, promoted by `by` (for
    /// embedders setting a scene; over the API only the creator promotes).
    ///
    /// # Errors
    /// When there is no such channel or `user` is not a member.
    pub fn make_channel_admin(
        &mut self,
        channel: i64,
        user: UserId,
        by: UserId,
    ) -> anyhow::Result<()> {
        let record = self
            .channels
            .get_mut(&channel)
            .ok_or_else(|| anyhow::anyhow!("no channel {channel}"))?;
        anyhow::ensure!(record.members.contains(&user), "{user} is not a member");
        record.admins.insert(user, by);
        Ok(())
    }
}

/// What a removal or a departure did.
pub(crate) struct Removed {
    /// The `messageActionChatDeleteUser` message, where the chat shows one (basic groups
    /// and supergroups; a broadcast channel shows none).
    pub(crate) sent: Option<Sent>,
}

impl World {
    /// `messages.deleteChatUser`: `by` removes `user` from a basic group (or leaves when
    /// `user == by`). Every member, the removed one too, gets the service message.
    pub(crate) fn delete_chat_user(
        &mut self,
        by: UserId,
        chat: i64,
        user: UserId,
        date: i32,
    ) -> Result<Removed, GroupError> {
        let group = self.chats.get(&chat).ok_or(GroupError::ChatInvalid)?;
        if !group.members.contains(&user) {
            // Leaving twice included.
            return Err(GroupError::UserNotParticipant);
        }
        if !group.members.contains(&by) {
            return Err(GroupError::ChatInvalid);
        }
        if user != by {
            let by_is_admin = group.creator == by || group.admins.contains(&by);
            if !by_is_admin {
                return Err(GroupError::AdminRequired);
            }
            let user_is_admin = group.creator == user || group.admins.contains(&user);
            if user_is_admin && group.creator != by {
                return Err(GroupError::UserAdminInvalid);
            }
        }
        let draft = Draft {
            action: Some(ServiceAction::ChatDeleteUser { user }),
            ..Draft::default()
        };
        // Delivered while the user is still a member: they see their own removal.
        let sent = self.post(by, Peer::Chat(chat), draft, date)?;
        let group = self.chats.get_mut(&chat).ok_or(GroupError::ChatInvalid)?;
        group.members.remove(&user);
        group.admins.remove(&user);
        group.joined.remove(&user);
        group.version += 1;
        Ok(Removed { sent: Some(sent) })
    }

    /// `messages.editChatAdmin`: the creator makes a member an admin or takes it back.
    /// Returns whether anything changed.
    pub(crate) fn edit_chat_admin(
        &mut self,
        by: UserId,
        chat: i64,
        user: UserId,
        is_admin: bool,
    ) -> Result<bool, GroupError> {
        let group = self.chats.get_mut(&chat).ok_or(GroupError::ChatInvalid)?;
        if !group.members.contains(&by) {
            return Err(GroupError::ChatInvalid);
        }
        if group.creator != by {
            return Err(GroupError::AdminRequired);
        }
        if !group.members.contains(&user) {
            return Err(GroupError::UserNotParticipant);
        }
        if group.creator == user {
            return Err(GroupError::UserCreator);
        }
        let changed = if is_admin {
            group.admins.insert(user)
        } else {
            group.admins.remove(&user)
        };
        if changed {
            group.version += 1;
        }
        Ok(changed)
    }

    /// `channels.editBanned` with `view_messages`: an admin removes `user` from a
    /// supergroup or channel (a supergroup's members get `messageActionChatDeleteUser`).
    pub(crate) fn ban_from_channel(
        &mut self,
        by: UserId,
        channel: i64,
        user: UserId,
        date: i32,
    ) -> Result<Removed, GroupError> {
        let record = self.channels.get(&channel).ok_or(GroupError::ChatInvalid)?;
        if !record.members.contains(&by) {
            return Err(GroupError::ChannelPrivate);
        }
        if record.creator != by && !record.admins.contains_key(&by) {
            return Err(GroupError::AdminRequired);
        }
        if !record.members.contains(&user) {
            return Err(GroupError::UserNotParticipant);
        }
        let promoted_by_someone_else = record
            .admins
            .get(&user)
            .is_some_and(|promoter| *promoter != by && record.creator != by);
        if record.creator == user || user == by || promoted_by_someone_else {
            return Err(GroupError::UserAdminInvalid);
        }
        self.leave_channel_record(user, channel, date)
    }

    /// `channels.leaveChannel`: `user` leaves a supergroup or channel; its creator
    /// cannot (`USER_CREATOR`).
    pub(crate) fn leave_channel(
        &mut self,
        user: UserId,
        channel: i64,
        date: i32,
    ) -> Result<Removed, GroupError> {
        let record = self.channels.get(&channel).ok_or(GroupError::ChatInvalid)?;
        if !record.members.contains(&user) {
            return Err(GroupError::UserNotParticipant);
        }
        if record.creator == user {
            return Err(GroupError::UserCreator);
        }
        self.leave_channel_record(user, channel, date)
    }

    fn leave_channel_record(
        &mut self,
        user: UserId,
        channel: i64,
        date: i32,
    ) -> Result<Removed, GroupError> {
        let broadcast = self
            .channels
            .get(&channel)
            .ok_or(GroupError::ChatInvalid)?
            .broadcast;
        let sent = if broadcast {
            None
        } else {
            let draft = Draft {
                action: Some(ServiceAction::ChatDeleteUser { user }),
                ..Draft::default()
            };
            Some(self.post(user, Peer::Channel(channel), draft, date)?)
        };
        let record = self
            .channels
            .get_mut(&channel)
            .ok_or(GroupError::Send(SendError::PeerInvalid))?;
        record.members.remove(&user);
        record.admins.remove(&user);
        record.joined.remove(&user);
        record.read_inbox.remove(&user);
        Ok(Removed { sent })
    }

    /// `channels.editAdmin`: the creator promotes a member (`admin`) or demotes an admin
    /// (empty rights). Returns whether anything changed.
    pub(crate) fn edit_channel_admin(
        &mut self,
        by: UserId,
        channel: i64,
        user: UserId,
        admin: bool,
    ) -> Result<bool, GroupError> {
        let record = self
            .channels
            .get_mut(&channel)
            .ok_or(GroupError::ChatInvalid)?;
        if !record.members.contains(&by) {
            return Err(GroupError::ChannelPrivate);
        }
        if record.creator != by {
            return Err(GroupError::AdminRequired);
        }
        if record.creator == user {
            return Err(GroupError::UserCreator);
        }
        if !record.members.contains(&user) {
            return Err(GroupError::UserNotParticipant);
        }
        Ok(if admin {
            record.admins.insert(user, by).is_none()
        } else {
            record.admins.remove(&user).is_some()
        })
    }
}
