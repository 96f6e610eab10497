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
    let mut ticks = crate::ticks(offset, interval);
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

/// A process group's resident memory, in MiB: the whole, and its anonymous (heap,
/// stacks), file-backed (the binary, libraries, mapped files) and shared-memory parts
/// (`/proc/PID/status`: `VmRSS`, `RssAnon`, `RssFile`, `RssShmem`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Memory {
    rss: f64,
    anon: f64,
    file: f64,
    shmem: f64,
}

impl Memory {
    /// The parts `/proc/PID/status` gives (`None` without `VmRSS`, e.g. a zombie).
    fn of_status(status: &str) -> Option<Self> {
        let kib = |field: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
                .and_then(|value| value.split_whitespace().next()?.parse::<f64>().ok())
                .map(|kib| kib / 1024.0)
        };
        Some(Self {
            rss: kib("VmRSS")?,
            anon: kib("RssAnon").unwrap_or(f64::NAN),
            file: kib("RssFile").unwrap_or(f64::NAN),
            shmem: kib("RssShmem").unwrap_or(f64::NAN),
        })
    }

    fn add(self, other: Self) -> Self {
        Self {
            rss: self.rss + other.rss,
            anon: self.anon + other.anon,
            file: self.file + other.file,
            shmem: self.shmem + other.shmem,
        }
    }
}

/// Resident memory and CPU seconds of each watched group now.
fn sample_processes(watched: &[Watched]) -> Vec<(String, Memory, f64)> {
    watched
        .iter()
        .map(|group| {
            let memory = group
                .pids
                .iter()
                .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/status")).ok())
                .filter_map(|status| Memory::of_status(&status))
                .fold(Memory::default(), Memory::add);
            let cpu_seconds: f64 = group
                .pids
                .iter()
                .filter_map(|pid| cpu::process_cpu_seconds(&pid.to_string()))
                .sum();
            (group.name.clone(), memory, cpu_seconds)
        })
        .collect()
}

/// The value of each of `names` in a Prometheus text exposition, summed over its label
/// sets (`None`: no such sample).
fn metric_values(exposition: &str, names: &[String]) -> Vec<Option<f64>> {
    names
        .iter()
        .map(|name| {
            exposition
                .lines()
                .filter(|line| !line.starts_with('#'))
                .filter_map(|line| {
                    let rest = line.strip_prefix(name.as_str())?;
                    let rest = match rest.chars().next()? {
                        '{' => rest.split_once('}')?.1,
                        ' ' => rest,
                        _ => return None,
                    };
                    rest.split_whitespace().next()?.parse::<f64>().ok()
                })
                .fold(None, |sum, value| Some(sum.unwrap_or(0.0) + value))
        })
        .collect()
}

/// The gauges `options.metrics` names, from the backend's `/metrics` now.
async fn sample_metrics(client: &reqwest::Client, options: &Options) -> Vec<Option<f64>> {
    if options.metrics.is_empty() {
        return Vec::new();
    }
    let exposition = match client.get(format!("{}/metrics", options.url)).send().await {
        Ok(response) => response.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    };
    metric_values(&exposition, &options.metrics)
}

/// The total size of the files in `dir` and its subdirectories, in MiB.
fn directory_mib(dir: &std::path::Path) -> f64 {
    fn walk(dir: &std::path::Path) -> u64 {
        std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| {
                let kind = entry.file_type().ok()?;
                if kind.is_dir() {
                    Some(walk(&entry.path()))
                } else {
                    entry.metadata().ok().map(|metadata| metadata.len())
                }
            })
            .sum()
    }
    walk(dir) as f64 / 1_048_576.0
}

/// One sample's named values: each watched group's memory parts (MiB), the data
/// directory (MiB) and the metrics asked for (their own unit), in a fixed order.
type Values = Vec<(String, f64)>;

