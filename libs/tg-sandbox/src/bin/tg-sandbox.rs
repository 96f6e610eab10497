//! `tg-sandbox`: the local Telegram data center as its own process, for split mode and
//! benchmarks.
//!
//! ```text
//! tg-sandbox --listen 127.0.0.1:9443 --admin 127.0.0.1:9444 \
//!     [--seed FILE] [--state FILE] [--save-interval-ms N] [--demo-scale accounts=N,...]
//! ```
//!
//! Logs go to stderr (`RUST_LOG` filters, default `info`). SIGTERM or ctrl-c stops it
//! cleanly: connections are closed and the state file is saved.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use talkapp_tg_sandbox::{
    DEMO_2FA_PASSWORD, DEMO_2FA_PHONE, DEMO_PHONE, DemoScale, Sandbox, SandboxOptions, Seed,
};
use tracing::{error, info};
use tracing_subscriber::EnvFilter;

const USAGE: &str = "\
usage: tg-sandbox [--listen ADDR] [--admin ADDR] [--seed FILE] [--state FILE]
                  [--save-interval-ms N] [--demo-scale key=value,...]

  --listen ADDR       MTProto address (default 127.0.0.1:9443)
  --admin ADDR        admin API address (HTTP/1.1 JSON; off unless given)
  --seed FILE         JSON seed: {\"demo\": {...}} or explicit users, chats, messages
                      (default: the demo world)
  --state FILE        keep the state in FILE: resume from it if it exists
  --save-interval-ms  how long changes may wait before FILE is rewritten
                      (default 200; raise it for big benchmark worlds)
  --demo-scale SPEC   scale the demo world, e.g. accounts=1000,ring_chats=2
                      (keys: accounts, extra_users, private_messages,
                      other_private_messages, group_messages, supergroup_messages,
                      channel_posts, ring_chats, ring_chat_messages)
";

/// The command line, parsed.
struct Args {
    listen: SocketAddr,
    admin: Option<SocketAddr>,
    seed: Option<PathBuf>,
    state: Option<PathBuf>,
    save_interval: Option<Duration>,
    demo_scale: Option<String>,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> anyhow::Result<Option<Args>> {
    let mut parsed = Args {
        listen: SocketAddr::from(([127, 0, 0, 1], 9443)),
        admin: None,
        seed: None,
        state: None,
        save_interval: None,
        demo_scale: None,
    };
    while let Some(flag) = args.next() {
        if flag == "--help" || flag == "-h" {
            return Ok(None);
        }
        let value = args
            .next()
            .with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--listen" => parsed.listen = value.parse().context("--listen")?,
            "--admin" => parsed.admin = Some(value.parse().context("--admin")?),
            "--seed" => parsed.seed = Some(value.into()),
            "--state" => parsed.state = Some(value.into()),
            "--save-interval-ms" => {
                let millis: u64 = value.parse().context("--save-interval-ms")?;
                parsed.save_interval = Some(Duration::from_millis(millis));
            }
            "--demo-scale" => parsed.demo_scale = Some(value),
            other => anyhow::bail!("unknown option {other}"),
        }
    }
    Ok(Some(parsed))
}

/// The seed the options describe: the file's, or the demo world, scaled as asked.
fn seed(args: &Args) -> anyhow::Result<Seed> {
    let mut seed = match &args.seed {
        Some(path) => Seed::from_file(path)?,
        None => Seed::demo(DemoScale::default()),
    };
    if let Some(overrides) = &args.demo_scale {
        let scale = seed
            .demo
            .take()
            .context("--demo-scale needs the demo world (a seed file with \"demo\")")?;
        seed.demo = Some(scale.with_overrides(overrides)?);
    }
    Ok(seed)
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                // No SIGTERM handler: Ctrl-C alone stops it; an error here means no signal
                // can come, and the sandbox stops at once rather than never.
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        // An error means no signal can come: the sandbox stops at once rather than never.
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let mut options = SandboxOptions::seed(seed(&args)?).listen(args.listen);
    if let Some(state) = &args.state {
        options = options.state_file(state);
    }
    if let Some(interval) = args.save_interval {
        options = options.save_interval(interval);
    }
    let sandbox = Sandbox::start_with(options).await?;
    if let Some(admin) = args.admin {
        sandbox.serve_admin(admin).await?;
    }
    if sandbox.user_by_phone(DEMO_PHONE).is_some() {
        info!(
            phone = DEMO_PHONE,
            two_factor_phone = DEMO_2FA_PHONE,
            two_factor_password = DEMO_2FA_PASSWORD,
            code = "22222",
            "demo accounts"
        );
    }
    shutdown_signal().await;
    info!("stopping");
    sandbox.shutdown().await;
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            eprintln!("tg-sandbox: {error:#}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            error!(error = format!("{error:#}"), "tg-sandbox failed");
            ExitCode::FAILURE
        }
    }
}
