//! The WebSocket scenarios.
//!
//! `ws`: every user holds a WebSocket of its linked account while users send to each
//! other in pairs (user 2k and 2k+1, whose sandbox accounts share a private chat), one
//! send every `--interval-ms`. Each text carries a marker; the receiving socket's
//! `message.new` frame is matched to the send's 202, and the report gives the latency from
//! the acceptance (the 202) to the peer's frame, and from the request to the frame.
//!
//! With `--connections-per-user K` each user holds K sockets (a fan-out-heavy load: every
//! message reaches K sockets); a send counts as delivered when all K of its peer's
//! sockets have its frame, and its latency is to the last of them.
//!
//! Its line gives the rates of the measured window beside the counts: the sends asked
//! for a second (`offered_sends_per_s`), those delivered to every socket of the peer
//! (`delivered_sends_per_s`), and every frame any socket received (`frames_per_s`, the
//! fan-out's throughput), so that a ramp of intervals (`loadgen/bench-fanout-ramp.sh`)
//! can find the highest rate held with every frame delivered and p99 under a bound.
//!
//! With `--ws-url` the sockets open there instead of at `--url` (the sends still go to
//! `--url`): the Node relay of `loadgen/baselines/node-relay` is measured so, against the
//! gateway's own sockets, with the CPU per delivered send of each watched process.
//!
//! `ws-media`: the same with a photo each (`POST /me/send_media`, the marker in the
//! caption): the latency from a photo send's acceptance to the peer's `message.new`
//! (with `--media video`, a video; with `--fresh-media`, a new file every send).
//!
//! `ws-idle`: opens `--connections-per-user` sockets per user and keeps them idle
//! (answering the server's pings); with `--pid` (the gateway's process) it reports the
//! gateway's resident memory before and after, per connection and as connections per GiB.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures::StreamExt as _;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

use crate::setup::{Account, Files};
use crate::{Options, cpu, fresh_label, percentile};

/// A user's interval between sends when `--interval-ms` is not given.
pub(crate) const DEFAULT_INTERVAL_MS: u64 = 1000;

pub(crate) type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens the account's WebSocket with the bearer token in the header.
pub(crate) async fn open(options: &Options, account: &Account) -> anyhow::Result<Socket> {
    open_at(
        options.ws_url.as_deref().unwrap_or(&options.url),
        &account.user_id.to_string(),
        &account.token,
        None,
        Duration::from_secs(30),
    )
    .await
}

/// Opens `user_id`'s WebSocket at `base` (an `http` URL), replaying after `since` when
/// given, within `timeout`.
pub(crate) async fn open_at(
    base: &str,
    user_id: &str,
    token: &str,
    since: Option<i64>,
    timeout: Duration,
) -> anyhow::Result<Socket> {
    let mut url = format!("{}/ws/{user_id}/1", base.replacen("http", "ws", 1));
    if let Some(since) = since {
        url.push_str(&format!("?since={since}"));
    }
    let mut request = url.into_client_request()?;
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {token}").parse()?);
    let (socket, _) = tokio::time::timeout(timeout, tokio_tungstenite::connect_async(request))
        .await
        .context("opening a WebSocket timed out")?
        .context("opening a WebSocket")?;
    Ok(socket)
}

/// What is known of one marked send.
#[derive(Default, Clone, Copy)]
pub(crate) struct Trace {
    requested: Option<Instant>,
    accepted: Option<Instant>,
    /// When the last copy arrived (of `copies`, one per socket of the peer).
    delivered: Option<Instant>,
    copies: u32,
}

pub(crate) type Traces = Arc<Mutex<HashMap<String, Trace>>>;

fn trace(traces: &Traces, marker: &str, update: impl FnOnce(&mut Trace)) {
    let mut traces = traces.lock().unwrap_or_else(PoisonError::into_inner);
    update(traces.entry(marker.to_owned()).or_default());
}

