//! S3's errors that are not a full server's (ADR 0069, amended): what the client is told
//! of a storage that is away or refuses (never where it is), and an error S3 sends in the
//! body of a `200` to a multipart upload's completion or to a copy (moto behind
//! `talkapp-testkit`'s [`FullS3Proxy`], which answers as S3 then does).

use std::time::Duration;

use talkapp_media_service::error::UNAVAILABLE_MESSAGE;
use talkapp_proto::tonic::{Code, Status};
use talkapp_testkit::{InBody, Refusal};
use uuid::Uuid;

use crate::full_storage::{
    ProxiedS3, assert_nothing_left, assert_stored_once_there_is_room, keys_under, write_failures,
};
use crate::helpers::{assert_storage_full, code_of, pdf_of_size};

const MIB: usize = 1024 * 1024;

/// Where the storage is, as a message must not say it: the bucket, the server's and the
/// proxy's addresses, the keys' prefixes.
fn internals_of(on: &ProxiedS3) -> Vec<String> {
    vec![
        on.bucket.clone(),
        on.endpoint.trim_start_matches("http://").to_owned(),
        on.proxy.endpoint().trim_start_matches("http://").to_owned(),
        "127.0.0.1".to_owned(),
        "tmp/".to_owned(),
        "blobs/".to_owned(),
    ]
}

/// Asserts that `status` is the storage unavailable, told without any of `internals`
/// (the log has them).
fn assert_unavailable_without(status: &Status, internals: &[String]) {
    assert_eq!(
        (status.code(), code_of(status).as_str()),
        (Code::Unavailable, "service_unavailable"),
        "{status:?}"
    );
    let message = status.message();
    for internal in internals {
        assert!(
            !message.contains(internal.as_str()),
            "{internal:?} in {message:?}"
        );
    }
    assert_eq!(message, UNAVAILABLE_MESSAGE);
}

/// Multipart uploads begun in the bucket and neither completed nor aborted.
async fn unfinished_uploads(on: &ProxiedS3) -> usize {
    let listing = reqwest::get(format!("{}/{}?uploads", on.endpoint, on.bucket))
        .await
        .expect("listed")
        .text()
        .await
        .expect("text");
    assert!(listing.contains("ListMultipartUploadsResult"), "{listing}");
    listing.matches("<Upload>").count()
}

/// An S3 server that cannot be reached (the proxy in front of it gone) under a download
/// and an upload: 503 `service_unavailable`, told "the file storage is unavailable; try
/// again later", never the endpoint, the bucket or a key (before, the message was the
/// object store's error: the request's URL, bucket and key in it).
#[tokio::test]
async fn an_unreachable_s3_server_is_unavailable_without_its_endpoint_or_bucket_in_the_answer() {
    let on = ProxiedS3::start(&[]).await;
    let internals = internals_of(&on);
    let ProxiedS3 { service, proxy, .. } = on;
    let user = Uuid::new_v4();
    let info = service
        .upload(user, "a.pdf", &pdf_of_size(64 * 1024))
        .await
        .expect("stored");
    // The only way to the server gone: its port refuses connections.
    drop(proxy);
    tokio::time::sleep(Duration::from_millis(100)).await;

    let downloaded = service
        .download(user, &info.file_id, None, None)
        .await
        .expect_err("the server is away");
    assert_unavailable_without(&downloaded, &internals);
    let uploaded = service
        .upload(user, "b.pdf", &pdf_of_size(64 * 1024 + 1))
        .await
        .expect_err("the server is away");
    assert_unavailable_without(&uploaded, &internals);
    service.stop().await;
}

