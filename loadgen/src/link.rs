//! `link-2fa`: linking a Telegram account with two-step verification, again and again.
//!
//! Each link is a new user (a fresh id and token) linking the sandbox's demo 2FA account
//! (`+9996620002`, code `22222`, password `sandbox-2fa`; many TalkApp users may link one
//! Telegram account): the TorexTalkWeb routes (`POST /start_login`, `/verify_code`,
//! `/verify_password`), or with `--native-link` the native ones
//! (`POST /me/sessions/{user_id}`, `.../login/{login_id}/code`, `.../password`). Each
//! user starts one link per `--interval-ms` (or the next as soon as one ends). Each step
//! is timed; the CPU line is per link (its three steps and the new account's first
//! connection and sync by its host, which run meanwhile).
//!
//! Beside the links, a probe asks `GET /me/sessions/{user_id}` of a user of its own every
//! 20 ms: a cheap call through the chat service, whose latency shows whether anything the
//! links do holds up the runtime everything else runs on (a password's proof takes about
//! 80 ms of CPU).
//!
//! When the window is over every account the run linked is unlinked again (outside the
//! CPU window), so that the next run starts from the same state.

use std::time::{Duration, Instant};

use futures::StreamExt as _;
use serde_json::{Value, json};

use crate::{Options, cpu, mint_token, percentile};

/// The sandbox's demo account with a password (`talkapp_tg_sandbox::DEMO_2FA_PHONE`).
const PHONE: &str = "+9996620002";
/// Its login code.
const CODE: &str = "22222";
/// Its 2FA password (`talkapp_tg_sandbox::DEMO_2FA_PASSWORD`).
const PASSWORD: &str = "sandbox-2fa";
/// How often the probe asks.
const PROBE_INTERVAL: Duration = Duration::from_millis(20);

/// The steps of one link, in microseconds, and what it linked.
struct Link {
    start: u32,
    code: u32,
    password: u32,
    total: u32,
    user_id: uuid::Uuid,
    token: String,
    session_index: u64,
}

/// One user's links in the window.
#[derive(Default)]
struct Tally {
    links: Vec<Link>,
    /// Links started in the window that failed, by step and status (0: no answer).
    failures: std::collections::BTreeMap<String, u64>,
    /// Accounts linked outside the window (to unlink too).
    others: Vec<(uuid::Uuid, String, u64)>,
}

fn micros(elapsed: Duration) -> u32 {
    u32::try_from(elapsed.as_micros()).unwrap_or(u32::MAX)
}

/// Posts `body`; the status and the JSON answer, or why there was none, and how long it
/// took.
async fn post(
    client: &reqwest::Client,
    url: String,
    token: &str,
    body: Value,
) -> (Result<(u16, Value), String>, Duration) {
    let started = Instant::now();
    let outcome = answer(client, url, token, body).await;
    (outcome, started.elapsed())
}

/// One POST: its status and JSON answer (`null` when it is not JSON), or the error.
async fn answer(
    client: &reqwest::Client,
    url: String,
    token: &str,
    body: Value,
) -> Result<(u16, Value), String> {
    let response = client
        .post(url)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .map_err(|error| error.to_string())?;
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    Ok((status, body))
}

/// A failed step: its name and status (0 when nothing came back).
fn failed(step: &str, outcome: &Result<(u16, Value), String>) -> String {
    match outcome {
        Ok((status, body)) => format!("{step}:{status}:{}", body["code"].as_str().unwrap_or("")),
        Err(_) => format!("{step}:0"),
    }
}

