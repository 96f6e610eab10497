//! `--scenario send-accept`: the CPU of a text send's acceptance alone (the 202 of
//! `POST /me/send_message`), without the job's execution through Telegram and both sides'
//! updates, which the `send` scenario's figure includes (issue 14's goal: the 202 ≤ 400 µs).
//!
//! The Telegram side (`--hold-pid`: the sandbox's process) is stopped (`SIGSTOP`) for each
//! round, so the backend accepts sends exactly as in production but cannot take them
//! further. A round:
//!
//! 1. The sandbox is stopped.
//! 2. Warm-up, one `--interval-ms` long: every user sends once (users spread evenly over
//!    the interval). Its account's send worker claims that job and hands it to Telegram,
//!    where it waits for the answer; the worker takes nothing more until then.
//! 3. The window, `--round-ms` long (2 s by default): every user sends every `--interval-ms`; each
//!    202 is a job written, announced on the shard's queue and handed to its (waiting)
//!    worker: what a send costs before Telegram is asked. The watched processes' CPU over
//!    the windows, divided by the 202s in them, is the line's CPU per request.
//! 4. The sandbox is continued (`SIGCONT`); every job of the round is followed until it is
//!    `sent`, and the backend is left to settle before the next round.
//!
//! A round is kept shorter than the send relay's interval (5 s: jobs older than that
//! still waiting are announced again, work that a send whose Telegram answers does not
//! cause), so the interval and the window together must fit in 4 s. `--seconds` is the
//! measured time in all, in rounds of `--round-ms`.
//!
//! With `--perf-control FIFO` (a `perf record --control fifo:FIFO -D -1` waiting on it)
//! the profiler is enabled for the windows only (`PROFILE=1` in the bench scripts).
//!
//! After the last round each user's history is read back: every accepted text must be
//! there exactly once and every job `sent`; the scenario fails otherwise (`lost`,
//! `doubled`, `unsent`, `failed_jobs`). A text found that the client never saw accepted
//! (its answer lost) is counted (`sent_unaccepted`) without failing the run.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures::StreamExt as _;

use crate::faults::{JobEnd, delivered, settle_job};
use crate::setup::Account;
use crate::{Options, cpu, percentile};

/// The send relay's interval (`SendOptions::relay_interval`): a warm-up and window must
/// end a second before a job of theirs is that old.
const RELAY_INTERVAL: Duration = Duration::from_secs(5);

/// How long the backend is left after a round's jobs are all sent (the peers' updates of
/// the last ones) before the next round stops the sandbox.
const SETTLE_BETWEEN_ROUNDS: Duration = Duration::from_secs(3);

/// Stops processes and continues them when dropped (also on an error), so a failed run
/// never leaves the sandbox stopped.
struct Held<'a> {
    pids: &'a [u32],
}

/// Sends signal `name` (`STOP`, `CONT`) to `pid`.
fn signal(name: &str, pid: u32) -> anyhow::Result<()> {
    let status = std::process::Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .with_context(|| format!("kill -{name} {pid}"))?;
    anyhow::ensure!(status.success(), "kill -{name} {pid}: {status}");
    Ok(())
}

impl<'a> Held<'a> {
    fn stop(pids: &'a [u32]) -> anyhow::Result<Self> {
        let held = Self { pids };
        for pid in pids {
            signal("STOP", *pid)?;
        }
        Ok(held)
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        for pid in self.pids {
            if let Err(error) = signal("CONT", *pid) {
                eprintln!("send-accept: cannot continue {pid}: {error:#}");
            }
        }
    }
}

/// One accepted send.
struct Accepted {
    user: usize,
    seq: u64,
    job_id: String,
}

/// What one user saw in one round.
#[derive(Default)]
struct UserRound {
    accepted: Vec<Accepted>,
    /// Latencies of the window's 202s (µs).
    latencies_micros: Vec<u32>,
    /// Statuses of the window's answers.
    statuses: BTreeMap<u16, u64>,
    /// The window's requests without a 202 (another status, or none).
    failures: u64,
}

/// The text of `user`'s send number `seq` in run `run` (`faults::delivered` reads it back).
fn text_of(run: &str, user: usize, seq: u64) -> String {
    format!("accept {run} u{user} #{seq}")
}

fn prefix_of(run: &str) -> String {
    format!("accept {run} u")
}

