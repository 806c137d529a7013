/// A `from` pattern: `*` matches any run of characters (none included, `@`
/// and `.` included), `?` exactly one, everything else itself.
///
/// Matching ignores ASCII case over the whole address, local part included:
/// `*@Example.COM` matches `alice@example.com`, and `Alice@x` matches
/// `alice@x`. (Local parts are case-sensitive in theory, but no mail system a
/// relay account is chosen for treats `Alice` and `alice` as two senders.)
/// Time is O(pattern × address) at worst, with no recursion.
package struct WildcardPattern: Equatable, Sendable {
    /// The pattern as written.
    package var pattern: String

    /// Wraps a pattern.
    package init(_ pattern: String) { self.pattern = pattern }

    /// Whether `text` matches the whole pattern.
    package func matches(_ text: String) -> Bool {
        let p = Array(pattern.unicodeScalars).map(foldCase)
        let t = Array(text.unicodeScalars).map(foldCase)
        var pi = 0
        var ti = 0
        var starPattern = -1
        var starText = 0
        while ti < t.count {
            if pi < p.count && (p[pi] == "?" || (p[pi] != "*" && p[pi] == t[ti])) {
                pi += 1
                ti += 1
            } else if pi < p.count && p[pi] == "*" {
                starPattern = pi
                starText = ti
                pi += 1
            } else if starPattern >= 0 {
                pi = starPattern + 1
                starText += 1
                ti = starText
            } else {
                return false
            }
        }
        while pi < p.count && p[pi] == "*" { pi += 1 }
        return pi == p.count
    }
}

/// ASCII upper case to lower case; other scalars unchanged.
private func foldCase(_ scalar: Unicode.Scalar) -> Unicode.Scalar {
    (scalar.value >= 0x41 && scalar.value <= 0x5A) ? Unicode.Scalar(scalar.value + 0x20) ?? scalar : scalar
}
