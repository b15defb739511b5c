#!/usr/bin/env bash
# Measures pgext against the standard tools, side by side in one run on this machine, and prints
# the ratios. It reports; it never fails because a number is slow (docs/src/benchmarks.md says what
# each number means). It exits non-zero only when a section breaks (an error, not a slow result).
#
#   scripts/bench.sh            (make bench)
#
# Sections, each independent (a missing prerequisite prints "skipped: <why>"):
#   hash    full-tree hashing through SQL vs sha256sum, openssl dgst, and both on 2 processes
#   views   pgext.mounted_extensions vs pg_available_extensions under pgbench, same paths
#   oci     pgext.verify_image of a ~100 MB image from a local registry vs skopeo copy, peak RSS
#           (first verifications: pgext.reuse_recorded_trees off)
#   reverify  a repeated pgext.verify_image of the same ~100 MB image (its expected tree recorded,
#           no layer downloaded) vs skopeo copy, in the verifying session and in a new one
#   compat  pgext.check_extension of a PostGIS-sized image vs hashing the same files
#   preflight  pgext-check fetching a server image and the PostGIS image from OCI layouts,
#           unpacking and judging them, vs umoci unpacking the same two images plus pgext-check
#           on the unpacked directories
#   scale   every view vs pg_available_extensions / pg_available_extension_versions over the wide
#           oracle corpus (every PostgreSQL 18 extension package Debian ships, one image each) at
#           10, 30 and all (~100) images: warm (pgbench) and the first query of a new session
#   worker  the background worker's CPU per check cycle over the whole wide corpus (pgext
#           preloaded, no pins), as a share of one core at a 60 s check interval
#
# Environment: BENCH_FILES, BENCH_MB (the hash tree: 2000 files, 500 MB), BENCH_REPEAT (runs per
# measurement, best kept: 3), BENCH_SECONDS (pgbench -T: 10), BENCH_OCI_MB (100), BENCH_SECTIONS
# (default "hash views oci compat scale worker"), BENCH_WORKER_SECONDS (how long the worker is
# watched: 30), BENCH_SCALE_STEPS (image counts, "10 30 all"), BENCH_SCALE_MOUNTS (how the images
# are mounted, each in turn: "overlay bind dir"), PGEXT_BENCH_PORT (55434), PGEXT_BENCH_INSTALL (1 = build
# and install a release pgext first; 0 = use the installed one), PGEXT_BENCH_KEEP (1 = keep the
# work directory), PGEXT_CACHE (download cache, as in tests/fixtures/build.sh).
source "$(dirname "$0")/lib.sh"

BENCH_FILES=${BENCH_FILES:-2000}
BENCH_MB=${BENCH_MB:-500}
BENCH_REPEAT=${BENCH_REPEAT:-3}
BENCH_SECONDS=${BENCH_SECONDS:-10}
BENCH_OCI_MB=${BENCH_OCI_MB:-100}
BENCH_SECTIONS=${BENCH_SECTIONS:-hash views oci reverify compat preflight scale worker}
BENCH_WORKER_SECONDS=${BENCH_WORKER_SECONDS:-30}
BENCH_SCALE_STEPS=${BENCH_SCALE_STEPS:-10 30 all}
BENCH_SCALE_MOUNTS=${BENCH_SCALE_MOUNTS:-overlay bind dir}
PORT=${PGEXT_BENCH_PORT:-55434}
INSTALL=${PGEXT_BENCH_INSTALL:-1}
KEEP=${PGEXT_BENCH_KEEP:-0}
MB=1000000 # MB and MB/s are decimal throughout, as sha256 benchmarks usually are

for v in BENCH_FILES BENCH_MB BENCH_REPEAT BENCH_SECONDS BENCH_OCI_MB BENCH_WORKER_SECONDS; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer (got '${!v}')"
done
for s in $BENCH_SECTIONS; do
    case $s in hash | views | oci | reverify | compat | preflight | scale | worker) ;; *) die "unknown section in BENCH_SECTIONS: $s (hash, views, oci, reverify, compat, preflight, scale, worker)" ;; esac
done

# ---------------------------------------------------------------------------------------------
# Small helpers

now_us() { echo $(($(date +%s%N) / 1000)); }
# time_us CMD...: runs CMD (output discarded) and prints its wall time in microseconds.
# Bash clears -e inside $(...): the status is checked here, and the caller's assignment fails.
time_us() {
    local t0 t1
    t0=$(now_us)
    "$@" >/dev/null || return 1
    t1=$(now_us)
    echo $((t1 - t0))
}
min_of() { printf '%s\n' "$@" | sort -n | head -n1; }
median_of() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
# calc EXPR [DECIMALS]: floating-point arithmetic on numbers this script produced.
calc() { awk "BEGIN { printf \"%.${2:-2}f\", $1 }"; }
secs() { calc "$1 / 1000000" 3; }                    # microseconds -> "1.234"
rate() { calc "$1 / $2" 1; }                         # bytes, microseconds -> MB/s
# meets VALUE OP LIMIT: yes or no (OP is >= or <=).
meets() { awk -v v="$1" -v l="$3" -v op="$2" 'BEGIN { ok = (op == ">=") ? v >= l : v <= l; print ok ? "yes" : "no" }'; }
load_avg() { cut -d' ' -f1-3 /proc/loadavg; }

# record METRIC PGEXT REFERENCE RATIO TARGET MET: one row of the final summary.
record() { printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$WORK/summary.tsv"; }
skip() {
    echo "skipped: $2"
    record "$1" skipped - - - -
    printf '%s: skipped: %s\n' "$1" "$2" >>"$WORK/notes"
}

# bsql [psql args]: SQL from stdin (so psql variables work) against the bench database.
bsql() { cluster_psql "$DATA" "$PORT" -d bench -qAt "$@"; }

# pgext_has SIGNATURE: the function exists in the installed pgext (t/f).
pgext_has() { bsql -v sig="$1" <<<"SELECT to_regprocedure(:'sig') IS NOT NULL"; }

# The cache tests/fixtures/build.sh uses, for downloads that outlive a run.
cache_root() {
    if [ -n "${PGEXT_CACHE:-}" ]; then
        echo "$PGEXT_CACHE"
    elif [ "$(id -u)" = 0 ] && [ "$(( 0$(stat -c %a "$HOME") & 01 ))" = 0 ]; then
        echo /var/cache/pgext
    else
        echo "$HOME/.cache/pgext"
    fi
}

# ---------------------------------------------------------------------------------------------
# A synthetic image tree shaped like a real one: many small files (bitcode, SQL scripts, data,
# licences) and a few 5-50 MB ones (libraries, grids), contents cut from real binaries so that
# compression behaves as it does on real images. Deterministic for a given seed.

make_pool() {
    local pool=$WORK/pool size=$((64 * 1024 * 1024))
    [ -f "$pool" ] && return 0
    # head closes the pipe early on purpose: that SIGPIPE is not an error.
    { find /usr/lib/x86_64-linux-gnu /usr/lib /usr/bin -maxdepth 1 -type f -size +256k -print0 2>/dev/null |
        LC_ALL=C sort -z | xargs -0 cat 2>/dev/null | head -c "$size" >"$pool"; } || true
    local have
    have=$(stat -c %s "$pool")
    [ "$have" -ge "$size" ] || head -c $((size - have)) /dev/urandom >>"$pool"
}

# make_tree DIR FILES MEGABYTES SEED
make_tree() {
    local dir=$1 files=$2 mbytes=$3 seed=$4 pool=$WORK/pool kind size off path
    make_pool
    rm -rf "$dir"
    mkdir -p "$dir"
    awk -v seed="$seed" -v files="$files" -v total="$((mbytes * MB))" -v pool="$(stat -c %s "$pool")" '
    function put(size, path) {
        off = (size <= pool) ? int(rand() * (pool - size)) : -1
        printf "F %d %d %s\n", size, off, path
        d = path; sub(/\/[^\/]*$/, "", d); dirs[d] = 1
    }
    BEGIN {
        srand(seed)
        # About 70% of the bytes in 5-50 MB files (never more than half the files).
        budget = (total >= 20 * 1000000) ? total * 0.7 : 0
        nb = 0; used = 0
        while (nb < files / 2) {
            s = int(5000000 + rand() * 45000000)
            if (used + s > budget) s = budget - used
            if (s < 5000000) break
            big[nb++] = s; used += s
        }
        split("system/libbig%02d.so.1 lib/big%02d.so share/proj/grid%02d.tif share/gdal/data%02d.gpkg", bigname, " ")
        for (i = 0; i < nb; i++) put(big[i], sprintf(bigname[i % 4 + 1], i))
        # The rest: log-uniform sizes, scaled to fill the remaining bytes.
        ns = files - nb; rest = total - used; sw = 0
        for (i = 0; i < ns; i++) { w[i] = exp(log(256) + rand() * (log(2000000) - log(256))); sw += w[i] }
        for (i = 0; i < ns; i++) {
            s = int(w[i] * rest / sw); if (s < 1) s = 1
            c = i % 20
            if (c < 8) p = sprintf("lib/bitcode/ext%d/src/%d/f%05d.bc", i % 7, i % 5, i)
            else if (c < 13) p = sprintf("share/extension/f%05d.sql", i)
            else if (c < 15) p = sprintf("share/gdal/f%05d.csv", i)
            else if (c < 16) p = sprintf("share/proj/f%05d.json", i)
            else if (c < 18) p = sprintf("licenses/pkg%02d/f%05d.txt", i % 40, i)
            else if (c < 19) p = sprintf("lib/f%05d.so", i)
            else p = sprintf("system/libf%05d.so.1", i)
            put(s, p)
        }
        for (d in dirs) printf "D %s\n", d
    }' | LC_ALL=C sort >"$dir.plan" # "D" lines sort before "F" lines: directories first
    (
        cd "$dir"
        while read -r kind size off path; do
            case $kind in
                D) mkdir -p "$size" ;; # for D lines the path is the second field
                F)
                    if [ "$off" -ge 0 ]; then
                        dd if="$pool" of="$path" bs=1M iflag=skip_bytes,count_bytes skip="$off" count="$size" status=none
                    else
                        head -c "$size" /dev/urandom >"$path"
                    fi
                    ;;
            esac
        done <"$dir.plan"
    )
    rm -f "$dir.plan"
    chmod -R u+rwX,go+rX,go-w "$dir"
}