/// One user's sends in one round: from `offset` every `interval` until `stop_at`; those
/// that start from `window_from` on are the window's. `seq` numbers the user's sends
/// over the whole run.
async fn user_round(
    client: reqwest::Client,
    (url, token, chat_id): (String, String, String),
    (user, run): (usize, String),
    mut seq: u64,
    (offset, interval): (Duration, Duration),
    window_from: Instant,
    stop_at: Instant,
) -> (UserRound, u64) {
    let mut round = UserRound::default();
    let mut ticks = crate::ticks(offset, interval);
    loop {
        // No send after the window (its CPU is no longer counted), nor a wait for a tick
        // after it (the sandbox stays stopped until every user is done).
        if tokio::time::timeout_at(stop_at.into(), ticks.tick())
            .await
            .is_err()
        {
            break;
        }
        let started = Instant::now();
        if started >= stop_at {
            break;
        }
        seq += 1;
        let answer = client
            .post(&url)
            .bearer_auth(&token)
            .json(&serde_json::json!({ "chat_id": chat_id, "text": text_of(&run, user, seq) }))
            .send()
            .await;
        let elapsed = started.elapsed();
        let in_window = started >= window_from;
        let (status, job_id) = match answer {
            Ok(answer) => {
                let status = answer.status().as_u16();
                let body = answer.json::<serde_json::Value>().await.ok();
                let job_id = body
                    .as_ref()
                    .and_then(|body| body["job_id"].as_str())
                    .map(str::to_owned);
                (Some(status), job_id)
            }
            Err(_) => (None, None),
        };
        if let (Some(202), Some(job_id)) = (status, &job_id) {
            round.accepted.push(Accepted {
                user,
                seq,
                job_id: job_id.clone(),
            });
        }
        if !in_window {
            continue;
        }
        if let Some(status) = status {
            *round.statuses.entry(status).or_default() += 1;
        }
        match (status, job_id) {
            (Some(202), Some(_)) => round
                .latencies_micros
                .push(u32::try_from(elapsed.as_micros()).unwrap_or(u32::MAX)),
            _ => round.failures += 1,
        }
    }
    (round, seq)
}

