#!/usr/bin/env bash
# Starts a throwaway Debian docker-registry (distribution 2.8) on 127.0.0.1 for pgext's OCI tests.
#
#   start.sh STATE_DIR [--auth USER:PASSWORD] [--port PORT] [--access-log]
#   start.sh --check-tools      (only install what is missing; exit 0 or 3)
#
# Prints the port on stdout. STATE_DIR (created if missing) holds config.yml, storage/ (the
# registry's filesystem storage), registry.pid and registry.log. Stop with stop.sh STATE_DIR.
# With --access-log, registry.log gets one line per request (combined log format), for tests
# that count what was fetched.
# With --auth, the registry demands HTTP basic auth (htpasswd, bcrypt) for that one user.
#
# Installs docker-registry, skopeo, umoci and apache2-utils (htpasswd) with apt-get if they are
# missing and we are root. Exit status 3 means the tools are missing and cannot be installed
# (tests fail on it, saying so: scripts/setup.sh installs them); anything else non-zero is a
# real failure.
set -euo pipefail

die() { echo "start.sh: $*" >&2; exit 1; }

[[ $# -ge 1 ]] || die "usage: start.sh STATE_DIR [--auth USER:PASSWORD] [--port PORT] [--access-log] | --check-tools"
state=$1; shift
check_only=false
[[ $state == --check-tools ]] && check_only=true
auth=""
port=""
accesslog_disabled=true
while [[ $# -gt 0 ]]; do
    case $1 in
        --auth) auth=${2:?--auth needs USER:PASSWORD}; shift 2 ;;
        --port) port=${2:?--port needs a number}; shift 2 ;;
        --access-log) accesslog_disabled=false; shift ;;
        *) die "unknown argument $1" ;;
    esac
done

need=()
command -v docker-registry >/dev/null || need+=(docker-registry)
command -v skopeo >/dev/null || need+=(skopeo)
command -v umoci >/dev/null || need+=(umoci)
command -v htpasswd >/dev/null || need+=(apache2-utils)
command -v curl >/dev/null || need+=(curl)
if [[ ${#need[@]} -gt 0 ]]; then
    if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
        echo "start.sh: missing ${need[*]} and cannot install (not root or no apt-get)" >&2
        exit 3
    fi
    echo "start.sh: installing ${need[*]}" >&2
    # Serialise concurrent test processes installing at once.
    if ! flock /tmp/pgext-registry-apt.lock \
        env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}" >&2; then
        echo "start.sh: apt-get install ${need[*]} failed" >&2
        exit 3
    fi
fi

$check_only && exit 0

mkdir -p "$state/storage"
state=$(cd "$state" && pwd)
if [[ -f $state/registry.pid ]] && kill -0 "$(cat "$state/registry.pid")" 2>/dev/null; then
    die "a registry is already running for $state (pid $(cat "$state/registry.pid"))"
fi

auth_block=""
if [[ -n $auth ]]; then
    user=${auth%%:*}
    pass=${auth#*:}
    [[ $user != "$auth" && -n $user ]] || die "--auth wants USER:PASSWORD"
    htpasswd -Bbn "$user" "$pass" > "$state/htpasswd" 2>/dev/null || die "htpasswd failed"
    auth_block="auth:
  htpasswd:
    realm: pgext-test
    path: $state/htpasswd"
fi

free_port() {
    # A random port nothing listens on; the bind below may still lose a race, hence the retries.
    local p
    for _ in $(seq 50); do
        p=$(( 20000 + RANDOM % 40000 ))
        if ! ss -Htln "sport = :$p" 2>/dev/null | grep -q .; then echo "$p"; return; fi
    done
    die "no free port found"
}

attempts=5
[[ -n $port ]] && attempts=1
for _ in $(seq "$attempts"); do
    p=${port:-$(free_port)}
    cat > "$state/config.yml" <<YAML
version: 0.1
log:
  level: error
  accesslog:
    disabled: $accesslog_disabled
storage:
  filesystem:
    rootdirectory: $state/storage
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$p
  secret: $(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
$auth_block
YAML
    setsid docker-registry serve "$state/config.yml" > "$state/registry.log" 2>&1 < /dev/null &
    pid=$!
    echo "$pid" > "$state/registry.pid"
    for _ in $(seq 100); do
        if ! kill -0 "$pid" 2>/dev/null; then break; fi
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$p/v2/" || true)
        if [[ $code == 200 || $code == 401 ]]; then
            echo "$p"
            exit 0
        fi
        sleep 0.1
    done
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    rm -f "$state/registry.pid"
    grep -q "address already in use" "$state/registry.log" || break
done
echo "start.sh: docker-registry did not come up; log:" >&2
cat "$state/registry.log" >&2 || true
exit 1
