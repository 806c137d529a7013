import ApusCommand
import Glibc

// The whole program is ApusCommand; this file only hands it argv and exits with its status.
exit(ApusCommand.main(CommandLine.arguments))
