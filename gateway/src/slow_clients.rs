//! Clients that hold connections without finishing their requests (issue 16, finding 1).
//!
//! * **Body deadline**: a request body must arrive whole within
//!   `gateway.body_timeout_secs` of its headers (actix already cuts slow headers after
//!   5 s with 408). WebSocket upgrades are left alone: their stream is the socket. A body still trickling then is answered 408 `request_timeout` with
//!   `Connection: close`, so the connection is let go.
//! * **Connections per client address**: each accepted TCP connection takes a slot of its
//!   peer address (`on_connect`), given back when the connection ends. A request on a
//!   connection beyond `gateway.max_connections_per_client` is answered 429
//!   `too_many_connections` before its body is read, and the connection closed: one
//!   address cannot hold every descriptor of the process.
//! * **File limit**: at start the process raises its soft limit on open files to the hard
//!   limit ([`raise_open_file_limit`]).
//!
//! # Layout
//! - [`ConnectionSlots`], [`ClientSlot`]: the per-address count, fed by `on_connect`.
//! - [`guard`]: the middleware applying both limits.
//! - [`DeadlinePayload`]: a request body stream that fails once its deadline passes.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::ConnectionType;
use actix_web::middleware::Next;
use actix_web::{HttpMessage as _, ResponseError as _, web};
use futures::Stream;
use talkapp_common::ErrorCode;

use crate::problem::ApiError;

/// Open connections per peer address.
#[derive(Debug, Default)]
pub struct ConnectionSlots {
    open: Mutex<HashMap<std::net::IpAddr, usize>>,
}

/// One connection's place in its address's count (kept in the connection's data; given
/// back when the connection ends).
#[derive(Debug)]
pub struct ClientSlot {
    slots: Arc<ConnectionSlots>,
    address: std::net::IpAddr,
    /// Whether this connection is beyond its address's limit.
    pub over_limit: bool,
}

impl ConnectionSlots {
    /// A slot for a connection from `address`, over the limit when `limit` (non-zero)
    /// connections of it are open already.
    pub fn take(self: &Arc<Self>, address: std::net::IpAddr, limit: usize) -> ClientSlot {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(address).or_insert(0);
        *count += 1;
        let over_limit = limit > 0 && *count > limit;
        if over_limit {
            metrics::counter!("talkapp_http_connections_refused_total").increment(1);
        }
        ClientSlot {
            slots: Arc::clone(self),
            address,
            over_limit,
        }
    }

    /// Open connections from `address`.
    pub fn count(&self, address: std::net::IpAddr) -> usize {
        self.open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&address)
            .copied()
            .unwrap_or(0)
    }

    /// Addresses with an open connection (for the leak tests: none is kept after its
    /// connections end).
    pub fn addresses(&self) -> usize {
        self.open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut open = self
            .slots
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.address) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.address);
            }
        }
    }
}

/// Takes a slot for each accepted connection (`HttpServer::on_connect`).
pub fn on_connect(
    slots: &Arc<ConnectionSlots>,
    limit: usize,
    connection: &dyn std::any::Any,
    data: &mut actix_web::dev::Extensions,
) {
    let Some(stream) = connection.downcast_ref::<actix_web::rt::net::TcpStream>() else {
        return;
    };
    if let Ok(peer) = stream.peer_addr() {
        data.insert(Arc::new(slots.take(peer.ip(), limit)));
    }
}

/// The body deadline that fired for a request (so the answer is a 408, not a parse error).
#[derive(Debug, Clone, Default)]
struct DeadlineFired(Arc<std::sync::atomic::AtomicBool>);

/// A request body that fails with a timeout once its deadline passes.
pub struct DeadlinePayload {
    inner: Payload,
    deadline: Pin<Box<tokio::time::Sleep>>,
    fired: DeadlineFired,
}

impl Stream for DeadlinePayload {
    type Item = Result<web::Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Poll::Ready(item) = Pin::new(&mut self.inner).poll_next(context) {
            return Poll::Ready(item);
        }
        if self.deadline.as_mut().poll(context).is_ready() {
            self.fired
                .0
                .store(true, std::sync::atomic::Ordering::Relaxed);
            return Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the request body did not arrive in time",
            )))));
        }
        Poll::Pending
    }
}

