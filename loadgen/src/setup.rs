//! Before a chat scenario: every user has a linked sandbox account with a cached chat list.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures::StreamExt as _;
use serde_json::{Value, json};

use crate::{Options, cpu, mint_token, percentile};

/// Names the users of the chat scenarios (UUIDv5), so a later run finds them linked.
const USER_NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x1f0a_7e55_6c2d_4b8e_a0b1_5d3c_9e7f_2a44);

/// A user ready for the chat scenarios.
#[derive(Clone)]
pub(crate) struct Account {
    pub(crate) user_id: uuid::Uuid,
    pub(crate) token: String,
    /// A private chat of the account.
    pub(crate) chat_id: String,
    /// The account's Telegram user id (the chat id of a private chat with it).
    pub(crate) telegram_id: String,
}

/// The sandbox's extra account `n` (0-based): `99966XYYYY` numbers from `9996620003` on,
/// as the sandbox's demo world numbers them, and its login code (`X` five times).
fn sandbox_phone(n: usize) -> (String, String) {
    let dc_digit = 2 + n / 9998;
    let phone = format!("99966{dc_digit}{:04}", n % 9998 + 3);
    (phone, dc_digit.to_string().repeat(5))
}

/// How many times a setup GET is sent at most when it fails before an answer.
const GET_ATTEMPTS: u32 = 3;

/// Sends `request`. A GET that fails before any answer is sent again (at most
/// [`GET_ATTEMPTS`] times in all): a pooled connection the gateway closed after its idle
/// time, just as the client reused it, ends with "connection closed before message
/// completed", and the setup of 5,000 users must not stop for one of those.
async fn send(
    request: reqwest::RequestBuilder,
    what: &str,
) -> anyhow::Result<(reqwest::StatusCode, Value)> {
    let is_get = request
        .try_clone()
        .and_then(|copy| copy.build().ok())
        .is_some_and(|built| built.method() == reqwest::Method::GET);
    let mut request = request;
    let mut attempt = 1;
    let response = loop {
        let again = request.try_clone().filter(|_| is_get);
        match (request.send().await, again) {
            (Ok(response), _) => break response,
            (Err(error), Some(again)) if attempt < GET_ATTEMPTS => {
                eprintln!("{what}: {error}; sending it again");
                attempt += 1;
                request = again;
            }
            (Err(error), _) => return Err(error).with_context(|| what.to_owned()),
        }
    };
    let status = response.status();
    let body = response.json().await.unwrap_or(Value::Null);
    Ok((status, body))
}

