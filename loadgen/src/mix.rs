//! The `mix` scenario: a load that looks like real use, held for minutes, with each watched
//! process's memory and CPU reported over time.
//!
//! Every user holds a WebSocket of its linked account (most of them do nothing else); a
//! share of them (`--readers-percent`, 20 % by default) read every `--interval-ms`
//! (2 s by default), alternating the chat list and a history page that scrolls back with
//! the previous page's `next_cursor` (and starts again at the newest when it runs out);
//! a smaller share (`--senders-percent`, 5 %) send a text to their pair's other half
//! every `--send-interval-ms` (10 s), matched to the peer's `message.new` frame as the
//! `ws` scenario does. Every `--sample-seconds` (30 s) one line gives the period's reads
//! (count, p50, p99, failures), sends, frames, and for each `--watch`ed process its
//! resident memory and share of a core. The summary gives the whole run's figures and the
//! memory at a quarter, half and the end of the run, so growth that does not level off is
//! seen.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures::StreamExt as _;

use crate::cpu::{self, Watched};
use crate::realtime::{self, Sender, Traces};
use crate::setup::Account;
use crate::{Options, percentile};

/// What the readers did in one period (or the whole run).
#[derive(Default)]
struct Reads {
    chats: Vec<u32>,
    history: Vec<u32>,
    failed: u64,
}

impl Reads {
    fn absorb(&mut self, other: &mut Reads) {
        self.chats.append(&mut other.chats);
        self.history.append(&mut other.history);
        self.failed += other.failed;
    }

    fn line(&mut self) -> String {
        self.chats.sort_unstable();
        self.history.sort_unstable();
        format!(
            "chats n={} p50={:.2}ms p99={:.2}ms; history n={} p50={:.2}ms p99={:.2}ms; failed={}",
            self.chats.len(),
            percentile(&self.chats, 0.50),
            percentile(&self.chats, 0.99),
            self.history.len(),
            percentile(&self.history, 0.50),
            percentile(&self.history, 0.99),
            self.failed
        )
    }
}

type SharedReads = Arc<Mutex<Reads>>;

fn record(reads: &SharedReads, update: impl FnOnce(&mut Reads)) {
    update(&mut reads.lock().unwrap_or_else(PoisonError::into_inner));
}

/// One reader: the chat list, then a history page, one every `interval`, until `stop_at`.
async fn read_loop(
    client: reqwest::Client,
    base: String,
    account: (String, String, String),
    (offset, interval): (Duration, Duration),
    reads: SharedReads,
    stop_at: Instant,
) {
    let (user_id, token, chat_id) = account;
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + offset, interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut cursor: Option<String> = None;
    let mut history_next = false;
    loop {
        ticks.tick().await;
        if Instant::now() >= stop_at {
            break;
        }
        let url = if history_next {
            let mut url = format!("{base}/me/chat/messages/{user_id}/1/{chat_id}?limit=20");
            if let Some(cursor) = &cursor {
                url.push_str("&before=");
                url.push_str(cursor);
            }
            url
        } else {
            format!("{base}/me/chats/{user_id}/1?limit=20")
        };
        let started = Instant::now();
        let answer = match client.get(&url).bearer_auth(&token).send().await {
            Ok(response) if response.status().as_u16() == 200 => {
                response.json::<serde_json::Value>().await.ok()
            }
            _ => None,
        };
        let micros = u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX);
        match answer {
            None => record(&reads, |reads| reads.failed += 1),
            Some(page) if history_next => {
                // Scroll back; at the oldest message start again from the newest.
                cursor = page["next_cursor"].as_str().map(str::to_owned);
                record(&reads, |reads| reads.history.push(micros));
            }
            Some(_) => record(&reads, |reads| reads.chats.push(micros)),
        }
        history_next = !history_next;
    }
}

