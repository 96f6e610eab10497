//! What every handler can reach.

use std::sync::Arc;

use talkapp_common::config::Config;
use talkapp_common::probe::Probe;
use talkapp_store::GatewayStore;

use crate::auth::tokens::AccessTokens;
use crate::auth::verifier::TokenVerifier;
use crate::clients::ServiceClients;
use crate::rate_limit::RateLimiter;
use crate::ws::tickets::WsTickets;

/// Shared by every worker; cloned cheaply through `web::Data`.
pub struct AppState {
    /// The whole configuration.
    pub config: Arc<Config>,
    /// The store's areas the gateway uses: accounts and sign-in sessions, the audit
    /// log, the operators' view of users (not the Telegram data nor the send jobs: those
    /// are the services', reached over gRPC).
    pub store: Arc<dyn GatewayStore>,
    /// Checks bearer tokens.
    pub verifier: TokenVerifier,
    /// Issues built-in tokens (`None` when built-in accounts are off).
    pub access_tokens: Option<AccessTokens>,
    /// The chat list and cached history pages, read from the store (ADR 0073).
    pub chat_reads: crate::chat_reads::ChatReads,
    /// The services behind the gateway.
    pub services: ServiceClients,
    /// The gateway's own dependencies, for `/readyz`.
    pub probes: Vec<Arc<dyn Probe>>,
    /// Request rate limits.
    pub rate_limiter: RateLimiter,
    /// WebSocket tickets.
    pub ws_tickets: WsTickets,
    /// Signed media links.
    pub media_links: crate::media_links::MediaLinks,
    /// Live WebSocket connections.
    pub ws_connections: Arc<crate::ws::registry::Connections>,
    /// Ended sign-in sessions and accounts, told to every gateway.
    pub revocations: Arc<crate::revocations::Revocations>,
    /// The audit log's writer (`None` when `audit.enabled` is off).
    pub audit: Option<Arc<crate::audit::AuditLog>>,
    /// Per-user activity counted since the last flush.
    pub activity: Arc<crate::activity::Activity>,
}

impl AppState {
    /// The Telegram accounts `user_id` has linked, by `session_index`, each with its own
    /// photo when its host has cached it: read from the store here, in both modes, not
    /// asked of the chat service (ADR 0072).
    pub async fn linked_accounts(
        &self,
        user_id: uuid::Uuid,
    ) -> Result<Vec<talkapp_proto::chat::v1::LinkedAccount>, crate::problem::ApiError> {
        Ok(self
            .store
            .linked_accounts_with_own_users(user_id)
            .await?
            .into_iter()
            .map(talkapp_views::accounts::listed_account)
            .collect())
    }

    /// The client's address: the TCP peer, or the first `X-Forwarded-For` entry when
    /// `rate_limit.trust_forwarded_for` says a proxy in front sets it.
    pub fn client_address(&self, request: &actix_web::HttpRequest) -> String {
        if self.config.rate_limit.trust_forwarded_for
            && let Some(forwarded) = request
                .headers()
                .get("x-forwarded-for")
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.split(',').next())
                .map(str::trim)
                .filter(|value| !value.is_empty() && value.len() <= 64)
        {
            return forwarded.to_owned();
        }
        request
            .peer_addr()
            .map(|address| address.ip().to_string())
            .unwrap_or_else(|| "unknown".to_owned())
    }
}