async fn prepare(client: &reqwest::Client, options: &Options, n: usize) -> anyhow::Result<Account> {
    let user_id = uuid::Uuid::new_v5(&USER_NAMESPACE, format!("loadgen-user-{n}").as_bytes());
    let token = mint_token(options, user_id)?;
    let base = &options.url;
    let (_, sessions) = send(
        client
            .get(format!("{base}/me/sessions/{user_id}"))
            .bearer_auth(&token),
        "list sessions",
    )
    .await?;
    let linked = sessions["sessions"]
        .as_array()
        .is_some_and(|sessions| sessions.iter().any(|s| s["session_index"] == 1));
    if !linked {
        anyhow::ensure!(
            options.link,
            "user {n} has no linked account; run with --link"
        );
        let (phone, code) = sandbox_phone(n);
        let (status, started) = send(
            client
                .post(format!("{base}/me/sessions/{user_id}"))
                .bearer_auth(&token)
                .json(&json!({ "phone": phone })),
            "start login",
        )
        .await?;
        anyhow::ensure!(
            status == 201,
            "user {n}: start login answered {status}: {started}"
        );
        let login_id = started["login_id"].as_str().context("login id")?;
        let (status, session) = send(
            client
                .post(format!(
                    "{base}/me/sessions/{user_id}/login/{login_id}/code"
                ))
                .bearer_auth(&token)
                .json(&json!({ "code": code })),
            "submit code",
        )
        .await?;
        anyhow::ensure!(status == 201, "user {n}: code answered {status}: {session}");
        anyhow::ensure!(
            session["session_index"] == 1,
            "user {n} linked as {}; loadgen needs session 1",
            session["session_index"]
        );
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (status, chats) = send(
            client
                .get(format!("{base}/me/chats/{user_id}/1?type=private&limit=1"))
                .bearer_auth(&token),
            "list chats",
        )
        .await?;
        if status == 200
            && let Some(chat_id) = chats["chats"][0]["chat_id"].as_str()
        {
            let (_, sessions) = send(
                client
                    .get(format!("{base}/me/sessions/{user_id}"))
                    .bearer_auth(&token),
                "list sessions",
            )
            .await?;
            let telegram_id = sessions["sessions"]
                .as_array()
                .and_then(|sessions| sessions.iter().find(|s| s["session_index"] == 1))
                .and_then(|session| session["telegram_user"]["id"].as_str())
                .with_context(|| format!("user {n}: no Telegram id in {sessions}"))?;
            return Ok(Account {
                user_id,
                token,
                chat_id: chat_id.to_owned(),
                telegram_id: telegram_id.to_owned(),
            });
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "user {n}: no private chat cached after 120 s ({status}: {chats})"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Links (when asked) and checks every user's account, 32 at a time.
pub(crate) async fn prepare_accounts(
    client: &reqwest::Client,
    options: &Options,
) -> anyhow::Result<Vec<Account>> {
    let mut prepared: Vec<(usize, Account)> = futures::stream::iter(0..options.users)
        .map(|n| async move {
            prepare(client, options, n)
                .await
                .map(|account| (n, account))
        })
        .buffer_unordered(32)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<_>>()?;
    prepared.sort_by_key(|(n, _)| *n);
    Ok(prepared.into_iter().map(|(_, account)| account).collect())
}

/// A real JPEG photo (320×240), the sandbox's fixture: the same bytes for every user
/// (stored once by the media service, uploaded to Telegram once per account).
const PHOTO_JPEG: &[u8] = include_bytes!("../../libs/tg-sandbox/fixtures/photo.jpg");
/// A real 2 s H.264 MP4, the sandbox's fixture: a video send, with the upload's preview
/// (when the media service has ffmpeg) as its thumbnail.
const CLIP_MP4: &[u8] = include_bytes!("../../libs/tg-sandbox/fixtures/clip.mp4");

/// What the media scenarios upload and send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MediaFixture {
    /// [`PHOTO_JPEG`].
    Photo,
    /// [`CLIP_MP4`].
    Video,
}

impl std::str::FromStr for MediaFixture {
    type Err = anyhow::Error;

    fn from_str(value: &str) -> anyhow::Result<Self> {
        match value {
            "photo" => Ok(Self::Photo),
            "video" => Ok(Self::Video),
            other => anyhow::bail!("--media is photo or video, not {other:?}"),
        }
    }
}

impl MediaFixture {
    /// As `--media` names it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Photo => "photo",
            Self::Video => "video",
        }
    }

    fn bytes_and_name(self) -> (&'static [u8], &'static str) {
        match self {
            Self::Photo => (PHOTO_JPEG, "load.jpg"),
            Self::Video => (CLIP_MP4, "load.mp4"),
        }
    }

    /// The fixture with `tag` (unique per call: the run's id and a counter) where every
    /// decoder skips it, so that each copy is a file of its own (its own SHA-256, its own
    /// Telegram upload) that still plays and previews as the fixture does: a JPEG
    /// comment segment (`COM`) after the application segments of the photo, a `free`
    /// box appended after the video's last box (nothing before it moves, so the `moov`
    /// box's chunk offsets into `mdat` stay right).
    pub(crate) fn fresh_copy(self, tag: &str) -> Vec<u8> {
        let payload = format!("talkapp-loadgen fresh media {tag}");
        match self {
            Self::Photo => with_jpeg_comment(PHOTO_JPEG, payload.as_bytes()),
            Self::Video => with_mp4_free_box(CLIP_MP4, payload.as_bytes()),
        }
    }
}

/// `jpeg` with a comment segment carrying `comment` after its leading `APPn` segments
/// (JFIF and Exif readers expect those first), before the tables and the frame.
fn with_jpeg_comment(jpeg: &[u8], comment: &[u8]) -> Vec<u8> {
    // SOI, then segments of a marker and a 2-byte length (which counts itself).
    let mut at = 2;
    while let Some(&[0xFF, marker, high, low]) = jpeg.get(at..at + 4)
        && (0xE0..=0xEF).contains(&marker)
    {
        at += 2 + usize::from(u16::from_be_bytes([high, low]));
    }
    let comment = &comment[..comment.len().min(usize::from(u16::MAX) - 2)];
    let length = u16::try_from(comment.len() + 2).unwrap_or(u16::MAX);
    let mut fresh = Vec::with_capacity(jpeg.len() + comment.len() + 4);
    fresh.extend_from_slice(&jpeg[..at]);
    fresh.extend_from_slice(&[0xFF, 0xFE]);
    fresh.extend_from_slice(&length.to_be_bytes());
    fresh.extend_from_slice(comment);
    fresh.extend_from_slice(&jpeg[at..]);
    fresh
}