# ---------------------------------------------------------------------------------------------
# Preparation: set-up, a release build of pgext, a throwaway cluster

say "setting up (scripts/setup.sh)"
bash "$REPO/scripts/setup.sh"
load_setup

# Other root-crate builds install into the same PostgreSQL: never build or install alongside one.
# Cargo runs a `cargo pgrx …` command as `cargo-pgrx pgrx …`: both spellings are matched.
other_build() { pgrep -f "cargo[- ]pgrx " >/dev/null || pgrep -f "cargo (build|test|clippy|rustc) .*-p pgext( |$)" >/dev/null; }
if [ "$INSTALL" = 1 ]; then
    waited=0
    while other_build; do
        [ $waited -eq 0 ] && say "waiting for another build of pgext to finish: $(pgrep -af 'cargo[- ](pgrx|build|test)' | head -n1 | cut -c1-100)"
        [ $waited -lt 1800 ] || die "another pgext build has been running for 30 minutes; rerun later or set PGEXT_BENCH_INSTALL=0"
        sleep 10
        waited=$((waited + 10))
    done
    t0=$(now_us)
    PROFILE=release install_pgext
    say "release build installed in $(secs $(($(now_us) - t0))) s"
fi

WORK=$(mktemp -d /tmp/pgext-bench.XXXXXX)
chmod 0755 "$WORK"
DATA=$WORK/data
FX=$WORK/fx
REGISTRY=$WORK/registry
# Unmounts whatever the scale section mounted under $WORK/ro-extensions, deepest first.
unmount_images() {
    awk -v top="$WORK/ro-extensions" '$5 == top || index($5, top "/") == 1 { print $5 }' /proc/self/mountinfo |
        sort -r | while read -r m; do umount "$m" 2>/dev/null || true; done
}
cleanup() {
    cluster_stop "$DATA" immediate
    cluster_stop "$WORK/wdata" immediate
    unmount_images
    [ -d "$REGISTRY" ] && bash "$REPO/tests/registry/stop.sh" "$REGISTRY"
    if [ "$KEEP" = 1 ]; then echo "work directory kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
: >"$WORK/summary.tsv"
: >"$WORK/notes"

# The run uses a private copy of the freshly installed extension, first on both paths: another
# install into the same PostgreSQL during the run (a debug build, say) cannot change what is
# measured.
SNAP=$WORK/pgext
mkdir -p "$SNAP/lib" "$SNAP/share/extension"
cp "$PG_PKGLIBDIR/pgext.so" "$SNAP/lib/"
cp "$PG_SHAREDIR"/extension/pgext.control "$PG_SHAREDIR"/extension/pgext--*.sql "$SNAP/share/extension/"
chmod -R a+rX "$SNAP"
build_kind=release
sections=$(readelf -S "$SNAP/lib/pgext.so" 2>/dev/null || true)
[[ $sections == *.debug_info* ]] && build_kind="debug (has debug info)"
if [ "$INSTALL" = 1 ] && ! cmp -s "$SNAP/lib/pgext.so" "$REPO/target/release/libpgext.so"; then
    build_kind="$build_kind, but NOT the one just built (someone installed another build meanwhile)"
fi

say "machine"
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)
shani=no
grep -qw sha_ni /proc/cpuinfo && shani=yes
echo "cpu: $cpu, $(nproc) cores, SHA-NI: $shani, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)"
echo "tools: $(openssl version | cut -d' ' -f1-2), sha256sum $(sha256sum --version | head -n1 | awk '{ print $NF }'), $("$PG_CONFIG" --version)"
echo "pgext.so: $build_kind"
echo "load average at start: $(load_avg)"

say "laying out the regress fixture images in $FX"
fx_ok=true
mkdir -p "$FX"
if ! PG_CONFIG=$PG_CONFIG bash "$REPO/tests/pg_regress/make-tree.sh" "$FX" >"$WORK/make-tree.log" 2>&1; then
    fx_ok=false
    tail -n 5 "$WORK/make-tree.log"
    echo "fixture images unavailable: the views section will be skipped"
fi

{
    if $fx_ok; then
        # The fixture paths, with the private pgext first on both.
        sed -e "s|^extension_control_path = '|&$SNAP:|" -e "s|^dynamic_library_path = '|&$SNAP/lib:|" "$FX/regress.conf"
    else
        echo "extension_control_path = '$SNAP:\$system'"
        echo "dynamic_library_path = '$SNAP/lib:\$libdir'"
    fi
} >"$WORK/cluster.conf"
say "starting PostgreSQL in $DATA (port $PORT)"
cluster_start "$DATA" "$PORT" "$WORK/cluster.conf"
cluster_psql "$DATA" "$PORT" -d postgres -qc "CREATE DATABASE bench"
bsql <<'SQL'
CREATE EXTENSION pgext;
-- Server-side wall time of one query (its first column of its first row), without psql's start-up.
CREATE FUNCTION bench_time(q text, OUT seconds float8, OUT result text) LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz := clock_timestamp();
BEGIN
    EXECUTE q INTO result;
    seconds := extract(epoch FROM clock_timestamp() - t0);
END $$;
-- This backend's peak resident set size so far (VmHWM), in kB.
CREATE FUNCTION bench_hwm_kb() RETURNS bigint LANGUAGE sql AS $$
    SELECT (regexp_match(pg_read_file('/proc/self/status'), 'VmHWM:\s*(\d+)'))[1]::bigint $$;
SQL
[ "$(pgext_has 'pgext.reset_hash_cache()')" = t ] || die "CREATE EXTENSION pgext did not create its functions"

# ---------------------------------------------------------------------------------------------
# 1. Tree hashing

# pgext_hash ROOT IMAGE THREADS OUT: in one fresh session, hashes IMAGE under ROOT with an empty
# hash cache, then again with the cache the first query filled. OUT gets two lines,
# "<microseconds> <tree digest>", cold then cached.
pgext_hash() {
    bsql -v root="$1" -v image="$2" -v threads="$3" >"$4" <<'SQL'
SELECT pgext.reset_hash_cache() \g /dev/null
SET pgext.extensions_root = :'root';
SET pgext.hash_threads = :'threads';
SELECT format('SELECT tree_digest FROM pgext.mounted_images WHERE name = %L', :'image') AS q \gset
SELECT pgext.reset_hash_cache() \g /dev/null
SELECT round(seconds * 1e6)::bigint || ' ' || coalesce(result, '-') FROM bench_time(:'q');
SELECT round(seconds * 1e6)::bigint || ' ' || coalesce(result, '-') FROM bench_time(:'q');
SQL
}

