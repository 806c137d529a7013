// swift-tools-version:6.1
// Fuzz targets, one per parser. Built and run by Fuzz/run (libFuzzer, -sanitize=fuzzer).
import PackageDescription

let fuzzTargets = ["FuzzBase64", "FuzzEnvelope", "FuzzHeaders", "FuzzAddresses", "FuzzReplyParser", "FuzzConfig", "FuzzAliases"]

let package = Package(
    name: "apus-fuzz",
    dependencies: [.package(name: "apus", path: "..")],
    targets: fuzzTargets.map { name in
        .executableTarget(
            name: name,
            dependencies: [
                .product(name: "ApusSMTP", package: "apus"),
                .product(name: "ApusInternals", package: "apus"),
            ],
            swiftSettings: [.unsafeFlags(["-sanitize=fuzzer,address"])],
            linkerSettings: [.unsafeFlags(["-sanitize=fuzzer,address", "-use-ld=lld"])]
        )
    },
    swiftLanguageModes: [.v6]
)
