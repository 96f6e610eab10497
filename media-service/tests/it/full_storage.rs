//! A storage that is full where it is not yet tested in `uploads.rs` (ADR 0069, amended):
//! a video's preview written after its upload answered, a photo's preview written in its
//! upload (both on a real, full tmpfs), an S3 server out of space or over its quota (moto
//! behind `talkapp-testkit`'s [`FullS3Proxy`], which answers object writes as a full
//! MinIO, or a Ceph RGW or MinIO over its quota, does), and a full temporary directory of
//! the preview tools (`media.frame_temp_dir` on a tmpfs) under a video stored on S3.

use std::time::{Duration, Instant};

use talkapp_proto::tonic::Code;
use talkapp_testkit::{FullS3Proxy, Refusal, Tmpfs};
use uuid::Uuid;

use crate::frames::{SlowTool, distinct_mp4, eventually};
use crate::helpers::{
    Database, Objects, TestService, assert_storage_full, code_of, pdf_of_size, png, settled_blob,
};
use crate::s3::bucket;

const MIB: u64 = 1024 * 1024;

/// `talkapp_media_write_failures_total{reason}` as this process's recorder has it now
/// (the counter is the process's: tests compare it before and after).
pub(crate) fn write_failures(reason: &str) -> u64 {
    let rendered = talkapp_common::telemetry::prometheus().render();
    let series = format!("talkapp_media_write_failures_total{{reason=\"{reason}\"}} ");
    rendered
        .lines()
        .find_map(|line| line.strip_prefix(&series))
        .map_or(0, |value| value.trim().parse().expect("a count"))
}

/// Fills what is left of `disk` with a file of its own (returned, to be removed).
fn fill_up(disk: &Tmpfs, leaving: u64) -> std::path::PathBuf {
    let filler = disk
        .dir()
        .join(format!("filler-{}", Uuid::new_v4().simple()));
    let size = disk.free_bytes() - leaving;
    std::fs::write(&filler, vec![7_u8; usize::try_from(size).expect("size")])
        .expect("filler written");
    assert_eq!(
        disk.free_bytes(),
        leaving,
        "the disk is filled up to the brim"
    );
    filler
}

/// Asks for the preview until it is made, taking `preview_pending` (being made) and
/// `insufficient_storage` (the last try found the storage full) as "not yet".
async fn preview_once_made(service: &TestService, user: Uuid, file_id: &str) -> Vec<u8> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match service.preview(user, file_id).await {
            Ok((_, preview)) => return preview,
            Err(status)
                if ["preview_pending", "insufficient_storage"]
                    .contains(&code_of(&status).as_str()) =>
            {
                assert!(
                    Instant::now() < deadline,
                    "no preview after 30 s: {status:?}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(status) => panic!("preview: {status:?}"),
        }
    }
}

