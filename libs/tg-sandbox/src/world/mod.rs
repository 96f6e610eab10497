//! The sandbox's state of the world: accounts, contacts, chats and messages, kept the way
//! Telegram keeps them, because clients depend on those shapes:
//!
//! * Private chats and basic groups live in per-account *message boxes*: every account
//!   holds its own copy of each message, numbered by the account's own counter, and each
//!   event in the box advances the account's `pts`. A message sent in a basic group
//!   therefore has a different id for every member.
//! * Supergroups and broadcast channels hold a single copy of each message, numbered per
//!   channel, with a `pts` of their own.
//! * Access hashes are per viewer: the hash that lets account A address user U is not the
//!   one account B must use.
//!
//! The world knows nothing of connections; the RPC layer renders it into TL objects and
//! pushes the updates it produces.

mod chat_info;
mod groups;
mod invites;
mod media;
mod membership;
mod messaging;
mod pinning;
mod query;
mod reading;
mod search;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub(crate) use groups::{GroupError, Invited};
pub(crate) use invites::{
    InviteCheck, InviteEdit, InviteRecord, InviteRequest, JoinedChat, Joining,
};
pub use media::{
    DEMO_CLIP_MP4, DEMO_PHOTO_JPEG, DEMO_VOICE_OGG, DEMO_VOICE_WAVEFORM, SeedFile, SeedVideo,
    sample_png,
};
pub(crate) use media::{
    DocAttribute, Document, FileLocation, MediaError, NewMedia, PeerPhotoError, Photo,
    PhotoSizeRecord,
};
pub(crate) use messaging::{Draft, Forward, SendError, Sent};
pub(crate) use pinning::{Pin, PinChange};
pub(crate) use query::{Dialog, HistoryPage, HistoryQuery};
pub(crate) use reading::BoxEvent;
pub(crate) use search::{GlobalScope, SearchFilter, SearchQuery, name_matches};

use crate::serde_util;
use crate::srp::PasswordVerifier;

/// A Telegram user id.
pub type UserId = i64;

/// Somewhere messages are exchanged, as Telegram's `Peer`. In JSON (seed files, the
/// admin API): `{"user": id}`, `{"chat": id}` or `{"channel": id}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Peer {
    /// A private chat with this user (with oneself: "Saved Messages").
    User(UserId),
    /// A basic group.
    Chat(i64),
    /// A supergroup or a broadcast channel.
    Channel(i64),
}

impl Peer {
    /// The Bot-API-style dialog id clients (TDLib, and TalkApp) order chats by: a user's
    /// id, a basic group's negated, a channel's below -10^12 (`-100` then its id).
    pub fn dialog_id(self) -> i64 {
        match self {
            Self::User(id) => id,
            Self::Chat(id) => -id,
            Self::Channel(id) => -1_000_000_000_000 - id,
        }
    }
}

/// The details of a new account.
#[derive(Clone, Debug)]
pub struct NewUser {
    pub first_name: String,
    pub last_name: Option<String>,
    pub username: Option<String>,
    /// Any formatting; only the digits are kept (`+999 66 2 0001` is `9996620001`).
    pub phone: String,
}

impl NewUser {
    pub fn new(first_name: &str, last_name: Option<&str>, phone: &str) -> Self {
        Self {
            first_name: first_name.to_owned(),
            last_name: last_name.map(str::to_owned),
            username: None,
            phone: phone.to_owned(),
        }
    }

    pub fn username(mut self, username: &str) -> Self {
        self.username = Some(username.to_owned());
        self
    }
}

