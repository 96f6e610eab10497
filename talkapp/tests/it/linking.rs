//! Linking Telegram accounts through REST, with the real grammers client against the
//! in-process sandbox of the embedded default.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, spawn_app, spawn_app_with};

/// A signed-in TalkApp user: id and access token.
pub(crate) struct Linker {
    pub(crate) user_id: String,
    pub(crate) token: String,
}

impl TestApp {
    pub(crate) async fn linker(&self, email: &str) -> Linker {
        let user = self.signed_in_user(email).await;
        Linker {
            user_id: user["user"]["id"].as_str().expect("id").to_owned(),
            token: user["access_token"].as_str().expect("token").to_owned(),
        }
    }

    pub(crate) async fn post_with_token(
        &self,
        path: &str,
        token: &str,
        body: &Value,
    ) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    pub(crate) async fn delete_with_token(&self, path: &str, token: &str) -> reqwest::Response {
        self.client
            .delete(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request sent")
    }

    /// Starts a login for `phone`; returns its `login_id`.
    pub(crate) async fn start_login(&self, linker: &Linker, phone: &str) -> String {
        let response = self
            .post_with_token(
                &format!("/me/sessions/{}", linker.user_id),
                &linker.token,
                &json!({ "phone": phone }),
            )
            .await;
        assert_eq!(response.status(), 201, "start login");
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["next"], "code");
        body["login_id"].as_str().expect("login_id").to_owned()
    }

    pub(crate) async fn submit_code(
        &self,
        linker: &Linker,
        login_id: &str,
        code: &str,
    ) -> reqwest::Response {
        self.post_with_token(
            &format!("/me/sessions/{}/login/{login_id}/code", linker.user_id),
            &linker.token,
            &json!({ "code": code }),
        )
        .await
    }

    pub(crate) async fn submit_password(
        &self,
        linker: &Linker,
        login_id: &str,
        password: &str,
    ) -> reqwest::Response {
        self.post_with_token(
            &format!("/me/sessions/{}/login/{login_id}/password", linker.user_id),
            &linker.token,
            &json!({ "password": password }),
        )
        .await
    }

    /// Links the sandbox account of `phone` (code `22222`-style), returns the session.
    pub(crate) async fn link(&self, linker: &Linker, phone: &str) -> Value {
        let login_id = self.start_login(linker, phone).await;
        let digit = &phone[phone.len() - 5..phone.len() - 4];
        let response = self.submit_code(linker, &login_id, &digit.repeat(5)).await;
        assert_eq!(response.status(), 201, "linked with the code");
        response.json().await.expect("json")
    }

    pub(crate) async fn sessions_of(&self, linker: &Linker) -> Vec<Value> {
        let response = self
            .get_with_token(&format!("/me/sessions/{}", linker.user_id), &linker.token)
            .await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.expect("json");
        body["sessions"].as_array().expect("sessions").clone()
    }

