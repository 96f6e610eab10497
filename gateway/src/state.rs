//! What every handler can reach.

use std::sync::Arc;

use talkapp_common::config::Config;
use talkapp_common::probe::Probe;
use talkapp_store::Store;

use crate::auth::tokens::AccessTokens;
use crate::auth::verifier::TokenVerifier;
use crate::clients::ServiceClients;

/// Shared by every worker; cloned cheaply through `web::Data`.
pub struct AppState {
    /// The whole configuration.
    pub config: Arc<Config>,
    /// Users and sign-in sessions.
    pub store: Arc<dyn Store>,
    /// Checks bearer tokens.
    pub verifier: TokenVerifier,
    /// Issues built-in tokens (`None` when built-in accounts are off).
    pub access_tokens: Option<AccessTokens>,
    /// The services behind the gateway.
    pub services: ServiceClients,
    /// The gateway's own dependencies, for `/readyz`.
    pub probes: Vec<Arc<dyn Probe>>,
}
