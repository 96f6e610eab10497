//! `loadgen`: drives the TalkApp gateway with many concurrent users and reports latency
//! percentiles and throughput.
//!
//! Each simulated user is a task on a shared keep-alive connection pool. By default it sends
//! its next request as soon as the previous one is answered (a closed loop: the figure is
//! the saturation throughput, and latency is mostly queueing). With `--interval-ms N` each
//! user sends one request every N ms instead (users spread evenly over the first interval),
//! which is how people use a chat client: latency at a realistic load. Users sign in
//! with tokens of the external identity provider, minted here with the provider's HS256
//! secret (the gateway must be configured with the same secret and issuer), so that
//! thousands of users need no registration.
//!
//! ```sh
//! loadgen --url http://127.0.0.1:8080 --users 1000 --seconds 20 --scenario me
//! loadgen --users 1000 --interval-ms 500 --scenario sessions   # 2,000 requests/s
//! ```
//!
//! Scenarios: `me` (`GET /auth/me`), `sessions` (`GET /me/sessions/{user_id}`, through
//! the chat service), `telegrams` (`GET /me/telegrams`, TorexTalkWeb's list of the
//! user's accounts), `healthz` (no auth), and, for users with a linked Telegram account,
//! `chats` (`GET /me/chats/...`), `history` (`GET /me/chat/messages/...`, 50 messages of
//! the user's first private chat) and `send` (`POST /me/send_message/...`, the 202), and
//! `send-media` (`POST /me/send_media/...`, the 202: a photo each user uploads once
//! before the measurement, sent again with a new `client_message_id` every time; with
//! `--media video` a short MP4 instead, which goes to Telegram with its preview as the
//! thumbnail; with `--fresh-media` a new file for every send, below), and
//! `search` (`GET /me/search/messages/...?q=WORD`, a word of the sandbox's demo messages,
//! one per user in turn: the index of the cache and, in every request, Telegram's own
//! `messages.searchGlobal` through the account's host, merged) and `search-local` (the
//! same route with a filter and no words, `?chat_id=` of the user's private chat: the
//! index alone, Telegram is not asked).
//!
//! `--fresh-media` (`send-media`, `ws-media`): every send carries a file of its own, so
//! that each is a first send of a new file (its own Telegram upload, and a video's
//! thumbnail with it) instead of a file Telegram already has by reference. Each user
//! uploads the copies it will send before the measurement (distinct bytes that still
//! decode: [`setup::MediaFixture::fresh_copy`]), at the pace of its sends (or one every
//! `--upload-interval-ms`); the upload
//! phase has its own lines (latency, how many got a preview, CPU per upload with the
//! media service's ffmpeg as `.children`), then the sends are measured as without it.
//!
//! `send-accept` is the 202 of `send` alone: the Telegram sandbox (`--hold-pid`) is
//! stopped while the sends are accepted, in short rounds, then continued; the line's CPU
//! per request is the acceptance's, and every accepted send is checked to go out exactly
//! once afterwards (see `accept.rs`).
//!
//! `link-2fa` links an account with two-step verification again and again, each step
//! timed, with a probe of the chat service's latency beside it (see `link.rs`).
//!
//! `mix` is a load that looks like real use (most users idle on a socket, some reading, a
//! few sending), held for minutes, with memory and CPU per process over time (see `mix.rs`).
//!
//! `faults` is the load of the fault suite (`scripts/fault-suite.sh`; see `faults.rs`):
//! paced sends and reads that retry like a client, then a check that every accepted send
//! was delivered once and in order.
//!
//! The chat scenarios need each user to have a sandbox account linked: with `--link`,
//! user N (a fixed id, so a second run finds its account linked already) links the
//! sandbox's extra account N (`+99966 2 NNNN` from `0003` on, login code `22222`) before
//! the measurement starts, and waits until its chat list is cached. The sandbox must
//! have at least as many extra accounts as there are users (`tg-sandbox --demo-scale
//! accounts=N` or `telegram.sandbox_seed`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;

