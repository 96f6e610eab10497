//! The one TalkApp configuration.
//!
//! Sources, later ones winning: the embedded defaults (`default.toml` beside this file),
//! an optional TOML file, then environment variables `TALKAPP_<SECTION>__<KEY>`
//! (`TALKAPP_GATEWAY__LISTEN=0.0.0.0:8080`). [`Config::load`] validates the result and
//! names the offending key in its error.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

const EMBEDDED_DEFAULTS: &str = include_str!("default.toml");

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A source could not be read or a value had the wrong type.
    #[error("configuration could not be read: {0}")]
    Source(#[from] config::ConfigError),
    /// A value was read but is not acceptable.
    #[error("configuration key `{key}` is invalid: {reason}")]
    Invalid {
        /// Dotted key, as in the file (`gateway.listen`).
        key: &'static str,
        /// What is wrong and what would be accepted.
        reason: String,
    },
}

/// The whole configuration; each process reads the sections it needs.
#[derive(Debug, Clone, Deserialize)]
pub struct Config {
    /// Logging.
    pub log: LogConfig,
    /// Trace export.
    pub telemetry: TelemetryConfig,
    /// Local data (SQLite file, media, generated secrets) for the embedded default.
    pub data: DataConfig,
    /// The relational store.
    pub database: DatabaseConfig,
    /// Redis (optional: empty URL means not used).
    pub redis: RedisConfig,
    /// RabbitMQ (optional: empty URL means not used).
    pub amqp: AmqpConfig,
    /// The REST/WebSocket gateway.
    pub gateway: GatewayConfig,
    /// Token verification and the built-in accounts.
    pub auth: AuthConfig,
    /// The chat service.
    pub chat_service: ServiceConfig,
    /// The media service.
    pub media_service: ServiceConfig,
    /// The search service.
    pub search_service: ServiceConfig,
    /// The realtime service.
    pub realtime_service: ServiceConfig,
    /// Dependency probes behind health and readiness.
    pub probes: ProbeConfig,
    /// Request rate limits.
    pub rate_limit: RateLimitConfig,
    /// Reaching Telegram.
    pub telegram: TelegramConfig,
    /// Sending messages.
    pub sends: SendsConfig,
    /// Real-time events and push notifications.
    pub realtime: RealtimeConfig,
    /// Serving Telegram files (media downloads).
    pub downloads: DownloadsConfig,
    /// Uploaded files: limits, quota, previews.
    pub media: MediaConfig,
    /// Where uploaded files' bytes are kept.
    pub storage: StorageConfig,
    /// The audit log of security-relevant actions.
    pub audit: AuditConfig,
    /// Operators: who may read every user's audit log and activity and disable users.
    pub operator: OperatorConfig,
    /// The search service's calls to Telegram's own search (through the chat service).
    #[serde(default)]
    pub search: SearchConfig,
}

/// The audit log (the gateway writes it, in the store).
#[derive(Debug, Clone, Deserialize)]
pub struct AuditConfig {
    /// Whether actions are recorded at all.
    pub enabled: bool,
    /// Records older than this many days are removed (checked hourly); 0: kept forever.
    pub retention_days: u32,
    /// How long the gateway's writer gathers records after the first of a batch before it
    /// stores them in one statement (milliseconds, 0 to 1000; 0: whatever has arrived when
    /// it wakes). Under load this turns a wake-up of the writer and a store round trip per
    /// audited request into one per window (ADR 0062); a record reaches the store up to
    /// this much later, and a flush (`GET /me/audit`) may wait as long.
    #[serde(default = "default_audit_batch_window_ms")]
    pub batch_window_ms: u64,
}

fn default_audit_batch_window_ms() -> u64 {
    10
}

/// Operators (the `/admin` routes). Their tokens are not user tokens: each is a random
/// secret of which only the SHA-256 is configured (`talkapp operator-token` makes one).
#[derive(Debug, Clone, Deserialize)]
pub struct OperatorConfig {
    /// Hex SHA-256 of each operator token; empty: no operator routes (404). From the
    /// environment: comma-separated.
    #[serde(deserialize_with = "list_or_comma_separated")]
    pub token_sha256: Vec<String>,
    /// Per-user activity (`GET /admin/users/{user_id}/activity`): days older than this are
    /// deleted by the gateways' flush (0: kept forever).
    #[serde(default = "default_activity_retention_days")]
    pub activity_retention_days: u32,
    /// How often each gateway adds the activity it counted in memory to the store
    /// (seconds, 1 to 3600).
    #[serde(default = "default_activity_flush_secs")]
    pub activity_flush_secs: u64,
}

fn default_activity_retention_days() -> u32 {
    90
}

fn default_activity_flush_secs() -> u64 {
    30
}

/// The search service's reach into Telegram (issue 12, wave 2).
#[derive(Debug, Clone, Deserialize)]
pub struct SearchConfig {
    /// Where search-service reaches the chat service, which passes Telegram searches and
    /// contact lists to the account's host. The all-in-one binary points it at its own
    /// chat service.
    #[serde(default = "default_chat_service_url")]
    pub chat_service_url: String,
    /// How long a message search waits for Telegram's own hits before it answers with
    /// the cached ones, marked partial (milliseconds).
    #[serde(default = "default_telegram_search_timeout_ms")]
    pub telegram_timeout_ms: u64,
}

impl Default for SearchConfig {
    fn default() -> Self {
        Self {
            chat_service_url: default_chat_service_url(),
            telegram_timeout_ms: default_telegram_search_timeout_ms(),
        }
    }
}

fn default_chat_service_url() -> String {
    "http://127.0.0.1:50051".to_owned()
}

fn default_telegram_search_timeout_ms() -> u64 {
    3_000
}