/// The user `n` sends to: its pair's other half (the last of an odd count sends to the
/// one before it).
pub(crate) fn partner(n: usize, users: usize) -> usize {
    let other = n ^ 1;
    if other < users {
        other
    } else {
        n.saturating_sub(1)
    }
}

/// What one socket saw.
pub(crate) struct Received {
    pub(crate) frames: u64,
    /// Of `frames`, those that arrived in the measured window (for a rate of frames).
    pub(crate) frames_in_window: u64,
    /// The server closed it (or it broke) before the end.
    pub(crate) ended_early: Option<String>,
}

/// Reads one socket until `stop_at`: marks the arrival of `message.new` frames addressed
/// to `me`, and counts apart the frames that arrive within `window` (start, end).
pub(crate) async fn receive(
    mut socket: Socket,
    me: usize,
    traces: Traces,
    (window, stop_at): ((Instant, Instant), Instant),
) -> Received {
    let mut frames = 0;
    let mut frames_in_window = 0;
    let ended_early = loop {
        let frame = match tokio::time::timeout_at(stop_at.into(), socket.next()).await {
            Err(_) => break None,
            Ok(None) => break Some("closed".to_owned()),
            Ok(Some(Err(error))) => break Some(error.to_string()),
            Ok(Some(Ok(Message::Close(close)))) => break Some(format!("close frame {close:?}")),
            Ok(Some(Ok(frame))) => frame,
        };
        let Message::Text(text) = frame else { continue };
        frames += 1;
        let now = Instant::now();
        if now >= window.0 && now < window.1 {
            frames_in_window += 1;
        }
        let Ok(event) = serde_json::from_str::<serde_json::Value>(&text) else {
            continue;
        };
        if event["type"] != "message.new" {
            continue;
        }
        let Some(body) = event["data"]["text"].as_str() else {
            continue;
        };
        if let Some(marker) = body.strip_prefix("lg ")
            && marker
                .rsplit_once('>')
                .is_some_and(|(_, to)| to.parse() == Ok(me))
        {
            trace(&traces, marker, |trace| {
                trace.delivered = Some(now);
                trace.copies += 1;
            });
        }
    };
    if ended_early.is_none() {
        // The measurement is over; a close the server does not take changes nothing.
        let _ = socket.close(None).await;
    }
    Received {
        frames,
        frames_in_window,
        ended_early,
    }
}

/// One user's sends: from user `from` to user `to` (whose account is `chat_id`).
pub(crate) struct Sender {
    pub(crate) client: reqwest::Client,
    pub(crate) url: String,
    pub(crate) token: String,
    pub(crate) chat_id: String,
    pub(crate) from: usize,
    pub(crate) to: usize,
    /// Sends these uploaded files (`send_media`, one a send) instead of text.
    pub(crate) media: Option<Files>,
}

/// Sends every `interval` (after `offset`) until `stop_at`: (accepted, refused).
pub(crate) async fn send_loop(
    sender: Sender,
    (offset, interval): (Duration, Duration),
    traces: Traces,
    stop_at: Instant,
) -> (u64, u64) {
    let Sender {
        client,
        url,
        token,
        chat_id,
        from,
        to,
        media,
    } = sender;
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let mut ticks = crate::ticks(offset, interval);
    let (mut accepted, mut refused) = (0, 0);
    let mut sequence = 0_u64;
    loop {
        ticks.tick().await;
        // The tick may come after the window (intervals longer than the receivers' grace):
        // a send then would be counted undelivered though nothing was lost.
        if Instant::now() >= stop_at {
            break;
        }
        sequence += 1;
        let file_id = match &media {
            None => None,
            Some(files) => {
                let Some(file_id) = files.nth(usize::try_from(sequence - 1).unwrap_or(usize::MAX))
                else {
                    eprintln!(
                        "user {from} sent all its {} fresh files before the end",
                        sequence - 1
                    );
                    break;
                };
                Some(file_id)
            }
        };
        let marker = format!("{from}.{sequence}>{to}");
        let requested = Instant::now();
        trace(&traces, &marker, |trace| trace.requested = Some(requested));
        let response = client
            .post(&url)
            .bearer_auth(&token)
            .json(&match file_id {
                None => serde_json::json!({ "chat_id": chat_id, "text": format!("lg {marker}") }),
                Some(file_id) => serde_json::json!({
                    "chat_id": chat_id,
                    "file_id": file_id,
                    "caption": format!("lg {marker}"),
                    "client_message_id": format!("{run_id}-{sequence}"),
                }),
            })
            .send()
            .await;
        match response {
            Ok(response) if response.status().as_u16() == 202 => {
                let now = Instant::now();
                trace(&traces, &marker, |trace| trace.accepted = Some(now));
                accepted += 1;
            }
            _ => refused += 1,
        }
    }
    (accepted, refused)
}

