//! What a hosted account costs in memory: the process's resident memory grows by less than
//! [`MAX_KIB_PER_ACCOUNT`] for each account linked and connected here (its Telegram link,
//! its host state, its cache), measured over [`MEASURED`] accounts after a few were linked
//! to warm the process up. Each grammers connection used to hold two buffers of 1 MiB for
//! its whole life, and mimalloc's transparent huge pages made whole 2 MiB pages resident
//! around them (about 3 MiB per account in all, docs/BENCHMARKS.md); ADR 0038.
//!
//! Linux only (it reads `/proc/self/status`); the test binary uses the processes'
//! allocator (mimalloc, through `talkapp_common`), so the figure is the one they see.

use talkapp_tg_sandbox::{DemoScale, World};

use crate::support::{Backing, ChatApp};

/// Accounts linked before the first reading (allocator pools, SQLite's caches, threads).
const WARM_UP: usize = 4;
/// Accounts linked between the two readings.
const MEASURED: usize = 24;
/// The bound per account. Before the fixes: 4,211 KiB per account here; after: 156–319.
const MAX_KIB_PER_ACCOUNT: u64 = 512;

/// The process's resident memory, in KiB.
fn resident_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status")
}

/// The phone of the sandbox's `n`th extra account (`+9996620003` is the first).
fn extra_phone(n: usize) -> String {
    format!("+999662{:04}", n + 3)
}

/// Links the extra accounts `range` and waits until each one's chats are cached (its link
/// connected and its backfill done).
async fn link_all(app: &ChatApp, range: std::ops::Range<usize>) {
    for n in range {
        let session = app.link(&extra_phone(n)).await;
        app.chats_once_cached(&session).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_linked_account_costs_less_than_half_a_mib_of_resident_memory() {
    // The four named extra accounts have the demo's larger chats; the ring gives every
    // later one a private chat of its own, as in the benchmarks.
    let scale = DemoScale {
        extra_users: 4 + WARM_UP + MEASURED,
        ring_chats: 1,
        ..DemoScale::default()
    };
    let app = ChatApp::start_with_world(
        Backing::Embedded,
        World::demo_scaled(&scale).expect("world"),
    )
    .await;
    link_all(&app, 4..4 + WARM_UP).await;
    let before = resident_kib();
    link_all(&app, 4 + WARM_UP..4 + WARM_UP + MEASURED).await;
    let after = resident_kib();
    let per_account = after.saturating_sub(before) / MEASURED as u64;
    eprintln!(
        "resident: {before} KiB after {WARM_UP} accounts, {after} KiB after {MEASURED} more: \
         {per_account} KiB per account"
    );
    assert!(
        per_account < MAX_KIB_PER_ACCOUNT,
        "each linked account added {per_account} KiB of resident memory \
         (bound {MAX_KIB_PER_ACCOUNT} KiB; {before} -> {after} KiB over {MEASURED} accounts)"
    );
    app.stop().await;
}
