//! Pinned messages: `messages.updatePinnedMessage` and `messages.unpinAllMessages`.
//!
//! A private chat's or basic group's pins live in each participant's box, as that box
//! numbers the messages; a pin for both sides of a private chat (or in a basic group)
//! marks every participant's copy and logs `Pinned` in each of their boxes. A
//! supergroup's or channel's pins live in the channel and take its `pts`. Pinning (not
//! unpinning, not a private chat's one-sided pin) adds a `messageActionPinMessage`
//! service message replying to the pinned message, as Telegram does.
//!
//! Who may pin: either side of a private chat, every member of a basic group (the sandbox
//! models no default rights that would forbid it), the creator and admins of a supergroup
//! or channel; anyone else gets `CHAT_ADMIN_REQUIRED`.

use std::collections::BTreeSet;

use super::reading::BoxEvent;
use super::{Draft, Event, Logged, Peer, SendError, Sent, ServiceAction, UserId, World};

/// What `messages.updatePinnedMessage` asks for.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Pin {
    pub(crate) peer: Peer,
    /// As the caller sees it.
    pub(crate) id: i32,
    pub(crate) unpin: bool,
    /// Private chats only: pinned for the caller alone (`pm_oneside`).
    pub(crate) one_side: bool,
}

/// What a pin, an unpin or an unpin-all changed.
#[derive(Clone, Debug, Default)]
pub(crate) struct PinChange {
    /// Private chats and basic groups: the event logged in each box, the caller's first.
    pub(crate) box_events: Vec<BoxEvent>,
    /// Supergroups and channels: the channel and the event logged in it.
    pub(crate) channel_event: Option<(i64, Logged)>,
    /// The service message a pin added.
    pub(crate) service: Option<Sent>,
}

#[cfg(test)]
impl PinChange {
    /// Nothing changed (a pin of a pinned message, an unpin of one that is not).
    pub(crate) fn is_empty(&self) -> bool {
        self.box_events.is_empty() && self.channel_event.is_none() && self.service.is_none()
    }
}

impl World {
    /// Whether `by` may pin in `peer`; `Err` when `by` cannot reach `peer` at all.
    fn may_pin(&self, by: UserId, peer: Peer) -> Result<bool, SendError> {
        match peer {
            Peer::User(user) => {
                if self.users.contains_key(&user) {
                    Ok(true)
                } else {
                    Err(SendError::PeerInvalid)
                }
            }
            Peer::Chat(chat) => match self.chats.get(&chat) {
                None => Err(SendError::PeerInvalid),
                Some(group) if !group.members.contains(&by) => Err(SendError::PeerInvalid),
                Some(_) => Ok(true),
            },
            Peer::Channel(channel) => match self.channels.get(&channel) {
                None => Err(SendError::PeerInvalid),
                Some(record) if !record.members.contains(&by) => Err(SendError::ChannelPrivate),
                Some(record) => Ok(record.creator == by || record.admins.contains_key(&by)),
            },
        }
    }

    /// `messages.updatePinnedMessage`: pins or unpins one message. A pin of a message
    /// already pinned (or an unpin of one that is not) changes nothing and is no error.
    pub(crate) fn pin_message(
        &mut self,
        by: UserId,
        pin: Pin,
        date: i32,
    ) -> Result<PinChange, SendError> {
        if !self.may_pin(by, pin.peer)? {
            return Err(SendError::AdminRequired);
        }
        if let Peer::Channel(channel) = pin.peer {
            return self.pin_in_channel(by, channel, pin, date);
        }
        let original = self
            .boxes
            .get(&by)
            .and_then(|b| b.messages.get(&pin.id))
            .filter(|m| m.peer == pin.peer && m.action.is_none())
            .ok_or(SendError::MessageIdInvalid)?;
        let logical_id = original.logical_id;
        let one_side = pin.one_side && matches!(pin.peer, Peer::User(_));
        let holders: Vec<(UserId, Peer)> = std::iter::once((by, pin.peer))
            .chain(if one_side {
                Vec::new()
            } else {
                self.counterparts(by, pin.peer)
            })
            .collect();
        let pinned = !pin.unpin;
        let mut change = PinChange::default();
        for (owner, their_peer) in holders {
            let Some(owner_box) = self.boxes.get_mut(&owner) else {
                continue;
            };
            let Some(&local) = owner_box.by_logical.get(&logical_id) else {
                continue;
            };
            let set = owner_box.pinned.entry(their_peer).or_default();
            let changed = if pinned {
                set.insert(local)
            } else {
                set.remove(&local)
            };
            if !changed {
                continue;
            }
            let logged = owner_box.log(
                1,
                Event::Pinned {
                    peer: their_peer,
                    ids: vec![local],
                    pinned,
                },
            );
            change.box_events.push(BoxEvent { owner, logged });
        }
        let caller_changed = change.box_events.first().is_some_and(|e| e.owner == by);
        if pinned && !one_side && caller_changed {
            let draft = Draft {
                action: Some(ServiceAction::PinMessage),
                reply_to: Some(pin.id),
                ..Draft::default()
            };
            change.service = Some(self.post(by, pin.peer, draft, date)?);
        }
        Ok(change)
    }

