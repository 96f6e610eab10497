//! Read receipts and deletions: the events besides new and edited messages that move a
//! box's or a channel's `pts`.
//!
//! Reading a private chat or basic group logs `ReadInbox` in the reader's box and, for
//! every other participant whose outgoing messages thereby became read, `ReadOutbox` in
//! theirs. Deleting logs `DeleteMessages` (one `pts` per message) in every box that lost
//! a copy. Channels keep read positions per member without a `pts` of their own, as on
//! Telegram, but deletions take channel `pts`.

use super::{Event, Logged, Peer, SendError, UserBox, UserId, World};

/// An event logged in `owner`'s box, for the RPC layer to push.
#[derive(Clone, Debug)]
pub(crate) struct BoxEvent {
    pub(crate) owner: UserId,
    pub(crate) logged: Logged,
}

/// What `messages.readHistory` or `messages.deleteMessages` did.
#[derive(Clone, Debug, Default)]
pub(crate) struct BoxChange {
    /// The caller's box `pts` after the change, and how many it took (0: nothing changed).
    pub(crate) pts: i32,
    pub(crate) pts_count: i32,
    /// Every logged event, the caller's first.
    pub(crate) events: Vec<BoxEvent>,
}

/// What `channels.readHistory` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ChannelRead {
    pub(crate) max_id: i32,
    pub(crate) still_unread: i32,
    pub(crate) pts: i32,
    /// Members whose messages became read, with their new `read_outbox_max_id`.
    pub(crate) outbox: Vec<(UserId, i32)>,
}

impl UserBox {
    pub(super) fn log(&mut self, pts_count: i32, event: Event) -> Logged {
        self.pts += pts_count;
        let logged = Logged {
            pts: self.pts,
            pts_count,
            event,
        };
        self.log.push(logged.clone());
        logged
    }

    /// Unread incoming messages in `peer` after `read`.
    fn unread_after(&self, peer: Peer, read: i32) -> i32 {
        self.by_peer.get(&peer).map_or(0, |ids| {
            ids.range(read + 1..)
                .filter(|id| self.messages.get(id).is_some_and(|m| !m.out))
                .count() as i32
        })
    }
}

impl World {
    /// The other participants of a box chat, each with the peer the chat is to them.
    pub(super) fn counterparts(&self, viewer: UserId, peer: Peer) -> Vec<(UserId, Peer)> {
        match peer {
            Peer::User(user) if user == viewer => Vec::new(),
            Peer::User(user) => vec![(user, Peer::User(viewer))],
            Peer::Chat(chat) => self
                .chats
                .get(&chat)
                .map(|c| {
                    c.members
                        .iter()
                        .filter(|m| **m != viewer)
                        .map(|m| (*m, peer))
                        .collect()
                })
                .unwrap_or_default(),
            Peer::Channel(_) => Vec::new(),
        }
    }

    /// `messages.readHistory`: marks `peer` read up to `max_id` (0: everything).
    pub(crate) fn read_box_history(
        &mut self,
        reader: UserId,
        peer: Peer,
        max_id: i32,
    ) -> Result<BoxChange, SendError> {
        if matches!(peer, Peer::Channel(_)) || !self.can_access(reader, peer) {
            return Err(SendError::PeerInvalid);
        }
        let counterparts = self.counterparts(reader, peer);
        let outbox_before: Vec<i32> = counterparts
            .iter()
            .map(|(other, their_peer)| self.box_read_outbox(*other, *their_peer))
            .collect();

        let user_box = self.boxes.get_mut(&reader).ok_or(SendError::PeerInvalid)?;
        let top = user_box
            .by_peer
            .get(&peer)
            .and_then(|ids| ids.last().copied())
            .unwrap_or(0);
        let current = user_box.read_inbox.get(&peer).copied().unwrap_or(0);
        let target = if max_id <= 0 { top } else { max_id.min(top) };
        if target <= current {
            return Ok(BoxChange {
                pts: user_box.pts,
                ..BoxChange::default()
            });
        }
        user_box.read_inbox.insert(peer, target);
        let still_unread = user_box.unread_after(peer, target);
        let logged = user_box.log(
            1,
            Event::ReadInbox {
                peer,
                max_id: target,
                still_unread,
            },
        );
        let mut change = BoxChange {
            pts: logged.pts,
            pts_count: 1,
            events: vec![BoxEvent {
                owner: reader,
                logged,
            }],
        };
        for ((other, their_peer), before) in counterparts.into_iter().zip(outbox_before) {
            let after = self.box_read_outbox(other, their_peer);
            if after <= before {
                continue;
            }
            if let Some(other_box) = self.boxes.get_mut(&other) {
                let logged = other_box.log(
                    1,
                    Event::ReadOutbox {
                        peer: their_peer,
                        max_id: after,
                    },
                );
                change.events.push(BoxEvent {
                    owner: other,
                    logged,
                });
            }
        }
        Ok(change)
    }

    /// The highest read position among `channel`'s members other than `member`.
    fn others_read(read_inbox: &std::collections::HashMap<UserId, i32>, member: UserId) -> i32 {
        read_inbox
            .iter()
            .filter(|(m, _)| **m != member)
            .map(|(_, read)| *read)
            .max()
            .unwrap_or(0)
    }

