//! Uploads, downloads, previews and deletes at the service's gRPC boundary.

use sha2::{Digest as _, Sha256};
use talkapp_proto::tonic::Code;
use uuid::Uuid;

use crate::helpers::{
    Database, Objects, TestService, assert_refused, file_ref, pdf_of_size, png, upload_messages,
};

async fn an_uploaded_file_is_typed_by_its_bytes_and_downloads_whole_and_in_ranges(
    database: Database,
) {
    let service = TestService::start(database).await;
    let user = Uuid::new_v4();
    let bytes = pdf_of_size(300_000);

    // A lying name: the bytes decide.
    let info = service
        .upload(user, "holiday.jpg", &bytes)
        .await
        .expect("upload");
    assert_eq!(info.mime, "application/pdf");
    assert_eq!(info.kind, "document");
    assert_eq!(info.size, 300_000);
    assert_eq!(info.sha256, format!("{:x}", Sha256::digest(&bytes)));
    assert_eq!(info.file_name, "holiday.jpg");
    assert!(!info.has_preview);

    let (header, whole) = service
        .download(user, &info.file_id, None, None)
        .await
        .expect("download");
    assert!(header.range_satisfiable);
    assert_eq!(
        (header.offset, header.length, header.size),
        (0, 300_000, 300_000)
    );
    assert_eq!(whole, bytes);

    let (header, part) = service
        .download(user, &info.file_id, Some(299_990), Some(100))
        .await
        .expect("range");
    assert_eq!((header.offset, header.length), (299_990, 10));
    assert_eq!(part, bytes[299_990..]);

    let (header, nothing) = service
        .download(user, &info.file_id, Some(300_000), None)
        .await
        .expect("outside");
    assert!(!header.range_satisfiable);
    assert!(nothing.is_empty());

    let stat = service
        .client
        .clone()
        .stat(file_ref(user, &info.file_id))
        .await
        .expect("stat")
        .into_inner();
    // The PDF's preview (pdftoppm, after the answer: ADR 0049) may have ended since;
    // everything else is as answered.
    assert!(info.preview_pending, "its page is made after the answer");
    assert_eq!(
        talkapp_proto::media::v1::FileInfo {
            preview_pending: true,
            ..stat
        },
        info
    );
    service.stop().await;
}

#[tokio::test]
async fn an_uploaded_file_is_typed_by_its_bytes_and_downloads_whole_and_in_ranges_on_sqlite() {
    an_uploaded_file_is_typed_by_its_bytes_and_downloads_whole_and_in_ranges(Database::Sqlite)
        .await;
}

#[tokio::test]
async fn an_uploaded_file_is_typed_by_its_bytes_and_downloads_whole_and_in_ranges_on_postgres() {
    an_uploaded_file_is_typed_by_its_bytes_and_downloads_whole_and_in_ranges(Database::Postgres)
        .await;
}

/// A JPEG whose EXIF says "rotate 90° clockwise to show" (orientation 6), with a GPS-like
/// marker string inside the EXIF block.
fn rotated_jpeg(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbImage::from_fn(width, height, |x, _| {
        image::Rgb([if x < width / 2 { 255 } else { 0 }, 0, 0])
    });
    let mut jpeg = std::io::Cursor::new(Vec::new());
    image
        .write_to(&mut jpeg, image::ImageFormat::Jpeg)
        .expect("encode jpeg");
    let jpeg = jpeg.into_inner();
    let mut tiff = b"MM\0\x2a\0\0\0\x08".to_vec();
    tiff.extend([0, 1]); // one entry
    tiff.extend([0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0]); // Orientation = 6
    tiff.extend([0, 0, 0, 0]); // no next IFD
    tiff.extend(b"GPS-SECRET-41.3111N-69.2797E");
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend(tiff);
    let length = u16::try_from(app1.len() + 2).expect("short");
    let mut out = vec![0xFF, 0xD8, 0xFF, 0xE1];
    out.extend(length.to_be_bytes());
    out.extend(app1);
    out.extend(&jpeg[2..]);
    out
}

