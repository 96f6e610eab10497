//! The behaviour every `MediaStore` implementation must have (uploaded files, blobs,
//! quotas, pins), run against every backend by `conformance_tests!` in `main.rs`.

use std::sync::Arc;

use chrono::TimeDelta;
use talkapp_store::{
    MediaBlob, MediaFile, MediaKind, MediaStore, PreviewEnd, PreviewFinish, Reservation, now,
};
use uuid::Uuid;

const QUOTA: u64 = 1000;

fn blob(sha_seed: &str, size: u64) -> MediaBlob {
    MediaBlob {
        sha256: format!("{sha_seed:0>64}"),
        size,
        mime: "image/png".to_owned(),
        kind: MediaKind::Photo,
        width: Some(640),
        height: Some(480),
        duration_ms: None,
        waveform: None,
        preview_size: Some(1234),
        preview_pending: false,
        preview_skipped: false,
        created_at: now(),
    }
}

fn file_of(user_id: Uuid, blob: &MediaBlob) -> MediaFile {
    MediaFile {
        file_id: Uuid::new_v4(),
        user_id,
        file_name: "cat.png".to_owned(),
        created_at: now(),
        blob: blob.clone(),
    }
}

/// Reserves and completes `file`; panics unless both work.
async fn stored(store: &dyn MediaStore, file: &MediaFile) -> MediaFile {
    assert_eq!(
        store
            .reserve_media_file(file, QUOTA)
            .await
            .expect("reserve"),
        Reservation::Reserved
    );
    store
        .complete_media_file(file.file_id)
        .await
        .expect("complete")
        .expect("the pending file")
}

pub(crate) async fn a_reserved_file_is_invisible_until_completed_and_then_only_to_its_owner(
    store: Arc<dyn MediaStore>,
) {
    let owner = Uuid::new_v4();
    let file = file_of(owner, &blob("a1", 100));
    assert_eq!(
        store
            .reserve_media_file(&file, QUOTA)
            .await
            .expect("reserve"),
        Reservation::Reserved
    );
    assert_eq!(
        store.media_file(owner, file.file_id).await.expect("read"),
        None,
        "pending"
    );

    let completed = store
        .complete_media_file(file.file_id)
        .await
        .expect("complete")
        .expect("was pending");
    assert_eq!(completed, file);
    assert_eq!(
        store
            .complete_media_file(file.file_id)
            .await
            .expect("again"),
        None,
        "completes once"
    );
    assert_eq!(
        store.media_file(owner, file.file_id).await.expect("read"),
        Some(file.clone())
    );
    assert_eq!(
        store
            .media_file(Uuid::new_v4(), file.file_id)
            .await
            .expect("read"),
        None,
        "another user never sees it"
    );
    assert_eq!(
        store
            .delete_media_file(Uuid::new_v4(), file.file_id)
            .await
            .expect("delete"),
        None,
        "nor deletes it"
    );
    assert!(
        store
            .media_file(owner, file.file_id)
            .await
            .expect("read")
            .is_some()
    );
}

pub(crate) async fn the_quota_counts_every_reference_and_deletes_and_aborts_give_it_back(
    store: Arc<dyn MediaStore>,
) {
    let user = Uuid::new_v4();
    let shared = blob("b1", 400);
    let first = stored(store.as_ref(), &file_of(user, &shared)).await;
    let _second = stored(store.as_ref(), &file_of(user, &shared)).await;
    assert_eq!(store.media_usage(user).await.expect("usage"), 800);

    let too_much = file_of(user, &blob("b2", 201));
    assert_eq!(
        store
            .reserve_media_file(&too_much, QUOTA)
            .await
            .expect("reserve"),
        Reservation::QuotaExceeded { used: 800 }
    );
    assert_eq!(
        store.media_usage(user).await.expect("usage"),
        800,
        "nothing counted"
    );
    let bigger_than_quota = file_of(user, &blob("b3", QUOTA + 1));
    assert_eq!(
        store
            .reserve_media_file(&bigger_than_quota, QUOTA)
            .await
            .expect("reserve"),
        Reservation::QuotaExceeded { used: 800 }
    );
    assert_eq!(
        store
            .reserve_media_file(&too_much, QUOTA * 2)
            .await
            .expect("reserve"),
        Reservation::Reserved,
        "the quota is the caller's setting"
    );
    assert_eq!(store.media_usage(user).await.expect("usage"), 1001);
    assert!(
        store
            .abort_media_file(too_much.file_id)
            .await
            .expect("abort")
    );
    assert!(
        !store
            .abort_media_file(too_much.file_id)
            .await
            .expect("abort twice")
    );
    assert_eq!(store.media_usage(user).await.expect("usage"), 800);

    assert_eq!(
        store
            .delete_media_file(user, first.file_id)
            .await
            .expect("delete"),
        Some(shared.sha256.clone())
    );
    assert_eq!(
        store
            .delete_media_file(user, first.file_id)
            .await
            .expect("again"),
        None
    );
    assert_eq!(store.media_usage(user).await.expect("usage"), 400);
    assert_eq!(store.media_usage(Uuid::new_v4()).await.expect("usage"), 0);
}