mod accept;
mod bare;
mod cpu;
mod faults;
mod link;
mod mix;
mod realtime;
mod setup;

const USAGE: &str = "usage: loadgen [--url URL] [--users N] [--seconds S] [--warmup-seconds S] \
[--interval-ms N] [--scenario me|sessions|telegrams|healthz|chats|history|send|send-accept|send-media|search|search-local|ws|ws-media|ws-idle|faults|mix|link-2fa] [--link] \
[--connections-per-user K] [--ws-url URL] [--pid GATEWAY_PID] [--watch NAME=PID[+PID...]|NAME=comm:COMMAND]... \
[--secret HS256_SECRET] [--issuer ISS] \
[chats, history: --store DATABASE_URL] \
[send-media, ws-media: --media photo|video --fresh-media --upload-interval-ms N] \
[ws, ws-media: --hold-file PATH] \
[send-accept: --hold-pid SANDBOX_PID... --round-ms N --perf-control FIFO] \
[faults: --label NAME --fault-at-secs S --settle-seconds S --give-up-seconds S --media-every N] \
[mix: --readers-percent P --senders-percent P --send-interval-ms N --sample-seconds S \
--metric NAME... --data-dir DIR] \
[link-2fa: --native-link]";

pub(crate) struct Options {
    pub(crate) url: String,
    pub(crate) users: usize,
    pub(crate) seconds: u64,
    pub(crate) warmup_seconds: u64,
    scenario: String,
    pub(crate) interval_ms: Option<u64>,
    /// `ws-idle`: sockets per user.
    pub(crate) connections_per_user: usize,
    /// `ws-idle`: the gateway's process, whose memory is measured.
    pub(crate) pid: Option<u32>,
    secret: String,
    issuer: String,
    pub(crate) link: bool,
    /// Processes whose CPU per request is reported.
    pub(crate) watch: Vec<cpu::Watched>,
    /// `faults`: what the suite does meanwhile (printed in the result line).
    pub(crate) label: String,
    /// `faults`: when (seconds into the run) the suite does it.
    pub(crate) fault_at_secs: Option<u64>,
    /// `faults`: how long accepted sends may take to go out once the load is over.
    pub(crate) settle_seconds: u64,
    /// `faults`: how long a client keeps trying one send.
    pub(crate) give_up_seconds: u64,
    /// `ws`: where the sockets open, when not at `url` (a baseline relay).
    pub(crate) ws_url: Option<String>,
    /// `faults`: every how many sends one is a photo (0: none).
    pub(crate) media_every: u64,
    /// `send-media`, `ws-media`: what each user uploads once and sends (`photo`, a
    /// 320×240 JPEG; `video`, a 2 s MP4 whose preview goes to Telegram as its thumbnail).
    pub(crate) media: setup::MediaFixture,
    /// `send-media`, `ws-media`: a new file (distinct bytes) for every send, uploaded
    /// before the measurement, instead of one file per user sent again and again.
    pub(crate) fresh_media: bool,
    /// `--fresh-media`: each user's interval between its uploads (by default that of its
    /// sends).
    upload_interval_ms: Option<u64>,
    /// `mix`: the share of users who read (the chat list and history, every `--interval-ms`).
    pub(crate) readers_percent: usize,
    /// `mix`: the share of users who send.
    pub(crate) senders_percent: usize,
    /// `mix`: how often each sender sends.
    pub(crate) send_interval_ms: u64,
    /// `mix`: how often a line of figures is printed.
    pub(crate) sample_seconds: u64,
    /// `mix`: gauges read from the backend's `/metrics` at each sample (summed over
    /// their label sets), e.g. `talkapp_realtime_log_bytes`.
    pub(crate) metrics: Vec<String>,
    /// `mix`: a directory whose files' total size is given at each sample (the embedded
    /// default's `data/`: its SQLite databases).
    pub(crate) data_dir: Option<String>,
    /// `chats`, `history`: the backend's database, to time the read's store calls
    /// directly beside the requests ([`bare`]).
    store: Option<String>,
    /// `send-accept`: the processes stopped while sends are accepted (the sandbox).
    pub(crate) hold_pids: Vec<u32>,
    /// `send-accept`: each round's measured window.
    pub(crate) round_ms: u64,
    /// `send-accept`: a `perf record --control fifo:...` to enable in the windows only.
    pub(crate) perf_control: Option<String>,
    /// `link-2fa`: the native linking routes instead of TorexTalkWeb's.
    pub(crate) native_link: bool,
    /// `ws`, `ws-media`: once set up (files uploaded; the sockets open after), create this file and
    /// wait until it is removed before sending, so that a script can count a window that
    /// holds the sends alone (`loadgen/pg-per-send.sh`).
    pub(crate) hold_file: Option<String>,
}

