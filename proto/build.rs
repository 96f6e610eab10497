//! Generates the gRPC code for every `talkapp.<area>.v1` package into `OUT_DIR`.
//!
//! The protos are parsed by `protox` (pure Rust), so building needs no `protoc`: a fresh
//! machine with only a Rust toolchain can `cargo run`.

const PROTOS: &[&str] = &[
    "talkapp/chat/v1/account_host.proto",
    "talkapp/chat/v1/chat.proto",
    "talkapp/media/v1/media.proto",
    "talkapp/realtime/v1/realtime.proto",
    "talkapp/search/v1/search.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={proto}");
    }
    let descriptors = protox::compile(PROTOS, ["."])?;
    let descriptor_path =
        std::path::PathBuf::from(std::env::var("OUT_DIR")?).join("talkapp_descriptor.bin");
    std::fs::write(
        &descriptor_path,
        prost::Message::encode_to_vec(&descriptors),
    )?;
    tonic_prost_build::configure()
        // Upload and download chunks as `Bytes`: handed on without a copy.
        .bytes(".talkapp.media.v1")
        .compile_fds(descriptors)?;
    Ok(())
}
