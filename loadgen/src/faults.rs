//! `--scenario faults`: the load of the fault suite (`scripts/fault-suite.sh`). Each user
//! sends a numbered text to its private chat every `--interval-ms` (1,000 by default) and
//! reads its chat list after each send, while the suite kills a service or restarts a
//! server. A send that fails is tried again with the same `client_message_id` every half
//! second, as a client should, for up to `--give-up-seconds`. Then, once the load is over,
//! every accepted send is followed until `sent` (for up to `--settle-seconds`) and each
//! user's history is read back: every accepted text must be there once, in the order it
//! was sent. One `fault=...` line reports what clients saw and what was delivered.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures::StreamExt as _;
use serde_json::{Value, json};

use crate::Options;
use crate::setup::Account;

/// How long one request may take before the client counts it as a hang.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// The pause before a failed send is tried again.
const RETRY_PAUSE: Duration = Duration::from_millis(500);

/// What one request saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    Ok,
    /// An HTTP status other than the expected one.
    Status(u16),
    /// No answer within [`REQUEST_TIMEOUT`].
    Timeout,
    /// No connection (refused or reset).
    Unreachable,
}

impl Outcome {
    fn label(self) -> String {
        match self {
            Self::Ok => "ok".to_owned(),
            Self::Status(status) => status.to_string(),
            Self::Timeout => "timeout".to_owned(),
            Self::Unreachable => "unreachable".to_owned(),
        }
    }
}

/// One request, timed from the start of the run.
struct Attempt {
    /// When it ended, from the start of the run.
    ended: Duration,
    outcome: Outcome,
}

/// An accepted send.
struct Accepted {
    seq: u64,
    job_id: String,
    accepted_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Default)]
struct UserLog {
    sends: Vec<Attempt>,
    reads: Vec<Attempt>,
    accepted: Vec<Accepted>,
    given_up: u64,
    attempted: u64,
}

async fn request(
    builder: reqwest::RequestBuilder,
    expected: u16,
    started_run: Instant,
) -> (Attempt, Option<Value>) {
    let result = builder.timeout(REQUEST_TIMEOUT).send().await;
    let (outcome, body) = match result {
        Ok(response) => {
            let status = response.status().as_u16();
            let body = response.json::<Value>().await.ok();
            if status == expected {
                (Outcome::Ok, body)
            } else {
                (Outcome::Status(status), body)
            }
        }
        Err(error) if error.is_timeout() => (Outcome::Timeout, None),
        Err(_) => (Outcome::Unreachable, None),
    };
    (
        Attempt {
            ended: started_run.elapsed(),
            outcome,
        },
        body,
    )
}

fn text_of(run: &str, user: usize, seq: u64) -> String {
    format!("fault {run} u{user} #{seq}")
}

/// One user's part of the run.
struct UserPlan {
    client: reqwest::Client,
    base: String,
    user_id: String,
    token: String,
    chat_id: String,
    user: usize,
    run: String,
    /// The first send's delay, and the pause between sends.
    pacing: (Duration, Duration),
    started_run: Instant,
    stop_at: Instant,
    give_up: Duration,
}

async fn run_user(plan: UserPlan) -> UserLog {
    let UserPlan {
        client,
        base,
        user_id,
        token,
        chat_id,
        user,
        run,
        pacing,
        started_run,
        stop_at,
        give_up,
    } = plan;
    let mut log = UserLog::default();
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + pacing.0, pacing.1);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut seq = 0;
    while Instant::now() < stop_at {
        ticks.tick().await;
        seq += 1;
        log.attempted += 1;
        let body = json!({
            "chat_id": chat_id,
            "text": text_of(&run, user, seq),
            "client_message_id": format!("fault-{run}-{user}-{seq}"),
        });
        let first_try = Instant::now();
        loop {
            let (attempt, answer) = request(
                client
                    .post(format!("{base}/me/send_message/{user_id}/1"))
                    .bearer_auth(&token)
                    .json(&body),
                202,
                started_run,
            )
            .await;
            let outcome = attempt.outcome;
            log.sends.push(attempt);
            // A retry of an accepted send answers 200 with the first job.
            let job_id = answer
                .as_ref()
                .and_then(|answer| answer["job_id"].as_str())
                .map(str::to_owned);
            match (outcome, job_id) {
                (Outcome::Ok | Outcome::Status(200), Some(job_id)) => {
                    log.accepted.push(Accepted {
                        seq,
                        job_id,
                        accepted_at: chrono::Utc::now(),
                    });
                    break;
                }
                // Refused for good (bad request, not allowed): not tried again.
                (Outcome::Status(status), _)
                    if (400..500).contains(&status) && status != 408 && status != 429 =>
                {
                    log.given_up += 1;
                    break;
                }
                _ => {
                    if first_try.elapsed() > give_up {
                        log.given_up += 1;
                        break;
                    }
                    tokio::time::sleep(RETRY_PAUSE).await;
                }
            }
        }
        let (attempt, _) = request(
            client
                .get(format!("{base}/me/chats/{user_id}/1?limit=20"))
                .bearer_auth(&token),
            200,
            started_run,
        )
        .await;
        log.reads.push(attempt);
    }
    log
}

