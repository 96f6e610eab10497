//! `--scenario faults`: the load of the fault suite (`scripts/fault-suite.sh`). Each user
//! sends a numbered text to its private chat every `--interval-ms` (1,000 by default) and
//! reads its chat list after each send, while the suite kills a service or restarts a
//! server. A send that fails is tried again with the same `client_message_id` every half
//! second, as a client should, for up to `--give-up-seconds`. Then, once the load is over,
//! every accepted send is followed until `sent` (for up to `--settle-seconds`) and each
//! user's history is read back: every accepted text must be there once, in the order it
//! was sent. One `fault=...` line reports what clients saw and what was delivered.
//!
//! Every `--media-every`th send (5th by default; 0: none) is a photo with the numbered
//! text as its caption (`POST /me/send_media`, a photo each user uploads before the run),
//! so media jobs go through the same faults. And every user holds its account's WebSocket
//! for the whole run, reconnecting as a client should (after half a second, with `since`
//! = the last `event_id` it saw): every accepted send of its peer must reach it as one
//! `message.new` frame (`frames_missing`, `frames_doubled`), unless the socket was told
//! `resync_required` (the event log lost what it kept: the client reads history again,
//! which the history check covers), counted apart.
//!
//! Last, the search index (`index`): every accepted send must be found exactly once by
//! the sender's account and once by the peer's through the index alone (no Telegram
//! search), within 30 s of the checks above (`index_missing`, `index_doubled`,
//! `index_missing_at_peer`, `index_doubled_at_peer`). The scenario neither edits nor
//! deletes, so only new messages are checked.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures::StreamExt as _;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::setup::Account;
use crate::{Options, realtime};

mod index;

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
    /// The same moment, for the frame's latency.
    accepted_instant: Instant,
}

#[derive(Default)]
struct UserLog {
    sends: Vec<Attempt>,
    reads: Vec<Attempt>,
    accepted: Vec<Accepted>,
    given_up: u64,
    attempted: u64,
    /// Sends that were photos.
    media: u64,
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

/// What every text of this run starts with (`text_of`'s first part).
fn prefix_of(run: &str) -> String {
    format!("fault {run} u")
}

/// The sender and the number of a text of this run (one `text_of` made), if it is one.
fn numbered(text: &str, prefix: &str) -> Option<(usize, u64)> {
    let (user, seq) = text.strip_prefix(prefix)?.split_once(" #")?;
    Some((user.parse().ok()?, seq.parse().ok()?))
}

/// How many copies of each of one sender's texts were found (in a history or an index).
#[derive(Debug, Default)]
struct Copies(BTreeMap<u64, u32>);

impl Copies {
    fn of(seqs: impl IntoIterator<Item = u64>) -> Self {
        let mut copies = BTreeMap::new();
        for seq in seqs {
            *copies.entry(seq).or_default() += 1;
        }
        Self(copies)
    }

    /// Accepted sends of which no copy was found.
    fn missing(&self, accepted: &[Accepted]) -> usize {
        accepted
            .iter()
            .filter(|job| !self.0.contains_key(&job.seq))
            .count()
    }

    /// Texts found more than once.
    fn doubled(&self) -> usize {
        self.0.values().filter(|count| **count > 1).count()
    }