/// The disk fills up after a video's upload answered and before its preview is written
/// (a real tmpfs, filled while the tool runs): the video stays stored and downloads
/// whole; no preview file, whole or partial, is left; the write is counted
/// (`no_space`); asking for the preview answers 507 `insufficient_storage` with
/// `Retry-After`, not `preview_pending` for ever (each ask tries again, and says so again
/// while the disk is full); once space is freed, asking makes it.
#[tokio::test]
async fn a_disk_that_fills_up_before_a_videos_preview_is_written_keeps_the_video_and_makes_the_preview_once_space_is_freed()
 {
    let _ = talkapp_common::telemetry::prometheus();
    // ffmpeg that says it started, then waits for the word to go on.
    let tool = SlowTool::new(
        "/bin/touch '{dir}/started'; while [ ! -e '{dir}/go' ]; do /bin/sleep 0.02; done",
    );
    let service = TestService::start_with(
        Database::Sqlite,
        Objects::Local,
        &[("media.ffmpeg_path", &tool.script)],
    )
    .await;
    let Some(disk) = Tmpfs::mount(&service.dir.join("media"), 16 * MIB) else {
        service.stop().await;
        tool.remove();
        return;
    };
    let failures_before = write_failures("no_space");
    let user = Uuid::new_v4();
    let video = distinct_mp4(41);
    let info = service.upload(user, "a.mp4", &video).await.expect("stored");
    assert!(info.preview_pending, "{info:?}");
    eventually("the preview's tool started", || tool.wrote("started")).await;

    let filler = fill_up(&disk, 0);
    std::fs::write(tool.dir.join("go"), b"").expect("go");
    let blob = settled_blob(&service, user, &info.file_id).await;
    assert!(
        blob.preview_skipped && blob.preview_size.is_none(),
        "skipped (made when asked for), not final: {blob:?}"
    );
    assert_eq!(service.core.preview_counts().skipped, 1);
    assert_eq!(write_failures("no_space"), failures_before + 1, "counted");
    assert!(
        service.stored_files("previews").is_empty(),
        "no preview file, whole or partial: {:?}",
        service.stored_files("previews")
    );
    service.assert_stored_intact(user, &info, &video).await;

    let status = service
        .preview(user, &info.file_id)
        .await
        .expect_err("no preview");
    assert_storage_full(&status);
    // That ask tried again (the tool goes on at once now): still full, still said so.
    let blob = settled_blob(&service, user, &info.file_id).await;
    assert!(blob.preview_skipped, "{blob:?}");
    assert_eq!(write_failures("no_space"), failures_before + 2);
    assert_storage_full(
        &service
            .preview(user, &info.file_id)
            .await
            .expect_err("still full"),
    );

    std::fs::remove_file(&filler).expect("filler removed");
    let preview = preview_once_made(&service, user, &info.file_id).await;
    let image = image::load_from_memory(&preview).expect("an image");
    assert_eq!((image.width(), image.height()), (96, 160));
    assert_eq!(service.stored_files("previews").len(), 1);
    service.assert_stored_intact(user, &info, &video).await;
    drop(disk);
    service.stop().await;
    tool.remove();
}

/// A photo's preview is written in its upload: with room for the photo and none for its
/// preview (a real tmpfs filled to the photo's pages), the upload is 507
/// `insufficient_storage` like any upload that finds the disk full, and nothing of it
/// stays (the photo already in place removed, no preview file, no rows, no quota); once
/// space is freed the same upload is stored with its preview.
#[tokio::test]
async fn a_disk_with_room_for_a_photo_but_not_its_preview_refuses_the_upload_and_leaves_nothing() {
    let _ = talkapp_common::telemetry::prometheus();
    let service = TestService::start(Database::Sqlite).await;
    let Some(disk) = Tmpfs::mount(&service.dir.join("media"), 16 * MIB) else {
        service.stop().await;
        return;
    };
    let failures_before = write_failures("no_space");
    let user = Uuid::new_v4();
    let photo = png(1200, 900);
    let photo_pages = (photo.len() as u64).div_ceil(4096) * 4096;
    let filler = fill_up(&disk, photo_pages);

    let status = service
        .upload(user, "photo.png", &photo)
        .await
        .expect_err("no room for the preview");
    assert_storage_full(&status);
    assert!(status.message().contains("no space left"), "{status:?}");
    for under in ["blobs", "previews", "tmp"] {
        assert!(
            service.stored_files(under).is_empty(),
            "left in {under}: {:?}",
            service.stored_files(under)
        );
    }
    assert_eq!(
        disk.free_bytes(),
        photo_pages,
        "the photo's space given back"
    );
    assert_eq!(service.store.media_usage(user).await.expect("usage"), 0);
    assert_eq!(write_failures("no_space"), failures_before + 1, "counted");

    std::fs::remove_file(&filler).expect("filler removed");
    let info = service
        .upload(user, "photo.png", &photo)
        .await
        .expect("stored once there is space");
    assert!(info.has_preview, "{info:?}");
    service.assert_stored_intact(user, &info, &photo).await;
    let (_, preview) = service
        .preview(user, &info.file_id)
        .await
        .expect("the preview");
    assert!(image::load_from_memory(&preview).is_ok());
    drop(disk);
    service.stop().await;
}

