//! Preview images of videos and PDFs, made by optional external tools (ADR 0034): a frame
//! of a video by `ffmpeg`, the first page of a PDF by `pdftoppm` (poppler-utils).
//!
//! The tools parse uploaded bytes with large decoders, so each run is hemmed in:
//! - the input is a file path argument, never through a shell: the object itself for the
//!   local backend, else a copy in a private temporary file (removed after) of at most
//!   `media.frame_max_source_bytes`: a larger object is copied as its head and its tail
//!   in a sparse file of its size ([`TempCopy`]), with an MP4's index and first video
//!   samples, a WebM's or Matroska file's keyframe Cluster and Cues, or a PDF's first
//!   page's objects, where they are (at most `media.frame_max_extra_bytes` more); an Ogg
//!   video's frame beyond its head is copied as the head's whole pages followed by the
//!   pages found for it (no hole);
//! - ffmpeg is told the demuxer the bytes were sniffed as (no probing into playlists or
//!   other formats) and reads only `file:` URLs;
//! - `prlimit` caps the child's address space, CPU time, core dumps and the size of any
//!   file it writes (the workspace forbids `unsafe`, so no `setrlimit` in `pre_exec`);
//!   its environment is empty, its working directory the temporary directory;
//! - at most `media.frame_concurrency` run at once: the preview queue's workers
//!   (`crate::previews`), each making one preview at a time, are the only callers;
//! - one wall-clock deadline covers the copy and the run; at the deadline the child is
//!   killed (and reaped), as it is when its worker is dropped at shutdown
//!   (`kill_on_drop`);
//! - its output (a PNG on stdout) and its stderr are read up to a bound; more output
//!   kills it;
//! - the PNG is decoded with a pixel limit, checked to be within `media.preview_max_side`,
//!   and re-encoded as a JPEG by this service's own image code, so nothing of the tool's
//!   output but pixels goes on.
//!
//! Any failure means no preview, never a failed upload. A temporary directory found full
//! while a copy is written (`ENOSPC`, `EDQUOT`) is told apart ([`NoPreview::TempDirFull`]):
//! logged and counted as the storage being full, and the preview answered as one whose
//! image found the storage full (507, made again when asked for; ADR 0069, amended). The preview is made after the
//! upload answered, by the workers of the preview queue (`crate::previews`, ADR 0049):
//! the deadline of `media.frame_timeout_ms` starts when a worker takes it up.
//!
//! Not done: a frame chosen for being representative (it is the one at 1 s, or at a
//! tenth of a shorter video), pages after the first, other documents (office files).

use std::ffi::OsString;
use std::path::{Path as FsPath, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt as _;
use object_store::path::Path;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt as _};
use talkapp_common::config::MediaConfig;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncSeekExt as _, AsyncWriteExt as _};
use tokio::time::Instant;

use crate::error::{FullStorage, frame_temp_dir_full, full_storage};

/// Largest PNG accepted from a tool: a `preview_max_side`² frame is far smaller.
const MAX_OUTPUT_BYTES: usize = 16 * 1024 * 1024;
/// The part of a tool's stderr kept for the log.
const MAX_STDERR_BYTES: usize = 4096;

/// The external tools and the limits they run under; cheap to clone.
#[derive(Clone)]
pub(crate) struct FrameTools {
    ffmpeg: Option<PathBuf>,
    pdftoppm: Option<PathBuf>,
    prlimit: Option<PathBuf>,
    limits: RunLimits,
    timeout: Duration,
    max_source_bytes: u64,
    max_extra_bytes: u64,
    temp_dir: PathBuf,
    preview_max_side: u32,
}

/// How one run of a tool is limited (besides its deadline).
#[derive(Debug, Clone, Copy)]
pub(crate) struct RunLimits {
    /// Address space (`prlimit --as`).
    pub(crate) memory_bytes: u64,
    /// CPU seconds (`prlimit --cpu`).
    pub(crate) cpu_secs: u64,
    /// Bytes of stdout accepted; also the largest file it may write (`--fsize`).
    pub(crate) max_output_bytes: usize,
}

/// Why a tool gave no output.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ToolError {
    #[error("could not start it: {0}")]
    Spawn(std::io::Error),
    #[error("it did not finish in time and was killed")]
    TimedOut,
    #[error("it wrote more than {0} bytes and was killed")]
    OutputTooLarge(usize),
    #[error("it failed ({status}): {stderr}")]
    Failed { status: String, stderr: String },
    #[error("it wrote nothing: {stderr}")]
    Empty { stderr: String },
    #[error("reading it: {0}")]
    Io(std::io::Error),
}

/// A stored file to preview.
pub(crate) struct StoredFile<'a> {
    pub(crate) objects: &'a dyn ObjectStore,
    pub(crate) path: &'a Path,
    /// Its file, for the local backend (read in place).
    pub(crate) local: Option<PathBuf>,
    pub(crate) size: u64,
    pub(crate) mime: &'a str,
    /// A video's, when its container tells.
    pub(crate) duration_ms: Option<u64>,
}

/// What a file is previewed as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// A video, with ffmpeg's name of its demuxer.
    Video(&'static str),
    Pdf,
}

impl Source {
    fn of(mime: &str) -> Option<Self> {
        match mime {
            "video/mp4" | "video/quicktime" => Some(Self::Video("mov")),
            "video/webm" | "video/x-matroska" => Some(Self::Video("matroska")),
            "video/ogg" => Some(Self::Video("ogg")),
            "application/pdf" => Some(Self::Pdf),
            _ => None,
        }
    }
}

impl FrameTools {
    /// The tools `config` names (or `PATH` has); says in the log which previews are off.
    pub(crate) fn from_config(config: &MediaConfig) -> Self {
        let prlimit = find_on_path("prlimit");
        let mut ffmpeg = resolve("ffmpeg", &config.ffmpeg_path);
        let mut pdftoppm = resolve("pdftoppm", &config.pdftoppm_path);
        if prlimit.is_none() && (ffmpeg.is_some() || pdftoppm.is_some()) {
            tracing::warn!(
                "video and PDF previews are off: prlimit (util-linux), which limits the tools, \
                 is not on PATH"
            );
            ffmpeg = None;
            pdftoppm = None;
        }
        if ffmpeg.is_none() {
            tracing::warn!(
                configured = %config.ffmpeg_path,
                "video previews are off: no ffmpeg (media.ffmpeg_path)"
            );
        }
        if pdftoppm.is_none() {
            tracing::warn!(
                configured = %config.pdftoppm_path,
                "PDF previews are off: no pdftoppm (poppler-utils, media.pdftoppm_path)"
            );
        }
        let temp_dir = if config.frame_temp_dir.is_empty() {
            std::env::temp_dir()
        } else {
            PathBuf::from(&config.frame_temp_dir)
        };
        // The tools run in it (and fail to start without it: no preview, logged).
        if let Err(error) = std::fs::create_dir_all(&temp_dir) {
            tracing::warn!(%error, dir = %temp_dir.display(), "no directory for the preview tools");
        }
        let temp_dir = std::path::absolute(&temp_dir).unwrap_or(temp_dir);
        Self {
            ffmpeg,
            pdftoppm,
            prlimit,
            limits: RunLimits {
                memory_bytes: config.frame_max_memory_bytes,
                cpu_secs: config.frame_cpu_secs,
                max_output_bytes: MAX_OUTPUT_BYTES,
            },
            timeout: Duration::from_millis(config.frame_timeout_ms),
            max_source_bytes: config.frame_max_source_bytes,
            max_extra_bytes: config.frame_max_extra_bytes,
            temp_dir,
            preview_max_side: config.preview_max_side,
        }
    }

