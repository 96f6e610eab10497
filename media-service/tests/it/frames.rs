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

/// A video made by ffmpeg in `format` (`mov`, `matroska`) whose picture starts 3 s after
/// its sound: 5 s of PCM noise (96 kB a second) and 2 s of H.264 (`testsrc`, 96 x 160, 10
/// frames a second) delayed by 3 s, so its media data open with about 290 kB of sound
/// before the first video sample; its index (an MP4's `moov`, Matroska's Cues) at the end,
/// as ffmpeg writes it by default, or none when `live` (written to a pipe, as a live
/// recording is: Matroska without Cues). Returns the file and the offset of its first
/// video packet (by ffprobe).
fn video_after_seconds_of_sound(format: &str, live: bool) -> (Vec<u8>, u64) {
    late_video(format, live, LateVideo::H264)
}

/// The picture of [`late_video`].
#[derive(Clone, Copy, PartialEq, Eq)]
enum LateVideo {
    H264,
    /// VP8 with an alpha channel: ffmpeg's Matroska muxer writes each frame in a
    /// BlockGroup (for the alpha's BlockAdditions), a keyframe's without a
    /// ReferenceBlock, as a browser's transparent WebM is written.
    Vp8WithAlpha,
}

/// [`video_after_seconds_of_sound`] with the picture coded as `video` says.
fn late_video(format: &str, live: bool, video: LateVideo) -> (Vec<u8>, u64) {
    let dir = std::env::temp_dir().join(format!("talkapp-late-video-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("dir");
    let output = dir.join(format!("late.{format}"));
    let mut ffmpeg = std::process::Command::new(which("ffmpeg"));
    ffmpeg
        .args(["-nostdin", "-loglevel", "error"])
        .args(["-f", "lavfi", "-i", "anoisesrc=d=5:r=48000:a=0.5"])
        .args([
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=96x160:rate=10:duration=2",
        ])
        // Delayed on the way out (ffmpeg takes an input's own start off its timestamps).
        .args(["-map", "0:a", "-map", "1:v"])
        .args(["-c:a", "pcm_s16le"]);
    match video {
        LateVideo::H264 => ffmpeg.args(["-filter:v", "setpts=PTS+3/TB"]).args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
        ]),
        LateVideo::Vp8WithAlpha => ffmpeg
            .args(["-filter:v", "setpts=PTS+3/TB,format=yuva420p"])
            .args(["-c:v", "libvpx", "-auto-alt-ref", "0"]),
    };
    ffmpeg.args(["-f", format]);
    if live {
        let made = ffmpeg.arg("pipe:1").output().expect("ffmpeg ran");
        assert!(made.status.success(), "{made:?}");
        std::fs::write(&output, made.stdout).expect("written");
    } else {
        let status = ffmpeg.arg(&output).status().expect("ffmpeg ran");
        assert!(status.success());
    }
    let probe = std::process::Command::new(which("ffprobe"))
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "packet=pos",
        ])
        .args(["-of", "csv=p=0"])
        .arg(&output)
        .output()
        .expect("ffprobe ran");
    let first_video_sample: u64 = String::from_utf8_lossy(&probe.stdout)
        .lines()
        .next()
        .and_then(|line| line.trim().trim_end_matches(',').parse().ok())
        .unwrap_or_else(|| panic!("ffprobe: {probe:?}"));
    let video = std::fs::read(&output).expect("made");
    let _ = std::fs::remove_dir_all(&dir);
    (video, first_video_sample)
}

/// Asserts that `image` is a 96×160 preview of testsrc's colour bars, not the grey of a
/// decoder fed zeros.
fn assert_testsrc_bars(image: &image::RgbImage) {
    assert_eq!((image.width(), image.height()), (96, 160));
    let colours: std::collections::HashSet<[u8; 3]> = image
        .pixels()
        .map(|pixel| pixel.0.map(|channel| channel / 32))
        .collect();
    assert!(colours.len() >= 8, "{} colours", colours.len());
}

