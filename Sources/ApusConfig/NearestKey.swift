/// The known key nearest to a misspelt one, for "unknown key 'timout' (did
/// you mean 'timeout'?)": at most one edit away for keys of up to 4
/// characters, two for longer ones (an edit inserts, deletes or replaces a
/// character, or swaps two neighbours: 'hots' is one edit from 'host').
/// Nil when no key is that close; on a tie, the alphabetically first.
func nearestKey(to key: String) -> String? {
    let typed = Array(key.lowercased().utf8)
    guard !typed.isEmpty, typed.count <= 64 else { return nil }
    let limit = typed.count <= 4 ? 1 : 2
    let known = AccountSettings.keys.union(HostSettings.keys).union(["account", "defaults"]).sorted()
    var best: (key: String, distance: Int)?
    for candidate in known {
        let distance = editDistance(typed, Array(candidate.utf8))
        if distance <= limit, distance < (best?.distance ?? Int.max) { best = (candidate, distance) }
    }
    return best?.key
}

/// Optimal string alignment distance (Levenshtein plus adjacent swaps).
func editDistance(_ a: [UInt8], _ b: [UInt8]) -> Int {
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var previous2 = [Int](repeating: 0, count: b.count + 1)
    var previous = Array(0...b.count)
    var current = [Int](repeating: 0, count: b.count + 1)
    for i in 1...a.count {
        current[0] = i
        for j in 1...b.count {
            let cost = a[i - 1] == b[j - 1] ? 0 : 1
            var value = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                value = min(value, previous2[j - 2] + 1)
            }
            current[j] = value
        }
        (previous2, previous, current) = (previous, current, previous2)
    }
    return previous[b.count]
}