/// `mp4` with a `free` box carrying `payload` appended (its last box must have an
/// explicit size, as the fixture's `mdat` has).
fn with_mp4_free_box(mp4: &[u8], payload: &[u8]) -> Vec<u8> {
    let size = u32::try_from(payload.len() + 8).unwrap_or(u32::MAX);
    let mut fresh = Vec::with_capacity(mp4.len() + payload.len() + 8);
    fresh.extend_from_slice(mp4);
    fresh.extend_from_slice(&size.to_be_bytes());
    fresh.extend_from_slice(b"free");
    fresh.extend_from_slice(payload);
    fresh
}

/// The files one user sends in the media scenarios.
#[derive(Debug, Clone)]
pub(crate) enum Files {
    /// The same uploaded file every time (after an account's first send, Telegram gets it
    /// by reference).
    Same(String),
    /// `--fresh-media`: a file of its own for every send, uploaded before the
    /// measurement, in the order they are sent.
    Fresh(Vec<String>),
}

impl Files {
    /// The file of the user's `n`th send (0-based); `None` once the fresh files are all
    /// sent.
    pub(crate) fn nth(&self, n: usize) -> Option<&str> {
        match self {
            Self::Same(file_id) => Some(file_id),
            Self::Fresh(file_ids) => file_ids.get(n).map(String::as_str),
        }
    }
}

/// How many fresh files a user needs for a run of `window` (the warm-up and the
/// measurement) with one send every `interval`: the first send comes within the first
/// interval, one more each interval, and the last tick before the end may fire after it.
pub(crate) fn fresh_files_needed(window: Duration, interval: Duration) -> usize {
    let interval = interval.as_millis().max(1);
    usize::try_from(window.as_millis().div_ceil(interval)).unwrap_or(usize::MAX) + 2
}

/// One upload of the fresh-media phase.
struct Uploaded {
    started: Instant,
    micros: u32,
    /// The `file_id` of a 201.
    file_id: Option<String>,
    /// What the answer said of the preview.
    preview: PreviewAnswer,
}

/// What a 201 of `POST /upload` says of the file's preview.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PreviewAnswer {
    /// There is one (`preview_id`: a photo's downscale, made in the upload).
    Made,
    /// It is being made after the answer (`preview_pending`: a video's frame, a PDF's
    /// page; ADR 0049).
    Pending,
    /// None (no tool, or the preview queue was full).
    None,
}

impl PreviewAnswer {
    fn of(answer: &Value) -> Self {
        if answer["preview_id"].is_string() {
            Self::Made
        } else if answer["preview_pending"] == true {
            Self::Pending
        } else {
            Self::None
        }
    }
}

/// How the previews pending after the uploads ended.
#[derive(Debug, Default)]
struct Settled {
    made: usize,
    none: usize,
    /// Still pending at the deadline, or the request failed.
    unknown: usize,
}

