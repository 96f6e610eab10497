//! Sending and editing: where messages get their ids and `pts`.

use std::collections::BTreeSet;

use super::{
    Event, Forwarded, Logged, MessageMedia, Peer, ServiceAction, StoredMessage, UserId, World,
};

/// Telegram's limit for a text message, in characters.
const MESSAGE_LENGTH_MAX: usize = 4096;
/// Telegram's limit for a media caption (`caption_length_max` in `help.getConfig`).
const CAPTION_LENGTH_MAX: usize = 1024;

/// What `messages.forwardMessages` asks for.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Forward<'a> {
    pub(crate) from_peer: Peer,
    /// As the forwarder sees them in `from_peer`.
    pub(crate) ids: &'a [i32],
    /// One per id.
    pub(crate) random_ids: &'a [i64],
    pub(crate) to: Peer,
    /// Send as new messages, without a forward header.
    pub(crate) drop_author: bool,
}

/// What a new message holds, before it gets ids.
#[derive(Clone, Debug, Default)]
pub(crate) struct Draft {
    pub(crate) text: String,
    /// The sender's id of the message replied to.
    pub(crate) reply_to: Option<i32>,
    pub(crate) action: Option<ServiceAction>,
    pub(crate) media: Option<MessageMedia>,
    pub(crate) fwd: Option<Forwarded>,
    /// The album it belongs to (`messages.sendMultiMedia`), the same for each of its
    /// messages.
    pub(crate) grouped_id: Option<i64>,
}

impl Draft {
    pub(crate) fn text(text: &str) -> Self {
        Self {
            text: text.to_owned(),
            ..Self::default()
        }
    }
}

/// Why a send or edit was refused; the RPC layer maps each to Telegram's error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SendError {
    PeerInvalid,
    ChannelPrivate,
    WriteForbidden,
    MessageEmpty,
    MessageTooLong,
    MessageIdInvalid,
    AuthorRequired,
    NotModified,
    CaptionTooLong,
    /// A `random_id` of a message that was deleted since.
    RandomIdDuplicate,
    /// Deleting someone else's message without the right to.
    DeleteForbidden,
    /// `random_id` missing, or not one per forwarded message.
    RandomIdInvalid,
    /// Pinning in a supergroup or channel without admin rights.
    AdminRequired,
}

/// One account's copy of a message and the `pts` its arrival (or edit) took.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BoxCopy {
    pub(crate) owner: UserId,
    pub(crate) id: i32,
    pub(crate) pts: i32,
}

/// Where a sent or edited message landed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Sent {
    /// Private chat or basic group: one copy per account, the actor's first.
    Boxes {
        copies: Vec<BoxCopy>,
        /// The `random_id` was used before: nothing new was stored.
        duplicate: bool,
    },
    Channel {
        channel: i64,
        id: i32,
        pts: i32,
        duplicate: bool,
    },
}

impl Sent {
    /// The message id as the sender sees it.
    pub(crate) fn sender_message_id(&self) -> i32 {
        match self {
            Sent::Boxes { copies, .. } => copies.first().map_or(0, |c| c.id),
            Sent::Channel { id, .. } => *id,
        }
    }
}

fn check_text(text: &str) -> Result<(), SendError> {
    if text.trim().is_empty() {
        return Err(SendError::MessageEmpty);
    }
    if text.chars().count() > MESSAGE_LENGTH_MAX {
        return Err(SendError::MessageTooLong);
    }
    Ok(())
}

/// A message with media may have an empty caption, up to Telegram's caption limit.
fn check_draft(draft: &Draft) -> Result<(), SendError> {
    if draft.media.is_none() {
        return check_text(&draft.text);
    }
    if draft.text.chars().count() > CAPTION_LENGTH_MAX {
        return Err(SendError::CaptionTooLong);
    }
    Ok(())
}

impl World {
    /// Sends a message from `from` to `to`, honouring `random_id` de-duplication: a
    /// `random_id` the sender already used returns the message it created, unchanged.
    pub(crate) fn send(
        &mut self,
        from: UserId,
        to: Peer,
        draft: Draft,
        random_id: Option<i64>,
        date: i32,
    ) -> Result<Sent, SendError> {
        if !self.users.contains_key(&from) {
            return Err(SendError::PeerInvalid);
        }
        check_draft(&draft)?;
        self.check_can_write(from, to)?;
        self.send_checked(from, to, draft, random_id, date)
    }