    /// Whether a file of `mime` can get a preview here.
    pub(crate) fn covers(&self, mime: &str) -> bool {
        match Source::of(mime) {
            Some(Source::Video(_)) => self.ffmpeg.is_some(),
            Some(Source::Pdf) => self.pdftoppm.is_some(),
            None => false,
        }
    }

    /// A JPEG preview of the video or PDF `file`, or why there is none (logged).
    pub(crate) async fn preview(&self, file: StoredFile<'_>) -> Result<Bytes, NoPreview> {
        let started = std::time::Instant::now();
        match self.try_preview(&file).await {
            Ok(preview) => {
                tracing::debug!(mime = file.mime, elapsed = ?started.elapsed(), "preview made");
                Ok(preview)
            }
            Err(Failure(why, error)) => {
                tracing::info!(mime = file.mime, %error, ?why, elapsed = ?started.elapsed(), "no preview");
                Err(why)
            }
        }
    }

    async fn try_preview(&self, file: &StoredFile<'_>) -> Result<Bytes, Failure> {
        let StoredFile {
            objects,
            path,
            ref local,
            size,
            mime,
            duration_ms,
        } = *file;
        let deadline = Instant::now() + self.timeout;
        let source = Source::of(mime).ok_or_else(|| Failure::of_bytes("not a video or a PDF"))?;
        let (Some(prlimit), Some(program)) = (
            self.prlimit.as_deref(),
            match source {
                Source::Video(_) => self.ffmpeg.as_deref(),
                Source::Pdf => self.pdftoppm.as_deref(),
            },
        ) else {
            return Err(Failure::of_bytes("its tool is off"));
        };
        // Dropped last: the copy is removed once the tool is done (or killed).
        let copy;
        let mut at_ms = frame_time_ms(duration_ms);
        let input = match local {
            Some(file) => file.clone(),
            None => {
                copy = tokio::time::timeout_at(
                    deadline,
                    TempCopy::of(
                        objects,
                        path,
                        &self.temp_dir,
                        size,
                        self.max_source_bytes,
                        match source {
                            Source::Video("mov") => Needs::Mp4Frame {
                                at_ms,
                                budget: self.max_extra_bytes,
                            },
                            Source::Video("matroska") => Needs::MatroskaFrame {
                                at_ms,
                                budget: self.max_extra_bytes,
                            },
                            Source::Video("ogg") => Needs::OggFrame {
                                at_ms,
                                budget: self.max_extra_bytes,
                            },
                            Source::Video(_) => Needs::HeadAndTail,
                            Source::Pdf => Needs::PdfPage {
                                budget: self.max_extra_bytes,
                            },
                        },
                    ),
                )
                .await
                .map_err(|_| Failure::load("the copy did not finish before the deadline"))?
                .map_err(|failure| self.copy_failed(failure))?;
                if let Some(frame_at_ms) = copy.frame_at_ms {
                    // The copy holds the frame at that time, not (only) at its usual one.
                    at_ms = frame_at_ms;
                }
                copy.path.clone()
            }
        };
        let max_side = self.preview_max_side;
        let args = match source {
            Source::Video(demuxer) => ffmpeg_args(demuxer, &input, at_ms, max_side),
            Source::Pdf => pdftoppm_args(&input, max_side),
        };
        let png = run_tool(
            prlimit,
            program,
            &args,
            &self.temp_dir,
            self.limits,
            deadline,
        )
        .await
        .map_err(|error| {
            let why = match error {
                // The machine, not the bytes: no process or pipe to be had.
                ToolError::Spawn(_) | ToolError::Io(_) => NoPreview::Load,
                // A deadline, a limit, a failure, no output: the bytes (a file that
                // takes the whole deadline would take it again on every retry).
                ToolError::TimedOut
                | ToolError::OutputTooLarge(_)
                | ToolError::Failed { .. }
                | ToolError::Empty { .. } => NoPreview::Bytes,
            };
            Failure(why, format!("{}: {error}", program.display()))
        })?;
        // Decoding is CPU work: off the async runtime.
        tokio::task::spawn_blocking(move || reencode(&png, max_side))
            .await
            .map_err(Failure::load)?
            .map_err(Failure::of_bytes)
    }

    /// The copy for the tool was not made: a full temporary directory is told to the
    /// operator (an error line, `talkapp_media_write_failures_total`); anything else is
    /// the load.
    fn copy_failed(&self, failure: CopyFailure) -> Failure {
        match failure {
            CopyFailure::TempDirFull(reason, error) => {
                let error = format!("{}: writing the copy: {error}", self.temp_dir.display());
                frame_temp_dir_full(reason, &error);
                Failure(NoPreview::TempDirFull(reason), error)
            }
            CopyFailure::Other(error) => Failure::load(error),
        }
    }
}

/// Why a file got no preview.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NoPreview {
    /// Its bytes (the tool failed on them, timed out, or wrote no image) or the
    /// configuration (no tool): final, never tried again.
    Bytes,
    /// The load (the copy from storage failed or was too slow, no process could be
    /// started): made again when someone asks for it.
    Load,
    /// The tools' temporary directory (`media.frame_temp_dir`) is full, so the copy of
    /// the stored object could not be written (logged and counted as a full storage):
    /// made again when someone asks for it, who is told the storage is full meanwhile.
    TempDirFull(FullStorage),
}

/// A reason for no preview, with what to log.
struct Failure(NoPreview, String);

impl Failure {
    fn of_bytes(error: impl ToString) -> Self {
        Self(NoPreview::Bytes, error.to_string())
    }

    fn load(error: impl ToString) -> Self {
        Self(NoPreview::Load, error.to_string())
    }
}

