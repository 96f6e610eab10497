//! What a browser hands over when it subscribes.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A browser's push subscription, the fields of `PushSubscription.toJSON()` flattened.
///
/// The browser's JSON nests the keys (`{"endpoint": …, "keys": {"p256dh": …, "auth": …}}`);
/// this struct is flat, so the caller maps the nesting when it stores subscriptions.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    /// The push service URL for this subscription. It is a bearer capability: whoever
    /// knows it can post to the browser (though only VAPID-signed, encrypted messages it
    /// can read), so it is not logged.
    pub endpoint: String,
    /// The user agent's P-256 public key, uncompressed (65 bytes), base64url.
    pub p256dh: String,
    /// The user agent's 16-byte authentication secret, base64url.
    pub auth: String,
}

impl fmt::Debug for Subscription {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Subscription")
            .field("endpoint", &"<redacted>")
            .field("p256dh", &self.p256dh)
            .field("auth", &"<redacted>")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_the_endpoint_and_the_auth_secret() {
        let subscription = Subscription {
            endpoint: "https://push.example.net/secret-path".to_owned(),
            p256dh: "BPUB".to_owned(),
            auth: "AUTHSECRET".to_owned(),
        };
        let printed = format!("{subscription:?}");
        assert!(!printed.contains("secret-path"));
        assert!(!printed.contains("AUTHSECRET"));
        assert!(printed.contains("BPUB"));
    }
}
