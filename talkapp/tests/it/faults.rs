//! Split mode across a dependency's restart (issue 16, finding 12): exactly once must hold
//! across every dependency's restart, not only crashes. Each test runs a RabbitMQ,
//! PostgreSQL or Redis of its own (`talkapp_testkit`), so that stopping it disturbs no
//! other test; the chat service, realtime service and gateway are separate processes
//! (`Replicas`), Telegram the sandbox in this process.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use talkapp_testkit::{PrivatePostgres, PrivateRabbitMq, PrivateRedis, StallingProxy};

use crate::replicas::{Replicas, fault_texts_at_bob};
use crate::support::{SplitSetUp, bob_writes_steadily};

/// Sends `fault NNN` for `numbers` to Bob; returns the accepted jobs' ids (in order) and
/// how many were refused (503 while a dependency is away: the client may retry).
async fn send_faults(
    replicas: &Replicas,
    user: &(String, String),
    index: u64,
    bob: i64,
    numbers: std::ops::Range<usize>,
) -> (Vec<(usize, String)>, usize) {
    let mut accepted = Vec::new();
    let mut refused = 0;
    for n in numbers {
        let response = replicas
            .client_post(
                &format!("/me/send_message/{}/{index}", user.0),
                &user.1,
                &json!({
                    "chat_id": bob,
                    "text": format!("fault {n:03}"),
                    "client_message_id": format!("fault-{n}"),
                }),
            )
            .await;
        match response.status().as_u16() {
            202 => {
                let job: Value = response.json().await.expect("json");
                accepted.push((n, job["job_id"].as_str().expect("job id").to_owned()));
            }
            500..=599 => refused += 1,
            other => panic!("send {n}: unexpected {other}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (accepted, refused)
}

/// Waits until every job is `sent` (or fails after `within`).
async fn wait_all_sent(
    replicas: &Replicas,
    user: &(String, String),
    index: u64,
    jobs: &[(usize, String)],
    within: Duration,
) {
    let deadline = Instant::now() + within;
    for (n, job) in jobs {
        loop {
            let status = replicas
                .get(
                    &format!("/me/message_status/{}/{index}/{job}", user.0),
                    &user.1,
                )
                .await;
            if status["status"] == "sent" || status["status"] == "read" {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "send {n} still {} after {within:?}",
                status["status"]
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// A deployment over `redis` (classic queues) with the realtime service, Alice linked as
/// `email` and a socket of her account open.
async fn alice_with_a_socket_over(
    redis: &PrivateRedis,
    email: &str,
) -> (SplitSetUp, crate::realtime::Socket) {
    crate::helpers::init_test_tracing();
    let mut split = SplitSetUp::new().await;
    split.set(&[
        ("TALKAPP_REDIS__URL", &redis.url()),
        ("TALKAPP_AMQP__QUEUE_TYPE", "classic"),
    ]);
    let (user, index) = split.alice_on_chat_a(true, email).await;
    let socket = split.replicas.socket(&user, index).await;
    (split, socket)
}

/// What Bob received: each accepted send exactly once, in the order asked.
fn assert_exactly_once_in_order(
    sandbox: &talkapp_tg_sandbox::SandboxHandle,
    alice: i64,
    bob: i64,
    accepted: &[(usize, String)],
) {
    let received = fault_texts_at_bob(sandbox, alice, bob);
    let expected: Vec<String> = accepted
        .iter()
        .map(|(n, _)| format!("fault {n:03}"))
        .collect();
    assert_eq!(received, expected, "each accepted send once, in order");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_keep_flowing_when_the_brokers_link_goes_silent_and_across_a_broker_restart() {
    crate::helpers::init_test_tracing();
    let broker = PrivateRabbitMq::start().await;
    let link = StallingProxy::start(&broker.address()).await;
    let mut split = SplitSetUp::new().await;
    split.set(&[
        (
            "TALKAPP_AMQP__URL",
            &format!("amqp://guest:guest@{}/%2f", link.address()),
        ),
        ("TALKAPP_AMQP__QUEUE_TYPE", "classic"),
    ]);
    let (user, index) = split
        .alice_on_chat_a(true, "broker-faults@example.com")
        .await;
    let (sandbox, replicas, alice, bob) = split.parts();

    let (mut accepted, refused) = send_faults(replicas, &user, index, bob, 0..10).await;
    assert_eq!(refused, 0);
    // The open links to the broker go silent (a publish's confirm never comes); new
    // links work. Before the bus had deadlines, the account's sends stopped here until
    // the broker's heartbeat gave up on the link, minutes later.
    link.silence_open_links();
    let (more, refused) = send_faults(replicas, &user, index, bob, 10..20).await;
    assert_eq!(refused, 0, "the store takes sends whatever the broker does");
    accepted.extend(more);
    wait_all_sent(replicas, &user, index, &accepted, Duration::from_secs(40)).await;

    // The whole broker node restarts while sends go on.
    let restart = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        broker.restart().await;
    };
    let sending = send_faults(replicas, &user, index, bob, 20..40);
    let ((more, refused), ()) = tokio::join!(sending, restart);
    assert_eq!(refused, 0, "the store takes sends whatever the broker does");
    accepted.extend(more);
    wait_all_sent(replicas, &user, index, &accepted, Duration::from_secs(60)).await;
    assert_exactly_once_in_order(sandbox, alice, bob, &accepted);
    split.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_accepted_around_a_postgresql_restart_go_out_exactly_once_and_in_order() {
    crate::helpers::init_test_tracing();
    let postgres = PrivatePostgres::start().await;
    let mut split = SplitSetUp::on(&postgres.url("postgres")).await;
    split.set(&[
        ("TALKAPP_AMQP__QUEUE_TYPE", "classic"),
        ("TALKAPP_DATABASE__CONNECT_TIMEOUT_MS", "1000"),
    ]);
    let (user, index) = split
        .alice_on_chat_a(true, "postgres-faults@example.com")
        .await;
    let (sandbox, replicas, alice, bob) = split.parts();
    let mut socket = replicas.socket(&user, index).await;

    let restart = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        postgres.restart().await;
    };
    let sending = send_faults(replicas, &user, index, bob, 0..40);
    let ((accepted, refused), ()) = tokio::join!(sending, restart);
    eprintln!(
        "{} accepted, {refused} refused across the restart",
        accepted.len()
    );
    assert!(accepted.len() >= 20, "most sends are accepted");
    wait_all_sent(replicas, &user, index, &accepted, Duration::from_secs(90)).await;
    assert_exactly_once_in_order(sandbox, alice, bob, &accepted);

    // Every accepted send's `sent` status reaches the socket.
    let mut told: std::collections::HashSet<String> = std::collections::HashSet::new();
    let wanted: std::collections::HashSet<String> =
        accepted.iter().map(|(_, job)| job.clone()).collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !wanted.is_subset(&told) {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "statuses never told: {:?}",
            wanted.difference(&told)
        );
        let event = crate::realtime::next_event(&mut socket, left).await;
        if event["type"] == "message.status" && event["data"]["status"] == "sent" {
            told.insert(
                event["data"]["job_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            );
        }
    }
    split.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_live_message_reaches_its_socket_across_a_redis_restart() {
    let mut redis = PrivateRedis::start().await;
    let (mut split, mut socket) =
        alice_with_a_socket_over(&redis, "redis-faults@example.com").await;
    let (sandbox, _, alice, bob) = split.parts();

    // Bob writes steadily while Redis restarts (its data kept, as a production Redis
    // with an append-only file does).
    const MESSAGES: usize = 30;
    let writer = bob_writes_steadily(sandbox, alice, bob, MESSAGES);
    tokio::time::sleep(Duration::from_millis(700)).await;
    redis.restart().await;
    writer.await.expect("writer");

    let mut texts = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while texts.len() < MESSAGES {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "only these reached the socket: {texts:?}");
        let event = crate::realtime::next_event(&mut socket, left).await;
        assert_ne!(
            event["type"], "resync_required",
            "nothing was lost: {event}"
        );
        if event["type"] == "message.new"
            && let Some(text) = event["data"]["text"].as_str()
            && text.starts_with("steady ")
        {
            texts.push(text.to_owned());
        }
    }
    let expected: Vec<String> = (0..MESSAGES).map(|n| format!("steady {n:02}")).collect();
    assert_eq!(texts, expected, "every live message once, in order");
    split.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_that_restarts_empty_costs_sockets_a_resync_never_a_silent_gap() {
    let mut redis = PrivateRedis::start().await;
    let (mut split, mut socket) = alice_with_a_socket_over(&redis, "redis-empty@example.com").await;
    let (sandbox, _, alice, bob) = split.parts();

    // Bob writes steadily while Redis restarts with nothing (no persistence).
    const MESSAGES: usize = 30;
    let writer = bob_writes_steadily(sandbox, alice, bob, MESSAGES);
    tokio::time::sleep(Duration::from_millis(700)).await;
    redis.restart_empty().await;
    writer.await.expect("writer");

    // Each message reaches the socket, or the socket is told to resync before the
    // messages after the gap: the client never misses one without knowing.
    let mut texts = Vec::new();
    let mut resynced = false;
    let deadline = Instant::now() + Duration::from_secs(60);
    while !texts.contains(&format!("steady {:02}", MESSAGES - 1)) {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "only these reached the socket: {texts:?}");
        let event = crate::realtime::next_event(&mut socket, left).await;
        if event["type"] == "resync_required" {
            resynced = true;
        }
        if event["type"] == "message.new"
            && let Some(text) = event["data"]["text"].as_str()
            && text.starts_with("steady ")
        {
            texts.push(text.to_owned());
        }
    }
    let expected: Vec<String> = (0..MESSAGES).map(|n| format!("steady {n:02}")).collect();
    assert!(
        texts == expected || resynced,
        "a gap without resync_required: {texts:?}"
    );
    eprintln!(
        "{} of {MESSAGES} live, resync_required: {resynced}",
        texts.len()
    );
    split.finish().await;
}

/// The gateway's own reads (the chat list, a cached history page, the session list: ADRs
/// 0072, 0073, each HTTP worker on connections of its own: ADR 0075) while PostgreSQL is
/// away: each a clear 503 `service_unavailable` with `Retry-After` within the connect
/// timeout, never a hang nor a 500; and each read the same as before once PostgreSQL is
/// back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateways_reads_are_503_while_postgresql_is_away_and_the_same_once_it_is_back() {
    crate::helpers::init_test_tracing();
    let postgres = PrivatePostgres::start().await;
    let mut split = SplitSetUp::on(&postgres.url("postgres")).await;
    split.set(&[("TALKAPP_DATABASE__CONNECT_TIMEOUT_MS", "1000")]);
    let (user, index) = split
        .alice_on_chat_a(false, "postgres-reads@example.com")
        .await;
    let (_, replicas, _, bob) = split.parts();
    let (user_id, token) = &user;
    let reads = [
        format!("/me/chats/{user_id}/{index}"),
        format!("/me/chat/messages/{user_id}/{index}/{bob}?limit=2"),
        format!("/me/sessions/{user_id}"),
    ];
    // The backfill caches the chats before their messages: wait for Bob's.
    let deadline = Instant::now() + Duration::from_secs(30);
    while replicas.get(&reads[1], token).await["messages"]
        .as_array()
        .is_none_or(Vec::is_empty)
    {
        assert!(Instant::now() < deadline, "Bob's chat never cached");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut before = Vec::new();
    for path in &reads {
        before.push(replicas.get(path, token).await);
    }

    let client = reqwest::Client::new();
    let read = |path: &str| {
        let request = client
            .get(replicas.url(path))
            .bearer_auth(token)
            .timeout(Duration::from_secs(10));
        async move {
            let started = Instant::now();
            let response = request.send().await.expect("answered");
            let retry_after = response.headers().get("retry-after").cloned();
            let status = response.status().as_u16();
            let body: Value = response.json().await.expect("json");
            (status, retry_after, body, started.elapsed())
        }
    };
    postgres.stop().await;
    // Every worker's own pool is asked: more requests than workers, each read.
    for _ in 0..4 {
        for path in &reads {
            let (status, retry_after, body, took) = read(path).await;
            assert_eq!(status, 503, "{path} with PostgreSQL away: {body}");
            assert_eq!(body["code"], "service_unavailable", "{body}");
            assert!(retry_after.is_some(), "{path}: no Retry-After");
            assert!(took < Duration::from_secs(5), "{path} took {took:?}");
        }
    }

    postgres.start_again().await;
    for (path, before) in reads.iter().zip(&before) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (status, _, body, _) = read(path).await;
            if status == 200 {
                assert_eq!(&body, before, "{path} once PostgreSQL is back");
                break;
            }
            assert_eq!(status, 503, "{path}: {body}");
            assert!(Instant::now() < deadline, "{path} never served again");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    split.finish().await;
}