/// The output of a tool, checked and re-encoded: a JPEG of at most `max_side` a side.
fn reencode(png: &[u8], max_side: u32) -> Result<Bytes, String> {
    let (width, height) =
        image::ImageReader::with_format(std::io::Cursor::new(png), image::ImageFormat::Png)
            .into_dimensions()
            .map_err(|error| format!("the tool's output is not a PNG: {error}"))?;
    // The tools were told the size: a pixel of rounding, no more (checked before
    // anything is decoded).
    if width == 0 || height == 0 || width > max_side + 1 || height > max_side + 1 {
        return Err(format!(
            "the tool made a {width} x {height} image, not what was asked"
        ));
    }
    let pixels = u64::from(width) * u64::from(height);
    let (preview, _, _) = crate::analyze::preview_of(png, max_side, pixels)?;
    Ok(preview)
}

/// Where ffmpeg takes the frame: 1 s in, or a tenth of a shorter video.
fn frame_time_ms(duration_ms: Option<u64>) -> u64 {
    duration_ms.map_or(0, |duration| (duration / 10).min(1000))
}

fn ffmpeg_args(demuxer: &str, input: &FsPath, at: u64, max_side: u32) -> Vec<OsString> {
    let mut url = OsString::from("file:");
    url.push(input);
    let mut args: Vec<OsString> = [
        "-nostdin",
        "-hide_banner",
        "-loglevel",
        "error",
        "-threads",
        "1",
        "-filter_threads",
        "1",
        "-protocol_whitelist",
        "file",
        "-f",
        demuxer,
        "-ss",
        &format!("{}.{:03}", at / 1000, at % 1000),
        "-i",
    ]
    .iter()
    .map(OsString::from)
    .collect();
    args.push(url);
    args.extend(
        [
            "-map",
            "0:v:0",
            "-frames:v",
            "1",
            "-an",
            "-sn",
            "-dn",
            // Downscaled only (never enlarged), the aspect kept; ffmpeg applies a
            // rotation the container asks for.
            "-vf",
            &format!(
                "scale=w=min({max_side}\\,iw):h=min({max_side}\\,ih):force_original_aspect_ratio=decrease"
            ),
            "-c:v",
            "png",
            "-f",
            "image2pipe",
            "pipe:1",
        ]
        .iter()
        .map(OsString::from),
    );
    args
}

fn pdftoppm_args(input: &FsPath, max_side: u32) -> Vec<OsString> {
    let mut args: Vec<OsString> = [
        "-f",
        "1",
        "-l",
        "1",
        "-singlefile",
        "-png",
        "-scale-to",
        &max_side.to_string(),
    ]
    .iter()
    .map(OsString::from)
    .collect();
    // No output root: the page goes to stdout.
    args.push(input.as_os_str().to_owned());
    args
}