#[tokio::test]
async fn a_photo_gets_its_upright_dimensions_and_a_preview_without_metadata() {
    let service = TestService::start(Database::Sqlite).await;
    let user = Uuid::new_v4();
    let info = service
        .upload(user, "IMG_0001.JPG", &rotated_jpeg(800, 400))
        .await
        .expect("upload");
    assert_eq!(
        (info.mime.as_str(), info.kind.as_str()),
        ("image/jpeg", "photo")
    );
    assert_eq!(
        (info.width, info.height),
        (Some(400), Some(800)),
        "as shown, upright"
    );
    assert!(info.has_preview);

    let (header, preview) = service.preview(user, &info.file_id).await.expect("preview");
    assert_eq!(header.mime, "image/jpeg");
    assert_eq!(header.size as usize, preview.len());
    let decoded = image::load_from_memory(&preview).expect("a JPEG");
    assert_eq!(
        (decoded.width(), decoded.height()),
        (160, 320),
        "upright, longest side 320"
    );
    assert!(
        !preview.windows(4).any(|window| window == b"Exif"),
        "no EXIF in the preview"
    );
    assert!(
        !preview.windows(10).any(|window| window == b"GPS-SECRET"),
        "no GPS in the preview"
    );
    // The left half was red: upright, that is the top.
    let top = decoded.to_rgb8().get_pixel(80, 40).0;
    assert!(top[0] > 200 && top[1] < 60, "rotated: {top:?}");

    let png = service
        .upload(user, "small.png", &png(100, 50))
        .await
        .expect("png");
    assert_eq!((png.width, png.height), (Some(100), Some(50)));
    let (_, preview) = service.preview(user, &png.file_id).await.expect("preview");
    let decoded = image::load_from_memory(&preview).expect("a JPEG");
    assert_eq!(
        (decoded.width(), decoded.height()),
        (100, 50),
        "never enlarged"
    );

    let document = service
        .upload(user, "a.txt", b"just text")
        .await
        .expect("text");
    assert_refused(
        service.preview(user, &document.file_id).await,
        Code::NotFound,
        "not_found",
    );
    service.stop().await;
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFF_u32;
    for byte in bytes {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// The signature and header of a 60000 x 60000 RGBA PNG, and one small data chunk: 14
/// GB once decoded.
fn bomb_png() -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend(60_000_u32.to_be_bytes());
    ihdr.extend(60_000_u32.to_be_bytes());
    ihdr.extend([8, 6, 0, 0, 0]);
    out.extend(13_u32.to_be_bytes());
    out.extend(&ihdr);
    out.extend(crc32(&ihdr).to_be_bytes());
    let mut idat = b"IDAT".to_vec();
    idat.extend([0x78, 0x9c, 0x63, 0, 0, 0, 1, 0, 1]);
    out.extend(9_u32.to_be_bytes());
    out.extend(&idat);
    out.extend(crc32(&idat).to_be_bytes());
    out
}

#[tokio::test]
async fn a_decompression_bomb_is_refused_from_its_header_and_leaves_nothing() {
    let service = TestService::start(Database::Sqlite).await;
    let user = Uuid::new_v4();
    assert_refused(
        service.upload(user, "bomb.png", &bomb_png()).await,
        Code::InvalidArgument,
        "image_too_large",
    );
    assert_eq!(service.store.media_usage(user).await.expect("usage"), 0);
    assert!(
        service.stored_files("").is_empty(),
        "{:?}",
        service.stored_files("")
    );
    service.stop().await;
}

#[tokio::test]
async fn executables_unknown_binaries_and_empty_files_are_refused_and_leave_nothing() {
    let service = TestService::start(Database::Sqlite).await;
    let user = Uuid::new_v4();
    let mut program = b"MZ\x90\0\x03\0\0\0".to_vec();
    program.extend(vec![0_u8; 20_000]);
    // A lying name and a big enough body to be streamed in parts.
    assert_refused(
        service.upload(user, "report.pdf", &program).await,
        Code::InvalidArgument,
        "file_type_not_allowed",
    );
    assert_refused(
        service.upload(user, "x.sh", b"#!/bin/sh\nrm -rf /\n").await,
        Code::InvalidArgument,
        "file_type_not_allowed",
    );
    assert_refused(
        service.upload(user, "x.bin", &[0, 1, 2, 3, 0, 9]).await,
        Code::InvalidArgument,
        "file_type_not_allowed",
    );
    assert_refused(
        service.upload(user, "empty.txt", b"").await,
        Code::InvalidArgument,
        "empty_file",
    );
    assert_eq!(service.store.media_usage(user).await.expect("usage"), 0);
    assert!(
        service.stored_files("").is_empty(),
        "{:?}",
        service.stored_files("")
    );
    service.stop().await;
}

#[tokio::test]
async fn an_upload_that_stops_without_its_end_stores_nothing() {
    let service = TestService::start(Database::Sqlite).await;
    let user = Uuid::new_v4();
    let bytes = pdf_of_size(3 * 1024 * 1024);
    assert_refused(
        service.upload_parts(user, "cut.pdf", &bytes, false).await,
        Code::InvalidArgument,
        "upload_incomplete",
    );
    assert_eq!(service.store.media_usage(user).await.expect("usage"), 0);
    assert!(service.stored_files("blobs").is_empty());
    assert!(
        service.stored_files("tmp").is_empty(),
        "{:?}",
        service.stored_files("tmp")
    );
    // A retry works; its hash (past the first MiB, computed beside the receiving) is
    // the bytes'.
    let info = service
        .upload(user, "cut.pdf", &bytes)
        .await
        .expect("retry");
    assert_eq!(info.sha256, format!("{:x}", Sha256::digest(&bytes)));
    service.stop().await;
}

/// The embedded default's gateway hands an upload's messages over as values (ADR 0051):
/// the same answers as the gRPC call, for a whole upload and for every way one goes wrong,
/// and nothing left behind by those.
#[tokio::test]
async fn an_upload_in_process_answers_as_the_grpc_call_does() {
    let service = TestService::start_with(
        Database::Sqlite,
        Objects::Local,
        &[("media.max_file_bytes", "4000000")],
    )
    .await;
    let user = Uuid::new_v4();
    let bytes = pdf_of_size(3 * 1024 * 1024);
    let direct = service
        .upload_in_process(upload_messages(user, "a.pdf", &bytes, true))
        .await
        .expect("in process");
    let through_grpc = service
        .upload(user, "a.pdf", &bytes)
        .await
        .expect("through gRPC");
    assert_eq!(direct.sha256, format!("{:x}", Sha256::digest(&bytes)));
    assert_eq!(
        (direct.size, direct.mime.as_str(), direct.kind.as_str()),
        (bytes.len() as u64, "application/pdf", "document")
    );
    assert_eq!(
        (&direct.sha256, direct.size, &direct.mime, &direct.file_name),
        (
            &through_grpc.sha256,
            through_grpc.size,
            &through_grpc.mime,
            &through_grpc.file_name
        )
    );
    let (_, downloaded) = service
        .download(user, &direct.file_id, None, None)
        .await
        .expect("download");
    assert_eq!(downloaded, bytes);
    let stored_usage = service.store.media_usage(user).await.expect("usage");

    // A stream that stops without its end, one that does not start with `start`, a file
    // over the size limit: each refused as over gRPC, and nothing of it kept.
    assert_refused(
        service
            .upload_in_process(upload_messages(
                user,
                "cut.pdf",
                &pdf_of_size(2_000_000),
                false,
            ))
            .await,
        Code::InvalidArgument,
        "upload_incomplete",
    );
    let mut headless = upload_messages(user, "b.pdf", &bytes, true);
    headless.remove(0);
    assert_refused(
        service.upload_in_process(headless).await,
        Code::InvalidArgument,
        "validation_failed",
    );
    assert_refused(
        service
            .upload_in_process(upload_messages(
                user,
                "big.pdf",
                &pdf_of_size(4_000_001),
                true,
            ))
            .await,
        Code::OutOfRange,
        "media_too_large",
    );
    assert_eq!(
        service.store.media_usage(user).await.expect("usage"),
        stored_usage
    );
    assert!(
        service.stored_files("tmp").is_empty(),
        "{:?}",
        service.stored_files("tmp")
    );
    assert_eq!(service.stored_files("blobs").len(), 1);
    service.stop().await;
}

#[tokio::test]
async fn the_size_limit_is_checked_while_streaming_and_the_quota_with_quota_exceeded() {
    let service = TestService::start_with(
        Database::Sqlite,
        Objects::Local,
        &[
            ("media.max_file_bytes", "2000000"),
            ("media.quota_bytes", "3000000"),
        ],
    )
    .await;
    let user = Uuid::new_v4();
    assert_refused(
        service
            .upload(user, "big.pdf", &pdf_of_size(2_000_001))
            .await,
        Code::OutOfRange,
        "media_too_large",
    );
    service
        .upload(user, "a.pdf", &pdf_of_size(1_500_000))
        .await
        .expect("within the quota");
    assert_refused(
        service.upload(user, "b.pdf", &pdf_of_size(1_600_000)).await,
        Code::ResourceExhausted,
        "quota_exceeded",
    );
    assert_eq!(
        service.store.media_usage(user).await.expect("usage"),
        1_500_000
    );
    // Another user has their own quota.
    service
        .upload(Uuid::new_v4(), "b.pdf", &pdf_of_size(1_600_000))
        .await
        .expect("another user");
    assert!(service.stored_files("tmp").is_empty());
    service.stop().await;
}

#[tokio::test]
async fn another_users_file_is_not_found_for_every_call() {
    let service = TestService::start(Database::Sqlite).await;
    let owner = Uuid::new_v4();
    let stranger = Uuid::new_v4();
    let info = service
        .upload(owner, "cat.png", &png(20, 20))
        .await
        .expect("upload");
    assert_refused(
        service.download(stranger, &info.file_id, None, None).await,
        Code::NotFound,
        "not_found",
    );
    assert_refused(
        service.preview(stranger, &info.file_id).await,
        Code::NotFound,
        "not_found",
    );
    assert_refused(
        service
            .client
            .clone()
            .stat(file_ref(stranger, &info.file_id))
            .await,
        Code::NotFound,
        "not_found",
    );
    assert_refused(
        service
            .client
            .clone()
            .delete(file_ref(stranger, &info.file_id))
            .await,
        Code::NotFound,
        "not_found",
    );
    assert_refused(
        service.download(owner, "not-a-uuid", None, None).await,
        Code::NotFound,
        "not_found",
    );
    service
        .download(owner, &info.file_id, None, None)
        .await
        .expect("still there for its owner");
    service.stop().await;
}

#[tokio::test]
async fn identical_bytes_are_stored_once_and_go_with_the_last_reference() {
    let service = TestService::start(Database::Sqlite).await;
    let (alice, bob) = (Uuid::new_v4(), Uuid::new_v4());
    let bytes = png(64, 64);
    let first = service.upload(alice, "a.png", &bytes).await.expect("alice");
    let second = service.upload(bob, "b.png", &bytes).await.expect("bob");
    assert_ne!(first.file_id, second.file_id);
    assert_eq!(first.sha256, second.sha256);
    assert_eq!(service.stored_files("blobs").len(), 1, "stored once");
    assert_eq!(service.stored_files("previews").len(), 1);

    service
        .client
        .clone()
        .delete(file_ref(alice, &first.file_id))
        .await
        .expect("delete");
    assert_refused(
        service.download(alice, &first.file_id, None, None).await,
        Code::NotFound,
        "not_found",
    );
    assert_refused(
        service
            .client
            .clone()
            .delete(file_ref(alice, &first.file_id))
            .await,
        Code::NotFound,
        "not_found",
    );
    let (_, still) = service
        .download(bob, &second.file_id, None, None)
        .await
        .expect("bob's stays");
    assert_eq!(still, bytes);
    assert_eq!(service.stored_files("blobs").len(), 1);

    service
        .client
        .clone()
        .delete(file_ref(bob, &second.file_id))
        .await
        .expect("delete");
    assert!(
        service.stored_files("blobs").is_empty(),
        "the bytes go with the last reference"
    );
    assert!(service.stored_files("previews").is_empty());
    service.stop().await;
}

#[tokio::test]
async fn a_pinned_file_keeps_its_bytes_after_delete_until_released() {
    let service = TestService::start(Database::Sqlite).await;
    let user = Uuid::new_v4();
    let info = service
        .upload(user, "a.pdf", &pdf_of_size(10_000))
        .await
        .expect("upload");
    let file_id = Uuid::parse_str(&info.file_id).expect("uuid");
    let job_id = Uuid::new_v4();
    assert!(
        service
            .store
            .pin_media_file(user, file_id, job_id)
            .await
            .expect("pin")
            .is_some()
    );
    service
        .client
        .clone()
        .delete(file_ref(user, &info.file_id))
        .await
        .expect("delete");
    assert_eq!(
        service.stored_files("blobs").len(),
        1,
        "a queued send still needs it"
    );
    for sha256 in service
        .store
        .release_media_pins(job_id)
        .await
        .expect("release")
    {
        service.core.collect(&sha256).await;
    }
    assert!(service.stored_files("blobs").is_empty());
    service.stop().await;
}

#[tokio::test]
async fn file_names_are_sanitised() {
    let service = TestService::start(Database::Sqlite).await;
    let user = Uuid::new_v4();
    let info = service
        .upload(user, "../../etc/invoice\u{202E}fdp.exe\u{0}.txt", b"hello")
        .await
        .expect("upload");
    assert_eq!(info.file_name, "invoicefdp.exe.txt");
    assert_eq!(info.mime, "text/plain");
    service.stop().await;
}

#[tokio::test]
async fn the_sweep_removes_what_a_killed_upload_left() {
    let service = TestService::start(Database::Sqlite).await;
    let user = Uuid::new_v4();
    // What a process killed mid-upload leaves: a half-written temporary file, and a
    // reservation whose bytes never moved into place.
    let tmp = service.dir.join("media").join("tmp");
    std::fs::create_dir_all(&tmp).expect("tmp");
    std::fs::write(tmp.join(format!("{}#1", Uuid::new_v4())), b"half").expect("write");
    let stale = talkapp_store::MediaFile {
        file_id: Uuid::new_v4(),
        user_id: user,
        file_name: "x".into(),
        created_at: talkapp_store::now() - chrono::TimeDelta::hours(2),
        blob: talkapp_store::MediaBlob {
            sha256: format!("{:0>64}", "5"),
            size: 4,
            mime: "text/plain".into(),
            kind: talkapp_store::MediaKind::Document,
            width: None,
            height: None,
            duration_ms: None,
            waveform: None,
            preview_size: None,
            preview_pending: false,
            preview_skipped: false,
            created_at: talkapp_store::now(),
        },
    };
    service
        .store
        .reserve_media_file(&stale, 1000)
        .await
        .expect("reserve");
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(
            std::fs::read_dir(&tmp)
                .expect("dir")
                .next()
                .expect("entry")
                .expect("entry")
                .path(),
        )
        .expect("open")
        .set_modified(old)
        .expect("age it");

    // The service's own periodic sweep may run too; either way, after this one nothing
    // of the killed upload is left.
    service.core.sweep().await.expect("sweep");
    assert_eq!(service.store.media_usage(user).await.expect("usage"), 0);
    assert!(
        service
            .store
            .unreferenced_blobs(10)
            .await
            .expect("blobs")
            .is_empty()
    );
    assert!(service.stored_files("tmp").is_empty());
    service.stop().await;
}

/// An upload's hash past its first MiB runs on a thread of its own, not on tokio's
/// blocking pool: with every thread of that pool hashing an upload that lasts, the object
/// store's writes (which run on the pool) would never run, and no upload would end.
/// A runtime with two blocking threads and four large uploads at once shows it.
#[test]
fn more_large_uploads_at_once_than_the_blocking_pool_has_threads_all_end() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let service = TestService::start(Database::Sqlite).await;
        let user = Uuid::new_v4();
        // Distinct sizes: distinct bytes, none deduplicated against another.
        let files: Vec<Vec<u8>> = (0..4)
            .map(|i| pdf_of_size(4 * 1024 * 1024 + i * 4096))
            .collect();
        let uploader = &service;
        let uploads = files.iter().enumerate().map(|(i, bytes)| async move {
            uploader.upload(user, &format!("big-{i}.pdf"), bytes).await
        });
        let answers = tokio::time::timeout(
            std::time::Duration::from_secs(60),
            futures::future::join_all(uploads),
        )
        .await
        .expect("four uploads at once end with two blocking threads");
        for (answer, bytes) in answers.into_iter().zip(&files) {
            let info = answer.expect("upload");
            assert_eq!(info.sha256, format!("{:x}", Sha256::digest(bytes)));
            assert_eq!(info.size, bytes.len() as u64);
        }
        service.stop().await;
    });
}