    /// Texts found that the client never saw accepted.
    fn unaccepted(&self, accepted: &[Accepted]) -> usize {
        let accepted: BTreeSet<u64> = accepted.iter().map(|job| job.seq).collect();
        self.0.keys().filter(|seq| !accepted.contains(seq)).count()
    }
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
    /// The uploaded photo every `media_every`th send carries.
    photo: Option<String>,
    media_every: u64,
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
        photo,
        media_every,
    } = plan;
    let mut log = UserLog::default();
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + pacing.0, pacing.1);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut seq = 0;
    while Instant::now() < stop_at {
        ticks.tick().await;
        seq += 1;
        log.attempted += 1;
        let client_message_id = format!("fault-{run}-{user}-{seq}");
        let (path, body) = match &photo {
            Some(file_id) if media_every > 0 && seq % media_every == 0 => {
                log.media += 1;
                (
                    "send_media",
                    json!({
                        "chat_id": chat_id,
                        "file_id": file_id,
                        "caption": text_of(&run, user, seq),
                        "client_message_id": client_message_id,
                    }),
                )
            }
            _ => (
                "send_message",
                json!({
                    "chat_id": chat_id,
                    "text": text_of(&run, user, seq),
                    "client_message_id": client_message_id,
                }),
            ),
        };
        let first_try = Instant::now();
        loop {
            let (attempt, answer) = request(
                client
                    .post(format!("{base}/me/{path}/{user_id}/1"))
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
                        accepted_instant: Instant::now(),
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

/// What one user's WebSocket saw over the run.
#[derive(Default)]
struct SocketLog {
    /// This run's texts seen in `message.new` frames: (sender, seq) → the event ids that
    /// carried it (one, unless a frame was doubled) and when the first came.
    texts: HashMap<(usize, u64), (Vec<i64>, Instant)>,
    /// Opened at least once.
    opened: bool,
    /// Opened again after the socket ended.
    reconnects: u64,
    /// Openings that failed.
    open_failures: u64,
    /// `resync_required` frames: the log no longer had what `since` asked for.
    resyncs: u64,
}

type SharedSocketLog = Arc<Mutex<SocketLog>>;

fn note(log: &SharedSocketLog, update: impl FnOnce(&mut SocketLog)) {
    update(&mut log.lock().unwrap_or_else(PoisonError::into_inner));
}

/// What a frame says, for the check.
enum Frame {
    /// A `message.new` of this run's text `(sender, seq)`.
    Text(i64, usize, u64),
    Resync,
    Other,
}

fn read_frame(text: &str, prefix: &str) -> (Option<i64>, Frame) {
    let Ok(frame) = serde_json::from_str::<Value>(text) else {
        return (None, Frame::Other);
    };
    let event_id = frame["event_id"].as_i64();
    let kind = match frame["type"].as_str() {
        Some("resync_required") => Frame::Resync,
        Some("message.new") => frame["data"]["text"]
            .as_str()
            .and_then(|text| numbered(text, prefix))
            .map_or(Frame::Other, |(user, seq)| {
                Frame::Text(event_id.unwrap_or(0), user, seq)
            }),
        _ => Frame::Other,
    };
    (event_id, kind)
}

/// Holds a user's WebSocket until `stop` turns true, opening it again (after half a
/// second, with `since` = the last event id seen) whenever it ends.
async fn watch_socket(
    (base, user_id, token): (String, String, String),
    run: String,
    log: SharedSocketLog,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let prefix = prefix_of(&run);
    let mut last_event: Option<i64> = None;
    let mut ended_before = false;
    while !*stop.borrow() {
        if ended_before {
            note(&log, |log| log.reconnects += 1);
            tokio::select! {
                _ = stop.changed() => return,
                () = tokio::time::sleep(RETRY_PAUSE) => {}
            }
        }
        ended_before = true;
        let opened = tokio::select! {
            _ = stop.changed() => return,
            opened = realtime::open_at(&base, &user_id, &token, last_event, REQUEST_TIMEOUT) => opened,
        };
        let Ok(mut socket) = opened else {
            note(&log, |log| log.open_failures += 1);
            continue;
        };
        note(&log, |log| log.opened = true);
        loop {
            let frame = tokio::select! {
                _ = stop.changed() => {
                    // The watch is over; a close the server does not take changes nothing.
                    let _ = socket.close(None).await;
                    return;
                }
                frame = socket.next() => frame,
            };
            let text = match frame {
                Some(Ok(Message::Text(text))) => text,
                Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                Some(Ok(_)) => continue,
            };
            let (event_id, frame) = read_frame(&text, &prefix);
            if let Some(event_id) = event_id {
                last_event = Some(last_event.map_or(event_id, |last| last.max(event_id)));
            }
            match frame {
                Frame::Text(event_id, sender, seq) => {
                    let now = Instant::now();
                    note(&log, |log| {
                        log.texts
                            .entry((sender, seq))
                            .or_insert_with(|| (Vec::new(), now))
                            .0
                            .push(event_id);
                    });
                }
                Frame::Resync => note(&log, |log| log.resyncs += 1),
                Frame::Other => {}
            }
        }
    }
}

/// The frames the sockets saw against the peers' accepted sends.
#[derive(Debug, Default)]
struct FrameCounts {
    /// An accepted send of the peer that never reached the socket, on a socket never told
    /// to resync.
    missing: usize,
    /// The same, on a socket that was told `resync_required`.
    missing_after_resync: usize,
    /// A text in more than one frame.
    doubled: usize,
    /// From the peer's 202 to the frame, in ms, sorted.
    accept_to_frame_ms: Vec<u32>,
}

fn count_frames(
    peers: &[Option<usize>],
    logs: &[UserLog],
    sockets: &[SharedSocketLog],
) -> FrameCounts {
    let mut counts = FrameCounts::default();
    for (user, socket) in sockets.iter().enumerate() {
        let socket = socket.lock().unwrap_or_else(PoisonError::into_inner);
        counts.doubled += socket
            .texts
            .values()
            .filter(|(event_ids, _)| event_ids.len() > 1)
            .count();
        let Some(peer) = peers[user] else { continue };
        for accepted in &logs[peer].accepted {
            match socket.texts.get(&(peer, accepted.seq)) {
                Some((_, at)) => counts.accept_to_frame_ms.push(
                    u32::try_from(
                        at.saturating_duration_since(accepted.accepted_instant)
                            .as_millis(),
                    )
                    .unwrap_or(u32::MAX),
                ),
                None if socket.resyncs > 0 => counts.missing_after_resync += 1,
                None => counts.missing += 1,
            }
        }
    }
    counts.accept_to_frame_ms.sort_unstable();
    counts
}

/// Follows a job until it is `sent` (its Telegram send time) or `failed`.
pub(crate) async fn settle_job(
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

pub(crate) enum JobEnd {
    Sent(Option<chrono::DateTime<chrono::Utc>>),
    Failed,
    Pending,
}

/// The texts starting with `prefix` (`prefix_of`'s shape: the sender's number and its
/// text's number follow) in the history of the account's chat, by sender: (message id,
/// text's number), oldest first (by message id).
pub(crate) async fn delivered(
    client: &reqwest::Client,
    base: &str,
    account: &Account,
    prefix: &str,
    users: usize,
) -> anyhow::Result<HashMap<usize, Vec<(i64, u64)>>> {
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
            let text = message["text"].as_str().unwrap_or_default();
            if !text.starts_with(prefix) {
                continue;
            }
            of_this_run += 1;
            let Some((user, seq)) = numbered(text, prefix) else {
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
    let prefix = prefix_of(run);
    for (user, account) in accounts.iter().enumerate() {
        let found = delivered(client, &options.url, account, &prefix, users).await?;
        let mine = found.get(&user).cloned().unwrap_or_default();
        let copies = Copies::of(mine.iter().map(|(_, seq)| *seq));
        counts.lost += copies.missing(&logs[user].accepted);
        counts.doubled += copies.doubled();
        counts.ghosts += copies.unaccepted(&logs[user].accepted);
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
        let theirs = found.get(&peer).map(Vec::as_slice).unwrap_or_default();
        let copies = Copies::of(theirs.iter().map(|(_, seq)| *seq));
        counts.missing_at_peer += copies.missing(&logs[peer].accepted);
        counts.doubled_at_peer += copies.doubled();
    }
    Ok(counts)
}

/// Runs the load, then checks the deliveries; prints the `fault=` line.
pub(crate) async fn run(
    client: &reqwest::Client,
    options: &Options,
    accounts: &[Account],
    photos: &[String],
) -> anyhow::Result<()> {
    let run = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    // A minute early: the index is asked for the messages since then (the clocks of this
    // machine's processes may differ by a little).
    let run_began = chrono::Utc::now().timestamp() - 60;
    // Who writes into whose private chat: the peer's accepted sends are the frames a
    // user's socket must see.
    let peers: Vec<Option<usize>> = accounts
        .iter()
        .map(|account| {
            accounts.iter().position(|other| {
                other.telegram_id == account.chat_id && other.chat_id == account.telegram_id
            })
        })
        .collect();
    let (stop_sockets, stop_receiver) = tokio::sync::watch::channel(false);
    let sockets: Vec<SharedSocketLog> = accounts
        .iter()
        .map(|_| SharedSocketLog::default())
        .collect();
    let watchers: Vec<_> = accounts
        .iter()
        .zip(&sockets)
        .map(|(account, log)| {
            tokio::spawn(watch_socket(
                (
                    options.url.clone(),
                    account.user_id.to_string(),
                    account.token.clone(),
                ),
                run.clone(),
                Arc::clone(log),
                stop_receiver.clone(),
            ))
        })
        .collect();
    // The sends start once every socket is open (or after 30 s: those that could not
    // open then count their frames as missing).
    let opening_deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < opening_deadline
        && !sockets
            .iter()
            .all(|log| log.lock().unwrap_or_else(PoisonError::into_inner).opened)
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
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
            photo: photos.get(user).cloned(),
            media_every: options.media_every,
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
    // And what each socket saw, waited for as long.
    let frames = loop {
        let frames = count_frames(&peers, &logs, &sockets);
        if frames.missing + frames.missing_after_resync == 0 || Instant::now() > settle_deadline {
            break frames;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    // And what the search index holds, waited for a bounded time of its own.
    let prefix = prefix_of(&run);
    let indexed = index::check(
        &index::Walk {
            client,
            base: &options.url,
            prefix: &prefix,
            since: run_began,
        },
        accounts,
        &peers,
        &logs,
    )
    .await;
    // No watcher left listening is no error: there is nothing to stop then.
    let _ = stop_sockets.send(true);
    for watcher in watchers {
        watcher.await?;
    }
    let (reconnects, open_failures, resyncs) = sockets.iter().fold((0, 0, 0), |sum, log| {
        let log = log.lock().unwrap_or_else(PoisonError::into_inner);
        (
            sum.0 + log.reconnects,
            sum.1 + log.open_failures,
            sum.2 + log.resyncs,
        )
    });

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
        "fault={} users={} load_s={:.0} sends={} accepted={} given_up={} send_errors={:?} read_errors={:?} first_error_s={} last_error_s={} recovered_after_s={} lost={} doubled={} out_of_order={} sent_unaccepted={} missing_at_peer={} doubled_at_peer={} complete_after_s={:.1} failed_jobs={} unsent_after_settle={} accept_to_sent_p50_ms={:.0} p99_ms={:.0} max_ms={:.0} media_sends={} frames_missing={} frames_missing_after_resync={} frames_doubled={} resyncs={} reconnects={} socket_open_failures={} accept_to_frame_p50_ms={:.0} p99_ms={:.0} max_ms={:.0} index_missing={} index_doubled={} index_missing_at_peer={} index_doubled_at_peer={} index_complete_after_s={:.1} index_searches={} index_search_errors={}",
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
        logs.iter().map(|log| log.media).sum::<u64>(),
        frames.missing,
        frames.missing_after_resync,
        frames.doubled,
        resyncs,
        reconnects,
        open_failures,
        crate::percentile(&frames.accept_to_frame_ms, 0.5) * 1000.0,
        crate::percentile(&frames.accept_to_frame_ms, 0.99) * 1000.0,
        crate::percentile(&frames.accept_to_frame_ms, 1.0) * 1000.0,
        indexed.counts.missing,
        indexed.counts.doubled,
        indexed.counts.missing_at_peer,
        indexed.counts.doubled_at_peer,
        indexed.waited.as_secs_f64(),
        indexed.searches,
        indexed.errors,
    );
    anyhow::ensure!(
        counts.complete() && pending_jobs == 0,
        "deliveries broke: {counts:?}, unsent={pending_jobs}"
    );
    anyhow::ensure!(
        frames.missing == 0 && frames.doubled == 0,
        "frames broke: {} missing, {} doubled",
        frames.missing,
        frames.doubled
    );
    anyhow::ensure!(
        indexed.counts.complete(),
        "the search index broke: {:?}",
        indexed.counts
    );
    Ok(())
}
