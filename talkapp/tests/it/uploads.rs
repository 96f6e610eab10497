//! Uploaded files end to end: `POST /upload` (multipart and raw, streamed through the
//! gateway to the media service), `GET`/`HEAD /media/{file_id}`, previews, signed links,
//! deletes, and the bad inputs (each a problem+json, nothing left behind).

use std::time::Duration;

use serde_json::Value;
use tokio::io::AsyncWriteExt as _;

use crate::helpers::{TestApp, assert_problem, spawn_app, spawn_app_with};

const BOUNDARY: &str = "talkapp-test-boundary-7MA4YWxkTrZu0gW";

/// A `multipart/form-data` body: an optional `filename` field, then the `file` part.
fn multipart(filename_field: Option<&str>, part_name: &str, bytes: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    if let Some(name) = filename_field {
        body.extend(format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"filename\"\r\n\r\n{name}\r\n"
        ).as_bytes());
    }
    body.extend(format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{part_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    ).as_bytes());
    body.extend(bytes);
    body.extend(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    body
}

fn png(width: u32, height: u32) -> Vec<u8> {
    // A real PNG (1-bit grey, stored deflate blocks), built here without an image crate.
    let mut raw = Vec::new();
    let row_bytes = width.div_ceil(8) as usize;
    for y in 0..height {
        raw.push(0);
        raw.extend((0..row_bytes).map(|x| {
            if (x as u32 + y).is_multiple_of(2) {
                0xAA
            } else {
                0x55
            }
        }));
    }
    let mut zlib = vec![0x78, 0x01];
    for (index, block) in raw.chunks(65_535).enumerate() {
        let last = index == raw.len().div_ceil(65_535) - 1;
        zlib.push(u8::from(last));
        let length = u16::try_from(block.len()).expect("block");
        zlib.extend(length.to_le_bytes());
        zlib.extend((!length).to_le_bytes());
        zlib.extend(block);
    }
    let (mut a, mut b) = (1_u32, 0_u32);
    for byte in &raw {
        a = (a + u32::from(*byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    zlib.extend(((b << 16) | a).to_be_bytes());
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut chunk = |kind: &[u8], data: &[u8]| {
        png.extend(u32::try_from(data.len()).expect("len").to_be_bytes());
        let mut crc_input = kind.to_vec();
        crc_input.extend(data);
        png.extend(&crc_input);
        png.extend(crc32(&crc_input).to_be_bytes());
    };
    let mut ihdr = width.to_be_bytes().to_vec();
    ihdr.extend(height.to_be_bytes());
    ihdr.extend([1, 0, 0, 0, 0]);
    chunk(b"IHDR", &ihdr);
    chunk(b"IDAT", &zlib);
    chunk(b"IEND", &[]);
    png
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFF_u32;
    for byte in bytes {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

struct Uploader<'a> {
    app: &'a TestApp,
    token: String,
}

impl<'a> Uploader<'a> {
    async fn new(app: &'a TestApp, email: &str) -> Self {
        let login = app.signed_in_user(email).await;
        Self {
            app,
            token: login["access_token"].as_str().expect("token").to_owned(),
        }
    }

    async fn upload_form(&self, body: Vec<u8>) -> reqwest::Response {
        self.app
            .client
            .post(self.app.url("/upload"))
            .bearer_auth(&self.token)
            .header(
                "content-type",
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .body(body)
            .send()
            .await
            .expect("sent")
    }

    async fn upload_raw(
        &self,
        content_type: &str,
        query: &str,
        body: Vec<u8>,
    ) -> reqwest::Response {
        self.app
            .client
            .post(self.app.url(&format!("/upload{query}")))
            .bearer_auth(&self.token)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("sent")
    }

    /// The preview of a file once it is made (409 `preview_pending` meanwhile, with a
    /// `Retry-After`); `None` when it ends without one (404).
    async fn made_preview(&self, file_id: &str) -> Option<Vec<u8>> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let response = self
                .request(reqwest::Method::GET, &format!("/media/{file_id}/preview"))
                .send()
                .await
                .expect("preview");
            match response.status().as_u16() {
                200 => {
                    assert_eq!(response.headers()["content-type"], "image/jpeg");
                    return Some(response.bytes().await.expect("body").to_vec());
                }
                404 => return None,
                _ => {
                    assert_eq!(response.headers()["retry-after"], "1");
                    assert_problem(response, 409, "preview_pending").await;
                    assert!(
                        tokio::time::Instant::now() < deadline,
                        "the preview of {file_id} is still pending after 30 s"
                    );
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.app
            .client
            .request(method, self.app.url(path))
            .bearer_auth(&self.token)
    }
}

async fn created(response: reqwest::Response) -> Value {
    let status = response.status();
    let body: Value = response.json().await.expect("json");
    assert_eq!(status, 201, "{body}");
    body
}

/// Files under the backend's local media directory (`blobs`, `previews`, `tmp`).
fn stored_files(app: &TestApp, under: &str) -> usize {
    fn walk(dir: &std::path::Path) -> usize {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return 0;
        };
        entries
            .flatten()
            .map(|entry| {
                if entry.path().is_dir() {
                    walk(&entry.path())
                } else {
                    1
                }
            })
            .sum()
    }
    walk(&app.data_dir().join("media").join(under))
}

#[tokio::test]
async fn an_uploaded_photo_is_served_with_ranges_validators_a_preview_and_a_signed_link() {
    let app = spawn_app().await;
    let ada = Uploader::new(&app, "ada@example.com").await;
    let bytes = png(640, 480);

    let file = created(
        ada.upload_form(multipart(Some("Holiday photo.png"), "ignored.bin", &bytes))
            .await,
    )
    .await;
    assert_eq!(file["mime"], "image/png");
    assert_eq!(file["kind"], "photo");
    assert_eq!(file["size"], bytes.len());
    assert_eq!(
        (file["width"].as_u64(), file["height"].as_u64()),
        (Some(640), Some(480))
    );
    assert_eq!(file["file_name"], "Holiday photo.png");
    let file_id = file["file_id"].as_str().expect("id").to_owned();
    assert_eq!(file["preview_id"], file_id.as_str());
    let etag = format!("\"{}\"", file["sha256"].as_str().expect("sha"));

    let whole = ada
        .request(reqwest::Method::GET, &format!("/media/{file_id}"))
        .send()
        .await
        .expect("get");
    assert_eq!(whole.status(), 200);
    let headers = whole.headers().clone();
    assert_eq!(headers["content-type"], "image/png");
    assert_eq!(headers["etag"], etag.as_str());
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(
        headers["content-security-policy"]
            .to_str()
            .expect("csp")
            .contains("sandbox")
    );
    assert!(
        headers["content-disposition"]
            .to_str()
            .expect("cd")
            .starts_with("inline; filename=\"Holiday photo.png\"")
    );
    assert_eq!(whole.bytes().await.expect("body"), bytes);

    let ranged = ada
        .request(reqwest::Method::GET, &format!("/media/{file_id}"))
        .header("range", "bytes=8-23")
        .send()
        .await
        .expect("range");
    assert_eq!(ranged.status(), 206);
    assert_eq!(
        ranged.headers()["content-range"],
        format!("bytes 8-23/{}", bytes.len()).as_str()
    );
    assert_eq!(ranged.bytes().await.expect("body"), bytes[8..24]);

    let outside = ada
        .request(reqwest::Method::GET, &format!("/media/{file_id}"))
        .header("range", format!("bytes={}-", bytes.len() + 10))
        .send()
        .await
        .expect("range");
    assert_eq!(
        outside.headers()["content-range"],
        format!("bytes */{}", bytes.len()).as_str()
    );
    assert_problem(outside, 416, "range_not_satisfiable").await;

    let cached = ada
        .request(reqwest::Method::GET, &format!("/media/{file_id}"))
        .header("if-none-match", &etag)
        .send()
        .await
        .expect("conditional");
    assert_eq!(cached.status(), 304);

    let head = ada
        .request(reqwest::Method::HEAD, &format!("/media/{file_id}"))
        .send()
        .await
        .expect("head");
    assert_eq!(head.status(), 200);
    assert_eq!(
        head.headers()["content-length"],
        bytes.len().to_string().as_str()
    );
    assert!(head.bytes().await.expect("body").is_empty());

    let preview = ada
        .request(reqwest::Method::GET, &format!("/media/{file_id}/preview"))
        .send()
        .await
        .expect("preview");
    assert_eq!(preview.status(), 200);
    assert_eq!(preview.headers()["content-type"], "image/jpeg");
    let preview = preview.bytes().await.expect("body");
    assert!(preview.starts_with(&[0xFF, 0xD8, 0xFF]), "a JPEG");

    let link = ada
        .request(reqwest::Method::POST, &format!("/media/{file_id}/url"))
        .send()
        .await
        .expect("url");
    let link: Value = created(link).await;
    let url = link["url"].as_str().expect("url");
    assert!(url.starts_with("/media/t/"), "{url}");
    let by_link = app
        .client
        .get(app.url(url))
        .header("range", "bytes=0-7")
        .send()
        .await
        .expect("by link");
    assert_eq!(by_link.status(), 206, "no token needed");
    assert_eq!(by_link.bytes().await.expect("body"), bytes[..8]);
    app.stop().await;
}

#[tokio::test]
async fn the_bytes_decide_the_type_and_active_types_are_attachments() {
    let app = spawn_app().await;
    let ada = Uploader::new(&app, "ada@example.com").await;
    // A lying Content-Type and name: the bytes are HTML.
    let html = b"<!DOCTYPE html><script>alert(1)</script>".to_vec();
    let file = created(
        ada.upload_raw("image/png", "?filename=cat.png", html.clone())
            .await,
    )
    .await;
    assert_eq!(file["mime"], "text/html");
    assert_eq!(file["kind"], "document");
    let served = ada
        .request(
            reqwest::Method::GET,
            &format!("/media/{}", file["file_id"].as_str().expect("id")),
        )
        .send()
        .await
        .expect("get");
    assert_eq!(served.headers()["content-type"], "text/html");
    assert!(
        served.headers()["content-disposition"]
            .to_str()
            .expect("cd")
            .starts_with("attachment")
    );
    assert!(
        served.headers()["content-security-policy"]
            .to_str()
            .expect("csp")
            .contains("sandbox")
    );
    assert_eq!(served.headers()["x-content-type-options"], "nosniff");

    let named = created(
        ada.upload_raw(
            "text/plain",
            "?filename=..%2F..%2Fevil%E2%80%AEgpj.exe",
            b"plain".to_vec(),
        )
        .await,
    )
    .await;
    assert_eq!(named["file_name"], "evilgpj.exe");
    app.stop().await;
}

/// A baseline JPEG's width and height, from its SOF0 segment.
fn jpeg_size(bytes: &[u8]) -> Option<(u32, u32)> {
    if !bytes.starts_with(&[0xFF, 0xD8]) {
        return None;
    }
    let mut at = 2;
    while at + 9 <= bytes.len() && bytes[at] == 0xFF {
        let length = usize::from(u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]));
        if bytes[at + 1] == 0xC0 {
            let number =
                |offset: usize| u32::from(u16::from_be_bytes([bytes[offset], bytes[offset + 1]]));
            return Some((number(at + 7), number(at + 5)));
        }
        at += 2 + length;
    }
    None
}

#[tokio::test]
async fn webm_and_mp3_uploads_tell_their_durations_and_a_voice_note_its_waveform() {
    let app = spawn_app().await;
    let ada = Uploader::new(&app, "ada@example.com").await;
    let seconds = |file: &Value| file["duration"].as_f64().expect("a duration");

    // A real VP8 + Opus WebM (2 s, 160×120), sent as a form.
    let webm = created(
        ada.upload_form(multipart(
            None,
            "clip.webm",
            include_bytes!("../../../media-service/fixtures/clip.webm"),
        ))
        .await,
    )
    .await;
    assert_eq!(
        (webm["mime"].as_str(), webm["kind"].as_str()),
        (Some("video/webm"), Some("video"))
    );
    assert!((seconds(&webm) - 2.01).abs() < 0.06, "{webm}");
    assert_eq!(
        (webm["width"].as_u64(), webm["height"].as_u64()),
        (Some(160), Some(120))
    );
    // A frame of it, made by ffmpeg (ADR 0034) after the answer (ADR 0049), is its
    // preview.
    assert_eq!(webm["preview_pending"], true, "{webm}");
    assert!(webm.get("preview_id").is_none(), "not made yet: {webm}");
    let frame = ada
        .made_preview(webm["file_id"].as_str().expect("id"))
        .await
        .expect("a frame of the WebM (is ffmpeg installed?)");
    assert_eq!(jpeg_size(&frame), Some((160, 120)));

    // A real LAME MP3 (3 s at 32 kbit/s behind an ID3v2 tag), raw.
    let mp3 = created(
        ada.upload_raw(
            "application/octet-stream",
            "?filename=tone.mp3",
            include_bytes!("../../../media-service/fixtures/cbr.mp3").to_vec(),
        )
        .await,
    )
    .await;
    assert_eq!(
        (mp3["mime"].as_str(), mp3["kind"].as_str()),
        (Some("audio/mpeg"), Some("audio"))
    );
    assert!((seconds(&mp3) - 3.03).abs() < 0.06, "{mp3}");
    assert!(mp3.get("waveform").is_none(), "{mp3}");
    assert!(mp3.get("preview_id").is_none(), "{mp3}");
    assert!(mp3.get("preview_pending").is_none(), "{mp3}");

    // A voice note whose tone grows louder: its waveform rises from silence to the top.
    let voice = created(
        ada.upload_raw(
            "audio/ogg",
            "?filename=rising.ogg",
            include_bytes!("../../../media-service/fixtures/rising.ogg").to_vec(),
        )
        .await,
    )
    .await;
    assert_eq!(voice["kind"], "voice");
    assert!((seconds(&voice) - 4.0).abs() < 0.06, "{voice}");
    let waveform: Vec<u64> = voice["waveform"]
        .as_array()
        .expect("a waveform")
        .iter()
        .map(|value| value.as_u64().expect("a number"))
        .collect();
    assert_eq!(waveform.len(), 100);
    assert!(waveform.iter().all(|value| *value <= 31), "{waveform:?}");
    assert!(waveform[0] <= 2 && waveform[99] == 31, "{waveform:?}");

    app.stop().await;
}

#[tokio::test]
async fn bad_uploads_are_refused_with_problem_json_and_leave_nothing() {
    let app = spawn_app_with(&[
        ("media.max_file_bytes", "3000000"),
        ("media.quota_bytes", "4000000"),
    ])
    .await;
    let ada = Uploader::new(&app, "ada@example.com").await;
    let mut program = b"MZ\x90\0".to_vec();
    program.extend(vec![7_u8; 100_000]);

    assert_problem(
        ada.upload_form(multipart(None, "report.pdf", &program))
            .await,
        415,
        "file_type_not_allowed",
    )
    .await;
    assert_problem(
        ada.upload_raw("application/pdf", "", Vec::new()).await,
        422,
        "empty_file",
    )
    .await;
    let mut cut = multipart(None, "a.txt", &vec![b'a'; 200_000]);
    cut.truncate(cut.len() - 40);
    assert_problem(ada.upload_form(cut).await, 400, "upload_incomplete").await;
    let no_file = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nx\r\n--{BOUNDARY}--\r\n"
    );
    assert_problem(
        ada.upload_form(no_file.into_bytes()).await,
        422,
        "validation_failed",
    )
    .await;
    let mut big = b"%PDF-1.7\n".to_vec();
    big.resize(3_000_001, b'x');
    assert_problem(
        ada.upload_raw("application/pdf", "", big).await,
        413,
        "media_too_large",
    )
    .await;
    let mut fits = b"%PDF-1.7\n".to_vec();
    fits.resize(2_500_000, b'y');
    created(ada.upload_raw("application/pdf", "", fits.clone()).await).await;
    fits.push(b'z');
    assert_problem(
        ada.upload_raw("application/pdf", "", fits).await,
        413,
        "quota_exceeded",
    )
    .await;
    let anonymous = app
        .client
        .post(app.url("/upload"))
        .body("x")
        .send()
        .await
        .expect("sent");
    assert_problem(anonymous, 401, "unauthenticated").await;

    assert_eq!(stored_files(&app, "blobs"), 1, "only the accepted file");
    assert_eq!(stored_files(&app, "tmp"), 0);
    app.stop().await;
}

#[tokio::test]
async fn another_users_file_is_not_found_and_a_delete_is_204_then_404() {
    let app = spawn_app().await;
    let ada = Uploader::new(&app, "ada@example.com").await;
    let eve = Uploader::new(&app, "eve@example.com").await;
    let file = created(
        ada.upload_raw("text/plain", "", b"ada's notes".to_vec())
            .await,
    )
    .await;
    let path = format!("/media/{}", file["file_id"].as_str().expect("id"));

    for method in [reqwest::Method::GET, reqwest::Method::DELETE] {
        assert_problem(
            eve.request(method, &path).send().await.expect("sent"),
            404,
            "not_found",
        )
        .await;
    }
    assert_problem(
        eve.request(reqwest::Method::POST, &format!("{path}/url"))
            .send()
            .await
            .expect("sent"),
        404,
        "not_found",
    )
    .await;
    assert_problem(
        ada.request(reqwest::Method::GET, "/media/not-a-file")
            .send()
            .await
            .expect("sent"),
        404,
        "not_found",
    )
    .await;
    // A file named `t` shares its paths with `/media/t/{token}`: these are the upload
    // routes' 404s, not the link route's 405 or 403 (schemathesis found both).
    for (method, path) in [
        (reqwest::Method::POST, "/media/t/url"),
        (reqwest::Method::GET, "/media/t/preview"),
    ] {
        assert_problem(
            ada.request(method, path).send().await.expect("sent"),
            404,
            "not_found",
        )
        .await;
    }

    let deleted = ada
        .request(reqwest::Method::DELETE, &path)
        .send()
        .await
        .expect("delete");
    assert_eq!(deleted.status(), 204);
    assert_problem(
        ada.request(reqwest::Method::GET, &path)
            .send()
            .await
            .expect("get"),
        404,
        "not_found",
    )
    .await;
    assert_problem(
        ada.request(reqwest::Method::DELETE, &path)
            .send()
            .await
            .expect("again"),
        404,
        "not_found",
    )
    .await;
    assert_eq!(
        stored_files(&app, "blobs"),
        0,
        "no reference left: the bytes went"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_client_that_disconnects_mid_upload_leaves_nothing_and_a_retry_works() {
    let app = spawn_app().await;
    let ada = Uploader::new(&app, "ada@example.com").await;
    let address = app.address.trim_start_matches("http://").to_owned();
    let mut socket = tokio::net::TcpStream::connect(&address)
        .await
        .expect("connect");
    let announced = 5_000_000;
    socket
        .write_all(format!(
            "POST /upload HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {}\r\nContent-Type: application/pdf\r\nContent-Length: {announced}\r\n\r\n",
            ada.token
        ).as_bytes())
        .await
        .expect("head");
    let mut sent = b"%PDF-1.7\n".to_vec();
    sent.resize(1_000_000, b'q');
    socket.write_all(&sent).await.expect("part of the body");
    socket.flush().await.expect("flush");
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(socket);

    // Give the services a moment to see the end of the stream and clean up.
    let mut left = usize::MAX;
    for _ in 0..50 {
        left = stored_files(&app, "tmp") + stored_files(&app, "blobs");
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(left, 0, "no orphan bytes");

    let mut whole = b"%PDF-1.7\n".to_vec();
    whole.resize(announced, b'q');
    let file = created(ada.upload_raw("application/pdf", "", whole).await).await;
    assert_eq!(file["size"], announced);
    app.stop().await;
}

/// ffmpeg behind a script that first runs `before` (a shell line; the tools run with an
/// empty environment, so absolute paths): a tool slower than it is. Written in `dir`.
pub(crate) fn slow_ffmpeg(dir: &std::path::Path, before: &str) -> String {
    use std::os::unix::fs::PermissionsExt as _;
    let ffmpeg = std::env::var_os("PATH")
        .and_then(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join("ffmpeg"))
                .find(|candidate| candidate.is_file())
        })
        .expect("ffmpeg on PATH");
    std::fs::create_dir_all(dir).expect("dir");
    let script = dir.join("slow-ffmpeg");
    std::fs::write(
        &script,
        format!("#!/bin/sh\n{before}\nexec '{}' \"$@\"\n", ffmpeg.display()),
    )
    .expect("script");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    script.display().to_string()
}

/// `portrait.mp4` made distinct by `tag` (a `free` box appended: other bytes, same video).
fn distinct_mp4(tag: u8) -> Vec<u8> {
    let mut mp4 = include_bytes!("../../../media-service/fixtures/portrait.mp4").to_vec();
    mp4.extend_from_slice(&16_u32.to_be_bytes());
    mp4.extend_from_slice(b"free");
    mp4.extend_from_slice(&[tag; 8]);
    mp4
}

/// A video's upload answers before ffmpeg (here 1.5 s slower than it is) has taken its
/// frame; `GET /media/{id}/preview` says `preview_pending` until the frame is there.
/// With one worker and one place in the queue, a burst of uploads gets the previews that
/// fit and skips the rest, counted in `/metrics` (with the queue's depth); a skipped
/// preview is made when asked for.
#[tokio::test]
async fn a_videos_upload_answers_before_its_preview_and_a_burst_skips_what_does_not_fit() {
    let tools = crate::helpers::temp_dir("talkapp-slow-ffmpeg");
    let script = slow_ffmpeg(&tools, "/bin/sleep 1.5");
    let app = spawn_app_with(&[
        ("media.ffmpeg_path", &script),
        ("media.frame_concurrency", "1"),
        ("media.preview_queue", "1"),
    ])
    .await;
    let ada = Uploader::new(&app, "ada@example.com").await;

    let mut answers = Vec::new();
    let started = std::time::Instant::now();
    for tag in 0..4 {
        let sent = std::time::Instant::now();
        let file = created(
            ada.upload_raw("video/mp4", "?filename=v.mp4", distinct_mp4(tag))
                .await,
        )
        .await;
        assert!(
            sent.elapsed() < Duration::from_millis(1000),
            "upload {tag} did not wait for ffmpeg: {:?}",
            sent.elapsed()
        );
        assert!(
            file["duration"]
                .as_f64()
                .is_some_and(|seconds| (seconds - 2.0).abs() < 0.06),
            "the container's duration at once: {file}"
        );
        assert!(file.get("preview_id").is_none(), "{file}");
        answers.push(file);
    }
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "four uploads within the first preview's time"
    );
    // One being made, at most one waiting: the others are skipped, and say
    // `preview_pending` all the same (made when asked for).
    assert!(
        answers.iter().all(|file| file["preview_pending"] == true),
        "{answers:?}"
    );
    let metrics = app.metrics().await;
    let skipped: u64 = metrics
        .lines()
        .find_map(|line| line.strip_prefix("talkapp_media_previews_total{outcome=\"skipped\"} "))
        .and_then(|count| count.trim().parse().ok())
        .unwrap_or_else(|| panic!("no skipped previews counted: {metrics}"));
    assert!((2..=3).contains(&skipped), "{skipped} skipped: {metrics}");
    assert!(
        metrics.contains("talkapp_media_preview_queue_depth ")
            && metrics.contains("talkapp_media_preview_workers_busy "),
        "{metrics}"
    );
    for file in &answers {
        let id = file["file_id"].as_str().expect("id");
        let frame = ada
            .made_preview(id)
            .await
            .expect("made, if need be when asked for");
        assert_eq!(jpeg_size(&frame), Some((96, 160)));
    }
    app.stop().await;
    let _ = std::fs::remove_dir_all(&tools);
}

const MIB: u64 = 1024 * 1024;

/// A ZIP's magic and then `size` bytes in all of pseudo-random content (a document with
/// no preview to make, which no filesystem compresses).
pub(crate) fn incompressible_zip(size: usize) -> Vec<u8> {
    let mut bytes = b"PK\x03\x04".to_vec();
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    while bytes.len() < size {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    bytes.truncate(size);
    bytes
}

/// A real disk for uploads that fills up: a tmpfs of 16 MiB with a filler file of 8 MiB
/// (`None`, printed, where mounting is not permitted and `TALKAPP_TEST_SKIP_MOUNT=1`).
pub(crate) fn half_full_disk() -> Option<(talkapp_testkit::Tmpfs, std::path::PathBuf)> {
    let dir = crate::helpers::temp_dir("talkapp-it-full-disk");
    let disk = talkapp_testkit::Tmpfs::mount(&dir, 16 * MIB)?;
    let filler = disk.dir().join("filler");
    std::fs::write(&filler, vec![7_u8; usize::try_from(8 * MIB).expect("size")])
        .expect("filler written");
    Some((disk, filler))
}

/// A disk that fills up in the middle of an upload (12 MiB sent, some 8 MiB free): 507
/// `insufficient_storage` problem+json with a `Retry-After`, the partial file removed
/// (its space free again), counted for the operator; once space is freed, the same
/// upload is stored intact. The quota is set just above the file's size, so the retry
/// passing also shows that the failed upload charged nothing to it.
#[tokio::test]
async fn a_disk_that_fills_up_mid_upload_is_507_insufficient_storage_and_a_retry_after_freeing_space_works()
 {
    use sha2::Digest as _;
    let Some((disk, filler)) = half_full_disk() else {
        return;
    };
    let bytes = incompressible_zip(usize::try_from(12 * MIB).expect("size"));
    let media_dir = disk.dir().display().to_string();
    let quota = (bytes.len() as u64 + MIB).to_string();
    let app = spawn_app_with(&[
        ("storage.local_dir", &media_dir),
        ("media.quota_bytes", &quota),
    ])
    .await;
    let ada = Uploader::new(&app, "ada@example.com").await;
    let used_before = disk.used_bytes();

    let response = ada.upload_raw("application/zip", "", bytes.clone()).await;
    let problem = crate::helpers::assert_storage_full(response).await;
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|detail| detail.contains("no space left") && !detail.contains('/')),
        "says what is full, not where: {problem}"
    );
    assert!(
        disk.used_bytes() <= used_before + 64 * 1024,
        "{} bytes in use after the failed upload, {used_before} before it",
        disk.used_bytes()
    );
    let mut left = Vec::new();
    for entry in walk_files(disk.dir()) {
        if entry != filler {
            left.push(entry);
        }
    }
    assert!(left.is_empty(), "left behind: {left:?}");
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("talkapp_media_write_failures_total{reason=\"no_space\"} 1"),
        "{metrics}"
    );

    std::fs::remove_file(&filler).expect("filler removed");
    let file = created(ada.upload_raw("application/zip", "", bytes.clone()).await).await;
    assert_eq!(
        file["sha256"],
        format!("{:x}", sha2::Sha256::digest(&bytes)),
        "{file}"
    );
    let stored = ada
        .request(
            reqwest::Method::GET,
            &format!("/media/{}", file["file_id"].as_str().expect("id")),
        )
        .send()
        .await
        .expect("download");
    assert_eq!(stored.status(), 200);
    let stored = stored.bytes().await.expect("body");
    assert!(
        stored == bytes,
        "the stored bytes differ from the sent ones"
    );
    app.stop().await;
    let dir = disk.dir().to_owned();
    drop(disk);
    let _ = std::fs::remove_dir_all(dir);
}

