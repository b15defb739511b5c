#!/usr/bin/env bash
# Lays out the synthetic extension images the pg_regress suites use, the CloudNativePG way:
# FX/extensions/<image>/{share/extension,lib}. Real compiled artefacts come from tests/fixtures.
# Also writes FX/regress.conf, the server settings that point at them.
set -Eeuo pipefail
FX=${1:?usage: make-tree.sh FIXTURE_DIR}
owner=${PGEXT_USER:-postgres}

rm -rf "$FX/extensions" "$FX/bad"
ext() { # ext IMAGE NAME VERSION COMMENT
    local d="$FX/extensions/$1/share/extension"
    mkdir -p "$d" "$FX/extensions/$1/lib"
    printf "# %s\ncomment = '%s'\ndefault_version = '%s'\nrelocatable = true\n" "$2" "$4" "$3" >"$d/$2.control"
    printf -- "-- %s %s\nCREATE FUNCTION %s_version() RETURNS text LANGUAGE sql AS \$\$SELECT '%s'\$\$;\n" \
        "$2" "$3" "$2" "$3" >"$d/$2--$3.sql"
}
ext alpha pgext_regress_alpha 1.0 "alpha image, first on the path"
ext beta pgext_regress_beta 2.1 "beta image"

# Bad elements: a file where the extension directory should be, and a directory the server
# cannot read (root-owned 0700 when run as root; mode 000 otherwise).
mkdir -p "$FX/bad/file/share" "$FX/bad/locked/share/extension"
: >"$FX/bad/file/share/extension"
if [ "$(id -u)" = 0 ]; then chmod 0700 "$FX/bad/locked/share/extension"; else chmod 000 "$FX/bad/locked/share/extension"; fi
chmod -R a+rX "$FX/extensions" 2>/dev/null || true
chmod a+rx "$FX" "$FX/bad" "$FX/bad/file" "$FX/bad/file/share" "$FX/bad/locked" "$FX/bad/locked/share"

cat >"$FX/regress.conf" <<CONF
extension_control_path = '\$system:$FX/extensions/alpha/share:$FX/extensions/beta/share:$FX/extensions/ghost/share'
dynamic_library_path = '\$libdir:$FX/extensions/alpha/lib:$FX/extensions/beta/lib:$FX/extensions/ghost/lib'
pgext.extensions_root = '$FX/extensions'
CONF
echo "$owner" >/dev/null