    /// Waits until session `index` of `linker` shows `status`.
    pub(crate) async fn wait_for_status(&self, linker: &Linker, index: u64, status: &str) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let sessions = self.sessions_of(linker).await;
            let current = sessions
                .iter()
                .find(|session| session["session_index"] == index)
                .map(|session| session["status"].clone());
            if current.as_ref().and_then(Value::as_str) == Some(status) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "session {index} never became {status}; it is {current:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

#[tokio::test]
async fn an_account_without_2fa_is_linked_with_its_code_and_connects() {
    let app = spawn_app().await;
    let linker = app.linker("code@example.com").await;

    let login_id = app.start_login(&linker, "+999 66 2 0001").await;
    let response = app.submit_code(&linker, &login_id, "22222").await;

    assert_eq!(response.status(), 201);
    let session: Value = response.json().await.expect("json");
    assert_eq!(session["session_index"], 1);
    assert_eq!(session["telegram_user"]["first_name"], "Alice");
    assert_eq!(session["telegram_user"]["username"], "alice_sandbox");
    assert_eq!(session["telegram_user"]["phone"], "9996620001");
    app.wait_for_status(&linker, 1, "connected").await;
    assert_eq!(app.hosted_accounts.hosted_count(), 1);
    app.stop().await;
}

#[tokio::test]
async fn an_account_with_2fa_asks_for_the_password_and_links_with_it() {
    let app = spawn_app().await;
    let linker = app.linker("twofa@example.com").await;
    let login_id = app.start_login(&linker, "+9996620002").await;

    let response = app.submit_code(&linker, &login_id, "22222").await;
    assert_eq!(response.status(), 200);
    let step: Value = response.json().await.expect("json");
    assert_eq!(step["next"], "password");
    assert_eq!(step["hint"], "sandbox");

    let response = app
        .submit_password(&linker, &login_id, talkapp_tg_sandbox::DEMO_2FA_PASSWORD)
        .await;
    assert_eq!(response.status(), 201);
    let session: Value = response.json().await.expect("json");
    assert_eq!(session["telegram_user"]["first_name"], "Bob");
    app.wait_for_status(&linker, 1, "connected").await;
    app.stop().await;
}

#[tokio::test]
async fn a_wrong_code_is_refused_and_the_right_one_still_links() {
    let app = spawn_app().await;
    let linker = app.linker("wrongcode@example.com").await;
    let login_id = app.start_login(&linker, "+9996620001").await;

    let wrong = app.submit_code(&linker, &login_id, "11111").await;
    assert_problem(wrong, 422, "telegram_code_invalid").await;

    let right = app.submit_code(&linker, &login_id, "22222").await;
    assert_eq!(right.status(), 201);
    app.stop().await;
}

#[tokio::test]
async fn a_wrong_password_is_refused_and_the_right_one_still_links() {
    let app = spawn_app().await;
    let linker = app.linker("wrongpass@example.com").await;
    let login_id = app.start_login(&linker, "+9996620002").await;
    assert_eq!(
        app.submit_code(&linker, &login_id, "22222").await.status(),
        200
    );

    let wrong = app.submit_password(&linker, &login_id, "not-it").await;
    assert_problem(wrong, 422, "telegram_password_invalid").await;

    let right = app
        .submit_password(&linker, &login_id, talkapp_tg_sandbox::DEMO_2FA_PASSWORD)
        .await;
    assert_eq!(right.status(), 201);
    app.stop().await;
}

#[tokio::test]
async fn each_linking_mistake_has_its_own_problem_code() {
    let app = spawn_app_with(&[("telegram.max_login_attempts", "2")]).await;
    let linker = app.linker("mistakes@example.com").await;
    let other = app.linker("other@example.com").await;

    // A phone that is not an international number.
    let response = app
        .post_with_token(
            &format!("/me/sessions/{}", linker.user_id),
            &linker.token,
            &json!({ "phone": "12ab" }),
        )
        .await;
    assert_problem(response, 422, "validation_failed").await;

    // An unknown login, and another user's login, are both not found.
    let response = app
        .submit_code(&linker, "00000000-0000-4000-8000-000000000000", "22222")
        .await;
    assert_problem(response, 404, "login_not_found").await;
    let login_id = app.start_login(&linker, "+9996620001").await;
    let response = app.submit_code(&other, &login_id, "22222").await;
    assert_problem(response, 404, "login_not_found").await;

    // The password before the code is the wrong step.
    let response = app.submit_password(&linker, &login_id, "anything").await;
    assert_problem(response, 409, "login_step_mismatch").await;

    // Attempts run out: the login is gone and must start again.
    let first = app.submit_code(&linker, &login_id, "11111").await;
    assert_problem(first, 422, "telegram_code_invalid").await;
    let second = app.submit_code(&linker, &login_id, "33333").await;
    assert_problem(second, 422, "telegram_code_invalid").await;
    let third = app.submit_code(&linker, &login_id, "22222").await;
    assert_problem(third, 410, "login_expired").await;

    // A phone linked already.
    app.link(&linker, "+9996620001").await;
    let response = app
        .post_with_token(
            &format!("/me/sessions/{}", linker.user_id),
            &linker.token,
            &json!({ "phone": "+9996620001" }),
        )
        .await;
    assert_problem(response, 409, "phone_already_linked").await;

    // A malformed login id.
    let response = app.submit_code(&linker, "not-a-uuid", "22222").await;
    assert_problem(response, 422, "validation_failed").await;
    app.stop().await;
}

#[tokio::test]
async fn an_expired_login_must_start_again() {
    let app = spawn_app_with(&[("telegram.login_ttl_secs", "60")]).await;
    let linker = app.linker("expired@example.com").await;
    let login_id = app.start_login(&linker, "+9996620001").await;
    // Age the pending login past its expiry, as the clock would.
    let store = app.store();
    let login_uuid = uuid::Uuid::parse_str(&login_id).expect("uuid");
    let mut login = store
        .telegram_login(login_uuid)
        .await
        .expect("read")
        .expect("pending");
    store
        .delete_telegram_login(login_uuid)
        .await
        .expect("delete");
    login.expires_at = talkapp_store::now() - chrono::TimeDelta::seconds(1);
    store
        .create_telegram_login(&login)
        .await
        .expect("re-create aged");

    let response = app.submit_code(&linker, &login_id, "22222").await;

    assert_problem(response, 410, "login_expired").await;
    app.stop().await;
}

#[tokio::test]
async fn unlinking_logs_out_at_telegram_and_the_index_is_not_reused() {
    let app = spawn_app().await;
    let linker = app.linker("unlink@example.com").await;
    app.link(&linker, "+9996620001").await;
    app.wait_for_status(&linker, 1, "connected").await;
    let sandbox = app.sandbox.clone().expect("in-process sandbox");
    let alice = sandbox
        .world(|world| world.user_by_phone("9996620001"))
        .expect("alice exists");
    let auth_key = app.telegram_auth_key(&linker.user_id, 1).await;
    assert_eq!(sandbox.auth_key_user(&auth_key), Some(alice));

    let response = app
        .delete_with_token(&format!("/me/sessions/{}/1", linker.user_id), &linker.token)
        .await;

    assert_eq!(response.status(), 204);
    assert_eq!(
        sandbox.auth_key_user(&auth_key),
        None,
        "the key is no longer signed in at Telegram"
    );
    assert!(app.sessions_of(&linker).await.is_empty());
    assert_eq!(app.hosted_accounts.hosted_count(), 0);
    let again = app.link(&linker, "+9996620001").await;
    assert_eq!(
        again["session_index"], 2,
        "a freed index is not given out again"
    );
    let response = app
        .delete_with_token(&format!("/me/sessions/{}/1", linker.user_id), &linker.token)
        .await;
    assert_problem(response, 404, "not_found").await;
    app.stop().await;
}

/// Waits for the next hosted update that is a new message with `text`.
async fn next_message_with_text(
    updates: &mut tokio::sync::broadcast::Receiver<
        talkapp_chat_service::hosted_accounts::HostedUpdate,
    >,
    text: &str,
) -> talkapp_telegram::model::Message {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let update = tokio::time::timeout_at(deadline, updates.recv())
            .await
            .unwrap_or_else(|_| panic!("no message {text:?} arrived"))
            .expect("updates keep flowing");
        if let talkapp_telegram::model::TelegramUpdate::NewMessage { message } = update.update
            && message.text == text
        {
            return message;
        }
    }
}