/// Asserts that `video` (named `name`, of type `mime`) stored on S3 is previewed from a
/// bounded copy given 16 MiB of extra bytes (testsrc's colour bars, not the grey of a
/// decoder fed zeros), and not at all with none: what its first frame needs (an MP4's first
/// samples, a Matroska keyframe's Cluster) lies in neither the copy's head nor its tail.
async fn previewed_only_with_its_middle(name: &str, video: &[u8], mime: &str) {
    let image = preview_from_a_bounded_copy(name, video, mime, "16777216")
        .await
        .expect("a preview from the head, the tail and what the index points to");
    assert_testsrc_bars(&image);

    let without = preview_from_a_bounded_copy(name, video, mime, "0").await;
    assert!(
        without.is_none(),
        "without its middle ffmpeg finds no frame in the head and the tail"
    );
}

/// The preview of `bytes` uploaded to a service on S3 whose copies for the tools hold at
/// most 64 KiB (`media.frame_max_source_bytes`) and `extra_bytes` more
/// (`media.frame_max_extra_bytes`); `None` when it gets none. The copy is removed.
async fn preview_from_a_bounded_copy(
    name: &str,
    bytes: &[u8],
    mime: &str,
    extra_bytes: &str,
) -> Option<image::RgbImage> {
    let copies =
        std::env::temp_dir().join(format!("talkapp-frame-copies-{}", Uuid::new_v4().simple()));
    let copies_value = copies.display().to_string();
    let service = TestService::start_with(
        Database::Sqlite,
        bucket().await,
        &[
            ("media.frame_temp_dir", &copies_value),
            ("media.frame_max_source_bytes", "65536"),
            ("media.frame_max_extra_bytes", extra_bytes),
        ],
    )
    .await;
    let user = Uuid::new_v4();
    let info = service.upload(user, name, bytes).await.expect("stored");
    assert_eq!(info.mime, mime);
    assert!(info.preview_pending, "{info:?}");
    let preview = await_preview(&service, user, &info.file_id).await;
    assert_eq!(
        std::fs::read_dir(&copies).expect("copies").count(),
        0,
        "the copy is removed"
    );
    service.stop().await;
    let _ = std::fs::remove_dir_all(&copies);
    preview.map(|(_, preview)| {
        image::load_from_memory(&preview)
            .expect("an image")
            .to_rgb8()
    })
}

/// A large MP4 (QuickTime) in S3 whose first video sample lies beyond the head of the
/// bounded copy: the copy takes the video's first samples where its index says they are
/// (`media.frame_max_extra_bytes`), so ffmpeg decodes the frame. With that budget 0 the
/// copy is made as before (head and index only) and the file gets no preview.
#[tokio::test]
async fn an_mp4_on_s3_whose_first_frame_lies_beyond_the_head_gets_a_preview() {
    let (video, first_video_sample) = video_after_seconds_of_sound("mov", false);
    assert!(
        first_video_sample > 4 * 65536,
        "the first video sample at {first_video_sample}"
    );
    previewed_only_with_its_middle("late.mov", &video, "video/quicktime").await;
}

/// A large Matroska video in S3 whose first video keyframe lies in neither the head nor
/// the tail of the bounded copy: its Cluster is found through the Cues and copied where
/// it is (`media.frame_max_extra_bytes`), and ffmpeg takes that keyframe. With that
/// budget 0 the copy is its head and tail only and the file gets no preview.
#[tokio::test]
async fn a_matroska_video_on_s3_whose_keyframe_lies_in_the_middle_gets_a_preview() {
    // Its first Cluster holds some 290 kB of sound, the video's first keyframe opens the
    // second, and its Cues (the index) come last.
    let (video, _) = video_after_seconds_of_sound("matroska", false);
    assert!(video.len() > 6 * 65536, "{} bytes", video.len());
    previewed_only_with_its_middle("late.mkv", &video, "video/x-matroska").await;
}