/// Whether a scenario needs each user to have a linked Telegram account.
fn needs_account(scenario: &str) -> bool {
    matches!(
        scenario,
        "chats"
            | "telegrams"
            | "history"
            | "send"
            | "send-accept"
            | "send-media"
            | "search"
            | "search-local"
            | "ws"
            | "ws-media"
            | "ws-idle"
            | "faults"
            | "mix"
    )
}

fn parse_options() -> anyhow::Result<Options> {
    let mut options = Options {
        url: "http://127.0.0.1:8080".into(),
        users: 1000,
        seconds: 20,
        warmup_seconds: 3,
        scenario: "me".into(),
        interval_ms: None,
        connections_per_user: 1,
        pid: None,
        secret: "loadgen-secret-loadgen-secret-loadgen-secret".into(),
        issuer: "https://loadgen.supabase.co/auth/v1".into(),
        link: false,
        watch: Vec::new(),
        label: "none".into(),
        fault_at_secs: None,
        settle_seconds: 180,
        give_up_seconds: 60,
        ws_url: None,
        media_every: 5,
        media: setup::MediaFixture::Photo,
        fresh_media: false,
        upload_interval_ms: None,
        readers_percent: 20,
        senders_percent: 5,
        send_interval_ms: 10_000,
        sample_seconds: 30,
        metrics: Vec::new(),
        data_dir: None,
        store: None,
        hold_pids: Vec::new(),
        round_ms: 2000,
        perf_control: None,
        native_link: false,
        hold_file: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || {
            args.next()
                .with_context(|| format!("{flag} needs a value; {USAGE}"))
        };
        match flag.as_str() {
            "--url" => options.url = value()?,
            "--users" => options.users = value()?.parse()?,
            "--seconds" => options.seconds = value()?.parse()?,
            "--warmup-seconds" => options.warmup_seconds = value()?.parse()?,
            "--scenario" => options.scenario = value()?,
            "--interval-ms" => options.interval_ms = Some(value()?.parse()?),
            "--secret" => options.secret = value()?,
            "--issuer" => options.issuer = value()?,
            "--link" => options.link = true,
            "--connections-per-user" => options.connections_per_user = value()?.parse()?,
            "--pid" => options.pid = Some(value()?.parse()?),
            "--watch" => options.watch.push(cpu::parse_watch(&value()?)?),
            "--label" => options.label = value()?,
            "--fault-at-secs" => options.fault_at_secs = Some(value()?.parse()?),
            "--settle-seconds" => options.settle_seconds = value()?.parse()?,
            "--give-up-seconds" => options.give_up_seconds = value()?.parse()?,
            "--ws-url" => options.ws_url = Some(value()?),
            "--media-every" => options.media_every = value()?.parse()?,
            "--media" => options.media = value()?.parse()?,
            "--fresh-media" => options.fresh_media = true,
            "--upload-interval-ms" => options.upload_interval_ms = Some(value()?.parse()?),
            "--readers-percent" => options.readers_percent = value()?.parse()?,
            "--senders-percent" => options.senders_percent = value()?.parse()?,
            "--send-interval-ms" => options.send_interval_ms = value()?.parse()?,
            "--sample-seconds" => options.sample_seconds = value()?.parse()?,
            "--metric" => options.metrics.push(value()?),
            "--data-dir" => options.data_dir = Some(value()?),
            "--store" => options.store = Some(value()?),
            "--hold-pid" => options.hold_pids.push(value()?.parse()?),
            "--round-ms" => options.round_ms = value()?.parse()?,
            "--perf-control" => options.perf_control = Some(value()?),
            "--native-link" => options.native_link = true,
            "--hold-file" => options.hold_file = Some(value()?),
            "--help" | "-h" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => anyhow::bail!("unknown option {other}; {USAGE}"),
        }
    }
    anyhow::ensure!(options.users > 0, "--users must be at least 1");
    anyhow::ensure!(
        matches!(
            options.scenario.as_str(),
            "me" | "sessions"
                | "telegrams"
                | "healthz"
                | "chats"
                | "history"
                | "send"
                | "send-accept"
                | "send-media"
                | "search"
                | "search-local"
                | "ws"
                | "ws-media"
                | "ws-idle"
                | "faults"
                | "mix"
                | "link-2fa"
        ),
        "unknown scenario {}; {USAGE}",
        options.scenario
    );
    anyhow::ensure!(
        options.hold_pids.is_empty() || options.scenario == "send-accept",
        "--hold-pid is for send-accept (it stops those processes), not {}",
        options.scenario
    );
    anyhow::ensure!(
        !options.fresh_media || matches!(options.scenario.as_str(), "send-media" | "ws-media"),
        "--fresh-media is for send-media and ws-media, not {}",
        options.scenario
    );
    anyhow::ensure!(
        options.fresh_media || options.upload_interval_ms.is_none(),
        "--upload-interval-ms is for --fresh-media"
    );
    anyhow::ensure!(
        !options.fresh_media || options.scenario != "send-media" || options.interval_ms.is_some(),
        "--fresh-media needs --interval-ms (the files are uploaded before the sends, so \
         their number must be known)"
    );
    anyhow::ensure!(
        !options.native_link || options.scenario == "link-2fa",
        "--native-link is for link-2fa, not {}",
        options.scenario
    );
    anyhow::ensure!(
        options.store.is_none() || bare::Read::of_scenario(&options.scenario).is_some(),
        "--store is for chats and history, not {}",
        options.scenario
    );
    Ok(options)
}

