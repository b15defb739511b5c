#!/usr/bin/env bash
# The arm64 oracle: pgext-check's verdicts on arm64 extension images against a real arm64
# PostgreSQL 18, run on this amd64 machine under emulation (qemu-user through binfmt_misc). See
# docs/src/operations/arm64.md.
#
#   tests/oracle-arm64/run.sh [OUTDIR]      (default: $TMPDIR/pgext-oracle-arm64)
#
# - The server: Debian unstable's arm64 postgresql-18 and its dependency closure, unpacked into a
#   root file system (build-root.sh), run in a chroot as the unprivileged cluster owner.
# - The images: Debian's arm64 postgresql-18-* packages, one image each (tests/oracle/
#   build-corpus.sh with PGEXT_ORACLE_ARCH=arm64), mounted at /extensions/<image> in the root and
#   composed as CloudNativePG does ($system / $libdir first).
# - pgext-check --server ROOT judges every extension of the images (`compatible`) and every library
#   they name (`loadable`), with nothing preloaded and then with the preload-only libraries
#   preloaded (--preload). The emulated server answers the same questions: BEGIN; CREATE
#   EXTENSION "x" CASCADE; ROLLBACK and LOAD, each in a new connection.
# - Exits non-zero on any false-compatible, false-incompatible or undecided answer (but the
#   documented ones of undecided.tsv), or when an image's extension was never tried.
#
# Environment: PGEXT_ORACLE_ARM64_IMAGES (space-separated images to use; default: every image),
# PGEXT_ORACLE_PORT (default 55450), PGEXT_ORACLE_TIMEOUT (seconds per statement, default 120),
# PGEXT_ORACLE_REPORT_ONLY=1 (report, exit 0), and those of build-corpus.sh / build-root.sh
# (PGEXT_CACHE, PGEXT_ORACLE_REFRESH, PGEXT_ORACLE_SUITE).
source "$(dirname "$0")/../../scripts/lib.sh"
load_setup
command -v python3 >/dev/null || die "python3 is missing: apt-get install python3"
source "$REPO/tests/oracle/debian.sh"

OUT=${1:-${TMPDIR:-/tmp}/pgext-oracle-arm64}
MAJOR=18
EMU_PORT=${PGEXT_ORACLE_PORT:-55450}
EMU_TIMEOUT=${PGEXT_ORACLE_TIMEOUT:-120}
source "$REPO/tests/oracle-arm64/emulated.sh"
mkdir -p "$OUT"
chmod 0755 "$OUT"
OUT=$(cd "$OUT" && pwd)
t_start=$(date +%s)
emu_binfmt
trap emu_cleanup EXIT

say "arm64 corpus and root"
PGEXT_ORACLE_ARCH=arm64 PGEXT_ORACLE_MIN_EXTENSIONS=${PGEXT_ORACLE_MIN_EXTENSIONS:-80} \
    bash "$REPO/tests/oracle/build-corpus.sh" "$OUT/corpus"
emu_cached_root
CACHED_ROOT=$EMU_CACHED_ROOT
# The per-architecture parts of the ELF engine on these real arm64 files (core/src/elf/tests.rs):
# the root's ld.so.cache flags, magic blocks decoded from arm64 code, known preload verdicts.
say "ELF engine on the real arm64 files"
(cd "$REPO" && PGEXT_ARM64_ROOT=$CACHED_ROOT PGEXT_ARM64_CORPUS=$OUT/corpus/extensions \
    cargo test --quiet -p pgext-core --lib arm64_debian_files -- --ignored) || die "the ELF engine misjudges real arm64 files (above)"

# This run's root: an overlay on the cached one, the images under /extensions, a data directory.
t0=$(date +%s)
emu_root "$OUT"
ROOT=$EMU_ROOT
if [ -n "${PGEXT_ORACLE_ARM64_IMAGES:-}" ]; then read -ra images <<<"$PGEXT_ORACLE_ARM64_IMAGES"; else
    mapfile -t images < <(tail -n +2 "$OUT/corpus/corpus.tsv" | cut -f1)