pub(crate) async fn concurrent_reservations_never_pass_the_quota(store: Arc<dyn MediaStore>) {
    let user = Uuid::new_v4();
    let mut tasks = Vec::new();
    for index in 0..10 {
        let store = Arc::clone(&store);
        let file = file_of(user, &blob(&format!("c{index}"), 300));
        tasks.push(tokio::spawn(async move {
            store
                .reserve_media_file(&file, QUOTA)
                .await
                .expect("reserve")
        }));
    }
    let mut reserved = 0;
    for task in tasks {
        if task.await.expect("task") == Reservation::Reserved {
            reserved += 1;
        }
    }
    assert_eq!(reserved, 3, "3 x 300 fit in 1000, a fourth does not");
    assert_eq!(store.media_usage(user).await.expect("usage"), 900);
}

pub(crate) async fn identical_bytes_are_one_blob_collected_only_when_no_reference_remains(
    store: Arc<dyn MediaStore>,
) {
    let shared = blob("d1", 10);
    let alice = stored(store.as_ref(), &file_of(Uuid::new_v4(), &shared)).await;
    let bob = stored(store.as_ref(), &file_of(Uuid::new_v4(), &shared)).await;
    assert_eq!(
        store
            .claim_unreferenced_blob(&shared.sha256)
            .await
            .expect("claim"),
        None
    );
    assert!(store.unreferenced_blobs(10).await.expect("list").is_empty());

    store
        .delete_media_file(alice.user_id, alice.file_id)
        .await
        .expect("delete");
    assert_eq!(
        store
            .claim_unreferenced_blob(&shared.sha256)
            .await
            .expect("claim"),
        None,
        "bob still refers to it"
    );
    assert_eq!(
        store
            .media_file(bob.user_id, bob.file_id)
            .await
            .expect("read")
            .map(|f| f.blob),
        Some(shared.clone())
    );
    store
        .delete_media_file(bob.user_id, bob.file_id)
        .await
        .expect("delete");
    assert_eq!(
        store.unreferenced_blobs(10).await.expect("list"),
        vec![shared.sha256.clone()]
    );
    let claimed = store
        .claim_unreferenced_blob(&shared.sha256)
        .await
        .expect("claim")
        .expect("nothing refers to it");
    assert_eq!(claimed, shared);
    assert_eq!(
        store
            .claim_unreferenced_blob(&shared.sha256)
            .await
            .expect("claim again")
            .map(|b| b.sha256),
        Some(shared.sha256.clone()),
        "a half-done collection is handed out again"
    );
    store.forget_blob(&shared.sha256).await.expect("forget");
    assert!(store.unreferenced_blobs(10).await.expect("list").is_empty());
    assert_eq!(
        store
            .claim_unreferenced_blob(&shared.sha256)
            .await
            .expect("claim"),
        None
    );
    // The same bytes uploaded again start a new blob.
    stored(store.as_ref(), &file_of(Uuid::new_v4(), &shared)).await;
}