/// The chunks of an upload come as the gateway's socket reads made them, of any size
/// (actix hands over 8 to 128 KiB at a time; another client of the gRPC call may send
/// anything): chunks of one byte, a few KiB, and larger than the gateway's 256 KiB and the
/// object store's 1 MiB parts store the same bytes, and their hash, in process and over
/// gRPC.
#[tokio::test]
async fn uneven_chunks_are_stored_and_hashed_as_the_bytes_they_are() {
    use bytes::Bytes;
    use talkapp_proto::media::v1 as proto;
    use talkapp_proto::media::v1::upload_request::Part;

    let service = TestService::start(Database::Sqlite).await;
    let user = Uuid::new_v4();
    let bytes = pdf_of_size(3 * 1024 * 1024 + 12_345);
    let mut messages = upload_messages(user, "uneven.pdf", &[], false);
    let mut offset = 0;
    for size in [
        9000, 1, 7919, 65_536, 700_000, 3, 131_072, 1_100_000, 262_144, 4095,
    ]
    .iter()
    .cycle()
    {
        let end = (offset + size).min(bytes.len());
        messages.push(proto::UploadRequest {
            part: Some(Part::Chunk(Bytes::copy_from_slice(&bytes[offset..end]))),
        });
        offset = end;
        if offset == bytes.len() {
            break;
        }
    }
    messages.push(proto::UploadRequest {
        part: Some(Part::End(proto::UploadEnd {
            size: bytes.len() as u64,
        })),
    });
    let in_process = service
        .upload_in_process(messages.clone())
        .await
        .expect("in process");
    let through_grpc = service
        .client
        .clone()
        .upload(futures::stream::iter(messages))
        .await
        .expect("through gRPC")
        .into_inner();
    for info in [in_process, through_grpc] {
        service.assert_stored_intact(user, &info, &bytes).await;
    }
    service.stop().await;
}

