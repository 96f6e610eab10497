//! The crate's one error type.
//!
//! These are the failures of *this side*: bad keys, bad input, a refused endpoint. What a
//! push service answers (gone, rate limited, 5xx, unreachable) is not an error but a
//! [`SendOutcome`](crate::SendOutcome).

use std::time::Duration;

/// The crate's result type.
pub type Result<T, E = WebPushError> = std::result::Result<T, E>;

/// Why a Web Push operation could not be carried out.
#[derive(Debug, thiserror::Error)]
pub enum WebPushError {
    /// A key, secret or message given as base64url did not decode.
    #[error("{what} is not valid base64url")]
    InvalidBase64 {
        /// Which value it was, e.g. "subscription p256dh".
        what: &'static str,
    },
    /// A key or secret decoded but is not what the protocol needs.
    #[error("invalid {what}: {reason}")]
    InvalidKey {
        /// Which value it was, e.g. "VAPID private key".
        what: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The payload does not fit the single record a Web Push message may have.
    #[error(
        "payload of {len} bytes is too large for Web Push: push services accept at most \
         4096 bytes of encrypted body (one aes128gcm record), which leaves {max} bytes \
         of payload"
    )]
    PayloadTooLarge {
        /// The payload's length in bytes.
        len: usize,
        /// The largest payload that fits ([`MAX_PAYLOAD_LEN`](crate::MAX_PAYLOAD_LEN)).
        max: usize,
    },
    /// The VAPID contact is neither a `mailto:` address nor an `https:` URL.
    #[error("invalid VAPID subject {subject:?}: it must be a mailto: address or an https: URL")]
    InvalidSubject {
        /// The subject as given.
        subject: String,
    },
    /// The VAPID token lifetime is zero or longer than the 24 hours RFC 8292 allows.
    #[error("invalid VAPID token validity {validity:?}: it must be more than 0 and at most 24 h")]
    InvalidValidity {
        /// The lifetime as given.
        validity: Duration,
    },
    /// The push endpoint is not a URL this sender will post to.
    ///
    /// The endpoint itself is left out of the message: it is a bearer capability.
    #[error("invalid push endpoint: {reason}")]
    InvalidEndpoint {
        /// What is wrong with it.
        reason: String,
    },
    /// The `Topic` is not 1 to 32 characters of the base64url alphabet (RFC 8030 §5.4).
    #[error("invalid push topic: it must be 1 to 32 characters of the base64url alphabet")]
    InvalidTopic,
    /// A message could not be decrypted (user agent side).
    #[error("cannot decrypt the push message: {reason}")]
    Decryption {
        /// Why: a malformed header, a failed authentication, bad padding.
        reason: &'static str,
    },
    /// A VAPID `Authorization` header did not verify (push service side).
    #[error("VAPID authorization rejected: {reason}")]
    VapidRejected {
        /// Why it was rejected.
        reason: String,
    },
    /// The HTTP client could not be built.
    #[error("cannot build the Web Push HTTP client")]
    HttpClient(#[source] reqwest::Error),
}
