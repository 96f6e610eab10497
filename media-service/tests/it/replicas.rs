//! Two media-service replicas on one PostgreSQL database and one object store: a pending
//! preview is made by one of them only (a claim with a lease in the store, ADR 0049), and
//! the claim of a replica that died is taken again once its lease has expired.

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

#[tokio::test]
async fn a_dead_replicas_claim_is_taken_again_after_its_lease() {
    let tool = SlowTool::new("echo run >> '{dir}/runs'; /bin/sleep 1");
    let settings = [
        ("media.ffmpeg_path", tool.script.as_str()),
        ("media.frame_concurrency", "1"),
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