/// Runs `program` with `args` under `prlimit` and returns its stdout, killing it at
/// `deadline` or when it writes more than allowed.
pub(crate) async fn run_tool(
    prlimit: &FsPath,
    program: &FsPath,
    args: &[OsString],
    dir: &FsPath,
    limits: RunLimits,
    deadline: Instant,
) -> Result<Vec<u8>, ToolError> {
    let mut command = tokio::process::Command::new(prlimit);
    command
        .arg(format!("--as={}", limits.memory_bytes))
        .arg(format!("--cpu={}", limits.cpu_secs))
        .arg("--core=0")
        .arg(format!("--fsize={}", limits.max_output_bytes))
        .arg("--")
        .arg(program)
        .args(args)
        .env_clear()
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command.spawn().map_err(ToolError::Spawn)?;
    let (Some(mut stdout), Some(mut stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(ToolError::Io(std::io::Error::other("no pipes")));
    };
    let work = async {
        let (output, errors) = tokio::try_join!(
            read_bounded(&mut stdout, limits.max_output_bytes),
            read_head(&mut stderr, MAX_STDERR_BYTES),
        )?;
        let status = child.wait().await.map_err(ToolError::Io)?;
        Ok::<_, ToolError>((output, errors, status))
    };
    let (output, errors, status) = match tokio::time::timeout_at(deadline, work).await {
        Ok(Ok(done)) => done,
        Ok(Err(error)) => {
            kill(&mut child).await;
            return Err(error);
        }
        Err(_) => {
            kill(&mut child).await;
            return Err(ToolError::TimedOut);
        }
    };
    let stderr = String::from_utf8_lossy(&errors).trim().to_owned();
    if !status.success() {
        return Err(ToolError::Failed {
            status: status.to_string(),
            stderr,
        });
    }
    if output.is_empty() {
        return Err(ToolError::Empty { stderr });
    }
    Ok(output)
}

async fn kill(child: &mut tokio::process::Child) {
    if let Err(error) = child.start_kill() {
        tracing::debug!(%error, "the preview tool had already exited");
    }
    // Reaped here: no zombie is left.
    if let Err(error) = child.wait().await {
        tracing::warn!(%error, "could not reap a killed preview tool");
    }
}

/// All of `reader`, or `OutputTooLarge` as soon as it passes `max` bytes.
async fn read_bounded(
    reader: &mut (impl AsyncRead + Unpin),
    max: usize,
) -> Result<Vec<u8>, ToolError> {
    let mut output = Vec::new();
    reader
        .take(max as u64 + 1)
        .read_to_end(&mut output)
        .await
        .map_err(ToolError::Io)?;
    if output.len() > max {
        return Err(ToolError::OutputTooLarge(max));
    }
    Ok(output)
}

/// The first `keep` bytes of `reader`; the rest is read and dropped (so the child never
/// blocks on a full pipe).
async fn read_head(
    reader: &mut (impl AsyncRead + Unpin),
    keep: usize,
) -> Result<Vec<u8>, ToolError> {
    let mut head = Vec::new();
    let mut buffer = [0_u8; 4096];
    loop {
        let read = reader.read(&mut buffer).await.map_err(ToolError::Io)?;
        if read == 0 {
            return Ok(head);
        }
        let room = keep.saturating_sub(head.len()).min(read);
        head.extend_from_slice(&buffer[..room]);
    }
}

/// A private local copy of an object, removed when dropped.
/// A private temporary copy of a stored object for a tool to read, removed on drop.
///
/// An object of at most `max` bytes is copied whole. A larger one becomes a *sparse* file
/// of its full size holding only its head (three quarters of `max`) and its tail (the
/// rest), the bytes between them a hole that reads as zeros: a preview needs the start of
/// a video (its first second, and `moov` in a "fast start" MP4) or of a PDF (its first
/// page, in a linearised one), and the index at the end (`moov` of a phone's MP4, the
/// Matroska cues, a PDF's cross-reference table and trailer). So at most `max` bytes
/// are fetched and written, whatever the object's size. An MP4 (or QuickTime) file's
/// `moov` is found wherever it is (the top-level boxes' headers read by range) and copied
/// exactly, beside a head of the rest of `max`: its index may sit in the middle (before
/// trailing boxes), and a frame needs it whole. With it go the bytes of its first video
/// track's samples from the first through the frame's time, where they are, when they lie
/// beyond that head (found in the index, `crate::mp4_samples`; at most
/// `max_extra_bytes` more): a video whose frames come after seconds of audio, or whose
/// `mdat` opens with another track's large chunk. When only the first frames fit, the
/// copy says so ([`TempCopy::frame_at_ms`]) and the first frame is taken. A PDF's
/// head and tail go with the objects its first page needs, where they are (found from
/// its cross-reference data, `crate::pdf_parts`; at most `max_extra_bytes` more and
/// [`MAX_PDF_OBJECTS`] objects): a PDF that is not linearised may keep them anywhere.
/// A WebM or Matroska file's head and tail go with the Cluster of its first video track's
/// keyframe at or before the frame's time (or its first keyframe), found in its Cues
/// (`crate::analyze::matroska::keyframe_cluster`), and with the Cues themselves when they
/// lie in the middle, when the two fit in `max_extra_bytes`: the preview then takes that
/// keyframe ([`TempCopy::frame_at_ms`]); a file without Cues (a live recording) has its
/// Clusters walked from the first instead, over at most `max_extra_bytes`, and beyond
/// that hopped over by their sizes to the one at the frame's time and walked from there
/// (`crate::analyze::matroska::walked_keyframe_cluster`; a SimpleBlock's flag or a
/// BlockGroup without a ReferenceBlock tells a keyframe). An Ogg video's head is followed
/// page by page (read from the copy) to the frame's time; when it does not reach it, the
/// pages of that frame and of the Theora keyframe it follows are found by seeking (Ogg has
/// no index; `crate::analyze::theora::middle_frames`) and, within `max_extra_bytes`, the
/// copy becomes the head's whole pages followed by them, with no hole (ffmpeg's Ogg
/// seeking fails in holes; [`copy_theora_middle`]); else the preview takes the latest
/// Theora keyframe the head holds. Any other file whose preview needs bytes from the
/// middle gets a broken frame or none, which the tool reports as any corrupt input (no
/// preview, never a failed upload).
struct TempCopy {
    path: PathBuf,
    /// The time of the frame the copy holds, when not (only) the one at the frame's
    /// usual time: an MP4's first frame (0) when its samples beyond the head do not reach
    /// that time; a Matroska keyframe copied from the middle; an Ogg video's keyframe in
    /// its head when the frame's pages were not copied.
    frame_at_ms: Option<u64>,
}

/// What a copy of an object larger than its limit holds besides its head.
#[derive(Debug, Clone, Copy)]
enum Needs {
    /// Its tail.
    HeadAndTail,
    /// An MP4's (or QuickTime file's) index, and its first video samples through
    /// `at_ms` (at most `budget` bytes of them beyond the head).
    Mp4Frame { at_ms: u64, budget: u64 },
    /// A PDF's tail, and the objects of its first page (at most `budget` bytes of them).
    PdfPage { budget: u64 },
    /// A WebM's or Matroska file's tail, and the Cluster of its video keyframe at or
    /// before `at_ms` with its Cues (at most `budget` bytes of them beyond head and tail).
    MatroskaFrame { at_ms: u64, budget: u64 },
    /// An Ogg video's head, and the pages of its frame at `at_ms` when they lie beyond it
    /// (at most `budget` bytes of them), else its tail.
    OggFrame { at_ms: u64, budget: u64 },
}

/// Objects of a PDF looked for, at most, for its first page.
const MAX_PDF_OBJECTS: usize = 512;

/// Largest `moov` read whole to find the video's samples in it (the index of a
/// two-hour video is a few MiB); a larger one is copied without.
const MAX_PARSED_MOOV_BYTES: u64 = 16 * 1024 * 1024;

impl TempCopy {
    async fn of(
        objects: &dyn ObjectStore,
        path: &Path,
        dir: &FsPath,
        size: u64,
        max: u64,
        needs: Needs,
    ) -> Result<Self, CopyFailure> {
        let mut copy = Self {
            path: dir.join(format!("talkapp-frame-{}", uuid::Uuid::new_v4().simple())),
            frame_at_ms: None,
        };
        let mut file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&copy.path)
            .await
            .map_err(|error| match full_storage(&error) {
                Some(reason) => CopyFailure::TempDirFull(reason, error),
                None => {
                    CopyFailure::Other(format!("cannot create {}: {error}", copy.path.display()))
                }
            })?;
        // An MP4's index where it is, when it leaves room for a head.
        let moov = if matches!(needs, Needs::Mp4Frame { .. }) && size > max {
            crate::analyze::mp4_moov_range(objects, path, size)
                .await
                .map_err(|error| error.to_string())?
                .filter(|moov| moov.end - moov.start <= max / 2)
        } else {
            None
        };
        if size <= max {
            copy_range(objects, path, None, max, &mut file).await?;
        } else if let Some(moov) = moov {
            let head = max - (moov.end - moov.start);
            file.set_len(size).await.map_err(copy_write_failed)?;
            copy_range(objects, path, Some(0..head), head, &mut file).await?;
            file.seek(std::io::SeekFrom::Start(moov.start))
                .await
                .map_err(copy_write_failed)?;
            let length = moov.end - moov.start;
            let plan = match needs {
                Needs::Mp4Frame { at_ms, budget } if length <= MAX_PARSED_MOOV_BYTES => {
                    // Read whole: written, and looked into for the video's samples.
                    let index = objects
                        .get_range(path, moov.clone())
                        .await
                        .map_err(|error| error.to_string())?;
                    if index.len() as u64 != length {
                        return Err(CopyFailure::Other(
                            "the object changed while it was copied".into(),
                        ));
                    }
                    file.write_all(&index).await.map_err(copy_write_failed)?;
                    crate::mp4_samples::first_video_samples(
                        &index,
                        crate::mp4_samples::PlanLimits {
                            at_ms,
                            head,
                            size,
                            budget,
                        },
                    )
                }
                _ => {
                    copy_range(objects, path, Some(moov), length, &mut file).await?;
                    None
                }
            };
            if let Some(plan) = plan {
                let bytes = copy_ranges_in_place(objects, path, plan.ranges, &mut file).await?;
                tracing::debug!(
                    bytes,
                    reaches_frame_time = plan.reaches_frame_time,
                    "an MP4's first video samples copied beyond its head"
                );
                if !plan.reaches_frame_time {
                    copy.frame_at_ms = Some(0);
                }
            }
        } else {
            let tail = max / 4;
            let head = max - tail;
            // The full length first: what is not written stays a hole.
            file.set_len(size).await.map_err(copy_write_failed)?;
            copy_range(objects, path, Some(0..head), head, &mut file).await?;
            file.seek(std::io::SeekFrom::Start(size - tail))
                .await
                .map_err(copy_write_failed)?;
            copy_range(objects, path, Some(size - tail..size), tail, &mut file).await?;
            if let Needs::PdfPage { budget } = needs {
                let limits = crate::pdf_parts::PdfLimits {
                    max_objects: MAX_PDF_OBJECTS,
                    budget,
                };
                let ranges = crate::pdf_parts::first_page_ranges(objects, path, size, limits)
                    .await?
                    .unwrap_or_default();
                // What the head and the tail hold already is not copied again.
                let ranges: Vec<_> = ranges
                    .into_iter()
                    .map(|range| range.start.max(head)..range.end.min(size - tail))
                    .filter(|range| range.start < range.end)
                    .collect();
                let bytes = copy_ranges_in_place(objects, path, ranges, &mut file).await?;
                tracing::debug!(
                    bytes,
                    "a PDF's first page's objects copied between its head and its tail"
                );
            }
            if let Needs::OggFrame { at_ms, budget } = needs {
                file.flush().await.map_err(copy_write_failed)?;
                let frames = theora_frames_in_head(&copy.path, head, at_ms).await?;
                copy.frame_at_ms = frames.frame_at_ms();
                if copy.frame_at_ms.is_some()
                    && budget > 0
                    && copy_theora_middle(objects, path, size, &frames, budget, &mut file).await?
                {
                    // The frame at its usual time is in the copy.
                    copy.frame_at_ms = None;
                }
            }
            if let Needs::MatroskaFrame { at_ms, budget } = needs {
                copy.frame_at_ms = copy_matroska_keyframe(
                    objects,
                    path,
                    size,
                    head..size - tail,
                    at_ms,
                    budget,
                    &mut file,
                )
                .await?;
            }
        }
        file.flush().await.map_err(copy_write_failed)?;
        Ok(copy)
    }
}