fn values_of(
    processes: &[(String, Memory, f64)],
    data_mib: Option<f64>,
    metrics: &[(String, Option<f64>)],
) -> Values {
    let mut values = Values::new();
    for (name, memory, _) in processes {
        values.push((format!("{name} rss MiB"), memory.rss));
        values.push((format!("{name} anon MiB"), memory.anon));
        values.push((format!("{name} file MiB"), memory.file));
    }
    if let Some(mib) = data_mib {
        values.push(("data MiB".to_owned(), mib));
    }
    for (name, value) in metrics {
        values.push((name.clone(), value.unwrap_or(f64::NAN)));
    }
    values
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
    let data_dir = options.data_dir.as_ref().map(std::path::PathBuf::from);
    let named_metrics = |values: Vec<Option<f64>>| -> Vec<(String, Option<f64>)> {
        options.metrics.iter().cloned().zip(values).collect()
    };
    let mut previous = sample_processes(&watched);
    let mut previous_at = Instant::now();
    let mut over_time: Vec<(u64, Values)> = vec![(
        0,
        values_of(
            &previous,
            data_dir.as_deref().map(directory_mib),
            &named_metrics(sample_metrics(client, options).await),
        ),
    )];
    let mut whole = Reads::default();
    let mut ticks = tokio::time::interval_at((warmup_until + sample_every).into(), sample_every);
    loop {
        ticks.tick().await;
        let now = Instant::now();
        let mut period = std::mem::take(&mut *reads.lock().unwrap_or_else(PoisonError::into_inner));
        let current = sample_processes(&watched);
        let data_mib = data_dir.as_deref().map(directory_mib);
        let metrics = named_metrics(sample_metrics(client, options).await);
        let elapsed = now.duration_since(previous_at).as_secs_f64().max(0.001);
        let mut processes: Vec<String> = current
            .iter()
            .zip(&previous)
            .map(|((name, memory, cpu), (_, _, cpu_before))| {
                format!(
                    "{name} rss={:.1}MiB anon={:.1} file={:.1} shmem={:.1} cpu={:.0}%core",
                    memory.rss,
                    memory.anon,
                    memory.file,
                    memory.shmem,
                    (cpu - cpu_before).max(0.0) * 100.0 / elapsed
                )
            })
            .collect();
        if let Some(mib) = data_mib {
            processes.push(format!("data={mib:.1}MiB"));
        }
        for (name, value) in &metrics {
            processes.push(format!(
                "{name}={}",
                value.map_or("-".to_owned(), |v| format!("{v}"))
            ));
        }
        let at = now.duration_since(warmup_until).as_secs();
        println!("t={at}s {} | {}", period.line(), processes.join(" "));
        over_time.push((at, values_of(&current, data_mib, &metrics)));
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
    println!("memory {}", memory_summary(&over_time));
    println!("growth per minute {}", growth_summary(&over_time));
    anyhow::ensure!(
        whole.chats.len() + whole.history.len() > 0,
        "no read succeeded"
    );
    Ok(())
}

/// The value at the sample nearest after each fraction of the run (the first and last
/// for 0 and 1).
fn at_fractions(samples: &[(u64, Values)], fractions: &[f64]) -> Vec<(u64, Values)> {
    let Some(last) = samples.last() else {
        return Vec::new();
    };
    fractions
        .iter()
        .map(|fraction| {
            let target = (last.0 as f64 * fraction) as u64;
            samples
                .iter()
                .find(|(at, _)| *at >= target)
                .unwrap_or(last)
                .clone()
        })
        .collect()
}

/// Each value (watched processes' memory and its parts, the data directory, the metrics)
/// at the start, a quarter, half and the end of the run: growth between the half and the
/// end that is as large as before the half is growth that does not level off.
fn memory_summary(samples: &[(u64, Values)]) -> String {
    let points = at_fractions(samples, &[0.0, 0.25, 0.5, 1.0]);
    let Some((_, last)) = points.last() else {
        return "no samples".to_owned();
    };
    last.iter()
        .enumerate()
        .map(|(index, (name, _))| {
            let values: Vec<String> = points
                .iter()
                .map(|(at, values)| {
                    let value = values.get(index).map_or(f64::NAN, |(_, value)| *value);
                    format!("{value:.1}@{at}s")
                })
                .collect();
            format!("{name}: {}", values.join(" → "))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Each value's growth per minute in each quarter of the run: a level memory shows
/// quarters near zero at the end, a leak the same slope in every quarter.
fn growth_summary(samples: &[(u64, Values)]) -> String {
    let points = at_fractions(samples, &[0.0, 0.25, 0.5, 0.75, 1.0]);
    let Some((_, last)) = points.last() else {
        return "no samples".to_owned();
    };
    last.iter()
        .enumerate()
        .map(|(index, (name, _))| {
            let slopes: Vec<String> = points
                .windows(2)
                .map(|pair| {
                    let (from_at, from) = &pair[0];
                    let (to_at, to) = &pair[1];
                    let value =
                        |values: &Values| values.get(index).map_or(f64::NAN, |(_, value)| *value);
                    let minutes = to_at.saturating_sub(*from_at) as f64 / 60.0;
                    if minutes > 0.0 {
                        format!("{:+.2}", (value(to) - value(from)) / minutes)
                    } else {
                        "-".to_owned()
                    }
                })
                .collect();
            format!("{name}: {}", slopes.join(" "))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(values: &[f64]) -> Vec<(u64, Values)> {
        values
            .iter()
            .enumerate()
            .map(|(n, value)| (n as u64 * 30, vec![("gateway rss MiB".to_owned(), *value)]))
            .collect()
    }

    #[test]
    fn the_memory_summary_names_the_start_quarter_half_and_end() {
        assert_eq!(
            memory_summary(&samples(&[10.0, 11.0, 12.0, 13.0, 14.0])),
            "gateway rss MiB: 10.0@0s → 11.0@30s → 12.0@60s → 14.0@120s"
        );
        assert_eq!(memory_summary(&[]), "no samples");
    }

    #[test]
    fn the_growth_summary_gives_each_quarters_slope_per_minute() {
        // 8 samples 30 s apart (0..210 s): quarters end at 52, 105, 157 and 210 s, so at
        // the samples of 60, 120, 180 and 210 s.
        let levelling = samples(&[100.0, 104.0, 106.0, 107.0, 107.5, 107.5, 107.5, 107.5]);
        assert_eq!(
            growth_summary(&levelling),
            "gateway rss MiB: +6.00 +1.50 +0.00 +0.00"
        );
        assert_eq!(growth_summary(&[]), "no samples");
    }

    #[test]
    fn memory_parts_come_from_proc_status() {
        let status = "Name:\ttalkapp\nVmRSS:\t  307200 kB\nRssAnon:\t  204800 kB\n\
                      RssFile:\t   92160 kB\nRssShmem:\t   10240 kB\nThreads:\t40\n";
        assert_eq!(
            Memory::of_status(status),
            Some(Memory {
                rss: 300.0,
                anon: 200.0,
                file: 90.0,
                shmem: 10.0
            })
        );
        assert_eq!(Memory::of_status("Name:\tgone\n"), None);
    }

    #[test]
    fn metric_values_are_summed_over_label_sets_and_missing_ones_are_none() {
        let exposition = "# TYPE talkapp_realtime_log_bytes gauge\n\
                          talkapp_realtime_log_bytes 1048576\n\
                          talkapp_realtime_log_bytes_total 7\n\
                          talkapp_linked_accounts{status=\"connected\"} 998\n\
                          talkapp_linked_accounts{status=\"connecting\"} 2\n";
        let names = [
            "talkapp_realtime_log_bytes".to_owned(),
            "talkapp_linked_accounts".to_owned(),
            "talkapp_absent".to_owned(),
        ];
        assert_eq!(
            metric_values(exposition, &names),
            vec![Some(1_048_576.0), Some(1000.0), None]
        );
    }
}
