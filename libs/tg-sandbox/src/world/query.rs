//! Reading the world: dialog lists, history pages, update logs.

use super::{Logged, Peer, StoredMessage, UserId, World};

/// One entry of an account's dialog list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Dialog {
    pub(crate) peer: Peer,
    pub(crate) top_message: i32,
    pub(crate) top_date: i32,
    pub(crate) read_inbox_max_id: i32,
    pub(crate) read_outbox_max_id: i32,
    pub(crate) unread_count: i32,
    /// The channel's `pts`, for supergroups and channels.
    pub(crate) pts: Option<i32>,
}

/// `messages.getHistory`'s paging parameters, applied as Telegram documents in
/// <https://core.telegram.org/api/offsets>.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct HistoryQuery {
    pub(crate) offset_id: i32,
    pub(crate) offset_date: i32,
    pub(crate) add_offset: i32,
    pub(crate) limit: i32,
    pub(crate) max_id: i32,
    pub(crate) min_id: i32,
}

/// Message ids of one page, newest first, and how many messages the chat has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct HistoryPage {
    pub(crate) ids: Vec<i32>,
    pub(crate) count: usize,
}

/// Telegram answers with about 20 messages when asked for 0 and never more than 100.
const DEFAULT_LIMIT: i32 = 20;
const MAX_LIMIT: i32 = 100;

impl HistoryQuery {
    /// Applies the query to a chat's `(id, date)` list, newest first.
    pub(super) fn apply(&self, newest_first: &[(i32, i32)]) -> Vec<i32> {
        let limit = match self.limit {
            l if l <= 0 => DEFAULT_LIMIT,
            l => l.min(MAX_LIMIT),
        };
        // offsetFromID(offset_id): results from the top up to offset_id, inclusive.
        let base = if self.offset_id > 0 {
            newest_first
                .iter()
                .take_while(|(id, _)| *id >= self.offset_id)
                .count()
        } else if self.offset_date > 0 {
            newest_first
                .iter()
                .take_while(|(_, date)| *date >= self.offset_date)
                .count()
        } else {
            0
        };
        let len = newest_first.len() as i64;
        let start = (base as i64 + i64::from(self.add_offset)).clamp(0, len);
        let end = (base as i64 + i64::from(self.add_offset) + i64::from(limit)).clamp(0, len);
        newest_first[start as usize..end.max(start) as usize]
            .iter()
            .map(|(id, _)| *id)
            .filter(|id| self.max_id <= 0 || *id < self.max_id)
            .filter(|id| self.min_id <= 0 || *id > self.min_id)
            .collect()
    }
}

impl World {
    /// The stored message `viewer` sees as `id` in `peer`.
    pub(crate) fn message(&self, viewer: UserId, peer: Peer, id: i32) -> Option<&StoredMessage> {
        match peer {
            Peer::Channel(channel) => self.channels.get(&channel)?.messages.get(&id),
            _ => self
                .boxes
                .get(&viewer)?
                .messages
                .get(&id)
                .filter(|m| m.peer == peer),
        }
    }

    pub(super) fn newest_first(&self, viewer: UserId, peer: Peer) -> Vec<(i32, i32)> {
        match peer {
            Peer::Channel(channel) => self
                .channels
                .get(&channel)
                .map(|c| c.messages.values().rev().map(|m| (m.id, m.date)).collect())
                .unwrap_or_default(),
            _ => self
                .boxes
                .get(&viewer)
                .and_then(|b| {
                    let ids = b.by_peer.get(&peer)?;
                    Some(
                        ids.iter()
                            .rev()
                            .filter_map(|id| b.messages.get(id).map(|m| (m.id, m.date)))
                            .collect(),
                    )
                })
                .unwrap_or_default(),
        }
    }

    /// Every message id `viewer` sees in `peer`, newest first.
    pub fn message_ids(&self, viewer: UserId, peer: Peer) -> Vec<i32> {
        self.newest_first(viewer, peer)
            .into_iter()
            .map(|(id, _)| id)
            .collect()
    }

    /// The peers of `viewer`'s dialog list, most recent activity first.
    pub fn dialog_peers(&self, viewer: UserId) -> Vec<Peer> {
        self.dialogs(viewer).into_iter().map(|d| d.peer).collect()
    }

    /// The text of the message `viewer` sees as `id` in `peer`.
    pub fn message_text(&self, viewer: UserId, peer: Peer, id: i32) -> Option<&str> {
        self.message(viewer, peer, id).map(|m| m.text.as_str())
    }

    /// One page of `peer`'s history as `viewer` sees it.
    pub(crate) fn history(&self, viewer: UserId, peer: Peer, query: &HistoryQuery) -> HistoryPage {
        let all = self.newest_first(viewer, peer);
        HistoryPage {
            ids: query.apply(&all),
            count: all.len(),
        }
    }

