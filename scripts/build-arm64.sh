#!/usr/bin/env bash
# Cross-compiles pgext for arm64 (aarch64-unknown-linux-gnu) on an amd64 machine: pgext.so, its
# control file and SQL scripts laid out as `cargo pgrx package` lays them out, and (with --check)
# pgext-check. Nothing is installed on this machine and the amd64 build cache is not touched.
#
#   scripts/build-arm64.sh [--check] [OUT]     (default OUT: $ARM64_TARGET_DIR/pgext-pg18)
#
# What it uses (docs/src/operations/arm64.md, "pgext itself on arm64"):
#   - Rust's standard library for aarch64-unknown-linux-gnu (a rustup target): the one installed,
#     else `rustup target add` (PGEXT_ARM64_RUSTUP_TIMEOUT, 120 s, at most); when neither works it
#     stops and says exactly what is missing;
#   - clang as the C compiler and linker driver (--target=aarch64-linux-gnu), with Debian
#     bookworm's cross toolchain parts: binutils-aarch64-linux-gnu (ld, ar), libc6-dev-arm64-cross
#     (glibc 2.36: the binaries run on bookworm and newer), libgcc-12-dev-arm64-cross (crt files,
#     libgcc). Debian's gcc-aarch64-linux-gnu would do too, but it conflicts with gcc-multilib,
#     which the ELF tests need; clang drives the same linker;
#   - PostgreSQL 18's arm64 server headers and pg_config data: Debian unstable's
#     postgresql-server-dev-18, libpq-dev and libssl-dev for arm64 (the version the arm64
#     oracle's root runs, when that root is cached), downloaded through scripts/debian.sh and
#     unpacked with dpkg-deb -x into the cache; Debian's pg_config there is a Perl script made for
#     cross builds, and a wrapper maps its include and library directories into that tree. pgrx's
#     bindgen reads it through PGRX_PG_CONFIG_PATH and generates bindings for the target.
#
# Environment: PROFILE (release, the default, or debug), PGEXT_ARM64_TARGET_DIR (cargo's target
# directory for the cross build; default ${CARGO_TARGET_DIR:-target}/aarch64-cross), PGEXT_CACHE,
# PGEXT_ARM64_REFRESH=1 (re-read Debian's index for the headers), PGEXT_ARM64_RUSTUP_TIMEOUT (120).
source "$(dirname "$0")/lib.sh"
source "$REPO/scripts/debian.sh"

WITH_CHECK=""
if [ "${1:-}" = --check ]; then WITH_CHECK=1; shift; fi
TARGET=aarch64-unknown-linux-gnu
MAJOR=18
PROFILE=${PROFILE:-release}
ARM64_TARGET_DIR=${PGEXT_ARM64_TARGET_DIR:-${CARGO_TARGET_DIR:-$REPO/target}/aarch64-cross}
OUT=${1:-$ARM64_TARGET_DIR/pgext-pg$MAJOR}
CACHE=$(pgext_cache_root)/arm64-build

# ---------------------------------------------------------------------------------------------
# The toolchain: each missing part named with what provides it.
arm64_rust_std() {
    local sysroot log
    sysroot=$(rustc --print sysroot)
    [ -d "$sysroot/lib/rustlib/$TARGET/lib" ] && return 0
    command -v rustup >/dev/null ||
        die "Rust's standard library for $TARGET is not in $sysroot/lib/rustlib and there is no rustup to add it: install the target for this toolchain ($(rustc --version))"
    say "adding the Rust target $TARGET (rustup, ${PGEXT_ARM64_RUSTUP_TIMEOUT:-120} s at most)"
    log=$(mktemp)
    local rc=0 secs=${PGEXT_ARM64_RUSTUP_TIMEOUT:-120}
    timeout "$secs" rustup target add "$TARGET" >"$log" 2>&1 || rc=$?
    if [ "$rc" != 0 ]; then
        tail -n 5 "$log" >&2
        rm -f "$log"
        local how="failed (exit $rc, its last lines above)"
        [ "$rc" != 124 ] || how="did not finish within $secs s"
        die "Rust's standard library for $TARGET (rustup component rust-std) is not installed for $(rustc --version), and \`rustup target add $TARGET\` $how. It downloads from the Rust distribution server (\$RUSTUP_DIST_SERVER, default https://static.rust-lang.org), which the package registries do not mirror: install the target where that server is reachable, or set RUSTUP_DIST_SERVER to a mirror of it"
    fi
    rm -f "$log"
    [ -d "$sysroot/lib/rustlib/$TARGET/lib" ] || die "rustup target add $TARGET succeeded but $sysroot/lib/rustlib/$TARGET is missing"
}