/// A quota's refusal in the body of a `200` to a multipart upload's completion (Ceph's
/// `QuotaExceeded`, sent after the status and some whitespace): 507
/// `insufficient_storage` as the quota's other refusals, counted (`storage_quota`), the
/// upload aborted (no multipart upload left on the server), nothing in the bucket, no
/// rows, no quota charged; once the server completes again the same uploads are stored
/// whole. Before, object_store could not parse the body as a result: a 503.
#[tokio::test]
async fn a_quota_refusal_in_a_200_to_a_completion_is_insufficient_storage_and_leaves_nothing() {
    let _ = talkapp_common::telemetry::prometheus();
    let on = ProxiedS3::start(&[]).await;
    let failures_before = write_failures("storage_quota");
    let user = Uuid::new_v4();
    // One part and two: both complete a multipart upload (over the 8 KiB sniffed first).
    let small = pdf_of_size(64 * 1024);
    let large = pdf_of_size(9 * MIB + 17);
    on.proxy
        .fail_in_200("", InBody::Completion, Refusal::CephQuota, None);

    for (name, bytes) in [("small.pdf", &small), ("large.pdf", &large)] {
        let status = on
            .service
            .upload(user, name, bytes)
            .await
            .expect_err("refused in the completion's body");
        assert_storage_full(&status);
        assert!(
            status.message().contains("quota is used up"),
            "{name}: {status:?}"
        );
    }
    assert_eq!(on.proxy.refused(), 2, "one completion each, not retried");
    assert_eq!(write_failures("storage_quota"), failures_before + 2);
    assert_eq!(unfinished_uploads(&on).await, 0, "the uploads aborted");
    assert_nothing_left(&on.direct, &on.service, user).await;

    on.proxy.free_space();
    assert_stored_once_there_is_room(
        &on.direct,
        &on.service,
        user,
        [("large.pdf", &large), ("small.pdf", &small)],
    )
    .await;
    on.service.stop().await;
}

/// A quota's refusal in the body of a `200` to the copy that moves an upload into place
/// (`tmp/...` to `blobs/...`): 507 `insufficient_storage`, nothing in the bucket, no rows,
/// no quota charged. Before, object_store took the copy for done and deleted its source:
/// the upload answered as stored, its bytes nowhere.
#[tokio::test]
async fn a_quota_refusal_in_a_200_to_a_copy_is_insufficient_storage_not_a_file_without_bytes() {
    let _ = talkapp_common::telemetry::prometheus();
    let on = ProxiedS3::start(&[]).await;
    let user = Uuid::new_v4();
    let bytes = pdf_of_size(64 * 1024);
    let other = pdf_of_size(64 * 1024 + 1);
    on.proxy
        .fail_in_200("blobs/", InBody::Copy, Refusal::CephQuota, None);

    let status = on
        .service
        .upload(user, "a.pdf", &bytes)
        .await
        .expect_err("refused in the copy's body");
    assert_storage_full(&status);
    assert_eq!(on.proxy.refused(), 1, "not retried");
    assert_nothing_left(&on.direct, &on.service, user).await;

    on.proxy.free_space();
    assert_stored_once_there_is_room(
        &on.direct,
        &on.service,
        user,
        [("a.pdf", &bytes), ("b.pdf", &other)],
    )
    .await;
    on.service.stop().await;
}

/// An error that is not for space in the body of a `200` (here `AccessDenied`) is a
/// failure retried as a 5xx is: once, at a completion, the retry stores the upload; at
/// every copy, the upload fails after the retries with 503 `service_unavailable` (told
/// without the endpoint or the bucket), nothing left, no rows. Before, the completion's
/// failed at once (a body it could not parse) and the copy's was taken for done.
#[tokio::test]
async fn an_error_in_a_200_not_for_space_is_retried_as_a_server_error_and_never_taken_for_done() {
    let on = ProxiedS3::start(&[]).await;
    let user = Uuid::new_v4();
    let bytes = pdf_of_size(64 * 1024);

    on.proxy
        .fail_in_200("", InBody::Completion, Refusal::AccessDenied, Some(1));
    let info = on
        .service
        .upload(user, "once.pdf", &bytes)
        .await
        .expect("stored by the retry");
    on.service.assert_stored_intact(user, &info, &bytes).await;
    assert_eq!(on.proxy.refused(), 1);

    let other = pdf_of_size(64 * 1024 + 1);
    on.proxy
        .fail_in_200("blobs/", InBody::Copy, Refusal::AccessDenied, None);
    let status = on
        .service
        .upload(user, "always.pdf", &other)
        .await
        .expect_err("every copy fails");
    assert_unavailable_without(&status, &internals_of(&on));
    assert!(on.proxy.refused() > 2, "retried: {}", on.proxy.refused());
    assert_eq!(
        keys_under(&on.direct, "blobs").await.len(),
        1,
        "the first only"
    );
    assert!(keys_under(&on.direct, "tmp").await.is_empty());
    assert_eq!(
        on.service.store.media_usage(user).await.expect("usage"),
        bytes.len() as u64,
        "the first file's bytes only"
    );
    on.service.stop().await;
}
