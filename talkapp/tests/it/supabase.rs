//! The Supabase Auth (GoTrue) compatible routes under `/auth/v1`, as supabase-js 2.84.0
//! calls them (`docs/compat/torextalkweb-contract.md` §2.2), CORS for a frontend on
//! another origin (§9.3, §10.3), and supabase-js itself against the backend.

use std::path::PathBuf;
use std::time::Duration;

use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{
    Mint, PASSWORD, SUPABASE_SECRET, TestApp, assert_problem, spawn_app, spawn_app_on,
    spawn_app_with, temp_dir,
};

const FRONTEND: &str = "http://localhost:8080";

impl TestApp {
    /// A request as supabase-js sends it: `apikey`, `X-Client-Info`, API version, and
    /// `Content-Type: application/json;charset=UTF-8` on every POST.
    fn gotrue(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let request = self
            .client
            .request(method.clone(), self.url(path))
            .header("apikey", "any-anon-key")
            .header("x-client-info", "supabase-js-web/2.84.0")
            .header("x-supabase-api-version", "2024-01-01");
        if method == reqwest::Method::POST {
            request.header("content-type", "application/json;charset=UTF-8")
        } else {
            request
        }
    }

    async fn gotrue_post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.gotrue(reqwest::Method::POST, path)
            .body(body.to_string())
            .send()
            .await
            .expect("request sent")
    }

    async fn gotrue_user(&self, access_token: &str) -> reqwest::Response {
        self.gotrue(reqwest::Method::GET, "/auth/v1/user")
            .bearer_auth(access_token)
            .send()
            .await
            .expect("request sent")
    }

    /// Signs `email` up through `/auth/v1/signup`; returns the session.
    async fn supabase_sign_up(&self, email: &str) -> Value {
        let response = self
            .gotrue_post(
                "/auth/v1/signup",
                &json!({
                    "email": email,
                    "password": PASSWORD,
                    "data": {},
                    "gotrue_meta_security": {},
                    "code_challenge": null,
                    "code_challenge_method": null,
                }),
            )
            .await;
        assert_eq!(response.status(), 200, "signup");
        response.json().await.expect("json")
    }

    async fn supabase_refresh(&self, refresh_token: &str) -> reqwest::Response {
        self.gotrue_post(
            "/auth/v1/token?grant_type=refresh_token",
            &json!({ "refresh_token": refresh_token }),
        )
        .await
    }

    async fn preflight(
        &self,
        path: &str,
        origin: &str,
        method: &str,
        headers: &str,
    ) -> reqwest::Response {
        self.client
            .request(reqwest::Method::OPTIONS, self.url(path))
            .header("origin", origin)
            .header("access-control-request-method", method)
            .header("access-control-request-headers", headers)
            .send()
            .await
            .expect("request sent")
    }
}

/// Reads a GoTrue error (API version 2024-01-01) and checks its status and code.
async fn assert_gotrue_error(response: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status().as_u16(), status, "status");
    let headers = response.headers().clone();
    assert_eq!(header(&headers, "content-type"), "application/json");
    assert_eq!(header(&headers, "x-supabase-api-version"), "2024-01-01");
    let body: Value = response.json().await.expect("error body is json");
    assert_eq!(body["code"], code, "error: {body}");
    assert_eq!(body["error_code"], code, "error: {body}");
    assert!(body["message"].is_string(), "error: {body}");
    if status != 401 && status != 405 && status != 404 {
        assert_eq!(header(&headers, "x-sb-error-code"), code);
    }
    body
}