/// Uploaded files (the media service).
#[derive(Debug, Clone, Deserialize)]
pub struct MediaConfig {
    /// Largest upload accepted, in bytes (Telegram's own limit is 2 GiB); checked while
    /// the bytes stream in.
    pub max_file_bytes: u64,
    /// Bytes one user's files may take in all (every upload counts, even of bytes stored
    /// once for several users).
    pub quota_bytes: u64,
    /// Whether executables (PE, ELF, Mach-O, scripts with `#!`) may be uploaded.
    pub allow_executables: bool,
    /// Images with more pixels than this are refused from their header, before decoding
    /// (decompression bombs).
    pub max_image_pixels: u64,
    /// The longest side of a preview image, in pixels.
    pub preview_max_side: u32,
    /// Largest image file a preview is made of (bytes); larger images get none.
    pub preview_max_source_bytes: u64,
    /// How often the sweep removes what interrupted uploads and deletes left (seconds).
    pub sweep_interval_secs: u64,
    /// An upload not finished after this long is abandoned by the sweep (seconds).
    pub stale_upload_secs: u64,
    /// ffmpeg, for a frame of an uploaded video as its preview (ADR 0034): empty, found
    /// on `PATH`; `off`, none; else its path. Absent: videos get no preview image.
    pub ffmpeg_path: String,
    /// pdftoppm (poppler-utils), for a PDF's first page as its preview: as `ffmpeg_path`.
    pub pdftoppm_path: String,
    /// The wall-clock time one video or PDF preview may take once a worker took it up,
    /// copying an S3-stored file included (milliseconds); the tool is killed when it is
    /// up. The upload does not wait for it (ADR 0049).
    pub frame_timeout_ms: u64,
    /// The address space a preview tool may take (bytes, `prlimit --as`).
    pub frame_max_memory_bytes: u64,
    /// The CPU time a preview tool may take (seconds, `prlimit --cpu`).
    pub frame_cpu_secs: u64,
    /// Preview tools running at once (per media-service process): the workers that make
    /// video and PDF previews after their uploads answered.
    pub frame_concurrency: usize,
    /// Video and PDF previews waiting for a worker (per process); an upload that finds
    /// the queue full has its preview skipped (counted in `talkapp_media_previews_total`
    /// with `outcome="skipped"`) until someone asks for it (ADR 0049's amendment).
    pub preview_queue: usize,
    /// How often, at most, a preview worker with nothing in its own queue looks in the
    /// store for pending previews no one holds (another replica's queue, or one that
    /// stopped) while the store has none (milliseconds); it looks again at once after
    /// taking one. 0: never (each replica makes only what it queued, and the sweep).
    pub preview_store_poll_ms: u64,
    /// How long a send of a file whose preview is still being made waits for it as its
    /// thumbnail (milliseconds); then it goes without.
    pub thumbnail_wait_ms: u64,
    /// Most bytes of an S3-stored video or PDF copied to a local temporary file for its
    /// preview; of a larger one an MP4's index and its head, else its head (three
    /// quarters of this) and its tail, in a sparse file. Files of the local backend are
    /// read in place.
    pub frame_max_source_bytes: u64,
    /// Most bytes copied besides, for a file larger than `frame_max_source_bytes`, of
    /// what its preview needs from its middle, found in its own index: an MP4's first
    /// video samples (when only the first frames fit, the first frame is taken), a PDF's
    /// first page's objects, a WebM's or Matroska file's keyframe Cluster (from its Cues,
    /// or, without, from a walk of its Clusters over at most as many bytes, hopping them
    /// by their sizes past that), an Ogg video's pages from the keyframe through the
    /// frame (found by seeking on its pages' granule positions). 0: none (head and tail,
    /// or an MP4's index, only).
    pub frame_max_extra_bytes: u64,
    /// Where those temporary copies go; empty: the system's (`TMPDIR`). Found full
    /// (`ENOSPC`, `EDQUOT`), the preview is skipped and counted as the media storage being
    /// full, and asking for it answers 507 until there is room (ADR 0069).
    pub frame_temp_dir: String,
    /// How far before its end a live WebM/Matroska file (no duration in its header) is
    /// searched for its last Cluster, whose last block gives the duration; its blocks'
    /// headers are walked within as many bytes. A last Cluster that starts further back
    /// is found by hopping the Clusters from the first by their sizes, one of unknown
    /// size by its children's (ADR 0027, amended; at most 1,024 Clusters and 4,096
    /// children). Read in ranges of 4 MiB (never held whole); at least that, at most
    /// 1 GiB.
    #[serde(default = "default_live_webm_search_bytes")]
    pub live_webm_search_bytes: u64,
    /// Largest MP4 index (`moov` box) read for a video's duration and dimensions; it is
    /// read whole into memory, so at least 1 MiB and at most 256 MiB. A larger one
    /// gives none.
    #[serde(default = "default_max_moov_bytes")]
    pub max_moov_bytes: u64,
}

/// The least `media.live_webm_search_bytes`: the tail the search starts from.
pub const MIN_LIVE_WEBM_SEARCH_BYTES: u64 = 4 * 1024 * 1024;
/// The most `media.live_webm_search_bytes`.
pub const MAX_LIVE_WEBM_SEARCH_BYTES: u64 = 1024 * 1024 * 1024;
/// The least `media.max_moov_bytes`.
pub const MIN_MOOV_BYTES: u64 = 1024 * 1024;
/// The most `media.max_moov_bytes` (one read, held whole).
pub const MAX_MOOV_BYTES: u64 = 256 * 1024 * 1024;

fn default_live_webm_search_bytes() -> u64 {
    64 * 1024 * 1024
}

fn default_max_moov_bytes() -> u64 {
    64 * 1024 * 1024
}

/// Which object store keeps the bytes of uploaded files.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum StorageBackend {
    /// Files under a local directory (the embedded default).
    Local,
    /// An S3-compatible object store (AWS S3, MinIO, ...).
    S3,
}

