//! The live tail (ADR 0053): events the ingest appends reach the streams of this process
//! in memory, without being read back from the log, and a stream that cannot take them
//! so (behind, lagging, or after an append of another process) reads the log and loses or
//! doubles nothing. The service's own parts (its ingest from a real bus, its streams,
//! its live hand-over) on a real log (in process, or Redis), with the log's reads counted.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use prost::Message as _;
use talkapp_bus::Bus;
use talkapp_eventlog::memory::MemoryEventLog;
use talkapp_eventlog::redis::{RedisEventLog, RedisOptions};
use talkapp_eventlog::{AccountKey, Appended, EventLog, LogError, Replay, Retention, Watch};
use talkapp_proto::realtime::v1 as proto;
use talkapp_proto::tonic::Status;
use talkapp_realtime_service::live::{self, Live};
use talkapp_realtime_service::presence::Presence;
use talkapp_realtime_service::{ingest, subscribe};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::support::{publish_typing, typing_event};

/// A log that counts its reads: the cost the live tail saves.
struct CountingLog {
    inner: Arc<dyn EventLog>,
    reads: AtomicUsize,
}

#[async_trait::async_trait]
impl EventLog for CountingLog {
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }

    async fn append_after(
        &self,
        account: AccountKey,
        event_id: i64,
        payload: &[u8],
        repeat_key: Option<&str>,
    ) -> Result<Appended, LogError> {
        self.inner
            .append_after(account, event_id, payload, repeat_key)
            .await
    }

    async fn read_since(
        &self,
        account: AccountKey,
        since: Option<i64>,
        limit: usize,
    ) -> Result<Replay, LogError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.read_since(account, since, limit).await
    }

    async fn newest(&self, account: AccountKey) -> Result<Option<i64>, LogError> {
        self.inner.newest(account).await
    }

    async fn watch(&self, account: AccountKey) -> Result<Watch, LogError> {
        self.inner.watch(account).await
    }
}

#[derive(Debug, Clone, Copy)]
enum Backend {
    Memory,
    Redis,
}

/// The ingest on an in-process bus into a counted log, and the live hand-over.
struct Service {
    bus: Bus,
    log: Arc<CountingLog>,
    /// The same logs through another handle: another process's appends.
    other_process: Arc<dyn EventLog>,
    live: Arc<Live>,
    presence: Arc<Presence>,
    stop: CancellationToken,
}

impl Service {
    fn start(backend: Backend) -> Self {
        let retention = Retention {
            // Also the TTL of the Redis keys a test leaves behind.
            max_age: Duration::from_secs(60 * 60),
            ..Retention::default()
        };
        let (log, other_process): (Arc<dyn EventLog>, Arc<dyn EventLog>) = match backend {
            Backend::Memory => {
                let log = MemoryEventLog::new(retention);
                (Arc::new(log.clone()), Arc::new(log))
            }
            Backend::Redis => {
                let prefix = format!("talkapp-test-{}", Uuid::new_v4().simple());
                let open = || {
                    Arc::new(
                        RedisEventLog::new(RedisOptions {
                            url: "redis://127.0.0.1:6379".into(),
                            prefix: prefix.clone(),
                            retention,
                        })
                        .expect("redis url"),
                    )
                };
                (open(), open())
            }
        };
        let log = Arc::new(CountingLog {
            inner: log,
            reads: AtomicUsize::new(0),
        });
        let bus = Bus::new(None);
        let live = Live::new();
        let stop = CancellationToken::new();
        tokio::spawn(ingest::run(
            Arc::clone(&bus.events),
            Arc::clone(&log) as Arc<dyn EventLog>,
            Arc::clone(&live),
            None,
            stop.clone(),
        ));
        Self {
            bus,
            log,
            other_process,
            live,
            presence: Presence::local(),
            stop,
        }
    }

    fn reads(&self) -> usize {
        self.log.reads.load(Ordering::SeqCst)
    }

    /// A stream of `account` after `start`, into a channel of `buffer` events.
    fn stream(
        &self,
        account: AccountKey,
        start: subscribe::Start,
        buffer: usize,
    ) -> mpsc::Receiver<Result<proto::Event, Status>> {
        let (sender, receiver) = mpsc::channel(buffer);
        tokio::spawn(subscribe::stream(
            Arc::clone(&self.log) as Arc<dyn EventLog>,
            Arc::clone(&self.live),
            Arc::clone(&self.presence),
            account,
            start,
            Uuid::new_v4().to_string(),
            sender,
            self.stop.clone(),
        ));
        receiver
    }