/// Where the marked sends of a run went (those requested after the warm-up).
pub(crate) struct Delivery {
    /// From the 202 to the peer's frame, in µs, sorted.
    pub(crate) from_accept: Vec<u32>,
    /// From the request to the peer's frame, in µs, sorted.
    pub(crate) from_request: Vec<u32>,
    /// Accepted and never seen on the peer's socket (`from.sequence>to`).
    pub(crate) lost: Vec<String>,
}

impl Delivery {
    /// Takes the run's traces (and says which sends were lost, if any): a send is
    /// delivered once `copies` sockets (each of its peer's) have its frame.
    pub(crate) fn of(traces: &Traces, warmup_until: Instant, copies: u32) -> Delivery {
        let traces = std::mem::take(&mut *traces.lock().unwrap_or_else(PoisonError::into_inner));
        let mut delivery = Delivery {
            from_accept: Vec::new(),
            from_request: Vec::new(),
            lost: Vec::new(),
        };
        for (marker, trace) in traces {
            if trace.requested.is_none_or(|at| at < warmup_until) {
                continue;
            }
            let delivered = trace.delivered.filter(|_| trace.copies >= copies);
            match (trace.requested, trace.accepted, delivered) {
                (Some(requested), Some(accepted), Some(delivered)) => {
                    let micros = |from: Instant| {
                        u32::try_from(delivered.saturating_duration_since(from).as_micros())
                            .unwrap_or(u32::MAX)
                    };
                    delivery.from_accept.push(micros(accepted));
                    delivery.from_request.push(micros(requested));
                }
                (_, Some(_), None) => delivery.lost.push(marker),
                _ => {}
            }
        }
        if !delivery.lost.is_empty() {
            delivery.lost.sort();
            eprintln!(
                "accepted but never seen on the peer's socket (from.sequence>to), e.g. {:?}",
                &delivery.lost[..delivery.lost.len().min(10)]
            );
        }
        delivery.from_accept.sort_unstable();
        delivery.from_request.sort_unstable();
        delivery
    }
}

