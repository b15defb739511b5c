#!/usr/bin/env bash
# pgext set-up: idempotent, for a fresh Debian bookworm machine, run as root (or with sudo available).
#
#   1. Debian build and test dependencies (only the missing ones are installed)
#   2. PostgreSQL 18: $PG_CONFIG, else a pg_config on PATH that says 18.x, else a build from Debian's
#      `postgresql-18` source package into $PGEXT_PG_PREFIX (reused by every later clone on this machine)
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

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# ---------------------------------------------------------------------------------------------
step "Debian packages" "check that the Debian package mirror is reachable (apt-get update) and re-run"
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
    prometheus                                                                     # book suite: promtool tests the alerts
)
# ELF tests build a 32-bit library where the toolchain can (amd64's multilib).
[ "$(dpkg --print-architecture)" = amd64 ] && packages+=(gcc-multilib)
# postgresql-15 is installed for its modules only: no cluster of its own is created or started.
if [ ! -d /usr/lib/postgresql/15 ]; then
    as_root mkdir -p /etc/postgresql-common/createcluster.d
    echo "create_main_cluster = false" | as_root tee /etc/postgresql-common/createcluster.d/pgext-no-main-cluster.conf >/dev/null
fi
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
    echo "all present"
fi

# ---------------------------------------------------------------------------------------------
pg_major_of() { "$1" --version 2>/dev/null | sed -n 's/^PostgreSQL \([0-9]*\).*/\1/p'; }

step "PostgreSQL 18" "point PG_CONFIG at a PostgreSQL 18 pg_config, or check the deb-src entry and disk space"
PG_CONFIG_FOUND=""
if [ -n "${PG_CONFIG:-}" ]; then
    [ "$(pg_major_of "$PG_CONFIG")" = 18 ] || { hint="PG_CONFIG=$PG_CONFIG is not PostgreSQL 18: unset it or fix it"; false; }
    PG_CONFIG_FOUND=$PG_CONFIG
    echo "using PG_CONFIG=$PG_CONFIG"
elif command -v pg_config >/dev/null && [ "$(pg_major_of pg_config)" = 18 ]; then
    PG_CONFIG_FOUND=$(command -v pg_config)
    echo "using pg_config on PATH: $PG_CONFIG_FOUND"
elif [ -x "$PGEXT_PG_PREFIX/bin/pg_config" ] && [ "$(pg_major_of "$PGEXT_PG_PREFIX/bin/pg_config")" = 18 ] \
        && [ -f "$PGEXT_PG_PREFIX/.pgext-build-complete" ]; then
    PG_CONFIG_FOUND=$PGEXT_PG_PREFIX/bin/pg_config
    echo "reusing the build in $PGEXT_PG_PREFIX ($("$PG_CONFIG_FOUND" --version))"
else
    echo "building PostgreSQL 18 from Debian's source package into $PGEXT_PG_PREFIX"
    # deb-src for unstable only: no binary package from another suite is ever installed. The mirror
    # is the one this machine already uses for bookworm.
    src_list=/etc/apt/sources.list.d/pgext-unstable-src.sources
    if [ ! -f "$src_list" ]; then
        mirror=$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\).*/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null \
                 | grep -v -- '-security' | head -n1)
        [ -n "$mirror" ] || mirror=$(awk '$1=="deb" && $3 ~ /^bookworm$/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null)
        [ -n "$mirror" ] || { hint="no Debian mirror found in /etc/apt/sources.list*: add one for bookworm"; false; }
        printf 'Types: deb-src\nURIs: %s\nSuites: unstable\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
            "$mirror" | as_root tee "$src_list" >/dev/null
        echo "added $src_list (deb-src only) for $mirror"
    fi
    as_root apt-get update -qq
    work=$(mktemp -d "${TMPDIR:-/tmp}/pgext-pg18-build.XXXXXX")
    (
        cd "$work"
        apt-get source --download-only -qq postgresql-18
        dsc=$(ls postgresql-18_*.dsc | head -n1)
        # Upstream source as Debian ships it; Debian's patches move sockets and directories for
        # its packaging layout, which a private prefix does not want.
        dpkg-source -x --skip-patches "$dsc" src >/dev/null
        cd src
        ./configure --prefix="$PGEXT_PG_PREFIX" --with-openssl --without-icu --enable-debug \
            CFLAGS="-O2 -g" >configure.log 2>&1 || { tail -n 30 configure.log; false; }
        echo "compiling with $JOBS jobs (about 10 minutes on 2 cores)"
        make -s -j"$JOBS" >make.log 2>&1 || { tail -n 40 make.log; false; }
        make -s -j"$JOBS" -C contrib >>make.log 2>&1 || { tail -n 40 make.log; false; }
        as_root mkdir -p "$PGEXT_PG_PREFIX"
        as_root make -s install >>make.log 2>&1
        as_root make -s -C contrib install >>make.log 2>&1
        as_root touch "$PGEXT_PG_PREFIX/.pgext-build-complete"
    )
    rm -rf "$work"
    PG_CONFIG_FOUND=$PGEXT_PG_PREFIX/bin/pg_config
    echo "built $("$PG_CONFIG_FOUND" --version)"
fi

# ---------------------------------------------------------------------------------------------
step "cargo-pgrx $PGRX_VERSION" "check that crates are reachable, then: cargo install cargo-pgrx --version $PGRX_VERSION --locked"
export PATH="$HOME/.cargo/bin:$PATH"
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
# The pre-flight command (README: Pre-flight); needs no PostgreSQL, so it is built for users here.
repo=$(cd "$(dirname "$0")/.." && pwd)
(cd "$repo" && cargo build --quiet --release -p pgext-check)
echo "built $repo/target/release/pgext-check"

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