pub(crate) async fn a_pinned_blob_outlives_the_deleted_file_until_the_pin_is_released(
    store: Arc<dyn MediaStore>,
) {
    let user = Uuid::new_v4();
    let pinned_blob = blob("e1", 10);
    let file = stored(store.as_ref(), &file_of(user, &pinned_blob)).await;
    let job_id = Uuid::new_v4();
    assert_eq!(
        store
            .pin_media_file(Uuid::new_v4(), file.file_id, job_id)
            .await
            .expect("pin"),
        None,
        "not theirs"
    );
    assert_eq!(
        store
            .pin_media_file(user, Uuid::new_v4(), job_id)
            .await
            .expect("pin"),
        None,
        "no such file"
    );
    assert_eq!(
        store
            .pin_media_file(user, file.file_id, job_id)
            .await
            .expect("pin"),
        Some(file.clone()),
        "the file as pinned, its blob with it"
    );
    assert_eq!(
        store
            .pin_media_file(user, file.file_id, job_id)
            .await
            .expect("pin twice"),
        Some(file.clone())
    );

    store
        .delete_media_file(user, file.file_id)
        .await
        .expect("delete");
    assert_eq!(
        store.media_file(user, file.file_id).await.expect("read"),
        None
    );
    assert_eq!(
        store
            .pinned_media_blob(job_id, file.file_id)
            .await
            .expect("read the pin")
            .map(|blob| blob.sha256),
        Some(pinned_blob.sha256.clone()),
        "the job still reads its file after the delete"
    );
    assert_eq!(
        store
            .pinned_media_blob(Uuid::new_v4(), file.file_id)
            .await
            .expect("read the pin"),
        None,
        "another job holds no pin"
    );
    assert_eq!(
        store
            .claim_unreferenced_blob(&pinned_blob.sha256)
            .await
            .expect("claim"),
        None,
        "pinned"
    );

    assert_eq!(
        store.release_media_pins(job_id).await.expect("release"),
        vec![pinned_blob.sha256.clone()]
    );
    assert_eq!(
        store
            .pinned_media_blob(job_id, file.file_id)
            .await
            .expect("read the pin"),
        None,
        "released"
    );
    assert!(
        store
            .release_media_pins(job_id)
            .await
            .expect("release twice")
            .is_empty()
    );
    assert!(
        store
            .claim_unreferenced_blob(&pinned_blob.sha256)
            .await
            .expect("claim")
            .is_some()
    );
}

pub(crate) async fn a_blob_being_deleted_turns_reservations_away_until_it_is_forgotten(
    store: Arc<dyn MediaStore>,
) {
    let user = Uuid::new_v4();
    let doomed = blob("f1", 10);
    let file = stored(store.as_ref(), &file_of(user, &doomed)).await;
    store
        .delete_media_file(user, file.file_id)
        .await
        .expect("delete");
    store
        .claim_unreferenced_blob(&doomed.sha256)
        .await
        .expect("claim")
        .expect("claimed");

    let again = file_of(user, &doomed);
    assert_eq!(
        store
            .reserve_media_file(&again, QUOTA)
            .await
            .expect("reserve"),
        Reservation::BlobBusy
    );
    assert_eq!(
        store.media_usage(user).await.expect("usage"),
        0,
        "nothing counted"
    );
    store.forget_blob(&doomed.sha256).await.expect("forget");
    assert_eq!(
        store
            .reserve_media_file(&again, QUOTA)
            .await
            .expect("reserve"),
        Reservation::Reserved
    );
}

pub(crate) async fn a_pending_preview_is_listed_until_finished_and_never_finished_on_a_collected_blob(
    store: Arc<dyn MediaStore>,
) {
    let user = Uuid::new_v4();
    let mut video = blob("c1", 10);
    video.preview_size = None;
    video.preview_pending = true;
    let file = stored(store.as_ref(), &file_of(user, &video)).await;
    assert!(file.blob.preview_pending && file.blob.preview_size.is_none());
    let later = now() + TimeDelta::seconds(1);
    let awaiting = store
        .blobs_awaiting_preview(later, 10)
        .await
        .expect("awaiting");
    assert_eq!(awaiting, vec![file.blob.clone()]);
    assert!(
        store
            .blobs_awaiting_preview(file.blob.created_at, 10)
            .await
            .expect("awaiting")
            .is_empty(),
        "only blobs stored before the cutoff"
    );

    assert_eq!(
        store
            .finish_blob_preview(&video.sha256, None, PreviewEnd::Made(777))
            .await
            .expect("finish"),
        PreviewFinish::Recorded
    );
    let read = store
        .media_file(user, file.file_id)
        .await
        .expect("read")
        .expect("the file");
    assert_eq!(
        (read.blob.preview_pending, read.blob.preview_size),
        (false, Some(777))
    );
    assert_eq!(
        store
            .finish_blob_preview(&video.sha256, None, PreviewEnd::None)
            .await
            .expect("finish"),
        PreviewFinish::NotClaimed,
        "finished once"
    );
    assert!(
        store
            .blobs_awaiting_preview(later, 10)
            .await
            .expect("awaiting")
            .is_empty()
    );

    // A blob deleted while its preview was being made: the preview is not recorded.
    let mut doomed = blob("c2", 10);
    doomed.preview_size = None;
    doomed.preview_pending = true;
    let file = stored(store.as_ref(), &file_of(user, &doomed)).await;
    store
        .delete_media_file(user, file.file_id)
        .await
        .expect("delete");
    store
        .claim_unreferenced_blob(&doomed.sha256)
        .await
        .expect("claim")
        .expect("claimed");
    assert!(
        store
            .blobs_awaiting_preview(later, 10)
            .await
            .expect("awaiting")
            .is_empty(),
        "a blob being deleted waits for nothing"
    );
    assert_eq!(
        store
            .finish_blob_preview(&doomed.sha256, None, PreviewEnd::Made(5))
            .await
            .expect("finish"),
        PreviewFinish::Gone,
        "deleting"
    );
    store.forget_blob(&doomed.sha256).await.expect("forget");
    assert_eq!(
        store
            .finish_blob_preview(&doomed.sha256, None, PreviewEnd::Made(5))
            .await
            .expect("finish"),
        PreviewFinish::Gone,
        "gone"
    );
}

