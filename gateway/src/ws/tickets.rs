//! Single-use WebSocket tickets: `POST /ws/ticket` trades a bearer token for a ticket a
//! browser can put in the WebSocket URL. A ticket names its user and the sign-in session
//! it was issued in (a ticket of an ended session opens nothing), expires in seconds, is
//! signed (HMAC-SHA-256 with a key derived from the gateway's signing secret, so any
//! gateway accepts it) and is spent on first use (in Redis when configured, so across
//! gateways; else in this process).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest as _, Sha256};
use uuid::Uuid;

/// How long a ticket is good for.
pub const TICKET_TTL: Duration = Duration::from_secs(30);

/// Why a ticket was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TicketError {
    /// Not a ticket this gateway issued (malformed, or signed with another key).
    #[error("not a valid ticket")]
    Invalid,
    /// Its time is up.
    #[error("the ticket has expired")]
    Expired,
    /// It was used already.
    #[error("the ticket was used already")]
    Spent,
    /// Whether it was used could not be checked (Redis away).
    #[error("tickets cannot be checked right now")]
    Unavailable,
}

enum Ledger {
    Local(Mutex<HashMap<String, Instant>>),
    Redis {
        connection: redis::aio::ConnectionManager,
        prefix: String,
    },
}

/// Issues and redeems tickets.
pub struct WsTickets {
    key: Vec<u8>,
    ledger: Ledger,
}

type HmacSha256 = Hmac<Sha256>;

fn now_unix() -> i64 {
    chrono::Utc::now().timestamp()
}

impl WsTickets {
    /// Tickets keyed from `secret`, spent in this process.
    pub fn local(secret: &[u8]) -> Self {
        Self {
            key: Self::derive(secret),
            ledger: Ledger::Local(Mutex::new(HashMap::new())),
        }
    }

    /// Tickets keyed from `secret`, spent in Redis (shared by every gateway).
    pub fn redis(secret: &[u8], connection: redis::aio::ConnectionManager, prefix: &str) -> Self {
        Self {
            key: Self::derive(secret),
            ledger: Ledger::Redis {
                connection,
                prefix: prefix.to_owned(),
            },
        }
    }

    /// A key of its own for tickets (derived, so a ticket's signature is never an access
    /// token's).
    fn derive(secret: &[u8]) -> Vec<u8> {
        let mut hasher = Sha256::new();
        hasher.update(b"talkapp/ws-ticket/v1\0");
        hasher.update(secret);
        hasher.finalize().to_vec()
    }

    fn mac(&self) -> Result<HmacSha256, TicketError> {
        // HMAC takes keys of any length: this does not fail.
        <HmacSha256 as Mac>::new_from_slice(&self.key).map_err(|_| TicketError::Invalid)
    }

    /// A ticket for `user_id` in sign-in session `sign_in` (none for an external
    /// token), and its lifetime in seconds.
    pub fn issue(&self, user_id: Uuid, sign_in: Option<Uuid>) -> (String, u64) {
        let mut nonce = [0_u8; 16];
        rand::rng().fill_bytes(&mut nonce);
        let expires = now_unix() + i64::try_from(TICKET_TTL.as_secs()).unwrap_or(30);
        let session = sign_in.map_or_else(|| "x".to_owned(), |id| id.simple().to_string());
        let body = format!(
            "v2.{}.{session}.{expires}.{}",
            user_id.simple(),
            URL_SAFE_NO_PAD.encode(nonce)
        );
        let signature = self
            .mac()
            .map(|mut mac| {
                mac.update(body.as_bytes());
                URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
            })
            .unwrap_or_default();
        (format!("{body}.{signature}"), TICKET_TTL.as_secs())
    }

    /// The user (and sign-in session) of a valid, unexpired, unspent ticket; spends it.
    pub async fn redeem(&self, ticket: &str) -> Result<(Uuid, Option<Uuid>), TicketError> {
        if ticket.len() > 256 {
            return Err(TicketError::Invalid);
        }
        let (body, signature) = ticket.rsplit_once('.').ok_or(TicketError::Invalid)?;
        let given = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| TicketError::Invalid)?;
        let mut mac = self.mac()?;
        mac.update(body.as_bytes());
        // Constant-time comparison.
        mac.verify_slice(&given).map_err(|_| TicketError::Invalid)?;
        let mut parts = body.split('.');
        let (Some("v2"), Some(user), Some(session), Some(expires), Some(nonce), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(TicketError::Invalid);
        };
        let user_id = Uuid::parse_str(user).map_err(|_| TicketError::Invalid)?;
        let sign_in = match session {
            "x" => None,
            id => Some(Uuid::parse_str(id).map_err(|_| TicketError::Invalid)?),
        };
        let expires: i64 = expires.parse().map_err(|_| TicketError::Invalid)?;
        if now_unix() > expires {
            return Err(TicketError::Expired);
        }
        self.spend(nonce).await?;
        Ok((user_id, sign_in))
    }

    async fn spend(&self, nonce: &str) -> Result<(), TicketError> {
        match &self.ledger {
            Ledger::Local(spent) => {
                let mut spent = spent.lock().map_err(|_| TicketError::Unavailable)?;
                let now = Instant::now();
                spent.retain(|_, at| now.duration_since(*at) < TICKET_TTL * 2);
                if spent.insert(nonce.to_owned(), now).is_some() {
                    return Err(TicketError::Spent);
                }
                Ok(())
            }
            Ledger::Redis { connection, prefix } => {
                let mut connection = connection.clone();
                let first: Option<String> = redis::cmd("SET")
                    .arg(format!("{prefix}:ws-ticket:{nonce}"))
                    .arg(1)
                    .arg("NX")
                    .arg("PX")
                    .arg(u64::try_from((TICKET_TTL * 2).as_millis()).unwrap_or(60_000))
                    .query_async(&mut connection)
                    .await
                    .map_err(|_| TicketError::Unavailable)?;
                if first.is_none() {
                    return Err(TicketError::Spent);
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_ticket_names_its_user_and_is_spent_on_first_use() {
        let tickets = WsTickets::local(b"secret-secret-secret-secret-secret");
        let user = Uuid::new_v4();
        let sign_in = Some(Uuid::new_v4());
        let (ticket, ttl) = tickets.issue(user, sign_in);
        assert_eq!(ttl, 30);
        assert_eq!(tickets.redeem(&ticket).await, Ok((user, sign_in)));
        assert_eq!(tickets.redeem(&ticket).await, Err(TicketError::Spent));
    }

    #[tokio::test]
    async fn forged_tampered_and_foreign_tickets_are_refused() {
        let tickets = WsTickets::local(b"secret-secret-secret-secret-secret");
        let other = WsTickets::local(b"another-secret-another-secret-xx");
        let (ticket, _) = tickets.issue(Uuid::new_v4(), None);
        assert_eq!(
            other.redeem(&ticket).await,
            Err(TicketError::Invalid),
            "signed with another key"
        );
        let tampered = ticket.replacen("v2.", "v2.0", 1);
        assert_eq!(tickets.redeem(&tampered).await, Err(TicketError::Invalid));
        assert_eq!(
            tickets.redeem("not a ticket").await,
            Err(TicketError::Invalid)
        );
        assert_eq!(tickets.redeem("").await, Err(TicketError::Invalid));
    }
}
