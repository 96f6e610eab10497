//! [`Tmpfs`]: a small filesystem of a test's own (a `tmpfs` mount), to fill up for real.
//!
//! Mounting needs `CAP_SYS_ADMIN` (root here and in CI). Where it is not permitted a test
//! must not pass silently: [`Tmpfs::mount`] panics saying so, unless
//! `TALKAPP_TEST_SKIP_MOUNT=1`, when it prints that the test is skipped and gives `None`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The variable that lets a test without the right to mount skip instead of failing.
pub const SKIP_MOUNT_VARIABLE: &str = "TALKAPP_TEST_SKIP_MOUNT";

/// A `tmpfs` mounted at a directory; unmounted when dropped (also when the test panics).
#[derive(Debug)]
pub struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    /// Mounts a `tmpfs` of `bytes` (rounded up to pages) at `dir`, created when missing.
    /// `None` only when mounting failed and `TALKAPP_TEST_SKIP_MOUNT=1` (printed);
    /// otherwise a failure panics, naming `CAP_SYS_ADMIN`.
    pub fn mount(dir: &Path, bytes: u64) -> Option<Self> {
        std::fs::create_dir_all(dir).expect("the mount point");
        let output = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={bytes},mode=0700"),
                "tmpfs",
            ])
            .arg(dir)
            .output();
        let why = match output {
            Ok(output) if output.status.success() => {
                return Some(Self {
                    dir: dir.to_owned(),
                });
            }
            Ok(output) => String::from_utf8_lossy(&output.stderr).trim().to_owned(),
            Err(error) => format!("cannot run mount: {error}"),
        };
        if std::env::var(SKIP_MOUNT_VARIABLE).is_ok_and(|value| value == "1") {
            eprintln!(
                "SKIPPED: this test mounts a tmpfs, which was refused ({why}); {SKIP_MOUNT_VARIABLE}=1 skips it"
            );
            return None;
        }
        panic!(
            "this test mounts a tmpfs at {} and needs CAP_SYS_ADMIN (run it as root), or \
             {SKIP_MOUNT_VARIABLE}=1 to skip it where mounting is not permitted; mount said: {why}",
            dir.display()
        );
    }

    /// Where it is mounted.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Bytes in use (its files' pages).
    pub fn used_bytes(&self) -> u64 {
        let stats = nix::sys::statvfs::statvfs(&self.dir).expect("statvfs of the tmpfs");
        (stats.blocks() - stats.blocks_free()) * stats.fragment_size()
    }

    /// Bytes still free.
    pub fn free_bytes(&self) -> u64 {
        let stats = nix::sys::statvfs::statvfs(&self.dir).expect("statvfs of the tmpfs");
        stats.blocks_available() * stats.fragment_size()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let unmounted = Command::new("umount")
            .arg(&self.dir)
            .status()
            .is_ok_and(|status| status.success());
        // Busy (a service still running after a failed assertion): detach it now, the
        // kernel unmounts it once the last file is closed.
        if !unmounted {
            let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        }
    }
}
