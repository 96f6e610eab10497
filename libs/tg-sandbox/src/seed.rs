//! Where a world comes from: the generated demo world (at any scale), or a seed file
//! describing users, contacts, groups, channels and messages.

use std::collections::HashMap;
use std::path::Path;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use crate::world::{NewUser, Peer, SeedFile, UserId, World, unix_now};

/// Phone number of the demo account without 2FA (login code `22222`).
pub const DEMO_PHONE: &str = "+9996620001";
/// Phone number of the demo account with 2FA (login code `22222`).
pub const DEMO_2FA_PHONE: &str = "+9996620002";
/// The 2FA password of [`DEMO_2FA_PHONE`].
pub const DEMO_2FA_PASSWORD: &str = "sandbox-2fa";

/// How big a generated world is. In a seed file every field is optional (the default
/// scale fills in the rest).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DemoScale {
    /// Accounts besides the two demo accounts (at least 4 are used for the chats).
    pub extra_users: usize,
    /// Messages in the private chat between the two demo accounts.
    pub private_messages: usize,
    /// Messages in each other private chat.
    pub other_private_messages: usize,
    /// Messages in the basic group.
    pub group_messages: usize,
    /// Messages in the supergroup.
    pub supergroup_messages: usize,
    /// Posts in the broadcast channel.
    pub channel_posts: usize,
    /// For benchmarks: private chats each extra account has with the next extra
    /// accounts (a ring), so that every account has conversations of its own.
    pub ring_chats: usize,
    /// Messages in each ring chat.
    pub ring_chat_messages: usize,
}

impl Default for DemoScale {
    fn default() -> Self {
        Self {
            extra_users: 12,
            private_messages: 80,
            other_private_messages: 15,
            group_messages: 60,
            supergroup_messages: 120,
            channel_posts: 30,
            ring_chats: 0,
            ring_chat_messages: 4,
        }
    }
}

impl DemoScale {
    /// Applies `key=value,key=value` overrides (the binary's `--demo-scale`). Keys are the
    /// field names, plus `accounts`: the total number of accounts, the two demo accounts
    /// included.
    ///
    /// # Errors
    /// On an unknown key or a value that is not a number.
    pub fn with_overrides(mut self, overrides: &str) -> anyhow::Result<Self> {
        for pair in overrides.split(',').filter(|p| !p.trim().is_empty()) {
            let (key, value) = pair
                .split_once('=')
                .with_context(|| format!("{pair:?} is not key=value"))?;
            let value: usize = value
                .trim()
                .parse()
                .with_context(|| format!("{value:?} is not a number"))?;
            let field = match key.trim() {
                "accounts" => {
                    self.extra_users = value.saturating_sub(2);
                    continue;
                }
                "extra_users" => &mut self.extra_users,
                "private_messages" => &mut self.private_messages,
                "other_private_messages" => &mut self.other_private_messages,
                "group_messages" => &mut self.group_messages,
                "supergroup_messages" => &mut self.supergroup_messages,
                "channel_posts" => &mut self.channel_posts,
                "ring_chats" => &mut self.ring_chats,
                "ring_chat_messages" => &mut self.ring_chat_messages,
                other => anyhow::bail!("unknown demo scale key {other:?}"),
            };
            *field = value;
        }
        Ok(self)
    }
}