    /// The account's dialogs, most recent activity first.
    pub(crate) fn dialogs(&self, viewer: UserId) -> Vec<Dialog> {
        let mut dialogs = Vec::new();
        if let Some(user_box) = self.boxes.get(&viewer) {
            for (peer, ids) in &user_box.by_peer {
                // A basic group the account left stays out of the list.
                if !self.can_access(viewer, *peer) {
                    continue;
                }
                let Some(top) = ids.last().and_then(|id| user_box.messages.get(id)) else {
                    continue;
                };
                let read_inbox = user_box.read_inbox.get(peer).copied().unwrap_or(0);
                let unread = ids
                    .range(read_inbox + 1..)
                    .filter(|id| user_box.messages.get(id).is_some_and(|m| !m.out))
                    .count();
                dialogs.push(Dialog {
                    peer: *peer,
                    top_message: top.id,
                    top_date: top.date,
                    read_inbox_max_id: read_inbox,
                    read_outbox_max_id: self.box_read_outbox(viewer, *peer),
                    unread_count: unread as i32,
                    pts: None,
                });
            }
        }
        for channel in self.channels.values() {
            if !channel.members.contains(&viewer) {
                continue;
            }
            let Some(top) = channel.messages.values().last() else {
                continue;
            };
            let read_inbox = channel.read_inbox.get(&viewer).copied().unwrap_or(0);
            let unread = channel
                .messages
                .range(read_inbox + 1..)
                .filter(|(_, m)| m.from != Some(viewer))
                .count();
            let read_outbox = channel
                .read_inbox
                .iter()
                .filter(|(member, _)| **member != viewer)
                .map(|(_, read)| *read)
                .max()
                .unwrap_or(0);
            dialogs.push(Dialog {
                peer: Peer::Channel(channel.id),
                top_message: top.id,
                top_date: top.date,
                read_inbox_max_id: read_inbox,
                read_outbox_max_id: read_outbox,
                unread_count: unread as i32,
                pts: Some(channel.pts),
            });
        }
        dialogs.sort_by(|a, b| {
            (b.top_date, b.top_message, b.peer).cmp(&(a.top_date, a.top_message, a.peer))
        });
        dialogs
    }

    /// The newest of `viewer`'s outgoing messages in a box chat that another participant
    /// has read, mapped through the copies of each message.
    pub(super) fn box_read_outbox(&self, viewer: UserId, peer: Peer) -> i32 {
        let Some(user_box) = self.boxes.get(&viewer) else {
            return 0;
        };
        let others: Vec<(UserId, Peer)> = match peer {
            Peer::User(user) if user == viewer => {
                return user_box.read_inbox.get(&peer).copied().unwrap_or(0);
            }
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
            Peer::Channel(_) => return 0,
        };
        let Some(ids) = user_box.by_peer.get(&peer) else {
            return 0;
        };
        for id in ids.iter().rev() {
            let Some(message) = user_box.messages.get(id).filter(|m| m.out) else {
                continue;
            };
            let read_by_someone = others.iter().any(|(other, their_peer)| {
                let Some(other_box) = self.boxes.get(other) else {
                    return false;
                };
                let read = other_box.read_inbox.get(their_peer).copied().unwrap_or(0);
                other_box
                    .by_logical
                    .get(&message.logical_id)
                    .is_some_and(|their_id| *their_id <= read)
            });
            if read_by_someone {
                return *id;
            }
        }
        0
    }

    /// The account's common box `pts` (0 for an unknown account).
    pub(crate) fn box_pts(&self, user: UserId) -> i32 {
        self.boxes.get(&user).map_or(0, |b| b.pts)
    }

    /// Unread incoming messages over all of the account's dialogs.
    pub(crate) fn unread_total(&self, user: UserId) -> i32 {
        self.dialogs(user).iter().map(|d| d.unread_count).sum()
    }

    /// Events of the account's box after `pts`, oldest first.
    pub(crate) fn box_events_after(&self, user: UserId, pts: i32) -> &[Logged] {
        self.boxes
            .get(&user)
            .map(|b| {
                let start = b.log.partition_point(|e| e.pts <= pts);
                &b.log[start..]
            })
            .unwrap_or_default()
    }

    /// Events of a channel after `pts`, oldest first.
    pub(crate) fn channel_events_after(&self, channel: i64, pts: i32) -> &[Logged] {
        self.channels
            .get(&channel)
            .map(|c| {
                let start = c.log.partition_point(|e| e.pts <= pts);
                &c.log[start..]
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(newest_first: &[i32]) -> Vec<(i32, i32)> {
        newest_first.iter().map(|id| (*id, id * 10)).collect()
    }

    #[test]
    fn offsets_follow_telegrams_documented_examples() {
        let chat = ids(&[10, 9, 8, 7, 6, 5, 4, 3, 2, 1]);
        let q = |offset_id, add_offset, limit| HistoryQuery {
            offset_id,
            add_offset,
            limit,
            ..HistoryQuery::default()
        };
        // Newest page, then older than 7. offsetFromID counts the offset message itself,
        // so a negative add_offset pages "newer" from the offset message included, and
        // "around" puts it in the middle.
        assert_eq!(q(0, 0, 3).apply(&chat), vec![10, 9, 8]);
        assert_eq!(q(7, 0, 3).apply(&chat), vec![6, 5, 4]);
        assert_eq!(q(4, -3, 3).apply(&chat), vec![6, 5, 4]);
        assert_eq!(q(6, -2, 4).apply(&chat), vec![7, 6, 5, 4]);
        // Asking for more newer messages than exist returns only those that do.
        assert_eq!(q(9, -5, 5).apply(&chat), vec![10, 9]);
        // An offset id that is not in the chat counts the messages above it.
        let gappy = ids(&[30, 20, 10]);
        assert_eq!(q(25, 0, 5).apply(&gappy), vec![20, 10]);
        // max_id and min_id filter after slicing.
        let filtered = HistoryQuery {
            max_id: 9,
            min_id: 6,
            limit: 5,
            ..HistoryQuery::default()
        };
        assert_eq!(filtered.apply(&chat), vec![8, 7]);
        // offset_date: only messages sent before it.
        let by_date = HistoryQuery {
            offset_date: 75,
            limit: 2,
            ..HistoryQuery::default()
        };
        assert_eq!(by_date.apply(&chat), vec![7, 6]);
    }
}