    /// Whether `from` may post in `to`.
    pub(crate) fn check_can_write(&self, from: UserId, to: Peer) -> Result<(), SendError> {
        match to {
            Peer::User(user) if !self.users.contains_key(&user) => {
                return Err(SendError::PeerInvalid);
            }
            Peer::Chat(chat) => match self.chats.get(&chat) {
                None => return Err(SendError::PeerInvalid),
                Some(chat) if !chat.members.contains(&from) => {
                    return Err(SendError::WriteForbidden);
                }
                Some(_) => {}
            },
            Peer::Channel(id) => match self.channels.get(&id) {
                None => return Err(SendError::PeerInvalid),
                Some(channel) if !channel.members.contains(&from) => {
                    return Err(SendError::ChannelPrivate);
                }
                Some(channel) if channel.broadcast && channel.creator != from => {
                    return Err(SendError::WriteForbidden);
                }
                Some(_) => {}
            },
            Peer::User(_) => {}
        }
        Ok(())
    }

    /// [`World::send`] once the checks passed.
    fn send_checked(
        &mut self,
        from: UserId,
        to: Peer,
        draft: Draft,
        random_id: Option<i64>,
        date: i32,
    ) -> Result<Sent, SendError> {
        if let Some(rid) = random_id
            && let Some(sent) = self.repeated_send(from, to, rid)?
        {
            return Ok(sent);
        }
        let sent = self.post(from, to, draft, date)?;
        if let Some(rid) = random_id {
            // Kept where the sender's copy lives, for a repeated send to find.
            match &sent {
                Sent::Channel { channel, id, .. } => {
                    if let Some(record) = self.channels.get_mut(channel) {
                        record.random_ids.insert((from, rid), *id);
                    }
                }
                Sent::Boxes { copies, .. } => {
                    if let (Some(first), Some(sender_box)) =
                        (copies.first(), self.boxes.get_mut(&from))
                    {
                        sender_box.random_ids.insert(rid, first.id);
                    }
                }
            }
        }
        Ok(sent)
    }

    /// The message an earlier send with the same `random_id` created, if any.
    pub(crate) fn repeated_send(
        &self,
        from: UserId,
        to: Peer,
        random_id: i64,
    ) -> Result<Option<Sent>, SendError> {
        if let Peer::Channel(channel) = to {
            let Some(record) = self.channels.get(&channel) else {
                return Ok(None);
            };
            let Some(id) = record.random_ids.get(&(from, random_id)).copied() else {
                return Ok(None);
            };
            let pts = record
                .messages
                .get(&id)
                .map(|m| m.pts)
                .ok_or(SendError::RandomIdDuplicate)?;
            return Ok(Some(Sent::Channel {
                channel,
                id,
                pts,
                duplicate: true,
            }));
        }
        let Some(sender_box) = self.boxes.get(&from) else {
            return Ok(None);
        };
        let Some(id) = sender_box.random_ids.get(&random_id).copied() else {
            return Ok(None);
        };
        let pts = sender_box
            .messages
            .get(&id)
            .map(|m| m.pts)
            .ok_or(SendError::RandomIdDuplicate)?;
        Ok(Some(Sent::Boxes {
            copies: vec![BoxCopy {
                owner: from,
                id,
                pts,
            }],
            duplicate: true,
        }))
    }

    /// Posts `draft` from `from` where `to` keeps its messages: one post in a channel
    /// (supergroups included), else a copy in each participant's box. Every message goes
    /// through here: sends (which then keep their `random_id`) and service messages (a
    /// title, a photo, a join, a pin).
    pub(super) fn post(
        &mut self,
        from: UserId,
        to: Peer,
        draft: Draft,
        date: i32,
    ) -> Result<Sent, SendError> {
        if let Peer::Channel(channel) = to {
            let (id, pts) = self.post_to_channel(from, channel, draft, date)?;
            return Ok(Sent::Channel {
                channel,
                id,
                pts,
                duplicate: false,
            });
        }
        let copies = self.deliver_to_boxes(from, to, draft, date)?;
        Ok(Sent::Boxes {
            copies,
            duplicate: false,
        })
    }

