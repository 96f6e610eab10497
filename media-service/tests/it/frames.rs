//! Preview images of videos and PDFs made by ffmpeg and pdftoppm (ADR 0034), at the
//! service's gRPC boundary: read in place from the local directory, or copied from S3 to
//! a temporary file that is removed after. `.ci/run` installs both tools.

use std::time::{Duration, Instant};

use uuid::Uuid;

use crate::helpers::{Database, Objects, TestService};
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
    if !info.has_preview {
        return None;
    }
    let (header, preview) = service
        .preview(user, &info.file_id)
        .await
        .expect("the preview");
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
    assert!(!info.has_preview);
    let (_, bytes) = service
        .download(user, &info.file_id, None, None)
        .await
        .expect("download");
    assert!(bytes == video);
    service.stop().await;
}

#[tokio::test]
async fn a_hanging_tool_is_killed_and_the_upload_answers_in_time() {
    use std::os::unix::fs::PermissionsExt as _;
    let scripts =
        std::env::temp_dir().join(format!("talkapp-frame-hang-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&scripts).expect("dir");
    let pid_file = scripts.join("pid");
    let script = scripts.join("ffmpeg");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho $$ > '{}'\nexec sleep 60\n",
            pid_file.display()
        ),
    )
    .expect("script");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let script_value = script.display().to_string();
    let service = TestService::start_with(
        Database::Sqlite,
        Objects::Local,
        &[
            ("media.ffmpeg_path", &script_value),
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
    let took = started.elapsed();
    assert!(!info.has_preview);
    assert_eq!(
        info.duration_ms,
        Some(2008),
        "the container's facts are kept"
    );
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "the answer waited for the deadline only: {took:?}"
    );
    let pid = std::fs::read_to_string(&pid_file).expect("the tool was started");
    assert!(
        !std::path::Path::new(&format!("/proc/{}", pid.trim())).exists(),
        "the hanging tool is gone (killed and reaped)"
    );
    service.stop().await;
    let _ = std::fs::remove_dir_all(&scripts);
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
