# Shared shell helpers for pgext's scripts. Source it; it sets -Eeuo pipefail.
set -Eeuo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# A checkout's own overrides (PGEXT_STATE, PGEXT_CACHE, PGRX_HOME, TMPDIR …), so several checkouts
# can build and test on one machine without replacing each other's installation. Not committed.
# shellcheck source=/dev/null
[ ! -f "$REPO/.pgext-env" ] || . "$REPO/.pgext-env"
PGEXT_STATE=${PGEXT_STATE:-${XDG_STATE_HOME:-$HOME/.local/state}/pgext}
export PATH="$HOME/.cargo/bin:$PATH"

say() { printf '==> %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# The pg_config and cluster owner chosen by scripts/setup.sh.
load_setup() {
    [ -f "$PGEXT_STATE/pg_config" ] || die "run scripts/setup.sh first (no $PGEXT_STATE/pg_config)"
    PG_CONFIG=$(cat "$PGEXT_STATE/pg_config")
    PGEXT_USER=$(cat "$PGEXT_STATE/user")
    if [ "$(id -u)" = 0 ] && ! id "$PGEXT_USER" >/dev/null 2>&1; then
        die "the cluster owner '$PGEXT_USER' named in $PGEXT_STATE/user does not exist: run scripts/setup.sh (it creates it), or set PGEXT_USER to an unprivileged user and run it"
    fi
    PG_BINDIR=$("$PG_CONFIG" --bindir)
    PG_SHAREDIR=$("$PG_CONFIG" --sharedir)
    PG_PKGLIBDIR=$("$PG_CONFIG" --pkglibdir)
    export PG_CONFIG PGEXT_USER PG_BINDIR PG_SHAREDIR PG_PKGLIBDIR
}

# Runs a command as the unprivileged cluster owner (initdb and postgres refuse root). Rust's
# backtrace switches are dropped: a server must report errors as users will see them.
# PGEXT_SERVER_LD_LIBRARY_PATH becomes the server's LD_LIBRARY_PATH (CloudNativePG sets it from an
# extension's ld_library_path, e.g. an image's system/ directory). PGEXT_SERVER_ENV adds more
# NAME=value words (CloudNativePG 1.29's bin_path and env; a PATH there replaces the default one).
as_owner() {
    local extra=() unset=(-u PGEXT_SERVER_ENV -u PGEXT_SERVER_LD_LIBRARY_PATH)
    [ -n "${PGEXT_SERVER_LD_LIBRARY_PATH:-}" ] && extra=(LD_LIBRARY_PATH="$PGEXT_SERVER_LD_LIBRARY_PATH")
    # shellcheck disable=SC2206 # NAME=value words, split on purpose (values hold no blanks)
    [ -n "${PGEXT_SERVER_ENV:-}" ] && extra+=($PGEXT_SERVER_ENV)
    if [ "$(id -u)" = 0 ]; then
        runuser -u "$PGEXT_USER" -- env -u RUST_BACKTRACE -u RUST_LIB_BACKTRACE "${unset[@]}" PATH="$PG_BINDIR:/usr/bin:/bin" "${extra[@]}" "$@"
    else
        env -u RUST_BACKTRACE -u RUST_LIB_BACKTRACE "${unset[@]}" "${extra[@]}" "$@"
    fi
}

# pgrx_test_port_free: cargo pgrx test's cluster listens on TCP base_testing_port (PGRX_HOME's
# config.toml, default 32200) + 18; when something else listens there, it says so and what to do.
pgrx_test_port_free() {
    local config=${PGRX_HOME:-$HOME/.pgrx}/config.toml base port
    base=$(sed -n 's/^base_testing_port[[:space:]]*=[[:space:]]*\([0-9]*\).*/\1/p' "$config" 2>/dev/null | head -n1)
    port=$(( ${base:-32200} + 18 ))
    command -v ss >/dev/null || return 0
    if ss -Hltn "sport = :$port" | grep -q .; then
        echo "TCP port $port, where cargo pgrx test starts its cluster, is in use ($(ss -Hltnp "sport = :$port" | awk '{print $NF}' | head -n1)): stop that server, or set base_testing_port in $config" >&2
        return 1
    fi
}

# Makes a directory the cluster owner can use.
owner_dir() {
    mkdir -p "$1"
    [ "$(id -u)" = 0 ] && chown "$PGEXT_USER" "$1"
    chmod 0755 "$1"
}

# cluster_start DATADIR PORT CONF_SNIPPET_FILE: initdb (if needed) and start a throwaway cluster
# that listens only on a Unix socket inside DATADIR.
cluster_start() {
    local data=$1 port=$2 conf=${3:-}
    if [ ! -f "$data/PG_VERSION" ]; then
        owner_dir "$data"
        as_owner "$PG_BINDIR/initdb" -D "$data" -U postgres --auth=trust --no-sync -E UTF8 --locale=C >"$data.initdb.log" 2>&1 \
            || { cat "$data.initdb.log"; die "initdb failed"; }
    fi
    {
        echo "# written by pgext scripts/lib.sh"
        echo "listen_addresses = ''"
        echo "unix_socket_directories = '$data'"
        echo "port = $port"
        echo "fsync = off"
        echo "log_min_messages = warning"
        [ -n "$conf" ] && cat "$conf"
    } >"$data/pgext.conf"
    grep -q "include 'pgext.conf'" "$data/postgresql.conf" || echo "include 'pgext.conf'" >>"$data/postgresql.conf"
    [ "$(id -u)" = 0 ] && chown "$PGEXT_USER" "$data/pgext.conf"
    as_owner "$PG_BINDIR/pg_ctl" -D "$data" -l "$data/server.log" -w -t 60 start >/dev/null \
        || { tail -n 30 "$data/server.log"; die "server did not start (log: $data/server.log)"; }
}

cluster_stop() {
    local data=$1 mode=${2:-fast}
    [ -f "$data/postmaster.pid" ] || return 0
    as_owner "$PG_BINDIR/pg_ctl" -D "$data" -m "$mode" -w -t 60 stop >/dev/null || true
}

# psql against a cluster started by cluster_start.
cluster_psql() {
    local data=$1 port=$2
    shift 2
    "$PG_BINDIR/psql" -X -v ON_ERROR_STOP=1 -h "$data" -p "$port" -U postgres "$@"
}

# psql_try SOCKET_DIR PORT DB SECONDS GRACE SQL: what a real server says to `BEGIN; SQL; ROLLBACK`
# in a new connection (the oracles' question). statement_timeout is SECONDS; psql is killed after
# SECONDS + GRACE. Sets OUTCOME (ok, error, timeout, fatal, crash: the connection was lost
# without a FATAL), MESSAGE (the first ERROR/FATAL/PANIC line as "SQLSTATE: message"),
# PSQL_LINE (that line) and PSQL_OUT (psql's stderr). The caller waits for a server that lost a
# backend. Shell builtins after psql: an oracle run is mostly this function.
psql_try() {
    local rc l
    PSQL_LINE=""
    set +e
    PSQL_OUT=$(PGOPTIONS="-c statement_timeout=${4}s -c client_min_messages=warning" \
        timeout $(($4 + $5)) "$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -v VERBOSITY=verbose \
        -v SHOW_CONTEXT=never -h "$1" -p "$2" -U postgres -d "$3" \
        -c 'BEGIN' -c "$6" -c 'ROLLBACK' 2>&1 >/dev/null)
    rc=$?
    set -e
    while IFS= read -r l; do
        if [[ $l =~ ^(ERROR|FATAL|PANIC):\ + ]]; then PSQL_LINE=$l; break; fi
    done <<<"$PSQL_OUT"
    MESSAGE=${PSQL_LINE#*:}
    MESSAGE=${MESSAGE#"${MESSAGE%%[! ]*}"}
    MESSAGE=${MESSAGE//$'\t'/ }
    case $rc in
        0) OUTCOME=ok ;;
        1 | 3) OUTCOME=error; [[ $MESSAGE != 57014:* ]] || OUTCOME=timeout ;;
        124) OUTCOME=timeout; MESSAGE="no answer within $(($4 + $5))s" ;;
        *) if [[ $PSQL_LINE == FATAL:* ]]; then OUTCOME=fatal; else OUTCOME=crash; fi ;;
    esac
}

# Installs pgext into the PostgreSQL installation (debug build unless PROFILE=release). Files are
# packaged first and then renamed into place: `cargo pgrx install` rewrites pgext.so in place
# (same inode), which can crash a running server that has it mapped.
#
# Under scripts/test.sh, which installs the debug build once for every suite (PGEXT_INSTALLED),
# it does nothing unless PGEXT_FORCE_INSTALL is set.
install_pgext() {
    if [ -n "${PGEXT_INSTALLED:-}" ] && [ -z "${PGEXT_FORCE_INSTALL:-}" ] && [ "${PROFILE:-debug}" = debug ]; then return 0; fi
    local args=(--pg-config "$PG_CONFIG")
    [ "${PROFILE:-debug}" = release ] || args+=(--debug)
    say "installing pgext into $("$PG_CONFIG" --pkglibdir) (${PROFILE:-debug} build)"
    local out
    out=$(mktemp -d "${TMPDIR:-/tmp}/pgext-package.XXXXXX")
    (cd "$REPO" && cargo pgrx package "${args[@]}" --out-dir "$out" >/dev/null) || { rm -rf "$out"; return 1; }
    local f dest
    while IFS= read -r -d '' f; do
        dest=${f#"$out"}
        mkdir -p "$(dirname "$dest")"
        cp "$f" "$dest.pgext-new" && chmod a+r "$dest.pgext-new" && mv -f "$dest.pgext-new" "$dest"
    done < <(find "$out" -type f -print0)
    rm -rf "$out"
}

# pg_install_exclusive_begin / pg_install_exclusive_end: around a command that installs its own
# build of pgext into the PostgreSQL installation (cargo pgrx test). Under scripts/test.sh, whose
# server suites hold the installation's lock shared (fd $PGEXT_INSTALL_LOCK_FD), this waits until
# no other suite runs a server, and the end puts the debug build back before sharing again.
# Outside the runner both do nothing.
pg_install_exclusive_begin() {
    [ -n "${PGEXT_INSTALL_LOCK_FD:-}" ] || return 0
    say "waiting until no other suite runs a server (this installs its own build of pgext)"
    flock -x "$PGEXT_INSTALL_LOCK_FD"
}
pg_install_exclusive_end() {
    [ -n "${PGEXT_INSTALL_LOCK_FD:-}" ] || return 0
    local rc=0
    if [ -n "${PGEXT_INSTALLED:-}" ]; then PGEXT_FORCE_INSTALL=1 install_pgext || rc=1; fi
    flock -s "$PGEXT_INSTALL_LOCK_FD"
    return $rc
}

# Bind-mounts every image under FX/extensions onto itself read-only, as an image volume is. Needs
# root; otherwise (or where mounting is not allowed) the images stay writable. Prints true/false.
ro_mount_images() {
    local fx=$1 ok=true d
    if [ "$(id -u)" != 0 ]; then echo false; return 0; fi
    for d in "$fx"/extensions/*/; do
        d=${d%/}
        [ "$(basename "$d")" = hostile ] && continue # its unreadable files are set up per run
        if mount --bind "$d" "$d" 2>/dev/null && mount -o remount,bind,ro "$d" 2>/dev/null; then
            echo "$d" >>"$fx/ro-mounts"
        else
            ok=false
        fi
    done
    echo $ok
}

ro_unmount_images() {
    local fx=$1 d
    [ -f "$fx/ro-mounts" ] || return 0
    while read -r d; do umount "$d" 2>/dev/null || umount -l "$d" 2>/dev/null || true; done <"$fx/ro-mounts"
    rm -f "$fx/ro-mounts"
}

# pgext_image_tree PKGLIBDIR SHAREDIR DEST: the tree of pgext's extension image, as CloudNativePG
# mounts it (lib/pgext.so, share/extension/pgext*, licenses/), from a package's pkglibdir and
# sharedir (a `cargo pgrx package` output). scripts/package-image.sh writes it as the image's
# layer; tests/arm64 reads it back out of that image.
pgext_image_tree() {
    local lib=$1 share=$2 dest=$3
    [ -f "$lib/pgext.so" ] || die "no pgext.so in $lib"
    rm -rf "$dest"
    mkdir -p "$dest/lib" "$dest/share/extension" "$dest/licenses/pgext"
    cp "$lib/pgext.so" "$dest/lib/"
    cp "$share"/extension/pgext* "$dest/share/extension/"
    cp "$REPO/README.md" "$dest/licenses/pgext/README.md"
    chmod -R u=rwX,go=rX "$dest"
    chmod 0755 "$dest/lib/pgext.so"
}