    /// Stores one copy of a message in each participant's box, the sender's first.
    /// `reply_to` is the sender's id of the message replied to; each copy points at the
    /// recipient's own id of it (or at nothing, if the recipient does not have it).
    pub(super) fn deliver_to_boxes(
        &mut self,
        from: UserId,
        to: Peer,
        draft: Draft,
        date: i32,
    ) -> Result<Vec<BoxCopy>, SendError> {
        let mut recipients = vec![from];
        match to {
            Peer::User(user) if user != from => recipients.push(user),
            Peer::User(_) => {}
            Peer::Chat(chat) => {
                let members = self
                    .chats
                    .get(&chat)
                    .map(|c| c.members.clone())
                    .unwrap_or_default();
                recipients.extend(members.into_iter().filter(|m| *m != from));
            }
            Peer::Channel(_) => return Err(SendError::PeerInvalid),
        }
        // Replies to a message the sender does not have in this chat are sent without
        // the reply, as Telegram does.
        let reply_logical = draft.reply_to.and_then(|id| {
            self.boxes
                .get(&from)
                .and_then(|b| b.messages.get(&id))
                .filter(|m| m.peer == to)
                .map(|m| m.logical_id)
        });
        let logical_id = self.next_logical_id();

        let mut copies = Vec::with_capacity(recipients.len());
        for owner in recipients {
            let Some(user_box) = self.boxes.get_mut(&owner) else {
                continue;
            };
            let peer = match to {
                Peer::User(user) if owner == from => Peer::User(user),
                Peer::User(_) => Peer::User(from),
                other => other,
            };
            let id = user_box.next_msg_id;
            user_box.next_msg_id += 1;
            user_box.pts += 1;
            let pts = user_box.pts;
            let reply_to = reply_logical.and_then(|l| user_box.by_logical.get(&l).copied());
            user_box.messages.insert(
                id,
                StoredMessage {
                    id,
                    peer,
                    from: Some(from),
                    out: owner == from,
                    date,
                    text: draft.text.clone(),
                    reply_to,
                    edit_date: None,
                    action: draft.action.clone(),
                    pts,
                    logical_id,
                    media: draft.media,
                    fwd: draft.fwd,
                    grouped_id: draft.grouped_id,
                },
            );
            user_box.by_peer.entry(peer).or_default().insert(id);
            user_box.by_logical.insert(logical_id, id);
            user_box.log.push(Logged {
                pts,
                pts_count: 1,
                event: Event::NewMessage(id),
            });
            // Sending implies having read the chat up to here.
            if owner == from {
                user_box.read_inbox.insert(peer, id);
            }
            copies.push(BoxCopy { owner, id, pts });
        }
        Ok(copies)
    }

    /// Appends a message to a channel; returns its id and the channel's new `pts`.
    pub(super) fn post_to_channel(
        &mut self,
        from: UserId,
        channel: i64,
        draft: Draft,
        date: i32,
    ) -> Result<(i32, i32), SendError> {
        let record = self
            .channels
            .get_mut(&channel)
            .ok_or(SendError::PeerInvalid)?;
        let id = record.next_msg_id;
        record.next_msg_id += 1;
        record.pts += 1;
        let pts = record.pts;
        let reply_to = draft.reply_to.filter(|r| record.messages.contains_key(r));
        record.messages.insert(
            id,
            StoredMessage {
                id,
                peer: Peer::Channel(channel),
                // Posts in broadcast channels are signed by the channel, not a user.
                from: if record.broadcast { None } else { Some(from) },
                out: false,
                date,
                text: draft.text,
                reply_to,
                edit_date: None,
                action: draft.action,
                pts,
                logical_id: 0,
                media: draft.media,
                fwd: draft.fwd,
                grouped_id: draft.grouped_id,
            },
        );
        record.log.push(Logged {
            pts,
            pts_count: 1,
            event: Event::NewMessage(id),
        });
        record.read_inbox.insert(from, id);
        Ok((id, pts))
    }

