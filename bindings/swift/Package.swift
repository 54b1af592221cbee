// swift-tools-version:5.9
// Swift package of Conclave. Run ./build-xcframework.sh on a Mac first: it builds
// conclaveFFI.xcframework (the Rust library for iOS, the iOS simulator and macOS, with the C
// header and module map) and generates Sources/Conclave/Conclave.swift.
//
// To distribute, zip the xcframework, publish it, replace the local binary target with
// `.binaryTarget(name: "conclaveFFI", url: "https://.../conclaveFFI.xcframework.zip",
// checksum: "<swift package compute-checksum>")` and commit the generated Conclave.swift.
import PackageDescription

let package = Package(
    name: "Conclave",
    platforms: [.iOS(.v15), .macOS(.v12)],
    products: [
        .library(name: "Conclave", targets: ["Conclave"]),
    ],
    targets: [
        .binaryTarget(name: "conclaveFFI", path: "conclaveFFI.xcframework"),
        .target(name: "Conclave", dependencies: ["conclaveFFI"], path: "Sources/Conclave"),
    ]
)