/// One link by a new user, each step timed.
async fn link_once(
    client: &reqwest::Client,
    options: &Options,
    native: bool,
) -> Result<Link, String> {
    let user_id = uuid::Uuid::new_v4();
    let token = mint_token(options, user_id).map_err(|error| error.to_string())?;
    let base = &options.url;
    let begun = Instant::now();
    let (start, code, password, session_index) = if native {
        let (outcome, start) = post(
            client,
            format!("{base}/me/sessions/{user_id}"),
            &token,
            json!({ "phone": PHONE }),
        )
        .await;
        let login_id = match &outcome {
            Ok((201, body)) => body["login_id"].as_str().unwrap_or_default().to_owned(),
            _ => return Err(failed("start", &outcome)),
        };
        let (outcome, code) = post(
            client,
            format!("{base}/me/sessions/{user_id}/login/{login_id}/code"),
            &token,
            json!({ "code": CODE }),
        )
        .await;
        if !matches!(&outcome, Ok((200, body)) if body["next"] == "password") {
            return Err(failed("code", &outcome));
        }
        let (outcome, password) = post(
            client,
            format!("{base}/me/sessions/{user_id}/login/{login_id}/password"),
            &token,
            json!({ "password": PASSWORD }),
        )
        .await;
        let index = match &outcome {
            Ok((201, body)) => body["session_index"].as_u64(),
            _ => None,
        };
        let Some(index) = index else {
            return Err(failed("password", &outcome));
        };
        (start, code, password, index)
    } else {
        let (outcome, start) = post(
            client,
            format!("{base}/start_login"),
            &token,
            json!({ "phone_number": PHONE }),
        )
        .await;
        if !matches!(&outcome, Ok((200, body)) if body["ok"] == true) {
            return Err(failed("start", &outcome));
        }
        let (outcome, code) = post(
            client,
            format!("{base}/verify_code"),
            &token,
            json!({ "phone_number": PHONE, "code": CODE }),
        )
        .await;
        if !matches!(&outcome, Ok((200, body)) if body["status"] == "PASSWORD_REQUIRED") {
            return Err(failed("code", &outcome));
        }
        let (outcome, password) = post(
            client,
            format!("{base}/verify_password"),
            &token,
            json!({ "phone_number": PHONE, "password": PASSWORD }),
        )
        .await;
        let index = match &outcome {
            Ok((200, body)) if body["status"] == "LOGGED_IN" => body["account_index"].as_u64(),
            _ => None,
        };
        let Some(index) = index else {
            return Err(failed("password", &outcome));
        };
        (start, code, password, index)
    };
    Ok(Link {
        start: micros(start),
        code: micros(code),
        password: micros(password),
        total: micros(begun.elapsed()),
        user_id,
        token,
        session_index,
    })
}

async fn run_user(
    client: reqwest::Client,
    options: std::sync::Arc<Options>,
    native: bool,
    pacing: Option<(Duration, Duration)>,
    warmup_until: Instant,
    stop_at: Instant,
) -> Tally {
    let mut tally = Tally::default();
    let mut ticks = pacing.map(|(offset, interval)| crate::ticks(offset, interval));
    loop {
        if let Some(ticks) = ticks.as_mut() {
            ticks.tick().await;
        }
        let begun = Instant::now();
        if begun >= stop_at {
            break;
        }
        let counted = begun >= warmup_until;
        match link_once(&client, &options, native).await {
            Ok(link) if counted => tally.links.push(link),
            Ok(link) => tally
                .others
                .push((link.user_id, link.token, link.session_index)),
            Err(failure) if counted => *tally.failures.entry(failure).or_default() += 1,
            Err(_) => {}
        }
    }
    tally
}

