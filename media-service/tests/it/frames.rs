//! Preview images of videos and PDFs made by ffmpeg and pdftoppm (ADR 0034), at the
//! service's gRPC boundary: read in place from the local directory, or copied from S3 to
//! a temporary file that is removed after; made after the upload answered, from a
//! bounded queue (ADR 0049). `.ci/run` installs both tools.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use talkapp_proto::tonic::Code;
use uuid::Uuid;

use crate::helpers::{Database, Objects, TestService, assert_refused, await_preview};
use crate::s3::bucket;

const PORTRAIT_MP4: &[u8] = include_bytes!("../../fixtures/portrait.mp4");
const CLIP_WEBM: &[u8] = include_bytes!("../../fixtures/clip.webm");
const PAGE_PDF: &[u8] = include_bytes!("../../fixtures/page.pdf");

/// Uploads `bytes` and returns its preview, decoded, or `None` when it has none.
async fn upload_and_preview(
    service: &TestService,
    user: Uuid,
    name: &str,
    bytes: &[u8],
) -> Option<image::DynamicImage> {
    let info = service.upload(user, name, bytes).await.expect("uploaded");
    assert!(
        info.preview_pending && !info.has_preview,
        "{name}: made after the answer"
    );
    let (header, preview) = await_preview(service, user, &info.file_id).await?;
    assert_eq!(header.mime, "image/jpeg");
    assert!(
        !preview.windows(4).any(|window| window == b"Exif"),
        "no metadata"
    );
    Some(image::load_from_memory(&preview).expect("the preview decodes"))
}

/// An MP4 (H.264, portrait), a WebM (VP8, landscape) and a PDF page (landscape) get
/// previews of their orientation, no larger than `media.preview_max_side` (320).
async fn videos_and_a_pdf_get_preview_images(service: &TestService) {
    let user = Uuid::new_v4();
    let mp4 = upload_and_preview(service, user, "portrait.mp4", PORTRAIT_MP4)
        .await
        .expect("the MP4 has a preview (is ffmpeg installed?)");
    assert_eq!((mp4.width(), mp4.height()), (96, 160), "not enlarged");
    let webm = upload_and_preview(service, user, "clip.webm", CLIP_WEBM)
        .await
        .expect("the WebM has a preview");
    assert_eq!((webm.width(), webm.height()), (160, 120));
    let pdf = upload_and_preview(service, user, "page.pdf", PAGE_PDF)
        .await
        .expect("the PDF has a preview (is pdftoppm installed?)");
    assert_eq!(pdf.width(), 320);
    assert!((212..=214).contains(&pdf.height()), "{}", pdf.height());
}

#[tokio::test]
async fn videos_and_a_pdf_get_preview_images_read_in_place() {
    let service = TestService::start(Database::Sqlite).await;
    videos_and_a_pdf_get_preview_images(&service).await;
    service.stop().await;
}

#[tokio::test]
async fn videos_and_a_pdf_on_s3_get_preview_images_from_removed_copies() {
    let copies =
        std::env::temp_dir().join(format!("talkapp-frame-copies-{}", Uuid::new_v4().simple()));
    let copies_value = copies.display().to_string();
    let service = TestService::start_with(
        Database::Postgres,
        bucket().await,
        &[("media.frame_temp_dir", &copies_value)],
    )
    .await;
    videos_and_a_pdf_get_preview_images(&service).await;
    assert_eq!(
        std::fs::read_dir(&copies)
            .expect("the copies' directory")
            .count(),
        0,
        "every copy is removed"
    );
    service.stop().await;
    let _ = std::fs::remove_dir_all(&copies);
}

