//! [`FullS3Proxy`]: an HTTP proxy on loopback in front of an S3-compatible server (moto's)
//! that answers object writes as a server out of space, or over its quota, does while
//! told to, and passes every other request through.
//!
//! moto cannot be made full and has no quotas, and a full MinIO is a disk to fill: this
//! answers what the servers answer then ([`Refusal`]): MinIO out of space, a 507 with its
//! XML error (`XMinioStorageFull`, "Storage backend has reached its minimum free drive
//! threshold"); Ceph RGW over a bucket's or user's quota, a 403 `QuotaExceeded`; MinIO
//! over a hard bucket quota, a 400 `XMinioAdminBucketQuotaExceeded`; and, to tell those
//! apart from it, an access denied (a 403 `AccessDenied`). It answers so every `PUT` of
//! an object (a whole object, a multipart upload's part, a copy) whose key starts with
//! the prefix given to [`FullS3Proxy::refuse`] (or [`FullS3Proxy::fill_up`]). The client
//! under test is the real one (object_store's S3 client, signing and all): only the
//! answer is made up.
//!
//! It speaks just enough HTTP/1.1 for that client: one request per connection (every
//! answer says `Connection: close`), bodies by `Content-Length` or chunked. Path-style
//! requests only (`/<bucket>/<key>`), as the tests configure.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// MinIO's code for a server out of space (with HTTP 507).
pub const MINIO_STORAGE_FULL_CODE: &str = "XMinioStorageFull";
/// MinIO's message with it.
const MINIO_STORAGE_FULL_MESSAGE: &str = "Storage backend has reached its minimum free drive threshold. Please delete a few objects to proceed.";
/// Ceph RGW's code for a write over a bucket's or user's quota (with HTTP 403:
/// `ERR_QUOTA_EXCEEDED` in `rgw_common.cc`; it sends no `Message`).
pub const CEPH_QUOTA_EXCEEDED_CODE: &str = "QuotaExceeded";
/// MinIO's code for a write over a hard bucket quota (with HTTP 400:
/// `ErrAdminBucketQuotaExceeded` in `cmd/api-errors.go`).
pub const MINIO_BUCKET_QUOTA_EXCEEDED_CODE: &str = "XMinioAdminBucketQuotaExceeded";

/// How the proxy refuses a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A full MinIO: 507 `XMinioStorageFull`.
    OutOfSpace,
    /// Ceph RGW over a bucket's or user's quota: 403 `QuotaExceeded`.
    CephQuota,
    /// MinIO over a hard bucket quota: 400 `XMinioAdminBucketQuotaExceeded`.
    MinioBucketQuota,
    /// Not space at all: 403 `AccessDenied` (a key without the right to write).
    AccessDenied,
}

impl Refusal {
    /// The status line's code and reason, the error code, and its message (`None`: none
    /// sent, as Ceph sends none with `QuotaExceeded`).
    fn answer(self) -> (u16, &'static str, &'static str, Option<&'static str>) {
        match self {
            Self::OutOfSpace => (
                507,
                "Insufficient Storage",
                MINIO_STORAGE_FULL_CODE,
                Some(MINIO_STORAGE_FULL_MESSAGE),
            ),
            Self::CephQuota => (403, "Forbidden", CEPH_QUOTA_EXCEEDED_CODE, None),
            Self::MinioBucketQuota => (
                400,
                "Bad Request",
                MINIO_BUCKET_QUOTA_EXCEEDED_CODE,
                Some("Bucket quota exceeded"),
            ),
            Self::AccessDenied => (403, "Forbidden", "AccessDenied", Some("Access Denied.")),
        }
    }
}
/// The most a request's head may take (the client's are well under it).
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// A proxy in front of an S3-compatible server that can play a full one; stops when
/// dropped.
pub struct FullS3Proxy {
    port: u16,
    state: Arc<State>,
    stop: CancellationToken,
}

