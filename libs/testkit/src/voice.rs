//! Long voice notes (Ogg Opus) made by `ffmpeg` for waveform tests: a minute of silence and
//! a minute of a loud tone, each encoded once, joined minute by minute by ffmpeg's concat
//! demuxer (copied, not encoded again), so that hours of audio take a second to make.

use std::path::Path;
use std::process::Command;

/// Opus at 16 kbit/s, constant (so bytes map to time), 60 ms frames, mono: one minute.
const OPUS_MINUTE: [&str; 16] = [
    "-t",
    "60",
    "-ac",
    "1",
    "-c:a",
    "libopus",
    "-b:a",
    "16k",
    "-vbr",
    "off",
    "-application",
    "voip",
    "-frame_duration",
    "60",
    "-f",
    "ogg",
];

fn ffmpeg(dir: &Path, args: &[&str]) {
    let output = Command::new("ffmpeg")
        .args(["-nostdin", "-loglevel", "error", "-y"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("ffmpeg ran");
    assert!(output.status.success(), "{output:?}");
}

/// A voice note of `minutes` minutes (about 122 KB a minute), silent but for the minutes
/// `loud` picks (a 440 Hz tone at 0.8 of full scale). Needs `ffmpeg` with libopus.
pub fn voice_note(minutes: u32, loud: impl Fn(u32) -> bool) -> Vec<u8> {
    let dir = crate::temp_dir("talkapp-voice");
    ffmpeg(
        &dir,
        &[
            &["-f", "lavfi", "-i", "anullsrc=r=8000:cl=mono"][..],
            &OPUS_MINUTE,
            &["quiet.ogg"],
        ]
        .concat(),
    );
    ffmpeg(
        &dir,
        &[
            &[
                "-f",
                "lavfi",
                "-i",
                "sine=f=440:r=8000",
                "-af",
                "volume=0.8",
            ][..],
            &OPUS_MINUTE,
            &["loud.ogg"],
        ]
        .concat(),
    );
    let list: String = (0..minutes)
        .map(|minute| {
            let name = if loud(minute) {
                "loud.ogg"
            } else {
                "quiet.ogg"
            };
            format!("file '{name}'\n")
        })
        .collect();
    std::fs::write(dir.join("list.txt"), list).expect("written");
    ffmpeg(
        &dir,
        &[
            "-f", "concat", "-safe", "0", "-i", "list.txt", "-c", "copy", "-f", "ogg", "long.ogg",
        ],
    );
    let voice = std::fs::read(dir.join("long.ogg")).expect("read");
    std::fs::remove_dir_all(&dir).expect("removed");
    voice
}
