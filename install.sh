#!/usr/bin/env bash
# install.sh: build apus and install it, with its links, queue, configuration
# template, man pages and queue schedule. Run as root on Debian; see --help.
#
# What goes where (PREFIX defaults to /usr/local; DESTDIR is prepended to every path):
#   PREFIX/sbin/apus                       root:apus 2755 (setgid apus, see security.md)
#   PREFIX/sbin/sendmail                   -> PREFIX/sbin/apus
#   PREFIX/bin/mailq, PREFIX/bin/newaliases -> PREFIX/sbin/apus (Postfix's places)
#   /usr/sbin/sendmail, /usr/bin/mailq, /usr/bin/newaliases -> PREFIX/sbin/apus
#                                          with --system-sendmail; what was there is kept
#                                          as NAME.apus-backup (dpkg-divert on Debian)
#   /var/spool/apus                        root:apus 2770, the queue
#   /etc/apus.conf                         root:apus 0640, from packaging/apus.conf, never overwritten
#   PREFIX/share/man/man{1,5,8}            mailq.1, apus.conf.5, apus.8 (+ sendmail.8, newaliases.8 stubs)
#   PREFIX/share/doc/apus/apus.conf.example
#   /etc/systemd/system/apus-queue.{service,timer}   when systemd is the init, timer enabled
#   /etc/cron.d/apus                       otherwise (apus -q every 5 minutes)
#   /var/lib/apus/install-manifest         what was done, for --uninstall
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: ./install.sh [OPTIONS]

Builds apus (swift build -c release --static-swift-stdlib) and installs it as
PREFIX/sbin/apus, setgid to the group apus, with the links sendmail (sbin),
mailq and newaliases (bin), the queue /var/spool/apus, /etc/apus.conf (only
if there is none), the man pages, and a queue run every 5 minutes (systemd
timer apus-queue.timer, or /etc/cron.d/apus without systemd). Run it as root;
running it again is harmless. Missing Debian packages (libssl-dev to build,
libssl3 and ca-certificates to run) are installed with apt-get.

Options:
  --prefix DIR        install under DIR (default /usr/local)
  --destdir DIR       stage everything under DIR (same as DESTDIR=DIR): nothing
                      outside DIR is changed, except that, as root, the group
                      apus is created when missing (chgrp needs it); no apt-get,
                      no systemctl
  --system-sendmail   also point /usr/sbin/sendmail, /usr/bin/mailq and
                      /usr/bin/newaliases at apus; what was there is kept as
                      NAME.apus-backup (a dpkg diversion on Debian, so package
                      upgrades do not undo it)
  --no-build          install the already built .build/release/apus
  --binary FILE       install FILE as the apus binary (implies --no-build)
  --no-packages       do not check for or install Debian packages
  --systemd, --cron   install the systemd timer, or the cron.d entry, whatever
                      the init is (default: systemd if /run/systemd/system exists)
  --no-schedule       install neither (run apus -q yourself)
  --uninstall         undo what install.sh did (read from the manifest):
                      remove the binary, links, man pages and schedule, restore
                      the backups; keep /etc/apus.conf and a non-empty queue
  -h, --help          this text

After installing: edit /etc/apus.conf (man 5 apus.conf), check it with
`sendmail -bv`, and send a test with
  printf 'Subject: test\n\nhello\n' | sendmail -v you@example.com
EOF
}

prefix=/usr/local
destdir=${DESTDIR:-}
build=yes
binary=""
system_sendmail=no
uninstall=no
packages=yes
schedule=auto

die() { printf 'install.sh: %s\n' "$*" >&2; exit 1; }
say() { printf '%s\n' "$*"; }

while [ $# -gt 0 ]; do
    case $1 in
        --prefix) [ $# -ge 2 ] || die "--prefix needs a directory"; prefix=$2; shift ;;
        --prefix=*) prefix=${1#*=} ;;
        --destdir) [ $# -ge 2 ] || die "--destdir needs a directory"; destdir=$2; shift ;;
        --destdir=*) destdir=${1#*=} ;;
        --system-sendmail) system_sendmail=yes ;;
        --no-build) build=no ;;
        --binary) [ $# -ge 2 ] || die "--binary needs a file"; binary=$2; build=no; shift ;;
        --binary=*) binary=${1#*=}; build=no ;;
        --no-packages) packages=no ;;
        --systemd) schedule=systemd ;;
        --cron) schedule=cron ;;
        --no-schedule) schedule=none ;;
        --uninstall) uninstall=yes ;;
        -h | --help) usage; exit 0 ;;
        *) die "unknown option $1 (./install.sh --help lists them)" ;;
    esac
    shift
