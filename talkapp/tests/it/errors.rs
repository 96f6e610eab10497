//! Bad input gets a problem+json with a stable code, never a panic or a bare status.

use serde_json::json;

use crate::helpers::{assert_problem, spawn_app};

#[tokio::test]
async fn malformed_json_is_refused_with_malformed_json() {
    let app = spawn_app().await;

    let response = app
        .post_raw(
            "/auth/login",
            "application/json",
            br#"{"email": "a@b.c", "password": "#.to_vec(),
        )
        .await;

    assert_problem(response, 400, "malformed_json").await;
    app.stop().await;
}

#[tokio::test]
async fn a_body_of_the_wrong_shape_is_refused_with_validation_failed() {
    let app = spawn_app().await;

    let response = app
        .post_json(
            "/auth/register",
            &json!({"email": "a@b.co", "password": 12345678}),
        )
        .await;

    assert_problem(response, 422, "validation_failed").await;
    app.stop().await;
}

#[tokio::test]
async fn an_oversized_body_is_refused_with_payload_too_large() {
    let app = spawn_app().await;
    let huge_password = "x".repeat(100 * 1024);

    let response = app
        .post_json(
            "/auth/register",
            &json!({"email": "big@example.com", "password": huge_password}),
        )
        .await;

    assert_problem(response, 413, "payload_too_large").await;
    app.stop().await;
}

#[tokio::test]
async fn a_body_that_is_not_json_is_refused_with_unsupported_media_type() {
    let app = spawn_app().await;

    let response = app
        .post_raw("/auth/login", "text/plain", b"email=a@b.c".to_vec())
        .await;

    assert_problem(response, 415, "unsupported_media_type").await;
    app.stop().await;
}

#[tokio::test]
async fn an_unknown_route_is_a_not_found_problem() {
    let app = spawn_app().await;

    let response = app
        .client
        .get(app.url("/no/such/thing"))
        .send()
        .await
        .expect("sent");

    assert_problem(response, 404, "not_found").await;
    app.stop().await;
}

#[tokio::test]
async fn a_wrong_method_is_a_method_not_allowed_problem() {
    let app = spawn_app().await;

    let response = app
        .client
        .delete(app.url("/auth/login"))
        .send()
        .await
        .expect("sent");

    assert_problem(response, 405, "method_not_allowed").await;
    app.stop().await;
}

#[tokio::test]
async fn an_authorization_header_of_another_scheme_is_unauthenticated() {
    let app = spawn_app().await;

    let response = app
        .client
        .get(app.url("/auth/me"))
        .header("authorization", "Basic YTpi")
        .send()
        .await
        .expect("sent");

    assert_problem(response, 401, "unauthenticated").await;
    app.stop().await;
}

#[tokio::test]
async fn sign_in_attempts_beyond_the_burst_are_refused_with_rate_limited_and_retry_after() {
    let app = crate::helpers::spawn_app_with(&[
        ("rate_limit.auth_burst", "3"),
        ("rate_limit.auth_per_minute", "6"),
    ])
    .await;
    let guess = json!({"email": "target@example.com", "password": "guess guess guess"});
    for _ in 0..3 {
        assert_problem(
            app.post_json("/auth/login", &guess).await,
            401,
            "invalid_credentials",
        )
        .await;
    }

    let response = app.post_json("/auth/login", &guess).await;

    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .expect("text")
        .parse()
        .expect("seconds");
    assert!((1..=10).contains(&retry_after), "{retry_after}");
    assert_problem(response, 429, "rate_limited").await;
    app.stop().await;
}

#[tokio::test]
async fn api_calls_beyond_a_users_burst_are_refused_for_that_user_only() {
    let app = crate::helpers::spawn_app_with(&[
        ("rate_limit.api_burst", "2"),
        ("rate_limit.api_per_minute", "2"),
    ])
    .await;
    let busy = app.signed_in_user("busy@example.com").await;
    let calm = app.signed_in_user("calm@example.com").await;
    let busy_token = busy["access_token"].as_str().expect("token");
    for _ in 0..2 {
        assert_eq!(
            app.get_with_token("/auth/me", busy_token).await.status(),
            200
        );
    }

    let limited = app.get_with_token("/auth/me", busy_token).await;
    let other_user = app
        .get_with_token("/auth/me", calm["access_token"].as_str().expect("token"))
        .await;

    assert_problem(limited, 429, "rate_limited").await;
    assert_eq!(other_user.status(), 200);
    app.stop().await;
}

/// With the limits in Redis, a gateway takes a user's API requests in shares (ADR 0076):
/// after two requests Redis holds three taken (a share of one, then one of two), and the
/// user is still refused once the allowance is spent, no sooner and no later.
#[tokio::test]
async fn with_redis_api_requests_are_taken_in_shares_and_refused_once_the_allowance_is_spent() {
    let prefix = format!("talkapp-test-{}", uuid::Uuid::new_v4().simple());
    let redis =
        std::env::var("TALKAPP_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let app = crate::helpers::spawn_app_with(&[
        ("redis.url", &redis),
        ("redis.prefix", &prefix),
        ("rate_limit.redis_key_prefix", &prefix),
        // One a minute sustained: nothing refills during the test; shares of up to 2.
        ("rate_limit.api_burst", "16"),
        ("rate_limit.api_per_minute", "1"),
    ])
    .await;
    let user = app.signed_in_user("shares@example.com").await;
    let token = user["access_token"].as_str().expect("token");
    let user_id = user["user"]["id"].as_str().expect("user id");
    for _ in 0..2 {
        assert_eq!(app.get_with_token("/auth/me", token).await.status(), 200);
    }
    // The key's lifetime is the time its taken requests stand for: a minute each.
    let taken_ms = redis_pttl(&redis, &format!("{prefix}:ratelimit:api:{user_id}")).await;
    assert!(
        (170_000..=181_000).contains(&taken_ms),
        "{taken_ms} ms taken: three requests are 180,000"
    );
    for request in 2..16 {
        let response = app.get_with_token("/auth/me", token).await;
        assert_eq!(response.status(), 200, "request {request}");
    }
    let refused = app.get_with_token("/auth/me", token).await;
    assert!(refused.headers().contains_key("retry-after"));
    assert_problem(refused, 429, "rate_limited").await;
    app.stop().await;
}

/// `PTTL key` on the Redis at `url`, by its inline protocol.
async fn redis_pttl(url: &str, key: &str) -> i64 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = url.trim_start_matches("redis://").trim_end_matches('/');
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("redis reachable");
    stream
        .write_all(format!("PTTL {key}\r\n").as_bytes())
        .await
        .expect("written");
    let mut reply = vec![0_u8; 64];
    let read = stream.read(&mut reply).await.expect("read");
    let reply = String::from_utf8_lossy(&reply[..read]);
    reply
        .trim()
        .trim_start_matches(':')
        .parse()
        .unwrap_or_else(|_| panic!("PTTL's reply: {reply}"))
}