/// The `ws` scenario.
/// Creates `path` and waits until someone removes it (`--hold-file`).
async fn hold_until_removed(path: &str) -> anyhow::Result<()> {
    std::fs::write(path, b"set up; remove this file to start sending\n")
        .with_context(|| format!("creating {path}"))?;
    eprintln!("set up; holding until {path} is removed");
    while std::fs::exists(path).with_context(|| format!("checking {path}"))? {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

pub(crate) async fn run_flow(
    client: &reqwest::Client,
    options: &Arc<Options>,
    accounts: &[Account],
    photos: Option<&[Files]>,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        accounts.len() >= 2,
        "the ws scenario needs at least 2 users"
    );
    let interval = Duration::from_millis(options.interval_ms.unwrap_or(DEFAULT_INTERVAL_MS).max(1));
    let per_user = options.connections_per_user.max(1);
    // Before the sockets open: held sockets unread would be closed as idle.
    if let Some(path) = &options.hold_file {
        hold_until_removed(path).await?;
    }
    let opened = Instant::now();
    // Socket `k` is user `k / per_user`'s.
    let sockets: Vec<Socket> = futures::stream::iter(
        accounts
            .iter()
            .flat_map(|account| std::iter::repeat_n(account, per_user)),
    )
    .map(|account| open(options, account))
    .buffered(64)
    .collect::<Vec<_>>()
    .await
    .into_iter()
    .collect::<anyhow::Result<_>>()?;
    eprintln!(
        "{} WebSockets open ({:.1} s)",
        sockets.len(),
        opened.elapsed().as_secs_f64()
    );
    let traces: Traces = Arc::default();
    let started = Instant::now();
    let warmup_until = started + Duration::from_secs(options.warmup_seconds);
    let sends_end = warmup_until + Duration::from_secs(options.seconds);
    // Frames of the last sends get a few seconds to arrive.
    let receive_end = sends_end + Duration::from_secs(5);
    let receivers: Vec<_> = sockets
        .into_iter()
        .enumerate()
        .map(|(k, socket)| {
            tokio::spawn(receive(
                socket,
                k / per_user,
                Arc::clone(&traces),
                ((warmup_until, sends_end), receive_end),
            ))
        })
        .collect();
    let users = accounts.len();
    let senders: Vec<_> = accounts
        .iter()
        .enumerate()
        .map(|(n, account)| {
            let to = partner(n, users);
            let offset =
                interval * u32::try_from(n).unwrap_or(0) / u32::try_from(users).unwrap_or(1);
            tokio::spawn(send_loop(
                Sender {
                    client: client.clone(),
                    url: match photos {
                        None => format!("{}/me/send_message/{}/1", options.url, account.user_id),
                        Some(_) => format!("{}/me/send_media/{}/1", options.url, account.user_id),
                    },
                    token: account.token.clone(),
                    chat_id: accounts[to].telegram_id.clone(),
                    from: n,
                    to,
                    media: photos.and_then(|photos| photos.get(n).cloned()),
                },
                (offset, interval),
                Arc::clone(&traces),
                sends_end,
            ))
        })
        .collect();
    let cpu_window = cpu::window(options.watch.clone(), warmup_until, sends_end);
    let (mut accepted, mut refused) = (0, 0);
    for sender in senders {
        let (ok, failed) = sender.await?;
        accepted += ok;
        refused += failed;
    }
    let mut frames = 0;
    let mut frames_in_window = 0;
    let mut ended_early = Vec::new();
    for (k, receiver) in receivers.into_iter().enumerate() {
        let received = receiver.await?;
        frames += received.frames;
        frames_in_window += received.frames_in_window;
        if let Some(why) = received.ended_early {
            ended_early.push(format!("user {}: {why}", k / per_user));
        }
    }
    if !ended_early.is_empty() {
        eprintln!(
            "{} sockets ended before the run did, e.g. {:?}",
            ended_early.len(),
            &ended_early[..ended_early.len().min(5)]
        );
    }
    let window_secs = Duration::from_secs(options.seconds)
        .as_secs_f64()
        .max(0.001);
    let Delivery {
        from_accept,
        from_request,
        lost,
    } = Delivery::of(
        &traces,
        warmup_until,
        u32::try_from(per_user).unwrap_or(u32::MAX),
    );
    println!(
        "scenario={}{} users={} sockets={} interval_ms={} seconds={} accepted={} refused={} delivered={} undelivered={} frames={} sockets_ended_early={} \
sockets_on={} offered_sends_per_s={:.1} delivered_sends_per_s={:.1} frames_per_s={:.0} \
accept_to_frame p50={:.2}ms p90={:.2}ms p99={:.2}ms max={:.2}ms; request_to_frame p50={:.2}ms p99={:.2}ms",
        if photos.is_some() { "ws-media" } else { "ws" },
        fresh_label(options),
        users,
        users * per_user,
        interval.as_millis(),
        options.seconds,
        accepted,
        refused,
        from_accept.len(),
        lost.len(),
        frames,
        ended_early.len(),
        options.ws_url.as_deref().unwrap_or(&options.url),
        // What the users were asked to send, a second, and what reached every socket of
        // the peer (sends requested in the window), and every frame any socket received
        // in the window: the fan-out's throughput.
        users as f64 * 1000.0 / interval.as_millis().max(1) as f64,
        from_accept.len() as f64 / window_secs,
        frames_in_window as f64 / window_secs,
        percentile(&from_accept, 0.50),
        percentile(&from_accept, 0.90),
        percentile(&from_accept, 0.99),
        percentile(&from_accept, 1.0),
        percentile(&from_request, 0.50),
        percentile(&from_request, 0.99),
    );
    // Per delivered send: its 202 and its frame (and, when the sockets are on another
    // relay, that relay's whole cost).
    let (before, after) = cpu_window.await?;
    println!(
        "{} (per delivered send)",
        cpu::report(
            &before,
            &after,
            from_accept.len(),
            Duration::from_secs(options.seconds)
        )
    );
    anyhow::ensure!(
        !from_accept.is_empty(),
        "no message reached its peer's socket"
    );
    Ok(())
}

/// Resident memory of process `pid`, in bytes.
pub(crate) fn resident_bytes(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.split_whitespace().next())
        .and_then(|value| value.parse().ok())
        .context("no VmRSS")?;
    Ok(kib * 1024)
}

