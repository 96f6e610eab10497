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
