#!/usr/bin/env bash
# install.sh: build apus and install it, with its links, queue, configuration
# template, man pages and queue schedule. Run as root; see --help.
#
# On Debian (dpkg and apt-get present) it builds the Debian package with
# packaging/build-deb and installs it with apt-get, so the package system knows
# apus is the mail transport agent (packaging.md; the README's table says what
# the package installs where). With --no-deb, --prefix or DESTDIR, or without
# dpkg, it installs directly:
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
#   /var/lib/apus/install-manifest         what was done (and which directories were
#                                          created), for --uninstall
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: ./install.sh [OPTIONS]

Builds apus (packaging/build-release: swift build -c release
--static-swift-stdlib plus packaging/release-link-flags) and installs it. Run
it as root; running it again is harmless.

On Debian (dpkg and apt-get present) it builds the package
dist/apus_VERSION_ARCH.deb (packaging/build-deb) and installs it with
`apt-get install ./dist/apus_….deb`, which also installs libssl3 and
ca-certificates. The package provides mail-transport-agent: apus becomes
/usr/sbin/sendmail, and mail tools (bsd-mailx, cron, …) stop pulling in exim4.
Only one MTA can be installed: when another one is (postfix, exim4, msmtp-mta,
…), install.sh names it and stops, unless --replace-mta is given; then apt-get
removes it (its configuration and queue stay on disk until it is purged).

Direct install (--no-deb; implied by --prefix, --destdir/DESTDIR, and on
systems without dpkg): apus as PREFIX/sbin/apus, setgid to the group apus,
with the links sendmail (sbin), mailq and newaliases (bin), the queue
/var/spool/apus, /etc/apus.conf (only if there is none), the man pages, and a
queue run every 5 minutes (systemd timer apus-queue.timer, or /etc/cron.d/apus
without systemd). Missing Debian packages (libssl-dev to build, libssl3 and
ca-certificates to run) are installed with apt-get. It ends with a warning
when /usr/sbin/sendmail is then not apus (see --system-sendmail).

Options:
  --no-deb            install directly, not as a Debian package
  --deb FILE          install this package file (built by packaging/build-deb)
                      instead of building one
  --replace-mta       let apt-get remove the MTA that is installed now
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
  --uninstall         the package: apt-get remove apus (keeps /etc/apus.conf
                      and the queue; packages that need an MTA, such as
                      bsd-mailx, go with it: install another MTA instead to
                      switch). The direct install: undo what install.sh did
                      (read from the manifest): remove the binary, links, man
                      pages, schedule and the directories it created, restore
                      the backups; keep /etc/apus.conf and a non-empty queue
  --purge             with --uninstall (or alone): also remove /etc/apus.conf,
                      the queue even if it holds mail (it says how many
                      messages), the log file apus wrote, and the group apus
                      (the package: apt-get purge apus; the direct install:
                      the group only if install.sh created it)
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
purge=no
packages=yes
schedule=auto
deb=auto
deb_file=""
replace_mta=no
prefix_given=no

die() { printf 'install.sh: %s\n' "$*" >&2; exit 1; }
say() { printf '%s\n' "$*"; }

while [ $# -gt 0 ]; do
    case $1 in
        --prefix) [ $# -ge 2 ] || die "--prefix needs a directory"; prefix=$2; prefix_given=yes; shift ;;
        --prefix=*) prefix=${1#*=}; prefix_given=yes ;;
        --no-deb) deb=no ;;
        --deb) [ $# -ge 2 ] || die "--deb needs a package file"; deb_file=$2; deb=yes; shift ;;
        --deb=*) deb_file=${1#*=}; deb=yes ;;
        --replace-mta) replace_mta=yes ;;
        --purge) purge=yes; uninstall=yes ;;
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
if [ -n "$deb_file" ]; then
    [ -f "$deb_file" ] || die "--deb: no such file: $deb_file"
    deb_file=$(cd "$(dirname "$deb_file")" && pwd)/$(basename "$deb_file")