/// The local backend writes an upload behind as it goes and keeps little of it in the
/// page cache (ADR 0067): a 30 MiB upload (the test service's limit is 32 MiB) answers
/// with about its last window (8 MiB) in memory, where `object_store`'s write left all
/// 30 MiB there (dirty, not yet on disk: the file was
/// not durable when the upload answered). Measured with util-linux's `fincore`.
#[tokio::test]
async fn a_large_upload_is_written_behind_and_leaves_little_in_the_page_cache() {
    const SIZE: usize = 30 * 1024 * 1024;
    let service = TestService::start(Database::Sqlite).await;
    let user = Uuid::new_v4();
    // A ZIP's magic number, then bytes no other upload has: stored anew, and no preview
    // or analysis reads it back.
    let mut bytes = b"PK\x03\x04".to_vec();
    bytes.extend_from_slice(&pdf_of_size(SIZE - 4)[4..]);
    bytes.extend_from_slice(Uuid::new_v4().as_bytes());
    let info = service
        .upload(user, "big.zip", &bytes)
        .await
        .expect("upload");
    assert_eq!(info.mime, "application/zip");
    assert_eq!(info.sha256, format!("{:x}", Sha256::digest(&bytes)));
    let stored = service.stored_files("blobs");
    assert_eq!(stored.len(), 1, "{stored:?}");
    let output = std::process::Command::new("fincore")
        .args(["--bytes", "--noheadings", "--output", "RES"])
        .arg(&stored[0])
        .output()
        .expect("util-linux's fincore");
    assert!(output.status.success(), "{output:?}");
    let resident: u64 = String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .expect("fincore's resident bytes");
    assert!(
        resident <= 16 * 1024 * 1024,
        "{resident} bytes of a {SIZE}-byte upload still in the page cache"
    );
    service.stop().await;
}

