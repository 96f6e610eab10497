//! The thin `main` every TalkApp binary shares: config, then telemetry, then the
//! process's own run function until a stop signal, then a telemetry flush.

use std::future::Future;

use tokio_util::sync::CancellationToken;

use crate::config::{Config, ConfigSources};

/// Loads the configuration (`--config`, `TALKAPP_CONFIG`, `TALKAPP_*`), starts telemetry as
/// `process_name`, and runs `run` until SIGINT/SIGTERM.
pub async fn run_process<F, Fut>(process_name: &'static str, run: F) -> anyhow::Result<()>
where
    F: FnOnce(Config, CancellationToken) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let config = Config::load(&ConfigSources::from_process())?;
    let telemetry = crate::telemetry::init(process_name, &config.log, &config.telemetry)?;
    let shutdown = crate::shutdown::on_signal();
    crate::telemetry::spawn_metrics_upkeep(shutdown.clone());
    let result = run(config, shutdown).await;
    if let Err(error) = &result {
        tracing::error!(error = format!("{error:#}"), "stopped with an error");
    }
    telemetry.shutdown();
    result
}
