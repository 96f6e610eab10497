//! Invite links and joining, over the API: `messages.exportChatInvite`,
//! `messages.checkChatInvite`, `messages.importChatInvite` and `channels.joinChannel`;
//! an admin's links listed (`messages.getExportedChatInvites`), revoked or changed
//! (`messages.editExportedChatInvite`), and requests to join listed
//! (`messages.getChatInviteImporters` with `requested`) and approved or declined
//! (`messages.hideChatJoinRequest`).
//!
//! Telegram's rules kept: only the creator and admins export links (basic groups,
//! supergroups and channels); an admin lists and changes their own links, the creator
//! anyone's; a link revoked already is not changed again (`INVITE_REVOKED_MISSING`); a
//! link that is revoked, past its `expire_date` or used `usage_limit` times answers
//! `INVITE_HASH_EXPIRED`, an unknown one `INVITE_HASH_INVALID`; a link with
//! `request_needed` answers `INVITE_REQUEST_SENT` and the request waits, with its date,
//! until an admin approves it (the user joins, `messageActionChatJoinedByRequest`, the
//! link counts a use) or declines it; answering no request is `HIDE_REQUESTER_MISSING`;
//! a member joining
//! again gets `USER_ALREADY_PARTICIPANT`; a channel without a username cannot be joined
//! without a link, and a user barred from a channel cannot join it at all
//! (`CHANNEL_PRIVATE`); nobody is in more than 500 supergroups and channels
//! (`CHANNELS_TOO_MUCH`).
//!
//! A basic group's members see `messageActionChatJoinedByLink`, a supergroup's too (for a
//! link) or `messageActionChatAddUser` of the joiner (for a public join); a broadcast
//! channel shows nothing.

use std::collections::{BTreeMap, BTreeSet};

use rand::RngCore;
use serde::{Deserialize, Serialize};

use super::{Draft, GroupError, Joined, Peer, Sent, ServiceAction, UserId, World};

/// Telegram's limit of supergroups and channels one account may be in.
const MAX_CHANNELS_PER_USER: usize = 500;
/// The length of a generated invite hash (Telegram's are 16 to 22 characters).
const HASH_LENGTH: usize = 16;
/// The characters of an invite hash (base64url's).
const HASH_ALPHABET: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// An exported invite link.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct InviteRecord {
    pub(crate) peer: Peer,
    /// Who exported it.
    pub(crate) admin: UserId,
    pub(crate) date: i32,
    pub(crate) expire_date: Option<i32>,
    pub(crate) usage_limit: Option<i32>,
    pub(crate) usage: i32,
    pub(crate) title: Option<String>,
    pub(crate) request_needed: bool,
    pub(crate) revoked: bool,
    /// Who asked to join through it (a link with `request_needed`) and when; an
    /// admin's approval or refusal takes them off.
    #[serde(default)]
    pub(crate) pending: BTreeMap<UserId, i32>,
}

/// Invite links by hash, and who may not join which channel.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Joining {
    pub(crate) invites: BTreeMap<String, InviteRecord>,
    /// `(channel, user)`: the user was banned from the channel (Telegram's ban list).
    pub(crate) barred: BTreeSet<(i64, UserId)>,
}

/// What a link to export says.
#[derive(Debug, Clone, Default)]
pub(crate) struct InviteRequest {
    pub(crate) expire_date: Option<i32>,
    pub(crate) usage_limit: Option<i32>,
    pub(crate) title: Option<String>,
    pub(crate) request_needed: bool,
}

/// A change to a link (`messages.editExportedChatInvite`): `None` leaves a setting as
/// it is; an `expire_date` or `usage_limit` of 0 removes it, an empty title too.
#[derive(Debug, Clone, Default)]
pub(crate) struct InviteEdit {
    pub(crate) revoke: bool,
    pub(crate) expire_date: Option<i32>,
    pub(crate) usage_limit: Option<i32>,
    pub(crate) title: Option<String>,
    pub(crate) request_needed: Option<bool>,
}

