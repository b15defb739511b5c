#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for a bounded time each (libFuzzer on stable Rust through
# RUSTC_BOOTSTRAP=1; see fuzz/README.md). New inputs go to a scratch corpus; the seeds in
# fuzz/corpus/ are only read. A crash, a hang (-timeout) or memory beyond -rss_limit_mb fails.
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET ...]   (default: 20 s, every target)
source "$(dirname "$0")/lib.sh"
secs=${1:-20}
shift || true
command -v cargo-fuzz >/dev/null || die "cargo-fuzz is missing: run scripts/setup.sh"
cd "$REPO/fuzz"
export RUSTC_BOOTSTRAP=1
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo fuzz list)
fi
# Targets over C code that a crate builds and links statically (ISA-L, through isal-sys), which
# AddressSanitizer refuses: built without a sanitizer, in their own target directory, with the
# feature that brings the code in. The rest run under AddressSanitizer.
plain=(oci_gzip)
plain_flags=(-s none --features isal --target-dir target-plain)
is_plain() { local p; for p in "${plain[@]}"; do [ "$p" = "$1" ] && return 0; done; return 1; }
say "building fuzz targets: ${targets[*]}"
cargo fuzz build >/dev/null
for t in "${targets[@]}"; do
    is_plain "$t" && cargo fuzz build "${plain_flags[@]}" "$t" >/dev/null
done
scratch=$(mktemp -d "${TMPDIR:-/tmp}/pgext-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
failed=()
for t in "${targets[@]}"; do
    mkdir -p "$scratch/$t" "corpus/$t" "artifacts/$t"
    say "fuzzing $t for ${secs}s"
    flags=()
    is_plain "$t" && flags=("${plain_flags[@]}")
    if ! cargo fuzz run "${flags[@]}" "$t" "$scratch/$t" "corpus/$t" -- \
        -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -print_final_stats=1 >"$scratch/$t.log" 2>&1; then
        tail -n 40 "$scratch/$t.log"
        failed+=("$t")
        continue
    fi
    grep -E '^stat::number_of_executed_units|^#[0-9]+.*DONE' "$scratch/$t.log" | tail -n 2 || true
done
[ ${#failed[@]} -eq 0 ] || die "fuzz targets failed: ${failed[*]} (inputs in fuzz/artifacts/)"
say "fuzz: ${#targets[@]} targets ran ${secs}s each without a finding"
