use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::StatusCode;
use talkapp_webpush::{
    MAX_BODY_LEN, MAX_PAYLOAD_LEN, SendOptions, SendOutcome, SenderConfig, Urgency, WebPushError,
};

use crate::helpers::{CONTACT, Reply, TestPushService, loopback_sender, loopback_sender_with};

#[tokio::test]
async fn a_push_arrives_signed_and_decryptable_and_is_reported_delivered() {
    // Arrange
    let sender = loopback_sender();
    let service = TestPushService::spawn(
        sender.vapid_public_key(),
        Reply::status(StatusCode::CREATED),
    )
    .await;
    let options = SendOptions {
        ttl_secs: 600,
        urgency: Urgency::High,
        topic: Some("chat-42".to_owned()),
    };
    let payload = br#"{"chat_id":42,"preview":"hello"}"#;

    // Act
    let outcome = sender
        .send(&service.subscription(), payload, &options)
        .await
        .expect("the push is sent");

    // Assert
    assert_eq!(
        outcome,
        SendOutcome::Delivered,
        "rejections: {:?}",
        service.rejections()
    );
    let received = service.received();
    assert_eq!(received.len(), 1);
    let push = &received[0];
    assert_eq!(push.payload, payload);
    assert_eq!(push.ttl, "600");
    assert_eq!(push.urgency.as_deref(), Some("high"));
    assert_eq!(push.topic.as_deref(), Some("chat-42"));
    assert_eq!(push.vapid.public_key, sender.vapid_public_key());
    assert_eq!(push.vapid.claims.sub, CONTACT);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let twelve_hours = 12 * 60 * 60;
    assert!(
        push.vapid.claims.exp > now + twelve_hours - 60
            && push.vapid.claims.exp <= now + twelve_hours
    );
}

#[tokio::test]
async fn a_202_accepted_also_counts_as_delivered() {
    let sender = loopback_sender();
    let service = TestPushService::spawn(
        sender.vapid_public_key(),
        Reply::status(StatusCode::ACCEPTED),
    )
    .await;

    let outcome = sender
        .send(&service.subscription(), b"x", &SendOptions::default())
        .await
        .expect("sent");

    assert_eq!(outcome, SendOutcome::Delivered);
}

#[tokio::test]
async fn a_410_reports_the_subscription_gone() {
    let sender = loopback_sender();
    let service =
        TestPushService::spawn(sender.vapid_public_key(), Reply::status(StatusCode::GONE)).await;

    let outcome = sender
        .send(
            &service.subscription(),
            b"are you there?",
            &SendOptions::default(),
        )
        .await
        .expect("sent");

    assert_eq!(outcome, SendOutcome::Gone { status: 410 });
    assert!(!outcome.is_retryable());
    // The push was well formed all the same: the service checked and decrypted it.
    assert_eq!(service.received()[0].payload, b"are you there?");
}

#[tokio::test]
async fn a_404_also_reports_the_subscription_gone() {
    let sender = loopback_sender();
    let service = TestPushService::spawn(
        sender.vapid_public_key(),
        Reply::status(StatusCode::NOT_FOUND),
    )
    .await;

    let outcome = sender
        .send(&service.subscription(), b"x", &SendOptions::default())
        .await
        .expect("sent");

    assert_eq!(outcome, SendOutcome::Gone { status: 404 });
}

#[tokio::test]
async fn a_429_reports_rate_limiting_with_its_retry_after() {
    let sender = loopback_sender();
    let reply = Reply {
        retry_after: Some("120"),
        ..Reply::status(StatusCode::TOO_MANY_REQUESTS)
    };
    let service = TestPushService::spawn(sender.vapid_public_key(), reply).await;

    let outcome = sender
        .send(&service.subscription(), b"x", &SendOptions::default())
        .await
        .expect("sent");

    assert_eq!(
        outcome,
        SendOutcome::RateLimited {
            retry_after: Some(Duration::from_secs(120))
        }
    );
    assert!(outcome.is_retryable());
}

#[tokio::test]
async fn a_413_reports_the_payload_too_large() {
    let sender = loopback_sender();
    let service = TestPushService::spawn(
        sender.vapid_public_key(),
        Reply::status(StatusCode::PAYLOAD_TOO_LARGE),
    )
    .await;

    let outcome = sender
        .send(&service.subscription(), b"x", &SendOptions::default())
        .await
        .expect("sent");

    assert_eq!(outcome, SendOutcome::PayloadTooLarge);
}

#[tokio::test]
async fn a_push_signed_with_another_vapid_key_is_rejected_as_a_client_error() {
    // The subscription was made with one application server key, the sender signs with
    // another: the push service answers 400 (real ones say 401/403).
    let sender = loopback_sender();
    let other_sender = loopback_sender();
    let service = TestPushService::spawn(
        other_sender.vapid_public_key(),
        Reply::status(StatusCode::CREATED),
    )
    .await;

    let outcome = sender
        .send(&service.subscription(), b"x", &SendOptions::default())
        .await
        .expect("sent");

    match outcome {
        SendOutcome::Rejected {
            status: 400,
            reason,
        } => {
            assert!(reason.contains("applicationServerKey"), "{reason}")
        }
        other => panic!("expected a 400 rejection, got {other:?}"),
    }
    assert!(service.received().is_empty());
}

