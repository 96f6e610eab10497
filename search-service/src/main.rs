//! `search-service`: the search service as its own process (split mode).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    talkapp_common::process::run_process("search-service", talkapp_search_service::run).await
}
