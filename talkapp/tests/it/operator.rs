//! The operator role: its own tokens, every user's audit log, the users with their
//! activity, disabling a user (sign-in refused, tokens and sockets ended at once), and
//! reading and disabling an external provider's user (a subject with no account here);
//! such users count as active.

use futures::StreamExt as _;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{
    Mint, PASSWORD, SUPABASE_SECRET, TestApp, assert_problem, spawn_app, spawn_app_with,
};
use crate::linking::Linker;

async fn operator_app() -> (TestApp, String) {
    let (token, hash) = talkapp_gateway::auth::operator::new_operator_token();
    let app = spawn_app_with(&[("operator.token_sha256", &hash)]).await;
    (app, token)
}

#[tokio::test]
async fn without_a_configured_operator_the_admin_routes_do_not_exist() {
    let app = spawn_app().await;
    let (token, _) = talkapp_gateway::auth::operator::new_operator_token();
    for path in ["/admin/users", "/admin/subjects", "/admin/audit"] {
        let response = app.get_with_token(path, &token).await;
        assert_problem(response, 404, "not_found").await;
    }
    app.stop().await;
}

#[tokio::test]
async fn only_an_operator_token_opens_the_admin_routes() {
    let (app, operator) = operator_app().await;
    let user = app.signed_in_user("not-an-operator@example.com").await;
    let user_token = user["access_token"].as_str().expect("token");
    let (stranger, _) = talkapp_gateway::auth::operator::new_operator_token();

    let response = app
        .client
        .get(app.url("/admin/users"))
        .send()
        .await
        .expect("sent");
    assert_problem(response, 401, "unauthenticated").await;
    for token in [user_token, stranger.as_str()] {
        let response = app.get_with_token("/admin/users", token).await;
        assert_problem(response, 401, "token_invalid").await;
    }
    // And an operator token is no user's.
    let response = app.get_with_token("/auth/me", &operator).await;
    assert_eq!(response.status(), 401);

    let users = app.get_json("/admin/users", &operator).await;
    assert_eq!(users["users"][0]["email"], "not-an-operator@example.com");
    app.stop().await;
}

