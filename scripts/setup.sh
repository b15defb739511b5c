#!/usr/bin/env bash
# pgext set-up: idempotent, for a fresh Debian bookworm machine, run as root (or with sudo available).
#
#   scripts/setup.sh            set up what is missing
#   scripts/setup.sh --check    report what this machine lacks, change nothing; exit 1 when something is
#
#   1. Debian build and test dependencies (only the missing ones are installed)
#   2. PostgreSQL 18: $PG_CONFIG, else a pg_config on PATH that says 18.x, else a build from Debian's
#      `postgresql-18` source package into $PGEXT_PG_PREFIX (reused by every later clone on this machine;
#      the source comes through the private apt configuration of scripts/debian.sh, /etc is not changed)
#   3. cargo-pgrx 0.18.1 and `cargo pgrx init --pg18`
#   4. the unprivileged user that owns test and demo clusters (initdb refuses root)
#
# It ends by writing the chosen pg_config to $PGEXT_STATE/pg_config, which the Makefile reads.
set -Eeuo pipefail

PGRX_VERSION=0.18.1
PGEXT_STATE=${PGEXT_STATE:-${XDG_STATE_HOME:-$HOME/.local/state}/pgext}
# Root's home is mode 0700, so binaries under it cannot be run by the cluster owner: as root the
# default prefix lives in /opt instead. Anyone can override it.
if [ "$(id -u)" = 0 ]; then default_prefix=/opt/pgext/pg18; else default_prefix=$HOME/.local/pgext/pg18; fi
PGEXT_PG_PREFIX=${PGEXT_PG_PREFIX:-$default_prefix}
PGEXT_USER=${PGEXT_USER:-postgres}
JOBS=${JOBS:-$(nproc)}
repo=$(cd "$(dirname "$0")/.." && pwd)
source "$repo/scripts/debian.sh"
export PATH="$HOME/.cargo/bin:$PATH"

CHECK=""
case ${1:-} in
    --check) CHECK=1 ;;
    "") ;;
    *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

step_name=""
hint=""
step() { step_name=$1; hint=${2:-}; printf '\n==> %s\n' "$step_name"; }
on_error() {
    local rc=$?
    printf '\nsetup: step "%s" failed (exit %s).\n' "$step_name" "$rc" >&2
    [ -n "$hint" ] && printf 'setup: how to fix: %s\n' "$hint" >&2
    exit "$rc"
}
trap on_error ERR

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"
    elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo "$@"
    else
        hint="this step needs root: run scripts/setup.sh as root, or install sudo and allow this user to use it without a password"
        false
    fi
}
pg_major_of() { "$1" --version 2>/dev/null | sed -n 's/^PostgreSQL \([0-9]*\).*/\1/p'; }

# ---------------------------------------------------------------------------------------------
packages=(
    build-essential pkg-config bison flex libreadline-dev zlib1g-dev libssl-dev   # PostgreSQL
    dpkg-dev                                                                       # apt-get source
    clang libclang-dev                                                             # pgrx bindgen
    nasm autoconf automake libtool                                                 # ISA-L (isal-sys builds it)
    sudo                                                                           # cargo pgrx test --runas
    ca-certificates git jq zstd curl python3                                       # tests and demo
    python3-yaml                                                                   # tests/worker/cnpg_check.py
    docker-registry skopeo umoci apache2-utils                                     # OCI tests: loopback registry
    postgresql-15                                                                  # ELF tests: another major's modules
    iproute2 util-linux openssl                                                    # OCI tests: slow-DNS namespace, TLS server
    binutils-aarch64-linux-gnu                                                     # ELF tests: clang links arm64 fixtures
    libc6-dev-arm64-cross libgcc-12-dev-arm64-cross                                # pgext for arm64 (scripts/build-arm64.sh)
    qemu-user-static                                                               # oracle-arm64: an arm64 PostgreSQL
    prometheus                                                                     # book suite: promtool tests the alerts
)
# ELF tests build a 32-bit library where the toolchain can (amd64's multilib). gcc-multilib conflicts
# with Debian's gcc-aarch64-linux-gnu, so arm64 fixtures (and pgext for arm64) are built by clang
# --target=aarch64-linux-gnu, with the cross glibc and libgcc of Debian's cross toolchain.
[ "$(dpkg --print-architecture)" = amd64 ] && packages+=(gcc-multilib)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done

