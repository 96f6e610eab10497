//! Where the bytes live: an `object_store` (a local directory or S3), with the keys the
//! service uses. Blobs are content-addressed (`blobs/ab/abcd...`), their previews beside
//! them (`previews/ab/abcd....jpg`), uploads in progress under `tmp/`.

use std::path::PathBuf;
use std::sync::Arc;

use object_store::client::{
    HttpClient, HttpConnector, HttpError, HttpErrorKind, HttpRequest, HttpResponse,
    HttpResponseBody, HttpService, ReqwestConnector,
};
use object_store::path::Path;
use object_store::{ClientOptions, ObjectStore};
use secrecy::ExposeSecret as _;
use talkapp_common::config::{Config, StorageBackend};

use crate::error::FullStorage;

/// The object store and how to write to it.
#[derive(Clone)]
pub struct Storage {
    objects: Arc<dyn ObjectStore>,
    /// The directory of the local backend (its sweep looks at the files directly: the
    /// staging files of an interrupted write are invisible to `list`).
    local_root: Option<PathBuf>,
    /// Bytes per part of a streamed write (S3 wants at least 5 MiB but the last).
    pub(crate) part_bytes: usize,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Storage")
            .field("objects", &self.objects.to_string())
            .finish()
    }
}

impl Storage {
    /// The store `storage` configures (`local` under `data.dir`/media by default).
    pub fn from_config(config: &Config) -> anyhow::Result<Self> {
        let storage = &config.storage;
        match storage.backend {
            StorageBackend::Local => {
                let root = if storage.local_dir.is_empty() {
                    config.data.dir.join("media")
                } else {
                    PathBuf::from(&storage.local_dir)
                };
                Self::local(root)
            }
            StorageBackend::S3 => {
                let mut builder = object_store::aws::AmazonS3Builder::new()
                    // A server out of space or over its quota told apart, and not
                    // retried (ADR 0069).
                    .with_http_connector(FullAwareConnector)
                    .with_bucket_name(&storage.s3_bucket)
                    .with_region(&storage.s3_region)
                    .with_allow_http(storage.s3_allow_http)
                    .with_virtual_hosted_style_request(!storage.s3_path_style);
                if !storage.s3_endpoint.is_empty() {
                    builder = builder.with_endpoint(&storage.s3_endpoint);
                }
                let key_id = storage.s3_access_key_id.expose_secret();
                if !key_id.is_empty() {
                    builder = builder
                        .with_access_key_id(key_id)
                        .with_secret_access_key(storage.s3_secret_access_key.expose_secret());
                }
                Ok(Self {
                    objects: Arc::new(builder.build()?),
                    local_root: None,
                    part_bytes: 8 * 1024 * 1024,
                })
            }
        }
    }

    /// Files under `root` (created when missing).
    pub fn local(root: PathBuf) -> anyhow::Result<Self> {
        // Users' files: the owner's only.
        talkapp_common::secrets::create_private_dir(&root)
            .map_err(|error| anyhow::anyhow!("cannot create {}: {error}", root.display()))?;
        let objects = object_store::local::LocalFileSystem::new_with_prefix(&root)?
            // Deleting the last file of a directory removes the directory too.
            .with_automatic_cleanup(true);
        Ok(Self {
            objects: Arc::new(objects),
            local_root: Some(root),
            // Parts are written in place on disk: small ones keep memory flat.
            part_bytes: 1024 * 1024,
        })
    }

    /// The object store.
    pub(crate) fn objects(&self) -> &Arc<dyn ObjectStore> {
        &self.objects
    }

    /// The file an object is kept in, for the local backend (absolute).
    pub(crate) fn local_file(&self, path: &Path) -> Option<PathBuf> {
        let file = self.local_root.as_ref()?.join(path.as_ref());
        std::path::absolute(&file).ok()
    }

    /// The local directory, for the local backend.
    pub(crate) fn local_root(&self) -> Option<&std::path::Path> {
        self.local_root.as_deref()
    }
}