/// What a test or a caller may read about an account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    pub id: UserId,
    pub first_name: String,
    pub last_name: Option<String>,
    pub username: Option<String>,
    /// Digits only, without `+`.
    pub phone: String,
    pub has_password: bool,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct UserRecord {
    pub(crate) info: UserInfo,
    pub(crate) password: Option<PasswordVerifier>,
    pub(crate) contacts: BTreeSet<UserId>,
    /// Unix time of the account's last activity, shown as `userStatusOffline`.
    pub(crate) was_online: i32,
    /// Until when the account counts as online (`userStatusOnline.expires`); 0 when it
    /// went offline.
    #[serde(default)]
    pub(crate) online_until: i32,
    #[serde(default)]
    pub(crate) about: Option<String>,
    /// The profile photo, a photo of [`World::photos`].
    #[serde(default)]
    pub(crate) photo: Option<i64>,
    /// Telegram's chat-invite privacy (`privacyKeyChatInvite`) set to "my contacts":
    /// only the user's contacts may add them to groups and channels; anyone else gets
    /// `USER_PRIVACY_RESTRICTED`.
    #[serde(default)]
    pub(crate) invites_from_contacts_only: bool,
    /// The names this account gave its contacts (`contacts.importContacts`,
    /// `contacts.addContact`): Telegram shows a contact to the account under the name it
    /// saved, not the contact's own.
    #[serde(default)]
    pub(crate) contact_names: BTreeMap<UserId, ContactName>,
}

/// The name an account saved a contact under.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ContactName {
    pub(crate) first_name: String,
    pub(crate) last_name: Option<String>,
}

/// When and by whom a member was added to a group or channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Joined {
    pub(crate) inviter: UserId,
    pub(crate) date: i32,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct BasicGroup {
    pub(crate) title: String,
    pub(crate) creator: UserId,
    pub(crate) members: BTreeSet<UserId>,
    pub(crate) date: i32,
    /// Members other than the creator: who added them, and when.
    #[serde(default)]
    pub(crate) joined: BTreeMap<UserId, Joined>,
    #[serde(default)]
    pub(crate) about: String,
    #[serde(default)]
    pub(crate) photo: Option<i64>,
    /// Bumped on every membership change (`chatParticipants.version`).
    #[serde(default)]
    pub(crate) version: i32,
    /// Members the creator made admins (`messages.editChatAdmin`).
    #[serde(default)]
    pub(crate) admins: BTreeSet<UserId>,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ChannelRecord {
    pub(crate) id: i64,
    pub(crate) title: String,
    pub(crate) username: Option<String>,
    /// A broadcast channel; otherwise a supergroup ("megagroup").
    pub(crate) broadcast: bool,
    pub(crate) creator: UserId,
    pub(crate) members: BTreeSet<UserId>,
    pub(crate) date: i32,
    pub(crate) pts: i32,
    pub(crate) next_msg_id: i32,
    pub(crate) messages: BTreeMap<i32, StoredMessage>,
    pub(crate) log: Vec<Logged>,
    /// `(sender, random_id)` of every message sent here, for de-duplication.
    #[serde(with = "serde_util::pairs")]
    pub(crate) random_ids: HashMap<(UserId, i64), i32>,
    /// Per member: the highest message id read.
    pub(crate) read_inbox: HashMap<UserId, i32>,
    #[serde(default)]
    pub(crate) joined: BTreeMap<UserId, Joined>,
    #[serde(default)]
    pub(crate) about: String,
    #[serde(default)]
    pub(crate) photo: Option<i64>,
    #[serde(default)]
    pub(crate) pinned_msg_id: Option<i32>,
    /// The discussion group of a broadcast channel, or the channel a group discusses.
    #[serde(default)]
    pub(crate) linked_chat_id: Option<i64>,
    /// Admins other than the creator, and who promoted each (`channels.editAdmin`).
    #[serde(default)]
    pub(crate) admins: BTreeMap<UserId, UserId>,
    /// Every pinned message (`pinned_msg_id` is the newest of them).
    #[serde(default)]
    pub(crate) pinned: BTreeSet<i32>,
}

/// What a service message records.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum ServiceAction {
    ChatCreate {
        title: String,
        users: Vec<UserId>,
    },
    ChannelCreate {
        title: String,
    },
    ChatAddUser {
        users: Vec<UserId>,
    },
    /// A member left or was removed (`messageActionChatDeleteUser`).
    ChatDeleteUser {
        user: UserId,
    },
    /// The title changed (`messageActionChatEditTitle`).
    ChatEditTitle {
        title: String,
    },
    /// A message was pinned (`messageActionPinMessage`; the message's `reply_to` names
    /// the pinned one).
    PinMessage,
    /// A user joined through an invite link (`messageActionChatJoinedByLink`).
    ChatJoinedByLink {
        inviter: UserId,
    },
    /// A user joined, an admin having approved their request
    /// (`messageActionChatJoinedByRequest`; the message is from the user).
    ChatJoinedByRequest,
    /// A new photo (`messageActionChatEditPhoto`), a photo of [`World::photos`].
    ChatEditPhoto {
        photo: i64,
    },
    /// The photo was removed (`messageActionChatDeletePhoto`).
    ChatDeletePhoto,
}

