// swift-tools-version:6.1
// Fuzz targets, one per parser. Built and run by Fuzz/run, which passes
// -sanitize=fuzzer,address to every Swift module (so the parsers in the apus
// package are instrumented for coverage, not only these harnesses) and links
// with lld.
import PackageDescription

let fuzzTargets = [
    "FuzzBase64", "FuzzEnvelope", "FuzzHeaders", "FuzzAddresses", "FuzzReplyParser", "FuzzConfig", "FuzzAliases",
    "FuzzMIMEDowngrade", "FuzzTokenJSON", "FuzzHTTPResponse", "FuzzCommandReader",
]

let package = Package(
    name: "apus-fuzz",
    dependencies: [.package(name: "apus", path: "..")],
    targets: [.target(name: "FuzzDriver")]
        + fuzzTargets.map { name in
            .executableTarget(
                name: name,
                dependencies: [
                    "FuzzDriver",
                    .product(name: "ApusSMTP", package: "apus"),
                    .product(name: "ApusInternals", package: "apus"),
                ]
            )
        },
    swiftLanguageModes: [.v6]
)
