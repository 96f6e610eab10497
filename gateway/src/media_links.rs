//! Signed media links: `POST /me/media/.../url` trades the bearer token for a short-lived
//! URL a browser can put in `<img>` or `<video>` (which send no `Authorization`).
//!
//! A link names one file of one linked account of one user and its expiry, and is signed
//! with HMAC-SHA-256 under a key derived from the gateway's signing secret (so any gateway
//! accepts it, and its signature is never an access token's or a WebSocket ticket's).
//! Unlike a ticket it is not spent on use: a video is fetched in many range requests.
//!
//! Form: `v1.{user_id}.{session_index}.{base64url(ref)}.{expires_unix}.{base64url(mac)}`,
//! the MAC over everything before its dot.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::{Digest as _, Sha256};
use uuid::Uuid;

type HmacSha256 = Hmac<Sha256>;

/// Longest link accepted (a reference is short; anything longer is not ours).
const MAX_LINK_LEN: usize = 512;

/// Why a link was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// Not a link this gateway issued (malformed, altered, or another key's).
    #[error("not a valid media link")]
    Invalid,
    /// Its time is up.
    #[error("the media link has expired")]
    Expired,
}

/// What a valid link grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaGrant {
    /// The TalkApp user.
    pub user_id: Uuid,
    /// Their linked account.
    pub session_index: u32,
    /// The file.
    pub media_ref: String,
    /// Unix seconds after which it no longer works.
    pub expires_at: i64,
}

/// Issues and checks media links.
pub struct MediaLinks {
    key: Vec<u8>,
    ttl_secs: u64,
}

impl MediaLinks {
    /// Links keyed from `secret` (the gateway's signing secret), valid for `ttl_secs`.
    pub fn new(secret: &[u8], ttl_secs: u64) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(b"talkapp/media-link/v1\0");
        hasher.update(secret);
        Self {
            key: hasher.finalize().to_vec(),
            ttl_secs,
        }
    }

    fn sign(&self, body: &str) -> HmacSha256 {
        // HMAC takes keys of any length: this cannot fail.
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("hmac accepts any key length"));
        mac.update(body.as_bytes());
        mac
    }

    /// A link to `media_ref` of `user_id`'s account `session_index`, issued at `now`
    /// (Unix seconds), and its lifetime in seconds.
    pub fn issue(
        &self,
        user_id: Uuid,
        session_index: u32,
        media_ref: &str,
        now: i64,
    ) -> (String, u64) {
        let expires_at = now.saturating_add(i64::try_from(self.ttl_secs).unwrap_or(i64::MAX));
        let body = format!(
            "v1.{}.{session_index}.{}.{expires_at}",
            user_id.simple(),
            URL_SAFE_NO_PAD.encode(media_ref.as_bytes()),
        );
        let signature = URL_SAFE_NO_PAD.encode(self.sign(&body).finalize().into_bytes());
        (format!("{body}.{signature}"), self.ttl_secs)
    }

    /// Like [`Self::issue`], as the root-relative path that serves the file
    /// (`/media/t/<token>`).
    pub fn issue_path(
        &self,
        user_id: Uuid,
        session_index: u32,
        media_ref: &str,
        now: i64,
    ) -> (String, u64) {
        let (token, expires_in) = self.issue(user_id, session_index, media_ref, now);
        (format!("/media/t/{token}"), expires_in)
    }

    /// What a link grants at `now`, when it is genuine and unexpired. The signature is
    /// checked first (in constant time), so an altered expiry is `Invalid`.
    pub fn verify(&self, link: &str, now: i64) -> Result<MediaGrant, LinkError> {
        if link.len() > MAX_LINK_LEN {
            return Err(LinkError::Invalid);
        }
        let (body, signature) = link.rsplit_once('.').ok_or(LinkError::Invalid)?;
        let given = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| LinkError::Invalid)?;
        self.sign(body)
            .verify_slice(&given)
            .map_err(|_| LinkError::Invalid)?;
        let mut parts = body.split('.');
        let (Some("v1"), Some(user), Some(session), Some(media_ref), Some(expires), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(LinkError::Invalid);
        };
        let grant = MediaGrant {
            user_id: Uuid::parse_str(user).map_err(|_| LinkError::Invalid)?,
            session_index: session.parse().map_err(|_| LinkError::Invalid)?,
            media_ref: URL_SAFE_NO_PAD
                .decode(media_ref)
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .ok_or(LinkError::Invalid)?,
            expires_at: expires.parse().map_err(|_| LinkError::Invalid)?,
        };
        if now >= grant.expires_at {
            return Err(LinkError::Expired);
        }
        Ok(grant)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    #[test]
    fn an_issued_link_grants_its_file_until_it_expires() {
        let links = MediaLinks::new(&[7; 64], 300);
        let user_id = Uuid::new_v4();
        let (link, expires_in) = links.issue(user_id, 2, "m:-1001:7", NOW);
        assert_eq!(expires_in, 300);
        assert!(
            link.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)),
            "fits in a URL path segment as is: {link}"
        );
        let grant = links.verify(&link, NOW + 299).expect("valid");
        assert_eq!(
            grant,
            MediaGrant {
                user_id,
                session_index: 2,
                media_ref: "m:-1001:7".into(),
                expires_at: NOW + 300,
            }
        );
        assert_eq!(links.verify(&link, NOW + 300), Err(LinkError::Expired));
    }

    #[test]
    fn an_altered_or_foreign_link_is_invalid() {
        let links = MediaLinks::new(&[7; 64], 300);
        let (link, _) = links.issue(Uuid::new_v4(), 1, "t:5:9", NOW);
        // Another reference, session or a later expiry, with the old signature.
        let (body, signature) = link.rsplit_once('.').expect("signed");
        let parts: Vec<&str> = body.split('.').collect();
        let other_ref = URL_SAFE_NO_PAD.encode("m:5:9");
        let altered = [
            format!(
                "{}.{}.{}.{other_ref}.{}.{signature}",
                parts[0], parts[1], parts[2], parts[4]
            ),
            format!(
                "{}.{}.7.{}.{}.{signature}",
                parts[0], parts[1], parts[3], parts[4]
            ),
            format!(
                "{}.{}.{}.{}.{}.{signature}",
                parts[0],
                parts[1],
                parts[2],
                parts[3],
                NOW + 99_999
            ),
            format!("{body}.{}", URL_SAFE_NO_PAD.encode([0_u8; 32])),
            "v1.garbage".to_owned(),
            String::new(),
        ];
        for link in altered {
            assert_eq!(links.verify(&link, NOW), Err(LinkError::Invalid), "{link}");
        }
        let other_key = MediaLinks::new(&[8; 64], 300);
        assert_eq!(other_key.verify(&link, NOW), Err(LinkError::Invalid));
    }
}
