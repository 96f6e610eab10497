//! Service-wide gauges for the operators' dashboard, read from the store every
//! [`INTERVAL`]: users, active users (1 and 7 days), linked accounts by connection status,
//! send jobs waiting and the age of the oldest. Labels are bounded (a window, a status),
//! never a user. In split mode every gateway exports the same figures; a dashboard takes
//! their `max`. Active users are built-in accounts whose sign-in session was used and
//! external provider's subjects seen (one write per subject a day, `auth::verifier`).
//!
//! A store that is away (or failing) costs a warning per round, nothing else: the gateway
//! serves on, the gauges keep their last figures, and the next round that reads the store
//! sets them again (test: gateway `stats::*`).

use std::sync::Arc;
use std::time::Duration;

use talkapp_store::UserAdminStore;
use tokio_util::sync::CancellationToken;

/// How often the figures are read.
pub const INTERVAL: Duration = Duration::from_secs(30);

/// The connection states a linked account can be in, so every series exists (at 0).
const STATUSES: &[talkapp_store::LinkStatus] = &[
    talkapp_store::LinkStatus::Connected,
    talkapp_store::LinkStatus::Connecting,
    talkapp_store::LinkStatus::LoggedOut,
    talkapp_store::LinkStatus::FloodWait,
];

/// Reads the figures every [`INTERVAL`] until `stop`.
pub async fn export(store: Arc<dyn UserAdminStore>, stop: CancellationToken) {
    export_every(store, INTERVAL, stop).await;
}

/// Reads the figures every `every` until `stop`.
pub async fn export_every(
    store: Arc<dyn UserAdminStore>,
    every: Duration,
    stop: CancellationToken,
) {
    let mut failing = false;
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let now = talkapp_store::now();
        match store.activity_summary(now).await {
            Ok(summary) => {
                if std::mem::take(&mut failing) {
                    tracing::info!("service figures read again");
                }
                metrics::gauge!("talkapp_users").set(summary.users as f64);
                metrics::gauge!("talkapp_active_users", "window" => "1d")
                    .set(summary.active_1d as f64);
                metrics::gauge!("talkapp_active_users", "window" => "7d")
                    .set(summary.active_7d as f64);
                for status in STATUSES {
                    let count = summary
                        .linked_accounts
                        .iter()
                        .find(|(name, _)| name == status.as_str())
                        .map_or(0, |(_, count)| *count);
                    metrics::gauge!("talkapp_linked_accounts", "status" => status.as_str())
                        .set(count as f64);
                }
                metrics::gauge!("talkapp_send_jobs_waiting").set(summary.waiting_jobs as f64);
                let oldest_age = summary
                    .oldest_waiting_at
                    .map_or(0.0, |at| (now - at).as_seconds_f64().max(0.0));
                metrics::gauge!("talkapp_send_job_oldest_age_seconds").set(oldest_age);
            }
            Err(error) => {
                failing = true;
                tracing::warn!(%error, "service figures not read (the last ones stay); next round again");
            }
        }
    }
}