fi
cd "$(dirname "$0")"

# The Debian package, or the direct install?
if [ "$deb" = auto ]; then
    if [ -n "$destdir" ] || [ "$prefix_given" = yes ]; then
        deb=no
    elif command -v dpkg-deb >/dev/null && command -v apt-get >/dev/null; then
        deb=yes
    else
        deb=no
    fi
fi
if [ "$deb" = yes ]; then
    [ -z "$destdir" ] || die "--deb and DESTDIR do not go together (a package installs into the system: --no-deb stages files)"
    [ "$prefix_given" = no ] || die "the package installs into /usr; --prefix needs --no-deb"
    [ "$system_sendmail" = no ] && [ "$schedule" = auto ] \
        || die "--system-sendmail, --systemd, --cron and --no-schedule are for the direct install (--no-deb); the package always installs /usr/sbin/sendmail and both schedules"
    [ "$packages" = yes ] || die "--no-packages: the package is installed with apt-get; use --no-deb"
    command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null || die "no dpkg-deb or apt-get here: use --no-deb"
fi

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
        make_dirs "$statedir" # records the directories it makes, which creates the file
        chmod 0755 "$(dirname "$file")"
    fi
    if [ ! -f "$file" ]; then
        printf '# apus install manifest: written by install.sh, read by install.sh --uninstall\n' >"$file"
        chmod 0644 "$file"
    fi
    grep -qxF -- "$line" "$file" || printf '%s\n' "$line" >>"$file"
}