#[tokio::test]
async fn a_corrupt_video_is_stored_without_a_preview() {
    let service = TestService::start(Database::Sqlite).await;
    let user = Uuid::new_v4();
    // An MP4's `ftyp` box, then bytes that are no box at all.
    let mut video = PORTRAIT_MP4[..32].to_vec();
    video.extend((0..50_000_u32).map(|index| (index.wrapping_mul(2_654_435_761) >> 13) as u8));
    let info = service
        .upload(user, "broken.mp4", &video)
        .await
        .expect("stored all the same");
    assert_eq!(
        (info.mime.as_str(), info.kind.as_str()),
        ("video/mp4", "video")
    );
    assert!(!info.has_preview && info.preview_pending);
    assert!(
        await_preview(&service, user, &info.file_id).await.is_none(),
        "none made"
    );
    let stat = service
        .client
        .clone()
        .stat(crate::helpers::file_ref(user, &info.file_id))
        .await
        .expect("stat")
        .into_inner();
    assert!(!stat.has_preview && !stat.preview_pending, "{stat:?}");
    let (_, bytes) = service
        .download(user, &info.file_id, None, None)
        .await
        .expect("download");
    assert!(bytes == video);
    // Failed on its bytes: final, asking again does not run the tool again.
    for _ in 0..3 {
        assert_refused(
            service.preview(user, &info.file_id).await,
            Code::NotFound,
            "not_found",
        );
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let counts = service.core.preview_counts();
    assert_eq!(
        (counts.none, counts.made, counts.skipped),
        (1, 0, 0),
        "{counts:?}"
    );
    service.stop().await;
}

/// A stand-in for ffmpeg in a fresh directory: a script that first runs `before` (a
/// shell line; the tools run with an empty environment, so absolute paths), then the real
/// ffmpeg with the arguments it was given.
pub(crate) struct SlowTool {
    pub(crate) dir: PathBuf,
    pub(crate) script: String,
}

impl SlowTool {
    pub(crate) fn new(before: &str) -> Self {
        use std::os::unix::fs::PermissionsExt as _;
        let dir =
            std::env::temp_dir().join(format!("talkapp-frame-tool-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("dir");
        let ffmpeg = which("ffmpeg");
        let script = dir.join("ffmpeg");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\n{}\nexec '{}' \"$@\"\n",
                before.replace("{dir}", &dir.display().to_string()),
                ffmpeg.display()
            ),
        )
        .expect("script");
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        Self {
            script: script.display().to_string(),
            dir,
        }
    }

    /// Whether the script wrote `name` in its directory.
    pub(crate) fn wrote(&self, name: &str) -> bool {
        self.dir.join(name).exists()
    }

    pub(crate) fn remove(self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn which(tool: &str) -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join(tool))
                .find(|candidate| candidate.is_file())
        })
        .unwrap_or_else(|| panic!("{tool} on PATH"))
}

/// Waits until `done` holds (at most 30 s).
pub(crate) async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "not within 30 s: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `PORTRAIT_MP4` made distinct by `tag`: a `free` box appended (other bytes, same video).
pub(crate) fn distinct_mp4(tag: u8) -> Vec<u8> {
    let mut mp4 = PORTRAIT_MP4.to_vec();
    mp4.extend_from_slice(&16_u32.to_be_bytes());
    mp4.extend_from_slice(b"free");
    mp4.extend_from_slice(&[tag; 8]);
    mp4
}

#[tokio::test]
async fn the_upload_answers_before_a_slow_tool_and_the_preview_appears_afterwards() {
    // ffmpeg that takes 1.5 s more than it does.
    let tool = SlowTool::new("/bin/sleep 1.5");
    let service = TestService::start_with(
        Database::Postgres,
        Objects::Local,
        &[("media.ffmpeg_path", &tool.script)],
    )
    .await;
    let user = Uuid::new_v4();
    let started = Instant::now();
    let info = service
        .upload(user, "clip.webm", CLIP_WEBM)
        .await
        .expect("stored");
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(1000),
        "the answer did not wait for the tool: {took:?}"
    );
    assert!(info.preview_pending && !info.has_preview, "{info:?}");
    assert_eq!(
        info.duration_ms,
        Some(2008),
        "the container's facts at once"
    );
    assert_eq!((info.width, info.height), (Some(160), Some(120)));
    assert_refused(
        service.preview(user, &info.file_id).await,
        Code::FailedPrecondition,
        "preview_pending",
    );

    let (header, preview) = await_preview(&service, user, &info.file_id)
        .await
        .expect("made afterwards");
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "by the slow tool"
    );
    assert_eq!(header.mime, "image/jpeg");
    let image = image::load_from_memory(&preview).expect("an image");
    assert_eq!((image.width(), image.height()), (160, 120));
    let stat = service
        .client
        .clone()
        .stat(crate::helpers::file_ref(user, &info.file_id))
        .await
        .expect("stat")
        .into_inner();
    assert!(stat.has_preview && !stat.preview_pending, "{stat:?}");
    assert_eq!(service.core.preview_counts().made, 1);
    service.stop().await;
    tool.remove();
}