    fn pin_in_channel(
        &mut self,
        by: UserId,
        channel: i64,
        pin: Pin,
        date: i32,
    ) -> Result<PinChange, SendError> {
        let record = self
            .channels
            .get_mut(&channel)
            .ok_or(SendError::PeerInvalid)?;
        if record
            .messages
            .get(&pin.id)
            .is_none_or(|m| m.action.is_some())
        {
            return Err(SendError::MessageIdInvalid);
        }
        let pinned = !pin.unpin;
        let changed = if pinned {
            record.pinned.insert(pin.id)
        } else {
            record.pinned.remove(&pin.id)
        };
        if !changed {
            return Ok(PinChange::default());
        }
        record.pinned_msg_id = record.pinned.last().copied();
        let logged = record.log_event(Event::Pinned {
            peer: Peer::Channel(channel),
            ids: vec![pin.id],
            pinned,
        });
        let mut change = PinChange {
            channel_event: Some((channel, logged)),
            ..PinChange::default()
        };
        if pinned {
            let draft = Draft {
                action: Some(ServiceAction::PinMessage),
                reply_to: Some(pin.id),
                ..Draft::default()
            };
            change.service = Some(self.post(by, Peer::Channel(channel), draft, date)?);
        }
        Ok(change)
    }

    /// `messages.unpinAllMessages`: unpins every message of `peer` the caller has
    /// pinned (in a private chat or basic group, every participant's copies of them too).
    pub(crate) fn unpin_all(&mut self, by: UserId, peer: Peer) -> Result<PinChange, SendError> {
        if !self.may_pin(by, peer)? {
            return Err(SendError::AdminRequired);
        }
        if let Peer::Channel(channel) = peer {
            let Some(record) = self.channels.get_mut(&channel) else {
                return Err(SendError::PeerInvalid);
            };
            if record.pinned.is_empty() {
                return Ok(PinChange::default());
            }
            let ids: Vec<i32> = std::mem::take(&mut record.pinned).into_iter().collect();
            record.pinned_msg_id = None;
            let logged = record.log_event(Event::Pinned {
                peer,
                ids,
                pinned: false,
            });
            return Ok(PinChange {
                channel_event: Some((channel, logged)),
                ..PinChange::default()
            });
        }
        let Some(own_box) = self.boxes.get(&by) else {
            return Err(SendError::PeerInvalid);
        };
        let logical_ids: Vec<u64> = own_box
            .pinned
            .get(&peer)
            .into_iter()
            .flatten()
            .filter_map(|id| own_box.messages.get(id))
            .map(|m| m.logical_id)
            .collect();
        let holders: Vec<(UserId, Peer)> = std::iter::once((by, peer))
            .chain(self.counterparts(by, peer))
            .collect();
        let mut change = PinChange::default();
        for (owner, their_peer) in holders {
            let Some(owner_box) = self.boxes.get_mut(&owner) else {
                continue;
            };
            let locals: BTreeSet<i32> = if owner == by {
                // Pins of messages deleted since go too.
                owner_box.pinned.remove(&their_peer).unwrap_or_default()
            } else {
                let locals: BTreeSet<i32> = logical_ids
                    .iter()
                    .filter_map(|logical| owner_box.by_logical.get(logical).copied())
                    .collect();
                if let Some(set) = owner_box.pinned.get_mut(&their_peer) {
                    let gone: BTreeSet<i32> = set.intersection(&locals).copied().collect();
                    set.retain(|id| !gone.contains(id));
                    gone
                } else {
                    BTreeSet::new()
                }
            };
            if locals.is_empty() {
                continue;
            }
            let logged = owner_box.log(
                1,
                Event::Pinned {
                    peer: their_peer,
                    ids: locals.into_iter().collect(),
                    pinned: false,
                },
            );
            change.box_events.push(BoxEvent { owner, logged });
        }
        Ok(change)
    }

    /// The newest pinned message of `peer` that `viewer` still has (`pinned_msg_id` of
    /// the full user, chat or channel).
    pub(crate) fn pinned_msg_id(&self, viewer: UserId, peer: Peer) -> Option<i32> {
        match peer {
            Peer::Channel(channel) => {
                let record = self.channels.get(&channel)?;
                record
                    .pinned
                    .iter()
                    .rev()
                    .find(|id| record.messages.contains_key(id))
                    .copied()
                    .or(record.pinned_msg_id)
            }
            _ => {
                let own_box = self.boxes.get(&viewer)?;
                own_box
                    .pinned
                    .get(&peer)?
                    .iter()
                    .rev()
                    .find(|id| own_box.messages.contains_key(id))
                    .copied()
            }
        }
    }