/// What a message carries besides its text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum MessageMedia {
    /// A photo of [`World::photos`].
    Photo(i64),
    /// A document of [`World::documents`].
    Document(i64),
}

/// Where a forwarded message came from (`messageFwdHeader`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Forwarded {
    /// The original author: a user, or the channel of a broadcast post.
    pub(crate) from: Option<Peer>,
    /// When the original was sent.
    pub(crate) date: i32,
    /// The post's id in its broadcast channel.
    pub(crate) channel_post: Option<i32>,
}

/// One message: a copy in an account's box, or the single copy in a channel.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct StoredMessage {
    pub(crate) id: i32,
    /// Where it was sent, as its holder sees it (a private chat is the other user).
    pub(crate) peer: Peer,
    /// The author; `None` for a broadcast channel's post.
    pub(crate) from: Option<UserId>,
    /// Whether the box's owner sent it (always false in channels, rendered per viewer).
    pub(crate) out: bool,
    pub(crate) date: i32,
    pub(crate) text: String,
    pub(crate) reply_to: Option<i32>,
    pub(crate) edit_date: Option<i32>,
    pub(crate) action: Option<ServiceAction>,
    /// The `pts` at which the message appeared (answers to a repeated `random_id`).
    pub(crate) pts: i32,
    /// Links the copies of one message across boxes.
    pub(crate) logical_id: u64,
    #[serde(default)]
    pub(crate) media: Option<MessageMedia>,
    #[serde(default)]
    pub(crate) fwd: Option<Forwarded>,
    /// The album it belongs to, when it was sent as one.
    #[serde(default)]
    pub(crate) grouped_id: Option<i64>,
}

/// An event in a message box or channel, in `pts` order, replayed by getDifference.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Event {
    NewMessage(i32),
    EditMessage(i32),
    /// Messages gone from the box or channel (`pts_count` is their number).
    DeleteMessages(Vec<i32>),
    /// The owner read `peer` up to `max_id` (`updateReadHistoryInbox`).
    ReadInbox {
        peer: Peer,
        max_id: i32,
        still_unread: i32,
    },
    /// Someone read the owner's messages in `peer` up to `max_id`
    /// (`updateReadHistoryOutbox`).
    ReadOutbox {
        peer: Peer,
        max_id: i32,
    },
    /// Messages of `peer` were pinned or unpinned (`updatePinnedMessages`, or
    /// `updatePinnedChannelMessages` in a channel's log).
    Pinned {
        peer: Peer,
        ids: Vec<i32>,
        pinned: bool,
    },
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Logged {
    /// The `pts` after the event.
    pub(crate) pts: i32,
    /// How many `pts` the event took.
    #[serde(default = "one")]
    pub(crate) pts_count: i32,
    pub(crate) event: Event,
}

fn one() -> i32 {
    1
}

/// An account's common message box: private chats and basic groups.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct UserBox {
    pub(crate) pts: i32,
    pub(crate) next_msg_id: i32,
    pub(crate) messages: BTreeMap<i32, StoredMessage>,
    /// Message ids by peer, for history and dialogs (rebuilt from `messages` on load).
    #[serde(skip)]
    pub(crate) by_peer: HashMap<Peer, BTreeSet<i32>>,
    /// Rebuilt from `messages` on load.
    #[serde(skip)]
    pub(crate) by_logical: HashMap<u64, i32>,
    pub(crate) log: Vec<Logged>,
    pub(crate) random_ids: HashMap<i64, i32>,
    /// Per peer: the highest incoming message id read.
    #[serde(with = "serde_util::pairs")]
    pub(crate) read_inbox: HashMap<Peer, i32>,
    /// Per peer: the messages pinned, as this box numbers them.
    #[serde(default, with = "serde_util::pairs")]
    pub(crate) pinned: HashMap<Peer, BTreeSet<i32>>,
}