/// The limits of this module, as a middleware (`from_fn`).
pub async fn guard(
    mut request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let over_limit = request
        .conn_data::<Arc<ClientSlot>>()
        .is_some_and(|slot| slot.over_limit);
    if over_limit {
        let error = ApiError::new(
            ErrorCode::TooManyConnections,
            "this address holds as many connections as allowed; reuse or close one",
        );
        let mut response = error.error_response();
        response
            .head_mut()
            .set_connection_type(ConnectionType::Close);
        return Ok(request.into_response(response).map_into_right_body());
    }
    // A WebSocket reads its frames from the request's stream for as long as it lives:
    // that is no body to time out. A request declaring no body has none to wait for.
    if request
        .headers()
        .contains_key(actix_web::http::header::UPGRADE)
        || !declares_body(request.version(), request.headers())
    {
        return next
            .call(request)
            .await
            .map(ServiceResponse::map_into_left_body);
    }
    let timeout = request
        .app_data::<web::Data<crate::state::AppState>>()
        .map_or(Duration::from_secs(10), |state| {
            Duration::from_secs(state.config.gateway.body_timeout_secs.max(1))
        });
    let fired = DeadlineFired::default();
    let payload = DeadlinePayload {
        inner: request.take_payload(),
        deadline: Box::pin(tokio::time::sleep(timeout)),
        fired: fired.clone(),
    };
    request.set_payload(Payload::from(
        Box::pin(payload) as Pin<Box<dyn Stream<Item = Result<web::Bytes, PayloadError>>>>
    ));
    let response = next.call(request).await?;
    if fired.0.load(std::sync::atomic::Ordering::Relaxed) {
        metrics::counter!("talkapp_http_body_timeouts_total").increment(1);
        let error = ApiError::new(
            ErrorCode::RequestTimeout,
            format!(
                "the request body did not arrive within {} s",
                timeout.as_secs()
            ),
        );
        let mut timed_out = error.error_response();
        timed_out
            .head_mut()
            .set_connection_type(ConnectionType::Close);
        let (request, _) = response.into_parts();
        return Ok(ServiceResponse::new(request, timed_out).map_into_right_body());
    }
    Ok(response.map_into_left_body())
}

/// Whether a request may carry a body: in HTTP/1 only one with `Transfer-Encoding` or a
/// non-zero `Content-Length` does (RFC 9112 §6.3); HTTP/2 frames need no such header.
fn declares_body(
    version: actix_web::http::Version,
    headers: &actix_web::http::header::HeaderMap,
) -> bool {
    use actix_web::http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
    if version > actix_web::http::Version::HTTP_11 {
        return true;
    }
    headers.contains_key(TRANSFER_ENCODING)
        || headers
            .get(CONTENT_LENGTH)
            .is_some_and(|length| length.as_bytes() != b"0")
}

/// Raises this process's soft limit on open files to its hard limit (a server holding
/// thousands of sockets needs more than the usual 1,024). Returns the limit in force.
pub fn raise_open_file_limit() -> Option<u64> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).ok()?;
    if soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
        return Some(hard);
    }
    Some(soft)
}

#[cfg(test)]
mod tests {
    use actix_web::http::Version;
    use actix_web::http::header::{CONTENT_LENGTH, HeaderMap, HeaderValue, TRANSFER_ENCODING};

    use super::*;

    fn headers(pairs: &[(actix_web::http::header::HeaderName, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.insert(name.clone(), HeaderValue::from_static(value));
        }
        headers
    }

    #[test]
    fn only_a_request_that_declares_a_body_gets_the_body_deadline() {
        assert!(!declares_body(Version::HTTP_11, &headers(&[])));
        assert!(!declares_body(
            Version::HTTP_11,
            &headers(&[(CONTENT_LENGTH, "0")])
        ));
        assert!(!declares_body(Version::HTTP_10, &headers(&[])));
        assert!(declares_body(
            Version::HTTP_11,
            &headers(&[(CONTENT_LENGTH, "5")])
        ));
        assert!(declares_body(
            Version::HTTP_11,
            &headers(&[(TRANSFER_ENCODING, "chunked")])
        ));
        assert!(
            declares_body(Version::HTTP_2, &headers(&[])),
            "HTTP/2 bodies need no header"
        );
    }
}