/// A preview skipped because the queue was full is not lost: asking for it queues it
/// again (409 `preview_pending` meanwhile), and it is made.
#[tokio::test]
async fn a_full_preview_queue_skips_the_preview_and_asking_for_it_makes_it() {
    // One worker, one place in the queue; the tool says when it starts, then takes 1 s.
    let tool = SlowTool::new("/bin/touch '{dir}/started'; /bin/sleep 1");
    let service = TestService::start_with(
        Database::Sqlite,
        Objects::Local,
        &[
            ("media.ffmpeg_path", &tool.script),
            ("media.frame_concurrency", "1"),
            ("media.preview_queue", "1"),
        ],
    )
    .await;
    let user = Uuid::new_v4();
    let first = service
        .upload(user, "a.mp4", &distinct_mp4(1))
        .await
        .expect("stored");
    assert!(first.preview_pending);
    eventually("the first preview is being made", || tool.wrote("started")).await;
    let queued = service
        .upload(user, "b.webm", CLIP_WEBM)
        .await
        .expect("stored");
    assert!(queued.preview_pending, "it waits in the queue");
    let started = Instant::now();
    let skipped = service
        .upload(user, "c.mp4", &distinct_mp4(2))
        .await
        .expect("stored all the same");
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "no wait for a place in the queue"
    );
    assert!(
        skipped.preview_pending && !skipped.has_preview,
        "skipped, to be made when asked for: {skipped:?}"
    );
    assert_eq!(service.core.preview_counts().skipped, 1);
    let skipped_blob = service
        .store
        .media_file(user, skipped.file_id.parse().expect("uuid"))
        .await
        .expect("read")
        .expect("the file")
        .blob;
    assert!(
        skipped_blob.preview_skipped && !skipped_blob.preview_pending,
        "recorded as skipped: {skipped_blob:?}"
    );
    assert!(
        service
            .store
            .blobs_awaiting_preview(talkapp_store::now(), 10)
            .await
            .expect("awaiting")
            .iter()
            .all(|blob| blob.sha256 != skipped_blob.sha256),
        "not queued again by the sweep: only when asked for"
    );

    for file in [&first, &queued, &skipped] {
        assert!(
            await_preview(&service, user, &file.file_id).await.is_some(),
            "{} made",
            file.file_name
        );
    }
    let counts = service.core.preview_counts();
    assert_eq!((counts.made, counts.skipped), (3, 1), "{counts:?}");
    service.stop().await;
    tool.remove();
}

/// A file deleted while its preview is being made leaves no object and no row.
async fn a_file_deleted_while_its_preview_is_made_leaves_nothing_behind(objects: Objects) {
    let tool = SlowTool::new("/bin/touch '{dir}/started'; /bin/sleep 1");
    let service = TestService::start_with(
        Database::Sqlite,
        objects.clone(),
        &[("media.ffmpeg_path", &tool.script)],
    )
    .await;
    let user = Uuid::new_v4();
    let info = service
        .upload(user, "clip.webm", CLIP_WEBM)
        .await
        .expect("stored");
    assert!(info.preview_pending);
    eventually("the preview is being made", || tool.wrote("started")).await;
    service
        .client
        .clone()
        .delete(crate::helpers::file_ref(user, &info.file_id))
        .await
        .expect("deleted");
    let core = service.core.clone();
    eventually("the preview's worker is done", || {
        core.preview_counts().gone == 1
    })
    .await;
    assert_eq!(service.core.preview_counts().made, 0);
    match &objects {
        Objects::Local => {
            for under in ["blobs", "previews", "tmp"] {
                assert!(
                    service.stored_files(under).is_empty(),
                    "{under}: {:?}",
                    service.stored_files(under)
                );
            }
        }
        Objects::S3 { endpoint, bucket } => {
            let listing = reqwest::get(format!("{endpoint}/{bucket}?list-type=2"))
                .await
                .expect("list")
                .text()
                .await
                .expect("listing");
            assert!(!listing.contains("<Key>"), "objects left: {listing}");
        }
    }
    assert!(
        service
            .store
            .blobs_awaiting_preview(talkapp_store::now(), 10)
            .await
            .expect("awaiting")
            .is_empty()
    );
    assert_eq!(service.store.media_usage(user).await.expect("usage"), 0);
    service.stop().await;
    tool.remove();
}