#[tokio::test]
async fn an_operator_pages_users_and_reads_everyones_audit_log() {
    let (app, operator) = operator_app().await;
    let mut ids = Vec::new();
    for index in 0..5 {
        let user = app
            .signed_in_user(&format!("user-{index}@example.com"))
            .await;
        ids.push(user["user"]["id"].as_str().expect("id").to_owned());
    }

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = cursor.map_or(String::new(), |cursor| format!("&cursor={cursor}"));
        let page = app
            .get_json(&format!("/admin/users?limit=2{query}"), &operator)
            .await;
        for user in page["users"].as_array().expect("users") {
            assert_eq!(user["linked_accounts"], 0);
            assert_eq!(user["open_sign_ins"], 1);
            assert!(user["last_sign_in_at"].is_string());
            assert_eq!(user["disabled_at"], Value::Null);
            seen.push(user["id"].as_str().expect("id").to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, ids, "every user once, oldest first");
    for query in ["?limit=0", "?limit=201", "?cursor=nonsense", "?cursor=1.2"] {
        let response = app
            .get_with_token(&format!("/admin/users{query}"), &operator)
            .await;
        assert_problem(response, 422, "validation_failed").await;
    }

    let everyone = app
        .get_json("/admin/audit?action=auth.register", &operator)
        .await;
    assert_eq!(everyone["records"].as_array().expect("records").len(), 5);
    let one = app
        .get_json(&format!("/admin/audit?user_id={}", ids[2]), &operator)
        .await;
    let records = one["records"].as_array().expect("records");
    assert_eq!(records.len(), 2, "register and sign-in");
    assert!(
        records
            .iter()
            .all(|record| record["user_id"] == ids[2].as_str())
    );

    let activity = app
        .get_json(&format!("/admin/users/{}", ids[2]), &operator)
        .await;
    assert_eq!(activity["user"]["email"], "user-2@example.com");
    assert!(
        activity["user"].get("provider").is_none(),
        "a built-in account reads as before: {activity}"
    );
    assert_eq!(activity["recent"].as_array().expect("recent").len(), 2);
    let response = app
        .get_with_token(&format!("/admin/users/{}", uuid::Uuid::new_v4()), &operator)
        .await;
    assert_problem(response, 404, "not_found").await;
    app.stop().await;
}

#[tokio::test]
async fn a_disabled_user_loses_tokens_and_sockets_at_once_and_cannot_sign_in_until_enabled() {
    let (app, operator) = operator_app().await;
    let user = app.signed_in_user("to-disable@example.com").await;
    let user_id = user["user"]["id"].as_str().expect("id").to_owned();
    let token = user["access_token"].as_str().expect("token").to_owned();
    let refresh = user["refresh_token"].as_str().expect("refresh").to_owned();
    let bystander = app.signed_in_user("bystander@example.com").await;
    let bystander_token = bystander["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    assert_eq!(app.get_with_token("/auth/me", &token).await.status(), 200);

    let disabled = operator_post(&app, &operator, &user_id, "disable").await;
    assert_eq!(disabled.status(), 200);
    let disabled: Value = disabled.json().await.expect("json");
    assert!(disabled["disabled_at"].is_string());
    assert_eq!(disabled["open_sign_ins"], 0);

    let response = app.get_with_token("/auth/me", &token).await;
    assert_problem(response, 401, "session_expired").await;
    let response = app
        .post_json("/auth/refresh", &json!({"refresh_token": refresh}))
        .await;
    assert_eq!(response.status(), 401);
    let response = app
        .post_json(
            "/auth/login",
            &json!({"email": "to-disable@example.com", "password": PASSWORD}),
        )
        .await;
    assert_problem(response, 403, "account_disabled").await;
    // A wrong password still says only that.
    let response = app
        .post_json(
            "/auth/login",
            &json!({"email": "to-disable@example.com", "password": "wrong password"}),
        )
        .await;
    assert_problem(response, 401, "invalid_credentials").await;
    // Nobody else is touched.
    assert_eq!(
        app.get_with_token("/auth/me", &bystander_token)
            .await
            .status(),
        200
    );

    let enabled = operator_post(&app, &operator, &user_id, "enable").await;
    assert_eq!(enabled.status(), 200);
    let response = app
        .post_json(
            "/auth/login",
            &json!({"email": "to-disable@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(response.status(), 200);

    // Both operator actions are in the user's log, as the operator's.
    assert_operator_enabled_after_disabling(&app, &operator, &user_id).await;
    app.stop().await;
}

/// `user_id`'s log holds the operator's disabling, then enabling (both succeeded).
async fn assert_operator_enabled_after_disabling(app: &TestApp, operator: &str, user_id: &str) {
    let log = app
        .get_json(
            &format!("/admin/audit?user_id={user_id}&action=operator."),
            operator,
        )
        .await;
    let actions: Vec<(&str, &str, &str)> = log["records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|record| {
            (
                record["action"].as_str().expect("action"),
                record["actor"].as_str().expect("actor"),
                record["outcome"].as_str().expect("outcome"),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            ("operator.user.enable", "operator", "success"),
            ("operator.user.disable", "operator", "success")
        ]
    );
}

#[tokio::test]
async fn disabling_a_user_closes_their_open_sockets() {
    let (app, operator) = operator_app().await;
    let alice = crate::chats::linked_alice(&app, "socket-disabled@example.com").await;
    let mut socket = open_socket(&app, &alice.linker).await;
    let response = operator_post(&app, &operator, &alice.linker.user_id, "disable").await;
    assert_eq!(response.status(), 200);
    assert_eq!(close_code(&mut socket).await, Some(4001));
    app.stop().await;
}

/// `POST /admin/users/{user_id}/{action}` with the operator's token.
async fn operator_post(
    app: &TestApp,
    operator: &str,
    user_id: &str,
    action: &str,
) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/admin/users/{user_id}/{action}")))
        .bearer_auth(operator)
        .send()
        .await
        .expect("sent")
}

/// The close code `socket` gets within `within` (`Err`: none came, the socket is open;
/// `Ok(None)`: it ended without one).
async fn close_within<S>(socket: &mut S, within: std::time::Duration) -> Result<Option<u16>, ()>
where
    S: futures::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    tokio::time::timeout(within, async {
        while let Some(frame) = socket.next().await {
            if let Ok(Message::Close(close)) = frame {
                return close.map(|close| u16::from(close.code));
            }
        }
        None
    })
    .await
    .map_err(drop)
}

/// The close code `socket` gets within 5 s (`None`: it ended without one).
async fn close_code<S>(socket: &mut S) -> Option<u16>
where
    S: futures::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    close_within(socket, std::time::Duration::from_secs(5))
        .await
        .expect("the socket is closed within 5 s")
}

async fn open_socket(
    app: &TestApp,
    linker: &Linker,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let url = app
        .url(&format!("/ws/{}/1", linker.user_id))
        .replace("http://", "ws://");
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(url)
            .expect("request");
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {}", linker.token).parse().expect("header"),
    );
    tokio_tungstenite::connect_async(request)
        .await
        .expect("socket opens")
        .0
}

#[tokio::test]
async fn an_external_providers_user_is_disabled_at_once_everywhere_and_enabled_again() {
    let (app, operator) = operator_app().await;
    let subject = uuid::Uuid::new_v4();
    let linker = Linker {
        user_id: subject.to_string(),
        token: Mint::supabase(subject).sign_hs256(SUPABASE_SECRET),
    };
    app.link(&linker, "+9996620001").await;
    let bystander = Mint::supabase(uuid::Uuid::new_v4()).sign_hs256(SUPABASE_SECRET);
    let mut socket = open_socket(&app, &linker).await;
    let ticket: Value = app
        .post_with_token("/ws/ticket", &linker.token, &json!({}))
        .await
        .json()
        .await
        .expect("json");
    let ticket = ticket["ticket"].as_str().expect("ticket").to_owned();
    let link: Value = app
        .post_with_token(
            &format!("/me/media/{subject}/1/p:1:1/url"),
            &linker.token,
            &json!({}),
        )
        .await
        .json()
        .await
        .expect("json");
    let link = link["url"].as_str().expect("url").to_owned();
    assert_eq!(
        app.get_with_token("/auth/me", &linker.token).await.status(),
        200
    );

    let disabled = operator_post(&app, &operator, &subject.to_string(), "disable").await;
    assert_eq!(disabled.status(), 200);
    let disabled: Value = disabled.json().await.expect("json");
    assert_eq!(disabled["id"], subject.to_string());
    assert_eq!(disabled["provider"], "external");
    assert!(disabled["disabled_at"].is_string());
    assert_eq!(disabled["linked_accounts"], 1);
    // Operators find it among the provider's users (paged; the bystander is not seen yet).
    let listed = app.get_json("/admin/subjects?limit=1", &operator).await;
    assert_eq!(listed["subjects"][0]["id"], subject.to_string());
    assert_eq!(listed["subjects"][0]["provider"], "external");
    assert_eq!(
        listed["subjects"][0]["disabled_at"],
        disabled["disabled_at"]
    );
    assert_eq!(listed["subjects"][0]["linked_accounts"], 1);
    let cursor = listed["next_cursor"]
        .as_str()
        .expect("a full page has a cursor");
    let rest = app
        .get_json(&format!("/admin/subjects?cursor={cursor}"), &operator)
        .await;
    assert_eq!(rest["subjects"], json!([]), "{rest}");
    assert_eq!(rest["next_cursor"], Value::Null);
    let response = app
        .get_with_token("/admin/subjects?cursor=nope", &operator)
        .await;
    assert_problem(response, 422, "validation_failed").await;

    // Its tokens, its open socket, a ticket and a media link issued before: all refused.
    let response = app.get_with_token("/auth/me", &linker.token).await;
    assert_problem(response, 403, "account_disabled").await;
    let response = app
        .get_with_token(&format!("/me/sessions/{subject}"), &linker.token)
        .await;
    assert_problem(response, 403, "account_disabled").await;
    assert_eq!(close_code(&mut socket).await, Some(4001));
    let with_ticket = format!(
        "{}?ticket={ticket}",
        app.url(&format!("/ws/{subject}/1"))
            .replace("http://", "ws://")
    );
    assert!(
        tokio_tungstenite::connect_async(with_ticket).await.is_err(),
        "a ticket of a disabled subject opens nothing"
    );
    let response = app.client.get(app.url(&link)).send().await.expect("sent");
    assert_problem(response, 403, "account_disabled").await;
    // Nobody else is touched.
    assert_eq!(
        app.get_with_token("/auth/me", &bystander).await.status(),
        200
    );

    let enabled = operator_post(&app, &operator, &subject.to_string(), "enable").await;
    assert_eq!(enabled.status(), 200);
    let enabled: Value = enabled.json().await.expect("json");
    assert_eq!(enabled["disabled_at"], Value::Null);
    assert_eq!(
        app.get_with_token("/auth/me", &linker.token).await.status(),
        200
    );
    let mut socket = open_socket(&app, &linker).await;
    let closed = close_within(&mut socket, std::time::Duration::from_secs(1)).await;
    assert!(
        closed.is_err(),
        "a socket opened after enabling stays open: {closed:?}"
    );

    // Both actions are in the subject's log, as the operator's.
    assert_operator_enabled_after_disabling(&app, &operator, &subject.to_string()).await;
    app.stop().await;
}

/// `GET /admin/users/{user_id}` once it answers with `last_seen_at` (the sighting is
/// written in the background by the request that made it).
async fn admin_user_once_seen(app: &TestApp, operator: &str, user_id: uuid::Uuid) -> Value {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let response = app
            .get_with_token(&format!("/admin/users/{user_id}"), operator)
            .await;
        let status = response.status();
        let body: Value = response.json().await.expect("json");
        if status == 200 && body["user"]["last_seen_at"].is_string() {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{user_id} is not seen: {status} {body}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn an_operator_reads_an_external_providers_user_as_listed_and_an_unknown_id_is_404() {
    let (app, operator) = operator_app().await;
    let subject = uuid::Uuid::new_v4();
    let linker = Linker {
        user_id: subject.to_string(),
        token: Mint::supabase(subject).sign_hs256(SUPABASE_SECRET),
    };
    app.link(&linker, "+9996620001").await;
    let only_seen = uuid::Uuid::new_v4();
    let only_seen_token = Mint::supabase(only_seen).sign_hs256(SUPABASE_SECRET);
    assert_eq!(
        app.get_with_token("/auth/me", &only_seen_token)
            .await
            .status(),
        200
    );

    let read = admin_user_once_seen(&app, &operator, subject).await;
    let user = &read["user"];
    assert_eq!(user["id"], subject.to_string());
    assert_eq!(user["provider"], "external");
    assert_eq!(user["linked_accounts"], 1);
    assert_eq!(user["disabled_at"], Value::Null);
    assert!(user.get("email").is_none(), "no account here: {user}");
    let listed = app.get_json("/admin/subjects", &operator).await;
    let as_listed = listed["subjects"]
        .as_array()
        .expect("subjects")
        .iter()
        .find(|listed| listed["id"] == subject.to_string())
        .expect("listed");
    assert_eq!(user, as_listed, "read as /admin/subjects lists it");
    let seen = admin_user_once_seen(&app, &operator, only_seen).await;
    assert_eq!(seen["user"]["linked_accounts"], 0);
    assert_eq!(seen["user"]["disabled_at"], Value::Null);
    // Known before the gateway's first flush of its activity: an answer, not a 404.
    let activity = app
        .get_json(&format!("/admin/users/{only_seen}/activity"), &operator)
        .await;
    assert_eq!(activity["user_id"], only_seen.to_string());
    assert!(activity["days"].is_array(), "{activity}");

    let disabled = operator_post(&app, &operator, &subject.to_string(), "disable").await;
    assert_eq!(disabled.status(), 200);
    let disabled: Value = disabled.json().await.expect("json");
    let read = app
        .get_json(&format!("/admin/users/{subject}"), &operator)
        .await;
    let user = &read["user"];
    assert!(disabled["disabled_at"].is_string());
    assert_eq!(user["disabled_at"], disabled["disabled_at"]);
    assert_eq!(user["last_seen_at"], as_listed["last_seen_at"]);
    assert_eq!(user["linked_accounts"], 1);
    let recent = read["recent"].as_array().expect("recent");
    assert_eq!(recent[0]["action"], "operator.user.disable", "{read}");
    assert!(
        recent
            .iter()
            .all(|record| record["user_id"] == subject.to_string()),
        "{read}"
    );

    let response = app
        .get_with_token(&format!("/admin/users/{}", uuid::Uuid::new_v4()), &operator)
        .await;
    assert_problem(response, 404, "not_found").await;
    app.stop().await;
}

#[tokio::test]
async fn without_an_external_provider_an_unknown_user_cannot_be_disabled() {
    let (token, hash) = talkapp_gateway::auth::operator::new_operator_token();
    let app = spawn_app_with(&[
        ("operator.token_sha256", &hash),
        ("auth.external.hs256_secret", ""),
        ("auth.external.jwks_url", ""),
    ])
    .await;
    for action in ["disable", "enable"] {
        let response = operator_post(&app, &token, &uuid::Uuid::new_v4().to_string(), action).await;
        assert_problem(response, 404, "not_found").await;
    }
    app.stop().await;
}

#[tokio::test]
async fn an_external_providers_user_counts_as_active_once_seen() {
    let app = spawn_app().await;
    let store = app.store();
    let subject = uuid::Uuid::new_v4();
    let token = Mint::supabase(subject).sign_hs256(SUPABASE_SECRET);
    let before = store
        .activity_summary(talkapp_store::now())
        .await
        .expect("summary");
    assert_eq!(before.active_1d, 0);
    for _ in 0..3 {
        assert_eq!(app.get_with_token("/auth/me", &token).await.status(), 200);
    }
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let summary = store
            .activity_summary(talkapp_store::now())
            .await
            .expect("summary");
        if summary.active_1d == 1 {
            assert_eq!(summary.active_7d, 1);
            assert_eq!(summary.users, 0, "a subject is no built-in account");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the subject is not counted: {summary:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    app.stop().await;
}

/// Split mode: an external provider's user is disabled through gateway a while gateway
/// b's link to Redis is down, then enabled again, and opens another socket on b. Once
/// b's link is back it reads back what it missed: the socket opened before closes, the
/// one opened after the enabling stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_whose_redis_comes_back_late_closes_only_the_sockets_opened_before() {
    use crate::support::SplitSetUp;
    use std::time::Duration;

    let mut split = SplitSetUp::new().await;
    let (operator, hash) = talkapp_gateway::auth::operator::new_operator_token();
    split.set(&[
        ("TALKAPP_OPERATOR__TOKEN_SHA256", hash.as_str()),
        ("TALKAPP_AUTH__EXTERNAL__HS256_SECRET", SUPABASE_SECRET),
        (
            "TALKAPP_AUTH__EXTERNAL__ISSUER",
            crate::helpers::SUPABASE_ISSUER,
        ),
    ]);
    let replicas = &mut split.replicas;
    replicas.start_chat("chat-a");
    replicas.start_realtime();
    replicas.start_gateway("chat-a");
    // Gateway b reaches Redis through a proxy: its link alone can be cut.
    let redis_url = replicas.environment["TALKAPP_REDIS__URL"].clone();
    let proxy = crate::helpers::TcpProxy::start(redis_url.trim_start_matches("redis://")).await;
    replicas.environment.insert(
        "TALKAPP_REDIS__URL".into(),
        format!("redis://{}", proxy.address()),
    );
    let gateway_b = replicas.start_gateway_named("gateway-b", "chat-a");
    replicas
        .environment
        .insert("TALKAPP_REDIS__URL".into(), redis_url);
    replicas.wait_until_serving().await;
    let client = reqwest::Client::new();
    crate::helpers::wait_until_healthy(&client, &gateway_b).await;

    let subject = uuid::Uuid::new_v4();
    let user = (
        subject.to_string(),
        Mint::supabase(subject).sign_hs256(SUPABASE_SECRET),
    );
    let index = replicas.link(&user, "+9996620001").await;
    replicas.wait_for_chats(&user, index).await;
    let path = format!("/ws/{subject}/{index}");
    let mut before = crate::realtime::connect_with_token(&gateway_b, &path, &user.1).await;

    // b's link to Redis goes; the operator disables the user through a, and enables it.
    proxy.cut();
    let admin_post = |action: &'static str| {
        client
            .post(replicas.url(&format!("/admin/users/{subject}/{action}")))
            .bearer_auth(&operator)
            .send()
    };
    assert_eq!(admin_post("disable").await.expect("sent").status(), 200);
    assert_eq!(admin_post("enable").await.expect("sent").status(), 200);
    // Past the clocks' slack, the user opens another socket on b.
    tokio::time::sleep(talkapp_gateway::revocations::CLOCK_SLACK + Duration::from_millis(500))
        .await;
    let mut after = crate::realtime::connect_with_token(&gateway_b, &path, &user.1).await;

    proxy.restore().await;
    assert_eq!(crate::realtime::close_code(&mut before).await, 4001);
    let closed = close_within(&mut after, Duration::from_secs(3)).await;
    assert!(
        closed.is_err(),
        "the socket opened after the enabling stays open: {closed:?}"
    );
    split.finish().await;
}

/// `GET /admin/users/{user_id}/activity` until `done` holds for its answer (`null` while
/// it is 404; the gateway flushes every second here), within 15 s.
async fn activity_when(
    app: &TestApp,
    operator: &str,
    user_id: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let response = app
            .get_with_token(&format!("/admin/users/{user_id}/activity"), operator)
            .await;
        // An external provider's user is unknown (404) until the store has seen it.
        let activity: Value = if response.status() == 404 {
            Value::Null
        } else {
            assert_eq!(response.status(), 200);
            response.json().await.expect("json")
        };
        if done(&activity) {
            return activity;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the activity never showed: {activity}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn an_operator_sees_each_users_requests_errors_sends_and_sockets_per_day() {
    let (token, hash) = talkapp_gateway::auth::operator::new_operator_token();
    let app = spawn_app_with(&[
        ("operator.token_sha256", &hash),
        ("operator.activity_flush_secs", "1"),
    ])
    .await;
    let operator = token.as_str();
    let alice = crate::chats::linked_alice(&app, "activity-alice@example.com").await;
    let carol = app.signed_in_user("activity-carol@example.com").await;
    let carol_id = carol["user"]["id"].as_str().expect("id").to_owned();
    let carol_token = carol["access_token"].as_str().expect("token");

    // Carol: three requests answered 200, one refused (another user's path: 403).
    for _ in 0..3 {
        assert_eq!(
            app.get_with_token("/auth/me", carol_token).await.status(),
            200
        );
    }
    let response = app
        .get_with_token(
            &format!("/me/chats/{}/1", alice.linker.user_id),
            carol_token,
        )
        .await;
    assert_eq!(response.status(), 403);
    // Alice: a send accepted and a socket opened.
    let response = app
        .post_with_token(
            &format!("/me/send_message/{}/1", alice.linker.user_id),
            &alice.linker.token,
            &json!({"chat_id": alice.bob, "text": "counted"}),
        )
        .await;
    assert_eq!(response.status(), 202);
    let _socket = open_socket(&app, &alice.linker).await;

    let today = chrono::Utc::now().date_naive().to_string();
    let seen = activity_when(&app, operator, &carol_id, |activity| {
        activity["days"][0]["requests"] == 4
    })
    .await;
    // Flushed again and again meanwhile: nothing is added twice.
    tokio::time::sleep(std::time::Duration::from_millis(2_500)).await;
    let again = app
        .get_json(
            &format!("/admin/users/{carol_id}/activity?days=1"),
            operator,
        )
        .await;
    for activity in [&seen, &again] {
        assert_eq!(activity["user_id"], carol_id.as_str());
        assert_eq!(
            activity["days"],
            json!([{"day": today, "requests": 4, "errors": 1, "client_errors": 1,
                    "server_errors": 0, "sends": 0, "sockets": 0}]),
            "Carol's own counts, none of Alice's"
        );
    }
    let alices = activity_when(&app, operator, &alice.linker.user_id, |activity| {
        activity["days"][0]["sends"] == 1 && activity["days"][0]["sockets"] == 1
    })
    .await;
    let day = &alices["days"][0];
    assert_eq!(day["day"], today.as_str());
    assert!(
        day["requests"].as_u64().expect("requests") >= 5,
        "linking, the chat list and the send: {day}"
    );
    assert_eq!(alices["days"].as_array().map(Vec::len), Some(1));

    // An external provider's user (no account here) is counted alike.
    let subject = uuid::Uuid::new_v4();
    let subject_token = Mint::supabase(subject).sign_hs256(SUPABASE_SECRET);
    for _ in 0..2 {
        assert_eq!(
            app.get_with_token("/auth/me", &subject_token)
                .await
                .status(),
            200
        );
    }
    let subjects = activity_when(&app, operator, &subject.to_string(), |activity| {
        activity["days"][0]["requests"] == 2
    })
    .await;
    assert_eq!(
        subjects["days"],
        json!([{"day": today, "requests": 2, "errors": 0, "client_errors": 0,
                "server_errors": 0, "sends": 0, "sockets": 0}])
    );

    // Nobody known: 404; out of range: 422; a user's token is no operator's: 401.
    let response = app
        .get_with_token(
            &format!("/admin/users/{}/activity", uuid::Uuid::new_v4()),
            operator,
        )
        .await;
    assert_problem(response, 404, "not_found").await;
    for days in ["0", "367", "x"] {
        let response = app
            .get_with_token(
                &format!("/admin/users/{carol_id}/activity?days={days}"),
                operator,
            )
            .await;
        assert_eq!(response.status(), 422, "days={days}");
    }
    let response = app
        .get_with_token(&format!("/admin/users/{carol_id}/activity"), carol_token)
        .await;
    assert_problem(response, 401, "token_invalid").await;
    app.stop().await;
}
