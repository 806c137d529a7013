import ApusCommand
import Glibc

// The whole program is ApusCommand; this file only hands it argv and exits with its status.
// argv comes from the process entry, not /proc (CommandLine.arguments needs /proc on Linux).
exit(ApusCommand.main(ApusCommand.processArguments()))
