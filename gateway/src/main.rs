//! `gateway`: the REST gateway as its own process (split mode).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    talkapp_common::process::run_process("gateway", talkapp_gateway::run).await
}
