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
//! the prefix given to [`FullS3Proxy::refuse`] (or [`FullS3Proxy::fill_up`]). It can also
//! answer a multipart upload's completion or a copy as S3 documents they may fail once
//! started ([`FullS3Proxy::fail_in_200`]): `200 OK` first, then an `<Error>` for a body
//! (AWS's "200 InternalError"). The client under test is the real one (object_store's S3
//! client, signing and all): only the answer is made up.
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

/// The requests S3 may answer `200 OK` and then fail in the body ([`FullS3Proxy::fail_in_200`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InBody {
    /// A multipart upload's completion (`POST /<bucket>/<key>?uploadId=...`).
    Completion,
    /// A copy (`PUT /<bucket>/<key>` with `x-amz-copy-source`).
    Copy,
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
    /// The requests answered `200` with an error for a body ([`FullS3Proxy::fail_in_200`]).
    in_body: Mutex<Option<InBodyRule>>,
    refused: AtomicU64,
    passed: AtomicU64,
}

/// Which requests are answered `200` with an error for a body, and how many more.
#[derive(Clone)]
struct InBodyRule {
    prefix: String,
    requests: InBody,
    refusal: Refusal,
    remaining: Option<u64>,
}

/// How a request is answered in place of the server.
enum Answer {
    /// The refusal's status and error.
    Refused(Refusal),
    /// `200 OK`, whitespace, then the refusal's error.
    ErrorIn200(Refusal),
}

/// The object key of a path-style target (`/<bucket>/<key>?<query>`), when it names one
/// (a bucket's own requests, its creation, have none).
fn key_of(target: &str) -> Option<&str> {
    let path = target.split('?').next().unwrap_or_default();
    let mut segments = path.trim_start_matches('/').splitn(2, '/');
    let _bucket = segments.next();
    segments.next().filter(|key| !key.is_empty())
}

impl State {
    /// How a request is answered in place of the server, if it is.
    fn answer(&self, head: &Head) -> Option<Answer> {
        if let Some(refusal) = self.error_in_200(head) {
            return Some(Answer::ErrorIn200(refusal));
        }
        self.refuses(&head.method, &head.target)
            .map(Answer::Refused)
    }

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
        key_of(target)
            .is_some_and(|key| key.starts_with(&prefix))
            .then_some(refusal)
    }

    /// The error a request is answered with in a `200`, if it is (counting it).
    fn error_in_200(&self, head: &Head) -> Option<Refusal> {
        let mut rule = self.in_body.lock().unwrap_or_else(PoisonError::into_inner);
        let current = rule.as_mut()?;
        let is_one = match current.requests {
            InBody::Completion => {
                head.method == "POST"
                    && head.target.split_once('?').is_some_and(|(_, query)| {
                        query
                            .split('&')
                            .any(|pair| pair.split('=').next() == Some("uploadId"))
                    })
            }
            InBody::Copy => head.method == "PUT" && head.header("x-amz-copy-source").is_some(),
        };
        if !is_one || !key_of(&head.target).is_some_and(|key| key.starts_with(&current.prefix)) {
            return None;
        }
        let refusal = current.refusal;
        match &mut current.remaining {
            Some(0) => return None,
            Some(remaining) => *remaining -= 1,
            None => {}
        }
        Some(refusal)
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

    /// From now on the `requests` (completions or copies) of objects whose key starts
    /// with `key_prefix` are answered as S3 may answer them when they fail once started:
    /// `200 OK` and its headers at once, whitespace a moment later, then the XML error of
    /// `refusal` (its code and message, not its status) for the rest of the body. Only
    /// the next `times` of them when given (then they pass), else every one. The server
    /// does not see them.
    pub fn fail_in_200(
        &self,
        key_prefix: &str,
        requests: InBody,
        refusal: Refusal,
        times: Option<u64>,
    ) {
        *self
            .state
            .in_body
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(InBodyRule {
            prefix: key_prefix.to_owned(),
            requests,
            refusal,
            remaining: times,
        });
    }

    /// Space (or the right to write) again: everything passes.
    pub fn free_space(&self) {
        *self
            .state
            .full_under
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = None;
        *self
            .state
            .in_body
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
    if let Some(answer) = state.answer(&head) {
        state.refused.fetch_add(1, Ordering::Relaxed);
        let client = client.get_mut();
        match answer {
            Answer::Refused(refusal) => {
                let (status, reason, _, _) = refusal.answer();
                let xml = error_xml(refusal, &head.target);
                let answer = format!(
                    "HTTP/1.1 {status} {reason}\r\ncontent-type: application/xml\r\n\
                     content-length: {}\r\nconnection: close\r\n\r\n{xml}",
                    xml.len()
                );
                client.write_all(answer.as_bytes()).await?;
            }
            Answer::ErrorIn200(refusal) => {
                // As S3 does: the status and headers first (chunked: the length is not
                // known yet), whitespace while it works, the error last.
                client
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-type: application/xml\r\n\
                          transfer-encoding: chunked\r\nconnection: close\r\n\r\n",
                    )
                    .await?;
                client.write_all(b"1\r\n \r\n").await?;
                client.flush().await?;
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                let xml = error_xml(refusal, &head.target);
                client
                    .write_all(format!("{:x}\r\n{xml}\r\n0\r\n\r\n", xml.len()).as_bytes())
                    .await?;
            }
        }
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

/// The XML error `refusal` sends for a request to `target`.
fn error_xml(refusal: Refusal, target: &str) -> String {
    let (_, _, code, message) = refusal.answer();
    let resource = target.split('?').next().unwrap_or_default();
    let message = message
        .map(|message| format!("<Message>{message}</Message>"))
        .unwrap_or_default();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code>{message}\
         <Resource>{resource}</Resource><RequestId>{}</RequestId>\
         <HostId>talkapp-testkit</HostId></Error>",
        uuid::Uuid::new_v4().simple()
    )
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
