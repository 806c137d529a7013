import Foundation

/// Finds the built `apus` executable for end-to-end tests.
///
/// `swift test` runs the test binary from the products directory
/// (`.build/<triple>/<config>/apusPackageTests.xctest`), where the `apus`
/// product is built too because `ApusEndToEndTests` depends on it.
package enum ApusExecutable {
    /// Why the executable was not found: the places looked at.
    package struct NotFound: Error, CustomStringConvertible {
        /// The paths tried, in order.
        package var tried: [String]
        /// One paragraph for the test log.
        package var description: String {
            "the apus executable was not found (build it with `swift build --product apus`, or set APUS_EXECUTABLE); "
                + "tried: " + tried.joined(separator: ", ")
        }
    }

    /// The absolute path of the `apus` executable.
    ///
    /// Looks, in order: the `APUS_EXECUTABLE` environment variable; next to
    /// the running test binary (`/proc/self/exe`); next to `argv[0]`; next to
    /// each loaded bundle.
    ///
    /// - Throws: ``NotFound`` listing the places tried.
    package static func path() throws -> String {
        var candidates: [String] = []
        if let explicit = ProcessInfo.processInfo.environment["APUS_EXECUTABLE"], !explicit.isEmpty {
            candidates.append(explicit)
        }
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            candidates.append(directory(of: exe) + "/apus")
        }
        if let first = CommandLine.arguments.first, first.contains("/") {
            let absolute = first.hasPrefix("/") ? first : FileManager.default.currentDirectoryPath + "/" + first
            candidates.append(directory(of: absolute) + "/apus")
        }
        for bundle in [Bundle.main] + Bundle.allBundles {
            candidates.append(directory(of: bundle.bundlePath) + "/apus")
            candidates.append(bundle.bundlePath + "/apus")
        }
        var seen: Set<String> = []
        for candidate in candidates where seen.insert(candidate).inserted {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: candidate, isDirectory: &isDirectory), !isDirectory.boolValue,
                FileManager.default.isExecutableFile(atPath: candidate)
            {
                return candidate
            }
        }
        throw NotFound(tried: Array(seen).sorted())
    }

    /// A symbolic link to `apus` named `name` (`sendmail`, `mailq`, `newaliases`)
    /// in `directory`, for running it under another program name.
    ///
    /// - Returns: the link's path.
    package static func link(named name: String, in directory: TemporaryDirectory) throws -> String {
        try directory.symlink(name, to: path())
    }

    private static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}