#[derive(Default)]
struct State {
    /// The key prefix whose writes are refused, and how; `None`: none is.
    full_under: Mutex<Option<(String, Refusal)>>,
    refused: AtomicU64,
    passed: AtomicU64,
}

impl State {
    /// How a request is refused, if it is.
    fn refuses(&self, method: &str, target: &str) -> Option<Refusal> {
        if method != "PUT" {
            return None;
        }
        let (prefix, refusal) = self
            .full_under
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()?;
        // `/<bucket>/<key>?<query>`: a bucket's own PUT (its creation) has no key.
        let path = target.split('?').next().unwrap_or_default();
        let mut segments = path.trim_start_matches('/').splitn(2, '/');
        let _bucket = segments.next();
        segments
            .next()
            .is_some_and(|key| !key.is_empty() && key.starts_with(&prefix))
            .then_some(refusal)
    }
}

impl FullS3Proxy {
    /// A proxy to `upstream` (`127.0.0.1:9900`) on a free port, passing everything.
    pub async fn start(upstream: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        let state = Arc::new(State::default());
        let stop = CancellationToken::new();
        let upstream = upstream.to_owned();
        let accepting = Arc::clone(&state);
        let stopped = stop.clone();
        tokio::spawn(async move {
            loop {
                let client = tokio::select! {
                    () = stopped.cancelled() => return,
                    accepted = listener.accept() => match accepted {
                        Ok((client, _)) => client,
                        Err(_) => continue,
                    },
                };
                let state = Arc::clone(&accepting);
                let upstream = upstream.clone();
                let stopped = stopped.clone();
                tokio::spawn(async move {
                    tokio::select! {
                        () = stopped.cancelled() => {}
                        // A client that went away mid-request: nothing to answer.
                        _ = serve(client, &upstream, &state) => {}
                    }
                });
            }
        });
        Self { port, state, stop }
    }

    /// `http://127.0.0.1:<port>`: the endpoint to give the client.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// From now on every `PUT` of an object whose key starts with `key_prefix` (`""`:
    /// every object) is answered 507 `XMinioStorageFull`, as a full MinIO does.
    pub fn fill_up(&self, key_prefix: &str) {
        self.refuse(key_prefix, Refusal::OutOfSpace);
    }

    /// From now on every `PUT` of an object whose key starts with `key_prefix` (`""`:
    /// every object) is refused as `refusal` says.
    pub fn refuse(&self, key_prefix: &str, refusal: Refusal) {
        *self
            .state
            .full_under
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some((key_prefix.to_owned(), refusal));
    }

