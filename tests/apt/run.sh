#!/usr/bin/env bash
# The download helpers (scripts/debian.sh) under a hostile apt set-up, and scripts/setup.sh --check.
#
#   tests/apt/run.sh [WORKDIR]      (default: $TMPDIR/pgext-apt)
#
# The hostile system is a complete apt configuration of its own, selected with APT_CONFIG, so that
# nothing on this machine changes while other apt users run (the machine's own configuration is
# copied into it first, so whatever this machine has stays in force too):
#   - low pins for every suite (trixie 50, unstable 40, bookworm 30, its updates 20) in preferences.d,
#   - a dpkg database (status + arch) of its own in which `dpkg --add-architecture arm64` was run
#     and libc6 is installed at a version no mirror has; apt reads it through --admindir,
#   - APT::Default-Release "bookworm", an APT::Update::Post-Invoke-Success hook,
#   - an extra source that cannot be reached (127.0.0.1:9).
# Each hostile setting is first shown to bite: the download options these scripts used before
# (private sources and lists, everything else from the system) fail or go wrong under it, as the
# issue's machine did. Then the helpers must download the right .deb and source package, and
# name the package and the log when a download cannot succeed.
source "$(dirname "$0")/../../scripts/lib.sh"
source "$REPO/scripts/debian.sh"

W=${1:-${TMPDIR:-/tmp}/pgext-apt}
rm -rf "$W"
mkdir -p "$W"
W=$(cd "$W" && pwd)
ARCH=$(dpkg --print-architecture)
failures=0
checks=0
ok() { checks=$((checks + 1)); echo "  ok: $*"; }
bad() { checks=$((checks + 1)); failures=$((failures + 1)); echo "  FAIL: $*"; }
expect() { if [ "$2" = "$3" ]; then ok "$1: $3"; else bad "$1: want '$2', got '$3'"; fi; }
# holds WHAT FILE PATTERN: FILE has a line matching the extended regular expression.
holds() { if grep -Eq -- "$3" "$2"; then ok "$1"; else bad "$1 (no /$3/ in $2)"; sed 's/^/    | /' "$2" | tail -n 8; fi; }
lacks() { if grep -Eq -- "$3" "$2"; then bad "$1 (/$3/ in $2)"; sed 's/^/    | /' "$2" | grep -E -- "$3" | head -n 5; else ok "$1"; fi; }

mirror=$(debian_mirror)
[ -n "$mirror" ] || die "apt has no Debian mirror for this system (see scripts/setup.sh --check)"

say "a hostile apt configuration in $W/system (the machine's own is not touched)"
H=$W/system
mkdir -p "$H/etc/apt/apt.conf.d" "$H/etc/apt/preferences.d" "$H/etc/apt/sources.list.d" "$H/etc/apt/trusted.gpg.d" \
    "$H/var/lib/dpkg" "$H/var/lib/apt/lists/partial" "$H/var/cache/apt/archives/partial"
# This machine's configuration first: whatever it adds stays in force under the hostile one.
cp -a /etc/apt/apt.conf.d/. "$H/etc/apt/apt.conf.d/" 2>/dev/null || true
cp -a /etc/apt/preferences.d/. "$H/etc/apt/preferences.d/" 2>/dev/null || true
cp -a /etc/apt/sources.list.d/. "$H/etc/apt/sources.list.d/" 2>/dev/null || true
[ -f /etc/apt/sources.list ] && cp /etc/apt/sources.list "$H/etc/apt/"
cat >"$H/apt.conf" <<EOF
Dir::Etc "$H/etc/apt/";
Dir::State "$H/var/lib/apt/";
Dir::State::status "$H/var/lib/dpkg/status";
Dir::Cache "$H/var/cache/apt/";
DPkg::Options:: "--admindir=$H/var/lib/dpkg";
EOF
cat >"$H/etc/apt/preferences.d/zz-low" <<'EOF'
Package: *
Pin: release n=trixie
Pin-Priority: 50

Package: *
Pin: release n=unstable
Pin-Priority: 40

Package: *
Pin: release n=bookworm
Pin-Priority: 30

Package: *
Pin: release n=bookworm-updates
Pin-Priority: 20

Package: *
Pin: release n=bookworm-security
Pin-Priority: 20
EOF
cat >"$H/etc/apt/apt.conf.d/99zz-hostile" <<EOF
APT::Default-Release "bookworm";
APT::Update::Post-Invoke-Success { "touch $H/hook-ran"; };
EOF
printf 'Types: deb deb-src\nURIs: http://127.0.0.1:9/debian\nSuites: unstable trixie\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
    >"$H/etc/apt/sources.list.d/zz-unreachable.sources"
