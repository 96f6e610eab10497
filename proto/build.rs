//! Generates the gRPC code for every `talkapp.<area>.v1` package into `OUT_DIR`.

const PROTOS: &[&str] = &[
    "talkapp/chat/v1/chat.proto",
    "talkapp/media/v1/media.proto",
    "talkapp/realtime/v1/realtime.proto",
    "talkapp/search/v1/search.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={proto}");
    }
    let descriptor_path =
        std::path::PathBuf::from(std::env::var("OUT_DIR")?).join("talkapp_descriptor.bin");
    tonic_prost_build::configure()
        .file_descriptor_set_path(descriptor_path)
        .compile_protos(PROTOS, &["."])?;
    Ok(())
}
