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

    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("sent")
        .text()
        .await
        .expect("text");

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
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("sent")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("talkapp_grpc_server_requests_total"),
        "{metrics}"
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