pub(crate) fn mint_token(options: &Options, user_id: uuid::Uuid) -> anyhow::Result<String> {
    let now = chrono::Utc::now().timestamp();
    let claims = serde_json::json!({
        "sub": user_id.to_string(),
        "iss": options.issuer,
        "aud": "authenticated",
        "exp": now + 3600,
        "iat": now,
        "role": "authenticated",
    });
    Ok(jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(options.secret.as_bytes()),
    )?)
}

/// Words of the sandbox's demo messages (`tg-sandbox`'s seed lines), for `search`.
const SEARCH_WORDS: [&str; 8] = [
    "good", "sandbox", "review", "release", "coffee", "notes", "call", "ship",
];

#[derive(Default)]
struct Tally {
    latencies_micros: Vec<u32>,
    failures: u64,
    statuses: std::collections::BTreeMap<u16, u64>,
    /// `--fresh-media`: the user had sent all its files before the end.
    ran_out: bool,
}

/// One user's request: what to send and which status counts as success.
#[derive(Clone)]
struct Request {
    url: String,
    token: Option<String>,
    /// A POST with this JSON body (`{n}` in its `text` becomes a counter), else a GET.
    body: Option<serde_json::Value>,
    /// `send-media`: the body's `file_id`, per send.
    files: Option<setup::Files>,
    success: u16,
}