# pg18_source: where PostgreSQL 18 comes from; sets PG_CONFIG_FOUND (empty: it must be built).
pg18_source() {
    PG_CONFIG_FOUND=""
    if [ -n "${PG_CONFIG:-}" ]; then
        [ "$(pg_major_of "$PG_CONFIG")" = 18 ] || return 1
        PG_CONFIG_FOUND=$PG_CONFIG; echo "PG_CONFIG=$PG_CONFIG"
    elif command -v pg_config >/dev/null && [ "$(pg_major_of pg_config)" = 18 ]; then
        PG_CONFIG_FOUND=$(command -v pg_config); echo "pg_config on PATH: $PG_CONFIG_FOUND"
    elif [ -x "$PGEXT_PG_PREFIX/bin/pg_config" ] && [ "$(pg_major_of "$PGEXT_PG_PREFIX/bin/pg_config")" = 18 ] \
            && [ -f "$PGEXT_PG_PREFIX/.pgext-build-complete" ]; then
        PG_CONFIG_FOUND=$PGEXT_PG_PREFIX/bin/pg_config
        local how
        how=$(head -n1 "$PGEXT_PG_PREFIX/.pgext-build-complete")
        echo "the build in $PGEXT_PG_PREFIX ($("$PG_CONFIG_FOUND" --version)${how:+; $how})"
    else
        echo "none yet: it will be built from Debian's postgresql-18 source package into $PGEXT_PG_PREFIX"
    fi
}