    /// Replaces a message's text. Only its author may edit it (in a broadcast channel:
    /// its creator); every copy is edited and each affected box or channel logs the edit.
    pub(crate) fn edit(
        &mut self,
        by: UserId,
        peer: Peer,
        id: i32,
        text: &str,
        date: i32,
    ) -> Result<Sent, SendError> {
        check_text(text)?;
        if let Peer::Channel(channel) = peer {
            let record = self
                .channels
                .get_mut(&channel)
                .ok_or(SendError::PeerInvalid)?;
            if !record.members.contains(&by) {
                return Err(SendError::ChannelPrivate);
            }
            let may_edit = record.broadcast && record.creator == by;
            let message = record
                .messages
                .get_mut(&id)
                .filter(|m| m.action.is_none())
                .ok_or(SendError::MessageIdInvalid)?;
            if message.from != Some(by) && !may_edit {
                return Err(SendError::AuthorRequired);
            }
            if message.text == text {
                return Err(SendError::NotModified);
            }
            message.text = text.to_owned();
            message.edit_date = Some(date);
            record.pts += 1;
            let pts = record.pts;
            record.log.push(Logged {
                pts,
                pts_count: 1,
                event: Event::EditMessage(id),
            });
            return Ok(Sent::Channel {
                channel,
                id,
                pts,
                duplicate: false,
            });
        }

        let original = self
            .boxes
            .get(&by)
            .and_then(|b| b.messages.get(&id))
            .filter(|m| m.peer == peer && m.action.is_none())
            .ok_or(SendError::MessageIdInvalid)?;
        if !original.out {
            return Err(SendError::AuthorRequired);
        }
        if original.text == text {
            return Err(SendError::NotModified);
        }
        let logical_id = original.logical_id;
        let holders: BTreeSet<UserId> = std::iter::once(by)
            .chain(match peer {
                Peer::User(user) => vec![user],
                Peer::Chat(chat) => self
                    .chats
                    .get(&chat)
                    .map(|c| c.members.iter().copied().collect())
                    .unwrap_or_default(),
                Peer::Channel(_) => Vec::new(),
            })
            .collect();
        let mut copies = Vec::new();
        // The editor's copy first, then the others.
        for owner in std::iter::once(by).chain(holders.into_iter().filter(|o| *o != by)) {
            let Some(user_box) = self.boxes.get_mut(&owner) else {
                continue;
            };
            let Some(&local) = user_box.by_logical.get(&logical_id) else {
                continue;
            };
            let Some(message) = user_box.messages.get_mut(&local) else {
                continue;
            };
            message.text = text.to_owned();
            message.edit_date = Some(date);
            user_box.pts += 1;
            let pts = user_box.pts;
            user_box.log.push(Logged {
                pts,
                pts_count: 1,
                event: Event::EditMessage(local),
            });
            copies.push(BoxCopy {
                owner,
                id: local,
                pts,
            });
        }
        Ok(Sent::Boxes {
            copies,
            duplicate: false,
        })
    }

    /// Forwards messages `by` sees in `from_peer` to `to`, one `random_id` each (a
    /// repeated one returns the earlier forward). The copies keep text and media and get
    /// a forward header naming the original author (or the broadcast channel and post),
    /// unless `drop_author`; forwarding a forward keeps the original header.
    pub(crate) fn forward(
        &mut self,
        by: UserId,
        request: &Forward<'_>,
        date: i32,
    ) -> Result<Vec<(i64, Sent)>, SendError> {
        let Forward {
            from_peer,
            ids,
            random_ids,
            to,
            drop_author,
        } = *request;
        if ids.is_empty() || ids.len() != random_ids.len() {
            return Err(SendError::RandomIdInvalid);
        }
        if !self.can_access(by, from_peer) {
            return Err(SendError::PeerInvalid);
        }
        self.check_can_write(by, to)?;
        let mut drafts = Vec::with_capacity(ids.len());
        for (id, random_id) in ids.iter().zip(random_ids) {
            let Some(original) = self
                .message(by, from_peer, *id)
                .filter(|m| m.action.is_none())
            else {
                continue;
            };
            let fwd = if drop_author {
                None
            } else if let Some(fwd) = original.fwd {
                Some(fwd)
            } else {
                let broadcast = match from_peer {
                    Peer::Channel(channel) => {
                        self.channels.get(&channel).is_some_and(|c| c.broadcast)
                    }
                    _ => false,
                };
                Some(if broadcast {
                    Forwarded {
                        from: Some(from_peer),
                        date: original.date,
                        channel_post: Some(original.id),
                    }
                } else {
                    Forwarded {
                        from: original.from.map(Peer::User),
                        date: original.date,
                        channel_post: None,
                    }
                })
            };
            drafts.push((
                *random_id,
                Draft {
                    text: original.text.clone(),
                    reply_to: None,
                    action: None,
                    media: original.media,
                    fwd,
                    grouped_id: None,
                },
            ));
        }
        if drafts.is_empty() {
            return Err(SendError::MessageIdInvalid);
        }
        let mut sent = Vec::with_capacity(drafts.len());
        for (random_id, draft) in drafts {
            sent.push((
                random_id,
                self.send_checked(by, to, draft, Some(random_id), date)?,
            ));
        }
        Ok(sent)
    }

