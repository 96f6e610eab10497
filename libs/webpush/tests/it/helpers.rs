//! A stand-in push service: it checks every push the way a real one does (VAPID
//! signature, audience, expiry, key) and then, playing the browser, decrypts the body
//! with the subscription's user agent keys.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use talkapp_webpush::{
    MAX_BODY_LEN, SenderConfig, Subscription, UserAgentKeys, VapidKey, VapidSigner, VerifiedVapid,
    WebPushSender, verify_vapid_header,
};
use tokio_util::sync::{CancellationToken, DropGuard};

pub(crate) const CONTACT: &str = "mailto:ops@talkapp.example";

/// What the stand-in answers once a push has passed its checks.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) retry_after: Option<&'static str>,
    /// Wait this long before answering (to exercise the sender's timeout).
    pub(crate) delay: Duration,
}

impl Reply {
    pub(crate) fn status(status: StatusCode) -> Self {
        Self {
            status,
            retry_after: None,
            delay: Duration::ZERO,
        }
    }
}

/// One push that passed every check.
#[derive(Debug, Clone)]
pub(crate) struct ReceivedPush {
    pub(crate) payload: Vec<u8>,
    pub(crate) body_len: usize,
    pub(crate) ttl: String,
    pub(crate) urgency: Option<String>,
    pub(crate) topic: Option<String>,
    pub(crate) vapid: VerifiedVapid,
}

struct ServiceState {
    origin: String,
    keys: UserAgentKeys,
    application_server_key: String,
    reply: Reply,
    received: Mutex<Vec<ReceivedPush>>,
    rejections: Mutex<Vec<String>>,
}

/// A push service on 127.0.0.1, port 0, stopped when dropped.
pub(crate) struct TestPushService {
    state: Arc<ServiceState>,
    _stop_on_drop: DropGuard,
}

impl TestPushService {
    /// A push service for one browser subscription (fresh user agent keys) created with
    /// `application_server_key`, answering `reply` to every valid push.
    pub(crate) async fn spawn(application_server_key: &str, reply: Reply) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let port = listener.local_addr().expect("local address").port();
        let state = Arc::new(ServiceState {
            origin: format!("http://127.0.0.1:{port}"),
            keys: UserAgentKeys::generate(),
            application_server_key: application_server_key.to_owned(),
            reply,
            received: Mutex::new(Vec::new()),
            rejections: Mutex::new(Vec::new()),
        });
        let router = Router::new()
            .route("/push/{subscription_id}", post(accept_push))
            .with_state(Arc::clone(&state));
        let stop = CancellationToken::new();
        let server =
            axum::serve(listener, router).with_graceful_shutdown(stop.clone().cancelled_owned());
        tokio::spawn(async move {
            server.await.expect("the test push service runs");
        });
        Self {
            state,
            _stop_on_drop: stop.drop_guard(),
        }
    }

    /// The subscription a browser would hand over.
    pub(crate) fn subscription(&self) -> Subscription {
        self.state
            .keys
            .subscription(format!("{}/push/subscription-1", self.state.origin))
    }

    pub(crate) fn received(&self) -> Vec<ReceivedPush> {
        lock(&self.state.received).clone()
    }

    pub(crate) fn rejections(&self) -> Vec<String> {
        lock(&self.state.rejections).clone()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

async fn accept_push(
    State(state): State<Arc<ServiceState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // RFC 8030 §7.2: push services need not take more than 4096 bytes.
    if body.len() > MAX_BODY_LEN {
        lock(&state.rejections).push(format!("body of {} bytes", body.len()));
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    }
    let push = match check_push(&state, &headers, &body) {
        Ok(push) => push,
        Err(reason) => {
            lock(&state.rejections).push(reason.clone());
            return (StatusCode::BAD_REQUEST, reason).into_response();
        }
    };
    lock(&state.received).push(push);

    tokio::time::sleep(state.reply.delay).await;
    let mut response = state.reply.status.into_response();
    if let Some(retry_after) = state.reply.retry_after {
        response.headers_mut().insert(
            header::RETRY_AFTER,
            header::HeaderValue::from_static(retry_after),
        );
    }
    if state.reply.status == StatusCode::CREATED {
        response.headers_mut().insert(
            header::LOCATION,
            header::HeaderValue::from_static("/message/1"),
        );
    }
    response
}

fn check_push(
    state: &ServiceState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<ReceivedPush, String> {
    let header_text = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    let authorization = header_text("authorization").ok_or("no Authorization header")?;
    let vapid = verify_vapid_header(&authorization, &state.origin, SystemTime::now())
        .map_err(|error| error.to_string())?;
    if vapid.public_key != state.application_server_key {
        return Err("k is not the subscription's applicationServerKey".to_owned());
    }
    if header_text("content-encoding").as_deref() != Some("aes128gcm") {
        return Err("Content-Encoding is not aes128gcm".to_owned());
    }
    if header_text("content-type").as_deref() != Some("application/octet-stream") {
        return Err("Content-Type is not application/octet-stream".to_owned());
    }
    let ttl = header_text("ttl").ok_or("no TTL header")?;
    if ttl.parse::<u32>().is_err() {
        return Err(format!("TTL {ttl:?} is not a number of seconds"));
    }
    let urgency = header_text("urgency");
    if let Some(urgency) = &urgency
        && !["very-low", "low", "normal", "high"].contains(&urgency.as_str())
    {
        return Err(format!("Urgency {urgency:?} is not an RFC 8030 value"));
    }
    let payload = state
        .keys
        .decrypt(body)
        .map_err(|error| error.to_string())?;
    Ok(ReceivedPush {
        payload,
        body_len: body.len(),
        ttl,
        urgency,
        topic: header_text("topic"),
        vapid,
    })
}

/// A sender with a fresh VAPID key that may post to loopback over http.
pub(crate) fn loopback_sender() -> WebPushSender {
    loopback_sender_with(SenderConfig {
        allow_http_loopback: true,
        ..SenderConfig::default()
    })
}

pub(crate) fn loopback_sender_with(config: SenderConfig) -> WebPushSender {
    let signer = VapidSigner::new(VapidKey::generate(), CONTACT).expect("valid contact");
    WebPushSender::new(signer, config).expect("the HTTP client builds")
}