/// A description of a world: the generated demo world at some scale (`{"demo": {...}}`),
/// or explicit users, contacts, groups, channels and messages. Users are referred to by
/// phone number, groups and channels by title (unique within the seed).
///
/// ```json
/// {
///   "users": [
///     {"phone": "+9996621001", "first_name": "Ann", "username": "ann_seed"},
///     {"phone": "+9996621002", "first_name": "Ben", "password": "secret"}
///   ],
///   "contacts": [["+9996621001", "+9996621002"]],
///   "groups": [{"title": "Team", "creator": "+9996621001", "members": ["+9996621002"]}],
///   "channels": [{"title": "News", "creator": "+9996621001", "broadcast": true,
///                 "members": ["+9996621002"], "username": "seed_news"}],
///   "messages": [
///     {"from": "+9996621001", "to": {"user": "+9996621002"}, "text": "hi"},
///     {"from": "+9996621002", "to": {"chat": "Team"}, "text": "hello team"},
///     {"from": "+9996621001", "to": {"channel": "News"}, "text": "first post"}
///   ]
/// }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Seed {
    /// The generated demo world; nothing else may be given with it.
    pub demo: Option<DemoScale>,
    pub users: Vec<SeedUser>,
    /// Mutual contacts, as pairs of phone numbers.
    pub contacts: Vec<[String; 2]>,
    /// Basic groups.
    pub groups: Vec<SeedGroup>,
    /// Supergroups and broadcast channels.
    pub channels: Vec<SeedChannel>,
    /// In order; without a date, messages are a minute apart and end now.
    pub messages: Vec<SeedMessage>,
    /// Leave every seeded message unread (by default all are read).
    pub unread: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedUser {
    /// A test-DC number (`99966XYYYY`) can log in with the code `X` five times.
    pub phone: String,
    pub first_name: String,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    /// Turns on 2FA with this password.
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub password_hint: Option<String>,
    #[serde(default)]
    pub about: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedGroup {
    pub title: String,
    /// Phone number of the creator.
    pub creator: String,
    #[serde(default)]
    pub members: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedChannel {
    pub title: String,
    pub creator: String,
    #[serde(default)]
    pub members: Vec<String>,
    /// A broadcast channel; otherwise a supergroup.
    #[serde(default)]
    pub broadcast: bool,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub about: Option<String>,
}

/// Where a seeded message goes: `{"user": phone}`, `{"chat": title}`, `{"channel": title}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SeedTarget {
    User(String),
    Chat(String),
    Channel(String),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedMessage {
    pub from: String,
    pub to: SeedTarget,
    pub text: String,
    #[serde(default)]
    pub date: Option<i32>,
}

impl Seed {
    /// The demo world at `scale`.
    pub fn demo(scale: DemoScale) -> Self {
        Self {
            demo: Some(scale),
            ..Self::default()
        }
    }

    /// Parses a seed file's contents (JSON).
    ///
    /// # Errors
    /// When it is not a valid seed.
    pub fn from_json(text: &str) -> anyhow::Result<Self> {
        serde_json::from_str(text).context("parsing the seed")
    }

    /// Reads a seed file (JSON).
    ///
    /// # Errors
    /// When it cannot be read or is not a valid seed.
    pub fn from_file(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the seed file {}", path.display()))?;
        Self::from_json(&text).with_context(|| format!("in {}", path.display()))
    }

    /// Builds the world the seed describes.
    ///
    /// # Errors
    /// When the seed is inconsistent (unknown phone numbers or titles, duplicates,
    /// messages that could not be sent).
    pub fn build(&self) -> anyhow::Result<World> {
        if let Some(scale) = &self.demo {
            anyhow::ensure!(
                self.users.is_empty()
                    && self.contacts.is_empty()
                    && self.groups.is_empty()
                    && self.channels.is_empty()
                    && self.messages.is_empty(),
                "a seed is either \"demo\" or explicit users, chats and messages, not both"
            );
            return World::demo_scaled(scale);
        }
        let mut world = World::new();
        let mut users: HashMap<String, UserId> = HashMap::new();
        for user in &self.users {
            let mut new = NewUser::new(&user.first_name, user.last_name.as_deref(), &user.phone);
            new.username = user.username.clone();
            let id = world.add_user(new)?;
            if let Some(password) = &user.password {
                world.set_password(id, password, user.password_hint.as_deref())?;
            }
            if let Some(record) = world.users.get_mut(&id) {
                record.about = user.about.clone();
            }
            users.insert(crate::world::normalize_phone(&user.phone), id);
        }
        let user = |phone: &str| {
            users
                .get(&crate::world::normalize_phone(phone))
                .copied()
                .with_context(|| format!("no seeded user has the phone number {phone}"))
        };
        for [a, b] in &self.contacts {
            let (a, b) = (user(a)?, user(b)?);
            world.add_contact(a, b)?;
            world.add_contact(b, a)?;
        }

        let count = self.messages.len() as i32;
        let first_date = unix_now() - 60 * (count + self.groups.len() as i32 + 1);
        let mut clock = first_date;
        let mut groups: HashMap<&str, i64> = HashMap::new();
        for group in &self.groups {
            let members = group
                .members
                .iter()
                .map(|m| user(m))
                .collect::<anyhow::Result<Vec<_>>>()?;
            clock += 60;
            let id = world.create_basic_group_at(
                user(&group.creator)?,
                &group.title,
                &members,
                clock,
            )?;
            anyhow::ensure!(
                groups.insert(&group.title, id).is_none(),
                "two groups are titled {:?}",
                group.title
            );
        }
        let mut channels: HashMap<&str, i64> = HashMap::new();
        for channel in &self.channels {
            let members = channel
                .members
                .iter()
                .map(|m| user(m))
                .collect::<anyhow::Result<Vec<_>>>()?;
            clock += 60;
            let id = world.create_channel_at(
                user(&channel.creator)?,
                &channel.title,
                channel.broadcast,
                &members,
                clock,
            )?;
            anyhow::ensure!(
                channels.insert(&channel.title, id).is_none(),
                "two channels are titled {:?}",
                channel.title
            );
            world.set_channel_profile(id, channel.username.as_deref(), channel.about.as_deref())?;
        }
        for message in &self.messages {
            let to = match &message.to {
                SeedTarget::User(phone) => Peer::User(user(phone)?),
                SeedTarget::Chat(title) => Peer::Chat(
                    *groups
                        .get(title.as_str())
                        .with_context(|| format!("no seeded group is titled {title:?}"))?,
                ),
                SeedTarget::Channel(title) => Peer::Channel(
                    *channels
                        .get(title.as_str())
                        .with_context(|| format!("no seeded channel is titled {title:?}"))?,
                ),
            };
            clock += 60;
            let date = message.date.unwrap_or(clock);
            world
                .send_text_at(user(&message.from)?, to, &message.text, None, date)
                .with_context(|| format!("seeding the message {:?}", message.text))?;
        }
        if !self.unread {
            world.mark_all_read();
        }
        Ok(world)
    }
}

const FIRST_NAMES: [&str; 16] = [
    "Carol", "Dave", "Erin", "Frank", "Grace", "Heidi", "Ivan", "Judy", "Mallory", "Niaj",
    "Olivia", "Peggy", "Rupert", "Sybil", "Trent", "Victor",
];

const LINES: [&str; 16] = [
    "Good morning!",
    "Did you see the latest build?",
    "Lunch at noon?",
    "I pushed the fix, please review.",
    "Sounds good to me.",
    "Can we move the call to 3pm?",
    "The sandbox is up and running.",
    "Thanks, that helped a lot.",
    "Here are the notes from today.",
    "Who is on call this weekend?",
    "Let's ship it.",
    "I'll be a bit late.",
    "Great work everyone!",
    "Any news on the release date?",
    "Coffee?",
    "See you tomorrow.",
];

/// A small deterministic generator, so every demo world has the same content.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) as usize
    }
}