/// A large live Matroska recording in S3 (no Cues: written to a pipe) whose first video
/// keyframe lies in neither the head nor the tail of the bounded copy: its Cluster is
/// found by walking the Clusters from the first (over at most
/// `media.frame_max_extra_bytes`), copied where it is, and ffmpeg takes that keyframe.
/// With that budget 0 the copy is its head and tail only and the file gets no preview.
#[tokio::test]
async fn a_live_matroska_video_on_s3_whose_keyframe_lies_in_the_middle_gets_a_preview() {
    let (video, first_video_sample) = video_after_seconds_of_sound("matroska", true);
    let cues_id = [0x1C, 0x53, 0xBB, 0x6B];
    assert!(!video.windows(4).any(|window| window == cues_id), "no Cues");
    assert!(
        first_video_sample > 4 * 65536,
        "the first video sample at {first_video_sample}"
    );
    previewed_only_with_its_middle("live.mkv", &video, "video/x-matroska").await;
}

/// A large live Matroska recording in S3 whose video frames are each in a BlockGroup
/// (VP8 with alpha, as ffmpeg writes it), its first keyframe in neither the head nor the
/// tail of the bounded copy: the walk of its Clusters takes a group without a
/// ReferenceBlock for a keyframe, its Cluster is copied where it is, and ffmpeg takes
/// that keyframe. With the budget 0 the file gets no preview.
#[tokio::test]
async fn a_live_matroska_video_on_s3_whose_keyframes_lie_in_block_groups_gets_a_preview() {
    let (video, first_video_sample) = late_video("matroska", true, LateVideo::Vp8WithAlpha);
    let cues_id = [0x1C, 0x53, 0xBB, 0x6B];
    assert!(!video.windows(4).any(|window| window == cues_id), "no Cues");
    assert!(
        first_video_sample > 4 * 65536,
        "the first video sample at {first_video_sample}"
    );
    // A BlockGroup (0xA0, an 8-byte size) with its Block (0xA1) holds the first frame.
    let at = usize::try_from(first_video_sample).expect("small");
    assert_eq!(
        (video[at - 6], video[at - 3]),
        (0xA0, 0xA1),
        "the first video frame in a BlockGroup"
    );
    previewed_only_with_its_middle("alpha.mkv", &video, "video/x-matroska").await;
}

/// A live Matroska recording (written to a pipe: no Cues) of 10 s: PCM noise (96 kB a
/// second) and H.264 (96 x 160, 10 frames a second, a keyframe every 0.9 s), red for its
/// first 0.8 s and `testsrc`'s bars after. (Timed by its last block, at 9.98 s, its frame
/// is taken at 998 ms: the keyframe before it is the one at 0.9 s.)
fn live_matroska_turning_from_red_to_bars() -> Vec<u8> {
    let made = std::process::Command::new(which("ffmpeg"))
        .args(["-nostdin", "-loglevel", "error"])
        .args(["-f", "lavfi", "-i", "anoisesrc=d=10:r=48000:a=0.5"])
        .args(["-filter_complex"])
        .arg(
            "color=c=red:s=96x160:r=10:d=0.8[red];testsrc=s=96x160:r=10:d=9.2[bars];\
             [red][bars]concat=n=2:v=1:a=0[video]",
        )
        .args(["-map", "0:a", "-map", "[video]", "-c:a", "pcm_s16le"])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
        ])
        .args(["-g", "9", "-f", "matroska", "pipe:1"])
        .output()
        .expect("ffmpeg ran");
    assert!(made.status.success(), "{made:?}");
    made.stdout
}