#[tokio::test]
async fn a_linked_account_reconnects_by_itself_after_a_restart_of_the_process() {
    let app = spawn_app().await;
    let linker = app.linker("restart@example.com").await;
    app.link(&linker, "+9996620001").await;
    app.wait_for_status(&linker, 1, "connected").await;
    let data_dir = app.stop_keeping_data().await;

    let database_url = format!("sqlite://{}/talkapp.db", data_dir.display());
    let app = crate::helpers::spawn_app_on(&database_url, data_dir, &[]).await;
    app.wait_for_status(&linker, 1, "connected").await;
    let mut updates = app.hosted_accounts.subscribe();
    let sandbox = app.sandbox.clone().expect("in-process sandbox");
    let (alice, bob) = sandbox.world(|world| {
        (
            world.user_by_phone("9996620001").expect("alice"),
            world.user_by_phone("9996620002").expect("bob"),
        )
    });

    sandbox
        .send_message(
            bob,
            talkapp_tg_sandbox::Peer::User(alice),
            "after the restart",
        )
        .expect("bob writes");

    let message = next_message_with_text(&mut updates, "after the restart").await;
    assert_eq!(message.chat_id, bob, "the private chat with bob");
    assert_eq!(message.sender_id, Some(bob));
    assert!(!message.outgoing);
    app.stop().await;
}