/// A pending request to join (`chatInviteImporter` with `requested`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JoinRequest {
    pub(crate) user: UserId,
    pub(crate) date: i32,
    /// The link it came through.
    pub(crate) hash: String,
}

/// What `messages.checkChatInvite` tells.
pub(crate) enum InviteCheck {
    /// The viewer is a member: the chat itself.
    Already(Peer),
    /// Not a member: a preview of the chat.
    Preview { peer: Peer, request_needed: bool },
}

/// What joining did: the chat, and the service message its members see (none in a
/// broadcast channel).
pub(crate) struct JoinedChat {
    pub(crate) peer: Peer,
    pub(crate) sent: Option<Sent>,
}

fn new_hash() -> String {
    let mut bytes = [0u8; HASH_LENGTH];
    rand::rng().fill_bytes(&mut bytes);
    bytes
        .iter()
        .map(|byte| char::from(HASH_ALPHABET[usize::from(*byte % 64)]))
        .collect()
}

impl World {
    /// Bars `user` from joining a channel, as Telegram's ban list does for a user an
    /// admin banned (for embedders setting a scene; `channels.editBanned` does not keep
    /// the list here).
    ///
    /// # Errors
    /// When there is no such channel or user.
    pub fn bar_from_channel(&mut self, channel: i64, user: UserId) -> anyhow::Result<()> {
        anyhow::ensure!(self.channels.contains_key(&channel), "no channel {channel}");
        anyhow::ensure!(self.users.contains_key(&user), "no user {user}");
        self.joining.barred.insert((channel, user));
        Ok(())
    }

    /// The invite links exported for a chat: (hash, uses so far), oldest first.
    pub fn invite_links(&self, peer: Peer) -> Vec<(String, i32)> {
        let mut links: Vec<_> = self
            .joining
            .invites
            .iter()
            .filter(|(_, invite)| invite.peer == peer)
            .map(|(hash, invite)| (invite.date, hash.clone(), invite.usage))
            .collect();
        links.sort();
        links
            .into_iter()
            .map(|(_, hash, usage)| (hash, usage))
            .collect()
    }

    /// `messages.getExportedChatInvites`: the links `by` made to a chat it administers,
    /// revoked ones or the others, newest first, after `offset` (the date and hash of the
    /// last one seen); with how many there are in all.
    pub(crate) fn exported_invites(
        &self,
        by: UserId,
        peer: Peer,
        admin: UserId,
        revoked: bool,
        offset: Option<(i32, &str)>,
        limit: usize,
    ) -> Result<(usize, Vec<(String, InviteRecord)>), GroupError> {
        // An admin lists their own links; the creator anyone's.
        if !self.is_admin_of(by, peer)? || (admin != by && self.creator_of(peer) != Some(by)) {
            return Err(GroupError::AdminRequired);
        }
        let mut links: Vec<(&String, &InviteRecord)> = self
            .joining
            .invites
            .iter()
            .filter(|(_, invite)| {
                invite.peer == peer && invite.admin == admin && invite.revoked == revoked
            })
            .collect();
        links.sort_by(|a, b| (b.1.date, b.0).cmp(&(a.1.date, a.0)));
        let count = links.len();
        let page = links
            .into_iter()
            .filter(|(hash, invite)| {
                offset.is_none_or(|(date, last)| (invite.date, hash.as_str()) < (date, last))
            })
            .take(limit)
            .map(|(hash, invite)| (hash.clone(), invite.clone()))
            .collect();
        Ok((count, page))
    }