/// A large live Matroska recording in S3 whose keyframe before its frame's time (0.9 s)
/// lies more than `media.frame_max_extra_bytes` (64 KiB here) after its first Cluster: the
/// walk of the Clusters from the first does not get there, so they are hopped over by
/// their sizes (each one's head read) to the one at that time, which is walked and
/// copied, and ffmpeg takes that keyframe: the bars, not the first walk's keyframe, the
/// red first frame (as before).
#[tokio::test]
async fn a_live_matroska_video_on_s3_whose_keyframe_lies_beyond_the_walk_gets_it_by_hopping() {
    let video = live_matroska_turning_from_red_to_bars();
    let cues_id = [0x1C, 0x53, 0xBB, 0x6B];
    assert!(!video.windows(4).any(|window| window == cues_id), "no Cues");
    assert!(video.len() > 10 * 65536, "{} bytes", video.len());
    let image = preview_from_a_bounded_copy("hops.mkv", &video, "video/x-matroska", "65536")
        .await
        .expect("a preview from the head and the Cluster hopped to");
    assert!(
        !mostly_red(&image),
        "the keyframe at 0.9 s, not the first frame"
    );
    assert_testsrc_bars(&image);
}

/// `matroska` with each of its Clusters' sizes made unknown (all ones, of the same
/// length), as a browser's `MediaRecorder` writes a live recording.
fn with_clusters_of_unknown_size(file: Vec<u8>) -> Vec<u8> {
    let (file, clusters) = with_cluster_sizes_unknown(file);
    assert!(clusters > 10, "{clusters} Clusters");
    file
}

/// [`with_clusters_of_unknown_size`], and how many Clusters it changed.
fn with_cluster_sizes_unknown(mut file: Vec<u8>) -> (Vec<u8>, usize) {
    // An element's id length, size length and size (a size of all ones read as is).
    let element = |file: &[u8], at: usize| -> (usize, usize, u64) {
        let id_len = file[at].leading_zeros() as usize + 1;
        let size_at = at + id_len;
        let size_len = file[size_at].leading_zeros() as usize + 1;
        let size = file[size_at + 1..size_at + size_len].iter().fold(
            u64::from(file[size_at]) & (0xFF >> size_len),
            |size, byte| (size << 8) | u64::from(*byte),
        );
        (id_len, size_len, size)
    };
    let (id_len, size_len, size) = element(&file, 0);
    let segment = id_len + size_len + usize::try_from(size).expect("small");
    let (id_len, size_len, _) = element(&file, segment);
    let mut at = segment + id_len + size_len;
    let mut clusters = 0;
    while at < file.len() {
        let (id_len, size_len, size) = element(&file, at);
        if file[at..at + 4] == [0x1F, 0x43, 0xB6, 0x75] {
            let size_at = at + id_len;
            file[size_at] = 0xFF >> (size_len - 1);
            file[size_at + 1..size_at + size_len].fill(0xFF);
            clusters += 1;
        }
        at += id_len + size_len + usize::try_from(size).expect("small");
    }
    (file, clusters)
}

/// The recording above with Clusters of unknown size, as a browser writes them: each is
/// hopped over by its children's sizes (a read of each one's header) to the next.
#[tokio::test]
async fn a_live_matroska_video_on_s3_with_clusters_of_unknown_size_gets_its_keyframe_by_hopping() {
    let video = with_clusters_of_unknown_size(live_matroska_turning_from_red_to_bars());
    let image = preview_from_a_bounded_copy("open.mkv", &video, "video/x-matroska", "65536")
        .await
        .expect("a preview from the head and the Cluster hopped to");
    assert!(
        !mostly_red(&image),
        "the keyframe at 0.9 s, not the first frame"
    );
    assert_testsrc_bars(&image);
}

/// An Ogg video (Theora, 96 x 160, 10 frames a second for 6 s, some 24 kB a frame of
/// noise over `testsrc`), made by ffmpeg.
fn theora_video() -> Vec<u8> {
    let made = std::process::Command::new(which("ffmpeg"))
        .args(["-nostdin", "-loglevel", "error"])
        .args([
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=96x160:rate=10:duration=6",
        ])
        .args(["-vf", "noise=alls=60:allf=t"])
        .args(["-c:v", "libtheora", "-q:v", "7", "-f", "ogg", "pipe:1"])
        .output()
        .expect("ffmpeg ran");
    assert!(made.status.success(), "{made:?}");
    made.stdout
}

