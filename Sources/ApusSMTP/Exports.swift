// Every type the library hands out is importable from the ApusSMTP product
// with `import ApusSMTP` alone (library.md): streams, TLS settings and server
// addresses (ApusTransport), message sources' headers and addresses
// (ApusMessage), file descriptors for traces (ApusPOSIX).
@_exported import ApusMessage
@_exported import ApusPOSIX
@_exported import ApusTransport