/// Every file under `dir`.
fn walk_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(walk_files(&path));
        } else {
            found.push(path);
        }
    }
    found
}

/// The disk fills up after a video's upload answered and before its preview is written
/// (a real tmpfs, filled while ffmpeg waits): `GET /media/{id}/preview` answers 507
/// `insufficient_storage` problem+json with `Retry-After: 60`, not 409 `preview_pending`
/// for ever; the video downloads whole; the write is counted. Once space is freed,
/// asking makes the preview.
#[tokio::test]
async fn a_disk_that_fills_up_before_a_videos_preview_is_written_makes_the_preview_507_until_space_is_freed()
 {
    let dir = crate::helpers::temp_dir("talkapp-it-full-preview");
    let Some(disk) = talkapp_testkit::Tmpfs::mount(&dir, 16 * MIB) else {
        return;
    };
    let tools = crate::helpers::temp_dir("talkapp-waiting-ffmpeg");
    let script = slow_ffmpeg(
        &tools,
        &format!(
            "/bin/touch '{0}/started'; while [ ! -e '{0}/go' ]; do /bin/sleep 0.02; done",
            tools.display()
        ),
    );
    let media_dir = disk.dir().display().to_string();
    let app = spawn_app_with(&[
        ("storage.local_dir", &media_dir),
        ("media.ffmpeg_path", &script),
    ])
    .await;
    let ada = Uploader::new(&app, "ada@example.com").await;
    let video = distinct_mp4(77);
    let file = created(
        ada.upload_raw("video/mp4", "?filename=v.mp4", video.clone())
            .await,
    )
    .await;
    assert_eq!(file["preview_pending"], true, "{file}");
    let id = file["file_id"].as_str().expect("id").to_owned();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !tools.join("started").exists() {
        assert!(std::time::Instant::now() < deadline, "ffmpeg never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let filler = disk.dir().join("filler");
    std::fs::write(
        &filler,
        vec![7_u8; usize::try_from(disk.free_bytes()).expect("size")],
    )
    .expect("filler written");
    std::fs::write(tools.join("go"), b"").expect("go");

    // Pending while ffmpeg finishes, then the storage being full: never pending for ever.
    let response = loop {
        let response = ada
            .request(reqwest::Method::GET, &format!("/media/{id}/preview"))
            .send()
            .await
            .expect("preview");
        if response.status() != 409 {
            break response;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still preview_pending after 30 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    crate::helpers::assert_storage_full(response).await;
    let metrics = app.metrics().await;
    assert!(
        metrics.lines().any(|line| line
            .starts_with("talkapp_media_write_failures_total{reason=\"no_space\"} ")
            && !line.ends_with(" 0")),
        "{metrics}"
    );
    let stored = ada
        .request(reqwest::Method::GET, &format!("/media/{id}"))
        .send()
        .await
        .expect("download");
    assert_eq!(stored.status(), 200);
    assert!(
        stored.bytes().await.expect("body") == video,
        "the video is kept whole"
    );

    std::fs::remove_file(&filler).expect("filler removed");
    let preview = loop {
        let response = ada
            .request(reqwest::Method::GET, &format!("/media/{id}/preview"))
            .send()
            .await
            .expect("preview");
        if response.status() == 200 {
            break response.bytes().await.expect("body");
        }
        assert!(
            [409, 507].contains(&response.status().as_u16()),
            "{}",
            response.status()
        );
        assert!(
            std::time::Instant::now() < deadline + Duration::from_secs(30),
            "no preview once space was freed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(preview.starts_with(b"\xff\xd8"), "a JPEG");
    app.stop().await;
    drop(disk);
    let _ = std::fs::remove_dir_all(dir);
    let _ = std::fs::remove_dir_all(tools);
}

/// The embedded default on S3 (moto behind `talkapp-testkit`'s `FullS3Proxy`), the
/// proxy, where the server is and the bucket.
async fn app_on_a_proxied_s3() -> (TestApp, talkapp_testkit::FullS3Proxy, String, String) {
    let (proxy, s3_server, bucket) = crate::helpers::bucket_behind_a_proxy().await;
    let endpoint = proxy.endpoint();
    let app = spawn_app_with(&[
        ("storage.backend", "s3"),
        ("storage.s3_endpoint", &endpoint),
        ("storage.s3_bucket", &bucket),
        ("storage.s3_allow_http", "true"),
        ("storage.s3_access_key_id", "testing"),
        ("storage.s3_secret_access_key", "testing"),
    ])
    .await;
    (app, proxy, s3_server, bucket)
}

/// A storage error's problem+json says what is away, never where (ADR 0069, amended): an
/// S3 server that refuses an upload (`AccessDenied`), then one that cannot be reached
/// under a download, is 503 `service_unavailable`, "the file storage is unavailable; try
/// again later", with `Retry-After`, and neither the endpoint nor the bucket in the
/// body. And a copy into place that S3 refuses for its quota inside a `200` (an error
/// body) is 507 `insufficient_storage`, not a 201 for a file whose bytes are gone.
#[tokio::test]
async fn a_storage_errors_problem_names_neither_the_s3_endpoint_nor_the_bucket() {
    let (app, proxy, s3_server, bucket) = app_on_a_proxied_s3().await;
    let ada = Uploader::new(&app, "ada@example.com").await;
    let internals = [
        bucket.clone(),
        s3_server.trim_start_matches("http://").to_owned(),
        proxy.endpoint().trim_start_matches("http://").to_owned(),
        "tmp/".to_owned(),
    ];
    let assert_generic = |problem: &Value| {
        let body = problem.to_string();
        for internal in &internals {
            assert!(!body.contains(internal.as_str()), "{internal} in {body}");
        }
        assert_eq!(
            problem["detail"], "the file storage is unavailable; try again later",
            "{problem}"
        );
    };

    let stored = ada
        .upload_raw("application/zip", "", incompressible_zip(64 * 1024))
        .await;
    assert_eq!(stored.status(), 201);
    let stored: Value = stored.json().await.expect("json");

    proxy.fail_in_200(
        "blobs/",
        talkapp_testkit::InBody::Copy,
        talkapp_testkit::Refusal::CephQuota,
        None,
    );
    let refused = ada
        .upload_raw("application/zip", "", incompressible_zip(64 * 1024 + 1))
        .await;
    crate::helpers::assert_storage_full(refused).await;

    proxy.free_space();
    proxy.refuse("", talkapp_testkit::Refusal::AccessDenied);
    let denied = ada
        .upload_raw("application/zip", "", incompressible_zip(64 * 1024 + 2))
        .await;
    assert!(denied.headers().contains_key("retry-after"));
    assert_generic(&assert_problem(denied, 503, "service_unavailable").await);

    drop(proxy);
    let file_id = stored["file_id"].as_str().expect("file_id");
    let away = app
        .client
        .get(app.url(&format!("/media/{file_id}")))
        .bearer_auth(&ada.token)
        .send()
        .await
        .expect("sent");
    assert_generic(&assert_problem(away, 503, "service_unavailable").await);
}