/// An Ogg video is timed by its last Theora page's granule position and sized by its
/// header; stored on S3 over the copy limit, its frame at 600 ms lies beyond the head of
/// the bounded copy (Ogg has no index to find it by): the head's pages are followed and
/// ffmpeg is asked for the latest keyframe they hold (here the first frame), so it gets
/// a preview, with no extra bytes, rather than none.
#[tokio::test]
async fn an_ogg_video_on_s3_whose_frame_lies_beyond_the_head_gets_one_from_the_head() {
    let video = theora_video();
    assert!(video.len() > 16 * 65536, "{} bytes", video.len());
    let service = TestService::start_with(Database::Sqlite, bucket().await, &[]).await;
    let info = service
        .upload(Uuid::new_v4(), "clip.ogv", &video)
        .await
        .expect("stored");
    assert_eq!(info.mime, "video/ogg");
    assert_eq!(info.duration_ms, Some(6000), "{info:?}");
    assert_eq!((info.width, info.height), (Some(96), Some(160)));
    service.stop().await;

    let image = preview_from_a_bounded_copy("clip.ogv", &video, "video/ogg", "0")
        .await
        .expect("a preview from the head");
    assert_testsrc_bars(&image);
}

/// An Ogg video (Theora, 96 x 160, 10 frames a second for 12 s, some 13 kB a frame of
/// noise) whose first 0.8 s are red and the rest `testsrc`'s bars; a keyframe every 7
/// frames (and where libtheora sees fit: at the change), made by ffmpeg.
fn theora_video_turning_from_red_to_bars() -> Vec<u8> {
    let made = std::process::Command::new(which("ffmpeg"))
        .args(["-nostdin", "-loglevel", "error", "-filter_complex"])
        .arg(
            "color=c=red:s=96x160:r=10:d=0.8[red];testsrc=s=96x160:r=10:d=11.2[bars];\
             [red][bars]concat=n=2:v=1:a=0,noise=alls=50,noise=alls=15:allf=t",
        )
        .args([
            "-c:v",
            "libtheora",
            "-q:v",
            "7",
            "-g",
            "7",
            "-f",
            "ogg",
            "pipe:1",
        ])
        .output()
        .expect("ffmpeg ran");
    assert!(made.status.success(), "{made:?}");
    made.stdout
}

/// Whether most of `image` is red (the mean of its pixels).
fn mostly_red(image: &image::RgbImage) -> bool {
    let mut sums = [0_u64; 3];
    for pixel in image.pixels() {
        for (sum, channel) in sums.iter_mut().zip(pixel.0) {
            *sum += u64::from(channel);
        }
    }
    let [red, green, blue] = sums;
    red > 2 * green && red > 2 * blue
}

/// An Ogg video on S3 over the copy limit whose frame at 1 s (and the keyframe before it)
/// lies beyond the head of the bounded copy: the pages it needs are found by a bisection
/// on the pages' granule positions and copied after the head (within
/// `media.frame_max_extra_bytes`), and ffmpeg makes the frame at 1 s, the bars. With that
/// budget 0 the preview is the head's keyframe, as before: the first frame, red.
#[tokio::test]
async fn an_ogg_video_on_s3_whose_frame_lies_in_the_middle_gets_that_frame() {
    let video = theora_video_turning_from_red_to_bars();
    assert!(video.len() > 16 * 65536, "{} bytes", video.len());
    let image = preview_from_a_bounded_copy("turn.ogv", &video, "video/ogg", "16777216")
        .await
        .expect("a preview from the head and the pages found");
    assert!(!mostly_red(&image), "the frame at 1 s, not the first");
    assert_testsrc_bars(&image);

    let image = preview_from_a_bounded_copy("turn.ogv", &video, "video/ogg", "0")
        .await
        .expect("a preview from the head");
    assert!(mostly_red(&image), "the head's keyframe: the first frame");
}

