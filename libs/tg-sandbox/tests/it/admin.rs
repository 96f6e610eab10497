//! The admin API over real HTTP, and the `tg-sandbox` binary.

use std::net::SocketAddr;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use talkapp_tg_sandbox::{DEMO_PHONE, Peer, SandboxHandle};

use crate::support::{API_HASH, TempDir, connect, demo, grant_from_json, http, signed_in, within};

async fn admin(sandbox: &SandboxHandle) -> String {
    let addr = sandbox
        .serve_admin(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("admin api binds");
    format!("http://{addr}")
}

async fn json_of(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    (status, response.json().await.expect("a JSON body"))
}

#[tokio::test]
async fn a_key_from_the_admin_api_lets_a_client_log_in() {
    let demo = demo().await;
    let base = admin(&demo.sandbox).await;
    let (status, body) = json_of(
        http()
            .post(format!("{base}/v1/auth_keys"))
            .send()
            .await
            .expect("posts"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body["dc_id"], 2);
    let grant = grant_from_json(&body);
    // Fresh: not signed in yet.
    assert_eq!(demo.sandbox.auth_key_user(&grant.auth_key), None);

    let client = connect(&demo.sandbox, &grant);
    let token = within(
        "send code",
        client.client.request_login_code(DEMO_PHONE, API_HASH),
    )
    .await
    .expect("code sent");
    let user = within("sign in", client.client.sign_in(&token, "22222"))
        .await
        .expect("signed in");
    assert_eq!(user.id().bare_id(), Some(demo.alice));
    assert_eq!(
        demo.sandbox.auth_key_user(&grant.auth_key),
        Some(demo.alice)
    );
}

#[tokio::test]
async fn the_admin_api_finds_users_switches_flood_wait_disconnects_and_sends() {
    let demo = demo().await;
    let base = admin(&demo.sandbox).await;
    let http = http();

    let (status, health) = json_of(
        http.get(format!("{base}/healthz"))
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_eq!((status, health), (StatusCode::OK, json!({"status": "ok"})));

    let (status, alice) = json_of(
        http.get(format!("{base}/v1/users"))
            .query(&[("phone", "+999 66 2 0001")])
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(alice["id"], demo.alice);
    assert_eq!(alice["username"], "alice_sandbox");
    let missing = http
        .get(format!("{base}/v1/users?phone=15550000000"))
        .send()
        .await
        .expect("get");
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);

    // Flood wait on, seen by the client, then off again.
    let client = signed_in(&demo.sandbox, demo.alice);
    within("get_me", client.client.get_me())
        .await
        .expect("get_me");
    let (status, _) = json_of(
        http.post(format!("{base}/v1/users/{}/flood_wait", demo.alice))
            // Above grammers' auto-sleep threshold (60 s), so the error reaches the caller.
            .json(&json!({"seconds": 3600}))
            .send()
            .await
            .expect("post"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    match within("get_me", client.client.get_me()).await {
        Err(grammers_client::InvocationError::Rpc(error)) => {
            assert_eq!(
                (error.name.as_str(), error.value),
                ("FLOOD_WAIT", Some(3600))
            );
        }
        other => panic!("expected FLOOD_WAIT_3600, got {other:?}"),
    }
    http.post(format!("{base}/v1/users/{}/flood_wait", demo.alice))
        .json(&json!({"seconds": null}))
        .send()
        .await
        .expect("post")
        .error_for_status()
        .expect("switched off");
    within("get_me", client.client.get_me())
        .await
        .expect("served again");

    // Disconnect: the client's one connection closes.
    let (status, closed) = json_of(
        http.post(format!("{base}/v1/users/{}/disconnect", demo.alice))
            .send()
            .await
            .expect("post"),
    )
    .await;
    assert_eq!((status, closed), (StatusCode::OK, json!({"closed": 1})));
    let unknown = http
        .post(format!("{base}/v1/users/42/disconnect"))
        .send()
        .await
        .expect("post");
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);

    // A message as Bob lands in Alice's history.
    let (status, sent) = json_of(
        http.post(format!("{base}/v1/messages"))
            .json(&json!({"from": demo.bob, "to": {"user": demo.alice}, "text": "from the admin api"}))
            .send()
            .await
            .expect("post"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(sent["id"].as_i64().is_some());
    let last = demo.sandbox.world(|w| {
        let ids = w.message_ids(demo.alice, Peer::User(demo.bob));
        w.message_text(demo.alice, Peer::User(demo.bob), ids[0])
            .map(str::to_owned)
    });
    assert_eq!(last.as_deref(), Some("from the admin api"));

    // Telegram's refusal comes back as its error name.
    let news = demo.sandbox.world(|w| {
        w.channel_ids()
            .into_iter()
            .find(|id| w.title(Peer::Channel(*id)) == Some("Sandbox News"))
            .expect("news")
    });
    let (status, refused) = json_of(
        http.post(format!("{base}/v1/messages"))
            .json(&json!({"from": demo.alice, "to": {"channel": news}, "text": "not mine"}))
            .send()
            .await
            .expect("post"),
    )
    .await;
    assert_eq!(
        (status, refused),
        (
            StatusCode::BAD_REQUEST,
            json!({"error": "CHAT_WRITE_FORBIDDEN"})
        )
    );
}

/// A loopback port that was free a moment ago.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("binds")
        .port()
}

#[tokio::test]
async fn the_binary_serves_the_admin_api_and_saves_its_state_on_sigterm() {
    let dir = TempDir::new("binary");
    let state = dir.join("state.json");
    let (port, admin_port) = (free_port(), free_port());
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_tg-sandbox"))
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--admin", &format!("127.0.0.1:{admin_port}")])
        .args(["--demo-scale", "accounts=20,private_messages=5"])
        .arg("--state")
        .arg(&state)
        .kill_on_drop(true)
        .spawn()
        .expect("starts");
    let base = format!("http://127.0.0.1:{admin_port}");
    let http = http();
    let mut healthy = false;
    for _ in 0..100 {
        if let Ok(response) = http.get(format!("{base}/healthz")).send().await
            && response.status().is_success()
        {
            healthy = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(healthy, "the admin api never answered");
    let (status, user) = json_of(
        http.get(format!("{base}/v1/users?phone=9996620020"))
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "20 accounts: {user}");
    let (_, key) = json_of(
        http.post(format!("{base}/v1/auth_keys"))
            .send()
            .await
            .expect("post"),
    )
    .await;

    let pid = child.id().expect("running").to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let exit = within("exit", child.wait()).await.expect("exits");
    assert!(exit.success(), "{exit:?}");
    let saved: Value =
        serde_json::from_slice(&std::fs::read(&state).expect("state file")).expect("JSON");
    let keys: Vec<&str> = saved["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .filter_map(|k| k["auth_key"].as_str())
        .collect();
    assert!(keys.contains(&key["auth_key"].as_str().expect("key")));
}
