//! Built-in accounts: register, login, refresh, logout, me, and the path-owner rule.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{
    Mint, PASSWORD, SIGNING_SECRET, assert_problem, jwt_payload, spawn_app, spawn_app_with,
};

#[tokio::test]
async fn registering_answers_201_with_the_new_user() {
    let app = spawn_app().await;

    let response = app.register("Ada@Example.com").await;

    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["user"]["email"], "Ada@Example.com");
    Uuid::parse_str(body["user"]["id"].as_str().expect("id")).expect("id is a uuid");
    assert!(
        body["user"]["created_at"]
            .as_str()
            .expect("created_at")
            .ends_with('Z')
    );
    app.stop().await;
}

#[tokio::test]
async fn a_duplicate_email_is_refused_with_email_taken_whatever_its_case() {
    let app = spawn_app().await;
    assert_eq!(app.register("grace@example.com").await.status(), 201);

    let response = app.register("  GRACE@example.com ").await;

    assert_problem(response, 409, "email_taken").await;
    app.stop().await;
}

#[tokio::test]
async fn invalid_fields_are_refused_with_a_message_per_field() {
    let app = spawn_app().await;

    let response = app
        .post_json(
            "/auth/register",
            &json!({"email": "not-an-email", "password": "short"}),
        )
        .await;

    let problem = assert_problem(response, 422, "validation_failed").await;
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|error| error["field"].as_str().expect("field"))
        .collect();
    assert_eq!(fields, ["email", "password"]);
    app.stop().await;
}

#[tokio::test]
async fn login_answers_the_token_pair_shape_the_frontend_reads() {
    let app = spawn_app().await;

    let login = app.signed_in_user("linus@example.com").await;

    assert_eq!(login["token_type"], "bearer");
    assert_eq!(login["expires_in"], 900);
    assert!(login["refresh_token"].as_str().expect("refresh").len() >= 40);
    assert_eq!(login["user"]["email"], "linus@example.com");
    assert!(login["user"]["last_sign_in_at"].is_string());
    let claims = jwt_payload(login["access_token"].as_str().expect("access"));
    assert_eq!(claims["sub"], login["user"]["id"]);
    assert_eq!(claims["aud"], "authenticated");
    app.stop().await;
}

#[tokio::test]
async fn me_answers_the_signed_in_user() {
    let app = spawn_app().await;
    let login = app.signed_in_user("me@example.com").await;

    let response = app
        .get_with_token("/auth/me", login["access_token"].as_str().expect("token"))
        .await;

    assert_eq!(response.status(), 200);
    let me: Value = response.json().await.expect("json");
    assert_eq!(me["id"], login["user"]["id"]);
    assert_eq!(me["email"], "me@example.com");
    app.stop().await;
}

/// `/auth/me` reads the user's row at most once per 30 s (ADR 0074): a signed-in user is
/// answered while PostgreSQL is away, and a sign-in through this gateway shows its new
/// time at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn me_is_answered_from_the_gateways_copy_with_the_store_away_and_a_new_sign_in_at_once() {
    let postgres = talkapp_testkit::PrivatePostgres::start().await;
    let app = crate::helpers::spawn_app_on(
        &postgres.url("postgres"),
        crate::helpers::temp_dir("talkapp-me-away"),
        &[("database.connect_timeout_ms", "1000")],
    )
    .await;
    let first = app.signed_in_user("kept@example.com").await;
    let token = first["access_token"].as_str().expect("token");
    let before: Value = app
        .get_with_token("/auth/me", token)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(before["last_sign_in_at"], first["user"]["last_sign_in_at"]);

    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let again: Value = app
        .post_json(
            "/auth/login",
            &json!({"email": "kept@example.com", "password": PASSWORD}),
        )
        .await
        .json()
        .await
        .expect("json");
    assert_ne!(again["user"]["last_sign_in_at"], before["last_sign_in_at"]);
    let after_sign_in: Value = app
        .get_with_token("/auth/me", token)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        after_sign_in["last_sign_in_at"], again["user"]["last_sign_in_at"],
        "the second sign-in's time, at once"
    );

    postgres.stop().await;
    assert_problem(
        app.get_with_token("/me/telegrams", token).await,
        503,
        "service_unavailable",
    )
    .await;
    let away = app.get_with_token("/auth/me", token).await;
    assert_eq!(away.status(), 200, "answered with the store away");
    let away: Value = away.json().await.expect("json");
    assert_eq!(away, after_sign_in);

    postgres.start_again().await;
    app.stop().await;
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_email_get_the_same_invalid_credentials() {
    let app = spawn_app().await;
    assert_eq!(app.register("alan@example.com").await.status(), 201);

    let wrong_password = app
        .post_json(
            "/auth/login",
            &json!({"email": "alan@example.com", "password": "not the password"}),
        )
        .await;
    let unknown_email = app
        .post_json(
            "/auth/login",
            &json!({"email": "nobody@example.com", "password": PASSWORD}),
        )
        .await;

    let first = assert_problem(wrong_password, 401, "invalid_credentials").await;
    let second = assert_problem(unknown_email, 401, "invalid_credentials").await;
    assert_eq!(first["detail"], second["detail"]);
    app.stop().await;
}