/// Where uploaded files' bytes are kept.
#[derive(Debug, Clone, Deserialize)]
pub struct StorageConfig {
    /// `local` or `s3`.
    pub backend: StorageBackend,
    /// The directory of the `local` backend; empty: `<data.dir>/media`.
    pub local_dir: String,
    /// The bucket of the `s3` backend.
    pub s3_bucket: String,
    /// The S3 endpoint (`http://127.0.0.1:9000` for MinIO); empty: AWS for `s3_region`.
    pub s3_endpoint: String,
    /// The bucket's region.
    pub s3_region: String,
    /// The access key id.
    pub s3_access_key_id: SecretString,
    /// The secret access key.
    pub s3_secret_access_key: SecretString,
    /// Accept an `http://` endpoint (a local MinIO or test server).
    pub s3_allow_http: bool,
    /// Path-style requests (`endpoint/bucket/key`), which MinIO and most non-AWS servers want.
    pub s3_path_style: bool,
}

/// Serving Telegram files through the account that can see them.
#[derive(Debug, Clone, Deserialize)]
pub struct DownloadsConfig {
    /// Largest file served, in bytes; larger ones are refused with `media_too_large`.
    pub max_file_bytes: u64,
    /// Memory for recently served small files (thumbnails, chat photos) per chat-service
    /// replica, in bytes; 0: none kept.
    pub cache_bytes: u64,
    /// How long a signed media URL (`/media/t/{token}`) works, in seconds.
    pub signed_url_ttl_secs: u64,
    /// How long, at least, the signed media URLs in TorexTalkWeb replies (`photo_url`,
    /// `thumb_url`, `profile_picture`, `/me/download_media`) work, in seconds: that
    /// frontend keeps them for as long as a page is open. Their expiry is rounded up to
    /// the hour, so listings within one hour give the same, browser-cacheable URL.
    pub legacy_link_ttl_secs: u64,
}

/// Real-time events (the replay log) and Web Push notifications.
#[derive(Debug, Clone, Deserialize)]
pub struct RealtimeConfig {
    /// Events kept per linked account for clients that reconnect with `since`.
    pub retained_events: usize,
    /// Events older than this are not replayed (seconds).
    pub retention_secs: u64,
    /// Bytes of events kept per account by the in-process replay log (the embedded
    /// default), at most; the oldest go first, the newest is always kept.
    pub retained_bytes_per_account: usize,
    /// Base64url of the VAPID private key (32 bytes) that signs push requests. Empty: one
    /// is generated once into `<data.dir>/vapid.key` (one process).
    pub vapid_private_key: SecretString,
    /// Who push services contact about this sender (`mailto:` or `https:` URL).
    pub vapid_subject: String,
    /// Accept `http://` push endpoints on loopback (tests with a local push service).
    pub push_allow_http_loopback: bool,
}

/// Sending messages (durable jobs).
#[derive(Debug, Clone, Deserialize)]
pub struct SendsConfig {
    /// Tries of a send before it fails with `attempts_exhausted`.
    pub max_attempts: u32,
    /// Unacknowledged queue messages a shard's consumer holds at once.
    pub prefetch: u16,
    /// The longest pause between retries of a failed send (seconds).
    pub max_backoff_secs: u64,
    /// Where chat-service reaches the media service for media sends (pins and the files'
    /// bytes). The all-in-one binary points it at its own media service.
    #[serde(default = "default_media_service_url")]
    pub media_service_url: String,
}

fn default_media_service_url() -> String {
    "http://127.0.0.1:50052".to_owned()
}

/// Which Telegram to talk to.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum TelegramMode {
    /// The local sandbox data center (in process in the embedded default).
    Sandbox,
    /// Telegram itself (needs `api_id` and `api_hash` from my.telegram.org).
    Telegram,
}

/// Reaching Telegram.
#[derive(Debug, Clone, Deserialize)]
pub struct TelegramConfig {
    /// `sandbox` or `telegram`.
    pub mode: TelegramMode,
    /// The application's `api_id` (any positive number for the sandbox).
    pub api_id: i32,
    /// The application's `api_hash`.
    pub api_hash: SecretString,
    /// Base64 of the 32-byte AES-256-GCM key that seals Telegram sessions at rest. Empty: a
    /// random key is generated once into `<data.dir>/telegram-session.key` (one process).
    pub session_key: SecretString,
    /// How long a pending login (code sent, password asked) stays valid.
    pub login_ttl_secs: u64,
    /// Wrong codes or passwords accepted for one login before it must start again.
    pub max_login_attempts: u32,
    /// `host:port` of a sandbox running as its own process (`tg-sandbox`); empty: the
    /// chat service runs one in-process, its state under `<data.dir>/sandbox`.
    pub sandbox_address: String,
    /// The admin API of that sandbox (`http://127.0.0.1:9444`), where keys are issued.
    pub sandbox_admin_url: String,
    /// A seed file for the in-process sandbox's first start; empty: the demo world.
    pub sandbox_seed: String,
    /// How often an idle account connection is checked (and reconnected if it dropped),
    /// and its update state compared with Telegram's.
    pub keepalive_secs: u64,
    /// How long Telegram's update state may stay ahead of an idle link, with nothing
    /// received, before the link is judged silent and replaced (it catches up).
    pub stall_grace_secs: u64,
}

/// Request rate limits (GCRA; in Redis when configured, else in memory).
#[derive(Debug, Clone, Deserialize)]
pub struct RateLimitConfig {
    /// Whether limits apply at all.
    pub enabled: bool,
    /// Sign-in, registration and refresh requests a minute per client address.
    pub auth_per_minute: u32,
    /// How many of those may come at once.
    pub auth_burst: u32,
    /// Authenticated API requests a minute per user.
    pub api_per_minute: u32,
    /// How many of those may come at once.
    pub api_burst: u32,
    /// With the limits in Redis: a gateway takes several of a user's API requests at once
    /// and spends them without asking, each share meant to last about this long (ADR
    /// 0076; at most an eighth of `api_burst`, what it did not spend given back). 0 asks
    /// Redis for every request; at most 60,000.
    pub api_local_share_ms: u64,
    /// Prefix of the limiter's Redis keys (separates deployments sharing one Redis).
    pub redis_key_prefix: String,
    /// Trust the first address of `X-Forwarded-For` as the client's (only behind a proxy
    /// that sets it; otherwise clients could pick their own address).
    pub trust_forwarded_for: bool,
    /// Telegram login steps (starting a login, a code, a 2FA password) an hour, counted
    /// per user, per phone number and per client address each: login codes cannot be
    /// guessed in bulk.
    pub telegram_login_per_hour: u32,
    /// How many of those may come at once.
    pub telegram_login_burst: u32,
}

