//! Web Push for TalkApp: notifications to browsers through their push services.
//!
//! A browser subscribes with `pushManager.subscribe({ applicationServerKey })`, where the
//! key is [`VapidKey::public_key_base64url`], and hands TalkApp a [`Subscription`]
//! (endpoint, `p256dh`, `auth`). [`WebPushSender::send`] then encrypts the payload for
//! that browser alone (RFC 8291, `aes128gcm` of RFC 8188), signs a VAPID token for the
//! push service (RFC 8292) and POSTs it, answering with a [`SendOutcome`] the caller acts
//! on (for instance deleting the subscription on [`SendOutcome::Gone`]).
//!
//! ```no_run
//! # async fn example() -> talkapp_webpush::Result<()> {
//! use talkapp_webpush::{SendOptions, SenderConfig, Subscription, VapidKey, VapidSigner, WebPushSender};
//!
//! let key = VapidKey::from_base64url("yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw")?;
//! let signer = VapidSigner::new(key, "mailto:ops@talkapp.example")?;
//! let sender = WebPushSender::new(signer, SenderConfig::default())?;
//! let subscription = Subscription {
//!     endpoint: "https://push.example.net/send/abc".to_owned(),
//!     p256dh: "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4".to_owned(),
//!     auth: "BTBZMqHH6r4Tts7J_aSIgg".to_owned(),
//! };
//! let outcome = sender.send(&subscription, b"{\"chat\":42}", &SendOptions::default()).await?;
//! # let _ = outcome;
//! # Ok(())
//! # }
//! ```
//!
//! # Layout
//! - [`vapid`]: the application server's identity: [`VapidKey`] (P-256, base64url),
//!   [`VapidSigner`] (the `Authorization: vapid t=…, k=…` header) and
//!   [`verify_vapid_header`], the push service's side, for test push endpoints.
//! - [`encrypt`](mod@encrypt): RFC 8291 message encryption, one `aes128gcm` record.
//! - `decrypt` (feature `user-agent`, tests only): the user agent's side, `decrypt()` and
//!   `UserAgentKeys`, so tests can play the browser.
//! - [`sender`]: [`WebPushSender`], its [`SenderConfig`], [`SendOptions`] and the
//!   [`SendOutcome`] of one push.
//! - [`subscription`]: [`Subscription`], what the browser hands over.
//! - [`error`]: [`WebPushError`] and the crate's [`Result`].
//! - `ece` (private): the key schedule and header layout shared by both directions;
//!   `base64url` and `random` (private): encoding and key/salt generation helpers.

mod base64url;
/// The browser's side, for tests that stand in for a browser (feature `user-agent`; not in
/// production builds).
#[cfg(any(test, feature = "user-agent"))]
pub mod decrypt;
mod ece;
pub mod encrypt;
pub mod error;
mod random;
pub mod sender;
pub mod subscription;
pub mod vapid;

#[cfg(any(test, feature = "user-agent"))]
pub use decrypt::{UserAgentKeys, decrypt};
pub use ece::{MAX_BODY_LEN, MAX_PAYLOAD_LEN, RECORD_SIZE};
pub use encrypt::encrypt;
pub use error::{Result, WebPushError};
/// The elliptic-curve crate whose key types appear in this API (the user agent's
/// `decrypt()` takes a [`p256::SecretKey`]), re-exported so callers use the very same
/// version.
pub use p256;
pub use sender::{SendOptions, SendOutcome, SenderConfig, Urgency, WebPushSender};
pub use subscription::Subscription;
pub use vapid::{VapidClaims, VapidKey, VapidSigner, VerifiedVapid, verify_vapid_header};