#[tokio::test]
async fn a_file_deleted_while_its_preview_is_made_leaves_nothing_behind_locally() {
    a_file_deleted_while_its_preview_is_made_leaves_nothing_behind(Objects::Local).await;
}

#[tokio::test]
async fn a_file_deleted_while_its_preview_is_made_leaves_nothing_behind_on_s3() {
    a_file_deleted_while_its_preview_is_made_leaves_nothing_behind(bucket().await).await;
}

#[tokio::test]
async fn a_hanging_tool_is_killed_at_its_deadline_and_the_file_has_no_preview() {
    let tool = SlowTool::new("echo $$ > '{dir}/pid'; exec /bin/sleep 60");
    let service = TestService::start_with(
        Database::Sqlite,
        Objects::Local,
        &[
            ("media.ffmpeg_path", &tool.script),
            ("media.frame_timeout_ms", "1000"),
        ],
    )
    .await;
    let user = Uuid::new_v4();
    let started = Instant::now();
    let info = service
        .upload(user, "clip.webm", CLIP_WEBM)
        .await
        .expect("stored all the same");
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "the answer does not wait for the tool"
    );
    assert!(info.preview_pending);
    assert_eq!(
        info.duration_ms,
        Some(2008),
        "the container's facts are kept"
    );
    assert!(await_preview(&service, user, &info.file_id).await.is_none());
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "given up at the deadline: {took:?}"
    );
    let pid = std::fs::read_to_string(tool.dir.join("pid")).expect("the tool was started");
    assert!(
        !Path::new(&format!("/proc/{}", pid.trim())).exists(),
        "the hanging tool is gone (killed and reaped)"
    );
    service.stop().await;
    tool.remove();
}

#[tokio::test]
async fn a_preview_pending_when_the_service_stopped_is_made_after_its_restart() {
    // The first process's tool hangs past its stop; the second's is the real one.
    let tool = SlowTool::new("/bin/touch '{dir}/started'; exec /bin/sleep 60");
    let service = TestService::start_with(
        Database::Postgres,
        Objects::Local,
        &[("media.ffmpeg_path", &tool.script)],
    )
    .await;
    let user = Uuid::new_v4();
    let info = service
        .upload(user, "clip.webm", CLIP_WEBM)
        .await
        .expect("stored");
    assert!(info.preview_pending);
    eventually("the preview is being made", || tool.wrote("started")).await;

    let ffmpeg = which("ffmpeg").display().to_string();
    let service = service
        .restart_with(&[("media.ffmpeg_path", &ffmpeg)])
        .await;
    let (_, preview) = await_preview(&service, user, &info.file_id)
        .await
        .expect("made by the restarted service");
    assert!(image::load_from_memory(&preview).is_ok());
    assert_eq!(service.core.preview_counts().made, 1);
    service.stop().await;
    tool.remove();
}

