//! The audit log: what is recorded (sign-ins, failed ones, linking, sends, refusals,
//! sign-outs), with whom, from where and how it ended; the owner reads it, nobody else;
//! nothing writes it through the API; records queued at shutdown are kept, and so are
//! records the database refused while it was away.

use serde_json::{Value, json};

use crate::chats::linked_alice;
use crate::helpers::{PASSWORD, assert_problem, spawn_app, spawn_app_on};

fn actions(records: &[Value]) -> Vec<(String, String)> {
    records
        .iter()
        .map(|record| {
            (
                record["action"].as_str().expect("action").to_owned(),
                record["outcome"].as_str().expect("outcome").to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_users_log_holds_sign_ins_failed_ones_linking_sends_refusals_and_sign_outs() {
    let app = spawn_app().await;
    let alice = linked_alice(&app, "audited@example.com").await;
    let other = app.linker("someone-else@example.com").await;
    let user_id = alice.linker.user_id.clone();
    let token = alice.linker.token.clone();

    // A wrong password for this account, from a client that names itself.
    let refused = app
        .client
        .post(app.url("/auth/login"))
        .header("user-agent", "audit-test/1.0")
        .header("x-request-id", "wrong-password-1")
        .json(&json!({"email": "audited@example.com", "password": "not the password"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(refused.status(), 401);
    // A send, and a send on someone else's path (refused before any work).
    let sent = app
        .post_with_token(
            &format!("/me/send_message/{user_id}/1"),
            &token,
            &json!({"chat_id": alice.bob.to_string(), "text": "audited", "client_message_id": "a-1"}),
        )
        .await;
    assert_eq!(sent.status(), 202);
    let forbidden = app
        .post_with_token(
            &format!("/me/send_message/{}/1", other.user_id),
            &token,
            &json!({"chat_id": "1", "text": "not mine"}),
        )
        .await;
    assert_problem(forbidden, 403, "forbidden").await;
    // Reads are not audited.
    app.get_json(&format!("/me/chats/{user_id}/1"), &token)
        .await;

    let records = app.audit_log(&user_id, &token, "?limit=200").await;
    assert_eq!(
        actions(&records),
        [
            ("telegram.message.send", "denied"),
            ("telegram.message.send", "success"),
            ("auth.sign_in", "denied"),
            ("telegram.link.code", "success"),
            ("telegram.link.start", "success"),
            ("auth.sign_in", "success"),
            ("auth.register", "success"),
        ]
        .map(|(action, outcome)| (action.to_owned(), outcome.to_owned()))
    );
    assert!(
        records
            .iter()
            .all(|record| record["user_id"] == user_id.as_str())
    );
    let ids: Vec<i64> = records
        .iter()
        .map(|record| record["id"].as_str().expect("id").parse().expect("number"))
        .collect();
    assert!(ids.windows(2).all(|pair| pair[0] > pair[1]), "newest first");

    let [denied, send, failed_sign_in, ..] = records.as_slice() else {
        unreachable!("seven records")
    };
    assert_eq!(denied["status"], 403);
    assert_eq!(denied["error_code"], "forbidden");
    assert_eq!(denied["actor"], "user");
    assert_eq!(denied["target"], json!({"session_index": "1"}));
    assert_eq!(send["status"], 202);
    assert_eq!(send["error_code"], Value::Null);
    assert_eq!(
        send["target"],
        json!({"session_index": "1", "chat_id": alice.bob.to_string(), "client_message_id": "a-1"})
    );
    assert_eq!(send["client_address"], "127.0.0.1");
    assert!(send["request_id"].as_str().is_some_and(|id| !id.is_empty()));
    assert_eq!(failed_sign_in["actor"], "anonymous");
    assert_eq!(failed_sign_in["status"], 401);
    assert_eq!(failed_sign_in["error_code"], "invalid_credentials");
    assert_eq!(failed_sign_in["user_agent"], "audit-test/1.0");
    assert_eq!(failed_sign_in["request_id"], "wrong-password-1");

    // Pages with the cursor, and a filter by action.
    let first = app
        .get_json(&format!("/me/audit/{user_id}?limit=3"), &token)
        .await;
    assert_eq!(first["records"].as_array().expect("records").len(), 3);
    let cursor = first["next_cursor"].as_str().expect("more pages");
    let rest = app
        .audit_log(&user_id, &token, &format!("?cursor={cursor}"))
        .await;
    assert_eq!(rest.len(), 4);
    assert_eq!(rest[0]["id"], records[3]["id"]);
    let sign_ins = app.audit_log(&user_id, &token, "?action=auth.").await;
    assert_eq!(
        actions(&sign_ins),
        [
            ("auth.sign_in", "denied"),
            ("auth.sign_in", "success"),
            ("auth.register", "success")
        ]
        .map(|(action, outcome)| (action.to_owned(), outcome.to_owned()))
    );

    // Only the owner reads it; bad paging is 422; nothing writes it.
    let response = app
        .get_with_token(&format!("/me/audit/{}", other.user_id), &token)
        .await;
    assert_problem(response, 403, "forbidden").await;
    for query in [
        "?limit=0",
        "?limit=201",
        "?cursor=abc",
        "?cursor=-5",
        "?action=AUTH",
        "?x=1",
    ] {
        let response = app
            .get_with_token(&format!("/me/audit/{user_id}{query}"), &token)
            .await;
        assert_problem(response, 422, "validation_failed").await;
    }
    for method in [
        reqwest::Method::POST,
        reqwest::Method::DELETE,
        reqwest::Method::PUT,
    ] {
        let response = app
            .client
            .request(method.clone(), app.url(&format!("/me/audit/{user_id}")))
            .bearer_auth(&token)
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), 405, "{method} /me/audit");
    }

    // Signing out is the last thing this session records.
    let response = app
        .client
        .post(app.url("/auth/logout"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 204);
    let again = app
        .post_json(
            "/auth/login",
            &json!({"email": "audited@example.com", "password": PASSWORD}),
        )
        .await;
    let token: String = again.json::<Value>().await.expect("json")["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let latest = app.audit_log(&user_id, &token, "?limit=2").await;
    assert_eq!(
        actions(&latest),
        [("auth.sign_in", "success"), ("auth.sign_out", "success")]
            .map(|(action, outcome)| (action.to_owned(), outcome.to_owned()))
    );
    app.stop().await;
}

#[tokio::test]
async fn a_reused_refresh_token_is_recorded_and_ordinary_refreshes_are_not() {
    let app = spawn_app().await;
    let user = app.signed_in_user("refresh-audit@example.com").await;
    let user_id = user["user"]["id"].as_str().expect("id").to_owned();
    let first_refresh = user["refresh_token"].as_str().expect("refresh").to_owned();
    let rotated: Value = app
        .post_json("/auth/refresh", &json!({"refresh_token": first_refresh}))
        .await
        .json()
        .await
        .expect("json");
    assert!(rotated["access_token"].is_string());
    let reused = app
        .post_json("/auth/refresh", &json!({"refresh_token": first_refresh}))
        .await;
    assert_problem(reused, 401, "refresh_token_reused").await;

    let fresh = app
        .post_json(
            "/auth/login",
            &json!({"email": "refresh-audit@example.com", "password": PASSWORD}),
        )
        .await
        .json::<Value>()
        .await
        .expect("json");
    let token = fresh["access_token"].as_str().expect("token");
    let records = app.audit_log(&user_id, token, "").await;
    assert_eq!(
        actions(&records),
        [
            ("auth.sign_in", "success"),
            ("auth.refresh_reused", "denied"),
            ("auth.sign_in", "success"),
            ("auth.register", "success"),
        ]
        .map(|(action, outcome)| (action.to_owned(), outcome.to_owned()))
    );
    app.stop().await;
}

#[tokio::test]
async fn records_queued_when_the_backend_stops_are_stored() {
    let app = spawn_app().await;
    let user = app.signed_in_user("shutdown-audit@example.com").await;
    let user_id = user["user"]["id"].as_str().expect("id").to_owned();
    // Within the sign-in burst (10 per address): each attempt reaches the password check.
    for _ in 0..6 {
        let response = app
            .post_json(
                "/auth/login",
                &json!({"email": "shutdown-audit@example.com", "password": "wrong password"}),
            )
            .await;
        assert_eq!(response.status(), 401);
    }
    // Stopped at once, with no read to flush the queue first.
    let data_dir = app.stop_keeping_data().await;
    let database_url = format!("sqlite://{}/talkapp.db", data_dir.display());
    let app = spawn_app_on(&database_url, data_dir, &[]).await;
    let login = app
        .post_json(
            "/auth/login",
            &json!({"email": "shutdown-audit@example.com", "password": PASSWORD}),
        )
        .await
        .json::<Value>()
        .await
        .expect("json");
    let token = login["access_token"].as_str().expect("token");
    let records = app.audit_log(&user_id, token, "?limit=200").await;
    // register + sign-in + 6 attempts + this sign-in.
    assert_eq!(records.len(), 9, "{:?}", actions(&records));
    app.stop().await;
}

#[tokio::test]
async fn records_made_while_the_database_is_away_are_stored_once_it_is_back() {
    let database = crate::helpers::TestDatabase::create().await;
    let link = crate::helpers::TcpProxy::start("127.0.0.1:5432").await;
    let app = spawn_app_on(
        &database.url_via(&link.address()),
        crate::helpers::temp_dir("audit-database-away"),
        &[],
    )
    .await;
    let user = app.signed_in_user("database-away@example.com").await;
    let user_id = user["user"]["id"].as_str().expect("id").to_owned();
    let token = user["access_token"].as_str().expect("token").to_owned();

    // The token in use (its session is known live for a while without a read).
    let me = app.get_with_token("/auth/me", &token).await;
    assert_eq!(me.status(), 200);
    // The database goes away: signing out cannot be done, and says so; the attempt is
    // recorded all the same, by a writer that keeps the record until the store takes it.
    link.cut();
    let response = app
        .post_with_token("/auth/logout", &token, &json!({}))
        .await;
    assert_problem(response, 503, "service_unavailable").await;
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    link.restore().await;

    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let records = app.audit_log(&user_id, &token, "?limit=50").await;
        let refused_sign_out = records
            .iter()
            .find(|record| record["action"] == "auth.sign_out" && record["status"] == 503);
        if let Some(record) = refused_sign_out {
            assert_eq!(record["outcome"], "failure", "{record}");
            assert_eq!(record["error_code"], "service_unavailable", "{record}");
            // Stored once, next to what came before it.
            assert_eq!(
                actions(&records)
                    .iter()
                    .filter(|(action, _)| action == "auth.sign_out")
                    .count(),
                1
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the refused sign-out was never stored: {:?}",
            actions(&records)
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    app.stop().await;
    database.drop_database().await;
}
