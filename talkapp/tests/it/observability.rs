//! Health, readiness, metrics, the API document, and graceful shutdown.

use serde_json::Value;

use crate::helpers::spawn_app;

#[tokio::test]
async fn healthz_and_readyz_answer_ok_when_everything_is_up() {
    let app = spawn_app().await;

    let alive = app
        .client
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("sent");
    // Services report health after their first probe round; give them a moment.
    let mut ready = app
        .client
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("sent");
    for _ in 0..50 {
        if ready.status() == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        ready = app
            .client
            .get(app.url("/readyz"))
            .send()
            .await
            .expect("sent");
    }

    assert_eq!(alive.status(), 200);
    assert_eq!(ready.status(), 200);
    let body: Value = ready.json().await.expect("json");
    let names: Vec<&str> = body["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .map(|check| check["name"].as_str().expect("name"))
        .collect();
    assert_eq!(
        names,
        [
            "database",
            "chat-service",
            "media-service",
            "search-service",
            "realtime-service"
        ]
    );
    app.stop().await;
}

#[tokio::test]
async fn the_openapi_document_is_3_1_and_lists_the_auth_routes() {
    let app = spawn_app().await;

    let response = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .expect("sent");

    assert_eq!(response.status(), 200);
    let document: Value = response.json().await.expect("json");
    assert!(
        document["openapi"]
            .as_str()
            .expect("version")
            .starts_with("3.1")
    );
    for path in [
        "/auth/register",
        "/auth/login",
        "/auth/refresh",
        "/auth/logout",
        "/auth/me",
        "/me/sessions/{user_id}",
        "/readyz",
    ] {
        assert!(document["paths"].get(path).is_some(), "{path} missing");
    }
    assert_eq!(
        document["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_docs_page_is_html_that_loads_the_document() {
    let app = spawn_app().await;

    let response = app.client.get(app.url("/docs")).send().await.expect("sent");

    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .expect("type")
            .starts_with("text/html")
    );
    let page = response.text().await.expect("text");
    assert!(page.contains("openapi.json"));
    app.stop().await;
}

#[tokio::test]
async fn metrics_count_requests_latency_and_errors_by_code() {
    let app = spawn_app().await;
    let _ = app
        .client
        .get(app.url("/no/such/route"))
        .send()
        .await
        .expect("sent");
    let _ = app
        .client
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("sent");

    let metrics = app.metrics().await;

    assert!(
        metrics
            .contains(r#"talkapp_http_requests_total{method="GET",route="/healthz",status="200"}"#),
        "{metrics}"
    );
    assert!(
        metrics.contains("talkapp_http_request_duration_seconds_bucket"),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"talkapp_http_errors_total{code="not_found"}"#),
        "{metrics}"
    );
    // The readiness probes call each service's gRPC health, which the services count.
    let _ = app
        .client
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("sent");
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("talkapp_grpc_server_requests_total"),
        "{metrics}"
    );
    app.stop().await;
}

#[tokio::test]
async fn requests_are_counted_by_their_routes_pattern_and_unknown_paths_share_one_label() {
    let app = spawn_app().await;
    let user = app.signed_in_user("labels@example.com").await;
    let token = user["access_token"].as_str().expect("token");
    let user_id = user["user"]["id"].as_str().expect("id");
    let other = uuid::Uuid::new_v4();
    for path in [
        format!("/me/sessions/{user_id}"),
        format!("/me/sessions/{user_id}"),
        format!("/me/sessions/{other}"),
        format!("/no/such/route/{other}"),
        "/auth/me".to_owned(),
    ] {
        let _ = app.get_with_token(&path, token).await;
    }

    let metrics = app.metrics().await;

    for line in [
        r#"talkapp_http_requests_total{method="GET",route="/me/sessions/{user_id}",status="200"} 2"#,
        r#"talkapp_http_requests_total{method="GET",route="/me/sessions/{user_id}",status="403"} 1"#,
        r#"talkapp_http_requests_total{method="GET",route="unmatched",status="404"} 1"#,
        r#"talkapp_http_requests_total{method="GET",route="/auth/me",status="200"} 1"#,
        r#"talkapp_http_request_duration_seconds_count{method="GET",route="/me/sessions/{user_id}"} 3"#,
    ] {
        assert!(metrics.contains(line), "{line} in {metrics}");
    }
    assert!(
        !metrics.contains(user_id) && !metrics.contains(&other.to_string()),
        "a path's values are never labels: {metrics}"
    );
    app.stop().await;
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_echoes_the_callers() {
    let app = spawn_app().await;

    let generated = app
        .client
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("sent");
    let echoed = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "trace-me-123")
        .send()
        .await
        .expect("sent");

    assert_eq!(generated.headers()["x-request-id"].len(), 32);
    assert_eq!(echoed.headers()["x-request-id"], "trace-me-123");
    app.stop().await;
}

#[tokio::test]
async fn a_request_in_flight_when_shutdown_begins_still_gets_its_answer() {
    let app = spawn_app().await;
    assert_eq!(app.register("drain@example.com").await.status(), 201);
    let login = {
        let client = app.client.clone();
        let url = app.url("/auth/login");
        // Password hashing keeps a login busy for tens of milliseconds.
        tokio::spawn(async move {
            client
                .post(url)
                .json(&serde_json::json!({"email": "drain@example.com", "password": crate::helpers::PASSWORD}))
                .send()
                .await
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(15)).await;

    app.stop().await;

    let response = login.await.expect("joined").expect("answered, not cut off");
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn after_shutdown_the_backend_stops_and_refuses_new_connections() {
    let app = spawn_app().await;
    let address = app.url("/healthz");
    let client = app.client.clone();
    assert_eq!(
        client.get(&address).send().await.expect("sent").status(),
        200
    );

    app.stop().await;

    let fresh = reqwest::Client::new();
    assert!(fresh.get(&address).send().await.is_err());
}

/// The metric names a PromQL text uses (`talkapp_*`).
fn metric_names(text: &str) -> std::collections::BTreeSet<String> {
    let mut names = std::collections::BTreeSet::new();
    let mut rest = text;
    while let Some(start) = rest.find("talkapp_") {
        let tail = &rest[start..];
        let end = tail
            .find(|character: char| !(character.is_ascii_alphanumeric() || character == '_'))
            .unwrap_or(tail.len());
        names.insert(tail[..end].to_owned());
        rest = &tail[end..];
    }
    names
}

#[tokio::test]
async fn every_metric_the_dashboard_and_the_alert_rules_use_is_exported() {
    let deploy = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy");
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(deploy.join("grafana/talkapp.json")).expect("dashboard"),
    )
    .expect("dashboard is json");
    let mut used = std::collections::BTreeSet::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().expect("targets") {
            used.extend(metric_names(target["expr"].as_str().expect("expr")));
        }
    }
    let rules = std::fs::read_to_string(deploy.join("prometheus/rules.yaml")).expect("rules");
    used.extend(metric_names(&rules));
    assert!(used.len() >= 12, "the dashboard and rules use {used:?}");

    // A backend that has served a user: signed in, linked an account, sent, a socket open.
    let app = spawn_app().await;
    let alice = crate::chats::linked_alice(&app, "metrics@example.com").await;
    let response = app
        .post_with_token(
            &format!("/me/send_message/{}/1", alice.linker.user_id),
            &alice.linker.token,
            &serde_json::json!({"chat_id": alice.bob.to_string(), "text": "counted"}),
        )
        .await;
    assert_eq!(response.status(), 202);
    let job: Value = response.json().await.expect("json");
    app.wait_for_job(
        &alice.linker,
        job["job_id"].as_str().expect("job"),
        "sent",
        std::time::Duration::from_secs(15),
    )
    .await;
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
            app.url(&format!("/ws/{}/1", alice.linker.user_id))
                .replace("http://", "ws://"),
        )
        .expect("request");
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {}", alice.linker.token)
            .parse()
            .expect("header"),
    );
    let (_socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("socket opens");
    let missing = app
        .get_with_token("/no/such/route", &alice.linker.token)
        .await;
    assert_eq!(missing.status(), 404);

    let exported = app.metrics().await;
    let exported: std::collections::BTreeSet<String> = exported
        .lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .filter_map(|line| line.split(['{', ' ']).next())
        .map(str::to_owned)
        .collect();
    let absent: Vec<&String> = used
        .iter()
        // A histogram is exported as its `_bucket`, `_sum` and `_count` series.
        .filter(|name| !exported.contains(*name) && !exported.contains(&format!("{name}_bucket")))
        .collect();
    assert!(
        absent.is_empty(),
        "used by the dashboard or the rules but not exported: {absent:?}"
    );
    app.stop().await;
}