/// Logging.
#[derive(Debug, Clone, Deserialize)]
pub struct LogConfig {
    /// `text` for people, `json` for log pipelines.
    pub format: LogFormat,
    /// An `EnvFilter` directive such as `info` or `talkapp_gateway=debug,info`;
    /// `RUST_LOG` overrides it when set.
    pub filter: String,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Trace export.
#[derive(Debug, Clone, Deserialize)]
pub struct TelemetryConfig {
    /// OTLP/gRPC collector endpoint (`http://127.0.0.1:4317`); empty disables export.
    pub otlp_endpoint: String,
    /// Fraction of root traces sampled, 0.0 to 1.0.
    pub sample_ratio: f64,
    /// Which spans are exported, as an `EnvFilter` directive (independent of `log.filter`).
    pub filter: String,
}

/// Local data.
#[derive(Debug, Clone, Deserialize)]
pub struct DataConfig {
    /// Directory for the SQLite file, local media and generated secrets.
    pub dir: PathBuf,
}

/// The relational store.
#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseConfig {
    /// `sqlite://path/to/file.db` (embedded default) or `postgres://user@host/db`.
    pub url: SecretString,
    /// Pool size for PostgreSQL.
    pub max_connections: usize,
    /// How long to wait for a connection before failing the request.
    pub connect_timeout_ms: u64,
    /// How long a starting process waits for an unreachable database before giving up.
    pub startup_timeout_ms: u64,
}

/// Redis.
#[derive(Debug, Clone, Deserialize)]
pub struct RedisConfig {
    /// `redis://127.0.0.1:6379`; empty means Redis is not used by this process.
    pub url: SecretString,
    /// Prefix of TalkApp's Redis keys (separates deployments sharing one Redis).
    pub prefix: String,
}

/// RabbitMQ.
#[derive(Debug, Clone, Deserialize)]
pub struct AmqpConfig {
    /// `amqp://guest:guest@127.0.0.1:5672/%2f`; empty means RabbitMQ is not used.
    pub url: SecretString,
    /// Prefix of TalkApp's queue and exchange names (separates deployments on one broker).
    pub prefix: String,
    /// `quorum` (replicated, the production choice) or `classic` queues.
    pub queue_type: String,
    /// Queues left without a consumer this long are deleted by the broker; 0 keeps them
    /// (the production choice: a shard's queue must outlive its replicas). Tests and
    /// throwaway deployments set it so that their queues do not pile up on the broker.
    pub queue_expires_secs: u64,
    /// Events published within this many seconds are kept by the publisher and published
    /// again, first thing, on its next connection after one is lost: a classic queue can
    /// lose a publish the broker confirmed during its shutdown (ADR 0045). 0 keeps none.
    pub replay_window_secs: u64,
    /// At most this many events kept for that replay (the oldest go first). 0 keeps none.
    pub replay_window_events: usize,
    /// At most this many bytes of events kept for that replay (the oldest go first).
    /// 0 keeps none.
    pub replay_window_bytes: usize,
}

/// The gateway.
#[derive(Debug, Clone, Deserialize)]
pub struct GatewayConfig {
    /// Address the REST/WebSocket server binds.
    pub listen: SocketAddr,
    /// HTTP worker threads; 0 means one per core.
    pub workers: usize,
    /// Largest JSON request body accepted, in bytes.
    pub max_json_body_bytes: usize,
    /// Deadline for each call to a service.
    pub grpc_timeout_ms: u64,
    /// How long in-flight requests may take to finish after a stop signal.
    pub shutdown_grace_secs: u64,
    /// Where the chat service listens (split mode).
    pub chat_service_url: String,
    /// Where the media service listens (split mode).
    pub media_service_url: String,
    /// Where the search service listens (split mode).
    pub search_service_url: String,
    /// Where the realtime service listens (split mode).
    pub realtime_service_url: String,
    /// Browser origins allowed to call the gateway from another origin (CORS), such as
    /// `http://localhost:8080`. Empty: no CORS headers at all (same-origin or non-browser
    /// clients only). `*`: any origin, without credentials (development only). From the
    /// environment: comma-separated (`TALKAPP_GATEWAY__CORS_ALLOWED_ORIGINS=http://a,http://b`).
    #[serde(deserialize_with = "list_or_comma_separated")]
    pub cors_allowed_origins: Vec<String>,
    /// WebSocket connections one user may hold at once (tabs × linked accounts).
    pub ws_max_connections_per_user: u32,
    /// A request body not received whole within this many seconds of the request's
    /// headers is answered 408 `request_timeout` and its connection closed: a client
    /// trickling a body holds no connection longer (slow headers are cut after 5 s).
    pub body_timeout_secs: u64,
    /// Open TCP connections one client address may hold; a request on a connection
    /// beyond them is answered 429 `too_many_connections` and the connection closed at
    /// once. 0: no limit (behind a proxy, whose address every connection has).
    pub max_connections_per_client: usize,
}

