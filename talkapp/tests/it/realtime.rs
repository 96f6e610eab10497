//! The WebSocket of events, presence and push notifications, end to end over the real
//! path: sandbox → grammers → the account's host → the event bus → the realtime service
//! → the gateway → a WebSocket client.

use std::time::Duration;

use futures::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use talkapp_tg_sandbox::Peer;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

use crate::chats::{Alice, linked_alice};
use crate::helpers::{TestApp, spawn_app, spawn_app_with};
use crate::linking::Linker;

pub(crate) type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens `/ws/...` of `url` with the bearer token in the header.
pub(crate) async fn connect_with_token(url: &str, path: &str, token: &str) -> Socket {
    let mut request = format!("{}{path}", url.replacen("http", "ws", 1))
        .into_client_request()
        .expect("ws request");
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("header"),
    );
    let (socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("websocket opens");
    socket
}

/// The next event frame (replies and pings skipped) within `within`.
pub(crate) async fn next_event(socket: &mut Socket, within: Duration) -> Value {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let frame = tokio::time::timeout_at(deadline, socket.next())
            .await
            .expect("an event within the wait")
            .expect("the socket is open")
            .expect("a frame");
        if let Message::Text(text) = frame {
            let value: Value = serde_json::from_str(&text).expect("json frame");
            if value.get("event_id").is_some() {
                return value;
            }
        }
    }
}

/// Waits for the first event accepted by `wanted`.
pub(crate) async fn wait_for_event(
    socket: &mut Socket,
    within: Duration,
    wanted: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let event = next_event(socket, left).await;
        if wanted(&event) {
            return event;
        }
    }
}

/// The next reply to a client frame.
async fn next_reply(socket: &mut Socket) -> Value {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a reply")
            .expect("open")
            .expect("frame");
        if let Message::Text(text) = frame {
            let value: Value = serde_json::from_str(&text).expect("json");
            if value.get("event_id").is_none() {
                return value;
            }
        }
    }
}

/// The close frame's code, skipping everything before it.
pub(crate) async fn close_code(socket: &mut Socket) -> u16 {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("the server closes")
        {
            Some(Ok(Message::Close(Some(frame)))) => return u16::from(frame.code),
            Some(Ok(Message::Close(None))) | None => return 1005,
            Some(Ok(_)) => {}
            Some(Err(error)) => panic!("no close frame: {error}"),
        }
    }
}

impl TestApp {
    pub(crate) async fn ws_ticket(&self, token: &str) -> String {
        let response = self
            .client
            .post(self.url("/ws/ticket"))
            .bearer_auth(token)
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), 201);
        let body: Value = response.json().await.expect("json");
        body["ticket"].as_str().expect("ticket").to_owned()
    }
}