done

case $prefix in /*) ;; *) die "--prefix must be an absolute path: $prefix" ;; esac
prefix=${prefix%/}
[ -n "$prefix" ] || prefix=/
if [ -n "$destdir" ]; then
    mkdir -p "$destdir"
    destdir=$(cd "$destdir" && pwd)
    [ "$destdir" != / ] || destdir=""
fi
if [ -n "$binary" ]; then
    [ -f "$binary" ] || die "--binary: no such file: $binary"
    binary=$(cd "$(dirname "$binary")" && pwd)/$(basename "$binary")
fi
cd "$(dirname "$0")"

# Final paths (as the installed system sees them); R prepends DESTDIR for the disk.
sbindir=${prefix%/}/sbin
bindir=${prefix%/}/bin
mandir=${prefix%/}/share/man
docdir=${prefix%/}/share/doc/apus
apus=$sbindir/apus
config=/etc/apus.conf
queuedir=/var/spool/apus
statedir=/var/lib/apus
manifest=$statedir/install-manifest
unitdir=/etc/systemd/system
cronfile=/etc/cron.d/apus
group=apus

R() { printf '%s%s' "$destdir" "$1"; }
is_root() { [ "$(id -u)" -eq 0 ]; }
systemd_running() { [ -z "$destdir" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null; }

if ! is_root && [ -z "$destdir" ]; then
    die "run as root (sudo ./install.sh), or stage into a directory with DESTDIR=DIR"
fi
[ -n "$destdir" ] && say "staging into DESTDIR=$destdir"

# ---- the manifest: one "kind<TAB>path[<TAB>extra]" line per thing done ------------

record() {
    local line=$1$'\t'$2
    [ $# -ge 3 ] && line+=$'\t'$3
    local file
    file=$(R "$manifest")
    if [ ! -f "$file" ]; then
        mkdir -p "$(dirname "$file")"
        chmod 0755 "$(dirname "$file")"
        printf '# apus install manifest: written by install.sh, read by install.sh --uninstall\n' >"$file"
        chmod 0644 "$file"
    fi
    grep -qxF -- "$line" "$file" || printf '%s\n' "$line" >>"$file"
}

manifest_has() { # kind path
    local file
    file=$(R "$manifest")
    [ -f "$file" ] && awk -F'\t' -v k="$1" -v p="$2" '$1 == k && $2 == p { found = 1 } END { exit !found }' "$file"
}

# ---- ownership and modes ----------------------------------------------------------

have_group=no

ensure_group() {
    if ! is_root; then
        say "skipped ownership (not root: make the binary, queue and config root:$group when packaging)"
        getent group "$group" >/dev/null && have_group=yes
        return 0
    fi
    if getent group "$group" >/dev/null; then
        have_group=yes
    elif groupadd --system "$group"; then
        have_group=yes
        say "created group $group (groupadd --system)"
        record group "$group"
    elif [ -n "$destdir" ]; then
        say "skipped group $group (groupadd failed; files keep the group root)"
    else
        die "cannot create the group $group"
    fi
}

# own PATH MODE GROUP: root:GROUP (when we can) and MODE; chown first, since it clears setgid.
own() {
    local path=$1 mode=$2 grp=$3
    if is_root; then
        if [ "$grp" = "$group" ] && [ "$have_group" != yes ]; then grp=root; fi
        chown -h "root:$grp" "$path"
    fi
    chmod "$mode" "$path"
}

state() { stat -c '%U:%G %a' "$1" 2>/dev/null || true; }
expected_state() { # MODE GROUP -> what stat should say after own
    local mode=$1 grp=$2
    mode=${mode#0}
    if is_root; then
        [ "$grp" = "$group" ] && [ "$have_group" != yes ] && grp=root
        printf 'root:%s %s' "$grp" "$mode"
    else
        printf '%s:%s %s' "$(id -un)" "$(id -gn)" "$mode"
    fi
}

# put SRC DEST MODE GROUP: install a file (atomically), or say it is unchanged.
put() {
    local src=$1 dest=$2 mode=$3 grp=$4 real
    real=$(R "$dest")
    mkdir -p "$(dirname "$real")"
    if [ -f "$real" ] && [ ! -L "$real" ] && cmp -s "$src" "$real" \
        && [ "$(state "$real")" = "$(expected_state "$mode" "$grp")" ]; then
        say "unchanged $real"
    else
        local verb=installed
        [ -e "$real" ] && verb=updated
        cp "$src" "$real.apus-new"
        own "$real.apus-new" "$mode" "$grp"
        mv -f "$real.apus-new" "$real"
        say "$verb $real ($(state "$real"))"
    fi
    record file "$dest"
}

# ---- links, and what they replace ----------------------------------------------------

use_divert() { # PATH: keep a package's file aside with dpkg-divert (real system paths only)
    [ -z "$destdir" ] && command -v dpkg-divert >/dev/null && case $1 in /usr/local/* | /opt/*) false ;; *) true ;; esac
}

# set_aside PATH: move what is at PATH (not ours) to PATH.apus-backup, recorded.
set_aside() {
    local path=$1 real backup
    real=$(R "$path")
    backup=$path.apus-backup
    if manifest_has divert "$path" || manifest_has backup "$path"; then
        return 0
    fi
    if use_divert "$path"; then
        local holder
        holder=$(dpkg-divert --listpackage "$path" 2>/dev/null || true)
        if [ -n "$holder" ] && [ "$(dpkg-divert --truename "$path")" != "$backup" ]; then
            die "$path is already diverted by $holder to $(dpkg-divert --truename "$path"); not touching it"
        fi
        if [ -z "$holder" ]; then
            dpkg-divert --local --rename --divert "$backup" --add "$path" >/dev/null
        fi
        record divert "$path" "$backup"
        if [ -e "$backup" ] || [ -L "$backup" ]; then
            say "diverted $path to $backup (dpkg-divert: package upgrades keep it there)"
        else
            say "diverted $path (dpkg-divert: a package installing it later puts it at $backup)"
        fi
    elif [ -e "$real" ] || [ -L "$real" ]; then
        [ -e "$(R "$backup")" ] || [ -L "$(R "$backup")" ] \
            && die "$real is not apus and $(R "$backup") already exists; move one of them away first"
        mv "$real" "$(R "$backup")"
        record backup "$path" "$backup"
        say "moved $real to $(R "$backup")"
    fi
}

# place_link PATH: PATH -> $apus, setting aside whatever else is there.
place_link() {
    local path=$1 real
    real=$(R "$path")
    mkdir -p "$(dirname "$real")"
    if [ -L "$real" ] && [ "$(readlink "$real")" = "$apus" ]; then
        say "unchanged $real -> $apus"
    else
        if [ -e "$real" ] || [ -L "$real" ] || use_divert "$path"; then
            set_aside "$path"
        fi
        ln -sfn "$apus" "$real"
        say "linked $real -> $apus"
    fi
    record link "$path" "$apus"
}

# ---- steps ---------------------------------------------------------------------------

installed_package() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

ensure_packages() {
    [ "$packages" = yes ] || return 0
    if ! command -v dpkg-query >/dev/null; then
        say "skipped package check (no dpkg: make sure OpenSSL 3 and a CA bundle are installed)"
        return 0
    fi
    local missing=() p
    local wanted=(ca-certificates)
    [ "$build" = yes ] && wanted+=(libssl-dev)
    for p in "${wanted[@]}"; do installed_package "$p" || missing+=("$p"); done
    # OpenSSL 3 at run time (Debian 13 calls the package libssl3t64).
    installed_package libssl3 || installed_package libssl3t64 || missing+=(libssl3)
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ -n "$destdir" ]; then
        if [ "$build" = yes ] && [[ " ${missing[*]} " == *" libssl-dev "* ]]; then
            die "missing package libssl-dev (OpenSSL headers, needed to build); apt-get install libssl-dev first"
        fi
        say "note: the target needs ${missing[*]} at run time (not installed here: DESTDIR)"
        return 0
    fi
    say "installing ${missing[*]} (apt-get)"
    apt-get update -qq
    local i
    for i in "${!missing[@]}"; do
        # Debian 13 renamed it (64-bit time_t).
        if [ "${missing[$i]}" = libssl3 ] && apt-cache show libssl3t64 >/dev/null 2>&1; then missing[$i]=libssl3t64; fi
    done
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    say "installed packages ${missing[*]}"
}

build_apus() {
    if [ -n "$binary" ]; then
        built=$binary
        return 0
    fi
    if [ "$build" = no ]; then
        built=$PWD/.build/release/apus
        [ -x "$built" ] || die "--no-build: $built does not exist (run swift build -c release --static-swift-stdlib --product apus)"
        return 0
    fi
    if ! command -v swift >/dev/null && [ -x /opt/swift/usr/bin/swift ]; then
        export PATH="/opt/swift/usr/bin:$PATH"
    fi
    command -v swift >/dev/null \
        || die "no Swift toolchain: swift is neither on PATH nor in /opt/swift/usr/bin (install Swift 6.1 or later from https://www.swift.org/install/linux/, or install a built binary with --binary FILE)"
    # Static Swift runtime (and libstdc++), stripped, without -export-dynamic:
    # packaging/release-link-flags says why; docs/performance.md what it saves.
    local link=()
    mapfile -t link < <(./packaging/release-link-flags)
    local flags=(-c release --static-swift-stdlib "${link[@]}")
    local log
    log=$(mktemp)
    say "building apus (swift build ${flags[*]} --product apus)"
    if ! swift build "${flags[@]}" --product apus >"$log" 2>&1; then
        tail -n 40 "$log" >&2
        rm -f "$log"
        die "the build failed (output above)"
    fi
    rm -f "$log"
    built=$(swift build "${flags[@]}" --show-bin-path)/apus
    [ -x "$built" ] || die "the build did not produce $built"
    say "built $built"
}

install_config() {
    local real
    real=$(R "$config")
    if [ -e "$real" ] || [ -L "$real" ]; then
        say "kept $real (exists; the template is $(R "$docdir")/apus.conf.example)"
        local mode grp
        mode=$(stat -c '%a' "$real")
        grp=$(stat -c '%G' "$real")
        [ $((8#$mode & 8#004)) -eq 0 ] \
            || say "note: $real is readable by everyone: apus refuses it if it holds a password (chmod 640 $config)"
        [ "$grp" = "$group" ] || [ "$have_group" != yes ] \
            || say "note: $real has group $grp: apus run by users cannot read it (chgrp $group $config)"
    else
        mkdir -p "$(dirname "$real")"
        cp packaging/apus.conf "$real.apus-new"
        own "$real.apus-new" 0640 "$group"
        mv "$real.apus-new" "$real"
        say "installed $real ($(state "$real"); all commented: relays to localhost port 25)"
        record config "$config"
    fi
}

install_queue() {
    local real
    real=$(R "$queuedir")
    if [ -d "$real" ]; then
        if [ "$(state "$real")" = "$(expected_state 2770 "$group")" ]; then
            say "unchanged $real"
        else
            own "$real" 2770 "$group"
            say "fixed $real ($(state "$real"))"
        fi
    else
        mkdir -p "$real"
        own "$real" 2770 "$group"
        say "created $real ($(state "$real"))"
    fi
    record queue "$queuedir"
}

# subst SRC: the file with @SBINDIR@ replaced, in a temporary file (path printed).
subst() {
    local tmp
    tmp=$(mktemp)
    sed "s|@SBINDIR@|$sbindir|g" "$1" >"$tmp"
    printf '%s' "$tmp"
}

install_man() {
    put man/apus.8 "$mandir/man8/apus.8" 0644 root
    put man/apus.conf.5 "$mandir/man5/apus.conf.5" 0644 root
    put man/mailq.1 "$mandir/man1/mailq.1" 0644 root
    # `man sendmail` and `man newaliases`, unless another mailer's pages are there.
    local name stub
    stub=$(mktemp)
    printf '.so man8/apus.8\n' >"$stub"
    for name in sendmail newaliases; do
        if manifest_has file "$mandir/man8/$name.8" || ! compgen -G "$(R "$mandir/man8/$name.8")*" >/dev/null; then
            put "$stub" "$mandir/man8/$name.8" 0644 root
        fi
    done
    rm -f "$stub"
    put packaging/apus.conf "$docdir/apus.conf.example" 0644 root
    record dir "$docdir"
}

install_schedule() {
    local kind=$schedule tmp
    if [ "$kind" = auto ]; then
        if [ -d /run/systemd/system ]; then kind=systemd; else kind=cron; fi
    fi
    case $kind in
        none)
            say "skipped the queue schedule (--no-schedule: run $apus -q yourself)"
            ;;
        systemd)
            tmp=$(subst packaging/apus-queue.service)
            put "$tmp" "$unitdir/apus-queue.service" 0644 root
            rm -f "$tmp"
            put packaging/apus-queue.timer "$unitdir/apus-queue.timer" 0644 root
            if systemd_running; then
                systemctl daemon-reload
                systemctl enable --now apus-queue.timer >/dev/null 2>&1
                record enabled apus-queue.timer
                say "enabled apus-queue.timer (apus -q every 5 minutes)"
            else
                say "not enabling apus-queue.timer here (systemctl enable --now apus-queue.timer on the target)"
            fi
            ;;
        cron)
            tmp=$(subst packaging/apus.cron)
            put "$tmp" "$cronfile" 0644 root
            rm -f "$tmp"
            if [ -z "$destdir" ] && ! command -v cron >/dev/null && [ ! -x /usr/sbin/cron ]; then
                say "note: no cron daemon here: nothing runs the queue until cron is installed (apt-get install cron)"
            fi
            ;;
    esac
}

do_install() {
    ensure_packages
    build_apus
    ensure_group
    put "$built" "$apus" 2755 "$group"
    place_link "$sbindir/sendmail"
    place_link "$bindir/mailq"
    place_link "$bindir/newaliases"
    if [ "$system_sendmail" = yes ]; then
        local path
        for path in /usr/sbin/sendmail /usr/bin/mailq /usr/bin/newaliases; do
            [ "$path" = "$sbindir/sendmail" ] || [ "$path" = "$bindir/${path##*/}" ] || place_link "$path"
        done
    fi
    install_queue
    install_config
    install_man
    install_schedule
    say "done: edit $config (man 5 apus.conf), check it with 'sendmail -bv', then:"
    say "  printf 'Subject: test\\n\\nhello\\n' | $sbindir/sendmail -v you@example.com"
}