# A dpkg database of its own: libc6 installed at a version no mirror carries, arm64 added by dpkg.
cat >"$H/var/lib/dpkg/status" <<EOF
Package: libc6
Status: install ok installed
Priority: optional
Section: libs
Installed-Size: 1
Maintainer: nobody
Architecture: $ARCH
Multi-Arch: same
Version: 2.36-9+deb12u999
Description: installed here, downloadable nowhere

EOF
printf '%s\n' "$ARCH" >"$H/var/lib/dpkg/arch"
dpkg --admindir="$H/var/lib/dpkg" --add-architecture arm64
export APT_CONFIG=$H/apt.conf

say "the hostile configuration is in force"
apt-config dump >"$W/system-config.txt"
holds "dpkg's foreign architecture reaches apt" "$W/system-config.txt" '^APT::Architectures:: "arm64";'
holds "the default release is bookworm" "$W/system-config.txt" '^APT::Default-Release "bookworm";'
# shellcheck disable=SC2016 # $(…) is apt's placeholder
apt-get indextargets --no-release-info --format '$(REPO_URI)' >"$W/system-targets.txt" 2>&1 || true
holds "the unreachable source is configured" "$W/system-targets.txt" '127\.0\.0\.1:9'

say "the private configuration, read after the hostile one"
apt_private_init "$W/private" trixie "$ARCH" "deb deb-src"
apt-config "${APT_OPTS[@]}" dump >"$W/private-config.txt"
expect "APT::Architectures" "$ARCH" "$(sed -n 's/^APT::Architectures:: "\(.*\)";/\1/p' "$W/private-config.txt" | paste -sd' ')"
holds "no default release" "$W/private-config.txt" '^APT::Default-Release "";'
lacks "no update hook" "$W/private-config.txt" 'hook-ran'
holds "its own dpkg status" "$W/private-config.txt" "^Dir::State::status \"$W/private/status\";"
holds "no system preferences" "$W/private-config.txt" '^Dir::Etc::preferences "/dev/null";'
# shellcheck disable=SC2016
apt-get "${APT_OPTS[@]}" indextargets --no-release-info --format '$(REPO_URI) $(ARCHITECTURE) $(IDENTIFIER)' >"$W/private-targets.txt" 2>&1
lacks "no system source" "$W/private-targets.txt" '127\.0\.0\.1|security'
lacks "no foreign architecture" "$W/private-targets.txt" ' arm64 '
holds "trixie's Packages and Sources" "$W/private-targets.txt" 'Sources'

say "apt-get update of the private index"
t0=$(date +%s)
if apt_private_update; then ok "updated in $(( $(date +%s) - t0 )) s"; else bad "update failed"; fi
lacks "the unreachable source was not contacted" "$APT_PRIVATE_DIR/update.log" '127\.0\.0\.1'
[ ! -e "$H/hook-ran" ] && ok "the system's update hook did not run" || bad "the system's update hook ran"
apt_cache_private policy libc6 >"$W/policy.txt" 2>&1
holds "libc6 is not installed as far as the private apt knows" "$W/policy.txt" 'Installed: \(none\)'
cand=$(sed -n 's/^ *Candidate: //p' "$W/policy.txt")
lacks "no pin but the default (500)" "$W/policy.txt" '^ +(50|40|30|20|100) '
[ -n "$cand" ] && [ "$cand" != "(none)" ] && ok "trixie's libc6 is the candidate: $cand" || bad "no libc6 candidate"

say "the download options used before this change bite under the hostile configuration"
old=(-o "Dir::Etc::SourceList=/dev/null" -o "Dir::Etc::SourceParts=$APT_PRIVATE_DIR/sources.list.d"
     -o "Dir::State::Lists=$APT_PRIVATE_DIR/lists" -o "Dir::Cache=$APT_PRIVATE_DIR/cache" -o "Dir::Cache::pkgcache="
     -o "Dir::Cache::srcpkgcache=" -o "APT::Architectures::=$ARCH" -q
     -o "Dir::Cache::pkgcache=$W/old-pkgcache.bin") # a cache of its own: the same options, parsed once
mkdir -p "$W/old"
apt_sandbox_dir "$W/old"
(cd "$W/old" && apt-get "${old[@]}" download libc6/trixie) >"$W/old-release.log" 2>&1 || true
holds "APT::Default-Release stops them" "$W/old-release.log" 'Default-Release'
(cd "$W/old" && apt-get "${old[@]}" -o APT::Default-Release= download libc6) >"$W/old-pins.log" 2>&1 || true
holds "pins and the installed version: the issue's error" "$W/old-pins.log" "Can't find a source to download version '2.36-9\+deb12u999'"

