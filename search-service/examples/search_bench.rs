//! The search benchmark of `docs/BENCHMARKS.md`: the search service on its real store,
//! index and bus, seeded with `ACCOUNTS` x `PER_ACCOUNT` messages (default 1,000 x 1,000),
//! then searched over gRPC at `QPS` queries per second (open loop: latency counts from
//! when a query was due, so a slow service cannot hide its backlog) for `SECONDS`, while
//! lag probes publish `message.new` events and time them until searchable.
//!
//! ```sh
//! cargo run --release -p talkapp-search-service --example search_bench
//! BACKEND=postgres DATABASE_URL=postgres://postgres@127.0.0.1:5432/search_bench \
//!   AMQP_URL=amqp://guest:guest@127.0.0.1:5672/%2f \
//!   cargo run --release -p talkapp-search-service --example search_bench
//! ```
//!
//! Figures: search p50/p99/max, indexing lag p50/p99/max, the index's size on disk, the
//! process's memory (the service and this load generator share it) and CPU per query.

use std::sync::Arc;
use std::time::{Duration, Instant};

use prost::Message as _;
use talkapp_bus::Bus;
use talkapp_common::config::{Config, ConfigSources};
use talkapp_proto::chat::v1 as chat;
use talkapp_proto::realtime::v1 as realtime;
use talkapp_proto::search::v1 as proto;
use talkapp_proto::search::v1::search_service_client::SearchServiceClient;
use talkapp_search_service::index::{IndexChange, SearchIndex};
use talkapp_search_service::service::indexed_record;
use talkapp_store::{AccountKey, CachedMessage, LinkStatus, Store, TelegramAccount};
use tokio_util::sync::CancellationToken;

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

/// A small deterministic generator (xorshift64*), so every run indexes the same text.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, bound: usize) -> usize {
        usize::try_from(self.next() % bound as u64).unwrap_or(0)
    }

    /// Skewed towards the front (a few words are common, most are rare).
    fn skewed(&mut self, bound: usize) -> usize {
        let unit = (self.next() % 1_000_000) as f64 / 1_000_000.0;
        ((unit * unit * unit) * bound as f64) as usize
    }
}

const SYLLABLES: &[&str] = &[
    "sa", "lom", "ki", "tob", "da", "ra", "xo", "na", "bo", "li", "sh", "ch", "mu", "ta", "ya",
    "qo", "g'a", "o'z", "be", "ni", "ko", "ma", "ri", "ja", "vo", "zu", "pe", "fa", "hu", "go",
];
const CYRILLIC: &[&str] = &[
    "са", "лом", "ки", "тоб", "да", "ра", "хо", "на", "бо", "ли", "ш", "ч", "му", "та", "я",
];

fn vocabulary(random: &mut Random, size: usize) -> Vec<String> {
    (0..size)
        .map(|n| {
            let syllables = 2 + random.below(3);
            let table = if n % 5 == 4 { CYRILLIC } else { SYLLABLES };
            (0..syllables)
                .map(|_| table[random.below(table.len())])
                .collect::<String>()
        })
        .collect()
}

fn text(random: &mut Random, words: &[String]) -> String {
    let count = 5 + random.below(10);
    (0..count)
        .map(|_| words[random.skewed(words.len())].as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

fn cached(chat_id: i64, message_id: i32, date: i64, text: String) -> CachedMessage {
    CachedMessage {
        chat_id,
        message_id,
        date,
        edit_date: None,
        sender_id: Some(chat_id),
        outgoing: false,
        text,
        reply_to: None,
        views: None,
        service: None,
        details: "{}".to_owned(),
    }
}

fn indexed(key: AccountKey, message: &CachedMessage) -> IndexChange {
    IndexChange::UpsertMessage {
        message: indexed_record(key, message),
        event_id: None,
    }
}

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 - 1.0) * fraction).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn millis(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1000.0)
}

