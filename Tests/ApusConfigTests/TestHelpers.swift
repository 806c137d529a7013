import Foundation
import Testing

@testable import ApusConfig

/// Parses `text` as apus.conf with a fixed local domain.
func parseConfig(_ text: String, file: String = "/etc/apus.conf") throws -> Configuration {
    try Configuration.parse(Array(text.utf8), file: file, localDomain: { "host.example.net" })
}

/// The ConfigError `text` raises, or nil when it parses.
func configError(_ text: String) -> ConfigError? {
    do {
        _ = try parseConfig(text)
        return nil
    } catch let error as ConfigError {
        return error
    } catch {
        Issue.record("unexpected error type \(error)")
        return nil
    }
}

/// A fresh temporary directory, removed by the caller with `remove()`.
struct TemporaryDirectory {
    let path: String
    init() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("apus-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
        path = base.path
    }
    func write(_ name: String, _ text: String, mode: Int = 0o600) throws -> String {
        let file = path + "/" + name
        try Data(text.utf8).write(to: URL(fileURLWithPath: file))
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: file)
        return file
    }
    func remove() { try? FileManager.default.removeItem(atPath: path) }
}