/// A user's ticks: the first `offset` from now (users spread over the interval), then one
/// every `interval`. A late answer delays the next tick; it never triggers a burst of
/// catch-ups.
pub(crate) fn ticks(offset: Duration, interval: Duration) -> tokio::time::Interval {
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + offset, interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks
}

async fn run_user(
    client: reqwest::Client,
    spec: Request,
    pacing: Option<(Duration, Duration)>,
    warmup_until: Instant,
    stop_at: Instant,
) -> Tally {
    let mut tally = Tally::default();
    let mut ticks = pacing.map(|(offset, interval)| ticks(offset, interval));
    let mut sent: u64 = 0;
    while Instant::now() < stop_at {
        if let Some(ticks) = ticks.as_mut() {
            ticks.tick().await;
        }
        sent += 1;
        let mut request = match &spec.body {
            Some(body) => {
                let mut body = body.clone();
                for field in ["text", "caption", "client_message_id"] {
                    if let Some(text) = body.get(field).and_then(|text| text.as_str()) {
                        body[field] =
                            serde_json::Value::String(text.replace("{n}", &sent.to_string()));
                    }
                }
                if let Some(files) = &spec.files {
                    let index = usize::try_from(sent - 1).unwrap_or(usize::MAX);
                    let Some(file_id) = files.nth(index) else {
                        tally.ran_out = true;
                        break;
                    };
                    body["file_id"] = serde_json::Value::String(file_id.to_owned());
                }
                client.post(&spec.url).json(&body)
            }
            None => client.get(&spec.url),
        };
        if let Some(token) = &spec.token {
            request = request.bearer_auth(token);
        }
        let started = Instant::now();
        let result = request.send().await;
        let outcome = match result {
            Ok(response) => {
                let status = response.status().as_u16();
                // The body is read so the connection goes back to the pool.
                let body_ok = response.bytes().await.is_ok();
                Some((status, body_ok))
            }
            Err(_) => None,
        };
        let elapsed = started.elapsed();
        if started < warmup_until {
            continue;
        }
        match outcome {
            Some((status, true)) => {
                *tally.statuses.entry(status).or_default() += 1;
                if status == spec.success {
                    tally
                        .latencies_micros
                        .push(u32::try_from(elapsed.as_micros()).unwrap_or(u32::MAX));
                } else {
                    tally.failures += 1;
                }
            }
            _ => tally.failures += 1,
        }
    }
    tally
}

pub(crate) fn percentile(sorted: &[u32], fraction: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((sorted.len() as f64) * fraction).ceil() as usize;
    f64::from(sorted[rank.clamp(1, sorted.len()) - 1]) / 1000.0
}

/// What a media scenario's result line says of its files (`media=video fresh`), or nothing.
pub(crate) fn fresh_label(options: &Options) -> String {
    match options.scenario.as_str() {
        "send-media" | "ws-media" => format!(
            " media={}{}",
            options.media.name(),
            if options.fresh_media { " fresh" } else { "" }
        ),
        _ => String::new(),
    }
}