/// Resident memory (MiB) and CPU seconds of each watched group now.
fn sample_processes(watched: &[Watched]) -> Vec<(String, f64, f64)> {
    watched
        .iter()
        .map(|group| {
            let resident: u64 = group
                .pids
                .iter()
                .filter_map(|pid| realtime::resident_bytes(*pid).ok())
                .sum();
            let cpu_seconds: f64 = group
                .pids
                .iter()
                .filter_map(|pid| cpu::process_cpu_seconds(&pid.to_string()))
                .sum();
            (
                group.name.clone(),
                resident as f64 / 1_048_576.0,
                cpu_seconds,
            )
        })
        .collect()
}

/// The `mix` scenario.
pub(crate) async fn run(
    client: &reqwest::Client,
    options: &Arc<Options>,
    accounts: &[Account],
) -> anyhow::Result<()> {
    anyhow::ensure!(
        accounts.len() >= 2,
        "the mix scenario needs at least 2 users"
    );
    let users = accounts.len();
    let readers = (users * options.readers_percent.min(100)).div_ceil(100);
    let senders = (users * options.senders_percent.min(100)).div_ceil(100);
    let read_interval = Duration::from_millis(options.interval_ms.unwrap_or(2000).max(1));
    let send_interval = Duration::from_millis(options.send_interval_ms.max(1));
    let sample_every = Duration::from_secs(options.sample_seconds.max(1));

    let opened = Instant::now();
    let sockets: Vec<realtime::Socket> = futures::stream::iter(accounts)
        .map(|account| realtime::open(options, account))
        .buffered(64)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<_>>()?;
    eprintln!(
        "{} WebSockets open ({:.1} s); {readers} readers every {} ms, {senders} senders every {} ms",
        sockets.len(),
        opened.elapsed().as_secs_f64(),
        read_interval.as_millis(),
        send_interval.as_millis()
    );

    let started = Instant::now();
    let warmup_until = started + Duration::from_secs(options.warmup_seconds);
    let stop_at = warmup_until + Duration::from_secs(options.seconds);
    let traces: Traces = Arc::default();
    let receivers: Vec<_> = sockets
        .into_iter()
        .enumerate()
        .map(|(n, socket)| {
            tokio::spawn(realtime::receive(
                socket,
                n,
                Arc::clone(&traces),
                ((warmup_until, stop_at), stop_at + Duration::from_secs(5)),
            ))
        })
        .collect();
    let reads: SharedReads = Arc::default();
    // Readers are the last users, senders the first: the two sets overlap only when
    // their shares add up to more than all users.
    let reader_tasks: Vec<_> = accounts[users - readers..]
        .iter()
        .enumerate()
        .map(|(n, account)| {
            let offset = read_interval * u32::try_from(n).unwrap_or(0)
                / u32::try_from(readers.max(1)).unwrap_or(1);
            tokio::spawn(read_loop(
                client.clone(),
                options.url.clone(),
                (
                    account.user_id.to_string(),
                    account.token.clone(),
                    account.chat_id.clone(),
                ),
                (offset, read_interval),
                Arc::clone(&reads),
                stop_at,
            ))
        })
        .collect();
    let sender_tasks: Vec<_> = accounts[..senders]
        .iter()
        .enumerate()
        .map(|(n, account)| {
            let to = realtime::partner(n, users);
            let offset = send_interval * u32::try_from(n).unwrap_or(0)
                / u32::try_from(senders.max(1)).unwrap_or(1);
            tokio::spawn(realtime::send_loop(
                Sender {
                    client: client.clone(),
                    url: format!("{}/me/send_message/{}/1", options.url, account.user_id),
                    token: account.token.clone(),
                    chat_id: accounts[to].telegram_id.clone(),
                    from: n,
                    to,
                    media: None,
                },
                (offset, send_interval),
                Arc::clone(&traces),
                stop_at,
            ))
        })
        .collect();

    // The samples, one a period, while the load runs.
    let watched = cpu::resolve(&options.watch);
    tokio::time::sleep_until(warmup_until.into()).await;
    // What the warm-up read does not count.
    std::mem::take(&mut *reads.lock().unwrap_or_else(PoisonError::into_inner));
    let mut previous = sample_processes(&watched);
    let mut previous_at = Instant::now();
    let mut memory_over_time: Vec<(u64, Vec<(String, f64)>)> = vec![(
        0,
        previous
            .iter()
            .map(|(name, mib, _)| (name.clone(), *mib))
            .collect(),
    )];
    let mut whole = Reads::default();
    let mut ticks = tokio::time::interval_at((warmup_until + sample_every).into(), sample_every);
    loop {
        ticks.tick().await;
        let now = Instant::now();
        let mut period = std::mem::take(&mut *reads.lock().unwrap_or_else(PoisonError::into_inner));
        let current = sample_processes(&watched);
        let elapsed = now.duration_since(previous_at).as_secs_f64().max(0.001);
        let processes: Vec<String> = current
            .iter()
            .zip(&previous)
            .map(|((name, mib, cpu), (_, _, cpu_before))| {
                format!(
                    "{name} rss={mib:.1}MiB cpu={:.0}%core",
                    (cpu - cpu_before).max(0.0) * 100.0 / elapsed
                )
            })
            .collect();
        let at = now.duration_since(warmup_until).as_secs();
        println!("t={at}s {} | {}", period.line(), processes.join(" "));
        memory_over_time.push((
            at,
            current
                .iter()
                .map(|(name, mib, _)| (name.clone(), *mib))
                .collect(),
        ));
        whole.absorb(&mut period);
        previous = current;
        previous_at = now;
        if now >= stop_at {
            break;
        }
    }
    for task in reader_tasks {
        task.await?;
    }
    let mut remaining = std::mem::take(&mut *reads.lock().unwrap_or_else(PoisonError::into_inner));
    whole.absorb(&mut remaining);
    let (mut accepted, mut refused) = (0, 0);
    for task in sender_tasks {
        let (ok, failed) = task.await?;
        accepted += ok;
        refused += failed;
    }
    let mut frames = 0;
    let mut ended_early = 0;
    for receiver in receivers {
        let received = receiver.await?;
        frames += received.frames;
        ended_early += usize::from(received.ended_early.is_some());
    }
    let delivery = realtime::Delivery::of(&traces, warmup_until, 1);
    println!(
        "scenario=mix users={users} readers={readers} senders={senders} seconds={} reads: {} | sends accepted={accepted} refused={refused} delivered={} undelivered={} accept_to_frame p50={:.2}ms p99={:.2}ms | frames={frames} sockets_ended_early={ended_early}",
        options.seconds,
        whole.line(),
        delivery.from_accept.len(),
        delivery.lost.len(),
        percentile(&delivery.from_accept, 0.50),
        percentile(&delivery.from_accept, 0.99),
    );
    println!("memory {}", memory_summary(&memory_over_time));
    anyhow::ensure!(
        whole.chats.len() + whole.history.len() > 0,
        "no read succeeded"
    );
    Ok(())
}