/// The upload's writing thread cannot write (ADR 0067): here `tmp`, where every upload is
/// written first, is a file instead of a directory. The upload fails with `unavailable`
/// (not a hang or a panic; its cause, which names the path, is logged, not answered),
/// nothing of it is stored, and once the directory can be made again the same upload
/// succeeds.
#[tokio::test]
async fn an_upload_that_cannot_be_written_fails_unavailable_and_a_retry_works() {
    let service = TestService::start(Database::Sqlite).await;
    let user = Uuid::new_v4();
    let blocker = service.dir.join("media").join("tmp");
    if blocker.is_dir() {
        std::fs::remove_dir_all(&blocker).expect("tmp removed");
    }
    std::fs::create_dir_all(blocker.parent().expect("media")).expect("media directory");
    std::fs::write(&blocker, b"not a directory").expect("blocker written");
    // Over one chunk, so the bytes go through the writing thread, and under the limit.
    let mut bytes = b"PK\x03\x04".to_vec();
    bytes.extend_from_slice(&pdf_of_size(3 * 1024 * 1024)[4..]);
    bytes.extend_from_slice(Uuid::new_v4().as_bytes());

    let status = service
        .upload(user, "a.zip", &bytes)
        .await
        .expect_err("tmp cannot be a directory");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert_eq!(
        status.message(),
        talkapp_media_service::error::UNAVAILABLE_MESSAGE,
        "{status:?}"
    );
    assert!(service.stored_files("blobs").is_empty());

    std::fs::remove_file(&blocker).expect("blocker removed");
    let info = service
        .upload(user, "a.zip", &bytes)
        .await
        .expect("the retry is stored");
    assert_eq!(info.sha256, format!("{:x}", Sha256::digest(&bytes)));
    assert_eq!(service.stored_files("blobs").len(), 1);
    assert!(service.stored_files("tmp").is_empty());
    service.stop().await;
}