arm64_toolchain_check() {
    local missing=() gcc_lib
    command -v clang >/dev/null || missing+=("clang (apt-get install clang)")
    command -v aarch64-linux-gnu-ld >/dev/null || missing+=("aarch64-linux-gnu-ld (apt-get install binutils-aarch64-linux-gnu)")
    [ -f /usr/aarch64-linux-gnu/lib/crt1.o ] || missing+=("arm64 glibc for linking, /usr/aarch64-linux-gnu/lib/crt1.o (apt-get install libc6-dev-arm64-cross)")
    gcc_lib=$(compgen -G "/usr/lib/gcc-cross/aarch64-linux-gnu/*/crtbeginS.o" | head -n1 || true)
    [ -n "$gcc_lib" ] || missing+=("arm64 libgcc and crt files, /usr/lib/gcc-cross/aarch64-linux-gnu/*/crtbeginS.o (apt-get install libgcc-12-dev-arm64-cross)")
    command -v perl >/dev/null || missing+=("perl (Debian's arm64 pg_config is a Perl script)")
    [ ${#missing[@]} = 0 ] || die "the arm64 cross toolchain is incomplete (scripts/setup.sh installs it): ${missing[*]}"
    arm64_rust_std
}

# ---------------------------------------------------------------------------------------------
# PostgreSQL 18's arm64 headers and pg_config, unpacked into $CACHE/tree (keyed by the versions).
arm64_pg_tree() {
    mkdir -p "$CACHE/debs"
    exec 9>"$CACHE/.lock"
    flock -n 9 || { echo "waiting for another build-arm64.sh using $CACHE"; flock 9; }
    local list=$CACHE/debs.tsv want="" closure
    # The arm64 oracle's root, when cached, decides the version: pgext is built against the
    # headers of the server it is loaded into.
    closure=$(pgext_cache_root)/oracle-arm64/root-debs/closure-unstable-$MAJOR.tsv
    [ -f "$closure" ] && want=$(awk -F'\t' -v p="postgresql-$MAJOR" '$1 == p {print $2}' "$closure")
    if [ -n "${PGEXT_ARM64_REFRESH:-}" ] || [ ! -s "$list" ] ||
        { [ -n "$want" ] && [ "$(awk -F'\t' '$1 == "postgresql-server-dev-'$MAJOR'" {print $2}' "$list")" != "$want" ]; } ||
        ! while IFS=$'\t' read -r _ _ f; do [ -f "$CACHE/debs/$f" ] || exit 1; done <"$list"; then
        say "downloading PostgreSQL $MAJOR's arm64 headers (Debian unstable${want:+, $want as in the arm64 root})"
        apt_private_init "$CACHE/apt" unstable arm64
        apt_private_update
        local specs=() tmp
        if [ -n "$want" ] && apt_cache_private show "postgresql-server-dev-$MAJOR:arm64=$want" >/dev/null 2>&1; then
            specs=("postgresql-server-dev-$MAJOR:arm64=$want" "libpq-dev:arm64=$want")
        else
            [ -z "$want" ] || echo "    $want is no longer in Debian unstable's index: using its current version (rebuild the root: PGEXT_ORACLE_REFRESH=1)"
            specs=("postgresql-server-dev-$MAJOR:arm64/unstable" "libpq-dev:arm64/unstable")
        fi
        specs+=("libssl-dev:arm64/unstable")
        tmp=$(mktemp -d "$CACHE/download.XXXXXX")
        apt_fetch "$tmp" "${specs[@]}"
        : >"$list.new"
        for f in "$tmp"/*.deb; do
            printf '%s\t%s\t%s\n' "$(dpkg-deb -f "$f" Package)" "$(dpkg-deb -f "$f" Version)" "$(basename "$f")" >>"$list.new"
            mv "$f" "$CACHE/debs/"
        done
        rm -rf "$tmp"
        LC_ALL=C sort "$list.new" >"$list" && rm -f "$list.new"
        apt_private_drop_lists
    fi
    local key
    key=$( (cat "$list"; declare -f arm64_pg_config_wrapper) | sha256sum | cut -c1-64)
    TREE=$CACHE/tree
    PG_CONFIG_ARM64=$CACHE/pg_config
    if [ "$(cat "$TREE/.key" 2>/dev/null)" != "$key" ]; then
        rm -rf "$TREE"
        mkdir -p "$TREE"
        while IFS=$'\t' read -r _ _ f; do dpkg-deb -x "$CACHE/debs/$f" "$TREE"; done <"$list"
        [ -f "$TREE/usr/include/postgresql/$MAJOR/server/pg_config.h" ] || die "no server headers in $TREE"
        arm64_pg_config_wrapper >"$PG_CONFIG_ARM64"
        chmod 0755 "$PG_CONFIG_ARM64"
        echo "$key" >"$TREE/.key"
    fi
    exec 9>&-
    echo "    arm64 PostgreSQL headers: $("$PG_CONFIG_ARM64" --version) ($TREE)"
}

# The pg_config pgrx reads: Debian's arm64 one (a Perl script holding the arm64 build's answers),
# with the directories that hold headers and libraries mapped into the unpacked tree. The install
# directories (--pkglibdir, --sharedir) stay the server's own: `cargo pgrx package` lays the
# package out with them.
arm64_pg_config_wrapper() {
    cat <<EOF
#!/bin/sh
# Written by pgext's scripts/build-arm64.sh: Debian's arm64 pg_config, its header and library
# directories mapped into $TREE.
[ \$# -gt 0 ] || exec perl "$TREE/usr/bin/pg_config"
for arg in "\$@"; do
    v=\$(perl "$TREE/usr/bin/pg_config" "\$arg") || { echo "\$v"; exit 1; }
    case \$arg in
        --includedir | --pkgincludedir | --includedir-server | --libdir) echo "$TREE\$v" ;;
        --cppflags | --ldflags | --ldflags_sl | --libs) echo "\$v" | sed 's#\(-[IL]\)/usr/#\1$TREE/usr/#g' ;;
        *) echo "\$v" ;;
    esac
done
EOF
}

# ---------------------------------------------------------------------------------------------
# The cross environment: cc/cmake/autotools builds of the -sys crates, bindgen, the linker.
arm64_cross_env() {
    local tools=$CACHE/bin
    mkdir -p "$tools"
    # clang under a target-prefixed name: build scripts that run "$CC" without flags (autotools,
    # cmake) still compile for arm64.
    cat >"$tools/aarch64-linux-gnu-clang" <<'EOF'
#!/bin/sh
exec clang --target=aarch64-linux-gnu "$@"
EOF
    chmod 0755 "$tools/aarch64-linux-gnu-clang"
    # cc-rs passes --target=aarch64-unknown-linux-gnu, under which clang looks for binutils as
    # aarch64-unknown-linux-gnu-*, as does an autotools build configured with --host=$TARGET;
    # Debian names them aarch64-linux-gnu-*.
    local b
    for b in ld ar ranlib nm strip objcopy objdump; do ln -sfn "/usr/bin/aarch64-linux-gnu-$b" "$tools/$TARGET-$b"; done
    export PATH="$tools:$PATH"
    # clang 14 (bookworm) refuses to include <arm_sve.h> unless SVE is enabled for the whole
    # file; GCC and newer clang allow it, for functions that enable SVE themselves. pg_query's
    # vendored PostgreSQL (pgext-check) includes it without using it (its SVE popcount was
    # stripped). This header makes the declarations visible; it enables no SVE code generation:
    # an SVE intrinsic used anywhere would still fail to compile.
    mkdir -p "$CACHE/include-shim"
    cat >"$CACHE/include-shim/arm_sve.h" <<'EOF'
/* Written by pgext's scripts/build-arm64.sh: <arm_sve.h>'s declarations without -march=...+sve. */
#ifndef __ARM_FEATURE_SVE
#define __ARM_FEATURE_SVE 1
#define PGEXT_SVE_DECLARATIONS_ONLY
#endif
#include_next <arm_sve.h>
#ifdef PGEXT_SVE_DECLARATIONS_ONLY
#undef __ARM_FEATURE_SVE
#undef PGEXT_SVE_DECLARATIONS_ONLY
#endif
EOF
    local t=${TARGET//-/_}
    export "CFLAGS_$t=-I$CACHE/include-shim"
    export "CC_$t=aarch64-linux-gnu-clang"
    export "AR_$t=aarch64-linux-gnu-ar"
    export "CARGO_TARGET_${t^^}_LINKER=aarch64-linux-gnu-clang"
    # bindgen passes --target itself (from TARGET); the arm64 headers of the tree first, then
    # the cross glibc's.
    export "BINDGEN_EXTRA_CLANG_ARGS_$t=-I$TREE/usr/include/aarch64-linux-gnu -I$TREE/usr/include"
    export PGRX_PG_CONFIG_PATH=$PG_CONFIG_ARM64
    export CARGO_TARGET_DIR=$ARM64_TARGET_DIR
}

# ---------------------------------------------------------------------------------------------
t0=$(date +%s)
arm64_toolchain_check
arm64_pg_tree
arm64_cross_env
cd "$REPO"
args=(--target "$TARGET" --pg-config "$PG_CONFIG_ARM64" --out-dir "$OUT")
[ "$PROFILE" = release ] || args+=(--debug)
say "building pgext for $TARGET ($PROFILE) into $OUT"
rm -rf "$OUT"
nice -n "${PGEXT_NICE:-5}" cargo pgrx package "${args[@]}" >/dev/null
so=$OUT$("$PG_CONFIG_ARM64" --pkglibdir)/pgext.so
[ -f "$so" ] || die "cargo pgrx package left no $so"
file -b "$so" | grep -q 'ARM aarch64' || die "$so is not an arm64 ELF: $(file -b "$so")"
echo "    $(file -b "$so" | cut -d, -f1-2)"
if [ -n "$WITH_CHECK" ]; then
    say "building pgext-check for $TARGET ($PROFILE)"
    flags=(--target "$TARGET" -p pgext-check)
    [ "$PROFILE" = release ] && flags+=(--release)
    nice -n "${PGEXT_NICE:-5}" cargo build --quiet "${flags[@]}"
    mkdir -p "$OUT/usr/bin"
    cp "$ARM64_TARGET_DIR/$TARGET/$([ "$PROFILE" = release ] && echo release || echo debug)/pgext-check" "$OUT/usr/bin/"
    echo "    pgext-check: $(file -b "$OUT/usr/bin/pgext-check" | cut -d, -f1-2)"
fi
say "arm64 build done in $(($(date +%s) - t0)) s: $OUT"