    /// `messages.editExportedChatInvite`: revokes a link or changes its settings (its
    /// maker or the chat's creator, while it is not revoked: `INVITE_REVOKED_MISSING`
    /// then).
    pub(crate) fn edit_invite(
        &mut self,
        by: UserId,
        peer: Peer,
        hash: &str,
        edit: InviteEdit,
    ) -> Result<InviteRecord, GroupError> {
        if !self.is_admin_of(by, peer)? {
            return Err(GroupError::AdminRequired);
        }
        let creator = self.creator_of(peer);
        let invite = self
            .joining
            .invites
            .get_mut(hash)
            .filter(|invite| invite.peer == peer)
            .ok_or(GroupError::InviteHashInvalid)?;
        if invite.admin != by && creator != Some(by) {
            return Err(GroupError::AdminRequired);
        }
        if invite.revoked {
            return Err(GroupError::InviteRevokedMissing);
        }
        if edit.revoke {
            invite.revoked = true;
            return Ok(invite.clone());
        }
        if let Some(expire_date) = edit.expire_date {
            invite.expire_date = (expire_date != 0).then_some(expire_date);
        }
        if let Some(usage_limit) = edit.usage_limit {
            invite.usage_limit = (usage_limit != 0).then_some(usage_limit);
        }
        if let Some(title) = edit.title {
            invite.title = (!title.trim().is_empty()).then_some(title);
        }
        if let Some(request_needed) = edit.request_needed {
            invite.request_needed = request_needed;
        }
        if invite.request_needed {
            // Telegram's rule: a link that needs approval has no usage limit.
            invite.usage_limit = None;
        }
        Ok(invite.clone())
    }

    /// `messages.getChatInviteImporters` with `requested`: the pending requests to join
    /// a chat `by` administers, newest first, after `offset` (the date and user of the
    /// last one seen); with how many there are in all.
    pub(crate) fn join_requests(
        &self,
        by: UserId,
        peer: Peer,
        offset: Option<(i32, UserId)>,
        limit: usize,
    ) -> Result<(usize, Vec<JoinRequest>), GroupError> {
        if !self.is_admin_of(by, peer)? {
            return Err(GroupError::AdminRequired);
        }
        let mut requests = self.pending_requests(peer);
        requests.sort_by_key(|request| std::cmp::Reverse((request.date, request.user)));
        let count = requests.len();
        let page = requests
            .into_iter()
            .filter(|request| offset.is_none_or(|last| (request.date, request.user) < last))
            .take(limit)
            .collect();
        Ok((count, page))
    }

    /// Every pending request to join `peer`, one per user (the first made).
    fn pending_requests(&self, peer: Peer) -> Vec<JoinRequest> {
        let mut by_user: BTreeMap<UserId, JoinRequest> = BTreeMap::new();
        for (hash, invite) in &self.joining.invites {
            if invite.peer != peer {
                continue;
            }
            for (user, date) in &invite.pending {
                let request = JoinRequest {
                    user: *user,
                    date: *date,
                    hash: hash.clone(),
                };
                by_user
                    .entry(*user)
                    .and_modify(|first| {
                        if request.date < first.date {
                            *first = request.clone();
                        }
                    })
                    .or_insert(request);
            }
        }
        by_user.into_values().collect()
    }

    /// `messages.hideChatJoinRequest`: approves (the user joins, as by the link, with
    /// `messageActionChatJoinedByRequest`) or declines a pending request; either way it
    /// is gone. `HIDE_REQUESTER_MISSING` when there is none.
    pub(crate) fn hide_join_request(
        &mut self,
        by: UserId,
        peer: Peer,
        user: UserId,
        approved: bool,
        date: i32,
    ) -> Result<Option<JoinedChat>, GroupError> {
        if !self.is_admin_of(by, peer)? {
            return Err(GroupError::AdminRequired);
        }
        let request = self
            .pending_requests(peer)
            .into_iter()
            .find(|request| request.user == user)
            .ok_or(GroupError::HideRequesterMissing)?;
        for invite in self.joining.invites.values_mut() {
            if invite.peer == peer {
                invite.pending.remove(&user);
            }
        }
        if !approved {
            return Ok(None);
        }
        if self.is_member(user, peer) {
            return Err(GroupError::UserAlreadyParticipant);
        }
        if let Peer::Channel(channel) = peer {
            self.may_join_channel(user, channel)?;
        }
        if let Some(invite) = self.joining.invites.get_mut(&request.hash) {
            invite.usage += 1;
        }
        let draft = Draft {
            action: Some(ServiceAction::ChatJoinedByRequest),
            ..Draft::default()
        };
        self.join(user, peer, by, draft, date).map(Some)
    }