/// Token verification and built-in accounts.
#[derive(Debug, Clone, Deserialize)]
pub struct AuthConfig {
    /// Whether `/auth/register`, `/auth/login`, ... are served.
    pub builtin_enabled: bool,
    /// `iss` of built-in access tokens.
    pub issuer: String,
    /// `aud` of built-in access tokens (Supabase uses `authenticated`).
    pub audience: String,
    /// HS256 key for built-in access tokens, at least 32 bytes. Empty: a random key is
    /// generated once and kept in `<data.dir>/token-signing.key` (one gateway only).
    pub signing_secret: SecretString,
    /// Lifetime of an access token.
    pub access_token_ttl_secs: u64,
    /// Lifetime of a refresh-token family from sign-in.
    pub refresh_token_ttl_secs: u64,
    /// A sign-in session unused for this long is ended.
    pub idle_timeout_secs: u64,
    /// Shortest password accepted at registration.
    pub min_password_length: usize,
    /// The `apikey` the Supabase-compatible routes (`/auth/v1/*`) require, i.e. the value
    /// the frontend is built with as `VITE_SUPABASE_ANON_KEY`. Empty: any value is accepted.
    pub supabase_anon_key: SecretString,
    /// How long a spent refresh token may be presented again on `/auth/v1/token` and get
    /// the successor it already got, instead of ending the session (several supabase-js
    /// clients share one token). 0: never; `/auth/refresh` never tolerates reuse.
    pub refresh_reuse_interval_secs: u64,
    /// An external identity provider (Supabase).
    pub external: ExternalAuthConfig,
}

/// An external identity provider whose JWTs are accepted (Supabase).
#[derive(Debug, Clone, Deserialize)]
pub struct ExternalAuthConfig {
    /// The project's JWT secret for HS256 tokens; empty if not used.
    pub hs256_secret: SecretString,
    /// JWKS URL for asymmetric tokens (`https://<ref>.supabase.co/auth/v1/.well-known/jwks.json`).
    pub jwks_url: String,
    /// Expected `iss` (`https://<ref>.supabase.co/auth/v1`). Required when either key is set.
    pub issuer: String,
    /// Expected `aud`.
    pub audience: String,
    /// How often the JWKS is fetched again (an unknown `kid` also triggers a fetch).
    pub jwks_refresh_secs: u64,
}

impl ExternalAuthConfig {
    /// Whether an external provider is configured at all.
    pub fn is_enabled(&self) -> bool {
        !self.hs256_secret.expose_secret().is_empty() || !self.jwks_url.is_empty()
    }
}

/// A gRPC service process.
#[derive(Debug, Clone, Deserialize)]
pub struct ServiceConfig {
    /// Address the service binds (gRPC, gRPC health and HTTP `/metrics` on one port).
    pub listen: SocketAddr,
    /// How other replicas reach this one (`http://10.0.0.5:50051`); empty: derived from
    /// `listen` (which must then not be a wildcard address).
    #[serde(default)]
    pub advertise_url: String,
}

/// Dependency probes.
#[derive(Debug, Clone, Deserialize)]
pub struct ProbeConfig {
    /// How often each process checks its dependencies.
    pub interval_ms: u64,
    /// How long one check may take before the dependency counts as down.
    pub timeout_ms: u64,
}

/// Where the configuration file comes from.
#[derive(Debug, Clone, Default)]
pub struct ConfigSources {
    /// An optional TOML file.
    pub file: Option<PathBuf>,
    /// Extra `(key, value)` overrides applied last (tests use this instead of the
    /// process environment, which is shared between tests).
    pub overrides: Vec<(String, String)>,
    /// Whether `TALKAPP_*` environment variables are read.
    pub read_environment: bool,
}

impl ConfigSources {
    /// The sources a process uses: `--config <file>` or `TALKAPP_CONFIG`, then the environment.
    pub fn from_process() -> Self {
        let mut args = std::env::args().skip(1);
        let mut file = std::env::var_os("TALKAPP_CONFIG").map(PathBuf::from);
        while let Some(arg) = args.next() {
            if arg == "--config" {
                file = args.next().map(PathBuf::from);
            } else if let Some(path) = arg.strip_prefix("--config=") {
                file = Some(PathBuf::from(path));
            }
        }
        Self {
            file,
            overrides: Vec::new(),
            read_environment: true,
        }
    }
}

impl Config {
    /// Reads and validates the configuration.
    pub fn load(sources: &ConfigSources) -> Result<Self, ConfigError> {
        let mut builder = config::Config::builder().add_source(config::File::from_str(
            EMBEDDED_DEFAULTS,
            config::FileFormat::Toml,
        ));
        if let Some(file) = &sources.file {
            builder = builder.add_source(config::File::from(file.as_path()).required(true));
        }
        if sources.read_environment {
            builder = builder.add_source(
                config::Environment::with_prefix("TALKAPP")
                    .prefix_separator("_")
                    .separator("__")
                    .ignore_empty(false),
            );
        }
        for (key, value) in &sources.overrides {
            builder = builder.set_override(key.as_str(), value.as_str())?;
        }
        let config: Config = builder.build()?.try_deserialize()?;
        config.validate()?;
        Ok(config)
    }

