# Downloads of Debian packages for pgext's scripts and tests, through a private apt configuration
# that is private for real: whatever this machine's apt is set up with (pins in preferences.d,
# extra sources, foreign architectures, APT::Default-Release, the installed packages' status),
# a download picks the version the named suite's own index has, for the named architecture, from
# this machine's Debian mirror, and nothing under /etc or /var/lib/dpkg is read for that choice or
# changed. Nothing is ever installed. Source it after `set -Eeuo pipefail`; it defines functions.
#
# How (apt 2.6): apt reads the system's configuration first (APT_CONFIG, /etc/apt/apt.conf.d,
# /etc/apt/apt.conf); a file given with `-c` is read after it, so the private file below is the
# last word. It clears the list settings a system may carry (#clear) and names every file apt
# would otherwise take from /etc or /var: sources, preferences, dpkg status, lists, cache. With
# APT::Architectures set, apt never asks dpkg for the foreign architectures. The apt suite
# (tests/apt/run.sh) runs these helpers under a hostile configuration and proves each of these.
#
#   apt_private_init DIR "SUITE..." "ARCH..." [TYPES]   private config in DIR (TYPES: "deb", "deb deb-src")
#   apt_private_update                                  its own index (log in DIR/update.log)
#   apt_fetch DEST PKG[:ARCH]/SUITE | PKG[:ARCH]=VERSION ...   .debs into DEST, each one checked
#   apt_fetch_source DEST SRCPKG/SUITE                  a source package (.dsc and its files)
#   apt_private / apt_cache_private ARGS...             apt-get / apt-cache with the private config

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

# debian_mirror: $PGEXT_DEBIAN_MIRROR, else the Debian mirror this machine's apt uses, read
# through apt itself ($(REPO_URI) is apt's placeholder, not the shell's). Empty when none.
debian_mirror() {
    if [ -n "${PGEXT_DEBIAN_MIRROR:-}" ]; then echo "${PGEXT_DEBIAN_MIRROR%/}/"; return 0; fi
    local mirror codename
    # shellcheck disable=SC2016
    mirror=$(apt-get indextargets --format '$(REPO_URI)' 'Label: Debian' 'Identifier: Packages' 2>/dev/null | grep -v -- '-security' | head -n1)
    if [ -z "$mirror" ]; then # no lists yet: match the configured release by name
        codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
        # shellcheck disable=SC2016
        mirror=$(apt-get indextargets --no-release-info --format '$(REPO_URI)' "Release: $codename" 'Identifier: Packages' 2>/dev/null | head -n1)
    fi
    echo "$mirror"
}