    /// Whether `viewer` sees message `id` of `peer` pinned.
    pub(crate) fn is_pinned(&self, viewer: UserId, peer: Peer, id: i32) -> bool {
        match peer {
            Peer::Channel(channel) => self
                .channels
                .get(&channel)
                .is_some_and(|c| c.pinned.contains(&id) || c.pinned_msg_id == Some(id)),
            _ => self
                .boxes
                .get(&viewer)
                .and_then(|b| b.pinned.get(&peer))
                .is_some_and(|set| set.contains(&id)),
        }
    }

    /// The messages of `peer` pinned as `viewer` sees them, ascending (for tests and
    /// the embedder).
    pub fn pinned_ids(&self, viewer: UserId, peer: Peer) -> Vec<i32> {
        match peer {
            Peer::Channel(channel) => self
                .channels
                .get(&channel)
                .map(|c| c.pinned.iter().copied().collect())
                .unwrap_or_default(),
            _ => self
                .boxes
                .get(&viewer)
                .and_then(|b| b.pinned.get(&peer))
                .map(|set| set.iter().copied().collect())
                .unwrap_or_default(),
        }
    }
}

impl super::ChannelRecord {
    /// Logs an event that takes one of the channel's `pts`.
    fn log_event(&mut self, event: Event) -> Logged {
        self.pts += 1;
        let logged = Logged {
            pts: self.pts,
            pts_count: 1,
            event,
        };
        self.log.push(logged.clone());
        logged
    }
}

#[cfg(test)]
mod tests {
    use super::super::NewUser;
    use super::*;

    fn two_users() -> (World, UserId, UserId) {
        let mut world = World::new();
        let a = world
            .add_user(NewUser::new("Ann", None, "9996620001"))
            .expect("adds");
        let b = world
            .add_user(NewUser::new("Ben", None, "9996620002"))
            .expect("adds");
        (world, a, b)
    }

    fn pin(peer: Peer, id: i32) -> Pin {
        Pin {
            peer,
            id,
            unpin: false,
            one_side: false,
        }
    }

    #[test]
    fn a_private_pin_marks_both_copies_once_and_adds_a_service_message() {
        let (mut world, a, b) = two_users();
        let id = world.send_text(a, Peer::User(b), "pin me").expect("sends");
        let b_id = world.boxes[&b].by_logical[&world.boxes[&a].messages[&id].logical_id];
        let change = world
            .pin_message(a, pin(Peer::User(b), id), 10)
            .expect("pins");
        assert_eq!(change.box_events.len(), 2);
        assert!(change.service.is_some());
        assert_eq!(world.pinned_msg_id(a, Peer::User(b)), Some(id));
        assert_eq!(world.pinned_msg_id(b, Peer::User(a)), Some(b_id));
        let again = world
            .pin_message(a, pin(Peer::User(b), id), 11)
            .expect("no error");
        assert!(
            again.is_empty(),
            "a pinned message pinned again changes nothing"
        );

        let unpin = Pin {
            unpin: true,
            ..pin(Peer::User(b), id)
        };
        let change = world.pin_message(a, unpin, 12).expect("unpins");
        assert_eq!(change.box_events.len(), 2);
        assert!(change.service.is_none());
        assert_eq!(world.pinned_msg_id(b, Peer::User(a)), None);
        assert_eq!(
            world.pin_message(a, pin(Peer::User(b), 999), 13).err(),
            Some(SendError::MessageIdInvalid)
        );
    }

    #[test]
    fn only_admins_pin_in_a_supergroup_and_unpin_all_clears_it() {
        let (mut world, a, b) = two_users();
        let group = world
            .create_channel(a, "Pins", false, &[b])
            .expect("creates");
        let id = world
            .send_text(b, Peer::Channel(group), "from ben")
            .expect("sends");
        assert_eq!(
            world.pin_message(b, pin(Peer::Channel(group), id), 1).err(),
            Some(SendError::AdminRequired)
        );
        let change = world
            .pin_message(a, pin(Peer::Channel(group), id), 1)
            .expect("the creator pins");
        assert!(change.channel_event.is_some() && change.service.is_some());
        assert_eq!(world.pinned_msg_id(b, Peer::Channel(group)), Some(id));
        let change = world.unpin_all(a, Peer::Channel(group)).expect("unpins");
        assert!(change.channel_event.is_some());
        assert_eq!(world.pinned_msg_id(b, Peer::Channel(group)), None);
    }
}