    /// The defaults alone (tests start from here).
    pub fn embedded_defaults() -> Result<Self, ConfigError> {
        Self::load(&ConfigSources::default())
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: &'static str, reason: &str| {
            Err(ConfigError::Invalid {
                key,
                reason: reason.to_owned(),
            })
        };
        let database_url = self.database.url.expose_secret();
        if !(database_url.starts_with("sqlite://")
            || database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://"))
        {
            return invalid(
                "database.url",
                "must start with sqlite://, postgres:// or postgresql://",
            );
        }
        if self.database.max_connections == 0 {
            return invalid("database.max_connections", "must be at least 1");
        }
        let redis_url = self.redis.url.expose_secret();
        if !redis_url.is_empty() && !redis_url.starts_with("redis://") {
            return invalid("redis.url", "must be empty or start with redis://");
        }
        let amqp_url = self.amqp.url.expose_secret();
        if !amqp_url.is_empty() && !amqp_url.starts_with("amqp://") {
            return invalid("amqp.url", "must be empty or start with amqp://");
        }
        if !(MIN_LIVE_WEBM_SEARCH_BYTES..=MAX_LIVE_WEBM_SEARCH_BYTES)
            .contains(&self.media.live_webm_search_bytes)
        {
            return invalid(
                "media.live_webm_search_bytes",
                "must be between 4194304 (4 MiB, the tail it starts from) and 1073741824 (1 GiB)",
            );
        }
        if !(MIN_MOOV_BYTES..=MAX_MOOV_BYTES).contains(&self.media.max_moov_bytes) {
            return invalid(
                "media.max_moov_bytes",
                "must be between 1048576 (1 MiB) and 268435456 (256 MiB: it is read whole)",
            );
        }
        if !(0.0..=1.0).contains(&self.telemetry.sample_ratio) {
            return invalid("telemetry.sample_ratio", "must be between 0.0 and 1.0");
        }
        for (key, url) in [
            ("gateway.chat_service_url", &self.gateway.chat_service_url),
            ("gateway.media_service_url", &self.gateway.media_service_url),
            ("search.chat_service_url", &self.search.chat_service_url),
            (
                "gateway.search_service_url",
                &self.gateway.search_service_url,
            ),
            (
                "gateway.realtime_service_url",
                &self.gateway.realtime_service_url,
            ),
        ] {
            if !url.starts_with("http://") && !url.starts_with("https://") {
                return invalid(key, "must start with http:// or https://");
            }
        }
        if self.gateway.max_json_body_bytes < 1024 {
            return invalid("gateway.max_json_body_bytes", "must be at least 1024");
        }
        if self.downloads.max_file_bytes == 0 {
            return invalid("downloads.max_file_bytes", "must be at least 1");
        }
        if !(1..=60_000).contains(&self.search.telegram_timeout_ms) {
            return invalid("search.telegram_timeout_ms", "must be between 1 and 60000");
        }
        if self.downloads.signed_url_ttl_secs == 0 || self.downloads.signed_url_ttl_secs > 86_400 {
            return invalid(
                "downloads.signed_url_ttl_secs",
                "must be between 1 and 86400 (signed links are short-lived)",
            );
        }
        if self.downloads.legacy_link_ttl_secs == 0 || self.downloads.legacy_link_ttl_secs > 604_800
        {
            return invalid(
                "downloads.legacy_link_ttl_secs",
                "must be between 1 and 604800 (a week)",
            );
        }
        if self.gateway.grpc_timeout_ms == 0 {
            return invalid("gateway.grpc_timeout_ms", "must be at least 1");
        }
        if self.gateway.body_timeout_secs == 0 {
            return invalid("gateway.body_timeout_secs", "must be at least 1");
        }
        let signing_secret = self.auth.signing_secret.expose_secret();
        if !signing_secret.is_empty() && signing_secret.len() < 32 {
            return invalid("auth.signing_secret", "must be empty or at least 32 bytes");
        }
        if self.auth.access_token_ttl_secs == 0 || self.auth.access_token_ttl_secs > 86_400 {
            return invalid(
                "auth.access_token_ttl_secs",
                "must be between 1 and 86400 (access tokens are short-lived)",
            );
        }
        if self.auth.refresh_token_ttl_secs < self.auth.access_token_ttl_secs {
            return invalid(
                "auth.refresh_token_ttl_secs",
                "must not be shorter than auth.access_token_ttl_secs",
            );
        }
        if self.auth.idle_timeout_secs == 0 {
            return invalid("auth.idle_timeout_secs", "must be at least 1");
        }
        if self.auth.min_password_length < 8 {
            return invalid("auth.min_password_length", "must be at least 8");
        }
        if self.auth.refresh_reuse_interval_secs > 300 {
            return invalid(
                "auth.refresh_reuse_interval_secs",
                "must be at most 300 (a reused refresh token is normally a theft signal)",
            );
        }
        if self
            .operator
            .token_sha256
            .iter()
            .any(|hash| hash.len() != 64 || !hash.bytes().all(|byte| byte.is_ascii_hexdigit()))
        {
            return invalid(
                "operator.token_sha256",
                "each entry must be 64 hex digits (the SHA-256 of an operator token)",
            );
        }
        if self.audit.batch_window_ms > 1000 {
            return invalid("audit.batch_window_ms", "must be 0 to 1000");
        }
        if !(1..=3600).contains(&self.operator.activity_flush_secs) {
            return invalid("operator.activity_flush_secs", "must be 1 to 3600");
        }
        if let Err(reason) = validate_cors_origins(&self.gateway.cors_allowed_origins) {
            return invalid("gateway.cors_allowed_origins", &reason);
        }
        let external = &self.auth.external;
        if external.is_enabled() && external.issuer.is_empty() {
            return invalid(
                "auth.external.issuer",
                "must be set when auth.external.hs256_secret or auth.external.jwks_url is set",
            );
        }
        if !external.jwks_url.is_empty()
            && !external.jwks_url.starts_with("https://")
            && !external.jwks_url.starts_with("http://")
        {
            return invalid("auth.external.jwks_url", "must be an http(s) URL");
        }
        if !external.is_enabled() && !self.auth.builtin_enabled {
            return invalid(
                "auth.builtin_enabled",
                "cannot be false unless an external provider is configured (auth.external)",
            );
        }
        let limits = &self.rate_limit;
        if limits.auth_per_minute == 0 || limits.api_per_minute == 0 {
            return invalid(
                "rate_limit.auth_per_minute",
                "rates must be at least 1 a minute",
            );
        }
        if limits.auth_burst == 0 || limits.api_burst == 0 {
            return invalid("rate_limit.auth_burst", "bursts must be at least 1");
        }
        if limits.api_local_share_ms > 60_000 {
            return invalid(
                "rate_limit.api_local_share_ms",
                "must be at most 60000 (a minute)",
            );
        }
        let telegram = &self.telegram;
        if telegram.api_id <= 0 {
            return invalid("telegram.api_id", "must be a positive number");
        }
        if telegram.mode == TelegramMode::Telegram && telegram.api_hash.expose_secret().is_empty() {
            return invalid(
                "telegram.api_hash",
                "is required when telegram.mode is telegram",
            );
        }
        let session_key = telegram.session_key.expose_secret();
        if !session_key.is_empty() && decode_base64_key(session_key).is_none() {
            return invalid(
                "telegram.session_key",
                "must be empty or base64 of exactly 32 bytes",
            );
        }
        if telegram.login_ttl_secs < 60 {
            return invalid("telegram.login_ttl_secs", "must be at least 60");
        }
        if telegram.max_login_attempts == 0 {
            return invalid("telegram.max_login_attempts", "must be at least 1");
        }
        if !telegram.sandbox_address.is_empty() {
            if telegram
                .sandbox_address
                .parse::<std::net::SocketAddrV4>()
                .is_err()
            {
                return invalid(
                    "telegram.sandbox_address",
                    "must be an IPv4 host:port such as 127.0.0.1:9443",
                );
            }
            if !telegram.sandbox_admin_url.starts_with("http://")
                && !telegram.sandbox_admin_url.starts_with("https://")
            {
                return invalid(
                    "telegram.sandbox_admin_url",
                    "must be the sandbox's admin URL when telegram.sandbox_address is set",
                );
            }
        }
        if !matches!(self.amqp.queue_type.as_str(), "quorum" | "classic") {
            return invalid("amqp.queue_type", "must be quorum or classic");
        }
        if self.amqp.prefix.is_empty() {
            return invalid("amqp.prefix", "must not be empty");
        }
        if self.sends.max_attempts == 0 || self.sends.prefetch == 0 {
            return invalid(
                "sends.max_attempts",
                "attempts and prefetch must be at least 1",
            );
        }
        if self.realtime.retained_events == 0 || self.realtime.retention_secs == 0 {
            return invalid(
                "realtime.retained_events",
                "retention must keep at least one event for at least one second",
            );
        }
        if self.realtime.retained_bytes_per_account < 1024 {
            return invalid(
                "realtime.retained_bytes_per_account",
                "must be at least 1024 bytes",
            );
        }
        if !self.realtime.vapid_subject.starts_with("mailto:")
            && !self.realtime.vapid_subject.starts_with("https://")
        {
            return invalid("realtime.vapid_subject", "must be a mailto: or https: URL");
        }
        if telegram.keepalive_secs == 0 {
            return invalid("telegram.keepalive_secs", "must be at least 1");
        }
        if telegram.stall_grace_secs == 0 {
            return invalid("telegram.stall_grace_secs", "must be at least 1");
        }
        if self.media.max_file_bytes == 0 || self.media.quota_bytes == 0 {
            return invalid(
                "media.max_file_bytes",
                "the file size limit and the quota must be at least 1",
            );
        }
        if self.media.preview_max_side < 16 || self.media.max_image_pixels == 0 {
            return invalid(
                "media.preview_max_side",
                "must be at least 16 (and media.max_image_pixels at least 1)",
            );
        }
        if self.media.frame_timeout_ms == 0
            || self.media.frame_concurrency == 0
            || self.media.preview_queue == 0
        {
            return invalid(
                "media.frame_timeout_ms",
                "the preview tools' timeout, media.frame_concurrency and media.preview_queue \
                 must be at least 1",
            );
        }
        if self.media.sweep_interval_secs == 0 || self.media.stale_upload_secs == 0 {
            return invalid(
                "media.sweep_interval_secs",
                "the sweep interval and the stale-upload age must be at least 1",
            );
        }
        if self.storage.backend == StorageBackend::S3 {
            if self.storage.s3_bucket.is_empty() {
                return invalid(
                    "storage.s3_bucket",
                    "is required when storage.backend is s3",
                );
            }
            if !self.storage.s3_endpoint.is_empty()
                && !self.storage.s3_endpoint.starts_with("http://")
                && !self.storage.s3_endpoint.starts_with("https://")
            {
                return invalid("storage.s3_endpoint", "must be empty or an http(s) URL");
            }
            if self.storage.s3_endpoint.starts_with("http://") && !self.storage.s3_allow_http {
                return invalid(
                    "storage.s3_endpoint",
                    "is plain http: set storage.s3_allow_http = true to allow it",
                );
            }
        }
        if self.probes.interval_ms == 0 || self.probes.timeout_ms == 0 {
            return invalid(
                "probes.interval_ms",
                "probe interval and timeout must be positive",
            );
        }
        Ok(())
    }

