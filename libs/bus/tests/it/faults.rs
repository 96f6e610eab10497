//! The RabbitMQ bus when the broker stops answering or restarts (issue 16, finding 12).
//!
//! A broker that restarts, or a link that goes silent, must never leave a publish waiting
//! forever: the account's event publishing is serialised behind each publish, and a send
//! worker acknowledges its deliveries only after it (one lost confirm used to stall an
//! account's sends until the chat service was restarted). These tests use a broker of
//! their own (`talkapp_testkit`) or a proxy in front of the shared one, never stopping
//! the shared broker.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use talkapp_bus::amqp::{AmqpBus, AmqpOptions, QueueType};
use talkapp_bus::{EventBus, JobQueue};
use talkapp_testkit::{PrivateRabbitMq, StallingProxy};

/// The longest a single publish may take, however the broker behaves: the bus's own
/// deadline for a broker round trip plus a margin for a loaded machine.
const LONGEST_PUBLISH: Duration = Duration::from_secs(20);

fn shared_broker_address() -> String {
    std::env::var("TALKAPP_TEST_AMQP_URL")
        .ok()
        .and_then(|url| {
            url.split_once('@')
                .and_then(|(_, rest)| rest.split_once('/'))
                .map(|(host, _)| host.to_owned())
        })
        .unwrap_or_else(|| "127.0.0.1:5672".to_owned())
}

