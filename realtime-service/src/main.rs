//! `realtime-service`: the realtime service as its own process (split mode).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    talkapp_common::process::run_process("realtime-service", talkapp_realtime_service::run).await
}