#[tokio::test]
async fn updates_missed_while_telegram_was_unreachable_are_caught_up_in_order() {
    // Telegram (the sandbox) runs outside the backend, behind a link the test can cut.
    let (sandbox, admin) = crate::replicas::sandbox_with_admin().await;
    let link = crate::helpers::TcpProxy::start(&sandbox.addr().to_string()).await;
    let app = spawn_app_with(&[
        ("telegram.sandbox_address", &link.address()),
        ("telegram.sandbox_admin_url", &format!("http://{admin}")),
        ("telegram.keepalive_secs", "1"),
    ])
    .await;
    let linker = app.linker("outage@example.com").await;
    app.link(&linker, "+9996620001").await;
    app.wait_for_status(&linker, 1, "connected").await;
    let mut updates = app.hosted_accounts.subscribe();
    let (alice, bob) = sandbox.world(|world| {
        (
            world.user_by_phone("9996620001").expect("alice"),
            world.user_by_phone("9996620002").expect("bob"),
        )
    });

    link.cut();
    app.wait_for_status(&linker, 1, "connecting").await;
    let missed = ["missed one", "missed two", "missed three"];
    for text in missed {
        sandbox
            .send_message(bob, talkapp_tg_sandbox::Peer::User(alice), text)
            .expect("bob writes while alice is away");
    }
    link.restore().await;

    let mut ids = Vec::new();
    for text in missed {
        ids.push(next_message_with_text(&mut updates, text).await.id);
    }
    assert!(
        ids.windows(2).all(|pair| pair[0] < pair[1]),
        "in order: {ids:?}"
    );
    app.wait_for_status(&linker, 1, "connected").await;
    app.stop().await;
    sandbox.shutdown().await;
}

/// Alice (`email`) linked and connected to a backend that probes idle links every second
/// and replaces one whose update state stays behind for two; the sandbox runs outside it,
/// with its admin API. Also Alice's and Bob's Telegram ids.
async fn alice_probing_links_quickly(
    email: &str,
) -> (
    TestApp,
    talkapp_tg_sandbox::SandboxHandle,
    Linker,
    talkapp_tg_sandbox::UserId,
    talkapp_tg_sandbox::UserId,
) {
    let (app, sandbox) = app_probing_links_quickly().await;
    let linker = app.linker(email).await;
    app.link(&linker, "+9996620001").await;
    app.wait_for_status(&linker, 1, "connected").await;
    let (alice, bob) = sandbox.world(|world| {
        (
            world.user_by_phone("9996620001").expect("alice"),
            world.user_by_phone("9996620002").expect("bob"),
        )
    });
    (app, sandbox, linker, alice, bob)
}

