import Testing

@testable import ApusCommand

/// The mode apus takes from the name it was called by (argv[0]): the last
/// non-empty "/"-separated component decides.
struct ProgramNameModeTests {
    @Test(
        arguments: [
            ("mailq", Invocation.Mode.listQueue(json: false)),
            ("/usr/bin/mailq", .listQueue(json: false)),
            ("bin//mailq//", .listQueue(json: false)),
            ("mailq/", .listQueue(json: false)),
            ("/usr/sbin/newaliases", .newAliases),
            ("newaliases", .newAliases),
            ("/usr/sbin/sendmail", .deliver),
            ("apus", .deliver),
            ("/usr/bin/mailq.old", .deliver),
            ("/mailq/x", .deliver),
            ("/", .deliver),
            ("", .deliver),
            ("mailq/\u{301}", .deliver),
        ])
    func modeFromName(name: String, mode: Invocation.Mode) {
        #expect(ArgumentScanner.mode(forProgramName: name) == mode)
    }
}