    fn creator_of(&self, peer: Peer) -> Option<UserId> {
        match peer {
            Peer::Chat(id) => self.chats.get(&id).map(|group| group.creator),
            Peer::Channel(id) => self.channels.get(&id).map(|channel| channel.creator),
            Peer::User(_) => None,
        }
    }

    fn is_admin_of(&self, user: UserId, peer: Peer) -> Result<bool, GroupError> {
        match peer {
            Peer::User(_) => Err(GroupError::Send(super::SendError::PeerInvalid)),
            Peer::Chat(id) => {
                let group = self.chats.get(&id).ok_or(GroupError::ChatInvalid)?;
                if !group.members.contains(&user) {
                    return Err(GroupError::ChatInvalid);
                }
                Ok(group.creator == user || group.admins.contains(&user))
            }
            Peer::Channel(id) => {
                let channel = self.channels.get(&id).ok_or(GroupError::ChatInvalid)?;
                if !channel.members.contains(&user) {
                    return Err(GroupError::ChannelPrivate);
                }
                Ok(channel.creator == user || channel.admins.contains_key(&user))
            }
        }
    }

    /// `messages.exportChatInvite`: a new link to a chat `by` administers.
    pub(crate) fn export_invite(
        &mut self,
        by: UserId,
        peer: Peer,
        request: InviteRequest,
        date: i32,
    ) -> Result<(String, InviteRecord), GroupError> {
        if !self.is_admin_of(by, peer)? {
            return Err(GroupError::AdminRequired);
        }
        let hash = new_hash();
        let invite = InviteRecord {
            peer,
            admin: by,
            date,
            expire_date: request.expire_date,
            usage_limit: request.usage_limit.filter(|limit| *limit > 0),
            usage: 0,
            title: request.title.filter(|title| !title.trim().is_empty()),
            request_needed: request.request_needed,
            revoked: false,
            pending: BTreeMap::new(),
        };
        self.joining.invites.insert(hash.clone(), invite.clone());
        Ok((hash, invite))
    }

    /// The link a hash names, while it may still be used.
    fn usable_invite(&self, hash: &str, now: i32) -> Result<&InviteRecord, GroupError> {
        if hash.trim().is_empty() {
            return Err(GroupError::InviteHashEmpty);
        }
        let invite = self
            .joining
            .invites
            .get(hash)
            .ok_or(GroupError::InviteHashInvalid)?;
        let expired = invite.revoked
            || invite.expire_date.is_some_and(|expires| expires <= now)
            || invite
                .usage_limit
                .is_some_and(|limit| invite.usage >= limit);
        if expired {
            return Err(GroupError::InviteHashExpired);
        }
        Ok(invite)
    }

    fn is_member(&self, user: UserId, peer: Peer) -> bool {
        self.can_access(user, peer) && !matches!(peer, Peer::User(_))
    }

    /// `messages.checkChatInvite`.
    pub(crate) fn check_invite(
        &self,
        viewer: UserId,
        hash: &str,
        now: i32,
    ) -> Result<InviteCheck, GroupError> {
        let invite = self.usable_invite(hash, now)?;
        if self.is_member(viewer, invite.peer) {
            return Ok(InviteCheck::Already(invite.peer));
        }
        Ok(InviteCheck::Preview {
            peer: invite.peer,
            request_needed: invite.request_needed,
        })
    }