section_hash() {
    local root=$WORK/hashroot img=$WORK/hashroot/bench_image list=$WORK/hash.list run=$WORK/hash.run
    local t0 bytes files chunk r us digest cached_digest shell_digest
    local -a p2 p1 cached sha ossl sha2 ossl2
    say "hash: building $BENCH_FILES files / $BENCH_MB MB in $img"
    t0=$(now_us)
    make_tree "$img" "$BENCH_FILES" "$BENCH_MB" 1
    (cd "$img" && find . -type f -print0 | LC_ALL=C sort -z) >"$list"
    files=$(tr -cd '\0' <"$list" | wc -c)
    bytes=$(find "$img" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
    echo "built in $(secs $(($(now_us) - t0))) s: $files files, $(calc "$bytes / $MB" 1) MB, largest $(find "$img" -type f -printf '%s\n' | sort -n | tail -n1 | awk -v mb=$MB '{ printf "%.1f MB", $1 / mb }')"
    (cd "$img" && xargs -0 -a "$list" cat >/dev/null) # warm the page cache
    # The 2-process runs get 16 batches of files, handed out as processes finish: few enough that
    # process start-up (openssl's is several ms) does not count, enough to balance the big files.
    chunk=$(((files + 15) / 16))

    # The same files and the same answer: pgext's digest is checked against the shell's.
    shell_digest=$(bash "$REPO/scripts/tree-digest.sh" "$img")
    echo "load average: $(load_avg); each measurement $BENCH_REPEAT times, interleaved, best kept"
    for r in $(seq "$BENCH_REPEAT"); do
        pgext_hash "$root" bench_image 0 "$run"
        { read -r us digest && p2+=("$us") && read -r us cached_digest && cached+=("$us"); } <"$run"
        [ "$digest" = "$shell_digest" ] || die "pgext's tree digest $digest differs from scripts/tree-digest.sh's $shell_digest"
        [ "$cached_digest" = "$digest" ] || die "the cached run gave another digest ($cached_digest)"
        pgext_hash "$root" bench_image 1 "$run"
        read -r us _ <"$run"
        p1+=("$us")
        sha+=("$(cd "$img" && time_us xargs -0 -a "$list" sha256sum --)")
        ossl+=("$(cd "$img" && time_us xargs -0 -a "$list" openssl dgst -sha256)")
        sha2+=("$(cd "$img" && time_us xargs -0 -a "$list" -P2 -n "$chunk" sha256sum --)")
        ossl2+=("$(cd "$img" && time_us xargs -0 -a "$list" -P2 -n "$chunk" openssl dgst -sha256)")
        printf 'run %d: pgext %s s (1 thread %s s, cached %s s) | sha256sum %s s | openssl %s s | 2 processes: sha256sum %s s, openssl %s s\n' \
            "$r" "$(secs "${p2[-1]}")" "$(secs "${p1[-1]}")" "$(secs "${cached[-1]}")" "$(secs "${sha[-1]}")" \
            "$(secs "${ossl[-1]}")" "$(secs "${sha2[-1]}")" "$(secs "${ossl2[-1]}")"
    done
    echo "pgext's digest $digest = scripts/tree-digest.sh's"
    echo "load average: $(load_avg)"

    local b_p2 b_p1 b_c b_sha b_ossl b_sha2 b_ossl2 mine ref
    b_p2=$(min_of "${p2[@]}") b_p1=$(min_of "${p1[@]}") b_c=$(min_of "${cached[@]}")
    b_sha=$(min_of "${sha[@]}") b_ossl=$(min_of "${ossl[@]}")
    b_sha2=$(min_of "${sha2[@]}") b_ossl2=$(min_of "${ossl2[@]}")
    row() { # row LABEL TIMES...: best and median of the runs
        local label=$1 best med
        shift
        best=$(min_of "$@") med=$(median_of "$@")
        printf '%-36s %8s %9s %10s %9s\n' "$label" "$(secs "$best")" "$(rate "$bytes" "$best")" "$(secs "$med")" "$(rate "$bytes" "$med")"
    }
    printf '%-36s %8s %9s %10s %9s\n' "" "best s" MB/s "median s" MB/s
    row "pgext, hash_threads=0 ($(nproc) threads)" "${p2[@]}"
    row "pgext, hash_threads=1" "${p1[@]}"
    row "sha256sum, 1 process" "${sha[@]}"
    row "openssl dgst -sha256, 1 process" "${ossl[@]}"
    row "xargs -P2 -n $chunk sha256sum" "${sha2[@]}"
    row "xargs -P2 -n $chunk openssl dgst" "${ossl2[@]}"
    printf '%-36s %8s   (cache hit: files are stat()ed, not re-read)\n' "pgext, cached" "$(secs "$b_c")"

    echo "pgext / openssl (1 process): best $(calc "$b_ossl / $b_p2"), median $(calc "$(median_of "${ossl[@]}") / $(median_of "${p2[@]}")")"
    # Ratios of throughputs: pgext / reference (higher is better).
    mine=$(rate "$bytes" "$b_p2")
    ref=$(rate "$bytes" "$b_ossl")
    record "tree hash MB/s vs openssl, 1 process" "$mine" "$ref" "$(calc "$b_ossl / $b_p2")" ">= 1.8" "$(meets "$(calc "$b_ossl / $b_p2")" '>=' 1.8)"
    record "tree hash MB/s vs sha256sum, 1 process" "$mine" "$(rate "$bytes" "$b_sha")" "$(calc "$b_sha / $b_p2")" - -
    record "tree hash MB/s vs xargs -P2 sha256sum" "$mine" "$(rate "$bytes" "$b_sha2")" "$(calc "$b_sha2 / $b_p2")" - -
    record "tree hash MB/s vs xargs -P2 openssl" "$mine" "$(rate "$bytes" "$b_ossl2")" "$(calc "$b_ossl2 / $b_p2")" - -
    record "tree hash MB/s, 1 thread vs openssl" "$(rate "$bytes" "$b_p1")" "$ref" "$(calc "$b_ossl / $b_p1")" - -
    record "tree hash, cached run (s)" "$(secs "$b_c")" - - - -
    rm -rf "$root" "$list" "$run"
}

# ---------------------------------------------------------------------------------------------
# 2. Views against pg_available_extensions

# pgbench_latency FILE: sets LATENCY to the average latency (ms) of FILE run by pgbench for
# BENCH_SECONDS on one connection, after one warm-up run.
pgbench_latency() {
    local out=$1.out
    bsql -f "$1" >/dev/null
    if ! "$PG_BINDIR/pgbench" -n -f "$1" -T "$BENCH_SECONDS" -c 1 -h "$DATA" -p "$PORT" -U postgres bench >"$out" 2>&1; then
        cat "$out" >&2
        return 1
    fi
    LATENCY=$(sed -n 's/^latency average = \([0-9.]*\) ms$/\1/p' "$out")
    [ -n "$LATENCY" ] || { cat "$out" >&2; echo "no latency in pgbench's output" >&2; return 1; }
}

section_views() {
    if ! $fx_ok; then
        skip "mounted_extensions latency (ms)" "the regress fixture images could not be built (see $WORK/make-tree.log)"
        return 0
    fi
    local d=$WORK/pgbench v ref ratio
    mkdir -p "$d"
    for v in pg_available_extensions pgext.mounted_extensions pgext.libraries pgext.mounted_images; do
        echo "SELECT * FROM $v;" >"$d/$v.sql"
    done
    echo "rows: pg_available_extensions $(bsql <<<'SELECT count(*) FROM pg_available_extensions')," \
        "mounted_extensions $(bsql <<<'SELECT count(*) FROM pgext.mounted_extensions')" \
        "($(bsql <<<'SELECT count(*) FROM pgext.mounted_extensions WHERE visible') visible)," \
        "libraries $(bsql <<<'SELECT count(*) FROM pgext.libraries')," \
        "mounted_images $(bsql <<<'SELECT count(*) FROM pgext.mounted_images')"
    echo "pgbench -n -c 1 -T $BENCH_SECONDS per query, after one warm-up run; load average: $(load_avg)"
    pgbench_latency "$d/pg_available_extensions.sql"
    ref=$LATENCY
    printf '%-28s %8s ms\n' pg_available_extensions "$ref"
    for v in mounted_extensions libraries mounted_images; do
        pgbench_latency "$d/pgext.$v.sql"
        ratio=$(calc "$LATENCY / $ref")
        printf '%-28s %8s ms  (%s x pg_available_extensions)\n' "pgext.$v" "$LATENCY" "$ratio"
        if [ $v = mounted_extensions ]; then
            record "$v latency (ms)" "$LATENCY" "$ref" "$ratio" "<= 1.5" "$(meets "$ratio" '<=' 1.5)"
        else
            record "$v latency (ms)" "$LATENCY" "$ref" "$ratio" - -
        fi
    done
    echo "load average: $(load_avg)"
}

# ---------------------------------------------------------------------------------------------
# 3a. OCI verification against skopeo

# blob LAYOUT FILE: moves FILE into LAYOUT's blob store; sets BLOB_DIGEST and BLOB_SIZE.
blob() {
    local h
    h=$(sha256sum "$2" | cut -c1-64)
    BLOB_DIGEST=sha256:$h
    BLOB_SIZE=$(stat -c %s "$2")
    mv "$2" "$1/blobs/sha256/$h"
}

# oci_layout TREE LAYOUT TAG: writes a one-layer (gzip) OCI image layout of TREE by hand, as the
# OCI integration tests do; sets LAYER_SIZE and LAYER_BLOB (the layer's file).
oci_layout() {
    local tree=$1 l=$2 tag=$3 diff_id layer config arch
    arch=$(dpkg --print-architecture)
    rm -rf "$l"
    mkdir -p "$l/blobs/sha256"
    tar --format=ustar --sort=name --numeric-owner --owner=0 --group=0 --mtime=@0 -C "$tree" -cf "$l/layer.tar" .
    diff_id=sha256:$(sha256sum "$l/layer.tar" | cut -c1-64)
    gzip -n -6 "$l/layer.tar"
    blob "$l" "$l/layer.tar.gz"
    layer=$BLOB_DIGEST LAYER_SIZE=$BLOB_SIZE LAYER_BLOB=$l/blobs/sha256/${BLOB_DIGEST#sha256:}
    printf '{"architecture":"%s","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":["%s"]}}' \
        "$arch" "$diff_id" >"$l/config.json"
    blob "$l" "$l/config.json"
    config=$BLOB_DIGEST
    printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"%s","size":%d}]}' \
        "$config" "$BLOB_SIZE" "$layer" "$LAYER_SIZE" >"$l/manifest.json"
    blob "$l" "$l/manifest.json"
    printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%d,"annotations":{"org.opencontainers.image.ref.name":"%s"}}]}' \
        "$BLOB_DIGEST" "$BLOB_SIZE" "$tag" >"$l/index.json"
    echo '{"imageLayoutVersion":"1.0.0"}' >"$l/oci-layout"
}