    /// The configured session-sealing key, if one is set (validated at load).
    pub fn telegram_session_key(&self) -> Option<[u8; 32]> {
        decode_base64_key(self.telegram.session_key.expose_secret())
    }

    /// Path of the SQLite file when the store is SQLite.
    pub fn sqlite_path(&self) -> Option<&Path> {
        self.database
            .url
            .expose_secret()
            .strip_prefix("sqlite://")
            .map(Path::new)
    }
}

/// Accepts a list (TOML array) or one comma-separated string (environment variables).
fn list_or_comma_separated<'de, D>(deserializer: D) -> Result<Vec<String>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ListOrString {
        List(Vec<String>),
        Text(String),
    }
    let items = match ListOrString::deserialize(deserializer)? {
        ListOrString::List(items) => items,
        ListOrString::Text(text) => text.split(',').map(str::to_owned).collect(),
    };
    Ok(items
        .into_iter()
        .map(|item| item.trim().to_owned())
        .filter(|item| !item.is_empty())
        .collect())
}

/// Each entry is `*` alone or an origin: `http(s)://host[:port]`, no path, no trailing `/`.
fn validate_cors_origins(origins: &[String]) -> Result<(), String> {
    if origins.iter().any(|origin| origin == "*") {
        return if origins.len() == 1 {
            Ok(())
        } else {
            Err("`*` must be the only entry".to_owned())
        };
    }
    for origin in origins {
        let host_and_port = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"));
        let well_formed = host_and_port.is_some_and(|rest| {
            !rest.is_empty()
                && !rest.contains(['/', '?', '#', '@', '*'])
                && !rest.chars().any(char::is_whitespace)
        });
        if !well_formed {
            return Err(format!(
                "`{origin}` is not an origin such as http://localhost:8080 (scheme, host, optional port; no path)"
            ));
        }
    }
    Ok(())
}

