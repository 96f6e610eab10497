//! The media service at its gRPC boundary, on a real store (SQLite, and PostgreSQL where
//! named) and a real object store (a local directory; S3 in `s3.rs`, against the
//! S3-compatible server `.ci/run` starts).

mod frames;
mod full_storage;
mod helpers;
mod pins;
mod replicas;
mod s3;
mod s3_errors;
mod uploads;
