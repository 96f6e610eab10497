//! The same service on S3: an S3-compatible server on loopback (`.ci/run` starts moto's
//! server on `TALKAPP_TEST_S3_ENDPOINT`, default `http://127.0.0.1:9900`). Without one these
//! tests fail, saying so.

use talkapp_proto::tonic::Code;
use uuid::Uuid;

use crate::helpers::{
    DEFAULT_S3_ENDPOINT, Database, Objects, TestService, assert_refused, file_ref, pdf_of_size, png,
};

/// A new bucket on the test server.
pub(crate) async fn bucket() -> Objects {
    let endpoint = std::env::var("TALKAPP_TEST_S3_ENDPOINT")
        .unwrap_or_else(|_| DEFAULT_S3_ENDPOINT.to_owned());
    let bucket = format!("talkapp-test-{}", Uuid::new_v4().simple());
    let created = reqwest::Client::new()
        .put(format!("{endpoint}/{bucket}"))
        .send()
        .await
        .unwrap_or_else(|error| {
            panic!(
                "no S3-compatible server at {endpoint} ({error}): start one with \
                 `python3 -m moto.server -p 9900` (pip install 'moto[server]'), as .ci/run does"
            )
        });
    assert!(
        created.status().is_success(),
        "create bucket: {}",
        created.status()
    );
    Objects::S3 { endpoint, bucket }
}

/// A client of `bucket` on the S3 server itself, past the service (to look at or take
/// away what the service stored there).
pub(crate) fn direct_client(endpoint: &str, bucket: &str) -> object_store::aws::AmazonS3 {
    object_store::aws::AmazonS3Builder::new()
        .with_endpoint(endpoint)
        .with_bucket_name(bucket)
        .with_allow_http(true)
        .with_region("us-east-1")
        .with_access_key_id("testing")
        .with_secret_access_key("testing")
        .build()
        .expect("an S3 client")
}

#[tokio::test]
async fn files_round_trip_through_s3_in_parts_with_ranges_previews_and_deletes() {
    let service = TestService::start_with(Database::Sqlite, bucket().await, &[]).await;
    let user = Uuid::new_v4();
    // Larger than one part (8 MiB), so the multipart path is taken.
    let bytes = pdf_of_size(9 * 1024 * 1024 + 17);
    let info = service
        .upload(user, "big.pdf", &bytes)
        .await
        .expect("upload");
    assert_eq!(info.size, bytes.len() as u64);
    let (_, whole) = service
        .download(user, &info.file_id, None, None)
        .await
        .expect("download");
    assert!(whole == bytes, "the bytes come back the same");
    let (header, tail) = service
        .download(user, &info.file_id, Some(9 * 1024 * 1024), None)
        .await
        .expect("range");
    assert_eq!(header.length, 17);
    assert_eq!(tail, bytes[9 * 1024 * 1024..]);

    let photo = service
        .upload(user, "p.png", &png(400, 200))
        .await
        .expect("photo");
    let (_, preview) = service
        .preview(user, &photo.file_id)
        .await
        .expect("preview");
    assert!(image::load_from_memory(&preview).is_ok());

    service
        .client
        .clone()
        .delete(file_ref(user, &info.file_id))
        .await
        .expect("delete");
    assert_refused(
        service.download(user, &info.file_id, None, None).await,
        Code::NotFound,
        "not_found",
    );
    assert!(
        service
            .store
            .unreferenced_blobs(10)
            .await
            .expect("blobs")
            .is_empty(),
        "collected"
    );
    service.stop().await;
}

#[tokio::test]
async fn an_interrupted_upload_leaves_nothing_in_the_bucket() {
    let service = TestService::start_with(Database::Postgres, bucket().await, &[]).await;
    let user = Uuid::new_v4();
    let bytes = pdf_of_size(9 * 1024 * 1024);
    assert_refused(
        service.upload_parts(user, "cut.pdf", &bytes, false).await,
        Code::InvalidArgument,
        "upload_incomplete",
    );
    assert_eq!(service.store.media_usage(user).await.expect("usage"), 0);
    let report = service.core.sweep().await.expect("sweep");
    assert_eq!(
        report.temporary_objects, 0,
        "nothing left to sweep: the multipart upload was aborted"
    );
    service
        .upload(user, "cut.pdf", &bytes)
        .await
        .expect("a retry works");
    service.stop().await;
}

/// A voice note of 450 minutes (16 kbit/s, constant: some 55 MB, more than the 48 MiB a
/// waveform reads in order), silent but for a loud tone over its last 30 minutes: one
/// minute of each made by ffmpeg, joined by its concat demuxer (copied, not encoded
/// again).
fn voice_note_past_the_bytes_read_in_order() -> Vec<u8> {
    talkapp_testkit::voice::voice_note(450, |minute| minute >= 420)
}

#[tokio::test]
async fn a_voice_note_on_s3_past_the_bytes_read_in_order_is_drawn_to_its_end() {
    let voice = voice_note_past_the_bytes_read_in_order();
    assert!(voice.len() > 52 * 1024 * 1024, "{}", voice.len());
    let service = TestService::start_with(
        Database::Sqlite,
        bucket().await,
        &[
            ("media.max_file_bytes", "67108864"),
            ("media.quota_bytes", "134217728"),
        ],
    )
    .await;
    let user = Uuid::new_v4();
    let info = service
        .upload(user, "long.ogg", &voice)
        .await
        .expect("upload");
    assert_eq!(info.kind, "voice");
    assert!(
        info.duration_ms
            .is_some_and(|ms| ms.abs_diff(27_000_000) < 5_000),
        "{info:?}"
    );
    let waveform = info.waveform.expect("a waveform");
    // Slices of 4.5 minutes: the loud half-hour (past the 48 MiB read in order, some 410
    // minutes) fills the last six and a bit; each slice is drawn from its first 6 s.
    assert!(
        waveform[..93].iter().all(|value| *value <= 1),
        "{waveform:?}"
    );
    assert!(
        waveform[94..].iter().all(|value| *value >= 20),
        "{waveform:?}"
    );
    service.stop().await;
}