impl UserBox {
    fn rebuild_indexes(&mut self) {
        self.by_peer.clear();
        self.by_logical.clear();
        for message in self.messages.values() {
            self.by_peer
                .entry(message.peer)
                .or_default()
                .insert(message.id);
            self.by_logical.insert(message.logical_id, message.id);
        }
    }
}

/// The whole sandbox state. Build one with [`World::new`] and the `add_*`/`create_*`/
/// `send_*` methods, or take [`World::demo`]. It is what the state file holds (with the
/// issued keys), as JSON; file contents (photos, documents) are kept beside it.
#[derive(Debug, Serialize, Deserialize)]
pub struct World {
    pub(crate) users: BTreeMap<UserId, UserRecord>,
    pub(crate) chats: BTreeMap<i64, BasicGroup>,
    pub(crate) channels: BTreeMap<i64, ChannelRecord>,
    pub(crate) boxes: HashMap<UserId, UserBox>,
    #[serde(default)]
    pub(crate) photos: BTreeMap<i64, Photo>,
    #[serde(default)]
    pub(crate) documents: BTreeMap<i64, Document>,
    /// File contents by blob id; persisted as files beside the state file, not in it.
    #[serde(skip)]
    pub(crate) blobs: HashMap<u64, Arc<[u8]>>,
    /// Keys the per-viewer access hashes.
    #[serde(with = "serde_util::base64_16")]
    hash_secret: [u8; 16],
    next_user_id: UserId,
    next_chat_id: i64,
    next_channel_id: i64,
    next_logical_id: u64,
    #[serde(default = "first_media_id")]
    next_media_id: i64,
    #[serde(default = "first_blob_id")]
    next_blob_id: u64,
    /// Invite links and the channels users may not join.
    #[serde(default)]
    pub(crate) joining: Joining,
    /// Phone number (digits) to account (rebuilt on load).
    #[serde(skip)]
    by_phone: HashMap<String, UserId>,
}

fn first_media_id() -> i64 {
    // Telegram's photo and document ids are large; clients store them as 64-bit.
    5_100_000_000_000_000_001
}

fn first_blob_id() -> u64 {
    1
}

impl Default for World {
    fn default() -> Self {
        Self::new()
    }
}

/// Telegram's rule for usernames: 5 to 32 characters, letters, digits and underscores,
/// starting with a letter.
pub(crate) fn valid_username(username: &str) -> bool {
    (5..=32).contains(&username.len())
        && username.starts_with(|c: char| c.is_ascii_alphabetic())
        && username
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Keeps only the digits of a phone number, as Telegram does.
pub(crate) fn normalize_phone(phone: &str) -> String {
    phone.chars().filter(char::is_ascii_digit).collect()
}

pub(crate) fn unix_now() -> i32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i32)
        .unwrap_or_default()
}

#[derive(Clone, Copy)]
pub(crate) enum HashKind {
    User = 1,
    Channel = 2,
}

impl World {
    /// An empty world.
    pub fn new() -> Self {
        let mut hash_secret = [0u8; 16];
        rand::rng().fill_bytes(&mut hash_secret);
        Self {
            users: BTreeMap::new(),
            chats: BTreeMap::new(),
            channels: BTreeMap::new(),
            boxes: HashMap::new(),
            photos: BTreeMap::new(),
            documents: BTreeMap::new(),
            blobs: HashMap::new(),
            hash_secret,
            next_user_id: 1_000_001,
            next_chat_id: 4_000_001,
            next_channel_id: 1_500_000_001,
            next_logical_id: 1,
            next_media_id: first_media_id(),
            next_blob_id: first_blob_id(),
            joining: Joining::default(),
            by_phone: HashMap::new(),
        }
    }

    /// Rebuilds what the state file leaves out (indexes), after loading.
    pub(crate) fn rebuild_indexes(&mut self) {
        for user_box in self.boxes.values_mut() {
            user_box.rebuild_indexes();
        }
        self.by_phone = self
            .users
            .values()
            .map(|u| (u.info.phone.clone(), u.info.id))
            .collect();
    }