/// Keeps a socket open and idle, answering pings, until `stop_at`; whether it lasted.
async fn hold(mut socket: Socket, stop_at: Instant) -> bool {
    loop {
        match tokio::time::timeout_at(stop_at.into(), socket.next()).await {
            Err(_) => {
                // It lasted, which is what is measured; how the close goes changes nothing.
                let _ = socket.close(None).await;
                return true;
            }
            Ok(Some(Ok(_))) => {}
            Ok(_) => return false,
        }
    }
}

/// The `ws-idle` scenario.
pub(crate) async fn run_idle(options: &Arc<Options>, accounts: &[Account]) -> anyhow::Result<()> {
    let per_user = options.connections_per_user.max(1);
    let before = options.pid.map(resident_bytes).transpose()?;
    let opened = Instant::now();
    let targets: Vec<&Account> = accounts
        .iter()
        .flat_map(|account| std::iter::repeat_n(account, per_user))
        .collect();
    let sockets: Vec<Socket> = futures::stream::iter(targets)
        .map(|account| open(options, account))
        .buffer_unordered(64)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<_>>()?;
    let count = sockets.len();
    eprintln!(
        "{count} idle WebSockets open ({:.1} s)",
        opened.elapsed().as_secs_f64()
    );
    let stop_at = Instant::now() + Duration::from_secs(options.seconds);
    let holders: Vec<_> = sockets
        .into_iter()
        .map(|socket| tokio::spawn(hold(socket, stop_at)))
        .collect();
    // Let the gateway settle (buffers, the subscriptions behind each socket), then measure
    // while they are all held.
    tokio::time::sleep(Duration::from_secs(options.seconds.min(10) / 2)).await;
    let after = options.pid.map(resident_bytes).transpose()?;
    let mut lasted = 0;
    for holder in holders {
        lasted += usize::from(holder.await?);
    }
    let memory = match (before, after) {
        (Some(before), Some(after)) => {
            let grown = after.saturating_sub(before).max(1);
            let per_connection = grown as f64 / count as f64;
            format!(
                " rss_before={:.1}MiB rss_after={:.1}MiB per_connection={:.1}KiB connections_per_GiB={:.0}",
                before as f64 / 1048576.0,
                after as f64 / 1048576.0,
                per_connection / 1024.0,
                1073741824.0 / per_connection
            )
        }
        _ => String::new(),
    };
    println!(
        "scenario=ws-idle users={} sockets={count} held_for={}s lasted={lasted}{memory}",
        accounts.len(),
        options.seconds
    );
    anyhow::ensure!(
        lasted == count,
        "{} sockets dropped while idle",
        count - lasted
    );
    Ok(())
}