fn header(headers: &HeaderMap, name: &str) -> String {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

fn assert_gotrue_session(session: &Value, email: &str) {
    assert_eq!(session["token_type"], "bearer");
    assert!(
        session["access_token"]
            .as_str()
            .is_some_and(|token| token.split('.').count() == 3)
    );
    assert!(
        session["refresh_token"]
            .as_str()
            .is_some_and(|token| !token.is_empty())
    );
    let expires_in = session["expires_in"].as_i64().expect("expires_in");
    assert!(
        expires_in > 90,
        "supabase-js refreshes in a loop under 90 s"
    );
    let expires_at = session["expires_at"].as_i64().expect("expires_at");
    let now = chrono::Utc::now().timestamp();
    assert!(
        (expires_at - (now + expires_in)).abs() <= 5,
        "expires_at = now + expires_in"
    );
    let user = &session["user"];
    assert!(Uuid::parse_str(user["id"].as_str().expect("id")).is_ok());
    assert_eq!(user["aud"], "authenticated");
    assert_eq!(user["role"], "authenticated");
    assert_eq!(user["email"], email);
    assert_eq!(user["phone"], "");
    assert!(user["email_confirmed_at"].is_string());
    assert!(user["confirmed_at"].is_string());
    assert!(user["last_sign_in_at"].is_string());
    assert!(user["created_at"].is_string());
    assert!(user["updated_at"].is_string());
    assert_eq!(user["is_anonymous"], false);
    assert_eq!(
        user["app_metadata"],
        json!({"provider": "email", "providers": ["email"]})
    );
    assert_eq!(user["user_metadata"]["email"], email);
    assert_eq!(user["user_metadata"]["sub"], user["id"]);
    let identity = &user["identities"][0];
    assert_eq!(identity["provider"], "email");
    assert_eq!(identity["user_id"], user["id"]);
    assert_eq!(identity["identity_data"]["email"], email);
}

#[tokio::test]
async fn signup_answers_a_session_with_a_confirmed_user_in_gotrue_shape() {
    let app = spawn_app().await;

    let session = app.supabase_sign_up("ada@example.com").await;

    assert_gotrue_session(&session, "ada@example.com");
    app.stop().await;
}

#[tokio::test]
async fn the_issued_access_token_works_on_every_other_route() {
    let app = spawn_app().await;
    let session = app.supabase_sign_up("ada@example.com").await;
    let token = session["access_token"].as_str().expect("token");
    let user_id = session["user"]["id"].as_str().expect("id");

    let me = app.get_with_token("/auth/me", token).await;
    let sessions = app
        .get_with_token(&format!("/me/sessions/{user_id}"), token)
        .await;

    assert_eq!(me.status(), 200);
    let me: Value = me.json().await.expect("json");
    assert_eq!(me["id"], user_id);
    assert_eq!(sessions.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn the_same_account_signs_in_on_both_apis() {
    let app = spawn_app().await;
    assert_eq!(app.register("both@example.com").await.status(), 201);

    let response = app
        .gotrue_post(
            "/auth/v1/token?grant_type=password",
            &json!({"email": "both@example.com", "password": PASSWORD, "gotrue_meta_security": {}}),
        )
        .await;

    assert_eq!(response.status(), 200);
    let session: Value = response.json().await.expect("json");
    assert_gotrue_session(&session, "both@example.com");
    app.stop().await;
}

#[tokio::test]
async fn signing_up_a_taken_email_is_user_already_exists() {
    let app = spawn_app().await;
    app.supabase_sign_up("taken@example.com").await;

    let response = app
        .gotrue_post(
            "/auth/v1/signup",
            &json!({"email": "TAKEN@example.com", "password": PASSWORD}),
        )
        .await;

    let body = assert_gotrue_error(response, 422, "user_already_exists").await;
    assert_eq!(body["message"], "User already registered");
    app.stop().await;
}

#[tokio::test]
async fn a_short_password_is_a_weak_password_with_its_reason() {
    let app = spawn_app().await;

    let response = app
        .gotrue_post(
            "/auth/v1/signup",
            &json!({"email": "weak@example.com", "password": "short"}),
        )
        .await;

    let body = assert_gotrue_error(response, 422, "weak_password").await;
    assert_eq!(body["weak_password"]["reasons"], json!(["length"]));
    app.stop().await;
}

#[tokio::test]
async fn signup_without_a_password_or_with_a_bad_email_is_validation_failed() {
    let app = spawn_app().await;

    let no_password = app
        .gotrue_post("/auth/v1/signup", &json!({"email": "a@example.com"}))
        .await;
    let bad_email = app
        .gotrue_post(
            "/auth/v1/signup",
            &json!({"email": "not-an-email", "password": PASSWORD}),
        )
        .await;
    let phone = app
        .gotrue_post(
            "/auth/v1/signup",
            &json!({"phone": "+998901234567", "password": PASSWORD}),
        )
        .await;

    assert_gotrue_error(no_password, 400, "validation_failed").await;
    assert_gotrue_error(bad_email, 400, "validation_failed").await;
    assert_gotrue_error(phone, 400, "phone_provider_disabled").await;
    app.stop().await;
}

#[tokio::test]
async fn a_wrong_password_or_an_unknown_email_is_invalid_credentials() {
    let app = spawn_app().await;
    app.supabase_sign_up("ada@example.com").await;

    let wrong = app
        .gotrue_post(
            "/auth/v1/token?grant_type=password",
            &json!({"email": "ada@example.com", "password": "not the password"}),
        )
        .await;
    let unknown = app
        .gotrue_post(
            "/auth/v1/token?grant_type=password",
            &json!({"email": "nobody@example.com", "password": PASSWORD}),
        )
        .await;

    let body = assert_gotrue_error(wrong, 400, "invalid_credentials").await;
    assert_eq!(body["message"], "Invalid login credentials");
    assert_gotrue_error(unknown, 400, "invalid_credentials").await;
    app.stop().await;
}

#[tokio::test]
async fn without_the_api_version_header_errors_have_the_legacy_shape() {
    let app = spawn_app().await;

    let response = app
        .client
        .post(app.url("/auth/v1/token?grant_type=password"))
        .json(&json!({"email": "nobody@example.com", "password": PASSWORD}))
        .send()
        .await
        .expect("sent");

    assert_eq!(response.status(), 400);
    assert!(response.headers().get("x-supabase-api-version").is_none());
    assert_eq!(
        header(response.headers(), "x-sb-error-code"),
        "invalid_credentials"
    );
    let body: Value = response.json().await.expect("json");
    assert_eq!(
        body,
        json!({"code": 400, "error_code": "invalid_credentials", "msg": "Invalid login credentials"})
    );
    app.stop().await;
}

#[tokio::test]
async fn bad_grants_bodies_paths_and_methods_get_gotrue_errors_not_problems() {
    let app = spawn_app().await;

    let unsupported_grant = app
        .gotrue_post("/auth/v1/token?grant_type=id_token", &json!({}))
        .await;
    let no_grant = app.gotrue_post("/auth/v1/token", &json!({})).await;
    let malformed = app
        .gotrue(reqwest::Method::POST, "/auth/v1/token?grant_type=password")
        .body("{not json")
        .send()
        .await
        .expect("sent");
    let no_refresh_token = app
        .gotrue_post("/auth/v1/token?grant_type=refresh_token", &json!({}))
        .await;
    let unknown_path = app
        .gotrue(reqwest::Method::GET, "/auth/v1/settings")
        .send()
        .await
        .expect("sent");
    let wrong_method = app
        .gotrue(reqwest::Method::GET, "/auth/v1/signup")
        .send()
        .await
        .expect("sent");

    let body = assert_gotrue_error(unsupported_grant, 400, "invalid_credentials").await;
    assert_eq!(body["message"], "unsupported_grant_type");
    assert_gotrue_error(no_grant, 400, "invalid_credentials").await;
    assert_gotrue_error(malformed, 400, "bad_json").await;
    // GoTrue answers this one OAuth-style.
    assert_eq!(no_refresh_token.status(), 400);
    let body: Value = no_refresh_token.json().await.expect("json");
    assert_eq!(
        body,
        json!({"error": "invalid_request", "error_description": "refresh_token required"})
    );
    assert_gotrue_error(unknown_path, 404, "not_found").await;
    assert_gotrue_error(wrong_method, 405, "method_not_allowed").await;
    app.stop().await;
}

#[tokio::test]
async fn a_refresh_rotates_the_token_and_keeps_the_user() {
    let app = spawn_app().await;
    let session = app.supabase_sign_up("ada@example.com").await;
    let first = session["refresh_token"].as_str().expect("refresh token");

    let response = app.supabase_refresh(first).await;

    assert_eq!(response.status(), 200);
    let refreshed: Value = response.json().await.expect("json");
    assert_gotrue_session(&refreshed, "ada@example.com");
    assert_ne!(refreshed["refresh_token"], first);
    assert_eq!(refreshed["user"]["id"], session["user"]["id"]);
    let token = refreshed["access_token"].as_str().expect("token");
    assert_eq!(app.get_with_token("/auth/me", token).await.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn a_spent_refresh_token_within_the_reuse_interval_gets_the_same_successor() {
    let app = spawn_app().await;
    let session = app.supabase_sign_up("ada@example.com").await;
    let first = session["refresh_token"].as_str().expect("refresh token");
    let refreshed: Value = app
        .supabase_refresh(first)
        .await
        .json()
        .await
        .expect("json");

    let again = app.supabase_refresh(first).await;

    assert_eq!(again.status(), 200);
    let again: Value = again.json().await.expect("json");
    assert_eq!(again["refresh_token"], refreshed["refresh_token"]);
    assert_eq!(again["user"]["id"], session["user"]["id"]);
    // The session lives on: both access tokens and the successor still work.
    for token in [&refreshed["access_token"], &again["access_token"]] {
        let token = token.as_str().expect("token");
        assert_eq!(app.get_with_token("/auth/me", token).await.status(), 200);
    }
    let successor = again["refresh_token"].as_str().expect("successor");
    assert_eq!(app.supabase_refresh(successor).await.status(), 200);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_presentations_of_one_refresh_token_all_get_the_same_successor() {
    let app = spawn_app().await;
    let session = app.supabase_sign_up("ada@example.com").await;
    let first = session["refresh_token"].as_str().expect("refresh token");

    let mut presentations = tokio::task::JoinSet::new();
    for _ in 0..5 {
        let request = app
            .gotrue(
                reqwest::Method::POST,
                "/auth/v1/token?grant_type=refresh_token",
            )
            .body(json!({ "refresh_token": first }).to_string());
        presentations.spawn(async move { request.send().await.expect("request sent") });
    }
    let responses = presentations.join_all().await;

    let mut successors = Vec::new();
    for response in responses {
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.expect("json");
        successors.push(body["refresh_token"].as_str().expect("token").to_owned());
    }
    successors.dedup();
    assert_eq!(successors.len(), 1, "{successors:?}");
    app.stop().await;
}

#[tokio::test]
async fn a_spent_refresh_token_after_the_reuse_interval_ends_the_session() {
    let app = spawn_app_with(&[("auth.refresh_reuse_interval_secs", "1")]).await;
    let session = app.supabase_sign_up("ada@example.com").await;
    let first = session["refresh_token"].as_str().expect("refresh token");
    let refreshed: Value = app
        .supabase_refresh(first)
        .await
        .json()
        .await
        .expect("json");
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let reused = app.supabase_refresh(first).await;

    let body = assert_gotrue_error(reused, 400, "refresh_token_already_used").await;
    assert_eq!(body["message"], "Invalid Refresh Token: Already Used");
    let successor = refreshed["refresh_token"].as_str().expect("successor");
    let body = assert_gotrue_error(
        app.supabase_refresh(successor).await,
        400,
        "session_expired",
    )
    .await;
    assert_eq!(body["message"], "Invalid Refresh Token: Session Expired");
    let token = refreshed["access_token"].as_str().expect("token");
    assert_problem(
        app.get_with_token("/auth/me", token).await,
        401,
        "session_expired",
    )
    .await;
    app.stop().await;
}

#[tokio::test]
async fn with_no_reuse_interval_the_second_presentation_ends_the_session() {
    let app = spawn_app_with(&[("auth.refresh_reuse_interval_secs", "0")]).await;
    let session = app.supabase_sign_up("ada@example.com").await;
    let first = session["refresh_token"].as_str().expect("refresh token");
    assert_eq!(app.supabase_refresh(first).await.status(), 200);

    let reused = app.supabase_refresh(first).await;

    assert_gotrue_error(reused, 400, "refresh_token_already_used").await;
    app.stop().await;
}

#[tokio::test]
async fn talkapps_own_refresh_never_tolerates_reuse() {
    let app = spawn_app().await;
    let session = app.supabase_sign_up("ada@example.com").await;
    let first = session["refresh_token"].as_str().expect("refresh token");
    let rotated = app
        .post_json("/auth/refresh", &json!({"refresh_token": first}))
        .await;
    assert_eq!(rotated.status(), 200);

    let reused = app.supabase_refresh(first).await;

    assert_gotrue_error(reused, 400, "refresh_token_already_used").await;
    app.stop().await;
}

#[tokio::test]
async fn an_unknown_refresh_token_is_refresh_token_not_found() {
    let app = spawn_app().await;

    let response = app.supabase_refresh("no-such-token").await;

    let body = assert_gotrue_error(response, 400, "refresh_token_not_found").await;
    assert_eq!(
        body["message"],
        "Invalid Refresh Token: Refresh Token Not Found"
    );
    app.stop().await;
}

/// Two gateways sharing the database and Redis: a token spent at one and presented at the
/// other within the interval gets the same successor (the ledger is in Redis).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reuse_interval_holds_across_gateways_that_share_redis() {
    let redis_url = std::env::var("TALKAPP_TEST_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let prefix = format!("talkapp-it-{}", Uuid::new_v4().simple());
    let shared_dir = temp_dir("talkapp-it-shared");
    let database_url = format!("sqlite://{}/talkapp.db", shared_dir.display());
    let overrides = [
        ("redis.url", redis_url.as_str()),
        ("rate_limit.redis_key_prefix", prefix.as_str()),
    ];
    let first_gateway = spawn_app_on(&database_url, temp_dir("talkapp-it-a"), &overrides).await;
    let second_gateway = spawn_app_on(&database_url, temp_dir("talkapp-it-b"), &overrides).await;
    let session = first_gateway.supabase_sign_up("ada@example.com").await;
    let first = session["refresh_token"].as_str().expect("refresh token");
    let refreshed: Value = first_gateway
        .supabase_refresh(first)
        .await
        .json()
        .await
        .expect("json");

    let again = second_gateway.supabase_refresh(first).await;

    assert_eq!(again.status(), 200);
    let again: Value = again.json().await.expect("json");
    assert_eq!(again["refresh_token"], refreshed["refresh_token"]);
    first_gateway.stop().await;
    second_gateway.stop().await;
    let _ = std::fs::remove_dir_all(shared_dir);
}

#[tokio::test]
async fn user_answers_the_signed_in_user() {
    let app = spawn_app().await;
    let session = app.supabase_sign_up("ada@example.com").await;
    let token = session["access_token"].as_str().expect("token");

    let response = app.gotrue_user(token).await;

    assert_eq!(response.status(), 200);
    let user: Value = response.json().await.expect("json");
    assert_eq!(user, session["user"]);
    app.stop().await;
}

#[tokio::test]
async fn user_refuses_a_missing_or_bad_token_as_gotrue_does() {
    let app = spawn_app().await;

    let missing = app
        .gotrue(reqwest::Method::GET, "/auth/v1/user")
        .send()
        .await
        .expect("sent");
    // supabase-js sends the anon key as the bearer token when it has no session.
    let anon_key = app.gotrue_user("any-anon-key").await;

    assert_gotrue_error(missing, 401, "no_authorization").await;
    assert_gotrue_error(anon_key, 403, "bad_jwt").await;
    app.stop().await;
}

#[tokio::test]
async fn user_accepts_a_token_of_the_external_provider() {
    let app = spawn_app().await;
    let user_id = Uuid::new_v4();
    let token = Mint::supabase(user_id).sign_hs256(SUPABASE_SECRET);

    let response = app.gotrue_user(&token).await;

    assert_eq!(response.status(), 200);
    let user: Value = response.json().await.expect("json");
    assert_eq!(user["id"], user_id.to_string());
    assert_eq!(user["aud"], "authenticated");
    app.stop().await;
}

#[tokio::test]
async fn logout_answers_204_and_ends_the_session() {
    let app = spawn_app().await;
    let session = app.supabase_sign_up("ada@example.com").await;
    let token = session["access_token"].as_str().expect("token");
    let refresh_token = session["refresh_token"].as_str().expect("refresh token");

    let response = app
        .gotrue(reqwest::Method::POST, "/auth/v1/logout?scope=global")
        .bearer_auth(token)
        .send()
        .await
        .expect("sent");

    assert_eq!(response.status(), 204);
    assert_gotrue_error(app.gotrue_user(token).await, 403, "session_not_found").await;
    assert_problem(
        app.get_with_token("/auth/me", token).await,
        401,
        "session_expired",
    )
    .await;
    assert_gotrue_error(
        app.supabase_refresh(refresh_token).await,
        400,
        "session_expired",
    )
    .await;
    app.stop().await;
}

#[tokio::test]
async fn logout_takes_the_local_scope_and_refuses_others_and_unknown_scopes() {
    let app = spawn_app().await;
    let session = app.supabase_sign_up("ada@example.com").await;
    let token = session["access_token"].as_str().expect("token");
    let logout = |scope: &'static str| {
        app.gotrue(
            reqwest::Method::POST,
            &format!("/auth/v1/logout?scope={scope}"),
        )
        .bearer_auth(token)
        .send()
    };

    let others = logout("others").await.expect("sent");
    let unknown = logout("everywhere").await.expect("sent");
    let local = logout("local").await.expect("sent");

    assert_gotrue_error(others, 400, "validation_failed").await;
    assert_gotrue_error(unknown, 400, "validation_failed").await;
    assert_eq!(local.status(), 204);
    assert_gotrue_error(app.gotrue_user(token).await, 403, "session_not_found").await;
    app.stop().await;
}

#[tokio::test]
async fn a_configured_anon_key_is_required_in_apikey() {
    let app = spawn_app_with(&[("auth.supabase_anon_key", "the-anon-key")]).await;
    let body = json!({"email": "ada@example.com", "password": PASSWORD});
    let signup = |key: Option<&'static str>| {
        let mut request = app
            .client
            .post(app.url("/auth/v1/signup"))
            .header("x-supabase-api-version", "2024-01-01")
            .json(&body);
        if let Some(key) = key {
            request = request.header("apikey", key);
        }
        request.send()
    };

    let missing = signup(None).await.expect("sent");
    let wrong = signup(Some("another-key")).await.expect("sent");
    let right = signup(Some("the-anon-key")).await.expect("sent");

    let body = assert_gotrue_error(missing, 401, "no_authorization").await;
    assert_eq!(body["message"], "No API key found in request");
    let body = assert_gotrue_error(wrong, 401, "no_authorization").await;
    assert_eq!(body["message"], "Invalid API key");
    assert_eq!(right.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn sign_ins_beyond_the_burst_are_over_request_rate_limit_with_retry_after() {
    let app = spawn_app_with(&[
        ("rate_limit.auth_burst", "2"),
        ("rate_limit.auth_per_minute", "1"),
    ])
    .await;
    let body = json!({"email": "nobody@example.com", "password": PASSWORD});
    let attempt = || app.gotrue_post("/auth/v1/token?grant_type=password", &body);
    for _ in 0..2 {
        assert_eq!(attempt().await.status(), 400);
    }

    let limited = attempt().await;

    assert!(
        header(limited.headers(), "retry-after")
            .parse::<u64>()
            .expect("retry-after")
            >= 1
    );
    assert_gotrue_error(limited, 429, "over_request_rate_limit").await;
    app.stop().await;
}

#[tokio::test]
async fn authorize_redirects_back_with_the_error_in_the_fragment() {
    let app = spawn_app_with(&[("gateway.cors_allowed_origins", FRONTEND)]).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");

    let response = client
        .get(app.url("/auth/v1/authorize"))
        .query(&[
            ("provider", "google"),
            ("redirect_to", "http://localhost:8080/app?x=1"),
        ])
        .send()
        .await
        .expect("sent");

    assert_eq!(response.status(), 302);
    let location = reqwest::Url::parse(&header(response.headers(), "location")).expect("url");
    assert_eq!(location.origin().ascii_serialization(), FRONTEND);
    assert_eq!(location.path(), "/app");
    let fragment: Vec<(String, String)> =
        url_pairs(location.fragment().expect("the error is in the fragment"));
    assert!(
        fragment.contains(&("error".into(), "invalid_request".into())),
        "{fragment:?}"
    );
    assert!(
        fragment
            .iter()
            .any(|(key, value)| key == "error_description" && value.contains("google"))
    );
    app.stop().await;
}

#[tokio::test]
async fn authorize_does_not_redirect_to_an_origin_that_is_not_allowed() {
    let app = spawn_app_with(&[("gateway.cors_allowed_origins", FRONTEND)]).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");

    let response = client
        .get(app.url("/auth/v1/authorize"))
        .query(&[
            ("provider", "github"),
            ("redirect_to", "https://evil.example/"),
        ])
        .send()
        .await
        .expect("sent");

    assert_eq!(response.status(), 400);
    assert!(response.headers().get("location").is_none());
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error_code"], "validation_failed");
    app.stop().await;
}

fn url_pairs(encoded: &str) -> Vec<(String, String)> {
    let parsed = reqwest::Url::parse(&format!("http://x/?{encoded}")).expect("url");
    parsed
        .query_pairs()
        .map(|(key, value)| (key.into_owned(), value.into_owned()))
        .collect()
}

#[tokio::test]
async fn without_configured_origins_there_are_no_cors_headers() {
    let app = spawn_app().await;

    let preflight = app
        .preflight("/auth/v1/token", FRONTEND, "POST", "content-type")
        .await;
    let simple = app
        .client
        .get(app.url("/healthz"))
        .header("origin", FRONTEND)
        .send()
        .await
        .expect("sent");

    assert!(
        preflight
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    assert!(
        simple
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    app.stop().await;
}

#[tokio::test]
async fn a_preflight_from_an_allowed_origin_lists_the_method_and_each_requested_header() {
    let app = spawn_app_with(&[(
        "gateway.cors_allowed_origins",
        "http://localhost:8080,https://app.example.com",
    )])
    .await;

    let token = app
        .preflight(
            "/auth/v1/token?grant_type=password",
            FRONTEND,
            "POST",
            "apikey, authorization, content-type, x-client-info, x-supabase-api-version",
        )
        .await;
    let api = app
        .preflight(
            &format!("/me/sessions/{}", Uuid::new_v4()),
            "https://app.example.com",
            "DELETE",
            "authorization",
        )
        .await;

    assert_eq!(token.status(), 204);
    let headers = token.headers();
    assert_eq!(header(headers, "access-control-allow-origin"), FRONTEND);
    assert_eq!(header(headers, "access-control-allow-credentials"), "true");
    assert!(header(headers, "access-control-allow-methods").contains("POST"));
    let allowed = header(headers, "access-control-allow-headers");
    assert!(!allowed.contains('*'), "{allowed}");
    for name in [
        "apikey",
        "authorization",
        "content-type",
        "x-client-info",
        "x-supabase-api-version",
    ] {
        assert!(
            allowed.split(", ").any(|listed| listed == name),
            "{name} in {allowed}"
        );
    }
    assert!(header(headers, "vary").contains("Origin"));
    assert!(
        header(headers, "access-control-max-age")
            .parse::<u64>()
            .is_ok()
    );
    assert_eq!(api.status(), 204);
    assert_eq!(
        header(api.headers(), "access-control-allow-origin"),
        "https://app.example.com"
    );
    assert!(header(api.headers(), "access-control-allow-methods").contains("DELETE"));
    assert_eq!(
        header(api.headers(), "access-control-allow-headers"),
        "authorization"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_preflight_from_another_origin_is_refused_without_cors_headers() {
    let app = spawn_app_with(&[("gateway.cors_allowed_origins", FRONTEND)]).await;

    let response = app
        .preflight(
            "/auth/v1/token",
            "https://evil.example",
            "POST",
            "content-type",
        )
        .await;

    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    assert!(header(response.headers(), "vary").contains("Origin"));
    assert_problem(response, 403, "forbidden").await;
    app.stop().await;
}

#[tokio::test]
async fn actual_responses_and_errors_carry_cors_headers_and_expose_retry_after() {
    let app = spawn_app_with(&[
        ("gateway.cors_allowed_origins", FRONTEND),
        ("rate_limit.auth_burst", "1"),
        ("rate_limit.auth_per_minute", "1"),
    ])
    .await;
    let with_origin = |request: reqwest::RequestBuilder| request.header("origin", FRONTEND).send();

    let ok = with_origin(app.client.get(app.url("/healthz")))
        .await
        .expect("sent");
    let unauthenticated = with_origin(app.client.get(app.url("/auth/me")))
        .await
        .expect("sent");
    let other_origin = app
        .client
        .get(app.url("/healthz"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .expect("sent");
    let gotrue_error = with_origin(
        app.gotrue(reqwest::Method::POST, "/auth/v1/token?grant_type=password")
            .body(json!({"email": "nobody@example.com", "password": PASSWORD}).to_string()),
    )
    .await
    .expect("sent");
    let limited = with_origin(
        app.gotrue(reqwest::Method::POST, "/auth/v1/token?grant_type=password")
            .body(json!({"email": "nobody@example.com", "password": PASSWORD}).to_string()),
    )
    .await
    .expect("sent");

    for response in [&ok, &unauthenticated, &gotrue_error, &limited] {
        let headers = response.headers();
        assert_eq!(
            header(headers, "access-control-allow-origin"),
            FRONTEND,
            "{}",
            response.status()
        );
        assert!(header(headers, "vary").contains("Origin"));
        let exposed = header(headers, "access-control-expose-headers");
        for name in ["Retry-After", "X-Supabase-Api-Version", "X-Request-Id"] {
            assert!(exposed.contains(name), "{name} in {exposed}");
        }
    }
    assert_eq!(ok.status(), 200);
    assert_eq!(unauthenticated.status(), 401);
    assert_eq!(gotrue_error.status(), 400);
    assert_eq!(limited.status(), 429);
    assert!(limited.headers().get("retry-after").is_some());
    assert!(
        other_origin
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    assert!(header(other_origin.headers(), "vary").contains("Origin"));
    app.stop().await;
}

#[tokio::test]
async fn a_wildcard_allows_any_origin_without_credentials() {
    let app = spawn_app_with(&[("gateway.cors_allowed_origins", "*")]).await;

    let preflight = app
        .preflight(
            "/auth/v1/user",
            "https://anywhere.example",
            "GET",
            "authorization, apikey",
        )
        .await;
    let simple = app
        .client
        .get(app.url("/healthz"))
        .header("origin", "https://anywhere.example")
        .send()
        .await
        .expect("sent");

    assert_eq!(preflight.status(), 204);
    assert_eq!(
        header(preflight.headers(), "access-control-allow-origin"),
        "*"
    );
    assert!(
        preflight
            .headers()
            .get("access-control-allow-credentials")
            .is_none()
    );
    assert_eq!(
        header(preflight.headers(), "access-control-allow-headers"),
        "authorization, apikey"
    );
    assert_eq!(header(simple.headers(), "access-control-allow-origin"), "*");
    assert!(
        simple
            .headers()
            .get("access-control-allow-credentials")
            .is_none()
    );
    app.stop().await;
}

#[tokio::test]
async fn the_openapi_document_lists_the_supabase_routes() {
    let app = spawn_app().await;

    let document: Value = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");

    for (path, method) in [
        ("/auth/v1/signup", "post"),
        ("/auth/v1/token", "post"),
        ("/auth/v1/user", "get"),
        ("/auth/v1/logout", "post"),
        ("/auth/v1/authorize", "get"),
    ] {
        assert!(
            document["paths"][path][method].is_object(),
            "{method} {path}"
        );
    }
    assert!(document["components"]["schemas"]["GoTrueSession"].is_object());
    app.stop().await;
}

/// supabase-js 2.84.0 itself (`compat/supabase-js-test/test.mjs`) against the backend:
/// sign up, sign in, refresh (and a second client re-presenting the spent token), read
/// the user, sign out, and the errors. Needs Node.js 20+ with npm; the test runs `npm ci`
/// in that folder itself when its packages are missing (a fresh clone).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn supabase_js_2_84_0_signs_up_signs_in_refreshes_reads_the_user_and_signs_out() {
    let folder = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../compat/supabase-js-test");
    let node_version = std::process::Command::new("node").arg("--version").output();
    let node_version = match node_version {
        Ok(output) if output.status.success() => {
            String::from_utf8_lossy(&output.stdout).trim().to_owned()
        }
        other => panic!(
            "this test runs supabase-js under Node.js, and `node` is not usable ({other:?}); \
             install Node.js 20 or newer, then `npm ci` in compat/supabase-js-test"
        ),
    };
    let installed = folder.join("node_modules/@supabase/supabase-js/package.json");
    if !installed.exists() {
        // A fresh clone: install the locked packages here, as `.ci/run` does, so that the
        // README's test command passes as it is.
        let npm = tokio::process::Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&folder)
            .kill_on_drop(true)
            .output();
        let npm = tokio::time::timeout(Duration::from_secs(300), npm)
            .await
            .expect("npm ci finishes within five minutes");
        match npm {
            Ok(output) if output.status.success() => {}
            other => panic!(
                "`npm ci` in {} failed ({other:?}); install Node.js 20+ with npm",
                folder.display()
            ),
        }
    }
    let installed: Value = match std::fs::read(&installed) {
        Ok(bytes) => serde_json::from_slice(&bytes).expect("package.json"),
        Err(error) => panic!(
            "supabase-js is not installed in {} ({error}); run `npm ci` there (.ci/run does)",
            folder.display()
        ),
    };
    assert_eq!(
        installed["version"], "2.84.0",
        "the version TorexTalkWeb pins"
    );
    let app = spawn_app().await;

    let run = tokio::process::Command::new("node")
        .arg("test.mjs")
        .arg(&app.address)
        .current_dir(&folder)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("test.mjs finishes within two minutes")
        .expect("node starts");

    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "supabase-js checks failed under node {node_version}:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("all supabase-js checks passed"), "{stdout}");
    app.stop().await;
}