/// HTTP 507 Insufficient Storage: what S3-compatible servers answer when they are out of
/// space (MinIO: `XMinioStorageFull`, "Storage backend has reached its minimum free drive
/// threshold"; others `InsufficientStorage`).
const INSUFFICIENT_STORAGE: u16 = 507;
/// The S3 error codes of a quota refusing a write (ADR 0069, amended), whatever the HTTP
/// status they come with: Ceph RGW's `QuotaExceeded` (403, for a bucket's quota and a
/// user's alike: `ERR_QUOTA_EXCEEDED` in `rgw_common.cc`) and MinIO's
/// `XMinioAdminBucketQuotaExceeded` (400, a hard bucket quota: `ErrAdminBucketQuotaExceeded`
/// in `cmd/api-errors.go`). Any other 4xx (`AccessDenied`, ...) is passed on as it came.
/// SeaweedFS and Garage have no code of their own for it, so theirs are not told apart:
/// a SeaweedFS bucket over its quota is made read-only and a write answered 403
/// `AccessDenied` (`ErrReadOnly` in `weed/s3api/s3api_object_handlers_put.go`), Garage
/// answers 403 `AccessDenied` with "Bucket size quota is reached, ..." or "Object quota
/// is reached, ..." for its message (`check_quotas` in `src/api/s3/put.rs`).
const QUOTA_CODES: [&str; 2] = ["QuotaExceeded", "XMinioAdminBucketQuotaExceeded"];
/// The S3 error codes of a server out of space: MinIO's `XMinioStorageFull` (`ErrStorageFull`
/// in `cmd/api-errors.go`, sent with a 507, which is told apart by its status already;
/// the code tells it apart where the status cannot: in a 200's body).
const OUT_OF_SPACE_CODES: [&str; 1] = ["XMinioStorageFull"];
/// The most of a refused write's error body read for its code: S3's XML errors take a
/// few hundred bytes; a body that declares more is passed on unread, one that runs on
/// without declaring its length is cut there (it is only ever shown as an error's text).
const MAX_ERROR_BODY_BYTES: usize = 16 * 1024;
/// The most of a 2xx answer's body read to see whether it is an error (see
/// [`FullAwareClient`]): S3's results of a completion or a copy take a few hundred bytes,
/// and the whitespace a server sends to keep a long one's connection open about a byte
/// every few seconds. A longer body is not an answer S3 sends: the write fails.
const MAX_RESULT_BODY_BYTES: usize = 1024 * 1024;
/// The part of a refusal's message kept for the log.
const MAX_REFUSAL_MESSAGE_CHARS: usize = 300;

/// The S3 client's HTTP connections, with a server that refuses a write for want of space
/// told apart: out of space (its 507), or over a bucket's or user's quota (a 4xx whose
/// error code is one of [`QUOTA_CODES`], read from the answer's small XML body). Either is
/// turned into an error carrying a [`ServerRefusal`] (in an `io::Error` of kind
/// `StorageFull` or `QuotaExceeded`), which [`crate::error`] finds in the object store's
/// error as it finds a full local disk's. Turned into an error before the object store's
/// retries see it: they retry every 5xx for up to three minutes, and a full server is not
/// full for a moment (a client is told to come back in one). Only the answers to writes
/// (`PUT`: an object, a multipart upload's part, a copy; `POST`: a multipart upload's
/// start and completion) are looked into; every other answer passes untouched.
///
/// A write may also fail in a `200`: S3 documents that a multipart upload's completion
/// and a copy (`CompleteMultipartUpload`, `CopyObject`, `UploadPartCopy`) can answer
/// `200 OK`, send its headers (and whitespace while it works), and then an `<Error>`
/// document for a body. object_store looks into both bodies only for the words
/// `InternalError` and `SlowDown` (retried as a 5xx); any other error there is, for a
/// completion, a result it cannot parse (a failure at once, a 503 for the client, also
/// for a quota's refusal), and for a copy a success: the copy taken for done, then its
/// source deleted (the upload's blob missing, its row recorded). The bodies of those two
/// answers are read here (at most
/// [`MAX_RESULT_BODY_BYTES`]): an `<Error>` whose code is a quota's or a full server's is
/// a [`ServerRefusal`] as above; any other code is answered as a `500` with the same body,
/// which object_store retries as any 5xx (both requests are idempotent) and then fails.
#[derive(Debug)]
struct FullAwareConnector;