    /// Adds an account and returns its id.
    ///
    /// # Errors
    /// When the phone number has no digits or already belongs to an account.
    pub fn add_user(&mut self, user: NewUser) -> anyhow::Result<UserId> {
        let phone = normalize_phone(&user.phone);
        anyhow::ensure!(
            !phone.is_empty(),
            "phone number {:?} has no digits",
            user.phone
        );
        anyhow::ensure!(
            self.user_by_phone(&phone).is_none(),
            "phone number {phone} is already registered"
        );
        if let Some(username) = &user.username {
            anyhow::ensure!(
                valid_username(username),
                "username {username:?} is not 5-32 letters, digits or underscores"
            );
            anyhow::ensure!(
                self.resolve_username(username).is_none(),
                "username {username} is taken"
            );
        }
        let id = self.next_user_id;
        self.next_user_id += 1;
        self.by_phone.insert(phone.clone(), id);
        self.users.insert(
            id,
            UserRecord {
                info: UserInfo {
                    id,
                    first_name: user.first_name,
                    last_name: user.last_name,
                    username: user.username,
                    phone,
                    has_password: false,
                },
                password: None,
                contacts: BTreeSet::new(),
                was_online: unix_now() - 3600,
                online_until: 0,
                about: None,
                photo: None,
                invites_from_contacts_only: false,
                contact_names: BTreeMap::new(),
            },
        );
        self.boxes.insert(
            id,
            UserBox {
                next_msg_id: 1,
                ..UserBox::default()
            },
        );
        Ok(id)
    }

    /// Turns on two-step verification. Only the SRP verifier is kept; deriving it takes
    /// 100,000 PBKDF2 rounds, as on Telegram.
    ///
    /// # Errors
    /// When the account does not exist.
    pub fn set_password(
        &mut self,
        user: UserId,
        password: &str,
        hint: Option<&str>,
    ) -> anyhow::Result<()> {
        let record = self
            .users
            .get_mut(&user)
            .ok_or_else(|| anyhow::anyhow!("no user {user}"))?;
        record.password = Some(PasswordVerifier::new(password, hint.map(str::to_owned)));
        record.info.has_password = true;
        Ok(())
    }

    /// Adds `contact` to `owner`'s contacts (one way; call twice for mutual contacts).
    ///
    /// # Errors
    /// When either account does not exist.
    pub fn add_contact(&mut self, owner: UserId, contact: UserId) -> anyhow::Result<()> {
        anyhow::ensure!(self.users.contains_key(&contact), "no user {contact}");
        self.users
            .get_mut(&owner)
            .ok_or_else(|| anyhow::anyhow!("no user {owner}"))?
            .contacts
            .insert(contact);
        Ok(())
    }

    /// The account with this phone number (any formatting).
    /// Lets only `user`'s contacts add them to groups and channels (the chat-invite
    /// privacy set to "my contacts").
    ///
    /// # Errors
    /// When there is no such user.
    pub fn restrict_invites_to_contacts(&mut self, user: UserId) -> anyhow::Result<()> {
        self.users
            .get_mut(&user)
            .ok_or_else(|| anyhow::anyhow!("no user {user}"))?
            .invites_from_contacts_only = true;
        Ok(())
    }

    /// Whether `by` may add `user` to a group or channel under `user`'s privacy.
    pub(crate) fn may_invite(&self, by: UserId, user: UserId) -> bool {
        self.users.get(&user).is_none_or(|record| {
            !record.invites_from_contacts_only || record.contacts.contains(&by)
        })
    }

    pub fn user_by_phone(&self, phone: &str) -> Option<UserId> {
        self.by_phone.get(&normalize_phone(phone)).copied()
    }

    /// The user or channel holding `username` (case-insensitive, without `@`).
    pub fn resolve_username(&self, username: &str) -> Option<Peer> {
        let wanted = username.trim_start_matches('@');
        let matches = |name: &Option<String>| {
            name.as_deref()
                .is_some_and(|name| name.eq_ignore_ascii_case(wanted))
        };
        self.users
            .values()
            .find(|u| matches(&u.info.username))
            .map(|u| Peer::User(u.info.id))
            .or_else(|| {
                self.channels
                    .values()
                    .find(|c| matches(&c.username))
                    .map(|c| Peer::Channel(c.id))
            })
    }

