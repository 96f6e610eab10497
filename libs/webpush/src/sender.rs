//! Sending one push message to a browser's push service (RFC 8030 §5).
//!
//! [`WebPushSender::send`] returns `Err` only for what is wrong on this side (a malformed
//! subscription, a payload too large, a refused endpoint); everything the push service or
//! the network does is a [`SendOutcome`], so the caller's retry and cleanup logic is one
//! `match`.

use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use reqwest::header::{AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, HeaderMap, RETRY_AFTER};
use reqwest::{Response, Url};
use serde::{Deserialize, Serialize};

use crate::encrypt::encrypt;
use crate::error::{Result, WebPushError};
use crate::subscription::Subscription;
use crate::vapid::{self, VapidSigner};

/// How much of a push service's error body is kept in an outcome's `reason`.
const MAX_REASON_LEN: usize = 200;
/// RFC 8030 §5.4: a topic is at most 32 characters.
const MAX_TOPIC_LEN: usize = 32;

/// Settings of a [`WebPushSender`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SenderConfig {
    /// Limit on one whole push request (connect, send, response). Push services answer in
    /// well under a second; a stuck one must not hold a notification worker. Default 10 s.
    pub request_timeout: Duration,
    /// Limit on the TCP and TLS connect. Default 5 s.
    pub connect_timeout: Duration,
    /// Also accept `http://` endpoints, but only on loopback (127.0.0.0/8, `::1`,
    /// `localhost`): for tests running a local push service. Off by default: every
    /// browser's push service is https, and plain http would expose the VAPID token.
    pub allow_http_loopback: bool,
}

impl Default for SenderConfig {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            allow_http_loopback: false,
        }
    }
}

/// RFC 8030 §5.3: how urgently the browser should be woken for a message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Urgency {
    /// Deliver when the device is on power and Wi-Fi.
    VeryLow,
    /// Deliver when the device is on power or Wi-Fi.
    Low,
    /// Deliver unless the device's battery is low.
    #[default]
    Normal,
    /// Deliver now, even on low battery (e.g. a call).
    High,
}

impl Urgency {
    /// The `Urgency` header value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::VeryLow => "very-low",
            Self::Low => "low",
            Self::Normal => "normal",
            Self::High => "high",
        }
    }
}

/// Per-message push options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendOptions {
    /// How long the push service keeps the message for an offline browser, in seconds
    /// (`TTL`; 0 means deliver now or never). Default one day: a chat notification older
    /// than that is noise, the app syncs when opened.
    pub ttl_secs: u32,
    /// `Urgency`. Default [`Urgency::Normal`].
    pub urgency: Urgency,
    /// `Topic`: a newer message with the same topic replaces an undelivered older one
    /// (e.g. one topic per chat). 1 to 32 characters of the base64url alphabet.
    pub topic: Option<String>,
}

impl Default for SendOptions {
    fn default() -> Self {
        Self {
            ttl_secs: 24 * 60 * 60,
            urgency: Urgency::Normal,
            topic: None,
        }
    }
}

impl SendOptions {
    fn validate(&self) -> Result<()> {
        if let Some(topic) = &self.topic {
            let well_formed = (1..=MAX_TOPIC_LEN).contains(&topic.len())
                && topic
                    .bytes()
                    .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_');
            if !well_formed {
                return Err(WebPushError::InvalidTopic);
            }
        }
        Ok(())
    }
}

/// What became of one push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    /// The push service accepted the message (201 Created per RFC 8030, 202 Accepted;
    /// any other 2xx is taken as acceptance too).
    Delivered,
    /// 404 or 410: the subscription has expired or was unsubscribed. The caller must
    /// delete it and never send to it again.
    Gone {
        /// The status the push service answered.
        status: u16,
    },
    /// 429: too many messages; wait before sending again.
    RateLimited {
        /// The push service's `Retry-After`, when it gave one.
        retry_after: Option<Duration>,
    },
    /// 413: the push service refused the body's size (this crate already keeps bodies
    /// within the 4096 bytes every push service must accept).
    PayloadTooLarge,
    /// Another client error (400, 401/403 for a VAPID key that does not match the
    /// subscription, ...), or an unexpected 1xx/3xx: sending the same again will fail
    /// again.
    Rejected {
        /// The status the push service answered.
        status: u16,
        /// The start of the push service's response body, for the logs.
        reason: String,
    },
    /// A 5xx, a timeout or a network failure: worth retrying later.
    Transient {
        /// The status, when the push service answered at all.
        status: Option<u16>,
        /// The push service's body or the transport error.
        reason: String,
    },
}

impl SendOutcome {
    /// Whether sending the same message later may succeed (rate limits, transient
    /// failures).
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::RateLimited { .. } | Self::Transient { .. } => true,
            Self::Delivered | Self::Gone { .. } | Self::PayloadTooLarge | Self::Rejected { .. } => {
                false
            }
        }
    }
}

