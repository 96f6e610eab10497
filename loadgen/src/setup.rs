//! Before a chat scenario: every user has a linked sandbox account with a cached chat list.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures::StreamExt as _;
use serde_json::{Value, json};

use crate::{Options, mint_token};

/// Names the users of the chat scenarios (UUIDv5), so a later run finds them linked.
const USER_NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x1f0a_7e55_6c2d_4b8e_a0b1_5d3c_9e7f_2a44);

/// A user ready for the chat scenarios.
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

async fn send(
    request: reqwest::RequestBuilder,
    what: &str,
) -> anyhow::Result<(reqwest::StatusCode, Value)> {
    let response = request.send().await.with_context(|| what.to_owned())?;
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
    fn bytes_and_name(self) -> (&'static [u8], &'static str) {
        match self {
            Self::Photo => (PHOTO_JPEG, "load.jpg"),
            Self::Video => (CLIP_MP4, "load.mp4"),
        }
    }
}

/// Uploads one file (`--media`) per account (`POST /upload`); their `file_id`s, in
/// account order.
pub(crate) async fn upload_media(
    client: &reqwest::Client,
    options: &Options,
    accounts: &[Account],
) -> anyhow::Result<Vec<String>> {
    let (bytes, name) = options.media.bytes_and_name();
    let mut photos = Vec::with_capacity(accounts.len());
    for account in accounts {
        let (status, body) = send(
            client
                .post(format!("{}/upload?filename={name}", options.url))
                .bearer_auth(&account.token)
                .body(bytes),
            "upload a file",
        )
        .await?;
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