    fn channels_of(&self, user: UserId) -> usize {
        self.channels
            .values()
            .filter(|channel| channel.members.contains(&user))
            .count()
    }

    /// `messages.importChatInvite`: `user` joins the chat of a link.
    pub(crate) fn import_invite(
        &mut self,
        user: UserId,
        hash: &str,
        date: i32,
    ) -> Result<JoinedChat, GroupError> {
        let invite = self.usable_invite(hash, date)?;
        let (peer, inviter, request_needed) = (invite.peer, invite.admin, invite.request_needed);
        if self.is_member(user, peer) {
            return Err(GroupError::UserAlreadyParticipant);
        }
        if let Peer::Channel(channel) = peer {
            self.may_join_channel(user, channel)?;
        }
        if request_needed {
            if let Some(invite) = self.joining.invites.get_mut(hash) {
                invite.pending.entry(user).or_insert(date);
            }
            return Err(GroupError::InviteRequestSent);
        }
        if let Some(invite) = self.joining.invites.get_mut(hash) {
            invite.usage += 1;
        }
        let draft = Draft {
            action: Some(ServiceAction::ChatJoinedByLink { inviter }),
            ..Draft::default()
        };
        self.join(user, peer, inviter, draft, date)
    }

    fn may_join_channel(&self, user: UserId, channel: i64) -> Result<(), GroupError> {
        if self.joining.barred.contains(&(channel, user)) {
            return Err(GroupError::ChannelPrivate);
        }
        if self.channels_of(user) >= MAX_CHANNELS_PER_USER {
            return Err(GroupError::ChannelsTooMuch);
        }
        Ok(())
    }

    /// `channels.joinChannel`: `user` joins a public supergroup or channel.
    pub(crate) fn join_channel(
        &mut self,
        user: UserId,
        channel: i64,
        date: i32,
    ) -> Result<JoinedChat, GroupError> {
        let record = self.channels.get(&channel).ok_or(GroupError::ChatInvalid)?;
        if record.members.contains(&user) {
            return Err(GroupError::UserAlreadyParticipant);
        }
        if record.username.is_none() {
            return Err(GroupError::ChannelPrivate);
        }
        self.may_join_channel(user, channel)?;
        let draft = Draft {
            action: Some(ServiceAction::ChatAddUser { users: vec![user] }),
            ..Draft::default()
        };
        self.join(user, Peer::Channel(channel), user, draft, date)
    }

