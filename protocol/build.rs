//! Compiles the protobuf schema with `protox` (pure Rust; no system `protoc`) into prost types.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto = "proto/conclave/v1/conclave.proto";
    println!("cargo:rerun-if-changed={proto}");
    let fds = protox::compile([proto], ["proto"])?;
    prost_build::Config::new().compile_fds(fds)?;
    Ok(())
}