/// A stored blob whose preview is pending.
async fn pending_video(store: &dyn MediaStore, user: Uuid, seed: &str) -> MediaFile {
    let mut video = blob(seed, 10);
    video.mime = "video/mp4".to_owned();
    video.kind = MediaKind::Video;
    video.preview_size = None;
    video.preview_pending = true;
    stored(store, &file_of(user, &video)).await
}

async fn blob_of(store: &dyn MediaStore, file: &MediaFile) -> MediaBlob {
    store
        .media_file(file.user_id, file.file_id)
        .await
        .expect("read")
        .expect("the file")
        .blob
}

pub(crate) async fn a_skipped_preview_is_pending_again_when_asked_for_and_a_failed_one_is_not(
    store: Arc<dyn MediaStore>,
) {
    let user = Uuid::new_v4();
    let later = now() + TimeDelta::seconds(1);
    let skipped = pending_video(store.as_ref(), user, "s1").await;
    let failed = pending_video(store.as_ref(), user, "s2").await;
    let sha = &skipped.blob.sha256;
    assert!(
        !store.requeue_skipped_preview(sha).await.expect("requeue"),
        "pending, not skipped"
    );
    assert_eq!(
        store
            .finish_blob_preview(sha, None, PreviewEnd::Skipped)
            .await
            .expect("skip"),
        PreviewFinish::Recorded
    );
    let read = blob_of(store.as_ref(), &skipped).await;
    assert_eq!(
        (
            read.preview_pending,
            read.preview_skipped,
            read.preview_size
        ),
        (false, true, None)
    );
    assert_eq!(
        store
            .blobs_awaiting_preview(later, 10)
            .await
            .expect("awaiting"),
        vec![failed.blob.clone()],
        "a skipped preview is not queued by the sweep"
    );
    assert!(store.requeue_skipped_preview(sha).await.expect("requeue"));
    assert!(
        !store.requeue_skipped_preview(sha).await.expect("requeue"),
        "once"
    );
    let read = blob_of(store.as_ref(), &skipped).await;
    assert_eq!((read.preview_pending, read.preview_skipped), (true, false));
    let claim = Uuid::new_v4();
    assert!(
        store
            .claim_blob_preview(sha, claim, std::time::Duration::from_secs(60))
            .await
            .expect("claim")
    );
    assert_eq!(
        store
            .finish_blob_preview(sha, Some(claim), PreviewEnd::Made(99))
            .await
            .expect("finish"),
        PreviewFinish::Recorded
    );
    let read = blob_of(store.as_ref(), &skipped).await;
    assert_eq!(
        (
            read.preview_pending,
            read.preview_skipped,
            read.preview_size
        ),
        (false, false, Some(99))
    );

    // A preview whose tool failed on the bytes is final.
    assert_eq!(
        store
            .finish_blob_preview(&failed.blob.sha256, None, PreviewEnd::None)
            .await
            .expect("none"),
        PreviewFinish::Recorded
    );
    assert!(
        !store
            .requeue_skipped_preview(&failed.blob.sha256)
            .await
            .expect("requeue")
    );
    let read = blob_of(store.as_ref(), &failed).await;
    assert_eq!(
        (
            read.preview_pending,
            read.preview_skipped,
            read.preview_size
        ),
        (false, false, None)
    );
}