#[tokio::test]
async fn a_request_without_a_token_is_refused_with_unauthenticated() {
    let app = spawn_app().await;

    let response = app
        .client
        .get(app.url("/auth/me"))
        .send()
        .await
        .expect("sent");

    assert_eq!(
        response
            .headers()
            .get("www-authenticate")
            .and_then(|value| value.to_str().ok()),
        Some("Bearer")
    );
    assert_problem(response, 401, "unauthenticated").await;
    app.stop().await;
}

#[tokio::test]
async fn an_expired_token_is_refused_with_token_expired() {
    let app = spawn_app().await;
    let login = app.signed_in_user("old@example.com").await;
    let claims = jwt_payload(login["access_token"].as_str().expect("token"));
    let expired = Mint {
        sub: claims["sub"].as_str().expect("sub").to_owned(),
        iss: "talkapp",
        aud: "authenticated",
        expires_in_secs: -120,
        sid: claims["sid"].as_str().map(str::to_owned),
    }
    .sign_hs256(SIGNING_SECRET);

    let response = app.get_with_token("/auth/me", &expired).await;

    assert_problem(response, 401, "token_expired").await;
    app.stop().await;
}

#[tokio::test]
async fn a_tampered_token_is_refused_with_token_invalid() {
    use base64::Engine as _;
    let app = spawn_app().await;
    let victim = app.signed_in_user("victim@example.com").await;
    let attacker = app.signed_in_user("attacker@example.com").await;
    // The attacker swaps the subject in their own token's payload for the victim's id.
    let token = attacker["access_token"].as_str().expect("token");
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let mut claims = jwt_payload(token);
    claims["sub"] = victim["user"]["id"].clone();
    parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(&claims).expect("claims"));
    let tampered = parts.join(".");

    let response = app.get_with_token("/auth/me", &tampered).await;

    assert_problem(response, 401, "token_invalid").await;
    app.stop().await;
}

