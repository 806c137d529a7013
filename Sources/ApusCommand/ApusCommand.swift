/// The `apus` / `sendmail` / `mailq` / `newaliases` front end.
public enum ApusCommand {
    /// Runs the program for `arguments` (argv, program name first) and returns the exit status.
    public static func main(_ arguments: [String]) -> Int32 {
        0
    }
}