/// Writes `count` messages between `members` into `peer`, a few minutes apart, with
/// every fifth a reply to a recent message and every eleventh edited afterwards.
fn converse(
    world: &mut World,
    rng: &mut Lcg,
    clock: &mut i32,
    peer_of: impl Fn(UserId) -> Peer,
    members: &[UserId],
    count: usize,
) -> anyhow::Result<()> {
    // (sender, id as the sender sees it)
    let mut sent: Vec<(UserId, i32)> = Vec::with_capacity(count);
    for n in 0..count {
        let from = members[rng.next() % members.len()];
        *clock += 60 + (rng.next() % 600) as i32;
        let text = format!("{} (#{})", LINES[rng.next() % LINES.len()], n + 1);
        // Reply to one of the sender's own recent messages (ids are per sender in boxes).
        let reply_to = (n % 5 == 4)
            .then(|| sent.iter().rev().take(6).find(|(s, _)| *s == from))
            .flatten()
            .map(|(_, id)| *id);
        let id = world.send_text_at(from, peer_of(from), &text, reply_to, *clock)?;
        if n % 11 == 10 {
            world.edit_text(from, peer_of(from), id, &format!("{text} (edited)"))?;
        }
        sent.push((from, id));
    }
    Ok(())
}

impl World {
    /// The default demo world: `+9996620001` (no 2FA) and `+9996620002` (2FA password
    /// `sandbox-2fa`) are mutual contacts with a private chat, share a basic group and a
    /// supergroup, read a broadcast channel, and know a dozen more accounts.
    ///
    /// # Errors
    /// Never for the default scale; see [`World::demo_scaled`].
    pub fn demo() -> anyhow::Result<Self> {
        Self::demo_scaled(&DemoScale::default())
    }