    /// `channels.readHistory`: `None` when nothing changed.
    pub(crate) fn read_channel_history(
        &mut self,
        reader: UserId,
        channel: i64,
        max_id: i32,
    ) -> Result<Option<ChannelRead>, SendError> {
        let record = self
            .channels
            .get_mut(&channel)
            .ok_or(SendError::PeerInvalid)?;
        if !record.members.contains(&reader) {
            return Err(SendError::ChannelPrivate);
        }
        let top = record.messages.keys().last().copied().unwrap_or(0);
        let current = record.read_inbox.get(&reader).copied().unwrap_or(0);
        let target = if max_id <= 0 { top } else { max_id.min(top) };
        if target <= current {
            return Ok(None);
        }
        // Authors whose messages become read: only supergroups show readers to authors.
        let mut outbox = Vec::new();
        if !record.broadcast {
            let authors: std::collections::BTreeSet<UserId> = record
                .messages
                .range(current + 1..=target)
                .filter_map(|(_, m)| m.from)
                .filter(|author| *author != reader)
                .collect();
            for author in authors {
                let before = Self::others_read(&record.read_inbox, author);
                if target > before {
                    outbox.push((author, target));
                }
            }
        }
        record.read_inbox.insert(reader, target);
        let still_unread = record
            .messages
            .range(target + 1..)
            .filter(|(_, m)| m.from != Some(reader))
            .count() as i32;
        Ok(Some(ChannelRead {
            max_id: target,
            still_unread,
            pts: record.pts,
            outbox,
        }))
    }

    /// `messages.deleteMessages`: deletes the caller's copies of `ids`, and with
    /// `revoke` every other copy it may delete for everyone (any message of a private
    /// chat; in a basic group its own messages, or all of them for the group's creator).
    pub(crate) fn delete_box_messages(
        &mut self,
        by: UserId,
        ids: &[i32],
        revoke: bool,
    ) -> BoxChange {
        let Some(user_box) = self.boxes.get(&by) else {
            return BoxChange::default();
        };
        // (logical id, chat, whether it may go for everyone) of each message found.
        let found: Vec<(u64, Peer, bool)> = ids
            .iter()
            .filter_map(|id| user_box.messages.get(id))
            .map(|m| {
                let for_everyone = revoke
                    && match m.peer {
                        Peer::User(_) => true,
                        Peer::Chat(chat) => {
                            m.out || self.chats.get(&chat).is_some_and(|c| c.creator == by)
                        }
                        Peer::Channel(_) => false,
                    };
                (m.logical_id, m.peer, for_everyone)
            })
            .collect();
        let pts = user_box.pts;

        // Per box owner, the local ids to delete.
        let mut per_owner: std::collections::BTreeMap<UserId, Vec<i32>> = Default::default();
        for (logical, peer, for_everyone) in &found {
            let holders: Vec<UserId> = std::iter::once(by)
                .chain(if *for_everyone {
                    self.counterparts(by, *peer)
                        .into_iter()
                        .map(|(other, _)| other)
                        .collect()
                } else {
                    Vec::new()
                })
                .collect();
            for owner in holders {
                if let Some(local) = self
                    .boxes
                    .get(&owner)
                    .and_then(|b| b.by_logical.get(logical))
                {
                    per_owner.entry(owner).or_default().push(*local);
                }
            }
        }
        let mut change = BoxChange {
            pts,
            ..BoxChange::default()
        };
        // The caller first.
        let mut owners: Vec<UserId> = per_owner.keys().copied().collect();
        owners.sort_by_key(|owner| *owner != by);
        for owner in owners {
            let Some(mut local_ids) = per_owner.remove(&owner) else {
                continue;
            };
            local_ids.sort_unstable();
            local_ids.dedup();
            let Some(owner_box) = self.boxes.get_mut(&owner) else {
                continue;
            };
            for id in &local_ids {
                if let Some(message) = owner_box.messages.remove(id) {
                    owner_box.by_logical.remove(&message.logical_id);
                    if let Some(ids) = owner_box.by_peer.get_mut(&message.peer) {
                        ids.remove(id);
                    }
                }
            }
            let count = local_ids.len() as i32;
            let logged = owner_box.log(count, Event::DeleteMessages(local_ids));
            if owner == by {
                change.pts = logged.pts;
                change.pts_count = count;
            }
            change.events.push(BoxEvent { owner, logged });
        }
        change
    }

    /// `channels.deleteMessages`: authors may delete their messages, the creator any.
    /// Returns the logged event, `None` when none of the ids exists.
    pub(crate) fn delete_channel_messages(
        &mut self,
        by: UserId,
        channel: i64,
        ids: &[i32],
    ) -> Result<Option<Logged>, SendError> {
        let record = self
            .channels
            .get_mut(&channel)
            .ok_or(SendError::PeerInvalid)?;
        if !record.members.contains(&by) {
            return Err(SendError::ChannelPrivate);
        }
        let is_creator = record.creator == by;
        let mut existing: Vec<i32> = ids
            .iter()
            .copied()
            .filter(|id| record.messages.contains_key(id))
            .collect();
        existing.sort_unstable();
        existing.dedup();
        if existing
            .iter()
            .any(|id| !is_creator && record.messages.get(id).is_some_and(|m| m.from != Some(by)))
        {
            return Err(SendError::DeleteForbidden);
        }
        if existing.is_empty() {
            return Ok(None);
        }
        for id in &existing {
            record.messages.remove(id);
        }
        let count = existing.len() as i32;
        record.pts += count;
        let logged = Logged {
            pts: record.pts,
            pts_count: count,
            event: Event::DeleteMessages(existing),
        };
        record.log.push(logged.clone());
        Ok(Some(logged))
    }
}