/// A media service on S3 through a proxy that can play a full server, the proxy, and a
/// client of the bucket on the server itself (for what is left in it).
async fn service_on_a_full_s3(
    overrides: &[(&str, &str)],
) -> (TestService, FullS3Proxy, object_store::aws::AmazonS3) {
    let on = ProxiedS3::start(overrides).await;
    (on.service, on.proxy, on.direct)
}

/// A media service on S3 through a [`FullS3Proxy`], with where the server and the bucket
/// are.
pub(crate) struct ProxiedS3 {
    pub(crate) service: TestService,
    pub(crate) proxy: FullS3Proxy,
    /// A client of the bucket on the server itself (for what is left in it).
    pub(crate) direct: object_store::aws::AmazonS3,
    /// The server's endpoint (`http://127.0.0.1:9900`), past the proxy.
    pub(crate) endpoint: String,
    pub(crate) bucket: String,
}

impl ProxiedS3 {
    pub(crate) async fn start(overrides: &[(&str, &str)]) -> Self {
        let Objects::S3 { endpoint, bucket } = bucket().await else {
            unreachable!("bucket() is S3")
        };
        let proxy = FullS3Proxy::start(endpoint.trim_start_matches("http://")).await;
        let direct = crate::s3::direct_client(&endpoint, &bucket);
        let service = TestService::start_with(
            Database::Sqlite,
            Objects::S3 {
                endpoint: proxy.endpoint(),
                bucket: bucket.clone(),
            },
            overrides,
        )
        .await;
        Self {
            service,
            proxy,
            direct,
            endpoint,
            bucket,
        }
    }
}

/// The keys in the bucket under `prefix`.
pub(crate) async fn keys_under(bucket: &object_store::aws::AmazonS3, prefix: &str) -> Vec<String> {
    use futures::TryStreamExt as _;
    use object_store::ObjectStore as _;
    bucket
        .list(Some(&object_store::path::Path::from(prefix)))
        .map_ok(|meta| meta.location.to_string())
        .try_collect()
        .await
        .expect("listed")
}

/// Nothing of `user`'s refused uploads is left: no object under the bucket's prefixes,
/// no usage charged.
pub(crate) async fn assert_nothing_left(
    direct: &object_store::aws::AmazonS3,
    service: &TestService,
    user: Uuid,
) {
    for prefix in ["tmp", "blobs", "previews"] {
        assert!(
            keys_under(direct, prefix).await.is_empty(),
            "left under {prefix}: {:?}",
            keys_under(direct, prefix).await
        );
    }
    assert_eq!(service.store.media_usage(user).await.expect("usage"), 0);
}

/// `files` uploaded again once the storage takes writes: each stored whole, one blob
/// each, no temporary object left.
pub(crate) async fn assert_stored_once_there_is_room(
    direct: &object_store::aws::AmazonS3,
    service: &TestService,
    user: Uuid,
    files: [(&str, &[u8]); 2],
) {
    for (name, bytes) in files {
        let info = service
            .upload(user, name, bytes)
            .await
            .expect("stored once the storage takes writes");
        service.assert_stored_intact(user, &info, bytes).await;
    }
    assert_eq!(keys_under(direct, "blobs").await.len(), 2);
    assert!(keys_under(direct, "tmp").await.is_empty());
}

