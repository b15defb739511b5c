# Shared shell for downloading Debian binary packages without touching the system: a private apt
# configuration kept in a cache directory that reuses the mirror this machine's apt already uses.
# Nothing under /etc is changed and nothing is installed (the approach of tests/fixtures/build.sh).
# Source it after `set -Eeuo pipefail`; it defines functions only.

# pgext_cache_root: $PGEXT_CACHE, else /var/cache/pgext for root when $HOME is private (mode 0700:
# the cluster owner could not read below it), else ~/.cache/pgext.
pgext_cache_root() {
    if [ -n "${PGEXT_CACHE:-}" ]; then
        echo "$PGEXT_CACHE"
    elif [ "$(id -u)" = 0 ] && { [ -z "${HOME:-}" ] || [ ! -d "$HOME" ] || [ "$(( 0$(stat -c %a "$HOME") & 01 ))" = 0 ]; }; then
        echo /var/cache/pgext
    else
        echo "$HOME/.cache/pgext"
    fi
}

# debian_mirror: the Debian mirror this machine's apt uses, read through apt itself ($(REPO_URI)
# is apt's placeholder, not the shell's). Empty when apt has none.
debian_mirror() {
    local mirror codename
    # shellcheck disable=SC2016
    mirror=$(apt-get indextargets --format '$(REPO_URI)' 'Label: Debian' 'Identifier: Packages' 2>/dev/null | head -n1)
    if [ -z "$mirror" ]; then # no lists yet: match the configured release by name
        codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
        # shellcheck disable=SC2016
        mirror=$(apt-get indextargets --no-release-info --format '$(REPO_URI)' "Release: $codename" 'Identifier: Packages' 2>/dev/null | head -n1)
    fi
    echo "$mirror"
}

# apt_private_init DIR SUITE ARCH: sets the array APT_OPTS to a private apt configuration in DIR
# with one deb entry (SUITE, main, ARCH) on this machine's mirror. Run `apt_private update` next.
apt_private_init() {
    local dir=$1 suite=$2 arch=$3 mirror
    mirror=$(debian_mirror)
    [ -n "$mirror" ] || { echo "apt has no Debian mirror for this system: configure one in /etc/apt/sources.list.d and run apt-get update" >&2; return 1; }
    mkdir -p "$dir/sources.list.d" "$dir/lists/partial" "$dir/cache/archives/partial"
    cat >"$dir/sources.list.d/pgext.sources.new" <<EOF
# Written by pgext's tests: a private apt configuration for downloads only.
Types: deb
URIs: $mirror
Suites: $suite
Components: main
Architectures: $arch
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    mv "$dir/sources.list.d/pgext.sources.new" "$dir/sources.list.d/pgext.sources"
    APT_OPTS=(
        -o "Dir::Etc::SourceList=/dev/null"
        -o "Dir::Etc::SourceParts=$dir/sources.list.d"
        -o "Dir::State::Lists=$dir/lists"
        -o "Dir::Cache=$dir/cache"
        -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache="
        -o "APT::Architectures::=$arch"
        -o "Acquire::Languages=none"
        -o "Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false"
        -o "Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled=false"
        -o "Acquire::IndexTargets::deb::DEP-11-icons-small::DefaultEnabled=false"
        -q
    )
}

# apt_private CMD...: apt-get with the private configuration.
apt_private() { apt-get "${APT_OPTS[@]}" "$@"; }
# apt_cache_private CMD...: apt-cache with the private configuration.
apt_cache_private() { apt-cache "${APT_OPTS[@]}" "$@"; }

# apt_download_into DIR PKG=VERSION...: downloads .debs into DIR (as root, apt's download sandbox
# user must write there; the files are handed back to the caller afterwards).
apt_download_into() {
    local dir=$1; shift
    if [ "$(id -u)" = 0 ] && id _apt >/dev/null 2>&1; then chown _apt "$dir"; fi
    (cd "$dir" && apt-get "${APT_OPTS[@]}" download "$@")
    chown -R "$(id -u):$(id -g)" "$dir"
}