/// Sends encrypted, VAPID-signed push messages. Cheap to clone: clones share the
/// connection pool.
#[derive(Debug, Clone)]
pub struct WebPushSender {
    client: reqwest::Client,
    vapid: VapidSigner,
    config: SenderConfig,
}

impl WebPushSender {
    /// A sender signing with `vapid`.
    ///
    /// # Errors
    /// [`WebPushError::HttpClient`] if the HTTP client cannot be built.
    pub fn new(vapid: VapidSigner, config: SenderConfig) -> Result<Self> {
        // reqwest is built without a TLS crypto provider; ring is the workspace's. An
        // error only means a provider is already installed, which is as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            // A push service answers itself; following a redirect would hand the VAPID
            // token and the message to whoever the redirect names.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("talkapp-webpush/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(WebPushError::HttpClient)?;
        Ok(Self {
            client,
            vapid,
            config,
        })
    }

    /// The VAPID public key browsers must subscribe with (`applicationServerKey`).
    pub fn vapid_public_key(&self) -> &str {
        self.vapid.public_key_base64url()
    }

    /// Encrypts `payload` for `subscription` and posts it to the subscription's push
    /// service.
    ///
    /// # Errors
    /// Only for what is wrong on this side: [`WebPushError::InvalidEndpoint`] (not https,
    /// or http off loopback or without [`SenderConfig::allow_http_loopback`]),
    /// [`WebPushError::InvalidTopic`], [`WebPushError::PayloadTooLarge`] (over
    /// [`MAX_PAYLOAD_LEN`](crate::MAX_PAYLOAD_LEN) bytes), and
    /// [`WebPushError::InvalidBase64`] / [`WebPushError::InvalidKey`] for a subscription
    /// with unusable keys (which the caller may as well delete). Nothing is sent then.
    #[tracing::instrument(
        name = "webpush_send",
        skip_all,
        fields(push_service = tracing::field::Empty, payload_len = payload.len())
    )]
    pub async fn send(
        &self,
        subscription: &Subscription,
        payload: &[u8],
        options: &SendOptions,
    ) -> Result<SendOutcome> {
        let endpoint = self.checked_endpoint(&subscription.endpoint)?;
        options.validate()?;
        // The origin only: the full endpoint is a bearer capability and stays out of logs.
        let audience = vapid::audience_of(&endpoint);
        tracing::Span::current().record("push_service", audience.as_str());
        let body = encrypt(payload, &subscription.p256dh, &subscription.auth)?;
        let authorization = self.vapid.header_for_audience(&audience, SystemTime::now());

        let mut request = self
            .client
            .post(endpoint)
            .header(CONTENT_ENCODING, "aes128gcm")
            .header(CONTENT_TYPE, "application/octet-stream")
            .header("TTL", options.ttl_secs)
            .header("Urgency", options.urgency.as_str())
            .header(AUTHORIZATION, authorization)
            .body(body);
        if let Some(topic) = &options.topic {
            request = request.header("Topic", topic.as_str());
        }

        let outcome = match request.send().await {
            Ok(response) => outcome_of(response).await,
            Err(error) => SendOutcome::Transient {
                status: None,
                reason: describe_transport_error(error),
            },
        };
        log_outcome(&outcome);
        Ok(outcome)
    }

    fn checked_endpoint(&self, endpoint: &str) -> Result<Url> {
        let url = vapid::parse_http_url(endpoint)?;
        if url.scheme() == "https" {
            return Ok(url);
        }
        if !self.config.allow_http_loopback {
            return Err(WebPushError::InvalidEndpoint {
                reason: "only https:// push endpoints are allowed".to_owned(),
            });
        }
        if !is_loopback(&url) {
            return Err(WebPushError::InvalidEndpoint {
                reason: "http:// push endpoints are allowed on loopback only".to_owned(),
            });
        }
        Ok(url)
    }
}

fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    // IPv6 hosts come bracketed: "[::1]".
    let unbracketed = host.trim_start_matches('[').trim_end_matches(']');
    unbracketed
        .parse::<IpAddr>()
        .is_ok_and(|address| address.is_loopback())
}

async fn outcome_of(response: Response) -> SendOutcome {
    let status = response.status().as_u16();
    match status {
        200..=299 => SendOutcome::Delivered,
        404 | 410 => SendOutcome::Gone { status },
        413 => SendOutcome::PayloadTooLarge,
        429 => SendOutcome::RateLimited {
            retry_after: retry_after(response.headers(), SystemTime::now()),
        },
        500..=599 => SendOutcome::Transient {
            status: Some(status),
            reason: body_excerpt(response).await,
        },
        0..=199 | 300..=399 | 400..=499 | 600..=u16::MAX => SendOutcome::Rejected {
            status,
            reason: body_excerpt(response).await,
        },
    }
}