# make_dirs DIR: mkdir -p under DESTDIR, recording each directory it creates
# (parents first) so that --uninstall removes them again when they are empty.
make_dirs() {
    local path=$1 d missing=()
    d=$path
    while [ -n "$d" ] && [ "$d" != / ] && [ ! -d "$(R "$d")" ]; do
        missing=("$d" ${missing[@]+"${missing[@]}"})
        d=$(dirname "$d")
    done
    [ ${#missing[@]} -gt 0 ] || return 0
    mkdir -p "$(R "$path")"
    for d in "${missing[@]}"; do record mkdir "$d"; done
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
    make_dirs "$(dirname "$dest")"
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
    make_dirs "$(dirname "$path")"
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
    # The one release build (Swift from PATH or /opt/swift/usr/bin; static Swift
    # runtime and libstdc++, stripped): packaging/build-release.
    built=$(./packaging/build-release | tail -n 1) || die "the build failed (output above)"
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
        make_dirs "$(dirname "$config")"
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
        make_dirs "$(dirname "$queuedir")"
        mkdir "$real"
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
    warn_system_sendmail
}

# The direct install leaves /usr/sbin/sendmail alone unless told: say so when
# it is then not apus, since cron, mail(1) and PHP call that path.
warn_system_sendmail() {
    local path=/usr/sbin/sendmail real target
    real=$(R "$path")
    target=$(readlink -f "$real" 2>/dev/null || true)
    [ -n "$target" ] && [ "$target" = "$(readlink -f "$(R "$apus")")" ] && return 0
    local what="is missing"
    if [ -e "$real" ]; then
        what="is $target"
        command -v dpkg-query >/dev/null && [ -z "$destdir" ] \
            && what="$what$(dpkg-query -S "$target" 2>/dev/null | sed -n '1s/^\([^:]*\):.*/ (package \1)/p')"
    fi
    say "warning: $real $what, not apus: cron, mail(1), PHP and other programs that run"
    say "  /usr/sbin/sendmail by its path do not reach apus. Point it at apus with"
    say "  --system-sendmail, or on Debian install the package instead (./install.sh without --no-deb),"
    say "  so that apt also stops installing another MTA for them."
}

# ---- the Debian package -----------------------------------------------------------------

package_state() { dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null | tr -d ' ' || true; }

# Installed packages other than apus that provide mail-transport-agent (apt removes them).
other_mtas() {
    dpkg-query -W -f='${Package} ${db:Status-Abbrev} ${Provides}\n' 2>/dev/null \
        | awk '$1 != "apus" && $2 ~ /^[ih]i/ && /mail-transport-agent/ { print $1 }'
}

do_deb_install() {
    if [ -f "$(R "$manifest")" ]; then
        die "apus is installed directly here ($manifest): run ./install.sh --no-deb --uninstall first, then install the package"
    fi
    local mtas
    mtas=$(other_mtas | tr '\n' ' ')
    mtas=${mtas% }
    if [ -n "$mtas" ]; then
        say "installed now: $mtas, which provides mail-transport-agent like apus; only one can be installed."
        if [ "$replace_mta" != yes ]; then
            say "apt-get would remove it to install apus (its configuration and queue stay on disk until it is purged)."
            die "run ./install.sh --replace-mta to replace $mtas with apus, or --no-deb to install apus beside it"
        fi
        say "apt-get removes $mtas now (--replace-mta); its configuration and queue stay until 'apt-get purge $mtas'"
    fi
    local file=$deb_file
    if [ -z "$file" ]; then
        if [ "$build" = yes ] && ! installed_package libssl-dev; then
            say "installing libssl-dev (OpenSSL headers, to build; apt-get)"
            apt-get update -qq
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libssl-dev >/dev/null
        fi
        if [ -z "$binary" ] && [ "$build" = no ]; then
            binary=$PWD/.build/release/apus
            [ -x "$binary" ] || die "--no-build: $binary does not exist (run packaging/build-release)"
        fi
        file=$(./packaging/build-deb ${binary:+--binary "$binary"} | tail -n 1) || die "building the package failed (output above)"
    fi
    [ -f "$file" ] || die "no package file at $file"
    say "installing $file (apt-get install; pulls in libssl3 and ca-certificates when missing)"
    # Refresh the package lists only when a dependency must be downloaded.
    if ! installed_package ca-certificates || ! { installed_package libssl3 || installed_package libssl3t64; }; then
        apt-get update -qq
    fi
    # --reinstall: a rebuild with the same version (uncommitted changes) is installed too.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends --reinstall "$file" \
        || die "apt-get install $file failed (output above)"
    local target
    target=$(readlink -f /usr/sbin/sendmail 2>/dev/null || true)
    [ "$target" = /usr/sbin/apus ] || die "installed, but /usr/sbin/sendmail is $target, not apus"
    say "installed the package apus $(dpkg-query -W -f='${Version}' apus): /usr/sbin/sendmail is apus; apus-queue.timer (or cron) runs the queue"
    say "done: edit $config (man 5 apus.conf), check it with 'sendmail -bv', then:"
    say "  printf 'Subject: test\\n\\nhello\\n' | sendmail -v you@example.com"
}

do_deb_uninstall() {
    local verb=remove dependents
    [ "$purge" = yes ] && verb=purge
    dependents=$(apt-get -s "$verb" apus 2>/dev/null | awk '($1 == "Remv" || $1 == "Purg") && $2 != "apus" { print $2 }' | tr '\n' ' ')
    if [ -n "$dependents" ]; then
        say "apt-get $verb apus also removes ${dependents% } (they need a mail transport agent);"
        say "  to switch MTA instead, install the other one (apt install postfix, exim4 or msmtp-mta): it replaces apus"
    fi
    DEBIAN_FRONTEND=noninteractive apt-get "$verb" -y -q apus || die "apt-get $verb apus failed (output above)"
    if [ "$verb" = remove ]; then
        say "removed the package apus; kept /etc/apus.conf and the queue /var/spool/apus (./install.sh --purge removes them)"
    else
        say "purged the package apus: configuration, queue, log file and the group apus are gone"
    fi
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

    # The delivery log apus wrote (`log PATH` in the configuration), read before
    # --purge removes the configuration.
    local logs=()
    if [ "$purge" = yes ] && [ -f "$(R "$config")" ]; then
        mapfile -t logs < <(sed -n 's/^[[:blank:]]*log[[:blank:]]\{1,\}"\{0,1\}\(\/[^"]*\)"\{0,1\}[[:blank:]]*$/\1/p' "$(R "$config")")
    fi

    if [ "$purge" = yes ]; then
        real=$(R "$config")
        if [ -e "$real" ] || [ -L "$real" ]; then
            rm -f "$real"
            say "removed $real (--purge)"
        fi
    else
        while IFS= read -r path; do
            [ -e "$(R "$path")" ] && say "kept $(R "$path") (your settings: ./install.sh --purge removes it)"
        done < <(entries config)
    fi

    while IFS= read -r path; do
        real=$(R "$path")
        [ -d "$real" ] || continue
        local count
        count=$(find "$real" -maxdepth 1 \( -name '*.msg' -o -name '*.env' \) | wc -l)
        if [ -z "$(ls -A "$real")" ]; then
            rmdir "$real"
            say "removed $real (empty)"
        elif [ "$purge" = yes ]; then
            rm -rf "$real"
            say "removed $real (--purge), which still held $count queued message(s): deleted unsent"
        else
            say "kept $real: $count queued message(s) and their files (run apus -q first to send them, or ./install.sh --purge)"
        fi
    done < <(entries queue)

    local log
    for log in ${logs[@]+"${logs[@]}"}; do
        real=$(R "$log")
        # Only a file apus created (group apus), never one another program shares.
        if [ -f "$real" ] && [ ! -L "$real" ] && [ "$(stat -c %G "$real")" = "$group" ]; then
            rm -f "$real"
            say "removed the delivery log $real (--purge)"
        fi
    done

    if getent group "$group" >/dev/null; then
        if [ "$purge" = yes ] && [ -n "$(entries group)" ] && is_root; then
            groupdel "$group"
            say "removed group $group (--purge; install.sh had created it)"
        elif [ "$purge" = yes ]; then
            say "kept group $group (install.sh did not create it)"
        else
            say "kept group $group (files may still belong to it: groupdel $group, or ./install.sh --purge)"
        fi
    fi
    while IFS= read -r path; do rmdir "$(R "$path")" 2>/dev/null || true; done < <(entries dir)
    local made=()
    mapfile -t made < <(entries mkdir | LC_ALL=C sort -r)
    # What --uninstall kept (configuration, queue, the group it made) stays in
    # the manifest, so that a later --purge can still remove it.
    local kept=no
    if [ "$purge" != yes ]; then
        [ -n "$(entries config)" ] && [ -e "$(R "$config")" ] && kept=yes
        [ -n "$(entries queue)" ] && [ -d "$(R "$queuedir")" ] && kept=yes
        [ -n "$(entries group)" ] && getent group "$group" >/dev/null && kept=yes
    fi
    if [ "$kept" = yes ]; then
        awk -F'\t' '/^#/ || $1 == "config" || $1 == "queue" || $1 == "group" || $1 == "mkdir"' "$file" >"$file.new"
        mv -f "$file.new" "$file"
        say "kept $file (what was kept, for ./install.sh --purge)"
        return 0
    fi
    rm -f "$file"
    rmdir "$(R "$statedir")" 2>/dev/null || true
    say "removed $file"
    # The directories install.sh created, deepest first, when nothing else is in them.
    for path in ${made[@]+"${made[@]}"}; do
        real=$(R "$path")
        if [ -d "$real" ] && rmdir "$real" 2>/dev/null; then say "removed $real (empty, created by install.sh)"; fi
    done
}

if [ "$uninstall" = yes ]; then
    if [ "$deb" = yes ] && [ -n "$(package_state apus | grep -E '^[a-z][ic]' || true)" ]; then
        do_deb_uninstall
    else
        do_uninstall
    fi
elif [ "$deb" = yes ]; then
    do_deb_install
else
    do_install
fi