/// A live Matroska recording (written to a pipe: no Duration, nor Cues) of 3 s of
/// lossless H.264 noise at 25 frames a second, some 12 MB in one Cluster.
fn live_matroska_of_one_long_cluster() -> Vec<u8> {
    let output = std::process::Command::new(which("ffmpeg"))
        .args(["-nostdin", "-loglevel", "error"])
        .args([
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=25:duration=3",
        ])
        .args(["-vf", "noise=alls=100:allf=t"])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-qp",
            "0",
            "-g",
            "1000",
        ])
        .args([
            "-cluster_time_limit",
            "100000",
            "-cluster_size_limit",
            "100000000",
        ])
        .args(["-f", "matroska", "pipe:1"])
        .output()
        .expect("ffmpeg ran");
    assert!(output.status.success(), "{output:?}");
    let live = output.stdout;
    assert!(live.len() > 8 * 1024 * 1024, "{} bytes", live.len());
    live
}

/// [`live_matroska_of_one_long_cluster`] stored on S3 is timed by its Cluster's last
/// block although the Cluster starts far more than 4 MiB before the end.
#[tokio::test]
async fn a_live_matroska_on_s3_whose_last_cluster_starts_long_before_its_end_is_timed() {
    let live = live_matroska_of_one_long_cluster();
    let service = TestService::start_with(Database::Sqlite, bucket().await, &[]).await;
    let user = Uuid::new_v4();
    let info = service
        .upload(user, "live.mkv", &live)
        .await
        .expect("stored");
    assert_eq!(info.mime, "video/x-matroska");
    // The last frame's end: 75 frames of 40 ms (the track's DefaultDuration), as ffmpeg
    // writes in the header of the same video made into a file (3.000 s).
    assert_eq!(info.duration_ms, Some(3000), "{info:?}");
    assert_eq!((info.width, info.height), (Some(320), Some(240)));
    service.stop().await;

    // With `media.live_webm_search_bytes` at its least (the 4 MiB tail the search
    // starts from), the Cluster, which starts further back, is not found that way: it is
    // hopped to from the first Cluster by the sizes (it is the first), and its last
    // blocks found at its end.
    let bounded = TestService::start_with(
        Database::Sqlite,
        bucket().await,
        &[("media.live_webm_search_bytes", "4194304")],
    )
    .await;
    let info = bounded
        .upload(user, "live.mkv", &live)
        .await
        .expect("stored");
    assert_eq!(info.mime, "video/x-matroska");
    assert_eq!(info.duration_ms, Some(3000), "{info:?}");
    assert_eq!((info.width, info.height), (Some(320), Some(240)));
    bounded.stop().await;
}

/// The recording above with its Cluster's size made unknown, as a browser's
/// `MediaRecorder` writes one: with `media.live_webm_search_bytes` at its least (4 MiB),
/// the Cluster, which starts some 8 MB before that, is hopped to from the first and over
/// by its children's sizes (a read of each one's header) to the Segment's end, and timed
/// by the latest block read on the way (and its length). Before, no duration.
#[tokio::test]
async fn a_live_matroska_on_s3_whose_last_cluster_of_unknown_size_starts_long_before_its_end_is_timed()
 {
    let (live, clusters) = with_cluster_sizes_unknown(live_matroska_of_one_long_cluster());
    assert_eq!(clusters, 1);
    let user = Uuid::new_v4();
    for search in ["4194304", "67108864"] {
        let service = TestService::start_with(
            Database::Sqlite,
            bucket().await,
            &[("media.live_webm_search_bytes", search)],
        )
        .await;
        let info = service
            .upload(user, "open.mkv", &live)
            .await
            .expect("stored");
        assert_eq!(info.mime, "video/x-matroska");
        // The last frame's end: 75 frames of 40 ms.
        assert_eq!(info.duration_ms, Some(3000), "search {search}: {info:?}");
        assert_eq!((info.width, info.height), (Some(320), Some(240)));
        service.stop().await;
    }
}