#[tokio::test]
async fn a_server_error_is_transient() {
    let sender = loopback_sender();
    let service = TestPushService::spawn(
        sender.vapid_public_key(),
        Reply::status(StatusCode::SERVICE_UNAVAILABLE),
    )
    .await;

    let outcome = sender
        .send(&service.subscription(), b"x", &SendOptions::default())
        .await
        .expect("sent");

    assert!(
        matches!(
            outcome,
            SendOutcome::Transient {
                status: Some(503),
                ..
            }
        ),
        "{outcome:?}"
    );
    assert!(outcome.is_retryable());
}

#[tokio::test]
async fn an_unreachable_push_service_is_transient() {
    let sender = loopback_sender();
    let service = TestPushService::spawn(
        sender.vapid_public_key(),
        Reply::status(StatusCode::CREATED),
    )
    .await;
    let subscription = service.subscription();
    drop(service);
    // Give the stopped server a moment to release its port.
    tokio::time::sleep(Duration::from_millis(50)).await;

    let outcome = sender
        .send(&subscription, b"x", &SendOptions::default())
        .await
        .expect("the failure is an outcome, not an error");

    match outcome {
        SendOutcome::Transient {
            status: None,
            reason,
        } => {
            assert!(reason.contains("could not connect"), "{reason}");
            assert!(
                !reason.contains("127.0.0.1"),
                "the endpoint must not leak: {reason}"
            );
        }
        other => panic!("expected a transient failure, got {other:?}"),
    }
}

#[tokio::test]
async fn a_push_service_slower_than_the_timeout_is_transient() {
    let sender = loopback_sender_with(SenderConfig {
        request_timeout: Duration::from_millis(300),
        allow_http_loopback: true,
        ..SenderConfig::default()
    });
    let reply = Reply {
        delay: Duration::from_secs(10),
        ..Reply::status(StatusCode::CREATED)
    };
    let service = TestPushService::spawn(sender.vapid_public_key(), reply).await;
    let started = std::time::Instant::now();

    let outcome = sender
        .send(&service.subscription(), b"x", &SendOptions::default())
        .await
        .expect("sent");

    match outcome {
        SendOutcome::Transient {
            status: None,
            reason,
        } => assert!(reason.contains("timed out"), "{reason}"),
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn the_largest_payload_fills_exactly_4096_bytes_and_arrives() {
    let sender = loopback_sender();
    let service = TestPushService::spawn(
        sender.vapid_public_key(),
        Reply::status(StatusCode::CREATED),
    )
    .await;
    let payload = vec![b'a'; MAX_PAYLOAD_LEN];

    let outcome = sender
        .send(&service.subscription(), &payload, &SendOptions::default())
        .await
        .expect("sent");

    assert_eq!(
        outcome,
        SendOutcome::Delivered,
        "rejections: {:?}",
        service.rejections()
    );
    assert_eq!(service.received()[0].body_len, MAX_BODY_LEN);
    assert_eq!(service.received()[0].payload, payload);
}

#[tokio::test]
async fn a_payload_one_byte_too_large_is_refused_before_anything_is_sent() {
    let sender = loopback_sender();
    let service = TestPushService::spawn(
        sender.vapid_public_key(),
        Reply::status(StatusCode::CREATED),
    )
    .await;

    let result = sender
        .send(
            &service.subscription(),
            &vec![0; MAX_PAYLOAD_LEN + 1],
            &SendOptions::default(),
        )
        .await;

    match result {
        Err(error @ WebPushError::PayloadTooLarge { .. }) => {
            assert!(
                error.to_string().contains("4096 bytes of encrypted body"),
                "{error}"
            )
        }
        other => panic!("expected PayloadTooLarge, got {other:?}"),
    }
    assert!(service.received().is_empty() && service.rejections().is_empty());
}

#[tokio::test]
async fn plain_http_endpoints_are_refused_by_default() {
    let strict_sender = loopback_sender_with(SenderConfig::default());
    let service = TestPushService::spawn(
        strict_sender.vapid_public_key(),
        Reply::status(StatusCode::CREATED),
    )
    .await;

    let result = strict_sender
        .send(&service.subscription(), b"x", &SendOptions::default())
        .await;

    assert!(
        matches!(result, Err(WebPushError::InvalidEndpoint { .. })),
        "{result:?}"
    );
    assert!(service.received().is_empty() && service.rejections().is_empty());
}

#[tokio::test]
async fn a_subscription_with_broken_keys_is_an_error_and_sends_nothing() {
    let sender = loopback_sender();
    let service = TestPushService::spawn(
        sender.vapid_public_key(),
        Reply::status(StatusCode::CREATED),
    )
    .await;
    let mut subscription = service.subscription();
    // Valid base64url, but 16 bytes: not a P-256 point.
    subscription.p256dh = subscription.auth.clone();

    let result = sender
        .send(&subscription, b"x", &SendOptions::default())
        .await;

    assert!(
        matches!(result, Err(WebPushError::InvalidKey { .. })),
        "{result:?}"
    );
    assert!(service.received().is_empty() && service.rejections().is_empty());
}