    /// What is known about an account.
    pub fn user(&self, id: UserId) -> Option<&UserInfo> {
        self.users.get(&id).map(|u| &u.info)
    }

    /// An account's contacts, ascending (empty for an unknown account).
    pub fn contacts_of(&self, id: UserId) -> Vec<UserId> {
        self.users
            .get(&id)
            .map(|u| u.contacts.iter().copied().collect())
            .unwrap_or_default()
    }

    /// All account ids, ascending.
    pub fn user_ids(&self) -> Vec<UserId> {
        self.users.keys().copied().collect()
    }

    /// Basic group ids, ascending.
    pub fn basic_group_ids(&self) -> Vec<i64> {
        self.chats.keys().copied().collect()
    }

    /// Supergroup and channel ids, ascending.
    pub fn channel_ids(&self) -> Vec<i64> {
        self.channels.keys().copied().collect()
    }

    /// The title of a basic group, supergroup or channel.
    pub fn title(&self, peer: Peer) -> Option<&str> {
        match peer {
            Peer::User(_) => None,
            Peer::Chat(id) => self.chats.get(&id).map(|c| c.title.as_str()),
            Peer::Channel(id) => self.channels.get(&id).map(|c| c.title.as_str()),
        }
    }

    /// The members of a basic group, supergroup or channel, ascending (empty if there
    /// is none).
    pub fn members(&self, peer: Peer) -> Vec<UserId> {
        match peer {
            Peer::User(_) => Vec::new(),
            Peer::Chat(id) => self
                .chats
                .get(&id)
                .map(|c| c.members.iter().copied().collect())
                .unwrap_or_default(),
            Peer::Channel(id) => self
                .channels
                .get(&id)
                .map(|c| c.members.iter().copied().collect())
                .unwrap_or_default(),
        }
    }

    /// Whether `channel` is a broadcast channel (not a supergroup).
    pub fn is_broadcast(&self, channel: i64) -> bool {
        self.channels.get(&channel).is_some_and(|c| c.broadcast)
    }

    /// How many members a supergroup or channel has (0 if there is none).
    pub fn channel_member_count(&self, channel: i64) -> usize {
        self.channels.get(&channel).map_or(0, |c| c.members.len())
    }

    /// A supergroup's or channel's current `pts`.
    pub fn channel_pts(&self, channel: i64) -> Option<i32> {
        self.channels.get(&channel).map(|c| c.pts)
    }

    /// How many messages `viewer` sees in `peer`, service messages included.
    pub fn message_count(&self, viewer: UserId, peer: Peer) -> usize {
        match peer {
            Peer::Channel(id) => self.channels.get(&id).map_or(0, |c| c.messages.len()),
            _ => self
                .boxes
                .get(&viewer)
                .and_then(|b| b.by_peer.get(&peer))
                .map_or(0, BTreeSet::len),
        }
    }

    /// Creates a basic group whose creator and members all see the creation message.
    ///
    /// # Errors
    /// When an account does not exist.
    pub fn create_basic_group(
        &mut self,
        creator: UserId,
        title: &str,
        members: &[UserId],
    ) -> anyhow::Result<i64> {
        self.create_basic_group_at(creator, title, members, unix_now())
    }

    /// [`World::create_basic_group`] at an explicit date (for seeding history).
    ///
    /// # Errors
    /// When an account does not exist.
    pub fn create_basic_group_at(
        &mut self,
        creator: UserId,
        title: &str,
        members: &[UserId],
        date: i32,
    ) -> anyhow::Result<i64> {
        self.create_basic_group_sent(creator, title, members, date)
            .map(|(id, _)| id)
    }