async fn app_probing_links_quickly() -> (TestApp, talkapp_tg_sandbox::SandboxHandle) {
    let (sandbox, admin) = crate::replicas::sandbox_with_admin().await;
    let app = spawn_app_with(&[
        ("telegram.sandbox_address", &sandbox.addr().to_string()),
        ("telegram.sandbox_admin_url", &format!("http://{admin}")),
        ("telegram.keepalive_secs", "1"),
        ("telegram.stall_grace_secs", "2"),
    ])
    .await;
    (app, sandbox)
}

#[tokio::test]
async fn a_link_that_stays_open_but_goes_quiet_is_replaced_and_what_it_missed_arrives() {
    let (app, sandbox, linker, alice, bob) = alice_probing_links_quickly("quiet@example.com").await;
    let mut updates = app.hosted_accounts.subscribe();

    // The link stays open and answers calls, but Telegram pushes nothing more on it.
    assert!(sandbox.silence_updates(alice) >= 1, "alice's link is open");
    let missed = ["quiet one", "quiet two", "quiet three"];
    for text in missed {
        sandbox
            .send_message(bob, talkapp_tg_sandbox::Peer::User(alice), text)
            .expect("bob writes");
    }

    // Noticed (probe every 1 s, 2 s of grace), replaced, caught up, in order.
    let mut ids = Vec::new();
    for text in missed {
        ids.push(next_message_with_text(&mut updates, text).await.id);
    }
    assert!(
        ids.windows(2).all(|pair| pair[0] < pair[1]),
        "in order: {ids:?}"
    );
    // The new link gets what comes next as it happens.
    sandbox
        .send_message(bob, talkapp_tg_sandbox::Peer::User(alice), "live again")
        .expect("bob writes");
    next_message_with_text(&mut updates, "live again").await;

    // What happened is on the session and in the metrics.
    app.wait_for_status(&linker, 1, "connected").await;
    let sessions = app.sessions_of(&linker).await;
    let stalled_at = sessions[0]["link_stalled_at"]
        .as_str()
        .unwrap_or_else(|| panic!("the replacement is recorded: {sessions:?}"));
    assert!(
        chrono::DateTime::parse_from_rfc3339(stalled_at).is_ok(),
        "{stalled_at}"
    );
    let metrics = app.metrics().await;
    assert!(
        metrics.lines().any(
            |line| line.starts_with("talkapp_telegram_links_replaced_total{")
                && line.contains("reason=\"updates_stalled\"")
                && !line.ends_with(" 0")
        ),
        "counted"
    );
    app.stop().await;
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_busy_link_that_delivers_is_never_taken_for_a_quiet_one() {
    let (app, sandbox, linker, alice, bob) =
        alice_probing_links_quickly("busy-link@example.com").await;
    let mut updates = app.hosted_accounts.subscribe();

    // Updates pushed, the account's own sends (their state comes back as the call's
    // answer) and read marks (an `affectedMessages` answer, no update at all) move the
    // account's state on Telegram; none of it may look like a silent link.
    for round in 0..3 {
        let text = format!("busy {round}");
        sandbox
            .send_message(bob, talkapp_tg_sandbox::Peer::User(alice), &text)
            .expect("bob writes");
        let message = next_message_with_text(&mut updates, &text).await;
        let response = app
            .post_with_token(
                &format!("/me/send_message/{}/1", linker.user_id),
                &linker.token,
                &json!({ "chat_id": bob.to_string(), "text": format!("reply {round}") }),
            )
            .await;
        assert_eq!(response.status(), 202);
        let response = app
            .post_with_token(
                &format!("/me/mark_read/{}/1/{bob}", linker.user_id),
                &linker.token,
                &json!({ "max_id": message.id }),
            )
            .await;
        assert_eq!(response.status(), 204, "{:?}", response.text().await);
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
    // Several probes and more than a grace period later.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let sessions = app.sessions_of(&linker).await;
    assert_eq!(sessions[0]["status"], "connected");
    assert!(
        sessions[0].get("link_stalled_at").is_none(),
        "a delivering link was replaced: {sessions:?}"
    );
    app.stop().await;
    sandbox.shutdown().await;
}