/// An S3 server out of space (a 507 `XMinioStorageFull` to every object write) is 507
/// `insufficient_storage` with `Retry-After`, as a full local disk is: at once (the
/// object store does not retry it as it does other 5xx: one write refused per upload
/// part), counted (`no_space`), nothing left in the bucket, no rows, no quota;
/// once the server has space again the same uploads are stored whole. Both S3 write
/// paths: a multipart upload (over one 8 MiB part) and a single `PUT` (a small file).
#[tokio::test]
async fn an_s3_server_out_of_space_is_insufficient_storage_at_once_and_a_retry_after_freeing_space_works()
 {
    let _ = talkapp_common::telemetry::prometheus();
    let (service, proxy, direct) = service_on_a_full_s3(&[]).await;
    let failures_before = write_failures("no_space");
    let user = Uuid::new_v4();
    let large = pdf_of_size(usize::try_from(9 * MIB).expect("size") + 17);
    let small = pdf_of_size(4000);
    proxy.fill_up("");

    // The small one first: its one `PUT` is refused before it is answered. The large
    // one's second part may be in flight when its first is refused (counted late).
    for (name, bytes) in [("small.pdf", &small), ("large.pdf", &large)] {
        let started = Instant::now();
        let status = service
            .upload(user, name, bytes)
            .await
            .expect_err("the server is full");
        let took = started.elapsed();
        assert_storage_full(&status);
        assert!(
            took < Duration::from_secs(5),
            "{name}: answered in {took:?}"
        );
    }
    // Without the change each refused write is tried 11 times.
    assert!(
        (2..=3).contains(&proxy.refused()),
        "{} writes refused: the full server's answer is not retried",
        proxy.refused()
    );
    assert_eq!(write_failures("no_space"), failures_before + 2, "counted");
    assert_nothing_left(&direct, &service, user).await;

    proxy.free_space();
    assert_stored_once_there_is_room(
        &direct,
        &service,
        user,
        [("large.pdf", &large), ("small.pdf", &small)],
    )
    .await;
    service.stop().await;
}

/// An S3 server refusing preview writes (`refusal`): a photo (its preview written in the
/// upload) is refused with `insufficient_storage` and leaves nothing in the bucket; a
/// video's preview (written after the answer) is skipped and counted (`reason`), the
/// video stays whole, asking for the preview says the storage is full (and, when given,
/// says `says`); once the server takes writes again, asking makes it.
async fn previews_refused_by_s3_are_made_once_it_takes_writes(
    refusal: Refusal,
    reason: &str,
    says: Option<&str>,
    seed: u8,
) {
    let _ = talkapp_common::telemetry::prometheus();
    let (service, proxy, direct) = service_on_a_full_s3(&[]).await;
    let failures_before = write_failures(reason);
    let user = Uuid::new_v4();
    proxy.refuse("previews/", refusal);

    let photo = png(400, 200);
    assert_storage_full(
        &service
            .upload(user, "photo.png", &photo)
            .await
            .expect_err("no room for its preview"),
    );
    assert!(
        keys_under(&direct, "blobs").await.is_empty(),
        "the photo removed"
    );
    assert_eq!(service.store.media_usage(user).await.expect("usage"), 0);

    let video = distinct_mp4(seed);
    let info = service.upload(user, "a.mp4", &video).await.expect("stored");
    assert!(info.preview_pending, "{info:?}");
    let blob = settled_blob(&service, user, &info.file_id).await;
    assert!(blob.preview_skipped, "{blob:?}");
    assert_eq!(write_failures(reason), failures_before + 2, "counted");
    service.assert_stored_intact(user, &info, &video).await;
    let status = service
        .preview(user, &info.file_id)
        .await
        .expect_err("no preview");
    assert_storage_full(&status);
    if let Some(says) = says {
        assert!(status.message().contains(says), "{status:?}");
    }
    assert!(keys_under(&direct, "previews").await.is_empty());

    proxy.free_space();
    let preview = preview_once_made(&service, user, &info.file_id).await;
    assert!(image::load_from_memory(&preview).is_ok());
    assert_eq!(keys_under(&direct, "previews").await.len(), 1);
    let photo_info = service
        .upload(user, "photo.png", &photo)
        .await
        .expect("stored once the server takes writes");
    assert!(photo_info.has_preview);
    service.stop().await;
}

/// An S3 server with no space for previews (507 `XMinioStorageFull`): see
/// [`previews_refused_by_s3_are_made_once_it_takes_writes`].
#[tokio::test]
async fn an_s3_server_with_no_space_for_previews_refuses_a_photo_and_makes_a_videos_preview_once_it_has()
 {
    previews_refused_by_s3_are_made_once_it_takes_writes(Refusal::OutOfSpace, "no_space", None, 42)
        .await;
}

