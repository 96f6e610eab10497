//! Redis going away and coming back. The shared Redis server cannot be stopped (other
//! tests use it), so the log reaches it through a TCP proxy the test cuts and restores.

use std::time::Duration;

use talkapp_eventlog::redis::RedisEventLog;
use talkapp_eventlog::{AccountKey, EventLog, LogError, Replay};
use talkapp_testkit::proxy::StallingProxy;

use crate::{TestLogs, redis_url, retention};

/// Long enough for a reconnection on a loaded machine.
const WAIT: Duration = Duration::from_secs(15);

/// `redis://[auth@]host:port[/db]` split into `host:port` and the same URL with
/// `host:port` replaced by `through`.
fn redirect(url: &str, through: &str) -> (String, String) {
    let (scheme, rest) = url.split_once("://").expect("a redis:// url");
    let (auth, rest) = match rest.split_once('@') {
        Some((auth, rest)) => (format!("{auth}@"), rest),
        None => (String::new(), rest),
    };
    let (address, path) = match rest.split_once('/') {
        Some((address, path)) => (address, format!("/{path}")),
        None => (rest, String::new()),
    };
    let address = if address.contains(':') {
        address.to_owned()
    } else {
        format!("{address}:6379")
    };
    (address, format!("{scheme}://{auth}{through}{path}"))
}

/// A log of `logs` reaching Redis through a new proxy.
async fn log_behind_a_proxy(logs: &TestLogs) -> (RedisEventLog, StallingProxy) {
    let url = redis_url();
    let (target, _) = redirect(&url, "");
    let proxy = StallingProxy::start(&target).await;
    let (_, proxied_url) = redirect(&url, &proxy.address());
    (logs.redis(&proxied_url, retention(100)), proxy)
}

fn is_unavailable<T: std::fmt::Debug>(outcome: &Result<T, LogError>) -> bool {
    matches!(outcome, Err(LogError::Unavailable(_)))
}

/// Retries `call` until it succeeds, for up to [`WAIT`].
async fn eventually<T, F, Fut>(mut call: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, LogError>>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match call().await {
            Ok(value) => return value,
            Err(error) if tokio::time::Instant::now() < deadline => {
                tracing::debug!(%error, "not yet");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(error) => panic!("still failing after {WAIT:?}: {error}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_fail_as_unavailable_while_redis_is_unreachable_and_succeed_once_it_is_back() {
    // Arrange
    let logs = TestLogs::new("redis");
    let (log, proxy) = log_behind_a_proxy(&logs).await;
    let account = AccountKey::new(uuid::Uuid::new_v4(), 0);
    assert!(log.append(account, 1, b"before").await.expect("append"));

    // Act: Redis goes away.
    proxy.cut();

    // Assert: every call fails, none panics or hangs.
    let calls = async {
        let appended = log.append(account, 2, b"during").await;
        assert!(is_unavailable(&appended), "append: {appended:?}");
        let read = log.read_since(account, Some(0), 10).await;
        assert!(is_unavailable(&read), "read_since: {read:?}");
        let newest = log.newest(account).await;
        assert!(is_unavailable(&newest), "newest: {newest:?}");
        let watch = log.watch(account).await;
        assert!(is_unavailable(&watch), "watch: {watch:?}");
    };
    tokio::time::timeout(WAIT, calls)
        .await
        .expect("calls fail within their timeouts");

    // Act: Redis comes back.
    proxy.restore().await;

    // Assert: the same log works again (its connections are reopened).
    let appended = eventually(|| log.append(account, 2, b"after")).await;
    assert!(
        appended,
        "the append during the cut was applied: the proxy forwarded it after the cut"
    );
    let replay = log.read_since(account, Some(0), 10).await.expect("read");
    let Replay::Events(events) = replay else {
        panic!("expected events, got {replay:?}");
    };
    let ids: Vec<i64> = events.iter().map(|event| event.event_id).collect();
    assert_eq!(ids, vec![1, 2]);
    assert_eq!(log.newest(account).await.expect("newest"), Some(2));
    logs.clean_up().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_ends_with_an_error_when_its_connection_is_lost_and_watching_again_works() {
    // Arrange: a watcher behind the proxy, a writer reaching Redis directly.
    let logs = TestLogs::new("redis");
    let (watcher, proxy) = log_behind_a_proxy(&logs).await;
    let writer = logs.open(retention(100));
    let account = AccountKey::new(uuid::Uuid::new_v4(), 0);
    let mut watch = watcher.watch(account).await.expect("watch");
    writer.append(account, 1, b"one").await.expect("append");
    assert_eq!(
        tokio::time::timeout(WAIT, watch.changed())
            .await
            .expect("a wake-up")
            .expect("alive"),
        1
    );

    // Act
    proxy.cut();

    // Assert: the watch ends (its owner must watch again).
    let ended = tokio::time::timeout(WAIT, watch.changed())
        .await
        .expect("the watch ends within the wait");
    assert!(is_unavailable(&ended), "{ended:?}");

    // Act: an append the watcher's process is not told about, then back, and watched again.
    writer.append(account, 2, b"two").await.expect("append");
    proxy.restore().await;
    let mut watch = eventually(|| watcher.watch(account)).await;

    // Assert: the unannounced append is read from the cursor, later appends wake.
    let replay = eventually(|| watcher.read_since(account, Some(1), 10)).await;
    assert!(
        matches!(&replay, Replay::Events(events) if events.len() == 1 && events[0].event_id == 2),
        "{replay:?}"
    );
    writer.append(account, 3, b"three").await.expect("append");
    assert_eq!(
        tokio::time::timeout(WAIT, watch.changed())
            .await
            .expect("a wake-up")
            .expect("alive"),
        3
    );
    logs.clean_up().await;
}