/// Bob (`+9996620002`, 2FA) linked as session 1 of his own TalkApp user.
pub(crate) async fn linked_bob(app: &TestApp, email: &str) -> Linker {
    let linker = app.linker(email).await;
    let login_id = app.start_login(&linker, "+9996620002").await;
    assert_eq!(
        app.submit_code(&linker, &login_id, "22222").await.status(),
        200
    );
    let linked = app
        .submit_password(&linker, &login_id, talkapp_tg_sandbox::DEMO_2FA_PASSWORD)
        .await;
    assert_eq!(linked.status(), 201);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let chats = app
            .get_json(&format!("/me/chats/{}/1", linker.user_id), &linker.token)
            .await;
        if chats["chats"]
            .as_array()
            .is_some_and(|chats| !chats.is_empty())
        {
            return linker;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "bob's chats never cached"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_send_reaches_the_peers_socket_and_the_senders_socket_follows_it_to_read() {
    let app = spawn_app().await;
    let alice = linked_alice(&app, "ws-alice@example.com").await;
    let bob = linked_bob(&app, "ws-bob@example.com").await;
    // Alice's browser uses a ticket; Bob's client sends the header.
    let ticket = app.ws_ticket(&alice.linker.token).await;
    let mut alice_socket = tokio_tungstenite::connect_async(format!(
        "{}/ws/{}/1?ticket={ticket}",
        app.address.replacen("http", "ws", 1),
        alice.linker.user_id
    ))
    .await
    .expect("alice's socket opens")
    .0;
    let mut bob_socket =
        connect_with_token(&app.address, &format!("/ws/{}/1", bob.user_id), &bob.token).await;

    let job: Value = app
        .post_with_token(
            &format!("/me/send_message/{}/1", alice.linker.user_id),
            &alice.linker.token,
            &json!({"chat_id": alice.bob, "text": "over the websocket"}),
        )
        .await
        .json()
        .await
        .expect("json");
    let job_id = job["job_id"].as_str().expect("job id").to_owned();

    let arrived = wait_for_event(&mut bob_socket, Duration::from_secs(15), |event| {
        event["type"] == "message.new" && event["data"]["text"] == "over the websocket"
    })
    .await;
    assert_eq!(arrived["session_index"], 1);
    assert_eq!(arrived["data"]["outgoing"], false);
    assert_eq!(arrived["data"]["chat_id"], alice.alice.to_string());
    assert_eq!(arrived["data"]["sender"]["name"], "Alice Sandbox");
    let sent = wait_for_event(&mut alice_socket, Duration::from_secs(15), |event| {
        event["type"] == "message.status"
            && event["data"]["job_id"] == job_id.as_str()
            && event["data"]["status"] == "sent"
    })
    .await;

    // Bob's client reads it: Alice's socket shows the job read.
    bob_socket
        .send(Message::text(
            json!({
                "type": "read",
                "id": "r1",
                "chat_id": alice.alice,
                "max_id": arrived["data"]["id"],
            })
            .to_string(),
        ))
        .await
        .expect("read frame");
    let ack = next_reply(&mut bob_socket).await;
    assert_eq!(ack, json!({"type": "ack", "id": "r1"}));
    let read = wait_for_event(&mut alice_socket, Duration::from_secs(15), |event| {
        event["type"] == "message.status"
            && event["data"]["job_id"] == job_id.as_str()
            && event["data"]["status"] == "read"
    })
    .await;
    assert!(
        read["event_id"].as_i64() > sent["event_id"].as_i64(),
        "event ids grow"
    );
    let status = app
        .get_json(
            &format!("/me/message_status/{}/1/{job_id}", alice.linker.user_id),
            &alice.linker.token,
        )
        .await;
    assert_eq!(status["status"], "read");
    app.stop().await;
}

/// Bob writes `texts` to Alice from the sandbox (as another of his devices would).
fn bob_writes(alice: &Alice, texts: &[String]) {
    for text in texts {
        alice
            .sandbox
            .send_message(alice.bob, Peer::User(alice.alice), text)
            .expect("bob writes");
    }
}

#[tokio::test]
async fn a_client_reconnecting_with_since_gets_what_it_missed_once_and_in_order() {
    let app = spawn_app().await;
    let alice = linked_alice(&app, "since@example.com").await;
    let path = format!("/ws/{}/1", alice.linker.user_id);
    let mut socket = connect_with_token(&app.address, &path, &alice.linker.token).await;
    bob_writes(&alice, &["before the drop".to_owned()]);
    let seen = wait_for_event(&mut socket, Duration::from_secs(15), |event| {
        event["data"]["text"] == "before the drop"
    })
    .await;
    let since = seen["event_id"].as_i64().expect("id");
    drop(socket);

    let missed: Vec<String> = (1..=4).map(|n| format!("missed {n}")).collect();
    bob_writes(&alice, &missed);
    // Give the host time to turn them into events.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let mut socket = connect_with_token(
        &app.address,
        &format!("{path}?since={since}"),
        &alice.linker.token,
    )
    .await;
    let mut texts = Vec::new();
    let mut ids = Vec::new();
    while texts.len() < missed.len() {
        let event = next_event(&mut socket, Duration::from_secs(15)).await;
        ids.push(event["event_id"].as_i64().expect("id"));
        if event["type"] == "message.new" {
            texts.push(event["data"]["text"].as_str().expect("text").to_owned());
        }
    }
    assert_eq!(texts, missed, "each missed message once, in order");
    assert!(ids[0] > since, "nothing from before `since`");
    assert!(ids.windows(2).all(|pair| pair[0] < pair[1]));
    app.stop().await;
}

#[tokio::test]
async fn a_since_older_than_what_is_kept_gets_resync_required_then_the_rest() {
    let app = spawn_app_with(&[("realtime.retained_events", "3")]).await;
    let alice = linked_alice(&app, "resync@example.com").await;
    let path = format!("/ws/{}/1", alice.linker.user_id);
    let mut socket = connect_with_token(&app.address, &path, &alice.linker.token).await;
    bob_writes(&alice, &["first".to_owned()]);
    let first = wait_for_event(&mut socket, Duration::from_secs(15), |event| {
        event["data"]["text"] == "first"
    })
    .await;
    drop(socket);
    let later: Vec<String> = (1..=6).map(|n| format!("later {n}")).collect();
    bob_writes(&alice, &later);
    tokio::time::sleep(Duration::from_millis(700)).await;

    let mut stale = connect_with_token(
        &app.address,
        &format!("{path}?since={}", first["event_id"]),
        &alice.linker.token,
    )
    .await;

    let resync = next_event(&mut stale, Duration::from_secs(15)).await;
    assert_eq!(resync["type"], "resync_required", "{resync}");
    let oldest = resync["data"]["oldest_retained"].as_i64().expect("oldest");
    let next = next_event(&mut stale, Duration::from_secs(15)).await;
    assert_eq!(
        next["event_id"].as_i64(),
        Some(oldest),
        "then what is kept, from its start"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_socket_refuses_other_users_bad_tickets_and_unknown_accounts_before_upgrading() {
    let app = spawn_app().await;
    let alice = linked_alice(&app, "wsguard@example.com").await;
    let other = app.linker("wsother@example.com").await;
    let ws_url = app.address.replacen("http", "ws", 1);
    let status_of = |result: Result<_, tokio_tungstenite::tungstenite::Error>| match result {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Ok(_) => 101,
        Err(error) => panic!("unexpected: {error}"),
    };

    let no_token =
        tokio_tungstenite::connect_async(format!("{ws_url}/ws/{}/1", alice.linker.user_id)).await;
    assert_eq!(status_of(no_token), 401);
    let ticket = app.ws_ticket(&other.token).await;
    let wrong_user = tokio_tungstenite::connect_async(format!(
        "{ws_url}/ws/{}/1?ticket={ticket}",
        alice.linker.user_id
    ))
    .await;
    assert_eq!(status_of(wrong_user), 403);
    let spent = tokio_tungstenite::connect_async(format!(
        "{ws_url}/ws/{}/1?ticket={ticket}",
        other.user_id
    ))
    .await;
    assert_eq!(status_of(spent), 401, "a ticket works once");
    let forged = tokio_tungstenite::connect_async(format!(
        "{ws_url}/ws/{}/1?ticket=v1.forged",
        alice.linker.user_id
    ))
    .await;
    assert_eq!(status_of(forged), 401);
    let ticket = app.ws_ticket(&alice.linker.token).await;
    let unknown_account = tokio_tungstenite::connect_async(format!(
        "{ws_url}/ws/{}/7?ticket={ticket}",
        alice.linker.user_id
    ))
    .await;
    assert_eq!(status_of(unknown_account), 404);
    app.stop().await;
}

#[tokio::test]
async fn oversized_frames_and_frame_floods_close_the_socket_with_their_codes() {
    let app = spawn_app().await;
    let alice = linked_alice(&app, "wslimits@example.com").await;
    let path = format!("/ws/{}/1", alice.linker.user_id);

    let mut socket = connect_with_token(&app.address, &path, &alice.linker.token).await;
    socket
        .send(Message::text(json!({"type": "ping", "id": 1}).to_string()))
        .await
        .expect("ping");
    assert_eq!(
        next_reply(&mut socket).await,
        json!({"type": "pong", "id": 1})
    );
    socket
        .send(Message::text(json!({"type": "dance"}).to_string()))
        .await
        .expect("bad frame");
    let error = next_reply(&mut socket).await;
    assert_eq!(error["type"], "error");
    assert_eq!(error["code"], "validation_failed");
    socket
        .send(Message::text("x".repeat(5000)))
        .await
        .expect("big frame");
    assert_eq!(close_code(&mut socket).await, 1009);

    let mut flooding = connect_with_token(&app.address, &path, &alice.linker.token).await;
    for n in 0..200 {
        if flooding
            .send(Message::text(json!({"type": "ping", "id": n}).to_string()))
            .await
            .is_err()
        {
            break;
        }
    }
    assert_eq!(close_code(&mut flooding).await, 4029);
    app.stop().await;
}

/// A local push service: decrypts what it receives with the browser's keys.
struct PushService {
    url: String,
    received: tokio::sync::mpsc::UnboundedReceiver<Value>,
    keys: talkapp_webpush::UserAgentKeys,
}

async fn push_service() -> PushService {
    let keys = talkapp_webpush::UserAgentKeys::generate();
    let (sender, received) = tokio::sync::mpsc::unbounded_channel();
    let decryptor = keys.clone();
    let app = axum::Router::new().route(
        "/push/{id}",
        axum::routing::post(move |body: axum::body::Bytes| {
            let sender = sender.clone();
            let decryptor = decryptor.clone();
            async move {
                let payload = decryptor.decrypt(&body).expect("a payload for these keys");
                let value: Value = serde_json::from_slice(&payload).expect("json payload");
                let _ = sender.send(value);
                axum::http::StatusCode::CREATED
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!(
        "http://{}/push/device-1",
        listener.local_addr().expect("addr")
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    PushService {
        url,
        received,
        keys,
    }
}

#[tokio::test]
async fn a_new_message_is_pushed_to_a_user_without_a_live_connection_unless_the_chat_is_muted() {
    let app = spawn_app_with(&[("realtime.push_allow_http_loopback", "true")]).await;
    let alice = linked_alice(&app, "push@example.com").await;
    let mut push = push_service().await;
    let key: Value = app
        .get_json("/push/vapid_public_key", &alice.linker.token)
        .await;
    assert_eq!(key["public_key"].as_str().map(str::len), Some(87));
    let registered = app
        .post_with_token(
            &format!("/me/push/{}", alice.linker.user_id),
            &alice.linker.token,
            &json!({
                "endpoint": push.url,
                "expirationTime": null,
                "keys": {"p256dh": push.keys.p256dh(), "auth": push.keys.auth()},
            }),
        )
        .await;
    assert_eq!(registered.status(), 201);

    // No live connection: the message is pushed.
    bob_writes(&alice, &["ping me".to_owned()]);
    let notification = tokio::time::timeout(Duration::from_secs(15), push.received.recv())
        .await
        .expect("a push")
        .expect("one");
    assert_eq!(notification["type"], "message.new");
    assert_eq!(notification["body"], "ping me");
    assert_eq!(notification["title"], "Bob Sandbox");
    assert_eq!(notification["chat_id"], alice.bob.to_string());

    // With a live connection, the socket carries it and nothing is pushed.
    let mut socket = connect_with_token(
        &app.address,
        &format!("/ws/{}/1", alice.linker.user_id),
        &alice.linker.token,
    )
    .await;
    // The connection is counted once its event stream is open.
    tokio::time::sleep(Duration::from_millis(500)).await;
    bob_writes(&alice, &["you are here".to_owned()]);
    wait_for_event(&mut socket, Duration::from_secs(15), |event| {
        event["data"]["text"] == "you are here"
    })
    .await;
    drop(socket);
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Muted: nothing is pushed either.
    let user_id = uuid::Uuid::parse_str(&alice.linker.user_id).expect("uuid");
    let account = talkapp_store::AccountKey {
        user_id,
        session_index: 1,
    };
    let chat = app
        .store()
        .cached_chat(account, alice.bob)
        .await
        .expect("read")
        .expect("bob's chat");
    let mut dialog = chat.dialog.expect("listed");
    dialog.muted_until = chrono::Utc::now().timestamp() + 3600;
    app.store()
        .upsert_dialogs(account, &[(chat.profile, dialog)])
        .await
        .expect("mute");
    bob_writes(&alice, &["muted chat".to_owned()]);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        push.received.try_recv().is_err(),
        "nothing pushed while connected or muted"
    );

    let removed = app
        .client
        .delete(app.url(&format!("/me/push/{}", alice.linker.user_id)))
        .bearer_auth(&alice.linker.token)
        .json(&json!({"endpoint": push.url}))
        .send()
        .await
        .expect("sent");
    assert_eq!(removed.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn a_user_beyond_the_connection_cap_is_refused_until_one_closes() {
    let app = spawn_app_with(&[("gateway.ws_max_connections_per_user", "2")]).await;
    let alice = linked_alice(&app, "wscap@example.com").await;
    let path = format!("/ws/{}/1", alice.linker.user_id);
    let first = connect_with_token(&app.address, &path, &alice.linker.token).await;
    let _second = connect_with_token(&app.address, &path, &alice.linker.token).await;

    let mut request = format!("{}{path}", app.address.replacen("http", "ws", 1))
        .into_client_request()
        .expect("ws request");
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {}", alice.linker.token)
            .parse()
            .expect("header"),
    );
    match tokio_tungstenite::connect_async(request).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status().as_u16(), 429);
            let body: Value =
                serde_json::from_slice(response.body().as_deref().unwrap_or_default())
                    .expect("problem json");
            assert_eq!(body["code"], "too_many_connections");
        }
        other => panic!("a third socket must be refused: {:?}", other.map(|_| ())),
    }

    // Closing one frees its place (once the server has seen the close).
    drop(first);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let mut request = format!("{}{path}", app.address.replacen("http", "ws", 1))
            .into_client_request()
            .expect("ws request");
        request.headers_mut().insert(
            "authorization",
            format!("Bearer {}", alice.linker.token)
                .parse()
                .expect("header"),
        );
        if tokio_tungstenite::connect_async(request).await.is_ok() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the closed socket's place never came back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    app.stop().await;
}

#[tokio::test]
async fn stopping_the_backend_closes_its_sockets_with_going_away_at_once() {
    let app = spawn_app().await;
    let alice = linked_alice(&app, "wsstop@example.com").await;
    let path = format!("/ws/{}/1", alice.linker.user_id);
    let mut socket = connect_with_token(&app.address, &path, &alice.linker.token).await;
    let stopping = tokio::spawn(app.stop());
    assert_eq!(close_code(&mut socket).await, 1001, "going away");
    drop(socket);
    tokio::time::timeout(Duration::from_secs(10), stopping)
        .await
        .expect("an open socket does not hold the stop for the grace period")
        .expect("stopped");
}

#[tokio::test]
async fn events_from_sends_and_from_incoming_messages_reach_the_socket_without_a_gap() {
    let app = spawn_app().await;
    let alice = linked_alice(&app, "nogap@example.com").await;
    let path = format!("/ws/{}/1", alice.linker.user_id);
    let mut socket = connect_with_token(&app.address, &path, &alice.linker.token).await;

    // Alice's sends (their status events come from the send worker) while Bob writes to
    // her (message.new from the update pump): the two publish concurrently.
    const ROUNDS: usize = 25;
    let incoming: Vec<String> = (0..ROUNDS).map(|n| format!("to alice {n}")).collect();
    let writer = {
        let sandbox = alice.sandbox.clone();
        let (from, to) = (alice.bob, alice.alice);
        let texts = incoming.clone();
        tokio::spawn(async move {
            for text in texts {
                sandbox
                    .send_message(from, Peer::User(to), &text)
                    .expect("bob writes");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    for n in 0..ROUNDS {
        let response = app
            .post_with_token(
                &format!("/me/send_message/{}/1", alice.linker.user_id),
                &alice.linker.token,
                &json!({"chat_id": alice.bob, "text": format!("from alice {n}")}),
            )
            .await;
        assert_eq!(response.status(), 202);
    }
    writer.await.expect("writer");

    // Every id from the first on, each once: none skipped by the log.
    let (mut sent, mut received) = (0, 0);
    let mut previous: Option<i64> = None;
    while sent < ROUNDS || received < ROUNDS {
        let event = next_event(&mut socket, Duration::from_secs(20)).await;
        let id = event["event_id"].as_i64().expect("id");
        if let Some(previous) = previous {
            assert_eq!(id, previous + 1, "event ids follow each other: {event}");
        }
        previous = Some(id);
        match event["type"].as_str() {
            Some("message.status") if event["data"]["status"] == "sent" => sent += 1,
            Some("message.new")
                if event["data"]["text"]
                    .as_str()
                    .is_some_and(|text| text.starts_with("to alice")) =>
            {
                received += 1;
            }
            _ => {}
        }
    }
    app.stop().await;
}

/// The texts of the `message.new` events a socket gets until it has `last`, checking that
/// event ids only grow (each event once, in order).
async fn texts_until(socket: &mut Socket, last: &str) -> Vec<String> {
    let mut texts = Vec::new();
    let mut previous: Option<i64> = None;
    while texts.last().is_none_or(|text| text != last) {
        let event = next_event(socket, Duration::from_secs(20)).await;
        let id = event["event_id"].as_i64().expect("id");
        assert!(
            event["type"] == "resync_required" || previous.is_none_or(|previous| id > previous),
            "ids grow: {id} after {previous:?}: {event}"
        );
        previous = Some(id);
        if event["type"] == "message.new" {
            texts.push(event["data"]["text"].as_str().expect("text").to_owned());
        }
    }
    texts
}

/// The gateway's `talkapp_ws_feeds` gauge.
async fn feeds_gauge(app: &TestApp) -> f64 {
    let metrics = app.metrics().await;
    metrics
        .lines()
        .find_map(|line| line.strip_prefix("talkapp_ws_feeds "))
        .map_or(0.0, |value| value.trim().parse().expect("a number"))
}

#[tokio::test]
async fn the_sockets_of_one_account_share_one_stream_and_each_gets_every_event_after_its_start_once()
 {
    let app = spawn_app().await;
    let alice = linked_alice(&app, "feed@example.com").await;
    let path = format!("/ws/{}/1", alice.linker.user_id);
    let token = &alice.linker.token;
    let texts = |names: &[&str]| {
        names
            .iter()
            .map(|name| (*name).to_owned())
            .collect::<Vec<_>>()
    };

    // An event from before the shared stream begins, with another after it.
    let mut first = connect_with_token(&app.address, &path, token).await;
    bob_writes(&alice, &texts(&["zero", "zero b"]));
    let zero = wait_for_event(&mut first, Duration::from_secs(15), |event| {
        event["data"]["text"] == "zero"
    })
    .await["event_id"]
        .as_i64()
        .expect("id");
    wait_for_event(&mut first, Duration::from_secs(15), |event| {
        event["data"]["text"] == "zero b"
    })
    .await;
    drop(first);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while feeds_gauge(&app).await > 0.0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the last socket's leaving closes the stream"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A new stream; one socket on it sees "one".
    let mut now = connect_with_token(&app.address, &path, token).await;
    bob_writes(&alice, &texts(&["one"]));
    let one = wait_for_event(&mut now, Duration::from_secs(15), |event| {
        event["data"]["text"] == "one"
    })
    .await["event_id"]
        .as_i64()
        .expect("id");
    // Then three more: from now on, from just behind (served from what the stream keeps),
    // and from before the stream began (its own reading of the log, then the stream).
    let mut later = connect_with_token(&app.address, &path, token).await;
    let mut behind = connect_with_token(&app.address, &format!("{path}?since={one}"), token).await;
    let mut far_behind =
        connect_with_token(&app.address, &format!("{path}?since={zero}"), token).await;
    assert_eq!(
        feeds_gauge(&app).await,
        1.0,
        "four sockets of one account, one stream"
    );
    bob_writes(&alice, &texts(&["two", "three"]));

    assert_eq!(
        texts_until(&mut now, "three").await,
        texts(&["two", "three"])
    );
    assert_eq!(
        texts_until(&mut later, "three").await,
        texts(&["two", "three"])
    );
    assert_eq!(
        texts_until(&mut behind, "three").await,
        texts(&["two", "three"])
    );
    assert_eq!(
        texts_until(&mut far_behind, "three").await,
        texts(&["zero b", "one", "two", "three"])
    );
    // The one that caught up by itself is on the shared stream now, like the others.
    bob_writes(&alice, &texts(&["four"]));
    for socket in [&mut now, &mut later, &mut behind, &mut far_behind] {
        assert_eq!(texts_until(socket, "four").await, texts(&["four"]));
    }
    drop((now, later, behind, far_behind));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while feeds_gauge(&app).await > 0.0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the stream closes with its last socket"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app.stop().await;
}