# check_machine: what this machine lacks for pgext's set-up and tests, each with what to do. Reads
# only; exits 1 when something is missing.
check_machine() {
    local bad=0 line
    report() { # report ok|missing|note WHAT [HOW-TO-FIX]
        case $1 in
            ok) printf '  ok       %s\n' "$2" ;;
            note) printf '  note     %s\n' "$2" ;;
            *) bad=1; printf '  MISSING  %s\n           fix: %s\n' "$2" "$3" ;;
        esac
    }
    echo "pgext set-up check (nothing is changed)"
    local codename
    codename=$(. /etc/os-release 2>/dev/null && echo "${ID:-?} ${VERSION_CODENAME:-?}")
    [ "$codename" = "debian bookworm" ] && report ok "system: $codename" || report note "system: $codename (pgext is tested on Debian bookworm)"
    if [ "$(id -u)" = 0 ]; then report ok "running as root"
    elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then report ok "sudo works without a password"
    else report missing "root or sudo (set-up installs packages, test suites mount and run servers as '$PGEXT_USER')" "run as root, or install sudo and allow $(id -un) to use it without a password"
    fi
    if [ ${#missing[@]} = 0 ]; then report ok "Debian packages: all ${#packages[@]} installed"
    else report missing "Debian packages: ${missing[*]}" "scripts/setup.sh installs them (apt-get install ${missing[*]})"
    fi
    local mirror
    mirror=$(debian_mirror)
    if [ -z "$mirror" ]; then
        report missing "a Debian mirror in apt's sources" "add one to /etc/apt/sources.list.d and run apt-get update, or set PGEXT_DEBIAN_MIRROR"
    elif command -v curl >/dev/null; then
        if curl -fsS -o /dev/null --max-time 15 "${mirror%/}/dists/unstable/InRelease" 2>/dev/null; then report ok "Debian mirror $mirror reachable"
        else report missing "Debian mirror $mirror (dists/unstable/InRelease did not download)" "check the network and proxy, or set PGEXT_DEBIAN_MIRROR to a mirror that carries unstable and trixie"
        fi
    else report note "Debian mirror $mirror (not probed: no curl)"
    fi
    local out
    out=$(mktemp)
    if pg18_source >"$out"; then
        line=$(cat "$out")
        if [ -n "$PG_CONFIG_FOUND" ]; then report ok "PostgreSQL 18: $line"
        else report note "PostgreSQL 18: $line (10-40 minutes on 2 cores)"
        fi
    else
        report missing "PostgreSQL 18: PG_CONFIG=$PG_CONFIG is not a PostgreSQL 18 pg_config" "unset PG_CONFIG or point it at PostgreSQL 18's pg_config"
    fi
    rm -f "$out"
    if ! command -v cargo >/dev/null; then report missing "cargo (Rust)" "install Rust with rustup (https://rustup.rs), then re-run"
    else report ok "$(cargo --version)"
    fi
    if cargo pgrx --version 2>/dev/null | grep -q "cargo-pgrx $PGRX_VERSION\$"; then report ok "cargo-pgrx $PGRX_VERSION"
    else report missing "cargo-pgrx $PGRX_VERSION (have: $(cargo pgrx --version 2>/dev/null || echo none))" "scripts/setup.sh installs it (cargo install cargo-pgrx --version $PGRX_VERSION --locked)"
    fi
    local pgrx_config=${PGRX_HOME:-$HOME/.pgrx}/config.toml
    if [ -n "$PG_CONFIG_FOUND" ] && ! grep -qF "pg18 = \"$PG_CONFIG_FOUND\"" "$pgrx_config" 2>/dev/null; then
        report missing "cargo pgrx init for $PG_CONFIG_FOUND (not in $pgrx_config)" "scripts/setup.sh runs it (cargo pgrx init --pg18 $PG_CONFIG_FOUND)"
    fi
    command -v cargo-fuzz >/dev/null && report ok "cargo-fuzz" || report missing "cargo-fuzz" "scripts/setup.sh installs it (cargo install cargo-fuzz --locked)"
    # Only `make arm64` / scripts/build-arm64.sh need it (build-arm64.sh tries rustup target add).
    if command -v rustc >/dev/null && [ -d "$(rustc --print sysroot)/lib/rustlib/aarch64-unknown-linux-gnu/lib" ]; then
        report ok "Rust target aarch64-unknown-linux-gnu (pgext for arm64)"
    else report note "Rust target aarch64-unknown-linux-gnu not installed: only pgext for arm64 needs it (make arm64; rustup target add aarch64-unknown-linux-gnu)"
    fi
    if [ "$(id -u)" = 0 ]; then
        if id "$PGEXT_USER" >/dev/null 2>&1; then report ok "cluster owner '$PGEXT_USER'"
        else report missing "cluster owner '$PGEXT_USER' (no such user)" "scripts/setup.sh creates it (useradd --system --create-home $PGEXT_USER), or set PGEXT_USER to an existing unprivileged user"
        fi
    else report ok "cluster owner: $(id -un) (not root)"
    fi
    # cargo pgrx test listens on TCP base_testing_port (config.toml, default 32200) + 18; the other
    # suites use Unix sockets only.
    local base port
    base=$(sed -n 's/^base_testing_port[[:space:]]*=[[:space:]]*\([0-9]*\).*/\1/p' "${PGRX_HOME:-$HOME/.pgrx}/config.toml" 2>/dev/null | head -n1)
    port=$(( ${base:-32200} + 18 ))
    if command -v ss >/dev/null && ss -Hltn "sport = :$port" 2>/dev/null | grep -q .; then
        report missing "TCP port $port is in use (cargo pgrx test needs it for the pgrx and oracle suites)" \
            "stop what listens there ($(ss -Hltnp "sport = :$port" 2>/dev/null | awk '{print $NF}' | head -n1)), or set base_testing_port in ${PGRX_HOME:-$HOME/.pgrx}/config.toml"
    else report ok "TCP port $port free (cargo pgrx test)"
    fi
    local d free
    for d in "${TMPDIR:-/tmp}" "$(pgext_cache_root)" "$repo"; do
        while [ ! -d "$d" ]; do d=$(dirname "$d"); done
        free=$(df -Pk "$d" | awk 'NR==2 {print int($4/1048576)}')
        if [ "$free" -ge 10 ]; then report ok "$free GiB free for $d"
        else report missing "only $free GiB free for $d (a full run needs about 10 GiB: target/, caches, clusters)" "free space there, or point TMPDIR/PGEXT_CACHE/CARGO_TARGET_DIR elsewhere"
        fi
    done
    echo
    if [ $bad = 0 ]; then echo "check: nothing missing"; else echo "check: something is missing (above)"; fi
    return $bad
}

if [ -n "$CHECK" ]; then
    trap - ERR
    check_machine && exit 0 || exit 1
fi

# ---------------------------------------------------------------------------------------------
step "Debian packages" "check that the Debian package mirror is reachable (apt-get update) and re-run"
# postgresql-15 is installed for its modules only: no cluster of its own is created or started.
if [ ! -d /usr/lib/postgresql/15 ]; then
    as_root mkdir -p /etc/postgresql-common/createcluster.d
    echo "create_main_cluster = false" | as_root tee /etc/postgresql-common/createcluster.d/pgext-no-main-cluster.conf >/dev/null
fi
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
    echo "all present"
fi

# ---------------------------------------------------------------------------------------------

step "PostgreSQL 18" "point PG_CONFIG at a PostgreSQL 18 pg_config, or read the log named above and check disk space"
pg18_source || { hint="PG_CONFIG=$PG_CONFIG is not PostgreSQL 18: unset it or fix it"; false; }
if [ -z "$PG_CONFIG_FOUND" ]; then
    # Debian's postgresql-18 source package from unstable, through a private apt configuration
    # (scripts/debian.sh): /etc/apt is not changed, nothing from another suite is installed. The
    # source is kept in the cache, keyed by its version.
    src_cache=$(pgext_cache_root)/pg18-source
    hint="the Debian mirror must carry unstable's sources (log: $src_cache/apt/fetch.log); or set PG_CONFIG to a PostgreSQL 18"
    dsc=$(compgen -G "$src_cache/postgresql-18_*.dsc" | head -n1 || true)
    if [ -z "$dsc" ]; then
        apt_private_init "$src_cache/apt" unstable "$(dpkg --print-architecture)" deb-src
        apt_private_update
        dsc=$(apt_fetch_source "$src_cache" postgresql-18/unstable)
        apt_private_drop_lists
    fi
    version=$(sed -n 's/^Version: //p' "$dsc")
    hint="read the log named above; the build needs about 2 GiB in ${TMPDIR:-/tmp}"
    echo "building PostgreSQL 18 ($version, Debian's source package) into $PGEXT_PG_PREFIX"
    work=$(mktemp -d "${TMPDIR:-/tmp}/pgext-pg18-build.XXXXXX")
    (
        cd "$work"
        # Upstream source as Debian ships it; Debian's patches move sockets and directories for
        # its packaging layout, which a private prefix does not want.
        dpkg-source -x --skip-patches "$dsc" src >/dev/null
        cd src
        ./configure --prefix="$PGEXT_PG_PREFIX" --with-openssl --without-icu --enable-debug \
            CFLAGS="-O2 -g" >configure.log 2>&1 || { tail -n 30 configure.log; false; }
        echo "compiling with $JOBS jobs (about 10 minutes on 2 idle cores)"
        make -s -j"$JOBS" >make.log 2>&1 || { tail -n 40 make.log; false; }
        make -s -j"$JOBS" -C contrib >>make.log 2>&1 || { tail -n 40 make.log; false; }
        as_root mkdir -p "$PGEXT_PG_PREFIX"
        as_root make -s install >>make.log 2>&1
        as_root make -s -C contrib install >>make.log 2>&1
        echo "postgresql-18 $version (Debian source package), built $(date -u +%FT%TZ)" | as_root tee "$PGEXT_PG_PREFIX/.pgext-build-complete" >/dev/null
    )
    rm -rf "$work"
    PG_CONFIG_FOUND=$PGEXT_PG_PREFIX/bin/pg_config
    echo "built $("$PG_CONFIG_FOUND" --version)"
else
    echo "using $PG_CONFIG_FOUND"
fi

# ---------------------------------------------------------------------------------------------
step "cargo-pgrx $PGRX_VERSION" "check that crates are reachable, then: cargo install cargo-pgrx --version $PGRX_VERSION --locked"
if cargo pgrx --version 2>/dev/null | grep -q "cargo-pgrx $PGRX_VERSION\$"; then
    echo "cargo-pgrx $PGRX_VERSION present"
else
    cargo install cargo-pgrx --version "$PGRX_VERSION" --locked
fi

step "cargo-fuzz" "check that crates are reachable, then: cargo install cargo-fuzz --locked"
if command -v cargo-fuzz >/dev/null; then
    echo "cargo-fuzz present"
else
    cargo install cargo-fuzz --locked # the fuzz suite (scripts/fuzz.sh)
fi

step "cargo pgrx init --pg18" "run: cargo pgrx init --pg18 $PG_CONFIG_FOUND"
pgrx_config=${PGRX_HOME:-$HOME/.pgrx}/config.toml
if [ -f "$pgrx_config" ] && grep -qF "pg18 = \"$PG_CONFIG_FOUND\"" "$pgrx_config"; then
    echo "already initialised for $PG_CONFIG_FOUND"
else
    cargo pgrx init --pg18 "$PG_CONFIG_FOUND"
fi

# ---------------------------------------------------------------------------------------------
step "pgext-check" "run: cargo build --release -p pgext-check"
# The pre-flight command (book: operations/preflight.md); needs no PostgreSQL, so it is built for users here,
# and the test suites use this one release build.
(cd "$repo" && cargo build --quiet --release -p pgext-check)
echo "built ${CARGO_TARGET_DIR:-$repo/target}/release/pgext-check"

# ---------------------------------------------------------------------------------------------
step "cluster owner '$PGEXT_USER'" "create an unprivileged user and set PGEXT_USER to its name"
if [ "$(id -u)" = 0 ]; then
    if ! id "$PGEXT_USER" >/dev/null 2>&1; then
        useradd --system --create-home --shell /bin/bash "$PGEXT_USER"
        echo "created system user $PGEXT_USER"
    else
        echo "user $PGEXT_USER exists"
    fi
else
    PGEXT_USER=$(id -un)
    echo "not root: clusters will run as $PGEXT_USER"
fi

mkdir -p "$PGEXT_STATE"
printf '%s\n' "$PG_CONFIG_FOUND" >"$PGEXT_STATE/pg_config"
printf '%s\n' "$PGEXT_USER" >"$PGEXT_STATE/user"
printf '\nsetup complete: pg_config=%s, cluster owner=%s\n' "$PG_CONFIG_FOUND" "$PGEXT_USER"