say "the helpers download what was asked, under the hostile configuration"
if apt_fetch "$W/debs" libc6/trixie 2>"$W/fetch.err"; then
    deb=$(compgen -G "$W/debs/libc6_*.deb" | head -n1)
    expect "libc6/trixie: version" "$cand" "$(dpkg-deb -f "$deb" Version)"
    expect "libc6/trixie: architecture" "$ARCH" "$(dpkg-deb -f "$deb" Architecture)"
else
    bad "apt_fetch libc6/trixie: $(cat "$W/fetch.err")"
fi
rm -rf "$W/debs"
if apt_fetch "$W/debs" "libc6=$cand" 2>"$W/fetch.err"; then
    expect "libc6=$cand (a version from the private index)" "$cand" "$(dpkg-deb -f "$(compgen -G "$W/debs/libc6_*.deb" | head -n1)" Version)"
else
    bad "apt_fetch libc6=$cand: $(cat "$W/fetch.err")"
fi
# The source package tests/fixtures/build.sh builds pgvector from (setup.sh's is unstable's postgresql-18).
if dsc=$(apt_fetch_source "$W/src" pgvector/trixie 2>"$W/fetch.err"); then
    holds "pgvector/trixie source: trixie's .dsc" "$dsc" '^Source: pgvector$'
    expect "pgvector/trixie source: the private index's version" \
        "$(apt_cache_private showsrc pgvector 2>/dev/null | sed -n 's/^Version: //p' | head -n1)" "$(sed -n 's/^Version: //p' "$dsc")"
else
    bad "apt_fetch_source pgvector/trixie: $(cat "$W/fetch.err")"
fi

say "a download that cannot succeed says which and where, and leaves no path behind"
fail_case() { # fail_case WHAT SPEC PATTERN
    local rc=0
    apt_fetch "$W/none" "$2" >"$W/fail.out" 2>"$W/fail.err" || rc=$?
    if [ $rc = 0 ]; then bad "$1: succeeded"; return; fi
    holds "$1: names the package" "$W/fail.err" "$3"
    holds "$1: names the log" "$W/fail.err" "fetch\.log"
    [ -z "$(ls -A "$W/none" 2>/dev/null)" ] && ok "$1: nothing in the destination" || bad "$1: files left in the destination"
}
fail_case "a package trixie does not have" pgext-no-such-package/trixie 'pgext-no-such-package'
fail_case "a version the index does not have" libc6=0.0-pgext 'libc6=0\.0-pgext'
fail_case "a foreign architecture the private index lacks" libc6:arm64/trixie 'libc6:arm64/trixie'
if apt_fetch "$W/none" libc6 2>"$W/fail.err"; then bad "a spec without suite or version was accepted"; else holds "a spec must name the suite or version" "$W/fail.err" 'name the suite'; fi
apt_private_drop_lists
unset APT_CONFIG

say "scripts/setup.sh --check: reports, changes nothing"
snap() { { ls -la /etc/apt/sources.list.d /etc/apt/preferences.d; dpkg --print-foreign-architectures; cat "$PGEXT_STATE"/* 2>/dev/null; getent passwd | cut -d: -f1 | sort; } | sha256sum; }
before=$(snap)
set +e
bash "$REPO/scripts/setup.sh" --check >"$W/check.out" 2>&1
rc=$?
set -e
expect "on this machine (set up): exit status" 0 "$rc"
[ $rc = 0 ] || sed 's/^/    | /' "$W/check.out"
holds "it reports the mirror" "$W/check.out" 'Debian mirror'
holds "it reports PostgreSQL 18" "$W/check.out" 'PostgreSQL 18'
set +e
PG_CONFIG=/nonexistent/pg_config PGEXT_USER=pgext-no-such-user bash "$REPO/scripts/setup.sh" --check >"$W/check-bad.out" 2>&1
rc=$?
set -e
expect "with a missing pg_config and owner: exit status" 1 "$rc"
holds "it names the pg_config" "$W/check-bad.out" '/nonexistent/pg_config'
holds "it names the user and what to do" "$W/check-bad.out" 'pgext-no-such-user.*(useradd|PGEXT_USER)'
expect "nothing on the machine changed" "$before" "$(snap)"

echo
echo "apt: $checks checks, $failures failed"
[ $failures = 0 ]