/// Each watched process's resident memory at the start, a quarter, half and the end of
/// the run: growth between the half and the end that is as large as before the half is
/// growth that does not level off.
fn memory_summary(samples: &[(u64, Vec<(String, f64)>)]) -> String {
    let Some(last) = samples.last() else {
        return "no samples".to_owned();
    };
    let at = |fraction: f64| {
        let target = (last.0 as f64 * fraction) as u64;
        samples.iter().find(|(at, _)| *at >= target).unwrap_or(last)
    };
    let points = [at(0.0), at(0.25), at(0.5), last];
    last.1
        .iter()
        .enumerate()
        .map(|(index, (name, _))| {
            let values: Vec<String> = points
                .iter()
                .map(|(at, values)| {
                    format!(
                        "{:.1}MiB@{at}s",
                        values.get(index).map_or(f64::NAN, |(_, mib)| *mib)
                    )
                })
                .collect();
            format!("{name}: {}", values.join(" → "))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_memory_summary_names_the_start_quarter_half_and_end() {
        let samples: Vec<(u64, Vec<(String, f64)>)> = (0..=4)
            .map(|n| (n * 30, vec![("gateway".to_owned(), 10.0 + n as f64)]))
            .collect();
        assert_eq!(
            memory_summary(&samples),
            "gateway: 10.0MiB@0s → 11.0MiB@30s → 12.0MiB@60s → 14.0MiB@120s"
        );
        assert_eq!(memory_summary(&[]), "no samples");
    }
}
