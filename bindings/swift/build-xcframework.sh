#!/usr/bin/env bash
# Builds the Swift package's binary part on a Mac (not runnable on Linux):
#   - conclaveFFI.xcframework: libconclave_ffi.a for iOS (arm64), the iOS simulator
#     (arm64 + x86_64) and macOS (arm64 + x86_64), each with conclaveFFI.h and module.modulemap;
#   - Sources/Conclave/Conclave.swift: the generated Swift API (committed; the test script checks it);
#   - conclaveFFI.xcframework.zip and its checksum, written into the root Package.swift.
#
# Needs Xcode (xcodebuild, lipo) and rustup. Usage: bindings/swift/build-xcframework.sh
# Environment: PROFILE (default release), IPHONEOS_DEPLOYMENT_TARGET (default 15.0),
# MACOSX_DEPLOYMENT_TARGET (default 12.0) — keep them in line with Package.swift's platforms;
# CONCLAVE_FFI_FEATURES (default empty): frames use ring's ChaCha20-Poly1305 (conclave-ffi's
# default feature `fast-frames`; ring's C and assembly are compiled by Xcode's clang); set it to
# `--no-default-features` for the pure-Rust RustCrypto fallback (same frames on the wire, about
# twice the receiver CPU, BENCHMARKS.md). Not run in CI (no macOS there).
set -euo pipefail
cd "$(dirname "$0")"
SWIFT_DIR=$PWD
ROOT=$(cd ../.. && pwd)
PROFILE=${PROFILE:-release}
export IPHONEOS_DEPLOYMENT_TARGET=${IPHONEOS_DEPLOYMENT_TARGET:-15.0}
export MACOSX_DEPLOYMENT_TARGET=${MACOSX_DEPLOYMENT_TARGET:-12.0}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BUILD=$TARGET_DIR/xcframework
IOS=aarch64-apple-ios
SIM=(aarch64-apple-ios-sim x86_64-apple-ios)
MAC=(aarch64-apple-darwin x86_64-apple-darwin)

[ "$(uname -s)" = Darwin ] || { echo "build-xcframework.sh needs macOS with Xcode" >&2; exit 1; }
rustup target add "$IOS" "${SIM[@]}" "${MAC[@]}"

cd "$ROOT"
for t in "$IOS" "${SIM[@]}" "${MAC[@]}"; do
    # shellcheck disable=SC2086 # CONCLAVE_FFI_FEATURES is a list of flags
    cargo build --profile "$PROFILE" -p conclave-ffi --lib --target "$t" ${CONCLAVE_FFI_FEATURES:-}
done
lib() { echo "$TARGET_DIR/$1/$PROFILE/libconclave_ffi.a"; }

# Generate the Swift API and the C module from a host build (library mode reads the metadata
# from the library; the bindgen binary is built from the same uniffi version).
# shellcheck disable=SC2086
cargo build --profile "$PROFILE" -p conclave-ffi -p conclave-uniffi-bindgen ${CONCLAVE_FFI_FEATURES:-}
rm -rf "$BUILD" && mkdir -p "$BUILD/gen" "$BUILD/headers" "$BUILD/ios-sim" "$BUILD/macos"
"$TARGET_DIR/$PROFILE/conclave-uniffi-bindgen" generate --language swift --no-format \
    --out-dir "$BUILD/gen" "$TARGET_DIR/$PROFILE/libconclave_ffi.dylib"
cp "$BUILD/gen/conclaveFFI.h" "$BUILD/headers/"
cp "$BUILD/gen/conclaveFFI.modulemap" "$BUILD/headers/module.modulemap"

lipo -create "$(lib "${SIM[0]}")" "$(lib "${SIM[1]}")" -output "$BUILD/ios-sim/libconclave_ffi.a"
lipo -create "$(lib "${MAC[0]}")" "$(lib "${MAC[1]}")" -output "$BUILD/macos/libconclave_ffi.a"

rm -rf "$SWIFT_DIR/conclaveFFI.xcframework"
xcodebuild -create-xcframework \
    -library "$(lib "$IOS")" -headers "$BUILD/headers" \
    -library "$BUILD/ios-sim/libconclave_ffi.a" -headers "$BUILD/headers" \
    -library "$BUILD/macos/libconclave_ffi.a" -headers "$BUILD/headers" \
    -output "$SWIFT_DIR/conclaveFFI.xcframework"
mkdir -p "$SWIFT_DIR/Sources/Conclave"
cp "$BUILD/gen/Conclave.swift" "$SWIFT_DIR/Sources/Conclave/Conclave.swift"

# The remote binary target: zip, checksum, and the url + checksum lines of the root Package.swift.
ZIP=$BUILD/conclaveFFI.xcframework.zip
(cd "$SWIFT_DIR" && rm -f "$ZIP" && zip -qry "$ZIP" conclaveFFI.xcframework)
CHECKSUM=$(swift package compute-checksum "$ZIP")
URL=${CONCLAVE_XCFRAMEWORK_URL:-https://example.invalid/conclave/releases/download/v$(cargo pkgid -p conclave-ffi | sed 's/.*[#@]//')/conclaveFFI.xcframework.zip}
sed -i '' -e "s|^let xcframeworkURL = .*|let xcframeworkURL = \"$URL\"|" \
    -e "s|^let xcframeworkChecksum = .*|let xcframeworkChecksum = \"$CHECKSUM\"|" "$ROOT/Package.swift"
echo "built $SWIFT_DIR/conclaveFFI.xcframework and Sources/Conclave/Conclave.swift"
echo "upload $ZIP to $URL (Package.swift: checksum $CHECKSUM)"