fn account_of(accounts: &[setup::Account], user: usize) -> anyhow::Result<&setup::Account> {
    accounts
        .get(user)
        .with_context(|| format!("user {user} has no prepared account"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // reqwest is built without a TLS crypto provider; an error only means one is
    // installed already, which is as good.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let options = Arc::new(parse_options()?);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(options.users)
        .timeout(Duration::from_secs(10))
        .build()?;
    let accounts = if needs_account(&options.scenario) {
        let setup_started = Instant::now();
        let accounts = setup::prepare_accounts(&client, &options).await?;
        eprintln!(
            "{} users have a linked account with a cached chat list ({:.1} s)",
            accounts.len(),
            setup_started.elapsed().as_secs_f64()
        );
        accounts
    } else {
        Vec::new()
    };
    let photos = if options.scenario == "faults" {
        setup::upload_media(&client, &options, &accounts).await?
    } else {
        Vec::new()
    };
    // What each user of a media scenario sends: its one file again and again, or (with
    // `--fresh-media`) a new one each time, uploaded now.
    let media: Vec<setup::Files> = match options.scenario.as_str() {
        "send-media" | "ws-media" if options.fresh_media => {
            let interval = Duration::from_millis(
                options
                    .interval_ms
                    .unwrap_or(realtime::DEFAULT_INTERVAL_MS)
                    .max(1),
            );
            let window = Duration::from_secs(options.warmup_seconds + options.seconds);
            let per_user = setup::fresh_files_needed(window, interval);
            let upload_interval = options
                .upload_interval_ms
                .map_or(interval, |ms| Duration::from_millis(ms.max(1)));
            setup::upload_fresh(&client, &options, &accounts, per_user, upload_interval).await?
        }
        "send-media" | "ws-media" => setup::upload_media(&client, &options, &accounts)
            .await?
            .into_iter()
            .map(setup::Files::Same)
            .collect(),
        _ => Vec::new(),
    };
    // A run's own idempotency keys (a second run must not find the first's jobs).
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    match options.scenario.as_str() {
        "ws" => return realtime::run_flow(&client, &options, &accounts, None).await,
        "ws-media" => {
            return realtime::run_flow(&client, &options, &accounts, Some(&media)).await;
        }
        "ws-idle" => return realtime::run_idle(&options, &accounts).await,
        "faults" => return faults::run(&client, &options, &accounts, &photos).await,
        "mix" => return mix::run(&client, &options, &accounts).await,
        "send-accept" => return accept::run(&client, &options, &accounts).await,
        "link-2fa" => return link::run(&client, Arc::clone(&options)).await,
        _ => {}
    }
    let started = Instant::now();
    let warmup_until = started + Duration::from_secs(options.warmup_seconds);
    let stop_at = warmup_until + Duration::from_secs(options.seconds);
    let mut tasks = Vec::with_capacity(options.users);
    for user in 0..options.users {
        let pacing = options.interval_ms.map(|interval_ms| {
            let interval = Duration::from_millis(interval_ms.max(1));
            (
                interval * u32::try_from(user).unwrap_or(0)
                    / u32::try_from(options.users).unwrap_or(1),
                interval,
            )
        });
        let user_id = uuid::Uuid::new_v4();
        let get = |path: String, token: Option<String>| Request {
            url: format!("{}{path}", options.url),
            token,
            body: None,
            files: None,
            success: 200,
        };
        let spec = match options.scenario.as_str() {
            "me" => get("/auth/me".to_owned(), Some(mint_token(&options, user_id)?)),
            "sessions" => get(
                format!("/me/sessions/{user_id}"),
                Some(mint_token(&options, user_id)?),
            ),
            // TorexTalkWeb's list of the user's accounts (the compat route), of users with
            // one linked account.
            "telegrams" => get(
                "/me/telegrams".to_owned(),
                Some(account_of(&accounts, user)?.token.clone()),
            ),
            "chats" => {
                let account = account_of(&accounts, user)?;
                get(
                    format!("/me/chats/{}/1?limit=20", account.user_id),
                    Some(account.token.clone()),
                )
            }
            "history" => {
                let account = account_of(&accounts, user)?;
                get(
                    format!(
                        "/me/chat/messages/{}/1/{}?limit=50",
                        account.user_id, account.chat_id
                    ),
                    Some(account.token.clone()),
                )
            }
            "send" => {
                let account = account_of(&accounts, user)?;
                Request {
                    url: format!("{}/me/send_message/{}/1", options.url, account.user_id),
                    token: Some(account.token.clone()),
                    body: Some(serde_json::json!({
                        "chat_id": account.chat_id,
                        "text": format!("load from user {user}, message {{n}}"),
                    })),
                    files: None,
                    success: 202,
                }
            }
            "send-media" => {
                let account = account_of(&accounts, user)?;
                Request {
                    url: format!("{}/me/send_media/{}/1", options.url, account.user_id),
                    token: Some(account.token.clone()),
                    body: Some(serde_json::json!({
                        "chat_id": account.chat_id,
                        "caption": format!("load from user {user}, photo {{n}}"),
                        "client_message_id": format!("lg-{run_id}-{user}-{{n}}"),
                    })),
                    files: Some(media.get(user).context("no file uploaded")?.clone()),
                    success: 202,
                }
            }
            "search" => {
                let account = account_of(&accounts, user)?;
                get(
                    format!(
                        "/me/search/messages/{}/1?q={}&limit=20",
                        account.user_id,
                        SEARCH_WORDS[user % SEARCH_WORDS.len()]
                    ),
                    Some(account.token.clone()),
                )
            }
            "search-local" => {
                let account = account_of(&accounts, user)?;
                get(
                    format!(
                        "/me/search/messages/{}/1?chat_id={}&limit=20",
                        account.user_id, account.chat_id
                    ),
                    Some(account.token.clone()),
                )
            }
            _ => get("/healthz".to_owned(), None),
        };
        tasks.push(tokio::spawn(run_user(
            client.clone(),
            spec,
            pacing,
            warmup_until,
            stop_at,
        )));
    }
    // `--store`: the read's store calls timed directly, in the same window.
    let bare_reads = match (&options.store, bare::Read::of_scenario(&options.scenario)) {
        (Some(url), Some(read)) => {
            let store = bare::open(url).await?;
            Some(tokio::spawn(bare::run(
                store,
                read,
                Arc::new(accounts.clone()),
                warmup_until,
                stop_at,
            )))
        }
        _ => None,
    };
    let cpu_window = cpu::window(options.watch.clone(), warmup_until, stop_at);
    let mut total = Tally::default();
    let mut ran_out = 0;
    for task in tasks {
        let tally = task.await?;
        ran_out += usize::from(tally.ran_out);
        total.latencies_micros.extend(tally.latencies_micros);
        total.failures += tally.failures;
        for (status, count) in tally.statuses {
            *total.statuses.entry(status).or_default() += count;
        }
    }
    total.latencies_micros.sort_unstable();
    let ok = total.latencies_micros.len();
    let measured_secs = options.seconds as f64;
    println!(
        "scenario={}{} users={} interval_ms={} seconds={} ok={} failed={} throughput={:.0}/s p50={:.2}ms p90={:.2}ms p99={:.2}ms max={:.2}ms statuses={:?}{}",
        options.scenario,
        fresh_label(&options),
        options.users,
        options
            .interval_ms
            .map_or_else(|| "closed-loop".to_owned(), |ms| ms.to_string()),
        options.seconds,
        ok,
        total.failures,
        ok as f64 / measured_secs,
        percentile(&total.latencies_micros, 0.50),
        percentile(&total.latencies_micros, 0.90),
        percentile(&total.latencies_micros, 0.99),
        percentile(&total.latencies_micros, 1.0),
        total.statuses,
        if options.fresh_media {
            format!(" users_out_of_files={ran_out}")
        } else {
            String::new()
        },
    );
    if let Some(bare_reads) = bare_reads {
        let bare = bare_reads.await?;
        let read_p50 = percentile(&total.latencies_micros, 0.50);
        let bare_p50 = percentile(&bare.latencies_micros, 0.50);
        println!(
            "bare store reads (the same store calls, direct, one at a time) n={} failed={} p50={:.2}ms p99={:.2}ms; the request's p50 over theirs: {:.1}x",
            bare.latencies_micros.len(),
            bare.failures,
            bare_p50,
            percentile(&bare.latencies_micros, 0.99),
            read_p50 / bare_p50,
        );
    }
    let (before, after) = cpu_window.await?;
    println!(
        "{}",
        cpu::report(&before, &after, ok, Duration::from_secs(options.seconds))
    );
    anyhow::ensure!(ok > 0, "no request succeeded");
    Ok(())
}