/// An S3 server over a bucket's or user's quota (Ceph RGW's 403 `QuotaExceeded`, MinIO's
/// 400 `XMinioAdminBucketQuotaExceeded`, to every object write) is 507
/// `insufficient_storage` with `Retry-After`, as a full server is: at once (one write
/// refused per upload, not retried), counted apart (`storage_quota`), nothing left in the
/// bucket, no rows, no quota of the user's charged; once the quota no longer refuses, the
/// same uploads are stored whole. Both S3 write paths: a multipart upload (over one 8 MiB
/// part) and a single `PUT` (a small file).
async fn a_quota_refusal_is_insufficient_storage_and_a_retry_once_lifted_works(refusal: Refusal) {
    let _ = talkapp_common::telemetry::prometheus();
    let (service, proxy, direct) = service_on_a_full_s3(&[]).await;
    let quota_failures_before = write_failures("storage_quota");
    let no_space_before = write_failures("no_space");
    let user = Uuid::new_v4();
    let large = pdf_of_size(usize::try_from(9 * MIB).expect("size") + 17);
    let small = pdf_of_size(4000);
    proxy.refuse("", refusal);

    for (name, bytes) in [("small.pdf", &small), ("large.pdf", &large)] {
        let started = Instant::now();
        let status = service
            .upload(user, name, bytes)
            .await
            .expect_err("over the quota");
        let took = started.elapsed();
        assert_storage_full(&status);
        assert!(
            status.message().contains("quota is used up"),
            "{refusal:?} {name}: {status:?}"
        );
        assert!(
            took < Duration::from_secs(5),
            "{name}: answered in {took:?}"
        );
    }
    assert!(
        (2..=3).contains(&proxy.refused()),
        "{refusal:?}: {} writes refused (each refusal once)",
        proxy.refused()
    );
    assert_eq!(
        write_failures("storage_quota"),
        quota_failures_before + 2,
        "{refusal:?}: counted"
    );
    assert_eq!(
        write_failures("no_space"),
        no_space_before,
        "not a full disk"
    );
    assert_nothing_left(&direct, &service, user).await;

    proxy.free_space();
    assert_stored_once_there_is_room(
        &direct,
        &service,
        user,
        [("large.pdf", &large), ("small.pdf", &small)],
    )
    .await;
    service.stop().await;
}

#[tokio::test]
async fn a_ceph_quota_refusal_is_insufficient_storage_at_once_and_a_retry_once_lifted_works() {
    a_quota_refusal_is_insufficient_storage_and_a_retry_once_lifted_works(Refusal::CephQuota).await;
}

#[tokio::test]
async fn a_minio_bucket_quota_refusal_is_insufficient_storage_at_once_and_a_retry_once_lifted_works()
 {
    a_quota_refusal_is_insufficient_storage_and_a_retry_once_lifted_works(
        Refusal::MinioBucketQuota,
    )
    .await;
}

/// A 403 that is not a quota (`AccessDenied`: a key without the right to write) stays
/// what it was, the storage unavailable (503 `service_unavailable`), not counted as the
/// storage being full.
#[tokio::test]
async fn an_access_denied_write_stays_unavailable_and_is_not_counted_as_a_full_storage() {
    let _ = talkapp_common::telemetry::prometheus();
    let (service, proxy, direct) = service_on_a_full_s3(&[]).await;
    let quota_failures_before = write_failures("storage_quota");
    let no_space_before = write_failures("no_space");
    let user = Uuid::new_v4();
    proxy.refuse("", Refusal::AccessDenied);

    let status = service
        .upload(user, "small.pdf", &pdf_of_size(4000))
        .await
        .expect_err("denied");
    assert_eq!(
        (status.code(), code_of(&status).as_str()),
        (Code::Unavailable, "service_unavailable"),
        "{status:?}"
    );
    assert_eq!(
        status.message(),
        talkapp_media_service::error::UNAVAILABLE_MESSAGE,
        "the cause (the endpoint, the bucket) is logged, not answered"
    );
    assert_eq!(proxy.refused(), 1, "a 4xx is not retried");
    assert_eq!(
        (write_failures("storage_quota"), write_failures("no_space")),
        (quota_failures_before, no_space_before)
    );
    assert!(keys_under(&direct, "blobs").await.is_empty());
    service.stop().await;
}