# ---- uninstall ------------------------------------------------------------------------

entries() { # KIND: the manifest's PATH[<TAB>EXTRA] lines of that kind, in order
    awk -F'\t' -v k="$1" '$1 == k { sub(/^[^\t]*\t/, ""); print }' "$(R "$manifest")"
}

do_uninstall() {
    local file path extra real
    file=$(R "$manifest")
    [ -f "$file" ] || die "no install manifest at $file: nothing to uninstall (was apus installed with this DESTDIR?)"

    if [ -n "$(entries enabled)" ] && systemd_running; then
        systemctl disable --now apus-queue.timer >/dev/null 2>&1 || true
        say "disabled apus-queue.timer"
    fi
    while IFS= read -r path; do
        real=$(R "$path")
        if [ -e "$real" ] || [ -L "$real" ]; then
            rm -f "$real"
            say "removed $real"
        fi
    done < <(entries file)
    if [ -n "$(entries enabled)" ] && systemd_running; then systemctl daemon-reload; fi

    while IFS=$'\t' read -r path extra; do
        real=$(R "$path")
        if [ -L "$real" ] && [ "$(readlink "$real")" = "$extra" ]; then
            rm -f "$real"
            say "removed $real"
        elif [ -e "$real" ] || [ -L "$real" ]; then
            say "left $real (no longer a link to apus)"
        fi
    done < <(entries link)

    while IFS=$'\t' read -r path extra; do
        if [ -e "$(R "$path")" ] || [ -L "$(R "$path")" ]; then
            say "left the diversion of $path ($path exists again)"
        else
            dpkg-divert --local --rename --remove "$path" >/dev/null
            if [ -e "$path" ] || [ -L "$path" ]; then say "restored $path (from $extra, dpkg-divert --remove)"; else say "removed the diversion of $path"; fi
        fi
    done < <(entries divert)
    while IFS=$'\t' read -r path extra; do
        real=$(R "$path")
        if [ -e "$real" ] || [ -L "$real" ]; then
            say "left $(R "$extra") ($real exists again)"
        elif [ -e "$(R "$extra")" ] || [ -L "$(R "$extra")" ]; then
            mv "$(R "$extra")" "$real"
            say "restored $real (from $(R "$extra"))"
        fi
    done < <(entries backup)

    while IFS= read -r path; do
        [ -e "$(R "$path")" ] && say "kept $(R "$path") (your settings: remove it yourself)"
    done < <(entries config)

    while IFS= read -r path; do
        real=$(R "$path")
        [ -d "$real" ] || continue
        if [ -z "$(ls -A "$real")" ]; then
            rmdir "$real"
            say "removed $real (empty)"
        else
            local count
            count=$(find "$real" -maxdepth 1 -name '*.env' | wc -l)
            say "kept $real: $count queued message(s) and their files (run apus -q first to send them, or remove it yourself)"
        fi
    done < <(entries queue)

    if getent group "$group" >/dev/null; then
        say "kept group $group (files may still belong to it: groupdel $group removes it)"
    fi
    while IFS= read -r path; do rmdir "$(R "$path")" 2>/dev/null || true; done < <(entries dir)
    rm -f "$file"
    rmdir "$(R "$statedir")" 2>/dev/null || true
    say "removed $file"
}

if [ "$uninstall" = yes ]; then do_uninstall; else do_install; fi