    /// Makes `user` a member of `peer` and posts `draft` (its service message) where the
    /// chat shows one.
    fn join(
        &mut self,
        user: UserId,
        peer: Peer,
        inviter: UserId,
        draft: Draft,
        date: i32,
    ) -> Result<JoinedChat, GroupError> {
        match peer {
            Peer::User(_) => return Err(GroupError::ChatInvalid),
            Peer::Chat(chat) => {
                let group = self.chats.get_mut(&chat).ok_or(GroupError::ChatInvalid)?;
                group.members.insert(user);
                group.joined.insert(user, Joined { inviter, date });
                group.version += 1;
            }
            Peer::Channel(channel) => {
                let record = self
                    .channels
                    .get_mut(&channel)
                    .ok_or(GroupError::ChatInvalid)?;
                record.members.insert(user);
                record.joined.insert(user, Joined { inviter, date });
                if record.broadcast {
                    return Ok(JoinedChat { peer, sent: None });
                }
            }
        }
        let sent = self.post(user, peer, draft, date)?;
        Ok(JoinedChat {
            peer,
            sent: Some(sent),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::NewUser;
    use super::*;

    fn world_of_two() -> (World, UserId, UserId, i64) {
        let mut world = World::new();
        let ann = world
            .add_user(NewUser::new("Ann", None, "9996621001"))
            .expect("adds");
        let ben = world
            .add_user(NewUser::new("Ben", None, "9996621002"))
            .expect("adds");
        let channel = world
            .create_channel_at(ann, "Public", false, &[], 100)
            .expect("creates");
        (world, ann, ben, channel)
    }

    #[test]
    fn links_are_used_up_expire_and_only_admins_make_them() {
        let (mut world, ann, ben, channel) = world_of_two();
        let peer = Peer::Channel(channel);
        assert_eq!(
            world
                .export_invite(ben, peer, InviteRequest::default(), 100)
                .err(),
            Some(GroupError::ChannelPrivate)
        );
        let once = InviteRequest {
            usage_limit: Some(1),
            ..InviteRequest::default()
        };
        let (hash, _) = world.export_invite(ann, peer, once, 100).expect("exports");
        assert!(matches!(
            world.check_invite(ben, &hash, 101),
            Ok(InviteCheck::Preview { .. })
        ));
        let joined = world.import_invite(ben, &hash, 101).expect("joins");
        assert_eq!(joined.peer, peer);
        assert!(world.members(peer).contains(&ben));
        assert!(matches!(
            world.check_invite(ben, &hash, 102),
            Err(GroupError::InviteHashExpired)
        ));
        assert_eq!(world.invite_links(peer), vec![(hash, 1)]);
        let brief = InviteRequest {
            expire_date: Some(200),
            ..InviteRequest::default()
        };
        let (hash, _) = world.export_invite(ann, peer, brief, 100).expect("exports");
        assert!(matches!(
            world.import_invite(ann, &hash, 150),
            Err(GroupError::UserAlreadyParticipant)
        ));
        assert!(matches!(
            world.import_invite(ben, &hash, 200),
            Err(GroupError::InviteHashExpired)
        ));
        assert!(matches!(
            world.import_invite(ben, "nope", 150),
            Err(GroupError::InviteHashInvalid)
        ));
        assert!(matches!(
            world.import_invite(ben, " ", 150),
            Err(GroupError::InviteHashEmpty)
        ));
        assert_eq!(
            world
                .export_invite(ben, peer, InviteRequest::default(), 100)
                .err(),
            Some(GroupError::AdminRequired)
        );
    }

    #[test]
    fn public_channels_are_joined_by_anyone_not_barred_and_not_in_too_many() {
        let (mut world, ann, ben, channel) = world_of_two();
        assert!(matches!(
            world.join_channel(ben, channel, 100),
            Err(GroupError::ChannelPrivate)
        ));
        world
            .set_channel_profile(channel, Some("public_one"), None)
            .expect("named");
        world.bar_from_channel(channel, ben).expect("bars");
        assert!(matches!(
            world.join_channel(ben, channel, 100),
            Err(GroupError::ChannelPrivate)
        ));
        world.joining.barred.clear();
        for n in 0..MAX_CHANNELS_PER_USER {
            world
                .create_channel_at(ann, &format!("Full {n}"), true, &[ben], 100)
                .expect("creates");
        }
        assert!(matches!(
            world.join_channel(ben, channel, 100),
            Err(GroupError::ChannelsTooMuch)
        ));
        let joined = world.join_channel(ann, channel, 100);
        assert!(matches!(joined, Err(GroupError::UserAlreadyParticipant)));
    }

    #[test]
    fn links_are_listed_newest_first_revoked_apart_and_a_revoked_link_lets_nobody_in() {
        let (mut world, ann, ben, channel) = world_of_two();
        let peer = Peer::Channel(channel);
        let (first, _) = world
            .export_invite(ann, peer, InviteRequest::default(), 100)
            .expect("exports");
        let (second, _) = world
            .export_invite(ann, peer, InviteRequest::default(), 101)
            .expect("exports");
        let listed = |world: &World, revoked: bool, offset: Option<(i32, &str)>| {
            world
                .exported_invites(ann, peer, ann, revoked, offset, 10)
                .map(|(count, links)| {
                    (
                        count,
                        links.into_iter().map(|(hash, _)| hash).collect::<Vec<_>>(),
                    )
                })
        };
        assert_eq!(
            listed(&world, false, None),
            Ok((2, vec![second.clone(), first.clone()]))
        );
        assert_eq!(
            listed(&world, false, Some((101, second.as_str()))),
            Ok((2, vec![first.clone()]))
        );
        assert_eq!(
            world
                .exported_invites(ben, peer, ann, false, None, 10)
                .err(),
            Some(GroupError::ChannelPrivate)
        );

        let edited = world
            .edit_invite(
                ann,
                peer,
                &first,
                InviteEdit {
                    usage_limit: Some(3),
                    title: Some("Three".into()),
                    ..InviteEdit::default()
                },
            )
            .expect("edits");
        assert_eq!(
            (edited.usage_limit, edited.title.as_deref()),
            (Some(3), Some("Three"))
        );
        let revoke = InviteEdit {
            revoke: true,
            ..InviteEdit::default()
        };
        assert!(
            world
                .edit_invite(ann, peer, &first, revoke.clone())
                .expect("revokes")
                .revoked
        );
        assert_eq!(listed(&world, true, None), Ok((1, vec![first.clone()])));
        assert_eq!(listed(&world, false, None), Ok((1, vec![second.clone()])));
        assert!(matches!(
            world.import_invite(ben, &first, 102),
            Err(GroupError::InviteHashExpired)
        ));
        assert_eq!(
            world.edit_invite(ann, peer, &first, revoke.clone()).err(),
            Some(GroupError::InviteRevokedMissing)
        );
        assert_eq!(
            world.edit_invite(ann, peer, "nope", revoke).err(),
            Some(GroupError::InviteHashInvalid)
        );
    }

    #[test]
    fn join_requests_wait_for_an_admin_who_approves_or_declines_them() {
        let (mut world, ann, ben, channel) = world_of_two();
        let cid = world
            .add_user(NewUser::new("Cid", None, "9996621003"))
            .expect("adds");
        let peer = Peer::Channel(channel);
        let approval = InviteRequest {
            request_needed: true,
            ..InviteRequest::default()
        };
        let (hash, _) = world
            .export_invite(ann, peer, approval, 100)
            .expect("exports");
        for (user, date) in [(ben, 101), (cid, 102)] {
            assert!(matches!(
                world.import_invite(user, &hash, date),
                Err(GroupError::InviteRequestSent)
            ));
        }
        let (count, requests) = world.join_requests(ann, peer, None, 10).expect("lists");
        assert_eq!(count, 2);
        assert_eq!(
            requests
                .iter()
                .map(|r| (r.user, r.date))
                .collect::<Vec<_>>(),
            vec![(cid, 102), (ben, 101)]
        );
        let (_, after) = world
            .join_requests(ann, peer, Some((102, cid)), 10)
            .expect("lists");
        assert_eq!(after.iter().map(|r| r.user).collect::<Vec<_>>(), vec![ben]);
        assert_eq!(
            world.join_requests(ben, peer, None, 10).err(),
            Some(GroupError::ChannelPrivate)
        );

        let joined = world
            .hide_join_request(ann, peer, ben, true, 103)
            .expect("approves")
            .expect("joined");
        assert_eq!(joined.peer, peer);
        assert!(joined.sent.is_some(), "a supergroup shows the join");
        assert!(world.members(peer).contains(&ben));
        assert!(
            world
                .hide_join_request(ann, peer, cid, false, 104)
                .expect("declines")
                .is_none()
        );
        assert!(!world.members(peer).contains(&cid));
        assert_eq!(
            world.join_requests(ann, peer, None, 10).map(|(n, _)| n),
            Ok(0)
        );
        assert_eq!(
            world.hide_join_request(ann, peer, cid, true, 105).err(),
            Some(GroupError::HideRequesterMissing)
        );
        assert_eq!(world.invite_links(peer), vec![(hash, 1)]);
    }
}
