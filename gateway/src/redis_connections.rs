//! The gateway's Redis connections, by how long a caller may wait on them. Each connects
//! on first use and reconnects by itself, so a gateway starts and serves while Redis is
//! down.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

/// For what every request (the rate limiter) or every refresh (the reuse ledger) waits
/// on: short timeouts and one retry, so an outage costs the caller at most about a
/// second before it goes on without Redis (the limiter fails open, a refresh rotates
/// strictly).
pub fn on_request_path(client: redis::Client) -> redis::RedisResult<ConnectionManager> {
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_millis(300)))
        .set_response_timeout(Some(Duration::from_millis(300)))
        .set_number_of_retries(1)
        .set_max_delay(Duration::from_millis(200));
    ConnectionManager::new_lazy_with_config(client, config)
}

/// For what only some requests wait on and that must not fail at the first hiccup
/// (WebSocket tickets, revocations): two seconds to connect and to answer.
pub fn patient(client: redis::Client) -> redis::RedisResult<ConnectionManager> {
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(Duration::from_secs(2)));
    ConnectionManager::new_lazy_with_config(client, config)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use tokio::net::TcpListener;

    /// A "Redis" that takes connections and never answers.
    async fn silent_redis() -> (redis::Client, tokio::task::JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let held = tokio::spawn(async move {
            let mut sockets = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                sockets.push(socket);
            }
        });
        let client = redis::Client::open(format!("redis://{address}")).expect("url");
        (client, held)
    }

    #[tokio::test]
    async fn a_silent_redis_costs_a_call_on_the_request_path_about_a_second_at_most() {
        let (client, held) = silent_redis().await;
        let mut connection = super::on_request_path(client).expect("lazy");
        let started = Instant::now();
        let answer = tokio::time::timeout(
            Duration::from_secs(5),
            redis::cmd("PING").query_async::<String>(&mut connection),
        )
        .await
        .expect("the call gives up by itself");
        assert!(answer.is_err());
        assert!(
            started.elapsed() < Duration::from_millis(2500),
            "gave up after {:?}",
            started.elapsed()
        );
        held.abort();
    }
}