# apt_private_init DIR "SUITE..." "ARCH..." [TYPES]: sets APT_OPTS (and APT_PRIVATE_DIR) to a
# private apt configuration in DIR: one entry per suite (main) on this machine's mirror, the
# given architectures only, no pins, an empty dpkg status. Run apt_private_update next.
apt_private_init() {
    local dir=$1 suites=$2 archs=$3 types=${4:-deb} mirror a first=""
    mirror=$(debian_mirror)
    [ -n "$mirror" ] || {
        echo "apt has no Debian mirror for this system: add one to /etc/apt/sources.list.d and run apt-get update, or set PGEXT_DEBIAN_MIRROR=<URL of a Debian mirror>" >&2
        return 1
    }
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    mkdir -p "$dir/sources.list.d" "$dir/preferences.d" "$dir/lists/partial" "$dir/cache/archives/partial" "$dir/state"
    rm -f "$dir/preferences.d"/* "$dir/sources.list.d"/*
    : >"$dir/status"
    {
        echo "# Written by pgext (scripts/debian.sh): a private apt configuration for downloads only."
        echo "Types: $types"
        echo "URIs: $mirror"
        echo "Suites: $suites"
        echo "Components: main"
        echo "Architectures: $archs"
        echo "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg"
    } >"$dir/sources.list.d/pgext.sources"
    local arch_list=""
    for a in $archs; do arch_list+="\"$a\"; "; [ -n "$first" ] || first=$a; done
    cat >"$dir/apt.conf" <<EOF
// Written by pgext (scripts/debian.sh). Read with -c, after the system's configuration.
#clear APT::Architectures;
#clear APT::Default-Release;
#clear APT::Update::Pre-Invoke;
#clear APT::Update::Post-Invoke;
#clear APT::Update::Post-Invoke-Success;
#clear APT::Get::Only-Source;
APT::Architecture "$first";
APT::Architectures { $arch_list};
APT::Default-Release "";
APT::Get::AllowUnauthenticated "false";
Acquire::AllowInsecureRepositories "false";
Acquire::AllowDowngradeToInsecureRepositories "false";
Acquire::Languages "none";
Acquire::IndexTargets::deb::DEP-11::DefaultEnabled "false";
Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled "false";
Acquire::IndexTargets::deb::DEP-11-icons-small::DefaultEnabled "false";
Acquire::IndexTargets::deb::Contents-deb::DefaultEnabled "false";
Acquire::IndexTargets::deb::Contents-udeb::DefaultEnabled "false";
Dir::Etc::SourceList "/dev/null";
Dir::Etc::SourceParts "$dir/sources.list.d";
Dir::Etc::Preferences "/dev/null";
Dir::Etc::PreferencesParts "$dir/preferences.d";
Dir::State "$dir/state";
Dir::State::Lists "$dir/lists";
Dir::State::status "$dir/status";
Dir::State::extended_states "$dir/state/extended_states";
Dir::Cache "$dir/cache";
Dir::Cache::archives "$dir/cache/archives";
// Its own binary caches (the system may disable them): without them every apt call parses
// the whole index again, seconds each.
Dir::Cache::pkgcache "$dir/cache/pkgcache.bin";
Dir::Cache::srcpkgcache "$dir/cache/srcpkgcache.bin";
Dir::Log "$dir/state";
EOF
    APT_PRIVATE_DIR=$dir
    APT_PRIVATE_ARCH=$first
    APT_OPTS=(-c "$dir/apt.conf" -q)
}

# apt_private CMD...: apt-get with the private configuration.
apt_private() { apt-get "${APT_OPTS[@]}" "$@"; }
# apt_cache_private CMD...: apt-cache with the private configuration.
apt_cache_private() { apt-cache "${APT_OPTS[@]}" "$@"; }

# apt_private_update: the private index, its log in the private directory; a failure names it.
apt_private_update() {
    local log=$APT_PRIVATE_DIR/update.log
    if ! apt_private update >"$log" 2>&1; then
        tail -n 15 "$log" >&2
        echo "apt-get update of the private index failed (log: $log): check that the mirror $(debian_mirror) is reachable, or set PGEXT_DEBIAN_MIRROR" >&2
        return 1
    fi
    # A mirror that answered nothing usable would leave an empty index: every download would then
    # fail with a less helpful message.
    if ! compgen -G "$APT_PRIVATE_DIR/lists/*_Packages*" >/dev/null && ! compgen -G "$APT_PRIVATE_DIR/lists/*_Sources*" >/dev/null; then
        echo "apt-get update wrote no package index (log: $log)" >&2
        return 1
    fi
}

# apt_sandbox_dir DIR: as root apt downloads as the sandbox user _apt, which must write to DIR.
apt_sandbox_dir() {
    if [ "$(id -u)" = 0 ] && id _apt >/dev/null 2>&1; then chown _apt "$1"; fi
}

# apt_fetch DEST SPEC...: downloads each package into DEST. SPEC is PKG[:ARCH]/SUITE (the version
# that suite's private index has) or PKG[:ARCH]=VERSION (as the private index lists it). A SPEC
# counts as downloaded only as a .deb of that package, architecture and version; the ones that are
# go to DEST, and when any is not, it fails naming each such SPEC and the log (DIR/fetch.log).
apt_fetch() {
    local dest=$1 spec pkg arch want deb f a rc=0 failed=() specs=()
    shift
    declare -A seen=()
    for spec in "$@"; do [ -n "${seen[$spec]:-}" ] || specs+=("$spec"); seen[$spec]=1; done
    set -- "${specs[@]}" # a package named twice is downloaded once
    for spec in "$@"; do
        [[ $spec == */* || $spec == *=* ]] || { echo "apt_fetch: name the suite or the version: $spec" >&2; return 2; }
    done
    mkdir -p "$dest"
    dest=$(cd "$dest" && pwd)
    local log=$APT_PRIVATE_DIR/fetch.log tmp
    tmp=$(mktemp -d "$APT_PRIVATE_DIR/fetch.XXXXXX")
    apt_sandbox_dir "$tmp"
    echo "== $(date -u +%FT%TZ) apt-get download $*" >>"$log"
    (cd "$tmp" && apt_private download "$@") >>"$log" 2>&1 || rc=$?
    chown -R "$(id -u):$(id -g)" "$tmp"
    for spec in "$@"; do
        pkg=${spec%%[/=]*}
        arch=$APT_PRIVATE_ARCH
        if [[ $pkg == *:* ]]; then arch=${pkg#*:}; pkg=${pkg%%:*}; fi
        want=""
        [[ $spec == *=* ]] && want=${spec#*=}
        deb=""
        for f in "$tmp/${pkg}_"*.deb; do
            [ -f "$f" ] || continue
            a=$(dpkg-deb -f "$f" Architecture)
            [ "$a" = "$arch" ] || [ "$a" = all ] || continue
            [ -z "$want" ] || [ "$(dpkg-deb -f "$f" Version)" = "$want" ] || continue
            deb=$f
        done
        if [ -n "$deb" ]; then mv "$deb" "$dest/"; else failed+=("$spec"); fi
    done
    rm -rf "$tmp"
    if [ ${#failed[@]} -gt 0 ]; then
        grep -E '^(E|W|Err):' "$log" | tail -n 5 >&2 || true
        echo "could not download ${failed[*]} through the private apt index in $APT_PRIVATE_DIR (apt-get exited $rc; log: $log)" >&2
        return 1
    fi
}

# apt_download_into DEST SPEC...: the former name of apt_fetch.
apt_download_into() { apt_fetch "$@"; }

# apt_fetch_source DEST SRCPKG/SUITE: a source package's files into DEST (nothing unpacked);
# prints the .dsc's path.
apt_fetch_source() {
    local dest=$1 spec=$2 tmp dsc
    local log=$APT_PRIVATE_DIR/fetch.log
    mkdir -p "$dest"
    dest=$(cd "$dest" && pwd)
    tmp=$(mktemp -d "$APT_PRIVATE_DIR/source.XXXXXX")
    apt_sandbox_dir "$tmp"
    if ! (cd "$tmp" && apt_private source --download-only "$spec") >>"$log" 2>&1; then
        chown -R "$(id -u):$(id -g)" "$tmp"
        rm -rf "$tmp"
        tail -n 10 "$log" >&2
        echo "could not download the source package $spec (log: $log)" >&2
        return 1
    fi
    chown -R "$(id -u):$(id -g)" "$tmp"
    dsc=$(compgen -G "$tmp/${spec%%/*}_*.dsc" | head -n1 || true)
    if [ -z "$dsc" ]; then
        rm -rf "$tmp"
        echo "apt-get source $spec left no .dsc (log: $log)" >&2
        return 1
    fi
    mv "$tmp"/* "$dest"/
    rm -rf "$tmp"
    echo "$dest/$(basename "$dsc")"
}

# apt_private_drop_lists: the lists are ~10-100 MB; every refresh starts with its own update.
apt_private_drop_lists() { rm -rf "${APT_PRIVATE_DIR:?}/lists" "$APT_PRIVATE_DIR"/cache/*.bin; }