    /// Space (or the right to write) again: everything passes.
    pub fn free_space(&self) {
        *self
            .state
            .full_under
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// Writes refused so far (whatever the refusal).
    pub fn refused(&self) -> u64 {
        self.state.refused.load(Ordering::Relaxed)
    }

    /// Requests passed to the server so far.
    pub fn passed(&self) -> u64 {
        self.state.passed.load(Ordering::Relaxed)
    }
}

impl Drop for FullS3Proxy {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// A request's head: its line and headers, as sent.
struct Head {
    method: String,
    target: String,
    version: String,
    headers: Vec<(String, String)>,
}

impl Head {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

async fn serve(client: TcpStream, upstream: &str, state: &State) -> std::io::Result<()> {
    let mut client = BufReader::new(client);
    let head = read_head(&mut client).await?;
    let body = read_body(&mut client, &head).await?;
    if let Some(refusal) = state.refuses(&head.method, &head.target) {
        state.refused.fetch_add(1, Ordering::Relaxed);
        let (status, reason, code, message) = refusal.answer();
        let resource = head.target.split('?').next().unwrap_or_default();
        let message = message
            .map(|message| format!("<Message>{message}</Message>"))
            .unwrap_or_default();
        let xml = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code>{message}\
             <Resource>{resource}</Resource><RequestId>{}</RequestId>\
             <HostId>talkapp-testkit</HostId></Error>",
            uuid::Uuid::new_v4().simple()
        );
        let answer = format!(
            "HTTP/1.1 {status} {reason}\r\ncontent-type: application/xml\r\n\
             content-length: {}\r\nconnection: close\r\n\r\n{xml}",
            xml.len()
        );
        let client = client.get_mut();
        client.write_all(answer.as_bytes()).await?;
        client.shutdown().await?;
        return Ok(());
    }
    state.passed.fetch_add(1, Ordering::Relaxed);
    let mut server = BufReader::new(TcpStream::connect(upstream).await?);
    // The body goes with its length (a chunked one decoded), on a connection of its own.
    let mut request = format!("{} {} {}\r\n", head.method, head.target, head.version);
    for (name, value) in &head.headers {
        if [
            "connection",
            "keep-alive",
            "transfer-encoding",
            "content-length",
        ]
        .iter()
        .any(|hop| name.eq_ignore_ascii_case(hop))
        {
            continue;
        }
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() || head.header("content-length").is_some() {
        request.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    request.push_str("connection: close\r\n\r\n");
    let upstream_stream = server.get_mut();
    upstream_stream.write_all(request.as_bytes()).await?;
    upstream_stream.write_all(&body).await?;
    // The answer's head with `connection: close` (this link ends with it), then the rest
    // as it comes until the server closes.
    let mut answer = String::new();
    loop {
        let mut line = String::new();
        if server.read_line(&mut line).await? == 0 {
            break;
        }
        let end = line == "\r\n";
        let is_connection = line
            .split(':')
            .next()
            .is_some_and(|name| name.trim().eq_ignore_ascii_case("connection"));
        if end {
            answer.push_str("connection: close\r\n\r\n");
            break;
        }
        if !is_connection {
            answer.push_str(&line);
        }
    }
    let client = client.get_mut();
    client.write_all(answer.as_bytes()).await?;
    tokio::io::copy(&mut server, client).await?;
    client.shutdown().await?;
    Ok(())
}

async fn read_head(client: &mut BufReader<TcpStream>) -> std::io::Result<Head> {
    let mut request_line = String::new();
    client.read_line(&mut request_line).await?;
    let mut parts = request_line.split_whitespace();
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(std::io::Error::other(format!(
            "not an HTTP request: {request_line:?}"
        )));
    };
    let mut head = Head {
        method: method.to_owned(),
        target: target.to_owned(),
        version: version.to_owned(),
        headers: Vec::new(),
    };
    let mut taken = request_line.len();
    loop {
        let mut line = String::new();
        let read = client.read_line(&mut line).await?;
        taken += read;
        if read == 0 || taken > MAX_HEAD_BYTES {
            return Err(std::io::Error::other("the request's head did not end"));
        }
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            return Ok(head);
        }
        if let Some((name, value)) = line.split_once(':') {
            head.headers
                .push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
}

async fn read_body(client: &mut BufReader<TcpStream>, head: &Head) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    if head
        .header("transfer-encoding")
        .is_some_and(|encoding| encoding.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let mut size_line = String::new();
            client.read_line(&mut size_line).await?;
            let size = size_line.trim().split(';').next().unwrap_or_default();
            let size = usize::from_str_radix(size, 16)
                .map_err(|error| std::io::Error::other(format!("a chunk's size: {error}")))?;
            if size == 0 {
                // Trailers, up to the empty line.
                loop {
                    let mut line = String::new();
                    if client.read_line(&mut line).await? == 0 || line == "\r\n" {
                        return Ok(body);
                    }
                }
            }
            let start = body.len();
            body.resize(start + size, 0);
            client.read_exact(&mut body[start..]).await?;
            let mut end = String::new();
            client.read_line(&mut end).await?;
        }
    }
    let length: usize = head
        .header("content-length")
        .map_or(Ok(0), str::parse)
        .map_err(|error| std::io::Error::other(format!("content-length: {error}")))?;
    body.resize(length, 0);
    client.read_exact(&mut body).await?;
    Ok(body)
}