/// A disk that fills up in the middle of an upload (a real one: a tmpfs of 16 MiB with
/// 8 MiB of it taken, and 12 MiB sent): `insufficient_storage` with a `Retry-After`, the
/// partial file removed (the space is free again), no rows, no quota charged; once a
/// filler file is deleted, the same upload is stored intact.
#[tokio::test]
async fn a_disk_that_fills_up_mid_upload_is_insufficient_storage_and_a_retry_after_freeing_space_works()
 {
    const MIB: u64 = 1024 * 1024;
    let service = TestService::start(Database::Sqlite).await;
    // Mounted over the service's (empty) media directory: its object store works by
    // path, so it writes into the mount from now on.
    let Some(disk) = talkapp_testkit::Tmpfs::mount(&service.dir.join("media"), 16 * MIB) else {
        service.stop().await;
        return;
    };
    let filler = disk.dir().join("filler");
    std::fs::write(&filler, vec![7_u8; usize::try_from(8 * MIB).expect("size")])
        .expect("filler written");
    let used_before = disk.used_bytes();
    let user = Uuid::new_v4();
    // Under the size limit (32 MiB) and the quota (64 MiB): the disk is what runs out,
    // after some 8 MiB have been written (not refused up front).
    let mut bytes = b"PK\x03\x04".to_vec();
    bytes.extend_from_slice(&pdf_of_size(usize::try_from(12 * MIB).expect("size"))[4..]);

    let status = service
        .upload(user, "big.zip", &bytes)
        .await
        .expect_err("the disk is full");
    crate::helpers::assert_storage_full(&status);
    assert!(status.message().contains("no space left"), "{status:?}");
    // The partial file is gone and its space with it (the error is answered after the
    // writing thread removed it).
    assert!(service.stored_files("tmp").is_empty());
    assert!(service.stored_files("blobs").is_empty());
    assert!(
        disk.used_bytes() <= used_before + 64 * 1024,
        "{} bytes in use after the failed upload, {used_before} before it",
        disk.used_bytes()
    );
    // No rows and no quota charged.
    assert_eq!(service.store.media_usage(user).await.expect("usage"), 0);
    let later = chrono::Utc::now() + chrono::Duration::days(1);
    assert!(
        service
            .store
            .stale_pending_files(later, 10)
            .await
            .expect("pending")
            .is_empty()
    );
    assert!(
        service
            .store
            .unreferenced_blobs(10)
            .await
            .expect("blobs")
            .is_empty()
    );

    // Space freed by the operator: the same upload is stored, whole.
    std::fs::remove_file(&filler).expect("filler removed");
    assert!(disk.free_bytes() > 12 * MIB);
    let info = service
        .upload(user, "big.zip", &bytes)
        .await
        .expect("the retry is stored");
    service.assert_stored_intact(user, &info, &bytes).await;
    assert_eq!(service.stored_files("blobs").len(), 1);
    assert!(service.stored_files("tmp").is_empty());
    assert_eq!(
        service.store.media_usage(user).await.expect("usage"),
        bytes.len() as u64
    );
    // Unmounted first, so that the service's directory can be removed whole.
    drop(disk);
    service.stop().await;
}
