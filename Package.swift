// swift-tools-version:6.1
//
// apus: a sendmail-compatible mail submission agent, and its SMTP engine as a library.
// No package dependencies: the toolchain's modules, Glibc, and the system OpenSSL
// (reached through dlopen on first TLS use, see Sources/COpenSSL).
import PackageDescription

let package = Package(
    name: "apus",
    products: [
        .library(name: "ApusSMTP", targets: ["ApusSMTP", "ApusMessage", "ApusTransport", "ApusPOSIX"]),
        .executable(name: "apus", targets: ["apus"]),
    ],
    targets: [
        // OpenSSL's headers; every call resolved from libssl.so.3 / libcrypto.so.3 on first use.
        .target(name: "COpenSSL", linkerSettings: [.linkedLibrary("dl")]),
        // Linux calls Glibc's module hides (setresgid, close_range, prctl).
        .target(name: "CApusSystem"),
        // What every module shares: hex digits, the IP-literal test, the duration grammar, the random source.
        .target(name: "ApusBase"),
        .target(name: "ApusPOSIX", dependencies: ["ApusBase", "CApusSystem"]),
        .target(name: "ApusTransport", dependencies: ["ApusPOSIX", "COpenSSL"]),
        .target(name: "ApusMessage", dependencies: ["ApusBase"]),
        .target(name: "ApusSMTP", dependencies: ["ApusTransport", "ApusMessage"]),
        .target(name: "ApusQueue", dependencies: ["ApusPOSIX"]),
        .target(name: "ApusConfig", dependencies: ["ApusBase", "ApusPOSIX"]),
        // The OAuth2 client: HTTPS to the token endpoint, its JSON, the token cache.
        .target(name: "ApusOAuth", dependencies: ["ApusTransport", "ApusConfig", "ApusMessage"]),
        .target(name: "ApusDelivery", dependencies: ["ApusSMTP", "ApusQueue", "ApusConfig", "ApusOAuth"]),
        .target(name: "ApusCommand", dependencies: ["ApusDelivery"]),
        .executableTarget(name: "apus", dependencies: ["ApusCommand"]),
        .target(name: "ApusTestSupport", dependencies: ["ApusSMTP", "ApusTransport", "ApusPOSIX"]),
        // ApusTestSupport's PostfixServer as a command, for bench/ (one private Postfix for tests and benchmarks).
        .executableTarget(
            name: "private-postfix", dependencies: ["ApusTestSupport"], path: "Tests/support/private-postfix"),

        .testTarget(name: "ApusBaseTests", dependencies: ["ApusBase"]),
        .testTarget(name: "ApusPOSIXTests", dependencies: ["ApusPOSIX"]),
        .testTarget(name: "ApusTransportTests", dependencies: ["ApusTransport", "ApusTestSupport"]),
        .testTarget(
            name: "ApusMessageTests", dependencies: ["ApusMessage", "ApusTestSupport"], resources: [.copy("Fixtures")]),
        .testTarget(name: "ApusSMTPTests", dependencies: ["ApusSMTP", "ApusTestSupport"]),
        .testTarget(name: "ApusQueueTests", dependencies: ["ApusQueue", "ApusTestSupport"]),
        .testTarget(name: "ApusConfigTests", dependencies: ["ApusConfig"]),
        .testTarget(name: "ApusDeliveryTests", dependencies: ["ApusDelivery", "ApusTestSupport"]),
        .testTarget(name: "ApusCommandTests", dependencies: ["ApusCommand"]),
        .testTarget(name: "ApusOAuthTests", dependencies: ["ApusOAuth", "ApusTestSupport"]),
        .testTarget(name: "ApusEndToEndTests", dependencies: ["apus", "ApusTestSupport"]),
        // The test support's own tests: the servers, Subprocess, the private Postfix.
        .testTarget(
            name: "ApusTestSupportTests", dependencies: ["ApusTestSupport", "ApusTransport", "private-postfix"]),
    ],
    swiftLanguageModes: [.v6]
)

// The fuzz targets, one per parser, each with the module it fuzzes (sources in
// Fuzz/Sources/<name>). They exist only when APUS_FUZZ=1: Fuzz/run sets it and
// builds them in .build/fuzz with -sanitize=fuzzer,address, so a plain
// `swift build` or `swift test` never sees them. They are in this package so
// they reach the `package` declarations of the modules outside the library product.
let fuzzTargets: KeyValuePairs<String, Target.Dependency> = [
    "FuzzBase64": "ApusMessage", "FuzzEnvelope": "ApusQueue", "FuzzHeaders": "ApusMessage",
    "FuzzAddresses": "ApusMessage", "FuzzReplyParser": "ApusSMTP", "FuzzConfig": "ApusConfig",
    "FuzzAliases": "ApusConfig", "FuzzMIMEDowngrade": "ApusMessage", "FuzzTokenJSON": "ApusOAuth",
    "FuzzHTTPResponse": "ApusOAuth", "FuzzCommandReader": "ApusCommand",
]
if Context.environment["APUS_FUZZ"] == "1" {
    package.targets.append(.target(name: "FuzzDriver", path: "Fuzz/Sources/FuzzDriver"))
    for (name, fuzzed) in fuzzTargets {
        package.targets.append(
            .executableTarget(name: name, dependencies: ["FuzzDriver", fuzzed], path: "Fuzz/Sources/\(name)"))
    }
}