fn bus_at(address: &str, queue_type: QueueType) -> Arc<AmqpBus> {
    Arc::new(AmqpBus::new(AmqpOptions {
        url: format!("amqp://guest:guest@{address}/%2f"),
        prefix: format!("talkapp-test-{}", uuid::Uuid::new_v4().simple()),
        queue_type,
        queue_expires: Some(Duration::from_secs(60)),
        standing_event_queues: vec![("log".to_owned(), "#".to_owned())],
    }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_whose_confirm_never_comes_gives_up_in_bounded_time_and_the_next_one_succeeds() {
    let proxy = StallingProxy::start(&shared_broker_address()).await;
    let bus = bus_at(&proxy.address(), QueueType::Classic);
    bus.publish_event("user.1.message.new", b"before")
        .await
        .expect("published while the link works");
    bus.publish(7, b"job before").await.expect("job published");

    // The link goes silent: the broker never sees the message, so never confirms it.
    proxy.stall();
    let started = Instant::now();
    let event = tokio::time::timeout(
        LONGEST_PUBLISH,
        bus.publish_event("user.1.message.new", b"lost"),
    )
    .await
    .expect("an event publish without a confirm returns within its deadline");
    assert!(event.is_err(), "no confirm, no success: {event:?}");
    let job = tokio::time::timeout(LONGEST_PUBLISH, bus.publish(7, b"job lost"))
        .await
        .expect("a job publish without a confirm returns within its deadline");
    assert!(job.is_err(), "no confirm, no success: {job:?}");
    eprintln!("gave up after {:?}", started.elapsed());

    // The link works again: the next publishes succeed (on a fresh connection).
    proxy.resume();
    let deadline = Instant::now() + LONGEST_PUBLISH;
    loop {
        let attempt = tokio::time::timeout(
            LONGEST_PUBLISH,
            bus.publish_event("user.1.message.new", b"after"),
        )
        .await
        .expect("a publish returns within its deadline");
        if attempt.is_ok() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "publishing never recovered: {attempt:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    bus.publish(7, b"job after")
        .await
        .expect("job published again");
}

/// What [`publish_across_a_broker_restart`] saw.
struct RestartRun {
    /// Publishes the broker confirmed, with when each confirm came back.
    confirmed: Vec<(String, Instant)>,
    /// Bodies read back from the standing queue after the restart.
    seen: std::collections::HashSet<String>,
    /// When `rabbitmqctl stop_app` was called, and when it had finished.
    stopping: Instant,
    stopped: Instant,
}

impl RestartRun {
    /// The confirmed publishes not read back, each with its confirm's time relative to
    /// the start of the broker's shutdown (negative: before it).
    fn missing(&self) -> Vec<(String, f64)> {
        self.confirmed
            .iter()
            .filter(|(body, _)| !self.seen.contains(body))
            .map(|(body, at)| {
                let offset = if *at >= self.stopping {
                    at.duration_since(self.stopping).as_secs_f64()
                } else {
                    -self.stopping.duration_since(*at).as_secs_f64()
                };
                (body.clone(), offset)
            })
            .collect()
    }
}

/// Many publishers at once (as the chat service's accounts publish their events) while
/// a broker of this test's own stops and starts again. Asserts what holds for every
/// queue type: no publish hangs past [`LONGEST_PUBLISH`], and every publisher gets
/// through again soon after the broker is back. Returns what was confirmed and what the
/// standing queue holds afterwards, for the caller's durability check.
async fn publish_across_a_broker_restart(queue_type: QueueType) -> RestartRun {
    let broker = PrivateRabbitMq::start().await;
    let bus = bus_at(&broker.address(), queue_type);
    bus.publish_event("warm.1.up", b"warm-up")
        .await
        .expect("first publish");

    const PUBLISHERS: u64 = 24;
    let stop = Arc::new(AtomicBool::new(false));
    let longest_ms = Arc::new(AtomicU64::new(0));
    let successes = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for publisher in 0..PUBLISHERS {
        let bus = Arc::clone(&bus);
        let stop = Arc::clone(&stop);
        let longest_ms = Arc::clone(&longest_ms);
        let successes = Arc::clone(&successes);
        tasks.push(tokio::spawn(async move {
            let mut confirmed = Vec::new();
            let mut n = 0_u64;
            let mut last_success = Instant::now();
            while !stop.load(Ordering::Relaxed) {
                let body = format!("{publisher}/{n}");
                let started = Instant::now();
                let outcome = tokio::time::timeout(
                    LONGEST_PUBLISH * 3,
                    bus.publish_event(&format!("p{publisher}.1.message.new"), body.as_bytes()),
                )
                .await;
                let took = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                longest_ms.fetch_max(took, Ordering::Relaxed);
                match outcome {
                    Ok(Ok(())) => {
                        last_success = Instant::now();
                        confirmed.push((body, last_success));
                        successes.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(Err(_)) => tokio::time::sleep(Duration::from_millis(50)).await,
                    Err(_) => panic!("publisher {publisher}: a publish hung for {took} ms"),
                }
                n += 1;
            }
            (confirmed, last_success)
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let stopping = Instant::now();
    broker.stop_app().await;
    let stopped = Instant::now();
    tokio::time::sleep(Duration::from_secs(3)).await;
    broker.start_app().await;
    let back = Instant::now();
    // Every publisher must get through again soon after the broker is back.
    let successes_before = successes.load(Ordering::Relaxed);
    let wanted = successes_before + PUBLISHERS * 20;
    while successes.load(Ordering::Relaxed) < wanted && back.elapsed() < LONGEST_PUBLISH * 2 {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::Relaxed);
    let mut all_confirmed = Vec::new();
    for (publisher, task) in tasks.into_iter().enumerate() {
        let (confirmed, last_success) = task.await.expect("publisher task");
        assert!(
            last_success > back,
            "publisher {publisher} never published again after the broker came back"
        );
        all_confirmed.extend(confirmed);
    }
    let longest = Duration::from_millis(longest_ms.load(Ordering::Relaxed));
    assert!(
        longest <= LONGEST_PUBLISH,
        "a publish took {longest:?} across the restart"
    );

    let mut log = bus.consume_events("log", "#", 500).await.expect("consume");
    let mut seen = std::collections::HashSet::new();
    while let Ok(Some(delivery)) = tokio::time::timeout(Duration::from_secs(3), log.next()).await {
        seen.insert(String::from_utf8_lossy(&delivery.body).into_owned());
        delivery.ack().await.expect("ack");
    }
    RestartRun {
        confirmed: all_confirmed,
        seen,
        stopping,
        stopped,
    }
}

/// Quorum queues (the default, `amqp.queue_type = "quorum"`): a confirm means the
/// message is in the queue's Raft log on disk, so nothing confirmed is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishes_in_flight_across_a_broker_restart_all_return_and_every_confirmed_one_is_kept() {
    let run = publish_across_a_broker_restart(QueueType::Quorum).await;
    let missing = run.missing();
    assert!(
        missing.is_empty(),
        "confirmed events missing after the restart: {} of {}, first ones (body, confirmed \
         at seconds after the shutdown began): {:?}",
        missing.len(),
        run.confirmed.len(),
        &missing[..missing.len().min(5)]
    );
}

/// Classic queues (`amqp.queue_type = "classic"`, one broker node: docker-compose.yml,
/// the benchmarks). Once in CI, under the full suite's load, one publish of 27,263
/// confirmed during this restart was not in the queue afterwards; in 17 runs alone since,
/// none was lost. RabbitMQ confirms the messages a classic queue still holds unconfirmed
/// when that queue process exits normally (rabbitmq-server#1877, #1893), and a broker's
/// shutdown ends its queues normally: that would explain a loss confirmed during the
/// shutdown, and nothing else. So this checks that nothing confirmed before the shutdown
/// began or after it ended is lost, and reports any loss within it (ADR 0012, amended).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn classic_queues_keep_every_publish_confirmed_outside_the_brokers_shutdown() {
    let run = publish_across_a_broker_restart(QueueType::Classic).await;
    let window = run.stopped.duration_since(run.stopping).as_secs_f64();
    let missing = run.missing();
    let outside: Vec<_> = missing
        .iter()
        .filter(|(_, offset)| *offset < 0.0 || *offset > window)
        .collect();
    assert!(
        outside.is_empty(),
        "confirmed events missing that were confirmed outside the shutdown (0 to {window:.2} \
         s): {} of {}, first ones: {:?}",
        outside.len(),
        run.confirmed.len(),
        &outside[..outside.len().min(5)]
    );
    if !missing.is_empty() {
        eprintln!(
            "{} confirmed during the broker's shutdown were lost (classic queues): {:?}",
            missing.len(),
            &missing[..missing.len().min(5)]
        );
    }
}