    /// The members of a chat `creator` founds with `members`: all of them and the creator,
    /// each a known user; and how each but the creator joined (added by the creator at
    /// `date`).
    fn founding_members(
        &self,
        creator: UserId,
        members: &[UserId],
        date: i32,
    ) -> anyhow::Result<(BTreeSet<UserId>, BTreeMap<UserId, Joined>)> {
        let mut all: BTreeSet<UserId> = members.iter().copied().collect();
        all.insert(creator);
        for user in &all {
            anyhow::ensure!(self.users.contains_key(user), "no user {user}");
        }
        let joined = all
            .iter()
            .filter(|member| **member != creator)
            .map(|member| {
                let how = Joined {
                    inviter: creator,
                    date,
                };
                (*member, how)
            })
            .collect();
        Ok((all, joined))
    }

    /// Creates a basic group; returns it and where its creation message landed.
    pub(crate) fn create_basic_group_sent(
        &mut self,
        creator: UserId,
        title: &str,
        members: &[UserId],
        date: i32,
    ) -> anyhow::Result<(i64, Sent)> {
        let (all, joined) = self.founding_members(creator, members, date)?;
        let id = self.next_chat_id;
        self.next_chat_id += 1;
        self.chats.insert(
            id,
            BasicGroup {
                title: title.to_owned(),
                creator,
                members: all.clone(),
                date,
                joined,
                about: String::new(),
                photo: None,
                version: 1,
                admins: BTreeSet::new(),
            },
        );
        let action = ServiceAction::ChatCreate {
            title: title.to_owned(),
            users: all.iter().copied().collect(),
        };
        let draft = Draft {
            action: Some(action),
            ..Draft::default()
        };
        let sent = self
            .post(creator, Peer::Chat(id), draft, date)
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        Ok((id, sent))
    }

    /// Creates a supergroup (`broadcast == false`) or a broadcast channel.
    ///
    /// # Errors
    /// When an account does not exist.
    pub fn create_channel(
        &mut self,
        creator: UserId,
        title: &str,
        broadcast: bool,
        members: &[UserId],
    ) -> anyhow::Result<i64> {
        self.create_channel_at(creator, title, broadcast, members, unix_now())
    }

    /// [`World::create_channel`] at an explicit date (for seeding history).
    ///
    /// # Errors
    /// When an account does not exist.
    pub fn create_channel_at(
        &mut self,
        creator: UserId,
        title: &str,
        broadcast: bool,
        members: &[UserId],
        date: i32,
    ) -> anyhow::Result<i64> {
        self.create_channel_sent(creator, title, broadcast, members, date)
            .map(|(id, _)| id)
    }

    /// Creates a supergroup or channel; returns it and its creation message.
    pub(crate) fn create_channel_sent(
        &mut self,
        creator: UserId,
        title: &str,
        broadcast: bool,
        members: &[UserId],
        date: i32,
    ) -> anyhow::Result<(i64, Sent)> {
        let (all, joined) = self.founding_members(creator, members, date)?;
        let id = self.next_channel_id;
        self.next_channel_id += 1;
        self.channels.insert(
            id,
            ChannelRecord {
                id,
                title: title.to_owned(),
                username: None,
                broadcast,
                creator,
                members: all,
                date,
                pts: 1,
                next_msg_id: 1,
                messages: BTreeMap::new(),
                log: Vec::new(),
                random_ids: HashMap::new(),
                read_inbox: HashMap::new(),
                joined,
                about: String::new(),
                photo: None,
                pinned_msg_id: None,
                linked_chat_id: None,
                admins: BTreeMap::new(),
                pinned: BTreeSet::new(),
            },
        );
        let action = ServiceAction::ChannelCreate {
            title: title.to_owned(),
        };
        let draft = Draft {
            action: Some(action),
            ..Draft::default()
        };
        let sent = self
            .post(creator, Peer::Channel(id), draft, date)
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        Ok((id, sent))
    }