/// Waits for the previews the uploads left pending (`GET /media/{id}/preview`: 409
/// `preview_pending` until made, then 200, or 404 when none was made), so that the CPU
/// window holds their cost; at most `deadline`.
async fn settle_previews(
    client: &reqwest::Client,
    options: &Options,
    pending: Vec<(&Account, String)>,
    deadline: Duration,
) -> Settled {
    let until = Instant::now() + deadline;
    let outcomes = futures::stream::iter(pending)
        .map(|(account, file_id)| async move {
            loop {
                let response = client
                    .get(format!("{}/media/{file_id}/preview", options.url))
                    .bearer_auth(&account.token)
                    .send()
                    .await;
                match response.map(|response| response.status().as_u16()) {
                    Ok(200) => return Some(true),
                    Ok(404) => return Some(false),
                    Ok(409) if Instant::now() < until => {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    _ => return None,
                }
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    let mut settled = Settled::default();
    for outcome in outcomes {
        match outcome {
            Some(true) => settled.made += 1,
            Some(false) => settled.none += 1,
            None => settled.unknown += 1,
        }
    }
    settled
}

/// `--fresh-media`: each user uploads `per_user` distinct copies of the fixture
/// (`POST /upload`, [`MediaFixture::fresh_copy`]), one every `interval` with the users
/// spread over the first interval, as its sends will be: the upload's cost (the type
/// sniffing, hashing, storing, and the preview: ffmpeg for a video) measured on its own,
/// before the sends. Prints the uploads' latency and each watched process's CPU per
/// upload (after the warm-up; the window closes once the previews made after the
/// answers are settled, so it holds ffmpeg's work too), and gives each user's
/// `file_id`s in order.
pub(crate) async fn upload_fresh(
    client: &reqwest::Client,
    options: &Options,
    accounts: &[Account],
    per_user: usize,
    interval: Duration,
) -> anyhow::Result<Vec<Files>> {
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let users = accounts.len();
    let started = Instant::now();
    let warmup_until = started + Duration::from_secs(options.warmup_seconds);
    let watched = cpu::resolve(&options.watch);
    let window_opens = tokio::spawn({
        let watched = watched.clone();
        async move {
            tokio::time::sleep_until(warmup_until.into()).await;
            cpu::sample(&watched)
        }
    });
    let uploads = accounts.iter().enumerate().map(|(user, account)| {
        let run_id = &run_id;
        async move {
            let offset =
                interval * u32::try_from(user).unwrap_or(0) / u32::try_from(users).unwrap_or(1);
            let mut ticks = crate::ticks(offset, interval);
            let mut done = Vec::with_capacity(per_user);
            for n in 0..per_user {
                ticks.tick().await;
                let bytes = options.media.fresh_copy(&format!("{run_id}-{user}-{n}"));
                let started = Instant::now();
                let answer = upload(client, options, account, bytes, "upload a fresh file").await;
                let micros = u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX);
                let (file_id, preview) = match answer {
                    Ok((status, body)) if status.as_u16() == 201 => (
                        body["file_id"].as_str().map(str::to_owned),
                        PreviewAnswer::of(&body),
                    ),
                    Ok((status, body)) => {
                        eprintln!("user {user}: a fresh upload answered {status}: {body}");
                        (None, PreviewAnswer::None)
                    }
                    Err(error) => {
                        eprintln!("user {user}: a fresh upload failed: {error:#}");
                        (None, PreviewAnswer::None)
                    }
                };
                done.push(Uploaded {
                    started,
                    micros,
                    file_id,
                    preview,
                });
            }
            done
        }
    });
    let per_account = futures::future::join_all(uploads).await;
    let uploads_done = Instant::now();
    let pending: Vec<(&Account, String)> = accounts
        .iter()
        .zip(&per_account)
        .flat_map(|(account, uploads)| {
            uploads
                .iter()
                .filter(|upload| upload.preview == PreviewAnswer::Pending)
                .filter_map(move |upload| Some((account, upload.file_id.clone()?)))
        })
        .collect();
    let settled = settle_previews(client, options, pending, Duration::from_secs(60)).await;
    let settling = uploads_done.elapsed();
    let window_closes = cpu::sample(&watched);
    let window = Instant::now().saturating_duration_since(warmup_until);
    let window_opens = window_opens.await?;

    let mut latencies = Vec::new();
    let (mut failed, mut with_preview, mut preview_pending) = (0_usize, 0_usize, 0_usize);
    for upload in per_account.iter().flatten() {
        if upload.started < warmup_until {
            continue;
        }
        match upload.file_id {
            Some(_) => {
                latencies.push(upload.micros);
                with_preview += usize::from(upload.preview == PreviewAnswer::Made);
                preview_pending += usize::from(upload.preview == PreviewAnswer::Pending);
            }
            None => failed += 1,
        }
    }
    latencies.sort_unstable();
    println!(
        "uploads media={} fresh per_user={per_user} users={users} interval_ms={} ok={} failed={failed} with_preview={with_preview} throughput={:.0}/s p50={:.2}ms p90={:.2}ms p99={:.2}ms max={:.2}ms",
        options.media.name(),
        interval.as_millis(),
        latencies.len(),
        latencies.len() as f64 / window.as_secs_f64().max(0.001),
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.90),
        percentile(&latencies, 0.99),
        percentile(&latencies, 1.0),
    );
    // The previews made after the answers (all uploads', the warm-up's included).
    println!(
        "previews answered_pending={preview_pending} (after the warm-up) made_after={} none_after={} unsettled={} settled_in={:.0}ms after the last upload",
        settled.made,
        settled.none,
        settled.unknown,
        settling.as_secs_f64() * 1000.0,
    );
    println!(
        "{} (per upload)",
        cpu::report(&window_opens, &window_closes, latencies.len(), window)
    );
    let files: Vec<Files> = per_account
        .into_iter()
        .map(|uploads| Files::Fresh(uploads.into_iter().filter_map(|u| u.file_id).collect()))
        .collect();
    anyhow::ensure!(
        files
            .iter()
            .all(|files| matches!(files, Files::Fresh(ids) if !ids.is_empty())),
        "a user has no fresh file uploaded"
    );
    Ok(files)
}

/// `POST /upload` of `bytes` as `account`, named as the `--media` fixture is; the status
/// and the JSON answer.
async fn upload(
    client: &reqwest::Client,
    options: &Options,
    account: &Account,
    bytes: impl Into<reqwest::Body>,
    what: &str,
) -> anyhow::Result<(reqwest::StatusCode, Value)> {
    let (_, name) = options.media.bytes_and_name();
    send(
        client
            .post(format!("{}/upload?filename={name}", options.url))
            .bearer_auth(&account.token)
            .body(bytes),
        what,
    )
    .await
}

/// Uploads one file (`--media`) per account (`POST /upload`); their `file_id`s, in
/// account order.
pub(crate) async fn upload_media(
    client: &reqwest::Client,
    options: &Options,
    accounts: &[Account],
) -> anyhow::Result<Vec<String>> {
    let (bytes, _) = options.media.bytes_and_name();
    let mut photos = Vec::with_capacity(accounts.len());
    for account in accounts {
        let (status, body) = upload(client, options, account, bytes, "upload a file").await?;
        anyhow::ensure!(status.as_u16() == 201, "upload refused: {status} {body}");
        photos.push(
            body["file_id"]
                .as_str()
                .context("an upload without a file_id")?
                .to_owned(),
        );
    }
    Ok(photos)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn an_uploads_answer_tells_a_preview_made_pending_or_none() {
        let file_id = "0b5e7c9e-8f7a-4c39-9d1e-1f0a2b3c4d5e";
        assert_eq!(
            PreviewAnswer::of(&json!({"file_id": file_id, "preview_id": file_id})),
            PreviewAnswer::Made
        );
        assert_eq!(
            PreviewAnswer::of(&json!({"file_id": file_id, "preview_pending": true})),
            PreviewAnswer::Pending
        );
        assert_eq!(
            PreviewAnswer::of(&json!({"file_id": file_id})),
            PreviewAnswer::None
        );
    }

    /// The segments of a JPEG from its SOI to its SOS: `(marker, payload)`; `None` when
    /// they do not chain (a length running past the end, a byte that is not a marker).
    fn jpeg_segments(jpeg: &[u8]) -> Option<Vec<(u8, &[u8])>> {
        if !jpeg.starts_with(&[0xFF, 0xD8]) {
            return None;
        }
        let mut segments = Vec::new();
        let mut at = 2;
        loop {
            let &[0xFF, marker, high, low] = jpeg.get(at..at + 4)? else {
                return None;
            };
            let length = usize::from(u16::from_be_bytes([high, low]));
            let payload = jpeg.get(at + 4..at + 2 + length)?;
            segments.push((marker, payload));
            if marker == 0xDA {
                return Some(segments);
            }
            at += 2 + length;
        }
    }

    /// The top-level boxes of an MP4: `(type, offset, size)`, which must cover the file
    /// exactly (`None` otherwise).
    fn mp4_boxes(mp4: &[u8]) -> Option<Vec<([u8; 4], usize, usize)>> {
        let mut boxes = Vec::new();
        let mut at = 0;
        while at < mp4.len() {
            let size =
                usize::try_from(u32::from_be_bytes(mp4.get(at..at + 4)?.try_into().ok()?)).ok()?;
            if size < 8 || at + size > mp4.len() {
                return None;
            }
            boxes.push((mp4.get(at + 4..at + 8)?.try_into().ok()?, at, size));
            at += size;
        }
        Some(boxes)
    }

    #[test]
    fn a_fresh_photo_is_a_distinct_jpeg_that_decodes_to_the_same_pixels() {
        let original = image::load_from_memory(PHOTO_JPEG).expect("the fixture decodes");
        let mut seen = HashSet::new();
        for n in 0..50 {
            let tag = format!("run-7-{n}");
            let fresh = MediaFixture::Photo.fresh_copy(&tag);
            // What the media service sniffs a JPEG by.
            assert!(fresh.starts_with(&[0xFF, 0xD8, 0xFF]));
            let segments = jpeg_segments(&fresh).expect("the segments chain to the scan");
            // JFIF's APP0 stays first; the new comment follows it, carrying the tag.
            assert_eq!(segments[0].0, 0xE0);
            assert_eq!(segments[1].0, 0xFE);
            assert!(segments[1].1.ends_with(tag.as_bytes()));
            assert_eq!(
                segments.len(),
                jpeg_segments(PHOTO_JPEG).expect("the fixture chains").len() + 1
            );
            let decoded = image::load_from_memory_with_format(&fresh, image::ImageFormat::Jpeg)
                .expect("a fresh copy decodes");
            assert_eq!((decoded.width(), decoded.height()), (320, 240));
            assert!(
                decoded.to_rgb8() == original.to_rgb8(),
                "copy {n}: other pixels"
            );
            assert!(seen.insert(fresh), "copy {n} repeats an earlier one");
        }
    }

    #[test]
    fn a_fresh_video_is_a_distinct_mp4_whose_boxes_before_its_tag_are_the_fixtures() {
        let original = mp4_boxes(CLIP_MP4).expect("the fixture's boxes");
        let mut seen = HashSet::new();
        for n in 0..50 {
            let tag = format!("run-7-{n}");
            let fresh = MediaFixture::Video.fresh_copy(&tag);
            // What the media service sniffs an MP4 by.
            assert_eq!(&fresh[4..12], b"ftypisom");
            // Nothing moves: the moov box's chunk offsets into mdat stay right.
            assert!(fresh.starts_with(CLIP_MP4));
            let boxes = mp4_boxes(&fresh).expect("the boxes cover the file");
            assert_eq!(boxes[..original.len()], original[..]);
            assert_eq!(boxes.len(), original.len() + 1);
            let (kind, at, size) = boxes[original.len()];
            assert_eq!(&kind, b"free");
            assert!(fresh[at + 8..at + size].ends_with(tag.as_bytes()));
            assert!(seen.insert(fresh), "copy {n} repeats an earlier one");
        }
    }

    /// A frame of the video as the media service's preview takes it (its ffmpeg
    /// arguments, `media-service/src/frames.rs`): a PNG.
    fn ffmpeg_frame(mp4: &[u8], name: &str) -> Vec<u8> {
        let path =
            std::env::temp_dir().join(format!("loadgen-fresh-{}-{name}.mp4", std::process::id()));
        std::fs::write(&path, mp4).expect("a temporary file");
        let output = std::process::Command::new("ffmpeg")
            .args(["-nostdin", "-hide_banner", "-loglevel", "error"])
            .args([
                "-protocol_whitelist",
                "file",
                "-f",
                "mp4",
                "-ss",
                "0.200",
                "-i",
            ])
            .arg(format!("file:{}", path.display()))
            .args(["-map", "0:v:0", "-frames:v", "1", "-an", "-c:v", "png"])
            .args(["-f", "image2pipe", "pipe:1"])
            .output();
        let _ = std::fs::remove_file(&path);
        let output = output
            .expect("ffmpeg runs (is it installed? the media service's previews need it too)");
        assert!(
            output.status.success(),
            "ffmpeg: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            output.stderr.is_empty(),
            "ffmpeg complained: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        output.stdout
    }

    #[test]
    fn ffmpeg_takes_the_same_frame_from_a_fresh_video_as_from_the_fixture() {
        let fresh = MediaFixture::Video.fresh_copy("run-7-0");
        let frame = ffmpeg_frame(&fresh, "fresh");
        let decoded = image::load_from_memory_with_format(&frame, image::ImageFormat::Png)
            .expect("ffmpeg's frame is a PNG");
        assert_eq!((decoded.width(), decoded.height()), (160, 120));
        assert!(frame == ffmpeg_frame(CLIP_MP4, "fixture"), "another frame");
    }

    #[test]
    fn a_user_gets_a_fresh_file_for_every_tick_of_the_run() {
        // 33 s at one send every 2 s: ticks at offset + 0, 2, ... 32 s (17), and one
        // that may fire just after the end; one to spare.
        assert_eq!(
            fresh_files_needed(Duration::from_secs(33), Duration::from_secs(2)),
            19
        );
        assert_eq!(
            fresh_files_needed(Duration::from_secs(8), Duration::from_millis(50)),
            162
        );
        let files = Files::Fresh(vec!["a".into(), "b".into()]);
        assert_eq!(
            (files.nth(0), files.nth(1), files.nth(2)),
            (Some("a"), Some("b"), None)
        );
        let same = Files::Same("a".into());
        assert_eq!((same.nth(0), same.nth(99)), (Some("a"), Some("a")));
    }
}