    /// A demo world of the given size (for benchmarks).
    ///
    /// # Errors
    /// When `scale.extra_users` is below 4.
    pub fn demo_scaled(scale: &DemoScale) -> anyhow::Result<Self> {
        anyhow::ensure!(
            scale.extra_users >= 4,
            "the demo needs at least 4 extra users"
        );
        let mut world = World::new();
        let mut rng = Lcg(0x5eed);
        let alice = world.add_user(
            NewUser::new("Alice", Some("Sandbox"), DEMO_PHONE).username("alice_sandbox"),
        )?;
        let bob = world.add_user(
            NewUser::new("Bob", Some("Sandbox"), DEMO_2FA_PHONE).username("bob_sandbox"),
        )?;
        world.set_password(bob, DEMO_2FA_PASSWORD, Some("sandbox"))?;

        let mut others = Vec::with_capacity(scale.extra_users);
        for n in 0..scale.extra_users {
            let name = FIRST_NAMES[n % FIRST_NAMES.len()];
            // 99966 2 0003 onwards: test-DC numbers, so every account can log in.
            let phone = format!("99966{}{:04}", 2 + n / 9998, n % 9998 + 3);
            others.push(world.add_user(NewUser::new(name, Some("Demo"), &phone))?);
        }
        let (carol, dave, erin, frank) = (others[0], others[1], others[2], others[3]);

        for (a, b) in [(alice, bob), (bob, alice), (alice, carol), (carol, alice)] {
            world.add_contact(a, b)?;
        }
        for (a, b) in [(alice, dave), (bob, erin), (erin, bob), (bob, frank)] {
            world.add_contact(a, b)?;
        }
        // Erin lets only her contacts add her to groups: Bob may, Alice gets
        // USER_PRIVACY_RESTRICTED.
        world.restrict_invites_to_contacts(erin)?;

        // History starts a week ago and moves forward a few minutes per message.
        let mut clock = unix_now() - 7 * 24 * 3600;
        converse(
            &mut world,
            &mut rng,
            &mut clock,
            |from| Peer::User(if from == alice { bob } else { alice }),
            &[alice, bob],
            scale.private_messages,
        )?;
        // Media: a photo and a file in the demo chat, and a voice note.
        clock += 60;
        world.send_photo_at(
            bob,
            Peer::User(alice),
            crate::world::sample_png(42, 800, 600),
            "Holiday picture",
            clock,
        )?;
        clock += 60;
        world.send_document_at(
            alice,
            Peer::User(bob),
            SeedFile {
                name: "notes.txt".to_owned(),
                mime_type: "text/plain".to_owned(),
                bytes: LINES.join("\n").into_bytes(),
                voice_seconds: None,
                video: None,
            },
            "Notes from today",
            clock,
        )?;
        clock += 60;
        world.send_document_at(
            bob,
            Peer::User(alice),
            SeedFile {
                name: "voice.ogg".to_owned(),
                mime_type: "audio/ogg".to_owned(),
                bytes: crate::world::DEMO_VOICE_OGG.to_vec(),
                voice_seconds: Some(3),
                video: None,
            },
            "",
            clock,
        )?;
        clock += 60;
        world.send_document_at(
            alice,
            Peer::User(bob),
            SeedFile {
                name: "clip.mp4".to_owned(),
                mime_type: "video/mp4".to_owned(),
                bytes: crate::world::DEMO_CLIP_MP4.to_vec(),
                voice_seconds: None,
                video: Some(crate::world::SeedVideo {
                    seconds: 2.0,
                    width: 160,
                    height: 120,
                }),
            },
            "A short clip",
            clock,
        )?;
        for (seed, user) in [(1, alice), (2, bob), (3, carol)] {
            world.set_generated_photo(Peer::User(user), seed, clock)?;
        }

        for (x, y) in [(alice, carol), (bob, erin), (alice, dave)] {
            converse(
                &mut world,
                &mut rng,
                &mut clock,
                move |from| Peer::User(if from == x { y } else { x }),
                &[x, y],
                scale.other_private_messages,
            )?;
        }

        clock += 60;
        let friends =
            world.create_basic_group_at(alice, "Sandbox Friends", &[bob, carol, dave], clock)?;
        converse(
            &mut world,
            &mut rng,
            &mut clock,
            |_| Peer::Chat(friends),
            &[alice, bob, carol, dave],
            scale.group_messages,
        )?;

        let mut lounge_members = vec![alice, bob];
        lounge_members.extend(others.iter().take(8));
        clock += 60;
        let lounge =
            world.create_channel_at(carol, "Sandbox Lounge", false, &lounge_members, clock)?;
        lounge_members.push(carol);
        world.set_generated_photo(Peer::Channel(lounge), 100, clock)?;
        world.set_channel_profile(
            lounge,
            Some("sandbox_lounge"),
            Some("Where the sandbox hangs out."),
        )?;
        clock += 60;
        world.send_photo_at(
            carol,
            Peer::Channel(lounge),
            crate::world::sample_png(7, 1280, 720),
            "Team photo",
            clock,
        )?;
        converse(
            &mut world,
            &mut rng,
            &mut clock,
            |_| Peer::Channel(lounge),
            &lounge_members,
            scale.supergroup_messages,
        )?;

        let mut readers = vec![alice, bob];
        readers.extend(others.iter().copied());
        clock += 60;
        let news = world.create_channel_at(erin, "Sandbox News", true, &readers, clock)?;
        converse(
            &mut world,
            &mut rng,
            &mut clock,
            |_| Peer::Channel(news),
            &[erin],
            scale.channel_posts,
        )?;

        // A public supergroup none of the named demo accounts is in, to join by username.
        clock += 60;
        let plaza = world.create_channel_at(frank, "Sandbox Plaza", false, &[], clock)?;
        world.set_channel_profile(
            plaza,
            Some("sandbox_plaza"),
            Some("Anyone may join: a public supergroup."),
        )?;
        clock += 60;
        world.send_text_at(
            frank,
            Peer::Channel(plaza),
            "Welcome to the plaza!",
            None,
            clock,
        )?;

        // Ring chats: extra account n talks with n+1, n+2, ... (each chat dated within the
        // demo week, so that big worlds do not run into the future).
        let ring_start = unix_now() - 7 * 24 * 3600;
        for (n, from) in others.iter().enumerate() {
            for step in 1..=scale.ring_chats.min(others.len().saturating_sub(1)) {
                let to = others[(n + step) % others.len()];
                let mut ring_clock = ring_start + (n % 3600) as i32;
                let (x, y) = (*from, to);
                converse(
                    &mut world,
                    &mut rng,
                    &mut ring_clock,
                    move |sender| Peer::User(if sender == x { y } else { x }),
                    &[x, y],
                    scale.ring_chat_messages,
                )?;
            }
        }

        world.mark_all_read();
        // Two fresh messages Alice has not read yet.
        for text in ["Are you there?", "Call me when you can."] {
            clock += 30;
            world.send_text_at(bob, Peer::User(alice), text, None, clock)?;
        }
        Ok(world)
    }
}