/// An S3 server whose quota refuses previews (Ceph's 403 `QuotaExceeded`), counted as
/// `storage_quota`: see [`previews_refused_by_s3_are_made_once_it_takes_writes`].
#[tokio::test]
async fn an_s3_quota_refusing_previews_refuses_a_photo_and_makes_a_videos_preview_once_lifted() {
    previews_refused_by_s3_are_made_once_it_takes_writes(
        Refusal::CephQuota,
        "storage_quota",
        Some("quota is used up"),
        43,
    )
    .await;
}

/// The preview tools' temporary directory (`media.frame_temp_dir`, where a video stored on
/// S3 is copied for ffmpeg) full: the preview is skipped and counted as a full storage
/// (`no_space`), nothing of the copy stays in it, the video stays whole, asking for the
/// preview answers 507 `insufficient_storage` (and tries again, saying so again while the
/// directory is full); once space is freed, asking makes it.
#[tokio::test]
async fn a_full_frame_temp_dir_is_counted_as_a_full_storage_and_the_preview_made_once_space_is_freed()
 {
    let _ = talkapp_common::telemetry::prometheus();
    let frames_dir =
        std::env::temp_dir().join(format!("talkapp-frame-tmpfs-{}", Uuid::new_v4().simple()));
    let Some(disk) = Tmpfs::mount(&frames_dir, MIB) else {
        return;
    };
    let frames_dir_value = frames_dir.display().to_string();
    let service = TestService::start_with(
        Database::Sqlite,
        bucket().await,
        &[("media.frame_temp_dir", &frames_dir_value)],
    )
    .await;
    let failures_before = write_failures("no_space");
    let filler = fill_up(&disk, 0);
    let copies_left = || {
        std::fs::read_dir(&frames_dir)
            .expect("the directory")
            .filter_map(Result::ok)
            .filter(|entry| {
                entry
                    .file_name()
                    .to_string_lossy()
                    .starts_with("talkapp-frame-")
            })
            .count()
    };
    let user = Uuid::new_v4();
    let video = distinct_mp4(44);
    let info = service.upload(user, "a.mp4", &video).await.expect("stored");
    assert!(info.preview_pending, "{info:?}");

    let blob = settled_blob(&service, user, &info.file_id).await;
    assert!(
        blob.preview_skipped && blob.preview_size.is_none(),
        "skipped (made when asked for), not final: {blob:?}"
    );
    assert_eq!(write_failures("no_space"), failures_before + 1, "counted");
    assert_eq!(copies_left(), 0, "the copy removed");
    service.assert_stored_intact(user, &info, &video).await;
    let status = service
        .preview(user, &info.file_id)
        .await
        .expect_err("no preview");
    assert_storage_full(&status);
    assert!(status.message().contains("no space left"), "{status:?}");
    // That ask tried again: still full, counted and said so again.
    let blob = settled_blob(&service, user, &info.file_id).await;
    assert!(blob.preview_skipped, "{blob:?}");
    assert_eq!(write_failures("no_space"), failures_before + 2);
    assert_storage_full(
        &service
            .preview(user, &info.file_id)
            .await
            .expect_err("still full"),
    );

    std::fs::remove_file(&filler).expect("filler removed");
    let preview = preview_once_made(&service, user, &info.file_id).await;
    let image = image::load_from_memory(&preview).expect("an image");
    assert_eq!((image.width(), image.height()), (96, 160));
    assert_eq!(copies_left(), 0, "the copy removed");
    service.stop().await;
    drop(disk);
    let _ = std::fs::remove_dir(&frames_dir);
}