/// `GET /me/sessions/{user_id}` every [`PROBE_INTERVAL`] in the window: latencies in
/// microseconds, and failures.
async fn probe(
    client: reqwest::Client,
    options: std::sync::Arc<Options>,
    warmup_until: Instant,
    stop_at: Instant,
) -> anyhow::Result<(Vec<u32>, u64)> {
    let user_id = uuid::Uuid::new_v4();
    let token = mint_token(&options, user_id)?;
    let url = format!("{}/me/sessions/{user_id}", options.url);
    let mut ticks = tokio::time::interval_at(warmup_until.into(), PROBE_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut latencies = Vec::new();
    let mut failures = 0;
    loop {
        ticks.tick().await;
        if Instant::now() >= stop_at {
            break;
        }
        let started = Instant::now();
        let ok = match client.get(&url).bearer_auth(&token).send().await {
            Ok(response) => response.status() == 200 && response.bytes().await.is_ok(),
            Err(_) => false,
        };
        if ok {
            latencies.push(micros(started.elapsed()));
        } else {
            failures += 1;
        }
    }
    latencies.sort_unstable();
    Ok((latencies, failures))
}

fn summary(name: &str, sorted: &[u32]) -> String {
    format!(
        "{name} p50={:.1}ms p99={:.1}ms max={:.1}ms",
        percentile(sorted, 0.50),
        percentile(sorted, 0.99),
        percentile(sorted, 1.0)
    )
}

/// Runs `link-2fa` and prints its lines.
pub(crate) async fn run(
    client: &reqwest::Client,
    options: std::sync::Arc<Options>,
) -> anyhow::Result<()> {
    let native = options.native_link;
    let started = Instant::now();
    let warmup_until = started + Duration::from_secs(options.warmup_seconds);
    let stop_at = warmup_until + Duration::from_secs(options.seconds);
    let users = options.users;
    let tasks: Vec<_> = (0..users)
        .map(|user| {
            let pacing = options.interval_ms.map(|interval_ms| {
                let interval = Duration::from_millis(interval_ms.max(1));
                (
                    interval * u32::try_from(user).unwrap_or(0) / u32::try_from(users).unwrap_or(1),
                    interval,
                )
            });
            tokio::spawn(run_user(
                client.clone(),
                std::sync::Arc::clone(&options),
                native,
                pacing,
                warmup_until,
                stop_at,
            ))
        })
        .collect();
    let probe = tokio::spawn(probe(
        client.clone(),
        std::sync::Arc::clone(&options),
        warmup_until,
        stop_at,
    ));
    let cpu_window = cpu::window(options.watch.clone(), warmup_until, stop_at);
    let mut links = Vec::new();
    let mut failures = std::collections::BTreeMap::<String, u64>::new();
    let mut linked = Vec::new();
    for task in tasks {
        let tally = task.await?;
        for (failure, count) in tally.failures {
            *failures.entry(failure).or_default() += count;
        }
        linked.extend(tally.others);
        links.extend(tally.links);
    }
    let (probe_latencies, probe_failures) = probe.await??;
    let (before, after) = cpu_window.await?;
    // Links started in the window (as other scenarios count requests sent in it).
    let in_window = links.len();
    let sorted = |step: fn(&Link) -> u32| {
        let mut values: Vec<u32> = links.iter().map(step).collect();
        values.sort_unstable();
        values
    };
    println!(
        "scenario=link-2fa route={} users={users} interval_ms={} seconds={} links={} failed={} throughput={:.2}/s {}; {}; {}; {} failures={failures:?}",
        if native { "native" } else { "torextalkweb" },
        options
            .interval_ms
            .map_or_else(|| "closed-loop".to_owned(), |ms| ms.to_string()),
        options.seconds,
        links.len(),
        failures.values().sum::<u64>(),
        links.len() as f64 / options.seconds as f64,
        summary("link", &sorted(|link| link.total)),
        summary("start", &sorted(|link| link.start)),
        summary("code", &sorted(|link| link.code)),
        summary("password", &sorted(|link| link.password)),
    );
    println!(
        "probe (GET /me/sessions every {} ms beside the links) n={} failed={probe_failures} {}",
        PROBE_INTERVAL.as_millis(),
        probe_latencies.len(),
        summary("latency", &probe_latencies),
    );
    println!(
        "{} (per link)",
        cpu::report(
            &before,
            &after,
            in_window,
            Duration::from_secs(options.seconds)
        )
    );
    // Unlinked again, so that the sandbox's account and the store are as before the run.
    linked.extend(
        links
            .into_iter()
            .map(|link| (link.user_id, link.token, link.session_index)),
    );
    let base = options.url.clone();
    let unlinked = futures::stream::iter(linked)
        .map(|(user_id, token, index)| {
            let request = client
                .delete(format!("{base}/me/sessions/{user_id}/{index}"))
                .bearer_auth(token);
            async move {
                request
                    .send()
                    .await
                    .is_ok_and(|response| response.status() == 204)
            }
        })
        .buffer_unordered(8)
        .collect::<Vec<bool>>()
        .await;
    eprintln!(
        "link-2fa: {} of {} linked accounts unlinked again",
        unlinked.iter().filter(|ok| **ok).count(),
        unlinked.len()
    );
    anyhow::ensure!(!unlinked.is_empty(), "no link succeeded");
    Ok(())
}