/// More previews pending at a restart than its queue holds: the workers take them from
/// the store as they are free, oldest first, and none is skipped for want of room (the
/// sweep, which queued them, skipped what did not fit).
#[tokio::test]
async fn more_previews_pending_at_a_restart_than_the_queue_holds_are_all_made() {
    // The first process's tool hangs; it holds one, three wait in its queue.
    let tool = SlowTool::new("/bin/touch '{dir}/started'; exec /bin/sleep 60");
    let service = TestService::start_with(
        Database::Sqlite,
        Objects::Local,
        &[
            ("media.ffmpeg_path", &tool.script),
            ("media.frame_concurrency", "1"),
            ("media.preview_queue", "3"),
        ],
    )
    .await;
    let user = Uuid::new_v4();
    let mut files = Vec::new();
    for tag in 11..15 {
        let info = service
            .upload(user, &format!("{tag}.mp4"), &distinct_mp4(tag))
            .await
            .expect("stored");
        assert!(info.preview_pending);
        files.push(info);
        eventually("the first preview is being made", || tool.wrote("started")).await;
    }
    assert_eq!(service.core.preview_counts().skipped, 0, "all four fit");

    // Started again with the real ffmpeg and room for one in its queue.
    let ffmpeg = which("ffmpeg").display().to_string();
    let service = service
        .restart_with(&[("media.ffmpeg_path", &ffmpeg), ("media.preview_queue", "1")])
        .await;
    let core = service.core.clone();
    eventually("the four previews are made", || {
        core.preview_counts().made == 4
    })
    .await;
    let counts = service.core.preview_counts();
    assert_eq!(
        (counts.skipped, counts.from_store),
        (0, 4),
        "none skipped: {counts:?}"
    );
    for file in &files {
        let blob = service
            .store
            .media_file(user, file.file_id.parse().expect("uuid"))
            .await
            .expect("read")
            .expect("the file")
            .blob;
        assert!(
            blob.preview_size.is_some() && !blob.preview_skipped,
            "{blob:?}"
        );
    }
    service.stop().await;
    tool.remove();
}

#[tokio::test]
async fn a_missing_tool_means_no_preview_and_the_upload_still_succeeds() {
    let service = TestService::start_with(
        Database::Sqlite,
        Objects::Local,
        &[
            ("media.ffmpeg_path", "/nonexistent/ffmpeg"),
            ("media.pdftoppm_path", "/nonexistent/pdftoppm"),
        ],
    )
    .await;
    let user = Uuid::new_v4();
    for (name, bytes) in [("clip.webm", CLIP_WEBM), ("page.pdf", PAGE_PDF)] {
        let info = service.upload(user, name, bytes).await.expect("stored");
        assert!(!info.has_preview, "{name}");
    }
    service.stop().await;
}