/// Copies into `file`, at its offset, the Cluster of a WebM's or Matroska file's video
/// keyframe for a frame at `at_ms` where it lies in `hole` (the part of the sparse copy
/// not copied yet), found in its Cues, else by walking its Clusters from the first over at
/// most `budget` bytes, or hopping them by their sizes past that (a live recording has no
/// Cues), with the Cues when they lie there
/// too; at most `budget` bytes. Answers the time of the frame the copy then holds, or
/// `None`: nothing found, too large, or the frame at `at_ms` already in the head (the
/// walk saw it end there).
async fn copy_matroska_keyframe(
    objects: &dyn ObjectStore,
    path: &Path,
    size: u64,
    hole: std::ops::Range<u64>,
    at_ms: u64,
    budget: u64,
    file: &mut tokio::fs::File,
) -> Result<Option<u64>, CopyFailure> {
    use crate::analyze::matroska::{keyframe_cluster, walked_keyframe_cluster};
    let mut window = crate::analyze::window::Window::new(objects, path, size);
    let mut keyframe = keyframe_cluster(&mut window, at_ms)
        .await
        .map_err(|error| error.to_string())?;
    if keyframe.is_none() {
        keyframe = walked_keyframe_cluster(&mut window, at_ms, budget)
            .await
            .map_err(|error| error.to_string())?;
    }
    let Some(keyframe) = keyframe else {
        return Ok(None);
    };
    if keyframe.cluster.end <= hole.start && keyframe.frame_end.is_some_and(|end| end <= hole.start)
    {
        // The keyframe and the frame at its usual time both lie in the head.
        return Ok(None);
    }
    // What the head and the tail hold already is not copied again.
    let middle = |range: std::ops::Range<u64>| range.start.max(hole.start)..range.end.min(hole.end);
    let cluster = middle(keyframe.cluster);
    let from_cues = keyframe.cues.is_some();
    let ranges: Vec<_> = [keyframe.cues.map(middle), Some(cluster.clone())]
        .into_iter()
        .flatten()
        .filter(|range| range.start < range.end)
        .collect();
    let bytes: u64 = ranges.iter().map(|range| range.end - range.start).sum();
    if bytes > budget {
        return Ok(None);
    }
    copy_ranges_in_place(objects, path, ranges, file).await?;
    tracing::debug!(
        bytes,
        time_ms = keyframe.time_ms,
        "a Matroska keyframe's Cluster copied into the sparse copy"
    );
    // Found in the Cues, a keyframe in the head or the tail leaves the frame's time as it
    // is (ffmpeg seeks by the Cues); found by the walk, ffmpeg is asked for it (it reads
    // on from the start, and the frame at the usual time is not in the copy).
    let copied = cluster.start < cluster.end;
    Ok((copied || !from_cues).then_some(keyframe.time_ms))
}

/// Bytes of a copy's head read at a time while its Ogg pages are followed.
const OGG_READ_BYTES: usize = 64 * 1024;

/// The Theora frames in the first `head` bytes of a sparse copy of an Ogg video, read
/// from the copy up to the frame at `at_ms` (its [`TheoraFrames::frame_at_ms`]: `None`
/// when that frame lies in them, else the latest keyframe they hold, or the first
/// frame; [`crate::analyze::theora`]).
///
/// [`TheoraFrames::frame_at_ms`]: crate::analyze::theora::TheoraFrames::frame_at_ms
async fn theora_frames_in_head(
    copy: &FsPath,
    head: u64,
    at_ms: u64,
) -> Result<crate::analyze::theora::TheoraFrames, CopyFailure> {
    let file = tokio::fs::File::open(copy)
        .await
        .map_err(|error| CopyFailure::Other(format!("reading the copy: {error}")))?;
    let mut reader = file.take(head);
    let mut frames = crate::analyze::theora::TheoraFrames::new(at_ms);
    let mut buffer = vec![0_u8; OGG_READ_BYTES];
    loop {
        let read = reader
            .read(&mut buffer)
            .await
            .map_err(|error| CopyFailure::Other(format!("reading the copy: {error}")))?;
        if read == 0 || !frames.push(&buffer[..read]) {
            break;
        }
    }
    Ok(frames)
}

/// Puts into the sparse copy of an Ogg video whose head's Theora `frames` do not reach
/// the frame's time the pages that frame needs, found by seeking
/// ([`crate::analyze::theora::middle_frames`], at most `budget` bytes): right after the
/// head's last whole page, the copy then cut there. ffmpeg finds a time in an Ogg file by
/// a bisection on its pages, which fails when it probes into a hole of zeros (a frame at
/// 61 s of a 16 MB file came out as the first frame from a sparse copy of the file's
/// length, as the right one from the same pages put together); so the copy holds no hole
/// (and no tail: ffmpeg takes the last page it reads for the end). Answers whether the
/// pages were copied.
async fn copy_theora_middle(
    objects: &dyn ObjectStore,
    path: &Path,
    size: u64,
    frames: &crate::analyze::theora::TheoraFrames,
    budget: u64,
    file: &mut tokio::fs::File,
) -> Result<bool, CopyFailure> {
    let middle = crate::analyze::theora::middle_frames(objects, path, size, frames, budget)
        .await
        .map_err(|error| error.to_string())?;
    let Some(middle) = middle else {
        return Ok(false);
    };
    file.seek(std::io::SeekFrom::Start(middle.head_end))
        .await
        .map_err(copy_write_failed)?;
    let length = middle.range.end - middle.range.start;
    copy_range(objects, path, Some(middle.range.clone()), length, file).await?;
    file.set_len(middle.head_end + length)
        .await
        .map_err(copy_write_failed)?;
    tracing::debug!(
        bytes = length,
        read = middle.read,
        frame = middle.frame,
        keyframe = middle.keyframe,
        "an Ogg video's frame copied after its head"
    );
    Ok(true)
}