/// Decodes standard base64 of exactly 32 bytes.
fn decode_base64_key(text: &str) -> Option<[u8; 32]> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .ok()?
        .try_into()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_with(overrides: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::load(&ConfigSources {
            file: None,
            overrides: overrides
                .iter()
                .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
                .collect(),
            read_environment: false,
        })
    }

    #[test]
    fn embedded_defaults_are_valid_and_serve_on_port_8080() {
        let config = load_with(&[]).expect("defaults load");
        assert_eq!(config.gateway.listen.to_string(), "127.0.0.1:8080");
        assert!(config.sqlite_path().is_some());
    }

    #[test]
    fn a_bad_value_is_refused_with_its_key_named() {
        let error = load_with(&[("database.url", "mysql://x")]).expect_err("refused");
        assert!(error.to_string().contains("`database.url`"), "{error}");
    }

    #[test]
    fn the_api_limits_local_shares_last_two_seconds_and_a_minute_at_most() {
        let config = load_with(&[]).expect("defaults load");
        assert_eq!(config.rate_limit.api_local_share_ms, 2_000);
        load_with(&[("rate_limit.api_local_share_ms", "0")]).expect("0 turns them off");
        let error = load_with(&[("rate_limit.api_local_share_ms", "60001")]).expect_err("refused");
        assert!(
            error.to_string().contains("rate_limit.api_local_share_ms"),
            "{error}"
        );
    }

    #[test]
    fn a_value_of_the_wrong_type_is_refused_with_its_key_named() {
        let error = load_with(&[("gateway.listen", "not-an-address")]).expect_err("refused");
        assert!(error.to_string().contains("gateway.listen"), "{error}");
    }

    #[test]
    fn an_external_provider_without_issuer_is_refused() {
        let error = load_with(&[(
            "auth.external.hs256_secret",
            "s3cret-s3cret-s3cret-s3cret-123",
        )])
        .expect_err("refused");
        assert!(
            error.to_string().contains("auth.external.issuer"),
            "{error}"
        );
    }

    #[test]
    fn a_session_key_must_be_32_bytes_of_base64() {
        let good = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
        let config = load_with(&[("telegram.session_key", good)]).expect("accepted");
        let key = config.telegram_session_key().expect("decoded");
        assert_eq!(key[0], 0);
        assert_eq!(key[31], 31);
        let error = load_with(&[("telegram.session_key", "c2hvcnQ=")]).expect_err("refused");
        assert!(
            error.to_string().contains("telegram.session_key"),
            "{error}"
        );
    }

    #[test]
    fn the_in_process_replay_logs_byte_bound_is_a_mebibyte_and_at_least_a_kibibyte() {
        let config = load_with(&[]).expect("defaults load");
        assert_eq!(config.realtime.retained_bytes_per_account, 1024 * 1024);
        let error =
            load_with(&[("realtime.retained_bytes_per_account", "100")]).expect_err("refused");
        assert!(
            error
                .to_string()
                .contains("realtime.retained_bytes_per_account"),
            "{error}"
        );
    }

    #[test]
    fn the_live_webm_search_and_the_mp4_index_bounds_are_64_mib_and_checked() {
        let config = load_with(&[]).expect("defaults load");
        assert_eq!(config.media.live_webm_search_bytes, 64 * 1024 * 1024);
        assert_eq!(config.media.max_moov_bytes, 64 * 1024 * 1024);
        let config = load_with(&[
            ("media.live_webm_search_bytes", "268435456"),
            ("media.max_moov_bytes", "1048576"),
        ])
        .expect("accepted");
        assert_eq!(config.media.live_webm_search_bytes, 256 * 1024 * 1024);
        assert_eq!(config.media.max_moov_bytes, 1024 * 1024);
        for (key, value) in [
            ("media.live_webm_search_bytes", "0"),
            ("media.live_webm_search_bytes", "4194303"),
            ("media.live_webm_search_bytes", "1073741825"),
            ("media.max_moov_bytes", "1048575"),
            ("media.max_moov_bytes", "268435457"),
        ] {
            let error = load_with(&[(key, value)]).expect_err("refused");
            assert!(error.to_string().contains(key), "{key} = {value}: {error}");
        }
    }

    #[test]
    fn real_telegram_needs_an_api_hash() {
        let error = load_with(&[("telegram.mode", "telegram")]).expect_err("refused");
        assert!(error.to_string().contains("telegram.api_hash"), "{error}");
    }

    #[test]
    fn cors_origins_come_from_a_list_or_a_comma_separated_string() {
        let config = load_with(&[(
            "gateway.cors_allowed_origins",
            "http://localhost:8080, https://app.example.com",
        )])
        .expect("accepted");
        assert_eq!(
            config.gateway.cors_allowed_origins,
            ["http://localhost:8080", "https://app.example.com"]
        );
        assert!(
            load_with(&[])
                .expect("defaults")
                .gateway
                .cors_allowed_origins
                .is_empty()
        );
        for bad in ["localhost:8080", "http://a.example/", "*,http://a.example"] {
            let error = load_with(&[("gateway.cors_allowed_origins", bad)]).expect_err("refused");
            assert!(
                error.to_string().contains("gateway.cors_allowed_origins"),
                "{error}"
            );
        }
    }

    #[test]
    fn a_short_signing_secret_is_refused() {
        let error = load_with(&[("auth.signing_secret", "short")]).expect_err("refused");
        assert!(error.to_string().contains("auth.signing_secret"), "{error}");
    }
}