fi
for i in "${images[@]}"; do
    [ -d "$OUT/corpus/extensions/$i" ] || die "no image $i in the arm64 corpus (see $OUT/corpus/corpus.tsv)"
    cp -a "$OUT/corpus/extensions/$i" "$ROOT/extensions/$i"
done
chmod -R a+rX "$ROOT/extensions"
echo "    ${#images[@]} images, root ready in $(($(date +%s) - t0))s"

emu_initdb
ecp='$system'
dlp='$libdir'
for i in "${images[@]}"; do ecp+=":/extensions/$i/share"; dlp+=":/extensions/$i/lib"; done
cat >>"$ROOT/data/postgresql.conf" <<EOF
extension_control_path = '$ecp'
dynamic_library_path = '$dlp'
max_worker_processes = 64
restart_after_crash = on
EOF

# judge PASS PRELOAD: pgext-check's answers, with PRELOAD as the server's preload list.
judge() {
    local args=() i
    for i in "${images[@]}"; do args+=(--image "$i=$ROOT/extensions/$i"); done
    "$CHECK" --server "$ROOT" --preload "$2" --json "${args[@]}" >"$OUT/$1.cli.json" || [ $? = 1 ] ||
        die "pgext-check failed (see above)"
}

# run_pass PASS PRELOAD: every extension and library pgext-check judged, tried for real.
run_pass() {
    local name=$1 t0 kind item n=0
    t0=$(date +%s)
    say "pass $name: shared_preload_libraries = '$2'"
    judge "$name" "$2"
    emu_start "$2" || die "the emulated server did not start with '$2' preloaded (log: $OUT/server.log)"
    printf 'kind\tname\tpostgres\tmessage\n' >"$OUT/$name.tsv"
    while IFS=$'\t' read -r kind item; do
        if [ "$kind" = create ]; then
            emu_try "CREATE EXTENSION \"${item//\"/\"\"}\" CASCADE"
        else
            emu_try "LOAD '${item/#$ROOT/}'"
        fi
        printf '%s\t%s\t%s\t%s\n' "$kind" "$item" "$OUTCOME" "$MESSAGE" >>"$OUT/$name.tsv"
        n=$((n + 1))
    done < <(python3 "$REPO/tests/oracle-arm64/compare.py" --list "$OUT/$name.cli.json")
    echo "    $n statements in $(($(date +%s) - t0))s"
}

# The release pgext-check scripts/test.sh shares between suites, else a debug build of our own.
CHECK=${PGEXT_CHECK:-}
if [ -z "$CHECK" ] || [ ! -x "$CHECK" ]; then
    (cd "$REPO" && cargo build --quiet -p pgext-check)
    CHECK=${CARGO_TARGET_DIR:-$REPO/target}/debug/pgext-check
fi
run_pass plain ""
# The libraries whose LOAD failed from their own code (not the loader's refusal): preload-only.
preload=$(python3 "$REPO/tests/oracle-arm64/compare.py" --preload-set "$OUT/plain.tsv")
if [ -n "$preload" ] && ! emu_start "$preload"; then
    kept=()
    IFS=, read -ra cands <<<"$preload"
    for l in "${cands[@]}"; do
        if emu_start "$l"; then kept+=("$l"); else echo "    $l: the server does not start with it preloaded (excluded)"; fi
    done
    preload=$(IFS=,; echo "${kept[*]}")
fi
emu_stop
run_pass preload "$preload"
emu_stop

set +e
python3 "$REPO/tests/oracle-arm64/compare.py" --report --seconds "$(($(date +%s) - t_start))" --preload "preload=$preload" \
    "plain=$OUT/plain.cli.json=$OUT/plain.tsv" "preload=$OUT/preload.cli.json=$OUT/preload.tsv" | tee "$OUT/report.txt"
rc=${PIPESTATUS[0]}
set -e
echo "results: $OUT/{plain,preload}.tsv, pgext-check: $OUT/*.cli.json, server log: $OUT/server.log"
if [ "$rc" -ne 0 ] && [ -n "${PGEXT_ORACLE_REPORT_ONLY:-}" ]; then echo "PGEXT_ORACLE_REPORT_ONLY is set: not failing"; exit 0; fi
exit "$rc"
