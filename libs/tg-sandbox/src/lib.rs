//! A local Telegram data center ("sandbox") that speaks MTProto 2.0 over TCP to the real,
//! unmodified grammers client, so TalkApp's Telegram adapter can be tested end to end
//! without the internet.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use talkapp_tg_sandbox::{Sandbox, World};
//!
//! let sandbox = Sandbox::start(World::demo()?).await?;
//! // Put this key into a grammers session as DC 2 at 127.0.0.1:{port}, then log in with
//! // +9996620001 and the code 22222.
//! let grant = sandbox.issue_auth_key();
//! # let _ = (grant, sandbox.port());
//! # Ok(()) }
//! ```
//!
//! What it follows from Telegram, because clients depend on it: the test-DC login
//! convention (`99966XYYYY` receives `X` five times), 2FA with SRP over Telegram's 2048-bit
//! prime, `AUTH_KEY_UNREGISTERED` for keys that are not signed in, per-account message
//! boxes with their own ids and `pts`, per-channel ids and `pts`, per-viewer access
//! hashes, `random_id` de-duplication, `getDifference`/`getChannelDifference` replaying
//! every `pts` event (new, edited and deleted messages, read receipts), file references
//! and Telegram's download rules, and `FLOOD_WAIT_N` when switched on for an account.
//!
//! What it does differently, because it cannot do otherwise: there is no key exchange
//! (keys are issued out of band, see [`SandboxHandle::issue_auth_key`] and the admin
//! API's `POST /v1/auth_keys`), the server salt is always 0, there is one DC, and unknown
//! keys close the connection instead of getting transport error -404 (which would make
//! grammers start a key exchange).
//!
//! # Starting one
//!
//! * In-process: [`Sandbox::start`] (a [`World`], ephemeral port) or
//!   [`Sandbox::start_with`] with [`SandboxOptions`]: a world or a [`Seed`] (the demo
//!   world at a [`DemoScale`], or a JSON seed file), the listen address, and optionally a
//!   state file that makes the sandbox survive restarts (world, issued keys and their
//!   bindings; see `persist`).
//! * As a process: the `tg-sandbox` binary (`--listen`, `--admin`, `--seed`, `--state`,
//!   `--save-interval-ms`, `--demo-scale accounts=N,...`), stopped cleanly by SIGTERM.
//! * The admin API ([`SandboxHandle::serve_admin`], plain HTTP/1.1 JSON on loopback):
//!   `GET /healthz`, `POST /v1/auth_keys`, `GET /v1/users?phone=`,
//!   `POST /v1/users/{id}/flood_wait`, `POST /v1/users/{id}/disconnect`,
//!   `POST /v1/users/{id}/silence`,
//!   `POST /v1/messages`. The same operations are methods of [`SandboxHandle`].
//!
//! # What is served
//!
//! * MTProto: the "full" TCP transport, encrypted messages, `msg_container`,
//!   `gzip_packed` (both ways), `msgs_ack`, `ping`, `ping_delay_disconnect`,
//!   `new_session_created`, `rpc_result`/`rpc_error`, `invokeWithLayer`,
//!   `initConnection`, `invokeWithoutUpdates`, `invokeAfterMsg(s)`.
//! * Login: `help.getConfig`, `help.getNearestDc`; `auth.sendCode`, `auth.signIn`,
//!   `auth.signUp`, `auth.checkPassword`, `auth.logOut`; `account.getPassword`.
//! * Users and contacts: `users.getUsers`, `users.getFullUser`, `contacts.getContacts`,
//!   `contacts.getStatuses`, `contacts.search`, `contacts.resolveUsername`,
//!   `account.updateStatus` (`updateUserStatus` to the account's contacts).
//! * Chats: `messages.getDialogs`, `messages.getPeerDialogs`, `messages.getHistory`,
//!   `messages.getMessages`, `channels.getMessages`, `messages.getChats`,
//!   `channels.getChannels`, `messages.getFullChat`, `channels.getFullChannel`,
//!   `channels.getParticipants` (recent, admins, search, contacts),
//!   `messages.createChat`, `channels.createChannel`, `messages.addChatUser`,
//!   `channels.inviteToChannel`.
//! * Messages: `messages.sendMessage`, `messages.sendMedia`, `messages.editMessage`,
//!   `messages.forwardMessages`, `messages.deleteMessages`, `channels.deleteMessages`,
//!   `messages.readHistory`, `channels.readHistory`, `messages.setTyping`,
//!   `messages.search`, `messages.searchGlobal`, `messages.updatePinnedMessage`,
//!   `messages.unpinAllMessages`.
//! * Files: `upload.saveFilePart`, `upload.saveBigFilePart`, `messages.uploadMedia`,
//!   `upload.getFile` (photo sizes, documents and their thumbnails, profile and chat
//!   photos).
//! * Updates: `updates.getState`, `updates.getDifference`,
//!   `updates.getChannelDifference`, and pushed updates for all of the above.
//! * Any other method answers `400 INPUT_METHOD_INVALID`.
//!
//! # Not there yet
//!
//! Reactions, polls, stickers, GIF search, inline bots, secret chats, calls,
//! stories, forums (topics), folders and archiving, drafts, scheduled messages, message
//! entities (formatting is dropped), editing media, leaving/kicking/banning and admin
//! rights beyond "the creator", invite links, joining public channels, profile and chat
//! photo uploads (`photos.*`), contact import, privacy settings, multiple DCs and file
//! migration, CDN downloads, `updates.getDifference` for `qts`/`seq`. Photos are not
//! re-encoded as JPEG: size variants are PNGs (scaled from PNG uploads, flat stand-ins
//! for other formats) and the original is kept as the largest size; uploads' MD5
//! checksums are not verified; `messages.addChatUser` ignores `fwd_limit` (a new member
//! sees the history from the moment they joined).
//!
//! # Layout
//!
//! * `server` — [`Sandbox::start_with`], [`SandboxOptions`], the accept loop, and the
//!   [`SandboxHandle`].
//! * `admin` — the admin HTTP API.
//! * `persist` — the state file, its key journal, and the debounced saver.
//! * `connection` — one task per TCP connection: a reader that decrypts and serves,
//!   a writer that encrypts and frames answers and pushed updates.
//! * `transport` — the "full" TCP framing (length, seqno, CRC32).
//! * `crypto` — MTProto 2.0 `msg_key` and AES-IGE key derivation for the server side.
//! * `envelope` — the decrypted envelope, `msg_container`, `gzip_packed`, `rpc_result`,
//!   and server message ids / sequence numbers.
//! * `rpc` — invoke wrappers, authorization, dispatch; one module per TL namespace
//!   (`auth`, `account`, `help`, `users`, `contacts`, `messages` (with `reading`,
//!   `media`, `search`, `groups`), `channels`, `upload`, `updates`).
//! * `state` — what connections share: the world, issued keys, logins and uploads in
//!   progress, the connection registry that pushes updates.
//! * [`world`](World) — accounts, contacts, chats, channels, messages, `pts` logs;
//!   `messaging` (send, edit, forward), `reading` (read receipts, deletions), `media`
//!   (photos, documents, file contents), `search`, `groups`, `query` (dialogs, history).
//! * `render` — the world as TL objects, per viewing account.
//! * `image` — a small PNG encoder/decoder for photo sizes.
//! * `srp` — the server's half of 2FA.
//! * `seed` — [`Seed`], [`World::demo`] and [`DemoScale`].
//! * `serde_util` — how the state file spells bytes and non-string map keys.

mod admin;
mod connection;
mod crypto;
mod envelope;
mod image;
mod persist;
mod render;
mod rpc;
mod seed;
mod serde_util;
mod server;
mod srp;
mod state;
mod transport;
mod world;

pub use seed::{
    DEMO_2FA_PASSWORD, DEMO_2FA_PHONE, DEMO_PHONE, DemoScale, Seed, SeedChannel, SeedGroup,
    SeedMessage, SeedTarget, SeedUser,
};
pub use server::{
    AuthKeyGrant, DEFAULT_SAVE_INTERVAL, SANDBOX_DC_ID, Sandbox, SandboxHandle, SandboxOptions,
};
pub use srp::prime_bytes as srp_prime;
pub use world::{
    DEMO_CLIP_MP4, DEMO_PHOTO_JPEG, DEMO_VOICE_OGG, DEMO_VOICE_WAVEFORM, NewUser, Peer, SeedFile,
    SeedVideo, UserId, UserInfo, World, sample_png,
};