#[tokio::test]
async fn a_refresh_rotates_the_pair_and_the_new_tokens_work() {
    let app = spawn_app().await;
    let login = app.signed_in_user("rotate@example.com").await;

    let response = app
        .post_json(
            "/auth/refresh",
            &json!({"refresh_token": login["refresh_token"]}),
        )
        .await;

    assert_eq!(response.status(), 200);
    let refreshed: Value = response.json().await.expect("json");
    assert_ne!(refreshed["refresh_token"], login["refresh_token"]);
    assert_eq!(refreshed["user"]["id"], login["user"]["id"]);
    let me = app
        .get_with_token(
            "/auth/me",
            refreshed["access_token"].as_str().expect("token"),
        )
        .await;
    assert_eq!(me.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn reusing_a_spent_refresh_token_revokes_the_whole_family() {
    let app = spawn_app().await;
    let login = app.signed_in_user("reuse@example.com").await;
    let first_refresh = app
        .post_json(
            "/auth/refresh",
            &json!({"refresh_token": login["refresh_token"]}),
        )
        .await;
    let rotated: Value = first_refresh.json().await.expect("json");

    // The original (now spent) token comes back, as a thief replaying it would.
    let replay = app
        .post_json(
            "/auth/refresh",
            &json!({"refresh_token": login["refresh_token"]}),
        )
        .await;

    assert_problem(replay, 401, "refresh_token_reused").await;
    let newest_refresh = app
        .post_json(
            "/auth/refresh",
            &json!({"refresh_token": rotated["refresh_token"]}),
        )
        .await;
    assert_problem(newest_refresh, 401, "session_expired").await;
    let access = app
        .get_with_token("/auth/me", rotated["access_token"].as_str().expect("token"))
        .await;
    assert_problem(access, 401, "session_expired").await;
    app.stop().await;
}

#[tokio::test]
async fn an_unknown_refresh_token_is_refused_with_refresh_token_invalid() {
    let app = spawn_app().await;

    let response = app
        .post_json("/auth/refresh", &json!({"refresh_token": "made-up"}))
        .await;

    assert_problem(response, 401, "refresh_token_invalid").await;
    app.stop().await;
}

#[tokio::test]
async fn logout_ends_the_session_for_its_access_and_refresh_tokens() {
    let app = spawn_app().await;
    let login = app.signed_in_user("bye@example.com").await;
    let access = login["access_token"].as_str().expect("token");

    let response = app
        .client
        .post(app.url("/auth/logout"))
        .bearer_auth(access)
        .send()
        .await
        .expect("sent");

    assert_eq!(response.status(), 204);
    assert_problem(
        app.get_with_token("/auth/me", access).await,
        401,
        "session_expired",
    )
    .await;
    let refresh = app
        .post_json(
            "/auth/refresh",
            &json!({"refresh_token": login["refresh_token"]}),
        )
        .await;
    assert_problem(refresh, 401, "session_expired").await;
    app.stop().await;
}

#[tokio::test]
async fn a_session_unused_longer_than_the_idle_timeout_ends() {
    let app = spawn_app_with(&[("auth.idle_timeout_secs", "1")]).await;
    let login = app.signed_in_user("idle@example.com").await;

    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let response = app
        .get_with_token("/auth/me", login["access_token"].as_str().expect("token"))
        .await;

    assert_problem(response, 401, "session_expired").await;
    app.stop().await;
}

#[tokio::test]
async fn user_a_on_user_b_path_is_forbidden_and_on_their_own_path_is_served() {
    let app = spawn_app().await;
    let user_a = app.signed_in_user("a@example.com").await;
    let user_b = app.signed_in_user("b@example.com").await;
    let token_a = user_a["access_token"].as_str().expect("token");

    let foreign = app
        .get_with_token(
            &format!(
                "/me/sessions/{}",
                user_b["user"]["id"].as_str().expect("id")
            ),
            token_a,
        )
        .await;
    let own = app
        .get_with_token(
            &format!(
                "/me/sessions/{}",
                user_a["user"]["id"].as_str().expect("id")
            ),
            token_a,
        )
        .await;

    assert_problem(foreign, 403, "forbidden").await;
    assert_eq!(own.status(), 200);
    let sessions: Value = own.json().await.expect("json");
    assert_eq!(sessions, json!({"sessions": []}));
    app.stop().await;
}

#[tokio::test]
async fn a_path_user_id_that_is_not_a_uuid_is_a_validation_error() {
    let app = spawn_app().await;
    let user = app.signed_in_user("path@example.com").await;

    let response = app
        .get_with_token(
            "/me/sessions/not-a-uuid",
            user["access_token"].as_str().expect("token"),
        )
        .await;

    let problem = assert_problem(response, 422, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "user_id");
    app.stop().await;
}

#[tokio::test]
async fn linked_sessions_are_listed_through_the_chat_service_in_index_order() {
    let app = spawn_app().await;
    let user = app.signed_in_user("linked@example.com").await;
    let user_id = Uuid::parse_str(user["user"]["id"].as_str().expect("id")).expect("uuid");
    let store = app.store();
    for (telegram_user_id, phone) in [(7_000_000_000_123_i64, "9996620001"), (42, "9996620002")] {
        store
            .link_telegram_account(
                user_id,
                &talkapp_store::TelegramAccount {
                    telegram_user_id,
                    first_name: "Sandbox".into(),
                    last_name: String::new(),
                    username: String::new(),
                    phone: phone.into(),
                },
                talkapp_store::LinkStatus::Connected,
                b"not hosted by this test",
                talkapp_store::now(),
            )
            .await
            .expect("linked");
    }

    let response = app
        .get_with_token(
            &format!("/me/sessions/{user_id}"),
            user["access_token"].as_str().expect("token"),
        )
        .await;

    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    let sessions = body["sessions"].as_array().expect("sessions");
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions[0]["session_index"], 1);
    assert_eq!(sessions[0]["telegram_user"]["id"], "7000000000123");
    assert_eq!(sessions[0]["status"], "connected");
    assert_eq!(sessions[1]["session_index"], 2);
    assert_eq!(sessions[1]["telegram_user"]["phone"], "9996620002");
    app.stop().await;
}

/// Guards every documented route with `{user_id}`, present and future: each must refuse
/// a caller whose token is for another user, before it looks at anything else.
#[tokio::test]
async fn every_documented_route_with_a_user_id_refuses_another_users_token() {
    let app = spawn_app().await;
    let caller = app.signed_in_user("guard@example.com").await;
    let token = caller["access_token"].as_str().expect("token");
    let someone_else = Uuid::new_v4().to_string();
    let document: Value = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    let mut checked = 0;
    for (path, operations) in document["paths"].as_object().expect("paths") {
        // `/admin` routes name the user an operator acts on; they take operator tokens
        // only (`operator::*` tests them).
        if !path.contains("{user_id}") || path.starts_with("/admin/") {
            continue;
        }
        let concrete = path
            .replace("{user_id}", &someone_else)
            .replace("{session_index}", "1")
            .replace("{chat_id}", "1")
            .replace("{job_id}", "1")
            .replace("{login_id}", "1");
        for method in operations.as_object().expect("operations").keys() {
            let request = match method.as_str() {
                "get" => app.client.get(app.url(&concrete)),
                "post" => app.client.post(app.url(&concrete)).json(&json!({})),
                "delete" => app.client.delete(app.url(&concrete)),
                "put" => app.client.put(app.url(&concrete)).json(&json!({})),
                "patch" => app.client.patch(app.url(&concrete)).json(&json!({})),
                other => panic!("unexpected method {other} on {path}"),
            };
            let response = request.bearer_auth(token).send().await.expect("sent");
            assert_eq!(
                response.status(),
                403,
                "{method} {path} did not refuse another user"
            );
            checked += 1;
        }
    }
    assert!(checked >= 1, "no route with {{user_id}} was documented");
    app.stop().await;
}