/// Follows a job until it is `sent` (its Telegram send time) or `failed`.
async fn settle_job(
    client: &reqwest::Client,
    base: &str,
    user_id: &str,
    token: &str,
    job_id: &str,
    deadline: Instant,
) -> JobEnd {
    loop {
        let answer = client
            .get(format!("{base}/me/message_status/{user_id}/1/{job_id}"))
            .bearer_auth(token)
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await;
        if let Ok(answer) = answer
            && answer.status().as_u16() == 200
            && let Ok(job) = answer.json::<Value>().await
        {
            match job["status"].as_str() {
                Some("sent") => {
                    let sent_at = job["sent_at"]
                        .as_str()
                        .and_then(|at| chrono::DateTime::parse_from_rfc3339(at).ok())
                        .map(|at| at.with_timezone(&chrono::Utc));
                    return JobEnd::Sent(sent_at);
                }
                Some("failed") => return JobEnd::Failed,
                _ => {}
            }
        }
        if Instant::now() > deadline {
            return JobEnd::Pending;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

enum JobEnd {
    Sent(Option<chrono::DateTime<chrono::Utc>>),
    Failed,
    Pending,
}

/// The sequence numbers of `user`'s texts of this run in the history of its chat, oldest
/// first (by message id).
async fn delivered(
    client: &reqwest::Client,
    base: &str,
    account: &Account,
    run: &str,
    users: usize,
) -> anyhow::Result<HashMap<usize, Vec<(i64, u64)>>> {
    let prefix = format!("fault {run} u");
    let mut found: HashMap<usize, Vec<(i64, u64)>> = HashMap::new();
    let mut cursor: Option<String> = None;
    // Newest first; a page without any text of this run ends the walk.
    for _ in 0..1000 {
        let mut url = format!(
            "{base}/me/chat/messages/{}/1/{}?limit=100",
            account.user_id, account.chat_id
        );
        if let Some(cursor) = &cursor {
            url.push_str(&format!("&before={cursor}"));
        }
        let page: Value = client
            .get(url)
            .bearer_auth(&account.token)
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .context("history")?
            .error_for_status()
            .context("history")?
            .json()
            .await?;
        let messages = page["messages"].as_array().cloned().unwrap_or_default();
        let mut of_this_run = 0;
        for message in &messages {
            let Some(rest) = message["text"]
                .as_str()
                .and_then(|text| text.strip_prefix(&prefix))
            else {
                continue;
            };
            of_this_run += 1;
            let Some((user, seq)) = rest.split_once(" #") else {
                continue;
            };
            let (Ok(user), Ok(seq)) = (user.parse::<usize>(), seq.parse::<u64>()) else {
                continue;
            };
            let id = message["id"]
                .as_i64()
                .or_else(|| message["id"].as_str().and_then(|id| id.parse().ok()))
                .unwrap_or(0);
            if user < users {
                found.entry(user).or_default().push((id, seq));
            }
        }
        match page["next_cursor"].as_str() {
            Some(next) if of_this_run > 0 || cursor.is_none() => cursor = Some(next.to_owned()),
            _ => break,
        }
    }
    for messages in found.values_mut() {
        messages.sort_unstable();
    }
    Ok(found)
}

/// What the histories hold against what was accepted.
#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    /// Accepted, not in the sender's history.
    lost: usize,
    /// In the sender's history more than once.
    doubled: usize,
    /// Out of send order in the sender's history.
    out_of_order: usize,
    /// In the history though the client never saw it accepted (its answer lost).
    ghosts: usize,
    /// Accepted, not (yet) in the peer's history of the same chat.
    missing_at_peer: usize,
    /// In the peer's history more than once.
    doubled_at_peer: usize,
}

impl Counts {
    fn complete(&self) -> bool {
        self.lost == 0
            && self.doubled == 0
            && self.out_of_order == 0
            && self.missing_at_peer == 0
            && self.doubled_at_peer == 0
    }
}

async fn verify(
    client: &reqwest::Client,
    options: &Options,
    accounts: &[Account],
    logs: &[UserLog],
    run: &str,
) -> anyhow::Result<Counts> {
    let users = accounts.len();
    let mut counts = Counts::default();
    for (user, account) in accounts.iter().enumerate() {
        let found = delivered(client, &options.url, account, run, users).await?;
        let mine = found.get(&user).cloned().unwrap_or_default();
        let mut copies: BTreeMap<u64, u32> = BTreeMap::new();
        for (_, seq) in &mine {
            *copies.entry(*seq).or_default() += 1;
        }
        let accepted: BTreeSet<u64> = logs[user].accepted.iter().map(|job| job.seq).collect();
        counts.lost += accepted
            .iter()
            .filter(|seq| !copies.contains_key(seq))
            .count();
        counts.doubled += copies.values().filter(|count| **count > 1).count();
        counts.ghosts += copies.keys().filter(|seq| !accepted.contains(seq)).count();
        // Oldest first by message id: the first copy of each text must come in send order.
        let mut seen = HashSet::new();
        let firsts: Vec<u64> = mine
            .iter()
            .filter(|(_, seq)| seen.insert(*seq))
            .map(|(_, seq)| *seq)
            .collect();
        counts.out_of_order += firsts.windows(2).filter(|pair| pair[0] > pair[1]).count();

        // The peer writing into this same private chat, if it is one of the users.
        let Some(peer) = accounts.iter().position(|other| {
            other.telegram_id == account.chat_id && other.chat_id == account.telegram_id
        }) else {
            continue;
        };
        let theirs = found.get(&peer).cloned().unwrap_or_default();
        let mut copies: BTreeMap<u64, u32> = BTreeMap::new();
        for (_, seq) in &theirs {
            *copies.entry(*seq).or_default() += 1;
        }
        counts.missing_at_peer += logs[peer]
            .accepted
            .iter()
            .filter(|job| !copies.contains_key(&job.seq))
            .count();
        counts.doubled_at_peer += copies.values().filter(|count| **count > 1).count();
    }
    Ok(counts)
}

/// Runs the load, then checks the deliveries; prints the `fault=` line.
pub(crate) async fn run(
    client: &reqwest::Client,
    options: &Options,
    accounts: &[Account],
) -> anyhow::Result<()> {
    let run = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let interval = Duration::from_millis(options.interval_ms.unwrap_or(1000).max(10));
    let started_run = Instant::now();
    let stop_at = started_run + Duration::from_secs(options.seconds);
    let give_up = Duration::from_secs(options.give_up_seconds);
    let users = accounts.len();
    let mut tasks = Vec::with_capacity(users);
    for (user, account) in accounts.iter().enumerate() {
        let offset =
            interval * u32::try_from(user).unwrap_or(0) / u32::try_from(users).unwrap_or(1);
        tasks.push(tokio::spawn(run_user(UserPlan {
            client: client.clone(),
            base: options.url.clone(),
            user_id: account.user_id.to_string(),
            token: account.token.clone(),
            chat_id: account.chat_id.clone(),
            user,
            run: run.clone(),
            pacing: (offset, interval),
            started_run,
            stop_at,
            give_up,
        })));
    }
    let mut logs = Vec::with_capacity(users);
    for task in tasks {
        logs.push(task.await?);
    }
    let load_ended = started_run.elapsed();

    // Every accepted send, followed to its end.
    let settle_deadline = Instant::now() + Duration::from_secs(options.settle_seconds);
    let jobs: Vec<(usize, usize)> = logs
        .iter()
        .enumerate()
        .flat_map(|(user, log)| (0..log.accepted.len()).map(move |index| (user, index)))
        .collect();
    let ends: Vec<(usize, usize, JobEnd)> = futures::stream::iter(jobs)
        .map(|(user, index)| {
            let account = &accounts[user];
            let job = &logs[user].accepted[index];
            let user_id = account.user_id.to_string();
            async move {
                let end = settle_job(
                    client,
                    &options.url,
                    &user_id,
                    &account.token,
                    &job.job_id,
                    settle_deadline,
                )
                .await;
                (user, index, end)
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let mut failed_jobs = 0;
    let mut pending_jobs = 0;
    let mut accept_to_sent_ms: Vec<u32> = Vec::new();
    for (user, index, end) in &ends {
        match end {
            JobEnd::Sent(Some(sent_at)) => {
                let waited = *sent_at - logs[*user].accepted[*index].accepted_at;
                accept_to_sent_ms
                    .push(u32::try_from(waited.num_milliseconds().max(0)).unwrap_or(u32::MAX));
            }
            JobEnd::Sent(None) => {}
            JobEnd::Failed => failed_jobs += 1,
            JobEnd::Pending => pending_jobs += 1,
        }
    }
    accept_to_sent_ms.sort_unstable();

    // What each chat holds, read again until it is complete or the settling time is
    // over: the peer's copy comes through the peer's own update stream, which may have to
    // catch up (a link replaced, a service restarted).
    let verify_started = Instant::now();
    let counts = loop {
        let counts = verify(client, options, accounts, &logs, &run).await?;
        if counts.complete() || Instant::now() > settle_deadline {
            break counts;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    };

    let mut send_errors: BTreeMap<String, u64> = BTreeMap::new();
    let mut read_errors: BTreeMap<String, u64> = BTreeMap::new();
    let mut first_error: Option<Duration> = None;
    let mut last_error: Option<Duration> = None;
    for log in &logs {
        for (attempts, errors) in [
            (&log.sends, &mut send_errors),
            (&log.reads, &mut read_errors),
        ] {
            for attempt in attempts
                .iter()
                .filter(|attempt| attempt.outcome != Outcome::Ok)
            {
                *errors.entry(attempt.outcome.label()).or_default() += 1;
                first_error =
                    Some(first_error.map_or(attempt.ended, |first| first.min(attempt.ended)));
                last_error = Some(last_error.map_or(attempt.ended, |last| last.max(attempt.ended)));
            }
        }
    }
    let attempted: u64 = logs.iter().map(|log| log.attempted).sum();
    let accepted: usize = logs.iter().map(|log| log.accepted.len()).sum();
    let given_up: u64 = logs.iter().map(|log| log.given_up).sum();
    let secs = |at: Option<Duration>| {
        at.map_or_else(|| "-".to_owned(), |at| format!("{:.1}", at.as_secs_f64()))
    };
    let fault_at = options.fault_at_secs.map(Duration::from_secs);
    let recovered_after = match (fault_at, last_error) {
        (Some(fault_at), Some(last)) => {
            format!("{:.1}", last.saturating_sub(fault_at).as_secs_f64())
        }
        (_, None) => "0".to_owned(),
        (None, Some(_)) => "-".to_owned(),
    };
    println!(
        "fault={} users={} load_s={:.0} sends={} accepted={} given_up={} send_errors={:?} read_errors={:?} first_error_s={} last_error_s={} recovered_after_s={} lost={} doubled={} out_of_order={} sent_unaccepted={} missing_at_peer={} doubled_at_peer={} complete_after_s={:.1} failed_jobs={} unsent_after_settle={} accept_to_sent_p50_ms={:.0} p99_ms={:.0} max_ms={:.0}",
        options.label,
        users,
        load_ended.as_secs_f64(),
        attempted,
        accepted,
        given_up,
        send_errors,
        read_errors,
        secs(first_error),
        secs(last_error),
        recovered_after,
        counts.lost,
        counts.doubled,
        counts.out_of_order,
        counts.ghosts,
        counts.missing_at_peer,
        counts.doubled_at_peer,
        verify_started.elapsed().as_secs_f64(),
        failed_jobs,
        pending_jobs,
        crate::percentile(&accept_to_sent_ms, 0.5) * 1000.0,
        crate::percentile(&accept_to_sent_ms, 0.99) * 1000.0,
        crate::percentile(&accept_to_sent_ms, 1.0) * 1000.0,
    );
    anyhow::ensure!(
        counts.complete() && pending_jobs == 0,
        "deliveries broke: {counts:?}, unsent={pending_jobs}"
    );
    Ok(())
}
