import ApusPOSIX
import Glibc

/// A private temporary directory, removed with everything in it on deinit.
final class ScratchDirectory {
    let path: String

    init() throws {
        var template = Array("/tmp/apus-posix-test.XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { buffer in buffer.baseAddress.flatMap { mkdtemp($0) } }
        guard let made else { throw Errno.current("mkdtemp") }
        path = String(decoding: UnsafeRawBufferPointer(start: made, count: strlen(made)), as: UTF8.self)
    }

    deinit {
        if let names = try? FileSystem.contentsOfDirectory(path) {
            for name in names {
                let full = path + "/" + name
                if (try? FileSystem.status(full))?.isDirectory == true {
                    try? FileSystem.removeDirectory(full)
                } else {
                    try? FileSystem.unlink(full)
                }
            }
        }
        try? FileSystem.removeDirectory(path)
    }

    func write(_ name: String, _ text: String) throws {
        let fd = try FileDescriptor.open(path + "/" + name, O_WRONLY | O_CREAT | O_TRUNC, mode: 0o600)
        try fd.closeAfter { () throws(Errno) in try fd.writeAll(Array(text.utf8)) }
    }

    func read(_ name: String) throws -> String {
        let fd = try FileDescriptor.open(path + "/" + name, O_RDONLY)
        let bytes = try fd.closeAfter { () throws(Errno) in try fd.readAll() }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// A POSIX thread running a throwing closure; ``join()`` rethrows its error.
final class Thread: @unchecked Sendable {
    private var thread = pthread_t()
    private let body: () throws(Errno) -> Void
    private var failure: Errno?

    init(_ body: @escaping () throws(Errno) -> Void) {
        self.body = body
        let context = Unmanaged.passRetained(self).toOpaque()
        pthread_create(
            &thread, nil,
            { raw in
                guard let raw else { return nil }
                let me = Unmanaged<Thread>.fromOpaque(raw).takeRetainedValue()
                do throws(Errno) { try me.body() } catch { me.failure = error }
                return nil
            }, context)
    }

    /// The thread's id, for `pthread_kill`.
    var id: pthread_t { thread }

    func join() throws(Errno) {
        pthread_join(thread, nil)
        if let failure { throw failure }
    }
}
