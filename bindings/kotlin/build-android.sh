#!/usr/bin/env bash
# Builds libconclave_ffi.so for Android ABIs into jniLibs/<abi>/ (needs the Android NDK and
# `rustup target add aarch64-linux-android armv7-linux-androideabi x86_64-linux-android`).
#
# Every library is linked with 16 KB page alignment (-z max-page-size=16384), which Android 15+
# devices with 16 KB pages require (and Google Play requires for new apps); it is harmless on
# 4 KB-page devices. Pair it with JNA >= 5.17, whose own native library is 16 KB aligned.
#
# Frames use ring's ChaCha20-Poly1305 (conclave-ffi's default feature `fast-frames`; ring's C and
# assembly are compiled by the NDK clang set below). Where ring does not build, fall back to the
# pure-Rust RustCrypto backend: CONCLAVE_FFI_FEATURES=--no-default-features (same frames on the
# wire, about twice the receiver CPU, BENCHMARKS.md). Not run in CI (no NDK there).
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${ANDROID_NDK_HOME:?set ANDROID_NDK_HOME to the NDK directory}"
API=${ANDROID_API:-24}
TOOLCHAIN=$ANDROID_NDK_HOME/toolchains/llvm/prebuilt/$(uname -s | tr 'A-Z' 'a-z')-x86_64/bin
OUT=bindings/kotlin/jniLibs
export RUSTFLAGS="${RUSTFLAGS:-} -C link-arg=-Wl,-z,max-page-size=16384"
for spec in aarch64-linux-android:arm64-v8a:aarch64-linux-android \
    armv7-linux-androideabi:armeabi-v7a:armv7a-linux-androideabi \
    x86_64-linux-android:x86_64:x86_64-linux-android; do
    IFS=: read -r target abi clang <<<"$spec"
    linker_var=CARGO_TARGET_$(echo "$target" | tr 'a-z-' 'A-Z_')_LINKER
    export "$linker_var=$TOOLCHAIN/${clang}${API}-clang"
    # shellcheck disable=SC2086 # CONCLAVE_FFI_FEATURES is a list of flags
    cargo build -p conclave-ffi --profile release --target "$target" ${CONCLAVE_FFI_FEATURES:-}
    mkdir -p "$OUT/$abi"
    cp "target/$target/release/libconclave_ffi.so" "$OUT/$abi/"
done
echo "jniLibs in $OUT (16 KB page aligned)"
