//! Pins for queued sends: a job pins its files when it is accepted, reads them whatever
//! the owner deletes meanwhile, and releases them when it is final.

use talkapp_proto::media::v1 as proto;
use talkapp_proto::tonic::Code;
use uuid::Uuid;

use crate::helpers::{
    Database, Objects, TestService, assert_refused, collect, file_ref, pdf_of_size, png,
};

async fn pin(
    service: &TestService,
    user: Uuid,
    job_id: Uuid,
    file_ids: &[&str],
) -> Result<proto::PinFilesResponse, talkapp_proto::tonic::Status> {
    service
        .client
        .clone()
        .pin_files(proto::PinFilesRequest {
            user_id: user.to_string(),
            job_id: job_id.to_string(),
            file_ids: file_ids.iter().map(|id| (*id).to_owned()).collect(),
        })
        .await
        .map(talkapp_proto::tonic::Response::into_inner)
}

async fn read_pinned(
    service: &TestService,
    job_id: Uuid,
    file_id: &str,
) -> Result<(proto::DownloadHeader, Vec<u8>), talkapp_proto::tonic::Status> {
    read_pinned_part(service, job_id, file_id, false).await
}

/// The bytes of a pinned file, or (`preview`) of its preview image.
async fn read_pinned_part(
    service: &TestService,
    job_id: Uuid,
    file_id: &str,
    preview: bool,
) -> Result<(proto::DownloadHeader, Vec<u8>), talkapp_proto::tonic::Status> {
    let stream = service
        .client
        .clone()
        .read_pinned(proto::ReadPinnedRequest {
            job_id: job_id.to_string(),
            file_id: file_id.to_owned(),
            preview,
        })
        .await?
        .into_inner();
    collect(stream).await
}

async fn a_pinned_file_is_read_after_its_delete_until_the_job_releases_it(database: Database) {
    let service = TestService::start(database).await;
    let owner = Uuid::new_v4();
    let photo = png(40, 30);
    let document = pdf_of_size(70_000);
    let first = service
        .upload(owner, "a.png", &photo)
        .await
        .expect("upload");
    let second = service
        .upload(owner, "b.pdf", &document)
        .await
        .expect("upload");
    let job_id = Uuid::new_v4();
    let (_, photo_preview) = service
        .preview(owner, &first.file_id)
        .await
        .expect("the photo has a preview");

    let pinned = pin(&service, owner, job_id, &[&first.file_id, &second.file_id])
        .await
        .expect("pinned");
    service
        .client
        .clone()
        .delete(file_ref(owner, &first.file_id))
        .await
        .expect("deleted by its owner");
    let (header, bytes) = read_pinned(&service, job_id, &first.file_id)
        .await
        .expect("the job still reads it");
    let (preview_header, preview) = read_pinned_part(&service, job_id, &first.file_id, true)
        .await
        .expect("and its preview (a thumbnail for Telegram)");
    let no_preview = read_pinned_part(&service, job_id, &second.file_id, true).await;
    service
        .client
        .clone()
        .release_pins(proto::ReleasePinsRequest {
            job_id: job_id.to_string(),
        })
        .await
        .expect("released");

    assert_eq!(
        pinned
            .files
            .iter()
            .map(|file| file.file_id.as_str())
            .collect::<Vec<_>>(),
        vec![first.file_id.as_str(), second.file_id.as_str()]
    );
    assert_eq!(pinned.files[0].kind, "photo");
    assert_eq!(pinned.files[1].sha256, second.sha256);
    assert_eq!(bytes, photo);
    assert_eq!(header.size, photo.len() as u64);
    assert_eq!(preview, photo_preview);
    assert_eq!(preview_header.mime, "image/jpeg");
    assert_eq!(preview_header.size, photo_preview.len() as u64);
    assert_refused(no_preview, Code::NotFound, "not_found");
    assert_refused(
        read_pinned(&service, job_id, &first.file_id).await,
        Code::NotFound,
        "not_found",
    );
    assert_eq!(
        service.stored_files("blobs").len(),
        1,
        "the deleted file's bytes went with the pin; the other file stays"
    );
    service.stop().await;
}

#[tokio::test]
async fn a_pinned_file_is_read_after_its_delete_until_the_job_releases_it_on_sqlite() {
    a_pinned_file_is_read_after_its_delete_until_the_job_releases_it(Database::Sqlite).await;
}

#[tokio::test]
async fn a_pinned_file_is_read_after_its_delete_until_the_job_releases_it_on_postgres() {
    a_pinned_file_is_read_after_its_delete_until_the_job_releases_it(Database::Postgres).await;
}

#[tokio::test]
async fn only_the_owner_pins_a_file_and_no_other_job_reads_it() {
    let service = TestService::start(Database::Sqlite).await;
    let owner = Uuid::new_v4();
    let file = service
        .upload(owner, "a.png", &png(8, 8))
        .await
        .expect("upload");
    let job_id = Uuid::new_v4();

    assert_refused(
        pin(&service, Uuid::new_v4(), job_id, &[&file.file_id]).await,
        Code::NotFound,
        "not_found",
    );
    assert_refused(
        pin(&service, owner, job_id, &["not-a-uuid"]).await,
        Code::NotFound,
        "not_found",
    );
    assert_refused(
        pin(&service, owner, job_id, &[]).await,
        Code::InvalidArgument,
        "validation_failed",
    );
    let eleven: Vec<&str> = std::iter::repeat_n(file.file_id.as_str(), 11).collect();
    assert_refused(
        pin(&service, owner, job_id, &eleven).await,
        Code::InvalidArgument,
        "validation_failed",
    );
    pin(&service, owner, job_id, &[&file.file_id])
        .await
        .expect("the owner pins it");
    assert_refused(
        read_pinned(&service, Uuid::new_v4(), &file.file_id).await,
        Code::NotFound,
        "not_found",
    );
    service.stop().await;
}

/// With previews larger than Telegram's thumbnails (`media.preview_max_side` 640), a
/// send's thumbnail is the preview scaled down to 320 pixels a side; the preview itself
/// stays as made.
#[tokio::test]
async fn a_pinned_files_preview_is_read_within_telegrams_thumbnail_size() {
    let service = TestService::start_with(
        Database::Sqlite,
        Objects::Local,
        &[("media.preview_max_side", "640")],
    )
    .await;
    let owner = Uuid::new_v4();
    let file = service
        .upload(owner, "wide.png", &png(1000, 500))
        .await
        .expect("upload");
    let job_id = Uuid::new_v4();
    pin(&service, owner, job_id, &[&file.file_id])
        .await
        .expect("pinned");

    let (_, preview) = service
        .preview(owner, &file.file_id)
        .await
        .expect("a preview");
    let (header, thumbnail) = read_pinned_part(&service, job_id, &file.file_id, true)
        .await
        .expect("a thumbnail");

    let preview = image::load_from_memory(&preview).expect("the preview decodes");
    assert_eq!((preview.width(), preview.height()), (640, 320));
    assert_eq!(header.mime, "image/jpeg");
    assert_eq!(header.size, thumbnail.len() as u64);
    let thumbnail = image::load_from_memory_with_format(&thumbnail, image::ImageFormat::Jpeg)
        .expect("the thumbnail is a JPEG");
    assert_eq!((thumbnail.width(), thumbnail.height()), (320, 160));
    service.stop().await;
}
