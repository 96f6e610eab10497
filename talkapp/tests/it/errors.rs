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