/// `PORTRAIT_MP4` with its `moov` moved after its `mdat` (ffmpeg, by default), then
/// `padding` bytes of `free` boxes before the `moov` and after it: an index in the middle.
fn mp4_with_its_index_in_the_middle(padding: u32) -> Vec<u8> {
    let dir = std::env::temp_dir().join(format!("talkapp-remux-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("dir");
    let (input, output) = (dir.join("in.mp4"), dir.join("out.mp4"));
    std::fs::write(&input, PORTRAIT_MP4).expect("written");
    let status = std::process::Command::new(which("ffmpeg"))
        .args(["-nostdin", "-loglevel", "error", "-i"])
        .arg(&input)
        .args(["-c", "copy", "-f", "mp4"])
        .arg(&output)
        .status()
        .expect("ffmpeg ran");
    assert!(status.success());
    let remuxed = std::fs::read(&output).expect("remuxed");
    let _ = std::fs::remove_dir_all(&dir);
    // The top-level boxes: `moov` last.
    let mut at = 0;
    let mut moov = None;
    while at + 8 <= remuxed.len() {
        let size = u32::from_be_bytes(remuxed[at..at + 4].try_into().expect("4")) as usize;
        if &remuxed[at + 4..at + 8] == b"moov" {
            moov = Some(at..at + size);
        }
        at += size.max(8);
    }
    let moov = moov.expect("a moov");
    assert_eq!(moov.end, remuxed.len(), "ffmpeg writes the index last");
    let free = |size: u32| {
        let mut free = (size + 8).to_be_bytes().to_vec();
        free.extend_from_slice(b"free");
        free.resize(size as usize + 8, 0);
        free
    };
    [
        &remuxed[..moov.start],
        &free(padding),
        &remuxed[moov.clone()],
        &free(padding),
    ]
    .concat()
}

/// A large MP4 in S3 whose index (`moov`) is neither in its head nor its tail: the copy
/// for ffmpeg takes the index where it is (found by ranged reads of the boxes' headers),
/// still within `media.frame_max_source_bytes`.
#[tokio::test]
async fn an_mp4_on_s3_with_its_index_in_the_middle_gets_a_preview_from_a_bounded_copy() {
    let copies =
        std::env::temp_dir().join(format!("talkapp-frame-copies-{}", Uuid::new_v4().simple()));
    let copies_value = copies.display().to_string();
    let service = TestService::start_with(
        Database::Sqlite,
        bucket().await,
        &[
            ("media.frame_temp_dir", &copies_value),
            ("media.frame_max_source_bytes", "65536"),
        ],
    )
    .await;
    let user = Uuid::new_v4();
    let video = mp4_with_its_index_in_the_middle(1024 * 1024);
    assert!(video.len() > 65536 * 16);
    let info = service
        .upload(user, "middle.mp4", &video)
        .await
        .expect("stored");
    assert!(
        info.preview_pending && info.duration_ms.is_some(),
        "{info:?}"
    );
    let (_, preview) = await_preview(&service, user, &info.file_id)
        .await
        .expect("a preview from the head and the index");
    let image = image::load_from_memory(&preview).expect("an image");
    assert_eq!((image.width(), image.height()), (96, 160));
    assert_eq!(
        std::fs::read_dir(&copies).expect("copies").count(),
        0,
        "the copy is removed"
    );
    service.stop().await;
    let _ = std::fs::remove_dir_all(&copies);
}

/// A preview whose copy from storage failed (the object was not there when its worker
/// came to it) was turned away by the load, not by the bytes: it is recorded skipped, and
/// made when asked for once storage answers again.
#[tokio::test]
async fn a_preview_whose_copy_from_storage_failed_is_skipped_and_made_when_asked_for() {
    // One worker, kept busy for a second by the first video's preview.
    let tool = SlowTool::new("/bin/touch '{dir}/started'; /bin/sleep 1");
    let objects = bucket().await;
    let Objects::S3 { endpoint, bucket } = objects.clone() else {
        unreachable!("bucket() is S3")
    };
    let service = TestService::start_with(
        Database::Sqlite,
        objects,
        &[
            ("media.ffmpeg_path", &tool.script),
            ("media.frame_concurrency", "1"),
        ],
    )
    .await;
    let user = Uuid::new_v4();
    service
        .upload(user, "a.mp4", &distinct_mp4(1))
        .await
        .expect("stored");
    eventually("the first preview is being made", || tool.wrote("started")).await;
    let video = distinct_mp4(2);
    let info = service.upload(user, "b.mp4", &video).await.expect("stored");
    assert!(info.preview_pending, "it waits in the queue");
    let file_id: Uuid = info.file_id.parse().expect("uuid");
    let sha256 = service
        .store
        .media_file(user, file_id)
        .await
        .expect("read")
        .expect("the file")
        .blob
        .sha256;
    // The object goes from under the service before the worker copies it.
    use object_store::ObjectStoreExt as _;
    let s3 = object_store::aws::AmazonS3Builder::new()
        .with_endpoint(&endpoint)
        .with_bucket_name(&bucket)
        .with_allow_http(true)
        .with_region("us-east-1")
        .with_access_key_id("testing")
        .with_secret_access_key("testing")
        .build()
        .expect("an S3 client");
    let object = object_store::path::Path::from(format!("blobs/{}/{sha256}", &sha256[..2]));
    s3.delete(&object).await.expect("deleted");

    let deadline = Instant::now() + Duration::from_secs(30);
    let blob = loop {
        let blob = service
            .store
            .media_file(user, file_id)
            .await
            .expect("read")
            .expect("the file")
            .blob;
        if !blob.preview_pending {
            break blob;
        }
        assert!(Instant::now() < deadline, "still pending after 30 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        blob.preview_skipped && blob.preview_size.is_none(),
        "recorded skipped (made when asked for), not final: {blob:?}"
    );
    let counts = service.core.preview_counts();
    assert_eq!(
        (counts.made, counts.skipped, counts.none),
        (1, 1, 0),
        "{counts:?}"
    );

    // Storage answers again; the first ask queues it again.
    s3.put(&object, video.into()).await.expect("put back");
    assert_refused(
        service.preview(user, &info.file_id).await,
        Code::FailedPrecondition,
        "preview_pending",
    );
    let (_, preview) = await_preview(&service, user, &info.file_id)
        .await
        .expect("made when asked for");
    let image = image::load_from_memory(&preview).expect("an image");
    assert_eq!((image.width(), image.height()), (96, 160));
    let counts = service.core.preview_counts();
    assert_eq!((counts.made, counts.skipped), (2, 1), "{counts:?}");
    service.stop().await;
    tool.remove();
}
