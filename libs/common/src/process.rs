//! The thin `main` every TalkApp binary shares: config, then telemetry, then the
//! process's own run function until a stop signal, then a telemetry flush; and the
//! allocator every TalkApp process (and test binary) uses.

use std::future::Future;

use tokio_util::sync::CancellationToken;

use crate::config::{Config, ConfigSources};

/// mimalloc for every process that links this crate (all of TalkApp's): its free lists
/// per thread give memory back to the threads that ask next, where glibc's arenas per
/// thread kept what bursts on many threads (the gateway's workers, the blocking pool)
/// had used, and it costs less per allocation on the request paths. The
/// `system-allocator` feature leaves glibc's in place, for heap profilers that hook
/// `malloc` (heaptrack, massif): they see nothing of mimalloc's heap.
#[cfg(not(feature = "system-allocator"))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