section_oci() {
    if [ "$(pgext_has 'pgext.verify_image(text)')" != t ] || [ "$(pgext_has 'pgext.pin_image(text,text)')" != t ]; then
        skip "OCI verify time (s) vs skopeo copy" "pgext.verify_image(text) / pgext.pin_image(text, text) do not exist yet"
        return 0
    fi
    local rc=0 port root=$WORK/ext-oci layout=$WORK/oci-layout remote ref r out=$WORK/oci.run
    local -a pg sk growth res gz warm
    bash "$REPO/tests/registry/start.sh" --check-tools >/dev/null || rc=$?
    if [ $rc -ne 0 ]; then
        skip "OCI verify time (s) vs skopeo copy" "docker-registry/skopeo missing and not installable (tests/registry/start.sh --check-tools: exit $rc)"
        return 0
    fi
    say "oci: building a $BENCH_OCI_MB MB image and pushing it to a local registry"
    make_tree "$root/ocibench" $((BENCH_OCI_MB * 4)) "$BENCH_OCI_MB" 2
    oci_layout "$root/ocibench" "$layout" 1
    port=$(bash "$REPO/tests/registry/start.sh" "$REGISTRY")
    remote=127.0.0.1:$port/pgext-bench/ocibench:1
    skopeo copy --quiet --dest-tls-verify=false --preserve-digests --digestfile "$WORK/oci.digest" \
        "oci:$layout:1" "docker://$remote"
    ref=$remote@$(cat "$WORK/oci.digest")
    echo "image $ref: one $(calc "$LAYER_SIZE / $MB" 1) MB gzip layer; tree $(du -sb "$root/ocibench" | awk -v mb=$MB '{ printf "%.1f MB", $1 / mb }')"

    # Plain HTTP for this registry only; a reload is enough unless the setting is postmaster-only.
    bsql -v reg="127.0.0.1:$port" <<'SQL'
SELECT pgext.reset_hash_cache() \g /dev/null
ALTER SYSTEM SET pgext.insecure_registries = :'reg';
SELECT pg_reload_conf() \g /dev/null
SQL
    if [ "$(bsql <<<"SELECT context FROM pg_settings WHERE name = 'pgext.insecure_registries'")" = postmaster ]; then
        cluster_stop "$DATA"
        cluster_start "$DATA" "$PORT" "$WORK/cluster.conf"
    fi
    bsql -v root="$root" -v ref="$ref" >/dev/null <<'SQL'
SET pgext.extensions_root = :'root';
SELECT pgext.pin_image('ocibench', :'ref');
SQL

    echo "load average: $(load_avg); each measurement $BENCH_REPEAT times, interleaved, best kept"
    for r in $(seq "$BENCH_REPEAT"); do
        # A fresh session each time, pgext already loaded: the VmHWM growth is the verification's.
        bsql -v root="$root" >"$out" <<'SQL'
SELECT pgext.reset_hash_cache() \g /dev/null
SET pgext.extensions_root = :'root';
SET pgext.reuse_recorded_trees = off;
SELECT bench_hwm_kb();
SELECT round(seconds * 1e6)::bigint FROM bench_time($q$SELECT string_agg(v::text, E'\n') FROM pgext.verify_image('ocibench') v$q$);
SELECT bench_hwm_kb();
SQL
        mapfile -t res <"$out"
        pg+=("${res[1]}")
        growth+=("$((res[2] - res[0]))")
        rm -rf "$WORK/skopeo-out"
        sk+=("$(time_us skopeo copy --quiet --src-tls-verify=false "docker://$remote" "oci:$WORK/skopeo-out:1")")
        # The floor: inflating the layer alone (nothing downloaded, parsed or hashed).
        gz+=("$(time_us sh -c 'gzip -dc "$1" >/dev/null' gunzip "$LAYER_BLOB")")
        # A second verification in one session: the mount's files are unchanged since the first
        # hashed them, so they are not read again (the hash cache); the image side is redone.
        bsql -v root="$root" >"$out" <<'SQL'
SELECT pgext.reset_hash_cache() \g /dev/null
SET pgext.extensions_root = :'root';
SET pgext.reuse_recorded_trees = off;
SELECT count(*) FROM pgext.verify_image('ocibench') \g /dev/null
SELECT round(seconds * 1e6)::bigint FROM bench_time($q$SELECT string_agg(v::text, E'\n') FROM pgext.verify_image('ocibench') v$q$);
SQL
        warm+=("$(cat "$out")")
        printf 'run %d: pgext.verify_image %s s (peak RSS +%s MB; mount already hashed: %s s) | skopeo copy to an oci: layout %s s | gunzip of the layer %s s\n' \
            "$r" "$(secs "${pg[-1]}")" "$(calc "${growth[-1]} / 1024" 1)" "$(secs "${warm[-1]}")" "$(secs "${sk[-1]}")" "$(secs "${gz[-1]}")"
    done
    echo "SELECT * FROM pgext.verify_image('ocibench'):"
    bsql -v root="$root" -x >"$out" <<'SQL'
SET pgext.extensions_root = :'root';
SET pgext.reuse_recorded_trees = off;
SELECT * FROM pgext.verify_image('ocibench');
SQL
    head -n 30 "$out" | cut -c1-160 | sed 's/^/  /'
    echo "load average: $(load_avg)"

    local b_pg b_sk b_gz b_warm g ratio
    b_pg=$(min_of "${pg[@]}") b_sk=$(min_of "${sk[@]}") b_gz=$(min_of "${gz[@]}") b_warm=$(min_of "${warm[@]}")
    g=$(calc "$(printf '%s\n' "${growth[@]}" | sort -n | tail -n1) / 1024" 1)
    ratio=$(calc "$b_pg / $b_sk")
    record "OCI verify time (s) vs skopeo copy" "$(secs "$b_pg")" "$(secs "$b_sk")" "$ratio" "<= 1.0" "$(meets "$ratio" '<=' 1.0)"
    ratio=$(calc "$b_warm / $b_sk")
    record "  mount already hashed (s) vs skopeo copy" "$(secs "$b_warm")" "$(secs "$b_sk")" "$ratio" "<= 1.0" "$(meets "$ratio" '<=' 1.0)"
    record "  verify (s) vs the floor: gunzip the layer" "$(secs "$b_pg")" "$(secs "$b_gz")" "$(calc "$b_pg / $b_gz")" - -
    record "OCI verify peak RSS growth (MiB)" "$g" - - "<= 64" "$(meets "$g" '<=' 64)"
    bash "$REPO/tests/registry/stop.sh" "$REGISTRY"
    rm -rf "$root" "$layout" "$WORK/skopeo-out"
    oci_phases
}

# 3b. A repeated verification: the expected tree of the pinned manifest is recorded, so no layer
# is downloaded; the manifests, config and signature are read and the mount is scanned again.
section_reverify() {
    if [ "$(pgext_has 'pgext.verify_image(text)')" != t ] \
        || [ "$(bsql <<<"LOAD 'pgext'; SELECT count(*) FROM pg_settings WHERE name = 'pgext.reuse_recorded_trees'")" != 1 ]; then
        skip "repeated OCI verify (s) vs skopeo copy" "pgext.reuse_recorded_trees does not exist yet"
        return 0
    fi
    local rc=0 port root=$WORK/ext-reverify layout=$WORK/reverify-layout remote ref r out=$WORK/reverify.run
    local -a same fresh first sk
    bash "$REPO/tests/registry/start.sh" --check-tools >/dev/null || rc=$?
    if [ $rc -ne 0 ]; then
        skip "repeated OCI verify (s) vs skopeo copy" "docker-registry/skopeo missing and not installable (tests/registry/start.sh --check-tools: exit $rc)"
        return 0
    fi
    say "reverify: building a $BENCH_OCI_MB MB image and pushing it to a local registry"
    make_tree "$root/rvbench" $((BENCH_OCI_MB * 4)) "$BENCH_OCI_MB" 2
    oci_layout "$root/rvbench" "$layout" 1
    port=$(bash "$REPO/tests/registry/start.sh" "$REGISTRY.rv" --access-log)
    remote=127.0.0.1:$port/pgext-bench/rvbench:1
    skopeo copy --quiet --dest-tls-verify=false --preserve-digests --digestfile "$WORK/rv.digest" \
        "oci:$layout:1" "docker://$remote"
    ref=$remote@$(cat "$WORK/rv.digest")
    echo "image $ref: one $(calc "$LAYER_SIZE / $MB" 1) MB gzip layer"
    bsql -v reg="127.0.0.1:$port" <<'SQL'
ALTER SYSTEM SET pgext.insecure_registries = :'reg';
SELECT pg_reload_conf() \g /dev/null
SQL
    if [ "$(bsql <<<"SELECT context FROM pg_settings WHERE name = 'pgext.insecure_registries'")" = postmaster ]; then
        cluster_stop "$DATA"
        cluster_start "$DATA" "$PORT" "$WORK/cluster.conf"
    fi
    bsql -v root="$root" -v ref="$ref" >/dev/null <<'SQL'
SET pgext.extensions_root = :'root';
SELECT pgext.pin_image('rvbench', :'ref');
SQL
    local log=$REGISTRY.rv/registry.log layer_hex=${LAYER_BLOB##*/} before layer_gets=0
    echo "load average: $(load_avg); each measurement $BENCH_REPEAT times, interleaved, best kept"
    for r in $(seq "$BENCH_REPEAT"); do
        # One session: a first verification (records the tree, hashes the mount), then a repeated
        # one, as the worker repeats them (its digest cache knows the unchanged files).
        before=$(wc -l <"$log")
        bsql -v root="$root" >"$out" <<'SQL'
SELECT pgext.reset_hash_cache() \g /dev/null
SET pgext.extensions_root = :'root';
SET pgext.reuse_recorded_trees = off;
SELECT round(seconds * 1e6)::bigint FROM bench_time($q$SELECT string_agg(v::text, E'\n') FROM pgext.verify_image('rvbench') v$q$);
RESET pgext.reuse_recorded_trees;
SELECT round(seconds * 1e6)::bigint FROM bench_time($q$SELECT string_agg(v::text, E'\n') FROM pgext.verify_image('rvbench') v$q$);
SELECT status FROM pgext.image_checks WHERE name = 'rvbench';
SQL
        mapfile -t res <"$out"
        first+=("${res[0]}")
        same+=("${res[1]}")
        [ "${res[2]}" = verified ] || die "reverify: the repeated verification ended ${res[2]}"
        # A new session repeats it: its digest cache starts empty (no worker here), so the mount
        # is read again, but still no layer is downloaded.
        bsql -v root="$root" >"$out" <<'SQL'
SELECT pgext.reset_hash_cache() \g /dev/null
SET pgext.extensions_root = :'root';
SELECT round(seconds * 1e6)::bigint FROM bench_time($q$SELECT string_agg(v::text, E'\n') FROM pgext.verify_image('rvbench') v$q$);
SQL
        fresh+=("$(cat "$out")")
        layer_gets=$(tail -n +"$((before + 1))" "$log" | grep -c "GET /v2/pgext-bench/rvbench/blobs/sha256:$layer_hex" || true)
        rm -rf "$WORK/skopeo-out"
        sk+=("$(time_us skopeo copy --quiet --src-tls-verify=false "docker://$remote" "oci:$WORK/skopeo-out:1")")
        printf 'run %d: first verification %s s | repeated, same session %s s | repeated, new session %s s | skopeo copy %s s | layer downloads in the 3 verifications: %s\n' \
            "$r" "$(secs "${first[-1]}")" "$(secs "${same[-1]}")" "$(secs "${fresh[-1]}")" "$(secs "${sk[-1]}")" "$layer_gets"
    done
    echo "load average: $(load_avg)"
    local b_first b_same b_fresh b_sk ratio
    b_first=$(min_of "${first[@]}") b_same=$(min_of "${same[@]}") b_fresh=$(min_of "${fresh[@]}") b_sk=$(min_of "${sk[@]}")
    ratio=$(calc "$b_same / $b_sk")
    record "repeated OCI verify (s) vs skopeo copy" "$(secs "$b_same")" "$(secs "$b_sk")" "$ratio" "<= 0.1" "$(meets "$ratio" '<=' 0.1)"
    record "  repeated, new session (s) vs skopeo copy" "$(secs "$b_fresh")" "$(secs "$b_sk")" "$(calc "$b_fresh / $b_sk")" - -
    record "  first verification (s) vs skopeo copy" "$(secs "$b_first")" "$(secs "$b_sk")" "$(calc "$b_first / $b_sk")" - -
    record "  layer downloads per 3 verifications" "$layer_gets" - - "1" "$([ "$layer_gets" = 1 ] && echo yes || echo no)"
    bash "$REPO/tests/registry/stop.sh" "$REGISTRY.rv"
    rm -rf "$root" "$layout" "$WORK/skopeo-out"
}

# Where a verification's time goes, phase by phase, outside the server (oci/src/bench.rs: the same
# image built by this script's functions, a registry of its own, each phase alone on one spool).
oci_phases() {
    local log=$WORK/oci-phases.log
    say "oci: phases (cargo test -p pgext-oci --release --lib bench::verify_phases)"
    if (cd "$REPO" && PGEXT_OCI_BENCH_REPEAT=$BENCH_REPEAT PGEXT_OCI_BENCH_MB=$BENCH_OCI_MB \
        cargo test --quiet -p pgext-oci --release --lib bench::verify_phases -- --ignored --nocapture --test-threads=1) >"$log" 2>&1; then
        sed -n '/^phase (s)/,/^test /p' "$log" | grep -v '^test '
    else
        tail -n 5 "$log"
        echo "note: the phase breakdown did not run (see above)"
        echo "oci: the phase breakdown did not run" >>"$WORK/notes"
    fi
}

# ---------------------------------------------------------------------------------------------
# 3b. Compatibility analysis of a PostGIS-sized image against hashing it

POSTGIS_CACHE=$(cache_root)/bench/postgis
POSTGIS_RECIPE=2 # bump when postgis_image changes what it downloads or how it lays it out

# Debian's postgresql-18-postgis-3 from unstable, laid out as CloudNativePG's PostGIS image in
# $POSTGIS_CACHE/image: lib/, share/{extension,contrib,proj,gdal}, licenses/, and system/ with the
# libraries of every package that installing PostGIS adds to an installed PostgreSQL server (what
# the image's build copies). Downloads go through a private apt configuration kept in the cache
# (nothing under /etc changes, nothing is installed) and are kept for later runs.
postgis_image() {
    local c=$POSTGIS_CACHE apt_dir=$POSTGIS_CACHE/apt
    [ "$(cat "$c/image.done" 2>/dev/null)" = "$POSTGIS_RECIPE" ] && [ -d "$c/image" ] && return 0
    mkdir -p "$c"
    if [ "$(cat "$c/debs.done" 2>/dev/null)" != "$POSTGIS_RECIPE" ]; then
        # scripts/debian.sh: an empty dpkg status and no system pins, so candidates and the
        # simulated installs below are unstable's alone.
        source "$REPO/scripts/debian.sh"
        apt_private_init "$apt_dir" unstable amd64
        echo "apt-get update (unstable; private lists in $apt_dir)"
        apt_private_update
        # What apt would install on an empty system, with and without PostGIS: the difference is
        # what a PostGIS image adds to the server's base image (first alternatives, as apt picks).
        closure() {
            apt_private --simulate --no-install-recommends install "$@" >"$c/simulate-$1.log"
            sed -n 's/^Inst \([^ ]*\) .*/\1/p' "$c/simulate-$1.log" | LC_ALL=C sort -u
        }
        closure postgresql-18-postgis-3 postgresql-18-postgis-3-scripts >"$c/closure-postgis"
        closure postgresql-18 >"$c/closure-server"
        {
            echo postgresql-18-postgis-3
            echo postgresql-18-postgis-3-scripts
            # Libraries the server does not bring, and the data PostGIS's image ships.
            LC_ALL=C comm -23 "$c/closure-postgis" "$c/closure-server" | { grep -E '^lib' || true; }
            grep -xE 'proj-data|gdal-data' "$c/closure-postgis" || true
        } | LC_ALL=C sort -u >"$c/packages"
        echo "downloading $(wc -l <"$c/packages") packages into $c/debs"
        rm -rf "$c/debs"
        mapfile -t specs < <(sed 's|$|/unstable|' "$c/packages")
        apt_fetch "$c/debs" "${specs[@]}"
        apt_private_drop_lists # tens of MB; a later download run updates them anyway
        echo "$POSTGIS_RECIPE" >"$c/debs.done"
    fi

    echo "assembling the image from $(find "$c/debs" -name '*.deb' | wc -l) packages"
    local root=$c/root sysroot=$c/sysroot img=$c/image.new deb pkg ctl
    rm -rf "$root" "$sysroot" "$img" "$c/image.done"
    mkdir -p "$root" "$sysroot" "$img"/{lib,share/extension,system,licenses}
    for deb in "$c"/debs/*.deb; do
        pkg=$(dpkg-deb -f "$deb" Package)
        case $pkg in
            postgresql-18-postgis-3* | proj-data | gdal-data) dpkg-deb -x "$deb" "$root" ;;
            *) dpkg-deb -x "$deb" "$sysroot" ;;
        esac
    done
    cp -a "$root/usr/lib/postgresql/18/lib/." "$img/lib/"
    cp -a "$root/usr/share/postgresql/18/extension/." "$img/share/extension/"
    if [ -d "$root/usr/share/postgresql/18/contrib" ]; then mkdir -p "$img/share/contrib" && cp -a "$root/usr/share/postgresql/18/contrib/." "$img/share/contrib/"; fi
    if [ -d "$root/usr/share/proj" ]; then mkdir -p "$img/share/proj" && cp -a "$root/usr/share/proj/." "$img/share/proj/"; fi
    if [ -d "$root/usr/share/gdal" ]; then mkdir -p "$img/share/gdal" && cp -a "$root/usr/share/gdal/." "$img/share/gdal/"; fi
    cp -a "$sysroot/usr/lib/x86_64-linux-gnu/." "$img/system/"
    for d in "$root/usr/share/doc"/* "$sysroot/usr/share/doc"/*; do
        if [ -f "$d/copyright" ]; then mkdir -p "$img/licenses/${d##*/}" && cp "$d/copyright" "$img/licenses/${d##*/}/"; fi
    done
    # What the package's postinst does through update-alternatives: postgis.control from
    # postgis-3.control, and so on.
    for ctl in "$img"/share/extension/*-3.control; do
        [ -e "$ctl" ] || continue
        [ -e "${ctl%-3.control}.control" ] || cp "$ctl" "${ctl%-3.control}.control"
    done
    # As CloudNativePG's image does: scripts name the bare module, not '$libdir/...'.
    find "$img/share" -name '*.sql' -exec sed -i "s/'\$libdir\//'/g" {} +
    chmod -R u+rwX,go+rX,go-w "$img"
    rm -rf "$root" "$sysroot" "$c/image"
    mv "$img" "$c/image"
    echo "$POSTGIS_RECIPE" >"$c/image.done"
}

# postgis_or_skip METRIC: builds (or finds) the PostGIS image; when that fails, records METRIC as
# skipped and fails. In a subshell of its own with -e, so that a download failure skips the section
# only.
postgis_or_skip() {
    local rc
    set +e
    (
        set -e
        postgis_image
    )
    rc=$?
    set -e
    [ $rc -eq 0 ] && return 0
    skip "$1" "the PostGIS image could not be built (exit $rc; logs in $POSTGIS_CACHE)"
    return 1
}

section_compat() {
    if [ "$(pgext_has 'pgext.check_extension(text)')" != t ]; then
        skip "compat analysis (s) vs hashing image" "pgext.check_extension(text) does not exist yet"
        return 0
    fi
    local root=$WORK/ext-compat img=$WORK/ext-compat/postgis r us wus ecp dlp out=$WORK/compat.run t0
    local -a an aw hs pf
    local check=$REPO/target/release/pgext-check
    (cd "$REPO" && cargo build --quiet --release -p pgext-check) || check=""
    say "compat: Debian's PostGIS as a CloudNativePG image (cached in $POSTGIS_CACHE)"
    postgis_or_skip "compat analysis (s) vs hashing image" || return 0
    rm -rf "$root"
    mkdir -p "$root"
    cp -a "$POSTGIS_CACHE/image" "$img"
    echo "image: $(find "$img" -type f | wc -l) files, $(du -sb "$img" | awk -v mb=$MB '{ printf "%.1f MB", $1 / mb }'), $(find "$img/system" -name '*.so*' -type f | wc -l) system libraries"

    # CloudNativePG puts the image's system/ on the server's LD_LIBRARY_PATH (ld_library_path):
    # restart with it, for the postmaster only. Should the server refuse to start that way,
    # analyse without it and say so.
    cluster_stop "$DATA"
    if ! as_owner env LD_LIBRARY_PATH="$img/system" "$PG_BINDIR/pg_ctl" -D "$DATA" -l "$DATA/server.log" -w -t 60 start >/dev/null; then
        echo "note: the server does not start with $img/system on LD_LIBRARY_PATH; analysing without it"
        echo "compat: the image's system/ is not on LD_LIBRARY_PATH (the server did not start with it)" >>"$WORK/notes"
        cluster_start "$DATA" "$PORT" "$WORK/cluster.conf"
    fi
    ecp="$SNAP:\$system:$img/share"
    dlp="$SNAP/lib:\$libdir:$img/lib"
    echo "load average: $(load_avg); each measurement $BENCH_REPEAT times, interleaved, best kept"
    for r in $(seq "$BENCH_REPEAT"); do
        bsql -v root="$root" -v ecp="$ecp" -v dlp="$dlp" >"$out" <<'SQL'
SELECT pgext.reset_hash_cache() \g /dev/null
SET pgext.extensions_root = :'root';
SET extension_control_path = :'ecp';
SET dynamic_library_path = :'dlp';
SELECT round(seconds * 1e6)::bigint FROM bench_time($q$SELECT pgext.check_extension('postgis')::text$q$);
SELECT round(seconds * 1e6)::bigint FROM bench_time($q$SELECT pgext.check_extension('postgis')::text$q$);
SQL
        # Cold (every pgext cache of this backend reset), then warm (the same backend again).
        { read -r us; read -r wus; } <"$out"
        an+=("$us")
        aw+=("$wus")
        pgext_hash "$root" postgis 0 "$out"
        read -r us _ <"$out"
        hs+=("$us")
        # Pre-flight outside the server: the same image judged against this installation by
        # pgext-check (a new process: nothing cached).
        if [ -n "$check" ]; then
            t0=$(now_us)
            "$check" --server "$(dirname "$PG_BINDIR")" --image "postgis=$img" --json >/dev/null || true
            pf+=($(($(now_us) - t0)))
        fi
        printf 'run %d: pgext.check_extension cold %s s, warm %s s | pgext-check pre-flight %s s | pgext hashing the image %s s\n' "$r" \
            "$(secs "${an[-1]}")" "$(secs "${aw[-1]}")" "$(secs "${pf[-1]:-0}")" "$(secs "${hs[-1]}")"
    done
    echo "check_extension('postgis'), in short:"
    bsql -v root="$root" -v ecp="$ecp" -v dlp="$dlp" >"$out" <<'SQL'
SET pgext.extensions_root = :'root';
SET extension_control_path = :'ecp';
SET dynamic_library_path = :'dlp';
SELECT pgext.check_extension('postgis') AS c \gset
SELECT 'compatible: ' || coalesce(c->>'compatible', 'null') || ', libraries analysed: '
       || CASE jsonb_typeof(c->'libraries') WHEN 'array' THEN jsonb_array_length(c->'libraries')::text ELSE '-' END
  FROM (SELECT :'c'::jsonb AS c) s;
SELECT 'problems: ' || coalesce(string_agg(code || ' x' || n, ', ' ORDER BY code), 'none')
  FROM (SELECT p->>'code' AS code, count(*) AS n
          FROM (SELECT :'c'::jsonb->'problems' AS ps) j,
               jsonb_array_elements(CASE jsonb_typeof(ps) WHEN 'array' THEN ps ELSE '[]' END) p
         GROUP BY 1) s;
SQL
    sed 's/^/  /' "$out"
    echo "load average: $(load_avg)"

    local b_an b_aw b_hs ratio
    b_an=$(min_of "${an[@]}") b_aw=$(min_of "${aw[@]}") b_hs=$(min_of "${hs[@]}")
    ratio=$(calc "$b_an / $b_hs")
    record "compat analysis (s) vs hashing image" "$(secs "$b_an")" "$(secs "$b_hs")" "$ratio" "<= 0.5" "$(meets "$ratio" '<=' 0.5)"
    ratio=$(calc "$b_aw / $b_hs")
    record "compat analysis, warm (s) vs hashing image" "$(secs "$b_aw")" "$(secs "$b_hs")" "$ratio" "<= 0.5" "$(meets "$ratio" '<=' 0.5)"
    if [ ${#pf[@]} -gt 0 ]; then
        local b_pf
        b_pf=$(min_of "${pf[@]}")
        ratio=$(calc "$b_pf / $b_hs")
        record "pre-flight PostGIS, pgext-check (s) vs hashing image" "$(secs "$b_pf")" "$(secs "$b_hs")" "$ratio" "-" "-"
    else
        skip "pre-flight PostGIS, pgext-check (s) vs hashing image" "pgext-check did not build"
    fi
    rm -rf "$root"
}

# ---------------------------------------------------------------------------------------------
# 4b. Pre-flight by reference: a server image (this PostgreSQL 18 with the libraries its postgres
#     loads, in a root file system) and the PostGIS image, both as OCI layouts. pgext-check
#     fetches, verifies and unpacks them (the server for analysis only) and judges; the reference
#     is what one would do by hand: umoci unpacking both, then pgext-check on the directories.

section_preflight() {
    local pf=$WORK/preflight check=$REPO/target/release/pgext-check lib triplet r t0
    local -a ref unp dir
    (cd "$REPO" && cargo build --quiet --release -p pgext-check) || {
        skip "pre-flight by reference (s) vs umoci + directories" "pgext-check did not build"
        return 0
    }
    postgis_or_skip "pre-flight by reference (s) vs umoci + directories" || return 0
    rm -rf "$pf"
    triplet=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)
    local srv=$pf/server-root prefix
    prefix=$(dirname "$PG_BINDIR")
    mkdir -p "$srv/usr/lib/postgresql/18/lib" "$srv/usr/lib/postgresql/18/share" "$srv/lib/$triplet" "$srv/lib64" "$srv/etc"
    cp -a "$PG_BINDIR" "$srv/usr/lib/postgresql/18/"
    cp -a "$("$PG_CONFIG" --pkglibdir)" "$srv/usr/lib/postgresql/18/lib/postgresql"
    cp -a "$("$PG_CONFIG" --sharedir)" "$srv/usr/lib/postgresql/18/share/postgresql"
    for lib in $(ldd "$PG_BINDIR/postgres" | awk '/=> \//{print $3}'); do cp -L "$lib" "$srv/lib/$triplet/"; done
    cp -L /lib64/ld-linux-x86-64.so.2 "$srv/lib64/" 2>/dev/null || true
    cp -L /etc/os-release "$srv/etc/os-release"
    local L=$pf/layout rootless=()
    [ "$(id -u)" = 0 ] || rootless=(--rootless)
    umoci init --layout "$L" >/dev/null
    umoci new --image "$L:server" >/dev/null
    umoci insert "${rootless[@]}" --image "$L:server" "$srv" / >/dev/null
    umoci new --image "$L:postgis" >/dev/null
    umoci insert "${rootless[@]}" --image "$L:postgis" "$POSTGIS_CACHE/image" / >/dev/null
    rm -rf "$srv"
    echo "server image: $(du -sb "$L" | awk -v mb=$MB '{ printf "%.1f MB", $1 / mb }') of layout with the PostGIS image ($(find "$POSTGIS_CACHE/image" -type f | wc -l) files)"
    echo "load average: $(load_avg); each measurement $BENCH_REPEAT times, interleaved, best kept"
    mkdir -p "$pf/work"
    for r in $(seq "$BENCH_REPEAT"); do
        t0=$(now_us)
        "$check" --work-dir "$pf/work" --server "oci:$L:server" --image "postgis=oci:$L:postgis" >"$pf/table.txt" || true
        ref+=($(($(now_us) - t0)))
        rm -rf "$pf/u-server" "$pf/u-postgis"
        t0=$(now_us)
        umoci raw unpack "${rootless[@]}" --image "$L:server" "$pf/u-server" >/dev/null 2>&1
        umoci raw unpack "${rootless[@]}" --image "$L:postgis" "$pf/u-postgis" >/dev/null 2>&1
        unp+=($(($(now_us) - t0)))
        t0=$(now_us)
        "$check" --server "$pf/u-server" --image "postgis=$pf/u-postgis" >/dev/null || true
        dir+=($(($(now_us) - t0)))
        printf 'run %d: pgext-check by reference %s s | umoci unpack %s s + pgext-check on directories %s s\n' "$r" \
            "$(secs "${ref[-1]}")" "$(secs "${unp[-1]}")" "$(secs "${dir[-1]}")"
    done
    sed -n '1,3p;$p' "$pf/table.txt" | sed 's/^/  /'
    local b_ref b_unp b_dir both ratio
    b_ref=$(min_of "${ref[@]}") b_unp=$(min_of "${unp[@]}") b_dir=$(min_of "${dir[@]}")
    both=$((b_unp + b_dir))
    ratio=$(calc "$b_ref / $both")
    record "pre-flight by reference (s) vs umoci + directories" "$(secs "$b_ref")" "$(secs "$both")" "$ratio" "<= 1" "$(meets "$ratio" '<=' 1)"
    record "  of which umoci unpack (s) / directory pre-flight (s)" "$(secs "$b_unp")" "$(secs "$b_dir")" - - -
    rm -rf "$pf"
}

# ---------------------------------------------------------------------------------------------
# 5. Scale: the wide oracle corpus, 10 / 30 / all images

# first_query_us DB VIEW: median over 3 new sessions of the server-side time of the session's
# first query of VIEW (connection start-up excluded).
# first_query_us DB VIEW: "COLD FIRST" in microseconds, server-side: COLD is the first query of
# the first session of DB (nothing derived under its settings yet), FIRST the median of the first
# queries of 3 new sessions after it (what a monitoring scrape pays once any session or the
# worker has read the same files).
first_query_us() {
    local db=$1 v=$2 i us=() one
    one() {
        cluster_psql "$DATA" "$PORT" -d "$db" -qAt -v q="SELECT count(*) FROM $v" \
            <<<"SELECT round(seconds * 1e6)::bigint FROM bench_time(:'q')"
    }
    local cold
    cold=$(one)
    for i in 1 2 3; do us+=("$(one)"); done
    echo "$cold $(median_of "${us[@]}")"
}

section_scale() {
    local corpus=$WORK/corpus ext
    say "scale: building or reusing the wide oracle corpus (tests/oracle/build-corpus.sh)"
    if ! bash "$REPO/tests/oracle/build-corpus.sh" "$corpus" >"$WORK/corpus.log" 2>&1; then
        tail -n 5 "$WORK/corpus.log"
        skip "scale: mounted_extensions warm (ms)" "the oracle corpus could not be built (see $WORK/corpus.log)"
        return 0
    fi
    chmod -R a+rX "$corpus"
    mapfile -t images < <(find "$corpus/extensions" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | LC_ALL=C sort)
    # Images are mounted as CloudNativePG's image volumes can be (BENCH_SCALE_MOUNTS, each kind in
    # turn): `overlay`, a read-only overlay of the image's layer and an empty one per image (a
    # multi-layer image volume: its superblock is read-only, sealed); `bind`, a read-only bind
    # mount per image of a writable directory (a single-layer image volume: the source can still
    # change elsewhere); `dir`, writable directories, which mounted_images walks on every query.
    # A kind this machine cannot mount (not root, overlays refused) is skipped and said so.
    local kind ro=$WORK/ro-extensions
    for kind in $BENCH_SCALE_MOUNTS; do
        unmount_images
        if ! scale_mount "$kind" "$corpus/extensions" "$ro"; then
            echo "images ($kind): not possible here, skipped"
            continue
        fi
        scale_steps "$kind"
    done
    unmount_images
}

# scale_mount KIND CORPUS DIR: mounts every image of CORPUS under DIR as KIND; sets `ext` to the
# extensions root to use.
scale_mount() {
    local kind=$1 corpus=$2 ro=$3 img
    case $kind in
        dir)
            ext=$corpus
            echo "images (dir): writable directories at $ext/<name>" ;;
        overlay | bind)
            [ "$(id -u)" = 0 ] || return 1
            mkdir -p "$ro" "$WORK/empty-layer"
            for img in "${images[@]}"; do
                mkdir -p "$ro/$img"
                if [ "$kind" = overlay ]; then
                    mount -t overlay overlay -o "lowerdir=$corpus/$img:$WORK/empty-layer" "$ro/$img" 2>/dev/null || return 1
                else
                    { mount --bind "$corpus/$img" "$ro/$img" && mount -o remount,bind,ro "$ro/$img"; } 2>/dev/null || return 1
                fi
            done
            ext=$ro
            echo "images ($kind): one read-only $kind mount per image at $ext/<name>" ;;
        *) die "unknown kind in BENCH_SCALE_MOUNTS: $kind (overlay, bind, dir)" ;;
    esac
}

# scale_steps KIND: the views at each of BENCH_SCALE_STEPS image counts, with the images mounted as
# KIND (every view for the first kind, pg_available_extensions and mounted_images for the others).
scale_steps() {
    local kind=$1 step n db ecp dlp img v ref ref_v lat cold first ratio fratio ref_first views
    views="pg_available_extensions pg_available_extension_versions pgext.mounted_extensions pgext.libraries pgext.mounted_images pgext.library_compat"
    [ "$kind" = "${BENCH_SCALE_MOUNTS%% *}" ] || views="pg_available_extensions pgext.mounted_images"
    echo "corpus ($kind): ${#images[@]} images; warm: mean over >= $BENCH_SECONDS s in one warmed session; cold: the first query of the database's first session; first: median of the first queries of 3 new sessions after it; load average: $(load_avg)"
    printf '%-7s %-34s %10s %8s %10s %12s %8s\n' images view "warm ms" ratio "cold ms" "first ms" ratio
    for step in $BENCH_SCALE_STEPS; do
        n=$step
        [ "$n" = all ] && n=${#images[@]}
        [ "$n" -le ${#images[@]} ] || n=${#images[@]}
        db=scale_${kind}_$n
        ecp='$system' dlp='$libdir'
        for img in "${images[@]:0:$n}"; do
            ecp="$ecp:$ext/$img/share"
            dlp="$dlp:$ext/$img/lib"
        done
        cluster_psql "$DATA" "$PORT" -d postgres -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
        cluster_psql "$DATA" "$PORT" -d "$db" -q -v ecp="$SNAP:$ecp" -v dlp="$SNAP/lib:$dlp" -v root="$ext" <<'SQL'
CREATE EXTENSION pgext;
CREATE FUNCTION bench_time(q text, OUT seconds float8, OUT result text) LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz := clock_timestamp();
BEGIN
    EXECUTE q INTO result;
    seconds := extract(epoch FROM clock_timestamp() - t0);
END $$;
-- Warm latency in ms: one run to warm this session, then runs for at least `secs` seconds (and
-- at least 3), averaged. In one session, unlike pgbench, whose own first (cold) query would
-- count when the query is slow to start.
CREATE FUNCTION bench_warm_ms(q text, secs float8) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz; n int := 0;
BEGIN
    EXECUTE q;
    t0 := clock_timestamp();
    LOOP
        EXECUTE q;
        n := n + 1;
        EXIT WHEN n >= 3 AND clock_timestamp() - t0 >= make_interval(secs => secs);
    END LOOP;
    RETURN extract(epoch FROM clock_timestamp() - t0) * 1000 / n;
END $$;
SELECT format('ALTER DATABASE %I SET extension_control_path = %L', current_database(), :'ecp') \gexec
SELECT format('ALTER DATABASE %I SET dynamic_library_path = %L', current_database(), :'dlp') \gexec
SELECT format('ALTER DATABASE %I SET pgext.extensions_root = %L', current_database(), :'root') \gexec
SQL
        for v in $views; do
            # First query of a new session (the pgbench warm-up below must not come first).
            read -r cold first < <(first_query_us "$db" "$v")
            lat=$(cluster_psql "$DATA" "$PORT" -d "$db" -qAt -v q="SELECT * FROM $v" -v secs="$BENCH_SECONDS" \
                <<<"SELECT round(bench_warm_ms(:'q', :'secs')::numeric, 3)")
            case $v in
                pg_available_extensions) ref=$lat ref_first=$first; ratio=- fratio=- ;;
                pg_available_extension_versions) ref_v=$lat; ratio=$(calc "$lat / $ref") fratio=$(calc "$first / $ref_first") ;;
                *) ratio=$(calc "$lat / $ref") fratio=$(calc "$first / $ref_first") ;;
            esac
            printf '%-7s %-34s %10s %8s %10s %12s %8s\n' "$n" "$v" "$lat" "$ratio" "$(calc "$cold / 1000")" "$(calc "$first / 1000")" "$fratio"
            if [ "$step" = all ]; then
                case $v in
                    pgext.mounted_extensions)
                        record "scale $n ($kind): mounted_extensions warm (ms)" "$lat" "$ref" "$ratio" "<= 1.0" "$(meets "$ratio" '<=' 1.0)"
                        record "scale $n ($kind): mounted_extensions 1st query (ms)" "$(calc "$first / 1000")" "-" - "<= 50" "$(meets "$(calc "$first / 1000")" '<=' 50)"
                        record "scale $n ($kind): mounted_extensions cold 1st query (ms)" "$(calc "$cold / 1000")" "-" - - -
                        ;;
                    pgext.libraries | pgext.mounted_images)
                        record "scale $n ($kind): ${v#pgext.} warm (ms)" "$lat" "$ref" "$ratio" "<= 2.0" "$(meets "$ratio" '<=' 2.0)"
                        ;;
                esac
            fi
        done
        echo "  rows at $n images: $(cluster_psql "$DATA" "$PORT" -d "$db" -qAt <<<"SELECT (SELECT count(*) FROM pg_available_extensions) || ' available, ' || (SELECT count(*) FROM pgext.mounted_extensions) || ' control files, ' || (SELECT count(*) FROM pgext.libraries) || ' libraries'")"
    done
    echo "load average: $(load_avg)"
}

# ---------------------------------------------------------------------------------------------
# 6. The worker's steady state over the wide corpus

# cpu_ticks PID: user + system CPU time of a process, in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

section_worker() {
    local corpus=$WORK/corpus wdata=$WORK/wdata wport=$((PORT + 1)) ecp='$system' dlp='$libdir' img
    local pid c0 c1 n0 n1 hz ms pct images
    if [ ! -d "$corpus/extensions" ] && ! bash "$REPO/tests/oracle/build-corpus.sh" "$corpus" >"$WORK/corpus.log" 2>&1; then
        skip "worker: CPU per cycle (ms)" "the oracle corpus could not be built (see $WORK/corpus.log)"
        return 0
    fi
    chmod -R a+rX "$corpus"
    images=0
    for img in "$corpus"/extensions/*/; do
        img=${img%/}
        ecp="$ecp:$img/share" dlp="$dlp:$img/lib" images=$((images + 1))
    done
    # Cycles back to back (1 s interval) to measure many in little time; the cost of one cycle
    # is then set against the 60 s interval a site would use.
    {
        echo "shared_preload_libraries = 'pgext'"
        echo "extension_control_path = '$SNAP:$ecp'"
        echo "dynamic_library_path = '$SNAP/lib:$dlp'"
        echo "pgext.extensions_root = '$corpus/extensions'"
        echo "pgext.check_interval = 1"
    } >"$WORK/worker.conf"
    cluster_start "$wdata" "$wport" "$WORK/worker.conf"
    wsql() { cluster_psql "$wdata" "$wport" -d postgres -qAt "$@"; }
    wsql -c "CREATE EXTENSION pgext"
    # The first cycles read and hash everything once; the steady state starts after them.
    local i
    for i in $(seq 1 120); do
        [ "$(wsql -c "SELECT cycles >= 3 FROM pgext.worker_status")" = t ] && break
        sleep 1
    done
    pid=$(wsql -c "SELECT pid FROM pgext.worker_status")
    n0=$(wsql -c "SELECT cycles FROM pgext.worker_status")
    c0=$(cpu_ticks "$pid")
    sleep "$BENCH_WORKER_SECONDS"
    n1=$(wsql -c "SELECT cycles FROM pgext.worker_status")
    c1=$(cpu_ticks "$pid")
    hz=$(getconf CLK_TCK)
    if [ "$n1" -le "$n0" ]; then
        cluster_stop "$wdata"
        echo "error: the worker completed no cycle in $BENCH_WORKER_SECONDS s"
        return 1
    fi
    ms=$(calc "($c1 - $c0) * 1000 / $hz / ($n1 - $n0)")
    pct=$(calc "$ms / 60000 * 100")
    echo "images: $images; cycles watched: $((n1 - n0)) in $BENCH_WORKER_SECONDS s; worker CPU: $(calc "($c1 - $c0) * 1000 / $hz") ms"
    echo "CPU per cycle: $ms ms -> $pct % of a core at a 60 s interval; last cycle: $(wsql -c "SELECT last_cycle_duration FROM pgext.worker_status")"
    record "worker: CPU per cycle at $images images (ms)" "$ms" - - - -
    record "worker: % of a core at a 60 s interval" "$pct" - - "<= 1" "$(meets "$pct" '<=' 1)"
    cluster_stop "$wdata"
}

# ---------------------------------------------------------------------------------------------
# Run the sections, then the summary

errors=0
for s in $BENCH_SECTIONS; do
    echo
    say "section: $s"
    # Each section in its own subshell with -e: a failure ends that section only.
    set +e
    (
        set -e
        "section_$s"
    )
    rc=$?
    set -e
    if [ $rc -ne 0 ]; then
        echo "error: section $s failed (exit $rc)"
        record "$s" error - - - -
        printf '%s: error (exit %s), see the output above\n' "$s" "$rc" >>"$WORK/notes"
        errors=$((errors + 1))
    fi
done

echo
say "summary ($(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, SHA-NI: $shani, pgext.so: ${build_kind%%,*}, load average now: $(load_avg))"
{
    printf 'metric\tpgext\treference\tratio\ttarget\tmet\n'
    cat "$WORK/summary.tsv"
} | awk -F'\t' '{ printf "%-40s %10s %10s %7s %7s  %s\n", $1, $2, $3, $4, $5, $6 }'
if [ -s "$WORK/notes" ]; then sed 's/^/note: /' "$WORK/notes"; fi
echo "ratio = pgext / reference: higher is better for MB/s, lower for seconds and milliseconds; '-' = no target"
[ $errors -eq 0 ]