/// Runs the rounds, then checks that every accepted send went out exactly once.
pub(crate) async fn run(
    client: &reqwest::Client,
    options: &Options,
    accounts: &[Account],
) -> anyhow::Result<()> {
    anyhow::ensure!(
        !options.hold_pids.is_empty(),
        "send-accept needs --hold-pid (the Telegram sandbox's process, stopped in each round)"
    );
    let interval = Duration::from_millis(options.interval_ms.unwrap_or(2000).max(1));
    let window = Duration::from_millis(options.round_ms.max(1));
    anyhow::ensure!(
        interval + window + Duration::from_secs(1) <= RELAY_INTERVAL,
        "send-accept: --interval-ms ({} ms) and --round-ms ({} ms) must fit in {} ms \
         (the send relay announces jobs again after {} s)",
        interval.as_millis(),
        window.as_millis(),
        (RELAY_INTERVAL - Duration::from_secs(1)).as_millis(),
        RELAY_INTERVAL.as_secs()
    );
    let rounds = u32::try_from(
        (options.seconds * 1000)
            .div_ceil(u64::try_from(window.as_millis()).unwrap_or(u64::MAX))
            .max(1),
    )
    .unwrap_or(u32::MAX);
    let run = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let users = accounts.len();
    let mut seqs = vec![0_u64; users];
    let mut accepted: Vec<Accepted> = Vec::new();
    let mut latencies: Vec<u32> = Vec::new();
    let mut statuses: BTreeMap<u16, u64> = BTreeMap::new();
    let mut failures = 0_u64;
    let mut windows = Vec::with_capacity(rounds as usize);
    let mut failed_jobs = 0_usize;
    let mut unsent = 0_usize;
    let mut drain_ms: Vec<u32> = Vec::new();
    let watched = cpu::resolve(&options.watch);
    let mut perf = options
        .perf_control
        .as_ref()
        .map(|path| {
            std::fs::OpenOptions::new()
                .write(true)
                .open(path)
                .with_context(|| format!("opening perf's control {path}"))
        })
        .transpose()?;
    let mut tell_perf = |command: &str| -> anyhow::Result<()> {
        if let Some(perf) = perf.as_mut() {
            use std::io::Write as _;
            perf.write_all(command.as_bytes())
                .and_then(|()| perf.flush())
                .context("telling perf")?;
        }
        Ok(())
    };
    for round in 0..rounds {
        let round_accepted = {
            let held = Held::stop(&options.hold_pids)?;
            let started = Instant::now();
            let window_from = started + interval;
            let stop_at = window_from + window;
            let mut tasks = Vec::with_capacity(users);
            for (user, account) in accounts.iter().enumerate() {
                let offset =
                    interval * u32::try_from(user).unwrap_or(0) / u32::try_from(users).unwrap_or(1);
                tasks.push(tokio::spawn(user_round(
                    client.clone(),
                    (
                        format!("{}/me/send_message/{}/1", options.url, account.user_id),
                        account.token.clone(),
                        account.chat_id.clone(),
                    ),
                    (user, run.clone()),
                    seqs[user],
                    (offset, interval),
                    window_from,
                    stop_at,
                )));
            }
            tokio::time::sleep_until(window_from.into()).await;
            let before = cpu::sample(&watched);
            tell_perf("enable\n")?;
            tokio::time::sleep_until(stop_at.into()).await;
            let after = cpu::sample(&watched);
            tell_perf("disable\n")?;
            windows.push((before, after));
            let mut round_accepted = Vec::new();
            for (user, task) in tasks.into_iter().enumerate() {
                let (user_round, seq) = task.await?;
                seqs[user] = seq;
                latencies.extend(user_round.latencies_micros);
                failures += user_round.failures;
                for (status, count) in user_round.statuses {
                    *statuses.entry(status).or_default() += count;
                }
                round_accepted.extend(user_round.accepted);
            }
            // The sandbox goes on here (`held` dropped).
            drop(held);
            round_accepted
        };
        // Every job of the round, followed until it is sent (16 at a time).
        let drain_started = Instant::now();
        let deadline = drain_started + Duration::from_secs(options.settle_seconds);
        let ends: Vec<JobEnd> = futures::stream::iter(&round_accepted)
            .map(|job| {
                let account = &accounts[job.user];
                let user_id = account.user_id.to_string();
                async move {
                    settle_job(
                        client,
                        &options.url,
                        &user_id,
                        &account.token,
                        &job.job_id,
                        deadline,
                    )
                    .await
                }
            })
            .buffer_unordered(16)
            .collect()
            .await;
        for end in &ends {
            match end {
                JobEnd::Sent(_) => {}
                JobEnd::Failed => failed_jobs += 1,
                JobEnd::Pending => unsent += 1,
            }
        }
        drain_ms.push(u32::try_from(drain_started.elapsed().as_millis()).unwrap_or(u32::MAX));
        eprintln!(
            "send-accept round {}/{rounds}: {} accepted, all followed in {} ms",
            round + 1,
            round_accepted.len(),
            drain_started.elapsed().as_millis()
        );
        accepted.extend(round_accepted);
        tokio::time::sleep(SETTLE_BETWEEN_ROUNDS).await;
    }

    // Each user's history: its accepted texts, each exactly once.
    let prefix = prefix_of(&run);
    let mut by_user: HashMap<usize, Vec<u64>> = HashMap::new();
    for job in &accepted {
        by_user.entry(job.user).or_default().push(job.seq);
    }
    // Read again until complete or the settling time is over: a sender's copy of its
    // message comes through its own update stream, which may still be catching up.
    let deadline = Instant::now() + Duration::from_secs(options.settle_seconds);
    let (lost, doubled, ghosts) = loop {
        let (mut lost, mut doubled, mut ghosts) = (0_usize, 0_usize, 0_usize);
        for (user, account) in accounts.iter().enumerate() {
            let found = delivered(client, &options.url, account, &prefix, users)
                .await
                .with_context(|| format!("reading user {user}'s history"))?;
            let mut copies: BTreeMap<u64, u32> = BTreeMap::new();
            for (_, seq) in found.get(&user).map(Vec::as_slice).unwrap_or_default() {
                *copies.entry(*seq).or_default() += 1;
            }
            let mine = by_user.get(&user).map(Vec::as_slice).unwrap_or_default();
            lost += mine.iter().filter(|seq| !copies.contains_key(seq)).count();
            doubled += copies.values().filter(|count| **count > 1).count();
            ghosts += copies.keys().filter(|seq| !mine.contains(seq)).count();
        }
        if (lost == 0 && doubled == 0) || Instant::now() > deadline {
            break (lost, doubled, ghosts);
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    };

    latencies.sort_unstable();
    drain_ms.sort_unstable();
    let ok = latencies.len();
    let measured = window * rounds;
    println!(
        "scenario=send-accept users={users} interval_ms={} seconds={:.1} rounds={rounds} ok={ok} failed={failures} throughput={:.0}/s p50={:.2}ms p90={:.2}ms p99={:.2}ms max={:.2}ms statuses={statuses:?}",
        interval.as_millis(),
        measured.as_secs_f64(),
        ok as f64 / measured.as_secs_f64(),
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.90),
        percentile(&latencies, 0.99),
        percentile(&latencies, 1.0),
    );
    let (before, after) = cpu::sum(&windows);
    println!("{}", cpu::report(&before, &after, ok, measured));
    println!(
        "send-accept check: accepted={} lost={lost} doubled={doubled} sent_unaccepted={ghosts} failed_jobs={failed_jobs} unsent={unsent} round_drain_p50_ms={:.0} max_ms={:.0}",
        accepted.len(),
        percentile(&drain_ms, 0.5) * 1000.0,
        percentile(&drain_ms, 1.0) * 1000.0,
    );
    anyhow::ensure!(ok > 0, "no send was accepted in the windows");
    anyhow::ensure!(
        lost == 0 && doubled == 0 && failed_jobs == 0 && unsent == 0,
        "sends broke: {lost} lost, {doubled} doubled, {failed_jobs} failed, {unsent} unsent"
    );
    Ok(())
}