/// Writes the object's bytes in `range` (all of them: `None`) at `file`'s position,
/// refusing more than `max` (an object that grew since its size was read).
async fn copy_range(
    objects: &dyn ObjectStore,
    path: &Path,
    range: Option<std::ops::Range<u64>>,
    max: u64,
    file: &mut tokio::fs::File,
) -> Result<(), CopyFailure> {
    let options = GetOptions {
        range: range.map(GetRange::Bounded),
        ..GetOptions::default()
    };
    let mut stream = objects
        .get_opts(path, options)
        .await
        .map_err(|error| error.to_string())?
        .into_stream();
    let mut written = 0_u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|error| error.to_string())?;
        written = written.saturating_add(chunk.len() as u64);
        if written > max {
            return Err(CopyFailure::Other(
                "the object grew past media.frame_max_source_bytes".into(),
            ));
        }
        file.write_all(&chunk).await.map_err(copy_write_failed)?;
    }
    Ok(())
}

/// Copies each of `ranges` of the object into `file` at the same offset (a sparse copy's
/// middle parts); answers how many bytes that was.
async fn copy_ranges_in_place(
    objects: &dyn ObjectStore,
    path: &Path,
    ranges: Vec<std::ops::Range<u64>>,
    file: &mut tokio::fs::File,
) -> Result<u64, CopyFailure> {
    let mut copied = 0_u64;
    for range in ranges {
        file.seek(std::io::SeekFrom::Start(range.start))
            .await
            .map_err(copy_write_failed)?;
        let length = range.end - range.start;
        copy_range(objects, path, Some(range), length, file).await?;
        copied = copied.saturating_add(length);
    }
    Ok(copied)
}

/// Why a copy for a tool was not made.
#[derive(Debug)]
enum CopyFailure {
    /// Its directory (`media.frame_temp_dir`) is full (`ENOSPC`, `EDQUOT`): counted as a
    /// full storage, and the preview answered as one (ADR 0069, amended).
    TempDirFull(FullStorage, std::io::Error),
    /// Anything else (the storage's answers, the object, the directory missing): a load
    /// failure.
    Other(String),
}

impl From<String> for CopyFailure {
    fn from(error: String) -> Self {
        Self::Other(error)
    }
}

/// A failed operation on the copy's file: a full directory told apart.
fn copy_write_failed(error: std::io::Error) -> CopyFailure {
    match full_storage(&error) {
        Some(reason) => CopyFailure::TempDirFull(reason, error),
        None => CopyFailure::Other(format!("writing the copy: {error}")),
    }
}

impl Drop for TempCopy {
    fn drop(&mut self) {
        if let Err(error) = std::fs::remove_file(&self.path)
            && error.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(%error, path = %self.path.display(), "could not remove a preview's copy");
        }
    }
}