impl HttpConnector for FullAwareConnector {
    fn connect(&self, options: &ClientOptions) -> object_store::Result<HttpClient> {
        let client = ReqwestConnector::default().connect(options)?;
        Ok(HttpClient::new(FullAwareClient(client)))
    }
}

#[derive(Debug)]
struct FullAwareClient(HttpClient);

#[async_trait::async_trait]
impl HttpService for FullAwareClient {
    async fn call(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        let is_write = matches!(request.method().as_str(), "PUT" | "POST");
        let may_fail_in_body = may_fail_in_a_success(&request);
        let response = self.0.execute(request).await?;
        let status = response.status();
        if may_fail_in_body && status.is_success() {
            return error_in_a_success(response).await;
        }
        if status.as_u16() == INSUFFICIENT_STORAGE {
            let body = response.into_body().bytes().await?;
            return Err(ServerRefusal::of(
                FullStorage::NoSpace,
                status.as_u16(),
                &String::from_utf8_lossy(&body),
            )
            .into_http_error());
        }
        if !is_write || !status.is_client_error() {
            return Ok(response);
        }
        let declared_bytes = response
            .headers()
            .get("content-length")
            .and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
        if declared_bytes.is_some_and(|bytes| bytes > MAX_ERROR_BODY_BYTES as u64) {
            return Ok(response);
        }
        let (parts, body) = response.into_parts();
        let (body, _) = read_bounded(body, MAX_ERROR_BODY_BYTES).await?;
        let text = String::from_utf8_lossy(&body);
        if let Some(reason) = xml_element(&text, "Code").and_then(|code| refusal_reason(&code)) {
            return Err(ServerRefusal::of(reason, status.as_u16(), &text).into_http_error());
        }
        // Not a quota: the answer as it came, for the object store to read.
        Ok(HttpResponse::from_parts(parts, body.into()))
    }
}

/// Which way a server is full, by the error code of its refusal; `None`: not for space.
fn refusal_reason(code: &str) -> Option<FullStorage> {
    if QUOTA_CODES.contains(&code) {
        Some(FullStorage::StorageQuota)
    } else if OUT_OF_SPACE_CODES.contains(&code) {
        Some(FullStorage::NoSpace)
    } else {
        None
    }
}

/// Whether `request` is one S3 may answer `200` and fail in the body: a multipart
/// upload's completion (`POST ?uploadId=`) or a copy (a `PUT` with `x-amz-copy-source`,
/// of an object or of a part).
fn may_fail_in_a_success(request: &HttpRequest) -> bool {
    match request.method().as_str() {
        "POST" => request.uri().query().is_some_and(|query| {
            query
                .split('&')
                .any(|pair| pair.split('=').next() == Some("uploadId"))
        }),
        "PUT" => request.headers().contains_key("x-amz-copy-source"),
        _ => false,
    }
}