    /// Sets a supergroup's or channel's public username and description.
    ///
    /// # Errors
    /// When the channel does not exist, or the username is invalid or taken.
    pub fn set_channel_profile(
        &mut self,
        channel: i64,
        username: Option<&str>,
        about: Option<&str>,
    ) -> anyhow::Result<()> {
        if let Some(username) = username {
            anyhow::ensure!(
                valid_username(username),
                "username {username:?} is not 5-32 letters, digits or underscores"
            );
            anyhow::ensure!(
                self.resolve_username(username)
                    .is_none_or(|p| p == Peer::Channel(channel)),
                "username {username} is taken"
            );
        }
        let record = self
            .channels
            .get_mut(&channel)
            .ok_or_else(|| anyhow::anyhow!("no channel {channel}"))?;
        if let Some(username) = username {
            record.username = Some(username.to_owned());
        }
        if let Some(about) = about {
            record.about = about.to_owned();
        }
        Ok(())
    }

    /// Sets a channel's pinned message and linked chat (a broadcast channel's discussion
    /// group, or the channel a supergroup discusses), as `channels.getFullChannel` shows.
    ///
    /// # Errors
    /// When either channel or the message does not exist.
    pub fn set_channel_links(
        &mut self,
        channel: i64,
        pinned_msg_id: Option<i32>,
        linked_chat_id: Option<i64>,
    ) -> anyhow::Result<()> {
        if let Some(linked) = linked_chat_id {
            anyhow::ensure!(self.channels.contains_key(&linked), "no channel {linked}");
        }
        let record = self
            .channels
            .get_mut(&channel)
            .ok_or_else(|| anyhow::anyhow!("no channel {channel}"))?;
        if let Some(pinned) = pinned_msg_id {
            anyhow::ensure!(
                record.messages.contains_key(&pinned),
                "no message {pinned} in channel {channel}"
            );
        }
        record.pinned_msg_id = pinned_msg_id;
        record.pinned = pinned_msg_id.into_iter().collect();
        record.linked_chat_id = linked_chat_id;
        Ok(())
    }

    /// Sends a text message now; returns the id the sender sees.
    ///
    /// # Errors
    /// When the sender may not write there, or the message is empty or too long.
    pub fn send_text(&mut self, from: UserId, to: Peer, text: &str) -> anyhow::Result<i32> {
        self.send_text_at(from, to, text, None, unix_now())
    }

    /// Sends a text message with an explicit date and reply (for seeding history).
    /// `reply_to` is a message id as the sender sees it.
    ///
    /// # Errors
    /// When the sender may not write there, or the message is empty or too long.
    pub fn send_text_at(
        &mut self,
        from: UserId,
        to: Peer,
        text: &str,
        reply_to: Option<i32>,
        date: i32,
    ) -> anyhow::Result<i32> {
        let sent = self
            .send(
                from,
                to,
                Draft {
                    reply_to,
                    ..Draft::text(text)
                },
                None,
                date,
            )
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        Ok(sent.sender_message_id())
    }

    /// Edits a message's text; `id` as the editor sees it.
    ///
    /// # Errors
    /// When the message does not exist or was not sent by `by`.
    pub fn edit_text(&mut self, by: UserId, peer: Peer, id: i32, text: &str) -> anyhow::Result<()> {
        self.edit(by, peer, id, text, unix_now())
            .map(drop)
            .map_err(|e| anyhow::anyhow!("{e:?}"))
    }

    /// The access hash `viewer` must present to address the user or channel `id`.
    pub(crate) fn access_hash(&self, viewer: UserId, kind: HashKind, id: i64) -> i64 {
        let digest = Sha256::new()
            .chain_update(self.hash_secret)
            .chain_update(viewer.to_le_bytes())
            .chain_update([kind as u8])
            .chain_update(id.to_le_bytes())
            .finalize();
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&digest[..8]);
        i64::from_le_bytes(bytes)
    }

    pub(crate) fn next_logical_id(&mut self) -> u64 {
        let id = self.next_logical_id;
        self.next_logical_id += 1;
        id
    }

    /// Whether `viewer` may see and address `peer`.
    pub(crate) fn can_access(&self, viewer: UserId, peer: Peer) -> bool {
        match peer {
            Peer::User(id) => self.users.contains_key(&id),
            Peer::Chat(id) => self
                .chats
                .get(&id)
                .is_some_and(|c| c.members.contains(&viewer)),
            Peer::Channel(id) => self
                .channels
                .get(&id)
                .is_some_and(|c| c.members.contains(&viewer)),
        }
    }
}