/// Memory of this process from `/proc/self/status` (KiB): resident now, and its peak.
fn memory_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|line| line.starts_with(name))
            .and_then(|line| line.split_whitespace().nth(1))
            .and_then(|value| value.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// CPU time this process used so far (user + system), from `/proc/self/stat`.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces) start past the last ')'.
    let after = stat.rsplit(')').next().unwrap_or_default();
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |index: usize| {
        fields
            .get(index)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after the name.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

async fn link_accounts(store: &Arc<dyn Store>, count: u64) -> Vec<AccountKey> {
    let mut keys = Vec::new();
    // Linked long ago: the service's settling rebuilds (first minutes after linking) are
    // not what this measures.
    let linked_at = talkapp_store::now() - chrono::TimeDelta::hours(1);
    for n in 0..count {
        let user_id = uuid::Uuid::new_v4();
        store
            .create_user(&talkapp_store::NewUser {
                id: user_id,
                email: format!("bench-{n}-{}@example.com", user_id.simple()),
                email_normalized: format!("bench-{n}-{}@example.com", user_id.simple()),
                password_hash: "$argon2id$bench".into(),
                created_at: talkapp_store::now(),
            })
            .await
            .expect("user");
        let session = store
            .link_telegram_account(
                user_id,
                &TelegramAccount {
                    telegram_user_id: 1_000_000 + i64::try_from(n).unwrap_or(0),
                    first_name: format!("Bench {n}"),
                    last_name: String::new(),
                    username: String::new(),
                    phone: format!("99899{n:07}"),
                },
                LinkStatus::Connected,
                b"sealed",
                linked_at,
            )
            .await
            .expect("linked");
        keys.push(AccountKey {
            user_id,
            session_index: session.session_index,
        });
    }
    keys
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let accounts = setting("ACCOUNTS", 1_000);
    let per_account = setting("PER_ACCOUNT", 1_000);
    let qps = setting("QPS", 200);
    let seconds = setting("SECONDS", 30);
    let probes_per_second = setting("PROBES_PER_SECOND", 10);
    let backend = std::env::var("BACKEND").unwrap_or_else(|_| "sqlite".into());
    let work = std::env::temp_dir().join(format!("talkapp-search-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let (database_url, amqp_url) = if backend == "postgres" {
        (
            std::env::var("DATABASE_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/search_bench".into()),
            std::env::var("AMQP_URL")
                .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into()),
        )
    } else {
        (
            format!("sqlite://{}/talkapp.db", work.display()),
            String::new(),
        )
    };
    let config = Config::load(&ConfigSources {
        file: None,
        overrides: vec![
            ("database.url".into(), database_url.clone()),
            ("data.dir".into(), work.display().to_string()),
            ("amqp.url".into(), amqp_url),
            (
                "amqp.prefix".into(),
                format!("search-bench-{}", std::process::id()),
            ),
            ("amqp.queue_type".into(), "classic".into()),
            ("amqp.queue_expires_secs".into(), "60".into()),
            ("database.max_connections".into(), "16".into()),
        ],
        read_environment: false,
    })?;
    println!(
        "search bench: backend {backend}, {accounts} accounts x {per_account} messages, {qps} queries/s for {seconds} s"
    );
    let store = talkapp_store::connect(&config.database).await?;
    let index: Arc<dyn SearchIndex> = talkapp_search_service::index::open(&config).await?;
    let bus = Bus::from_config(&config.amqp);

    // Seed: the chat cache (hits are shown from it) and the index, as events and builds
    // would leave them.
    let mut random = Random(0x9e37_79b9_7f4a_7c15);
    let words = vocabulary(&mut random, 5_000);
    let seeding = Instant::now();
    let keys = link_accounts(&store, accounts).await;
    let base_date = 1_700_000_000_i64;
    for (n, key) in keys.iter().enumerate() {
        let messages: Vec<CachedMessage> = (0..per_account)
            .map(|i| {
                let id = i32::try_from(i + 1).unwrap_or(i32::MAX);
                let chat_id = 1_000 + i64::try_from(i % 20).unwrap_or(0);
                cached(
                    chat_id,
                    id,
                    base_date + i64::from(id) * 60,
                    text(&mut random, &words),
                )
            })
            .collect();
        for chunk in messages.chunks(500) {
            store.upsert_messages(*key, chunk, false).await?;
            let changes: Vec<IndexChange> = chunk.iter().map(|m| indexed(*key, m)).collect();
            index.apply(&changes).await?;
        }
        index.mark_built(*key).await?;
        if (n + 1) % 100 == 0 {
            println!(
                "  seeded {} accounts ({:.0} s)",
                n + 1,
                seeding.elapsed().as_secs_f64()
            );
        }
    }
    let seeded_in = seeding.elapsed();
    let size = index.size_on_disk().await?;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let app = talkapp_search_service::Application::build_with(
        &config,
        Arc::clone(&store) as Arc<dyn talkapp_store::SearchStore>,
        bus.clone(),
        Arc::clone(&index),
        None,
        listener,
    )?;
    let port = app.port();
    let shutdown = CancellationToken::new();
    let service = tokio::spawn(app.run_until_stopped(shutdown.clone()));
    let client = SearchServiceClient::connect(format!("http://127.0.0.1:{port}")).await?;
    let (rss_before, _) = memory_kib();

    // Warm up (connections, statement caches), not counted.
    for key in keys.iter().take(50) {
        let _ = client.clone().search_messages(query(*key, &words[0])).await;
    }

    let stop_probes = CancellationToken::new();
    let probes = tokio::spawn(lag_probes(
        store.clone(),
        bus.clone(),
        client.clone(),
        keys.clone(),
        probes_per_second,
        stop_probes.clone(),
    ));
    let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel();
    let cpu_before = cpu_time();
    let started = tokio::time::Instant::now();
    let total = qps * seconds;
    let interval = Duration::from_secs_f64(1.0 / qps as f64);
    let mut query_random = Random(0x1234_5678_9abc_def1);
    for n in 0..total {
        let due = started + interval.mul_f64(n as f64);
        tokio::time::sleep_until(due).await;
        let key = keys[query_random.below(keys.len())];
        let mut text = words[query_random.skewed(words.len())].clone();
        match query_random.below(4) {
            // A word prefix.
            0 => text = text.chars().take(3.max(text.chars().count() - 1)).collect(),
            // Two words.
            1 => {
                text.push(' ');
                text.push_str(&words[query_random.skewed(words.len() / 10)]);
            }
            _ => {}
        }
        let mut client = client.clone();
        let sender = sender.clone();
        tokio::spawn(async move {
            let outcome = client.search_messages(query(key, &text)).await;
            let hits = outcome
                .as_ref()
                .map_or(0, |reply| reply.get_ref().hits.len());
            let _ = sender.send((due.elapsed(), outcome.is_ok(), hits));
        });
    }
    drop(sender);
    let mut latencies = Vec::new();
    let mut errors = 0;
    let mut empty = 0;
    while let Some((latency, ok, hits)) = receiver.recv().await {
        latencies.push(latency);
        if !ok {
            errors += 1;
        } else if hits == 0 {
            empty += 1;
        }
    }
    let load_time = started.elapsed();
    let cpu_used = cpu_time().saturating_sub(cpu_before);
    stop_probes.cancel();
    let mut lags = probes.await?;
    let (rss_after, rss_peak) = memory_kib();
    latencies.sort_unstable();
    lags.sort_unstable();

    println!(
        "seeded {} messages in {:.0} s",
        accounts * per_account,
        seeded_in.as_secs_f64()
    );
    println!(
        "search: {} queries in {:.1} s ({:.0}/s), errors {errors}, without hits {empty}",
        latencies.len(),
        load_time.as_secs_f64(),
        latencies.len() as f64 / load_time.as_secs_f64()
    );
    println!(
        "search latency: p50 {}, p90 {}, p99 {}, max {}",
        millis(percentile(&latencies, 0.50)),
        millis(percentile(&latencies, 0.90)),
        millis(percentile(&latencies, 0.99)),
        millis(latencies.last().copied().unwrap_or_default())
    );
    println!(
        "indexing lag (message.new -> searchable, {} probes): p50 {}, p99 {}, max {}",
        lags.len(),
        millis(percentile(&lags, 0.50)),
        millis(percentile(&lags, 0.99)),
        millis(lags.last().copied().unwrap_or_default())
    );
    println!("index size on disk: {:.1} MiB", size as f64 / 1_048_576.0);
    println!(
        "process memory (service + load generator): RSS {:.0} MiB before the load, {:.0} MiB after, peak {:.0} MiB",
        rss_before as f64 / 1024.0,
        rss_after as f64 / 1024.0,
        rss_peak as f64 / 1024.0
    );
    println!(
        "CPU during the load: {:.1} s for {} queries and {} probes = {:.2} ms per query",
        cpu_used.as_secs_f64(),
        latencies.len(),
        lags.len(),
        cpu_used.as_secs_f64() * 1000.0 / latencies.len().max(1) as f64
    );
    shutdown.cancel();
    let _ = service.await;
    let _ = std::fs::remove_dir_all(&work);
    Ok(())
}

fn query(key: AccountKey, text: &str) -> proto::SearchMessagesRequest {
    proto::SearchMessagesRequest {
        user_id: key.user_id.to_string(),
        session_index: Some(key.session_index),
        query: text.to_owned(),
        ..proto::SearchMessagesRequest::default()
    }
}

/// Publishes `message.new` events with a word of their own (the cache first, as the
/// account's host does) and times each until a search finds it.
async fn lag_probes(
    store: Arc<dyn Store>,
    bus: Bus,
    client: SearchServiceClient<talkapp_proto::tonic::transport::Channel>,
    keys: Vec<AccountKey>,
    per_second: u64,
    stop: CancellationToken,
) -> Vec<Duration> {
    let mut lags = Vec::new();
    let mut random = Random(0xdead_beef_cafe_f00d);
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / per_second.max(1) as f64));
    let mut n: i32 = 0;
    while !stop.is_cancelled() {
        ticker.tick().await;
        n += 1;
        let key = keys[random.below(keys.len())];
        let word = format!("lagprobe{n}x");
        let message = cached(
            9_999,
            n,
            1_800_000_000 + i64::from(n),
            format!("{word} yangi xabar"),
        );
        let published = Instant::now();
        if store
            .upsert_messages(key, std::slice::from_ref(&message), false)
            .await
            .is_err()
        {
            continue;
        }
        let event = realtime::Event {
            event_id: i64::from(n),
            user_id: key.user_id.to_string(),
            session_index: key.session_index,
            r#type: "message.new".into(),
            at: chrono::Utc::now().to_rfc3339(),
            payload: Some(realtime::event::Payload::Message(chat::Message {
                id: message.message_id,
                chat_id: message.chat_id.to_string(),
                date: chrono::DateTime::from_timestamp(message.date, 0)
                    .map(|at| at.to_rfc3339())
                    .unwrap_or_default(),
                text: message.text.clone(),
                ..chat::Message::default()
            })),
        };
        if bus
            .events
            .publish_event(
                &format!("{}.{}.message.new", key.user_id, key.session_index),
                &event.encode_to_vec(),
            )
            .await
            .is_err()
        {
            continue;
        }
        let mut client = client.clone();
        loop {
            let found = client
                .search_messages(query(key, &word))
                .await
                .map(|reply| !reply.get_ref().hits.is_empty())
                .unwrap_or(false);
            if found {
                lags.push(published.elapsed());
                break;
            }
            if published.elapsed() > Duration::from_secs(10) {
                lags.push(published.elapsed());
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    lags
}