/// A 2xx answer to a completion or a copy, read: as it came when it is a result; a
/// [`ServerRefusal`] when it is an `<Error>` for want of space; otherwise the error as a
/// `500`, for the object store to retry and then fail (never taken for done).
async fn error_in_a_success(response: HttpResponse) -> Result<HttpResponse, HttpError> {
    let (mut parts, body) = response.into_parts();
    let (body, cut) = read_bounded(body, MAX_RESULT_BODY_BYTES).await?;
    if cut {
        return Err(HttpError::new(
            HttpErrorKind::Unknown,
            std::io::Error::other(format!(
                "the S3 server answered a write 2xx with a body of over {MAX_RESULT_BODY_BYTES} bytes"
            )),
        ));
    }
    let text = String::from_utf8_lossy(&body);
    if !is_error_document(&text) {
        return Ok(HttpResponse::from_parts(parts, body.into()));
    }
    let code = xml_element(&text, "Code").unwrap_or_default();
    tracing::warn!(
        status = parts.status.as_u16(),
        %code,
        "the S3 server answered a write 2xx with an error for its body: the write failed"
    );
    if let Some(reason) = refusal_reason(&code) {
        return Err(ServerRefusal::of(reason, parts.status.as_u16(), &text).into_http_error());
    }
    parts.status = INTERNAL_SERVER_ERROR
        .try_into()
        .map_err(|error| HttpError::new(HttpErrorKind::Unknown, error))?;
    Ok(HttpResponse::from_parts(parts, body.into()))
}

/// HTTP 500: what a `200` carrying an error that is not for space is answered as.
const INTERNAL_SERVER_ERROR: u16 = 500;

/// Whether an XML body's root element is `<Error>`, after the whitespace a server sends
/// while it works and the XML declaration.
fn is_error_document(body: &str) -> bool {
    let mut rest = body.trim_start();
    if let Some(declared) = rest.strip_prefix("<?xml") {
        let Some(end) = declared.find("?>") else {
            return false;
        };
        rest = declared[end + 2..].trim_start();
    }
    rest.strip_prefix("<Error").is_some_and(|after| {
        after.starts_with(['>', '/']) || after.starts_with(char::is_whitespace)
    })
}

/// At most `bound` bytes of an answer's body, cut at a character's boundary (the object
/// store reads it as UTF-8 text), and whether it was cut.
async fn read_bounded(
    body: HttpResponseBody,
    bound: usize,
) -> Result<(bytes::Bytes, bool), HttpError> {
    use futures::StreamExt as _;
    let mut chunks = body.bytes_stream();
    let mut read = Vec::new();
    let mut cut = false;
    while let Some(chunk) = chunks.next().await {
        // `Unknown`: a body that broke off is not a reason to send the write again.
        let chunk = chunk.map_err(|error| HttpError::new(HttpErrorKind::Unknown, error))?;
        read.extend_from_slice(&chunk);
        if read.len() > bound {
            read.truncate(bound);
            if let Err(error) = std::str::from_utf8(&read) {
                read.truncate(error.valid_up_to());
            }
            cut = true;
            break;
        }
    }
    Ok((read.into(), cut))
}

/// An S3-compatible server's refusal of a write for want of space: out of space (507) or
/// over a quota, with its status, error code and message (for the log; the client is told
/// only which of the two, [`FullStorage`]).
#[derive(Debug, thiserror::Error)]
#[error("the S3 server refused a write: {} ({status} {code}: {message})", .reason.describe())]
pub(crate) struct ServerRefusal {
    /// Which way the server is full ([`FullStorage::NoSpace`] or
    /// [`FullStorage::StorageQuota`]).
    pub(crate) reason: FullStorage,
    status: u16,
    code: String,
    message: String,
}

impl ServerRefusal {
    /// From the XML error body (`<Error><Code>..</Code><Message>..</Message>`), what it has.
    pub(crate) fn of(reason: FullStorage, status: u16, body: &str) -> Self {
        let default_code = match reason {
            FullStorage::StorageQuota => "QuotaExceeded",
            FullStorage::NoSpace | FullStorage::DiskQuota => "InsufficientStorage",
        };
        Self {
            reason,
            status,
            code: xml_element(body, "Code").unwrap_or_else(|| default_code.to_owned()),
            message: xml_element(body, "Message").unwrap_or_default(),
        }
    }

    /// The connection's error: of kind `Unknown`, which the object store does not retry,
    /// around an `io::Error` of the kind a full local disk gives (`ENOSPC`'s, `EDQUOT`'s).
    pub(crate) fn into_http_error(self) -> HttpError {
        let kind = match self.reason {
            FullStorage::NoSpace => std::io::ErrorKind::StorageFull,
            FullStorage::DiskQuota | FullStorage::StorageQuota => std::io::ErrorKind::QuotaExceeded,
        };
        HttpError::new(HttpErrorKind::Unknown, std::io::Error::new(kind, self))
    }
}