    /// Publishes a `typing` event of the account on the bus, as its host would.
    async fn publish(&self, account: AccountKey, event_id: i64) {
        publish_typing(
            &self.bus,
            &account.user_id.to_string(),
            account.session_index,
            event_id,
        )
        .await;
    }

    /// Appends an event to the log as another process's ingest would.
    async fn append_elsewhere(&self, account: AccountKey, event_id: i64) {
        let event = typing_event(
            &account.user_id.to_string(),
            account.session_index,
            event_id,
        );
        assert!(
            self.other_process
                .append(account, event_id, &event.encode_to_vec())
                .await
                .expect("appended")
        );
    }

    /// Waits until the log holds `event_id` for the account (the ingest took it).
    async fn logged(&self, account: AccountKey, event_id: i64) {
        tokio::time::timeout(Duration::from_secs(10), async {
            while self.other_process.newest(account).await.expect("newest") < Some(event_id) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("the ingest logs the event");
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

fn new_account() -> AccountKey {
    AccountKey::new(Uuid::new_v4(), 1)
}

/// The ids of the next `count` events of a stream, each within 10 s.
async fn next_ids(
    stream: &mut mpsc::Receiver<Result<proto::Event, Status>>,
    count: usize,
) -> Vec<i64> {
    let mut ids = Vec::with_capacity(count);
    while ids.len() < count {
        let event = tokio::time::timeout(Duration::from_secs(10), stream.recv())
            .await
            .unwrap_or_else(|_| panic!("only {ids:?} of {count} events came"))
            .expect("the stream goes on")
            .expect("the stream is healthy");
        ids.push(event.event_id);
    }
    ids
}

/// Nothing more within a while (no event twice).
async fn nothing_more(stream: &mut mpsc::Receiver<Result<proto::Event, Status>>) {
    if let Ok(Some(extra)) = tokio::time::timeout(Duration::from_millis(400), stream.recv()).await {
        panic!("an event more than expected: {extra:?}");
    }
}

async fn live_streams_get_ingested_events_once_in_order_without_reading_the_log(backend: Backend) {
    let service = Service::start(backend);
    let account = new_account();
    let other = new_account();
    // Two streams of the account (two gateways), one of another account.
    let mut first = service.stream(account, subscribe::Start::Resolved(None), 256);
    let mut second = service.stream(account, subscribe::Start::Resolved(None), 256);
    let mut theirs = service.stream(other, subscribe::Start::Resolved(None), 256);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let reads_before = service.reads();

    for event_id in 1..=100 {
        service.publish(account, event_id).await;
        if event_id % 10 == 0 {
            service.publish(other, event_id).await;
        }
    }
    // Told again (a redelivery, or the publisher's replay): the log takes it once.
    service.publish(account, 100).await;
    service.publish(account, 50).await;
    service.publish(account, 101).await;

    let expected: Vec<i64> = (1..=101).collect();
    assert_eq!(next_ids(&mut first, 101).await, expected);
    assert_eq!(next_ids(&mut second, 101).await, expected);
    assert_eq!(
        next_ids(&mut theirs, 10).await,
        (1..=10).map(|n| n * 10).collect::<Vec<i64>>()
    );
    nothing_more(&mut first).await;
    nothing_more(&mut second).await;
    // 111 appends reached three streams; a stream reads the log only when a live copy
    // cannot follow its cursor (rare races with the watch's grace), not per event.
    let reads = service.reads() - reads_before;
    assert!(reads <= 6, "the streams read the log {reads} times");
    // One at a time, each awaited by both streams: a burst is read in one page after the
    // watch's grace, but without the live hand-over every one of these would be a read
    // of the log per stream (20).
    let reads_before = service.reads();
    for event_id in 102..=111 {
        service.publish(account, event_id).await;
        assert_eq!(next_ids(&mut first, 1).await, vec![event_id]);
        assert_eq!(next_ids(&mut second, 1).await, vec![event_id]);
    }
    let reads = service.reads() - reads_before;
    assert!(
        reads <= 5,
        "one event at a time, the streams read the log {reads} times for 10 events"
    );
    assert_eq!(service.live.accounts(), 2);
    drop((first, second, theirs));
    tokio::time::timeout(Duration::from_secs(10), async {
        while service.live.accounts() > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("an account's channel goes with its last stream");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_live_streams_get_ingested_events_once_in_order_without_reading_the_log() {
    live_streams_get_ingested_events_once_in_order_without_reading_the_log(Backend::Memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_live_streams_get_ingested_events_once_in_order_without_reading_the_log() {
    live_streams_get_ingested_events_once_in_order_without_reading_the_log(Backend::Redis).await;
}

async fn a_stream_that_falls_behind_catches_up_from_the_log(backend: Backend) {
    let service = Service::start(backend);
    let account = new_account();
    // A reader that takes nothing for a while: the stream's channel of one fills, the
    // stream waits on it, and its live copies overflow their channel (lag).
    let mut slow = service.stream(account, subscribe::Start::Resolved(None), 1);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let count = i64::try_from(live::CHANNEL * 3).expect("small");
    for event_id in 1..=count {
        service.publish(account, event_id).await;
    }
    service.logged(account, count).await;

    let ids = next_ids(&mut slow, live::CHANNEL * 3).await;
    assert_eq!(ids, (1..=count).collect::<Vec<i64>>());
    // And live again after catching up.
    service.publish(account, count + 1).await;
    assert_eq!(next_ids(&mut slow, 1).await, vec![count + 1]);
    nothing_more(&mut slow).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_a_stream_that_falls_behind_catches_up_from_the_log() {
    a_stream_that_falls_behind_catches_up_from_the_log(Backend::Memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_a_stream_that_falls_behind_catches_up_from_the_log() {
    a_stream_that_falls_behind_catches_up_from_the_log(Backend::Redis).await;
}

async fn a_reconnecting_stream_gets_what_it_missed_from_the_log_then_the_live_tail(
    backend: Backend,
) {
    let service = Service::start(backend);
    let account = new_account();
    let mut before = service.stream(account, subscribe::Start::Resolved(None), 256);
    tokio::time::sleep(Duration::from_millis(200)).await;
    for event_id in 1..=5 {
        service.publish(account, event_id).await;
    }
    assert_eq!(next_ids(&mut before, 3).await, vec![1, 2, 3]);
    drop(before);
    for event_id in 6..=8 {
        service.publish(account, event_id).await;
    }
    service.logged(account, 8).await;

    // Back with its cursor (3), while the ingest goes on appending.
    let mut again = service.stream(account, subscribe::Start::After(3), 256);
    for event_id in 9..=30 {
        service.publish(account, event_id).await;
    }
    assert_eq!(
        next_ids(&mut again, 27).await,
        (4..=30).collect::<Vec<i64>>()
    );
    nothing_more(&mut again).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_a_reconnecting_stream_gets_what_it_missed_from_the_log_then_the_live_tail() {
    a_reconnecting_stream_gets_what_it_missed_from_the_log_then_the_live_tail(Backend::Memory)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_a_reconnecting_stream_gets_what_it_missed_from_the_log_then_the_live_tail() {
    a_reconnecting_stream_gets_what_it_missed_from_the_log_then_the_live_tail(Backend::Redis).await;
}

async fn events_another_process_appended_reach_the_stream_in_their_place(backend: Backend) {
    let service = Service::start(backend);
    let account = new_account();
    let mut stream = service.stream(account, subscribe::Start::Resolved(None), 256);
    tokio::time::sleep(Duration::from_millis(200)).await;
    service.publish(account, 1).await;
    assert_eq!(next_ids(&mut stream, 1).await, vec![1]);

    // Another replica's ingest appends 2 (no live copy here), then this one appends 3,
    // whose live copy follows 2, not the stream's cursor 1.
    service.append_elsewhere(account, 2).await;
    service.publish(account, 3).await;
    assert_eq!(next_ids(&mut stream, 2).await, vec![2, 3]);

    // Alone, an append of another process comes through the log's watch.
    service.append_elsewhere(account, 4).await;
    assert_eq!(next_ids(&mut stream, 1).await, vec![4]);
    service.publish(account, 5).await;
    assert_eq!(next_ids(&mut stream, 1).await, vec![5]);
    nothing_more(&mut stream).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_events_another_process_appended_reach_the_stream_in_their_place() {
    events_another_process_appended_reach_the_stream_in_their_place(Backend::Memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_events_another_process_appended_reach_the_stream_in_their_place() {
    events_another_process_appended_reach_the_stream_in_their_place(Backend::Redis).await;
}