    /// Marks everything each account has received as read (for seeded worlds).
    pub fn mark_all_read(&mut self) {
        for user_box in self.boxes.values_mut() {
            for (peer, ids) in &user_box.by_peer {
                if let Some(last) = ids.last() {
                    user_box.read_inbox.insert(*peer, *last);
                }
            }
        }
        for channel in self.channels.values_mut() {
            if let Some(last) = channel.messages.keys().last().copied() {
                for member in &channel.members {
                    channel.read_inbox.insert(*member, last);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::NewUser;
    use super::*;

    fn two_users() -> (World, UserId, UserId) {
        let mut world = World::new();
        let a = world
            .add_user(NewUser::new("Ann", None, "+999 66 2 0001"))
            .expect("adds");
        let b = world
            .add_user(NewUser::new("Ben", None, "9996620002"))
            .expect("adds");
        (world, a, b)
    }

    #[test]
    fn private_messages_get_one_id_per_box_and_advance_each_pts() {
        let (mut world, a, b) = two_users();
        world
            .send_text(b, Peer::User(b), "note to self")
            .expect("sends");
        let sent = world
            .send(a, Peer::User(b), Draft::text("hi"), Some(7), 100)
            .expect("sends");
        let Sent::Boxes { copies, duplicate } = sent else {
            panic!("a private chat uses boxes");
        };
        assert!(!duplicate);
        assert_eq!(
            copies[0],
            BoxCopy {
                owner: a,
                id: 1,
                pts: 1
            }
        );
        assert_eq!(
            copies[1],
            BoxCopy {
                owner: b,
                id: 2,
                pts: 2
            }
        );
        let b_copy = &world.boxes[&b].messages[&2];
        assert_eq!((b_copy.peer, b_copy.out), (Peer::User(a), false));
    }

    #[test]
    fn a_repeated_random_id_returns_the_first_message() {
        let (mut world, a, b) = two_users();
        let first = world
            .send(a, Peer::User(b), Draft::text("once"), Some(42), 100)
            .expect("sends");
        let again = world
            .send(a, Peer::User(b), Draft::text("once"), Some(42), 101)
            .expect("sends");
        assert_eq!(first.sender_message_id(), again.sender_message_id());
        assert!(matches!(
            again,
            Sent::Boxes {
                duplicate: true,
                ..
            }
        ));
        assert_eq!(world.message_count(b, Peer::User(a)), 1);
        assert_eq!(world.boxes[&b].pts, 1);
    }

    #[test]
    fn replies_and_edits_follow_each_copy() {
        let (mut world, a, b) = two_users();
        world
            .send_text(b, Peer::User(b), "shift b's ids")
            .expect("sends");
        let first = world
            .send_text(a, Peer::User(b), "question")
            .expect("sends");
        let b_first = world.boxes[&b].by_logical[&world.boxes[&a].messages[&first].logical_id];
        let reply = world
            .send_text_at(b, Peer::User(a), "answer", Some(b_first), 200)
            .expect("sends");
        assert_eq!(world.boxes[&b].messages[&reply].reply_to, Some(b_first));
        let a_reply = world.boxes[&a].messages.values().last().expect("has reply");
        assert_eq!(a_reply.reply_to, Some(first));

        world
            .edit_text(a, Peer::User(b), first, "question?")
            .expect("edits");
        assert_eq!(world.boxes[&b].messages[&b_first].text, "question?");
        assert_eq!(
            world.edit(b, Peer::User(a), b_first, "x", 300),
            Err(SendError::AuthorRequired)
        );
    }

    #[test]
    fn channels_refuse_non_members_and_non_admin_posts() {
        let (mut world, a, b) = two_users();
        let news = world
            .create_channel(a, "News", true, &[b])
            .expect("creates");
        assert_eq!(
            world.send(b, Peer::Channel(news), Draft::text("hi"), None, 1),
            Err(SendError::WriteForbidden)
        );
        let c = world
            .add_user(NewUser::new("Cid", None, "9996620003"))
            .expect("adds");
        assert_eq!(
            world.send(c, Peer::Channel(news), Draft::text("hi"), None, 1),
            Err(SendError::ChannelPrivate)
        );
        assert_eq!(
            world.send(a, Peer::Channel(news), Draft::text(" "), None, 1),
            Err(SendError::MessageEmpty)
        );
    }
}