/// The text of the first `<name>` element of an XML error body, when it has one (cut to
/// [`MAX_REFUSAL_MESSAGE_CHARS`]).
fn xml_element(body: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let start = body.find(&open)? + open.len();
    let end = start + body[start..].find(&format!("</{name}>"))?;
    Some(
        body[start..end]
            .trim()
            .chars()
            .take(MAX_REFUSAL_MESSAGE_CHARS)
            .collect(),
    )
}

/// Where a blob's bytes are.
pub(crate) fn blob_path(sha256: &str) -> Path {
    Path::from(format!("blobs/{}/{sha256}", &sha256[..2.min(sha256.len())]))
}

/// Where a blob's preview is.
pub(crate) fn preview_path(sha256: &str) -> Path {
    Path::from(format!(
        "previews/{}/{sha256}.jpg",
        &sha256[..2.min(sha256.len())]
    ))
}

/// Where an upload in progress is written.
pub(crate) fn temporary_path(upload_id: uuid::Uuid) -> Path {
    Path::from(format!("tmp/{upload_id}"))
}

/// The prefix of uploads in progress.
pub(crate) const TEMPORARY_PREFIX: &str = "tmp";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_servers_code_and_message_are_read_from_its_error_body() {
        let minio = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>XMinioStorageFull</Code>\
            <Message>Storage backend has reached its minimum free drive threshold.</Message>\
            <Resource>/b/k</Resource></Error>";
        let full = ServerRefusal::of(FullStorage::NoSpace, 507, minio);
        assert_eq!(
            (full.code.as_str(), full.message.as_str()),
            (
                "XMinioStorageFull",
                "Storage backend has reached its minimum free drive threshold."
            )
        );
        let bare = ServerRefusal::of(FullStorage::NoSpace, 507, "");
        assert_eq!(
            (bare.code.as_str(), bare.message.as_str()),
            ("InsufficientStorage", "")
        );
        assert!(
            ServerRefusal::of(
                FullStorage::NoSpace,
                507,
                "<Code>X</Code><Message>unterminated"
            )
            .message
            .is_empty()
        );
        let ceph = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>QuotaExceeded</Code>\
            <BucketName>b</BucketName><RequestId>tx1</RequestId><HostId>h</HostId></Error>";
        let quota = ServerRefusal::of(FullStorage::StorageQuota, 403, ceph);
        assert_eq!(
            quota.to_string(),
            "the S3 server refused a write: the object storage's quota is used up \
             (403 QuotaExceeded: )"
        );
    }

    /// What the S3 client's connection answers for a refused write: a quota's code (Ceph's
    /// 403, MinIO's 400) is an error the object store does not retry, carrying the
    /// refusal; an access denied (a 403 too) and a 4xx of another request are passed on
    /// as they came, body and all.
    #[tokio::test]
    async fn a_quota_refusal_is_told_apart_from_an_access_denied_by_its_code() {
        let ceph_quota = "<Error><Code>QuotaExceeded</Code><BucketName>b</BucketName></Error>";
        let minio_quota = "<Error><Code>XMinioAdminBucketQuotaExceeded</Code>\
            <Message>Bucket quota exceeded</Message></Error>";
        let denied = "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>";
        for (method, status, body, refused) in [
            ("PUT", 403, ceph_quota, true),
            ("PUT", 400, minio_quota, true),
            ("POST", 403, ceph_quota, true),
            ("PUT", 403, denied, false),
            ("GET", 403, ceph_quota, false),
            ("PUT", 200, ceph_quota, false),
        ] {
            let answer = answered(method, status, body.as_bytes().to_vec(), true).await;
            match answer {
                Err(error) => {
                    assert!(refused, "{method} {status} {body}: {error}");
                    assert_eq!(error.kind(), HttpErrorKind::Unknown, "not retried");
                    let io = std::error::Error::source(&error)
                        .and_then(|source| source.downcast_ref::<std::io::Error>())
                        .expect("an io::Error");
                    assert_eq!(io.kind(), std::io::ErrorKind::QuotaExceeded);
                    let refusal = io
                        .get_ref()
                        .and_then(|inner| inner.downcast_ref::<ServerRefusal>())
                        .expect("the refusal");
                    assert_eq!(refusal.reason, FullStorage::StorageQuota);
                    assert_eq!(refusal.status, status);
                }
                Ok(response) => {
                    assert!(!refused, "{method} {status} {body}: passed on");
                    assert_eq!(response.status().as_u16(), status);
                    let passed = response.into_body().bytes().await.expect("the body");
                    assert_eq!(passed.as_ref(), body.as_bytes(), "the body as it came");
                }
            }
        }
    }

    /// A refused write's body is read up to a bound: a longer one that declares its length
    /// is passed on unread; one that does not is cut at the bound (a character's
    /// boundary), and still told apart when its code comes first.
    #[tokio::test]
    async fn a_refused_writes_body_is_read_within_its_bound() {
        let padding = "é".repeat(MAX_ERROR_BODY_BYTES);
        let long_quota = format!("<Error><Code>QuotaExceeded</Code><Message>{padding}</Message>");
        let declared = answered("PUT", 403, long_quota.clone().into_bytes(), true)
            .await
            .expect("a long body that declares its length is passed on");
        let passed = declared.into_body().bytes().await.expect("the body");
        assert_eq!(passed.len(), long_quota.len(), "unread, whole");

        let undeclared = answered("PUT", 403, long_quota.into_bytes(), false).await;
        assert!(undeclared.is_err(), "its code came first: refused");

        let long_denied = format!("<Error><Code>AccessDenied</Code><Message>{padding}</Message>");
        let cut = answered("PUT", 403, long_denied.into_bytes(), false)
            .await
            .expect("passed on");
        let passed = cut.into_body().bytes().await.expect("the body");
        assert!(passed.len() <= MAX_ERROR_BODY_BYTES, "{}", passed.len());
        assert!(std::str::from_utf8(&passed).is_ok(), "cut at a boundary");
    }

    /// S3's "error in a 200": a completion's or a copy's `200` whose body (after
    /// whitespace) is an `<Error>` is a refusal when its code is for space (a quota's, a
    /// full MinIO's), a `500` with the same body otherwise (retried, then a failure); a
    /// result passes as it came, and so does every other request's `200`, whatever its
    /// body holds.
    #[tokio::test]
    async fn an_error_in_a_200_to_a_completion_or_a_copy_is_not_taken_for_done() {
        let error = |code: &str| {
            format!(
                "\n  \n<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code>\
                 <Message>m</Message></Error>"
            )
        };
        let result = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CompleteMultipartUploadResult>\
            <ETag>\"e\"</ETag></CompleteMultipartUploadResult>";
        let completion = ("POST", "http://s3/b/tmp/k?uploadId=u1", false);
        let copy = ("PUT", "http://s3/b/blobs/k", true);
        let part_copy = ("PUT", "http://s3/b/k?partNumber=1&uploadId=u1", true);
        for (target, body, expected) in [
            (
                completion,
                error("QuotaExceeded"),
                Err(FullStorage::StorageQuota),
            ),
            (
                completion,
                error("XMinioStorageFull"),
                Err(FullStorage::NoSpace),
            ),
            (
                copy,
                error("XMinioAdminBucketQuotaExceeded"),
                Err(FullStorage::StorageQuota),
            ),
            (
                part_copy,
                error("QuotaExceeded"),
                Err(FullStorage::StorageQuota),
            ),
            (completion, error("AccessDenied"), Ok(500)),
            (copy, error("InternalError"), Ok(500)),
            (completion, result.to_owned(), Ok(200)),
            (
                copy,
                "<CopyObjectResult><ETag>e</ETag></CopyObjectResult>".to_owned(),
                Ok(200),
            ),
            // Not requests S3 answers so: passed untouched.
            (
                ("PUT", "http://s3/b/k", false),
                error("QuotaExceeded"),
                Ok(200),
            ),
            (
                ("POST", "http://s3/b?delete", false),
                error("QuotaExceeded"),
                Ok(200),
            ),
            (
                ("POST", "http://s3/b/k?uploads", false),
                error("QuotaExceeded"),
                Ok(200),
            ),
        ] {
            let (method, uri, is_copy) = target;
            let client = FullAwareClient(HttpClient::new(Canned {
                status: 200,
                body: body.clone().into_bytes(),
                declared: false,
            }));
            let mut request = HttpRequest::new(Vec::<u8>::new().into());
            *request.method_mut() = method.parse().expect("a method");
            *request.uri_mut() = uri.parse().expect("a URI");
            if is_copy {
                request
                    .headers_mut()
                    .insert("x-amz-copy-source", "b/tmp/k".parse().expect("a header"));
            }
            match (client.call(request).await, expected) {
                (Err(error), Err(reason)) => {
                    assert_eq!(error.kind(), HttpErrorKind::Unknown, "not retried");
                    let refusal = std::error::Error::source(&error)
                        .and_then(|source| source.downcast_ref::<std::io::Error>())
                        .and_then(|io| io.get_ref())
                        .and_then(|inner| inner.downcast_ref::<ServerRefusal>())
                        .expect("the refusal");
                    assert_eq!((refusal.reason, refusal.status), (reason, 200), "{body}");
                }
                (Ok(response), Ok(status)) => {
                    assert_eq!(response.status().as_u16(), status, "{method} {uri} {body}");
                    let passed = response.into_body().bytes().await.expect("the body");
                    assert_eq!(passed.as_ref(), body.as_bytes(), "the body as it came");
                }
                (answer, expected) => panic!(
                    "{method} {uri} {body}: {:?}, expected {expected:?}",
                    answer.map(|response| response.status())
                ),
            }
        }
    }

    #[test]
    fn an_error_document_is_told_by_its_root_element() {
        for (body, is_error) in [
            ("<Error><Code>X</Code></Error>", true),
            ("  \n \n<?xml version=\"1.0\"?>\n<Error>", true),
            ("<Error xmlns=\"x\">", true),
            ("<Errors>", false),
            ("<CompleteMultipartUploadResult><Error>", false),
            (
                "<DeleteResult><Error><Code>AccessDenied</Code></Error></DeleteResult>",
                false,
            ),
            ("<?xml version=\"1.0\"", false),
            ("", false),
        ] {
            assert_eq!(is_error_document(body), is_error, "{body:?}");
        }
    }

    /// A connection whose answer is `status` with `body` (its length declared in a
    /// `content-length` or not, as a chunked answer's is not).
    #[derive(Debug)]
    struct Canned {
        status: u16,
        body: Vec<u8>,
        declared: bool,
    }

    #[async_trait::async_trait]
    impl HttpService for Canned {
        async fn call(&self, _request: HttpRequest) -> Result<HttpResponse, HttpError> {
            let mut response = HttpResponse::new(self.body.clone().into());
            *response.status_mut() = self.status.try_into().expect("a status");
            if self.declared {
                response.headers_mut().insert(
                    "content-length",
                    self.body.len().to_string().parse().expect("a header"),
                );
            }
            Ok(response)
        }
    }

    /// `method`'s answer through [`FullAwareClient`] when the server answers `status`
    /// with `body`.
    async fn answered(
        method: &str,
        status: u16,
        body: Vec<u8>,
        declared: bool,
    ) -> Result<HttpResponse, HttpError> {
        let client = FullAwareClient(HttpClient::new(Canned {
            status,
            body,
            declared,
        }));
        let mut request = HttpRequest::new(Vec::<u8>::new().into());
        *request.method_mut() = method.parse().expect("a method");
        client.call(request).await
    }
}
