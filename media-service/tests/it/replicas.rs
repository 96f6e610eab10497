//! Two media-service replicas on one PostgreSQL database and one object store: a pending
//! preview is made by one of them only (a claim with a lease in the store, ADR 0049), the
//! claim of a replica that died is taken again once its lease has expired, and a replica
//! with a worker free takes what waits unclaimed in the other's queue, or was left in
//! the queue of one that stopped.

use std::time::Duration;

use uuid::Uuid;

use crate::frames::{SlowTool, distinct_mp4, eventually};
use crate::helpers::{Database, Objects, TestService, await_preview};

/// Runs of the tool so far (each run appends a line to `runs`).
fn runs(tool: &SlowTool) -> usize {
    std::fs::read_to_string(tool.dir.join("runs"))
        .map(|runs| runs.lines().count())
        .unwrap_or(0)
}

#[tokio::test]
async fn a_preview_queued_by_two_replicas_is_made_once() {
    // One worker each; the tool counts its runs, then takes 3 s more than ffmpeg.
    let tool = SlowTool::new("echo run >> '{dir}/runs'; /bin/sleep 3");
    let settings = [
        ("media.ffmpeg_path", tool.script.as_str()),
        ("media.frame_concurrency", "1"),
    ];
    let first = TestService::start_with(Database::Postgres, Objects::Local, &settings).await;
    let user = Uuid::new_v4();
    let busy = first
        .upload(user, "a.mp4", &distinct_mp4(1))
        .await
        .expect("stored");
    eventually("the first replica makes the first preview", || {
        runs(&tool) == 1
    })
    .await;
    // Waits in the first replica's queue, behind the first.
    let waiting = first
        .upload(user, "b.mp4", &distinct_mp4(2))
        .await
        .expect("stored");
    assert!(busy.preview_pending && waiting.preview_pending);

    // A second replica starts: its sweep queues the preview waiting in the first's
    // queue (pending, stored before it started, claimed by no one yet) and makes it.
    let second = first.replica(&[]).await;
    for file in [&busy, &waiting] {
        for replica in [&first, &second] {
            assert!(
                await_preview(replica, user, &file.file_id).await.is_some(),
                "{} made",
                file.file_name
            );
        }
    }
    // The first replica's worker comes to the second preview once the first is made:
    // claimed by the other replica (or made already), it is not made again.
    let (first_core, second_core) = (first.core.clone(), second.core.clone());
    eventually(
        "the first replica's worker has been at the second preview",
        || {
            first_core.preview_counts().made
                + first_core.preview_counts().elsewhere
                + second_core.preview_counts().made
                + second_core.preview_counts().elsewhere
                >= 3
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (one, two) = (first.core.preview_counts(), second.core.preview_counts());
    assert_eq!(runs(&tool), 2, "each preview made once: {one:?} {two:?}");
    assert_eq!((one.made, two.made), (1, 1), "{one:?} {two:?}");
    assert_eq!(one.elsewhere + two.elsewhere, 1, "{one:?} {two:?}");
    assert_eq!(one.gone + two.gone, 0, "{one:?} {two:?}");

    second.stop().await;
    first.stop().await;
    tool.remove();
}

/// The sweep's path: with the workers never looking in the store, a dead replica's claim
/// is taken by the first sweep after its lease.
#[tokio::test]
async fn a_dead_replicas_claim_is_taken_again_after_its_lease() {
    let tool = SlowTool::new("echo run >> '{dir}/runs'; /bin/sleep 1");
    let settings = [
        ("media.ffmpeg_path", tool.script.as_str()),
        ("media.frame_concurrency", "1"),
        ("media.preview_store_poll_ms", "0"),
    ];
    let first = TestService::start_with(Database::Postgres, Objects::Local, &settings).await;
    let user = Uuid::new_v4();
    let busy = first
        .upload(user, "a.mp4", &distinct_mp4(3))
        .await
        .expect("stored");
    eventually("the first preview is being made", || runs(&tool) == 1).await;
    let orphan = first
        .upload(user, "b.mp4", &distinct_mp4(4))
        .await
        .expect("stored");
    // Claimed by a replica that then died (it never finishes nor gives it back).
    let sha256 = first
        .store
        .media_file(user, orphan.file_id.parse().expect("uuid"))
        .await
        .expect("read")
        .expect("the file")
        .blob
        .sha256;
    let lease = Duration::from_secs(3);
    assert!(
        first
            .store
            .claim_blob_preview(&sha256, Uuid::new_v4(), lease)
            .await
            .expect("claim")
    );
    let claimed = std::time::Instant::now();
    assert!(await_preview(&first, user, &busy.file_id).await.is_some());
    let core = first.core.clone();
    eventually(
        "the live replica's worker left the claimed preview alone",
        || core.preview_counts().elsewhere == 1,
    )
    .await;

    // A replica starting within the lease does not take it either.
    let second = first.replica(&[]).await;
    let report = second.core.sweep().await.expect("sweep");
    assert_eq!(report.queued_previews, 0, "{report:?}");
    assert_eq!(runs(&tool), 1);
    crate::helpers::assert_refused(
        second.preview(user, &orphan.file_id).await,
        talkapp_proto::tonic::Code::FailedPrecondition,
        "preview_pending",
    );

    // After the lease, the next sweep takes it.
    tokio::time::sleep(lease.saturating_sub(claimed.elapsed()) + Duration::from_millis(300)).await;
    let report = second.core.sweep().await.expect("sweep");
    assert_eq!(report.queued_previews, 1, "{report:?}");
    assert!(
        await_preview(&second, user, &orphan.file_id)
            .await
            .is_some()
    );
    assert_eq!(runs(&tool), 2);
    assert_eq!(second.core.preview_counts().made, 1);

    second.stop().await;
    first.stop().await;
    tool.remove();
}

/// The blob of a file of `service`'s, read from its store.
async fn blob_of(service: &TestService, user: Uuid, file_id: &str) -> talkapp_store::MediaBlob {
    service
        .store
        .media_file(user, file_id.parse().expect("uuid"))
        .await
        .expect("read")
        .expect("the file")
        .blob
}

/// A replica whose worker is free makes what waits, unclaimed, in a busy replica's queue:
/// the work goes where there is room, not after the busy one's queue.
#[tokio::test]
async fn an_idle_replica_makes_what_waits_in_a_busy_replicas_queue() {
    // The busy replica's tool counts its runs, then takes 3 s more than ffmpeg; the idle
    // one's only counts them.
    let slow = SlowTool::new("echo run >> '{dir}/runs'; /bin/sleep 3");
    let fast = SlowTool::new("echo run >> '{dir}/runs'");
    let settings = [
        ("media.ffmpeg_path", slow.script.as_str()),
        ("media.frame_concurrency", "1"),
        ("media.preview_store_poll_ms", "200"),
    ];
    let busy_replica = TestService::start_with(Database::Postgres, Objects::Local, &settings).await;
    let user = Uuid::new_v4();
    let busy = busy_replica
        .upload(user, "a.mp4", &distinct_mp4(5))
        .await
        .expect("stored");
    eventually("the busy replica makes the first preview", || {
        runs(&slow) == 1
    })
    .await;
    let idle_replica = busy_replica
        .replica(&[("media.ffmpeg_path", fast.script.as_str())])
        .await;
    let waiting = busy_replica
        .upload(user, "b.mp4", &distinct_mp4(6))
        .await
        .expect("stored");
    assert!(waiting.preview_pending);

    let started = std::time::Instant::now();
    assert!(
        await_preview(&busy_replica, user, &waiting.file_id)
            .await
            .is_some()
    );
    let (busy_counts, idle_counts) = (
        busy_replica.core.preview_counts(),
        idle_replica.core.preview_counts(),
    );
    assert_eq!(
        (busy_counts.made, idle_counts.made),
        (0, 1),
        "made by the idle replica while the busy one still made the first \
         ({:?} after the upload): {busy_counts:?} {idle_counts:?}",
        started.elapsed()
    );
    assert!(
        await_preview(&busy_replica, user, &busy.file_id)
            .await
            .is_some()
    );
    // The busy replica's worker then comes to it in its queue: made already, not again.
    let busy_core = busy_replica.core.clone();
    eventually("the busy replica's worker has been at the second", || {
        busy_core.preview_counts().elsewhere == 1
    })
    .await;
    assert_eq!((runs(&slow), runs(&fast)), (1, 1), "each made once");

    idle_replica.stop().await;
    busy_replica.stop().await;
    slow.remove();
    fast.remove();
}

/// Previews queued, unclaimed, in a replica that stops are made by another replica within
/// seconds (its idle worker takes them from the store), not left to the sweep's stale
/// cutoff; and the one it was making (given back at its stop) too.
#[tokio::test]
async fn previews_queued_in_a_replica_that_stopped_are_made_by_another_within_seconds() {
    // The tool counts its runs, then takes 2 s more than ffmpeg.
    let tool = SlowTool::new("echo run >> '{dir}/runs'; /bin/sleep 2");
    let settings = [
        ("media.ffmpeg_path", tool.script.as_str()),
        ("media.frame_concurrency", "1"),
        ("media.preview_store_poll_ms", "500"),
    ];
    let survivor = TestService::start_with(Database::Postgres, Objects::Local, &settings).await;
    let user = Uuid::new_v4();
    // The survivor's worker is busy with its own preview meanwhile, so what the other
    // queues stays in that one's queue, unclaimed.
    let own = survivor
        .upload(user, "own.mp4", &distinct_mp4(7))
        .await
        .expect("stored");
    eventually("the survivor makes its own preview", || runs(&tool) == 1).await;
    let stopping = survivor.replica(&[]).await;
    let being_made = stopping
        .upload(user, "a.mp4", &distinct_mp4(8))
        .await
        .expect("stored");
    eventually("the stopping replica makes its first preview", || {
        runs(&tool) == 2
    })
    .await;
    let mut queued = Vec::new();
    for tag in [9, 10] {
        queued.push(
            stopping
                .upload(user, &format!("{tag}.mp4"), &distinct_mp4(tag))
                .await
                .expect("stored"),
        );
    }
    for file in &queued {
        let blob = blob_of(&stopping, user, &file.file_id).await;
        assert!(
            blob.preview_pending,
            "waits in the stopping replica's queue"
        );
    }
    let stopped_at = std::time::Instant::now();
    stopping.stop().await;

    for file in [&own, &being_made, &queued[0], &queued[1]] {
        assert!(
            await_preview(&survivor, user, &file.file_id)
                .await
                .is_some(),
            "{} made",
            file.file_name
        );
    }
    let took = stopped_at.elapsed();
    // Its own (at most 2 s left), then three of 2 s each, one after the other, and the
    // looks in the store: about 8 s. Left to the sweep, they would wait for its stale
    // cutoff (`media.stale_upload_secs`, 60 s here) and its next turn (300 s).
    assert!(
        took < Duration::from_secs(20),
        "made {took:?} after the stop"
    );
    let counts = survivor.core.preview_counts();
    assert_eq!((counts.made, counts.from_store), (4, 3), "{counts:?}");

    survivor.stop().await;
    tool.remove();
}