/// A PDF, not linearised, whose catalog, page and contents lie between two 300 kB
/// streams, its cross-reference table at the end: `PAGE_PDF`'s page (red over blue).
fn pdf_with_its_page_in_the_middle() -> Vec<u8> {
    let mut pdf = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offsets = std::collections::BTreeMap::new();
    let padding = |pdf: &mut Vec<u8>, number: u32| {
        let data: Vec<u8> = (0..300_000_u32)
            .map(|index| (index % 89) as u8 + b' ')
            .collect();
        pdf.extend_from_slice(
            format!("{number} 0 obj\n<< /Length {} >>\nstream\n", data.len()).as_bytes(),
        );
        pdf.extend_from_slice(&data);
        pdf.extend_from_slice(b"\nendstream\nendobj\n");
    };
    offsets.insert(5, pdf.len());
    padding(&mut pdf, 5);
    let content = "1 0 0 rg 0 100 300 100 re f 0 0 1 rg 0 0 300 100 re f";
    for (number, body) in [
        (1, "<< /Type /Catalog /Pages 2 0 R >>".to_owned()),
        (2, "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned()),
        (
            3,
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 200] /Contents 4 0 R /Resources << >> >>"
                .to_owned(),
        ),
        (
            4,
            format!("<< /Length {} >>\nstream\n{content}\nendstream", content.len()),
        ),
    ] {
        offsets.insert(number, pdf.len());
        pdf.extend_from_slice(format!("{number} 0 obj\n{body}\nendobj\n").as_bytes());
    }
    offsets.insert(6, pdf.len());
    padding(&mut pdf, 6);
    let xref = pdf.len();
    pdf.extend_from_slice(b"xref\n0 7\n0000000000 65535 f \n");
    for offset in offsets.values() {
        pdf.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    pdf.extend_from_slice(
        format!("trailer\n<< /Size 7 /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n").as_bytes(),
    );
    pdf
}

/// A large PDF in S3 whose first page's objects are neither in the head nor in the tail
/// of the bounded copy: they are found from its cross-reference table and copied
/// where they are (`media.frame_max_extra_bytes`), so pdftoppm renders the page. With
/// that budget 0 the copy is made as before and the file gets no preview.
#[tokio::test]
async fn a_pdf_on_s3_whose_first_page_lies_in_the_middle_gets_a_preview() {
    let pdf = pdf_with_its_page_in_the_middle();
    assert!(pdf.len() > 16 * 65536 / 2);
    let image = preview_from_a_bounded_copy("middle.pdf", &pdf, "application/pdf", "16777216")
        .await
        .expect("a preview from the head, the tail and the page's objects");
    assert_eq!(image.width(), 320);
    let top = image.get_pixel(160, 10).0;
    let bottom = image.get_pixel(160, image.height() - 10).0;
    assert!(top[0] > 200 && top[2] < 60, "red on top: {top:?}");
    assert!(bottom[2] > 200 && bottom[0] < 60, "blue below: {bottom:?}");

    let without = preview_from_a_bounded_copy("middle.pdf", &pdf, "application/pdf", "0").await;
    assert!(
        without.is_none(),
        "without the page's objects pdftoppm finds no page"
    );
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
    let s3 = crate::s3::direct_client(&endpoint, &bucket);
    let object = object_store::path::Path::from(format!("blobs/{}/{sha256}", &sha256[..2]));
    s3.delete(&object).await.expect("deleted");

    let blob = crate::helpers::settled_blob(&service, user, &info.file_id).await;
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
