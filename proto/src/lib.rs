//! gRPC contracts between the TalkApp gateway and its services.
//!
//! # Layout
//! - `talkapp/<area>/v1/*.proto` beside this crate are the source of truth; `build.rs`
//!   generates them into `OUT_DIR`.
//! - The modules here mirror the proto packages: [`chat::v1`], [`media::v1`],
//!   [`realtime::v1`], [`search::v1`].
//! - [`tonic`] and [`tonic_health`] are re-exported so every crate uses the same versions.
//! - [`FILE_DESCRIPTOR_SET`] carries the descriptors for reflection and tooling.

pub use tonic;
pub use tonic_health;

/// Encoded `FileDescriptorSet` of every TalkApp proto.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("talkapp_descriptor");

pub mod chat {
    pub mod v1 {
        tonic::include_proto!("talkapp.chat.v1");
        /// The service name used for its gRPC health status.
        pub const SERVICE_NAME: &str = "talkapp.chat.v1.ChatService";
    }
}

pub mod media {
    pub mod v1 {
        tonic::include_proto!("talkapp.media.v1");
        /// The service name used for its gRPC health status.
        pub const SERVICE_NAME: &str = "talkapp.media.v1.MediaService";
    }
}

pub mod realtime {
    pub mod v1 {
        tonic::include_proto!("talkapp.realtime.v1");
        /// The service name used for its gRPC health status.
        pub const SERVICE_NAME: &str = "talkapp.realtime.v1.RealtimeService";
        /// Reply metadata of `Subscribe` without `since`: the id the stream starts after
        /// (absent when the log was empty).
        pub const START_AFTER_METADATA: &str = "talkapp-start-after";
    }
}

pub mod search {
    pub mod v1 {
        tonic::include_proto!("talkapp.search.v1");
        /// The service name used for its gRPC health status.
        pub const SERVICE_NAME: &str = "talkapp.search.v1.SearchService";
    }
}
