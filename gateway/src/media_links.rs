//! Signed media links: `POST /me/media/.../url` trades the bearer token for a short-lived
//! URL a browser can put in `<img>` or `<video>` (which send no `Authorization`).
//!
//! A link names one file of one linked account of one user, the sign-in session it was
//! issued in (it stops working when that session ends: the gateway's in-memory
//! revocations, no store read per file) and its expiry, and is signed
//! with HMAC-SHA-256 under a key derived from the gateway's signing secret (so any gateway
//! accepts it, and its signature is never an access token's or a WebSocket ticket's).
//! Unlike a ticket it is not spent on use: a video is fetched in many range requests.
//!
//! Form: `v2.{user_id}.{sign_in_session|x}.{session_index}.{base64url(ref)}.{expires_unix}.{base64url(mac)}`,
//! the MAC over everything before its dot (`x`: issued to an external provider's token).

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
    /// The sign-in session it was issued in (none: an external provider's token).
    pub sign_in: Option<Uuid>,
    /// Their linked account.
    pub session_index: u32,
    /// The file.
    pub media_ref: String,
    /// Unix seconds after which it no longer works.
    pub expires_at: i64,
}

/// Lasting links expire on a multiple of this (seconds), so that those issued within one
/// such window are the same URL (and a browser's cache serves them).
const LASTING_WINDOW_SECS: i64 = 3600;

/// Issues and checks media links.
pub struct MediaLinks {
    key: Vec<u8>,
    ttl_secs: u64,
    lasting_ttl_secs: u64,
}

impl MediaLinks {
    /// Links keyed from `secret` (the gateway's signing secret), valid for `ttl_secs`;
    /// lasting ones (see [`Self::issue_lasting_path`]) for at least `lasting_ttl_secs`.
    pub fn new(secret: &[u8], ttl_secs: u64, lasting_ttl_secs: u64) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(b"talkapp/media-link/v1\0");
        hasher.update(secret);
        Self {
            key: hasher.finalize().to_vec(),
            ttl_secs,
            lasting_ttl_secs,
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
        sign_in: Option<Uuid>,
        session_index: u32,
        media_ref: &str,
        now: i64,
    ) -> (String, u64) {
        let expires_at = now.saturating_add(i64::try_from(self.ttl_secs).unwrap_or(i64::MAX));
        (
            self.link_until(user_id, sign_in, session_index, media_ref, expires_at),
            self.ttl_secs,
        )
    }

    fn link_until(
        &self,
        user_id: Uuid,
        sign_in: Option<Uuid>,
        session_index: u32,
        media_ref: &str,
        expires_at: i64,
    ) -> String {
        let sign_in = sign_in.map_or_else(|| "x".to_owned(), |id| id.simple().to_string());
        let body = format!(
            "v2.{}.{sign_in}.{session_index}.{}.{expires_at}",
            user_id.simple(),
            URL_SAFE_NO_PAD.encode(media_ref.as_bytes()),
        );
        let signature = URL_SAFE_NO_PAD.encode(self.sign(&body).finalize().into_bytes());
        format!("{body}.{signature}")
    }

    /// A path like [`Self::issue_path`]'s that works for at least the lasting lifetime,
    /// its expiry rounded up to a whole window: for pages that keep a URL as long as they
    /// are open (the TorexTalkWeb replies), and list the same files again and again.
    pub fn issue_lasting_path(
        &self,
        user_id: Uuid,
        sign_in: Option<Uuid>,
        session_index: u32,
        media_ref: &str,
        now: i64,
    ) -> String {
        let earliest = now.saturating_add(i64::try_from(self.lasting_ttl_secs).unwrap_or(i64::MAX));
        let expires_at = earliest
            .div_euclid(LASTING_WINDOW_SECS)
            .saturating_add(1)
            .saturating_mul(LASTING_WINDOW_SECS);
        format!(
            "/media/t/{}",
            self.link_until(user_id, sign_in, session_index, media_ref, expires_at)
        )
    }