/// The tool `configured` names: empty, `name` found on `PATH`; `off`, none; a bare
/// name, found on `PATH`; else that file, when it is executable.
fn resolve(name: &str, configured: &str) -> Option<PathBuf> {
    match configured {
        "" => find_on_path(name),
        "off" => None,
        other if !other.contains('/') => find_on_path(other),
        path => std::path::absolute(path)
            .ok()
            .filter(|path| is_executable(path)),
    }
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &FsPath) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    path.is_absolute()
        && std::fs::metadata(path)
            .is_ok_and(|metadata| metadata.is_file() && metadata.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use talkapp_common::config::{Config, ConfigSources};

    fn tools(overrides: &[(&str, &str)]) -> FrameTools {
        let config = Config::load(&ConfigSources {
            overrides: overrides
                .iter()
                .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
                .collect(),
            ..ConfigSources::default()
        })
        .expect("config");
        let tools = FrameTools::from_config(&config.media);
        assert!(
            tools.prlimit.is_some(),
            "prlimit (util-linux) must be on PATH for these tests"
        );
        tools
    }

    fn fixture(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures")
            .join(name)
    }

    /// A fresh directory under the system's temporary one.
    fn scratch() -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "talkapp-frames-test-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        dir
    }

    /// The preview of a file, read in place (the local backend's way).
    async fn preview_in_place(
        tools: &FrameTools,
        file: PathBuf,
        mime: &str,
        duration_ms: Option<u64>,
    ) -> Option<image::DynamicImage> {
        let size = std::fs::metadata(&file).expect("fixture").len();
        let objects = object_store::memory::InMemory::new();
        let preview = tools
            .preview(StoredFile {
                objects: &objects,
                path: &Path::from("unused"),
                local: Some(file),
                size,
                mime,
                duration_ms,
            })
            .await
            .ok()?;
        assert!(
            !preview.windows(4).any(|window| window == b"Exif"),
            "no metadata"
        );
        Some(image::load_from_memory(&preview).expect("the preview is an image"))
    }

    #[tokio::test]
    async fn a_video_frame_and_a_pdf_page_become_downscaled_jpegs_of_their_orientation() {
        let tools = tools(&[("media.preview_max_side", "64")]);
        assert!(tools.covers("video/mp4") && tools.covers("application/pdf"));

        // H.264 in MP4, 96 × 160 (portrait), 2 s.
        let mp4 = preview_in_place(&tools, fixture("portrait.mp4"), "video/mp4", Some(2000))
            .await
            .expect("a frame of the MP4 (is ffmpeg installed?)");
        assert_eq!(mp4.height(), 64, "{}x{}", mp4.width(), mp4.height());
        assert!((37..=39).contains(&mp4.width()), "{}", mp4.width());

        // VP8 in WebM, 160 × 120 (landscape).
        let webm = preview_in_place(&tools, fixture("clip.webm"), "video/webm", Some(2010))
            .await
            .expect("a frame of the WebM");
        assert_eq!((webm.width(), webm.height()), (64, 48));

        // A 300 × 200 pt page: red over blue.
        let pdf = preview_in_place(&tools, fixture("page.pdf"), "application/pdf", None)
            .await
            .expect("the page (is pdftoppm installed?)");
        assert_eq!(pdf.width(), 64);
        assert!((42..=44).contains(&pdf.height()), "{}", pdf.height());
        let pixels = pdf.to_rgb8();
        let top = pixels.get_pixel(32, 5).0;
        let bottom = pixels.get_pixel(32, pdf.height() - 5).0;
        assert!(top[0] > 200 && top[2] < 60, "red on top: {top:?}");
        assert!(bottom[2] > 200 && bottom[0] < 60, "blue below: {bottom:?}");

        // A small frame is not enlarged.
        let tools = crate::frames::tests::tools(&[]);
        let mp4 = preview_in_place(&tools, fixture("portrait.mp4"), "video/mp4", Some(2000))
            .await
            .expect("a frame");
        assert_eq!((mp4.width(), mp4.height()), (96, 160));
    }

    #[tokio::test]
    async fn a_stored_object_is_copied_for_its_tool_and_the_copy_removed() {
        let dir = scratch();
        let dir_value = dir.display().to_string();
        let objects = object_store::memory::InMemory::new();
        let path = Path::from("video");
        let webm = std::fs::read(fixture("clip.webm")).expect("fixture");
        let size = webm.len() as u64;
        objects.put(&path, webm.into()).await.expect("stored");

        let tools = tools(&[("media.frame_temp_dir", &dir_value)]);
        let stored = || StoredFile {
            objects: &objects,
            path: &path,
            local: None,
            size,
            mime: "video/webm",
            duration_ms: Some(2010),
        };
        let preview = tools.preview(stored()).await.expect("a frame of the copy");
        assert!(image::load_from_memory(&preview).is_ok());
        assert_eq!(
            std::fs::read_dir(&dir).expect("dir").count(),
            0,
            "copy removed"
        );

        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn an_object_over_the_copy_limit_is_copied_as_its_head_and_tail_in_a_sparse_file() {
        let dir = scratch();
        let objects = object_store::memory::InMemory::new();
        let path = Path::from("large");
        let size: u64 = 4 * 1024 * 1024 + 123;
        let bytes: Vec<u8> = (0..size).map(|index| (index % 251 + 1) as u8).collect();
        objects
            .put(&path, bytes.clone().into())
            .await
            .expect("stored");
        let max: u64 = 256 * 1024;
        let (head, tail) = (max - max / 4, max / 4);

        let copy = TempCopy::of(&objects, &path, &dir, size, max, Needs::HeadAndTail)
            .await
            .expect("copied");
        let copied = std::fs::read(&copy.path).expect("the copy");
        assert_eq!(copied.len() as u64, size, "the object's full length");
        let (head, tail) = (head as usize, tail as usize);
        assert!(copied[..head] == bytes[..head], "its head");
        assert!(
            copied[copied.len() - tail..] == bytes[bytes.len() - tail..],
            "its tail"
        );
        assert!(
            copied[head..copied.len() - tail]
                .iter()
                .all(|byte| *byte == 0),
            "a hole between them"
        );
        use std::os::unix::fs::MetadataExt as _;
        let allocated = std::fs::metadata(&copy.path).expect("metadata").blocks() * 512;
        assert!(
            allocated <= max + 64 * 1024,
            "{allocated} bytes on disk for a copy of {max}"
        );
        let copy_path = copy.path.clone();
        drop(copy);
        assert!(!copy_path.exists(), "removed when dropped");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// `page.pdf` with a stream of `padding` bytes between its objects and its
    /// cross-reference table (which moves; `startxref` says where).
    fn padded_pdf(padding: usize) -> Vec<u8> {
        let page = std::fs::read(fixture("page.pdf")).expect("fixture");
        let at = page
            .windows(5)
            .position(|window| window == b"xref\n")
            .expect("an xref");
        let mut pdf = page[..at].to_vec();
        pdf.extend_from_slice(format!("9 0 obj\n<< /Length {padding} >>\nstream\n").as_bytes());
        pdf.extend((0..padding).map(|index| (index % 89) as u8 + b' '));
        pdf.extend_from_slice(b"\nendstream\nendobj\n");
        let xref = pdf.len();
        let table = &page[at..];
        let start = table
            .windows(10)
            .position(|window| window == b"startxref\n")
            .expect("startxref");
        pdf.extend_from_slice(&table[..start]);
        pdf.extend_from_slice(format!("startxref\n{xref}\n%%EOF\n").as_bytes());
        pdf
    }

    #[tokio::test]
    async fn a_stored_video_or_pdf_over_the_copy_limit_gets_a_preview_from_its_head_and_tail() {
        let dir = scratch();
        let dir_value = dir.display().to_string();
        let tools = tools(&[
            ("media.frame_temp_dir", &dir_value),
            ("media.frame_max_source_bytes", "65536"),
        ]);
        // A "fast start" MP4 (ftyp, moov, mdat) followed by 1 MiB of a `free` box: all a
        // frame needs is in the head.
        let mut mp4 = std::fs::read(fixture("portrait.mp4")).expect("fixture");
        let padding = 1024 * 1024_u32;
        mp4.extend_from_slice(&(padding + 8).to_be_bytes());
        mp4.extend_from_slice(b"free");
        mp4.resize(mp4.len() + padding as usize, 0);
        // A PDF whose page is at its start and whose xref is 1 MiB later, at its end.
        let pdf = padded_pdf(1024 * 1024);
        let objects = object_store::memory::InMemory::new();
        for (name, bytes, mime, duration_ms) in [
            ("large.mp4", mp4, "video/mp4", Some(2000)),
            ("large.pdf", pdf, "application/pdf", None),
        ] {
            let size = bytes.len() as u64;
            assert!(size > 65536 * 16);
            let path = Path::from(name);
            objects.put(&path, bytes.into()).await.expect("stored");
            let preview = tools
                .preview(StoredFile {
                    objects: &objects,
                    path: &path,
                    local: None,
                    size,
                    mime,
                    duration_ms,
                })
                .await
                .unwrap_or_else(|why| panic!("{name}: a preview from the head and tail: {why:?}"));
            let image = image::load_from_memory(&preview).expect("an image");
            match mime {
                "video/mp4" => assert_eq!((image.width(), image.height()), (96, 160)),
                _ => {
                    assert_eq!(image.width(), 320);
                    let pixels = image.to_rgb8();
                    let top = pixels.get_pixel(160, 10).0;
                    let bottom = pixels.get_pixel(160, image.height() - 10).0;
                    assert!(top[0] > 200 && top[2] < 60, "red on top: {top:?}");
                    assert!(bottom[2] > 200 && bottom[0] < 60, "blue below: {bottom:?}");
                }
            }
        }
        assert_eq!(
            std::fs::read_dir(&dir).expect("dir").count(),
            0,
            "copies removed"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A frame 61.3 s into 70 s of Theora (some 9 MB) beyond the copy's head: the copy is
    /// the head's whole pages followed by the pages found for it, and ffmpeg makes from it
    /// the very frame it makes from the whole file. (From a sparse copy of the file's
    /// length with the same pages at their offsets, ffmpeg's bisection on the pages probes
    /// into the holes and gives the first frame instead.)
    #[tokio::test]
    async fn a_frame_far_into_a_large_ogg_video_is_made_from_the_pages_found_as_from_the_whole_file()
     {
        let dir = scratch();
        let made = std::process::Command::new("ffmpeg")
            .args(["-nostdin", "-loglevel", "error", "-f", "lavfi", "-i"])
            .arg("testsrc=size=96x160:rate=10:duration=70")
            .args(["-vf", "noise=alls=50,noise=alls=15:allf=t"])
            .args(["-c:v", "libtheora", "-q:v", "7", "-g", "7"])
            .args(["-f", "ogg", "pipe:1"])
            .output()
            .expect("ffmpeg ran");
        assert!(made.status.success(), "{made:?}");
        let video = made.stdout;
        let size = video.len() as u64;
        let whole = dir.join("whole.ogv");
        std::fs::write(&whole, &video).expect("written");
        let objects = object_store::memory::InMemory::new();
        let path = Path::from("video.ogv");
        objects.put(&path, video.into()).await.expect("stored");

        let at_ms = 61_300;
        let copy = TempCopy::of(
            &objects,
            &path,
            &dir,
            size,
            64 * 1024,
            Needs::OggFrame {
                at_ms,
                budget: 16 * 1024 * 1024,
            },
        )
        .await
        .expect("copied");
        assert_eq!(copy.frame_at_ms, None, "the frame's pages are in the copy");
        let copied = std::fs::metadata(&copy.path).expect("the copy").len();
        assert!(copied < 512 * 1024, "{copied} of {size} bytes");

        let tools = tools(&[]);
        let (Some(prlimit), Some(ffmpeg)) = (tools.prlimit.clone(), tools.ffmpeg.clone()) else {
            panic!("ffmpeg and prlimit on PATH");
        };
        let frame = async |input: &FsPath| {
            run_tool(
                &prlimit,
                &ffmpeg,
                &ffmpeg_args("ogg", input, at_ms, 320),
                &dir,
                tools.limits,
                Instant::now() + Duration::from_secs(60),
            )
            .await
            .expect("a frame")
        };
        let from_the_copy = frame(&copy.path).await;
        let from_the_whole_file = frame(&whole).await;
        assert!(
            from_the_copy == from_the_whole_file,
            "the same frame as from the whole file"
        );
        drop(copy);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn a_corrupt_video_or_pdf_gets_no_preview() {
        let dir = scratch();
        let tools = tools(&[]);
        // An MP4's `ftyp`, then bytes that are no box at all.
        let mut video = std::fs::read(fixture("portrait.mp4")).expect("fixture")[..32].to_vec();
        video.extend((0..20_000_u32).map(|index| (index.wrapping_mul(2_654_435_761) >> 13) as u8));
        let pdf = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\nno xref, no pages\n";
        for (name, bytes, mime) in [
            ("bad.mp4", &video[..], "video/mp4"),
            ("bad.pdf", &pdf[..], "application/pdf"),
        ] {
            let file = dir.join(name);
            std::fs::write(&file, bytes).expect("written");
            let preview = preview_in_place(&tools, file, mime, None).await;
            assert!(preview.is_none(), "{name}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Runs a `/bin/sh -c` script as a tool, in `dir`.
    async fn run_script(
        dir: &FsPath,
        script: &str,
        limits: RunLimits,
        within: Duration,
    ) -> Result<Vec<u8>, ToolError> {
        let prlimit = find_on_path("prlimit").expect("prlimit on PATH");
        run_tool(
            &prlimit,
            FsPath::new("/bin/sh"),
            &[OsString::from("-c"), OsString::from(script)],
            dir,
            limits,
            Instant::now() + within,
        )
        .await
    }

    #[tokio::test]
    async fn a_tool_runs_limited_with_an_empty_environment() {
        let dir = scratch();
        let limits = RunLimits {
            memory_bytes: 512 * 1024 * 1024,
            cpu_secs: 7,
            max_output_bytes: 1024 * 1024,
        };
        let script = "ulimit -v; ulimit -t; ulimit -c; ulimit -f; echo \"${HOME:-no home}\"; pwd";
        let output = run_script(&dir, script, limits, Duration::from_secs(20))
            .await
            .expect("ran");
        let output = String::from_utf8(output).expect("text");
        let lines: Vec<&str> = output.lines().collect();
        // `ulimit -v` in KiB, `-f` in 512-byte blocks (POSIX sh).
        assert_eq!(
            lines,
            [
                "524288",
                "7",
                "0",
                "2048",
                "no home",
                dir.to_str().expect("utf-8")
            ],
            "{output}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn a_tool_that_hangs_is_killed_at_its_deadline_and_reaped() {
        let dir = scratch();
        let limits = RunLimits {
            memory_bytes: 512 * 1024 * 1024,
            cpu_secs: 60,
            max_output_bytes: 1024,
        };
        let started = std::time::Instant::now();
        let outcome = run_script(
            &dir,
            "echo $$ > pid; exec sleep 30",
            limits,
            Duration::from_millis(700),
        )
        .await;
        assert!(matches!(outcome, Err(ToolError::TimedOut)), "{outcome:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
        let pid = std::fs::read_to_string(dir.join("pid")).expect("the script ran");
        assert!(
            !FsPath::new(&format!("/proc/{}", pid.trim())).exists(),
            "the sleeping child is gone (killed and reaped)"
        );

        // Writing past the output bound kills it at once, long before its deadline.
        let started = std::time::Instant::now();
        let outcome = run_script(
            &dir,
            "head -c 100000 /dev/zero; exec sleep 30",
            limits,
            Duration::from_secs(30),
        )
        .await;
        assert!(
            matches!(outcome, Err(ToolError::OutputTooLarge(1024))),
            "{outcome:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(5));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_missing_or_switched_off_tool_turns_its_previews_off() {
        let tools = tools(&[
            ("media.ffmpeg_path", "/nonexistent/ffmpeg"),
            ("media.pdftoppm_path", "off"),
        ]);
        assert!(!tools.covers("video/mp4"));
        assert!(!tools.covers("application/pdf"));
        let tools = crate::frames::tests::tools(&[("media.ffmpeg_path", "no-such-tool-here")]);
        assert!(!tools.covers("video/webm"));
        assert!(
            !tools.covers("image/png"),
            "images are previewed without a tool"
        );
    }

    #[test]
    fn the_frame_is_taken_at_a_second_or_a_tenth_of_a_short_video() {
        assert_eq!(frame_time_ms(None), 0);
        assert_eq!(frame_time_ms(Some(2000)), 200);
        assert_eq!(frame_time_ms(Some(600_000)), 1000);
    }
}
