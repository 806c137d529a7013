#!/usr/bin/env bash
# The README's test command: installs what the tests need on a fresh Debian
# machine (real SMTP servers and clients), then runs the whole test suite.
#   ./test.sh            install what is missing, then `swift test`
#   ./test.sh --no-install   only `swift test`
set -euo pipefail
cd "$(dirname "$0")"

packages=(
    libssl-dev openssl ca-certificates      # TLS (headers for COpenSSL; the CLI makes test certificates)
    postfix                                 # smtp-sink and a private Postfix with TLS and SASL
    sasl2-bin libsasl2-modules libsasl2-modules-db
    msmtp                                   # the baseline the benchmarks compare with
    s-nail bsd-mailx git-email swaks cron   # real clients that pipe into sendmail
    libmailtools-perl                       # git send-email needs Mail::Address (only a Recommends)
    python3 python3-cryptography mandoc time hyperfine   # python3-cryptography: the OAuth2 tests verify RS256
    dpkg-dev lintian debootstrap            # CI's package stage: build-deb, lintian, test-deb's throwaway root
    strace                                  # the fault-injection stage (strace -e inject=)
    iproute2 util-linux                     # ip, unshare, nsenter: a network namespace for the non-loopback relay test
)

install_packages() {
    local missing=()
    for p in "${packages[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    echo "test.sh: installing ${missing[*]}"
    # Postfix asks a debconf question; leave the system instance unconfigured and stopped.
    echo "postfix postfix/main_mailer_type select No configuration" | $sudo debconf-set-selections
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

[ "${1:-}" = "--no-install" ] || install_packages
export PATH="/opt/swift/usr/bin:$PATH"

# The setgid end-to-end tests create the system group `apustest` (as root) when
# it is missing; if this run created it, remove it again at the end.
test_group=apustest
if [ "$(id -u)" -eq 0 ] && ! getent group "$test_group" >/dev/null; then
    trap 'if getent group "$test_group" >/dev/null; then groupdel "$test_group" && echo "test.sh: removed the group $test_group the tests created"; fi' EXIT
fi
swift build --build-tests
# As root (CI, and a developer who ran install_packages) every dependency is
# here, so a skipped test can only hide one that is missing: that fails the run.
log=$(mktemp)
status=0
swift test --skip-build 2>&1 | tee "$log" || status=$?
if [ "$status" -eq 0 ] && [ "$(id -u)" -eq 0 ] && grep -E '^[^ ]+ (Test|Suite) .* skipped(:|\.|$)' "$log"; then
    echo "test.sh: the tests above were skipped although this run is root and has installed every dependency" >&2
    status=1
fi
rm -f "$log"
exit "$status"