pub(crate) async fn a_pending_preview_is_claimed_by_one_worker_until_its_lease_expires(
    store: Arc<dyn MediaStore>,
) {
    use std::time::Duration;
    let user = Uuid::new_v4();
    let later = now() + TimeDelta::seconds(1);
    let file = pending_video(store.as_ref(), user, "l1").await;
    let sha = &file.blob.sha256;
    let (first, second) = (Uuid::new_v4(), Uuid::new_v4());
    let lease = Duration::from_millis(400);
    assert!(
        store
            .claim_blob_preview(sha, first, lease)
            .await
            .expect("claim")
    );
    assert!(
        !store
            .claim_blob_preview(sha, second, lease)
            .await
            .expect("claim"),
        "held by the first"
    );
    assert!(
        store
            .blobs_awaiting_preview(later, 10)
            .await
            .expect("awaiting")
            .is_empty(),
        "a claimed preview is not queued again"
    );
    assert_eq!(
        store
            .finish_blob_preview(sha, Some(second), PreviewEnd::Made(5))
            .await
            .expect("finish"),
        PreviewFinish::NotClaimed,
        "only under its claim"
    );
    assert_eq!(
        store
            .finish_blob_preview(sha, None, PreviewEnd::Skipped)
            .await
            .expect("skip"),
        PreviewFinish::NotClaimed,
        "nobody skips a claimed preview"
    );

    // Its worker died: after the lease, anyone takes it, and the dead worker's late
    // finish records nothing.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let awaiting = store
        .blobs_awaiting_preview(file.blob.created_at, 10)
        .await
        .expect("awaiting");
    assert_eq!(
        awaiting.iter().map(|blob| &blob.sha256).collect::<Vec<_>>(),
        vec![sha],
        "an expired claim is queued again, however recent the blob"
    );
    assert!(
        store
            .claim_blob_preview(sha, second, Duration::from_secs(60))
            .await
            .expect("claim")
    );
    assert_eq!(
        store
            .finish_blob_preview(sha, Some(first), PreviewEnd::Made(5))
            .await
            .expect("finish"),
        PreviewFinish::NotClaimed
    );

    // A stopping worker gives its claim back: taken again at once.
    store
        .release_blob_preview(sha, first)
        .await
        .expect("not its claim: no-op");
    assert!(
        !store
            .claim_blob_preview(sha, first, lease)
            .await
            .expect("claim")
    );
    store
        .release_blob_preview(sha, second)
        .await
        .expect("release");
    assert!(
        store
            .claim_blob_preview(sha, first, lease)
            .await
            .expect("claim")
    );
    assert_eq!(
        store
            .finish_blob_preview(sha, Some(first), PreviewEnd::Made(5))
            .await
            .expect("finish"),
        PreviewFinish::Recorded
    );
    assert!(
        !store
            .claim_blob_preview(sha, second, lease)
            .await
            .expect("claim"),
        "finished: nothing to claim"
    );
    assert_eq!(blob_of(store.as_ref(), &file).await.preview_size, Some(5));
}

pub(crate) async fn stale_pending_files_are_found_for_the_sweep(store: Arc<dyn MediaStore>) {
    let user = Uuid::new_v4();
    let mut old = file_of(user, &blob("g1", 10));
    old.created_at = now() - TimeDelta::hours(2);
    let fresh = file_of(user, &blob("g2", 10));
    let done = file_of(user, &blob("g3", 10));
    for file in [&old, &fresh] {
        store
            .reserve_media_file(file, QUOTA)
            .await
            .expect("reserve");
    }
    let mut done_too_old = done.clone();
    done_too_old.created_at = now() - TimeDelta::hours(3);
    stored(store.as_ref(), &done_too_old).await;

    let stale = store
        .stale_pending_files(now() - TimeDelta::hours(1), 10)
        .await
        .expect("stale");
    assert_eq!(stale, vec![old.file_id], "pending and old only");
    assert!(store.abort_media_file(old.file_id).await.expect("abort"));
    assert_eq!(store.media_usage(user).await.expect("usage"), 20);
    assert_eq!(
        store.unreferenced_blobs(10).await.expect("list"),
        vec![old.blob.sha256.clone()],
        "its blob is left for collection"
    );
}

pub(crate) async fn media_metadata_round_trips(store: Arc<dyn MediaStore>) {
    let user = Uuid::new_v4();
    let voice = MediaBlob {
        sha256: format!("{:0>64}", "ab"),
        size: 3_000_000_000,
        mime: "audio/ogg".to_owned(),
        kind: MediaKind::Voice,
        width: None,
        height: None,
        duration_ms: Some(4_321),
        waveform: Some((0..63).collect()),
        preview_size: None,
        preview_pending: false,
        preview_skipped: false,
        created_at: now(),
    };
    let mut file = file_of(user, &voice);
    file.file_name = "заметка 1.ogg".to_owned();
    assert_eq!(
        store
            .reserve_media_file(&file, 4_000_000_000)
            .await
            .expect("reserve"),
        Reservation::Reserved
    );
    let completed = store
        .complete_media_file(file.file_id)
        .await
        .expect("complete");
    assert_eq!(completed, Some(file.clone()));
    assert_eq!(
        store.media_file(user, file.file_id).await.expect("read"),
        Some(file)
    );
    assert_eq!(store.media_usage(user).await.expect("usage"), 3_000_000_000);
}
