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

/// A small real PNG (one colour), built here: a stored-deflate image of `side`×`side`.
fn small_png(side: u32, seed: u8) -> Vec<u8> {
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = 0xffff_ffff_u32;
        for byte in bytes {
            crc ^= u32::from(*byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xedb8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
    // Each row: filter byte 0, then the pixels.
    let row: Vec<u8> = std::iter::once(0)
        .chain((0..side).flat_map(|_| [seed, 128, 255 - seed]))
        .collect();
    let raw: Vec<u8> = (0..side).flat_map(|_| row.iter().copied()).collect();
    let mut zlib = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = raw.chunks(65_535).collect();
    for (index, block) in blocks.iter().enumerate() {
        zlib.push(u8::from(index + 1 == blocks.len()));
        let length = u16::try_from(block.len()).unwrap_or(u16::MAX);
        zlib.extend(length.to_le_bytes());
        zlib.extend((!length).to_le_bytes());
        zlib.extend(*block);
    }
    let (mut a, mut b) = (1_u32, 0_u32);
    for byte in &raw {
        a = (a + u32::from(*byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    zlib.extend(((b << 16) | a).to_be_bytes());
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut chunk = |kind: &[u8], data: &[u8]| {
        png.extend(u32::try_from(data.len()).unwrap_or(0).to_be_bytes());
        let mut body = kind.to_vec();
        body.extend(data);
        png.extend(&body);
        png.extend(crc32(&body).to_be_bytes());
    };
    let mut header = Vec::new();
    header.extend(side.to_be_bytes());
    header.extend(side.to_be_bytes());
    header.extend([8, 2, 0, 0, 0]);
    chunk(b"IHDR", &header);
    chunk(b"IDAT", &zlib);
    chunk(b"IEND", &[]);
    png
}

/// Uploads one photo per account (`POST /upload`); their `file_id`s, in account order.
pub(crate) async fn upload_photos(
    client: &reqwest::Client,
    options: &Options,
    accounts: &[Account],
) -> anyhow::Result<Vec<String>> {
    let mut photos = Vec::with_capacity(accounts.len());
    for (n, account) in accounts.iter().enumerate() {
        let (status, body) = send(
            client
                .post(format!("{}/upload?filename=load.png", options.url))
                .bearer_auth(&account.token)
                .body(small_png(64, u8::try_from(n % 256).unwrap_or(0))),
            "upload a photo",
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