    /// Like [`Self::issue`], as the root-relative path that serves the file
    /// (`/media/t/<token>`).
    pub fn issue_path(
        &self,
        user_id: Uuid,
        sign_in: Option<Uuid>,
        session_index: u32,
        media_ref: &str,
        now: i64,
    ) -> (String, u64) {
        let (token, expires_in) = self.issue(user_id, sign_in, session_index, media_ref, now);
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
        let (
            Some("v2"),
            Some(user),
            Some(sign_in),
            Some(session),
            Some(media_ref),
            Some(expires),
            None,
        ) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        )
        else {
            return Err(LinkError::Invalid);
        };
        let grant = MediaGrant {
            user_id: Uuid::parse_str(user).map_err(|_| LinkError::Invalid)?,
            sign_in: match sign_in {
                "x" => None,
                id => Some(Uuid::parse_str(id).map_err(|_| LinkError::Invalid)?),
            },
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
        let links = MediaLinks::new(&[7; 64], 300, 86_400);
        let user_id = Uuid::new_v4();
        let sign_in = Some(Uuid::new_v4());
        let (link, expires_in) = links.issue(user_id, sign_in, 2, "m:-1001:7", NOW);
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
                sign_in,
                session_index: 2,
                media_ref: "m:-1001:7".into(),
                expires_at: NOW + 300,
            }
        );
        assert_eq!(links.verify(&link, NOW + 300), Err(LinkError::Expired));
    }

    #[test]
    fn an_altered_or_foreign_link_is_invalid() {
        let links = MediaLinks::new(&[7; 64], 300, 86_400);
        let (link, _) = links.issue(Uuid::new_v4(), None, 1, "t:5:9", NOW);
        // Another reference, session or a later expiry, with the old signature.
        let (body, signature) = link.rsplit_once('.').expect("signed");
        let parts: Vec<&str> = body.split('.').collect();
        let other_ref = URL_SAFE_NO_PAD.encode("m:5:9");
        let altered = [
            format!(
                "{}.{}.{}.{}.{other_ref}.{}.{signature}",
                parts[0], parts[1], parts[2], parts[3], parts[5]
            ),
            format!(
                "{}.{}.{}.7.{}.{}.{signature}",
                parts[0], parts[1], parts[2], parts[4], parts[5]
            ),
            format!(
                "{}.{}.{}.{}.{}.{}.{signature}",
                parts[0],
                parts[1],
                parts[2],
                parts[3],
                parts[4],
                NOW + 99_999
            ),
            format!(
                "{}.{}.{}.{}.{}.{}.{signature}",
                parts[0],
                parts[1],
                Uuid::new_v4().simple(),
                parts[3],
                parts[4],
                parts[5]
            ),
            format!("{body}.{}", URL_SAFE_NO_PAD.encode([0_u8; 32])),
            "v1.garbage".to_owned(),
            String::new(),
        ];
        for link in altered {
            assert_eq!(links.verify(&link, NOW), Err(LinkError::Invalid), "{link}");
        }
        let other_key = MediaLinks::new(&[8; 64], 300, 86_400);
        assert_eq!(other_key.verify(&link, NOW), Err(LinkError::Invalid));
    }

    #[test]
    fn lasting_links_are_the_same_within_an_hour_and_last_at_least_their_ttl() {
        let links = MediaLinks::new(&[7; 64], 300, 86_400);
        let user_id = Uuid::new_v4();
        let window_start = NOW - NOW.rem_euclid(3600);
        let first = links.issue_lasting_path(user_id, None, 1, "p:5:9", window_start);
        let later = links.issue_lasting_path(user_id, None, 1, "p:5:9", window_start + 3599);
        assert_eq!(first, later, "one URL per window, for the browser's cache");
        let next_window = links.issue_lasting_path(user_id, None, 1, "p:5:9", window_start + 3600);
        assert_ne!(first, next_window);

        let token = later.strip_prefix("/media/t/").expect("a media path");
        let grant = links.verify(token, window_start + 3599).expect("valid");
        assert!(grant.expires_at >= window_start + 3599 + 86_400);
        assert_eq!(grant.expires_at.rem_euclid(3600), 0);
        assert_eq!(
            links.verify(token, grant.expires_at),
            Err(LinkError::Expired),
            "lasting, not forever"
        );
    }
}