/// `Retry-After` as delta-seconds or an HTTP date (RFC 9110 §10.2.3).
fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let retry_at = httpdate::parse_http_date(value).ok()?;
    Some(retry_at.duration_since(now).unwrap_or(Duration::ZERO))
}

async fn body_excerpt(response: Response) -> String {
    let Ok(body) = response.bytes().await else {
        return String::new();
    };
    let mut excerpt = String::from_utf8_lossy(&body[..body.len().min(MAX_REASON_LEN)])
        .trim()
        .to_owned();
    if body.len() > MAX_REASON_LEN {
        excerpt.push('…');
    }
    excerpt
}

/// The error and its causes, without the URL reqwest would print (the endpoint is a
/// bearer capability).
fn describe_transport_error(error: reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    let error = error.without_url();
    let mut reason = kind.to_owned();
    let mut cause = std::error::Error::source(&error);
    while let Some(current) = cause {
        reason.push_str(": ");
        reason.push_str(&current.to_string());
        cause = current.source();
    }
    reason
}

fn log_outcome(outcome: &SendOutcome) {
    match outcome {
        SendOutcome::Delivered => tracing::debug!("push delivered"),
        SendOutcome::Gone { status } => {
            tracing::info!(status, "push subscription is gone")
        }
        SendOutcome::RateLimited { retry_after } => tracing::info!(
            retry_after_secs = retry_after.map(|delay| delay.as_secs()),
            "push service rate limited the sender"
        ),
        SendOutcome::PayloadTooLarge => tracing::info!("push service refused the payload size"),
        SendOutcome::Rejected { status, reason } => {
            tracing::info!(status, reason, "push service rejected the message")
        }
        SendOutcome::Transient { status, reason } => {
            tracing::warn!(status, reason, "push failed, may be retried")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vapid::VapidKey;

    fn sender(allow_http_loopback: bool) -> WebPushSender {
        let signer = VapidSigner::new(VapidKey::generate(), "mailto:ops@talkapp.example")
            .expect("valid subject");
        WebPushSender::new(
            signer,
            SenderConfig {
                allow_http_loopback,
                ..SenderConfig::default()
            },
        )
        .expect("client builds")
    }

    #[test]
    fn https_endpoints_are_always_accepted() {
        assert!(
            sender(false)
                .checked_endpoint("https://push.example.net/a")
                .is_ok()
        );
    }

    #[test]
    fn http_is_refused_unless_allowed_and_on_loopback() {
        let strict = sender(false);
        let lenient = sender(true);
        for loopback in [
            "http://127.0.0.1:8080/p",
            "http://127.8.9.10/p",
            "http://[::1]:9000/p",
            "http://localhost/p",
        ] {
            assert!(strict.checked_endpoint(loopback).is_err(), "{loopback}");
            assert!(lenient.checked_endpoint(loopback).is_ok(), "{loopback}");
        }
        for remote in [
            "http://push.example.net/p",
            "http://10.0.0.1/p",
            "http://[::2]/p",
        ] {
            assert!(lenient.checked_endpoint(remote).is_err(), "{remote}");
        }
    }

    #[test]
    fn topics_must_be_short_base64url() {
        let with_topic = |topic: &str| SendOptions {
            topic: Some(topic.to_owned()),
            ..SendOptions::default()
        };
        assert!(with_topic("chat-42_x").validate().is_ok());
        assert!(with_topic(&"a".repeat(32)).validate().is_ok());
        for bad in ["", "has space", "dot.ted", &"a".repeat(33)] {
            assert!(
                matches!(with_topic(bad).validate(), Err(WebPushError::InvalidTopic)),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn urgency_reads_and_writes_the_header_tokens() {
        assert_eq!(Urgency::VeryLow.as_str(), "very-low");
        let parsed: Urgency = serde_json::from_str("\"very-low\"").expect("kebab-case");
        assert_eq!(parsed, Urgency::VeryLow);
        assert_eq!(Urgency::default(), Urgency::Normal);
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, "120".parse().expect("header value"));
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(120)));

        let in_a_minute = httpdate::fmt_http_date(now + Duration::from_secs(60));
        headers.insert(RETRY_AFTER, in_a_minute.parse().expect("header value"));
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(60)));

        headers.insert(RETRY_AFTER, "soon".parse().expect("header value"));
        assert_eq!(retry_after(&headers, now), None);
    }

    #[test]
    fn only_rate_limits_and_transient_failures_are_retryable() {
        assert!(SendOutcome::RateLimited { retry_after: None }.is_retryable());
        assert!(
            SendOutcome::Transient {
                status: None,
                reason: String::new()
            }
            .is_retryable()
        );
        assert!(!SendOutcome::Delivered.is_retryable());
        assert!(!SendOutcome::Gone { status: 410 }.is_retryable());
    }
}
