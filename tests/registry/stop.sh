#!/usr/bin/env bash
# Stops the registry start.sh started for STATE_DIR (only that process), waiting for it to exit.
#
#   stop.sh STATE_DIR
#
# Leaves STATE_DIR itself in place (the caller created it and removes it).
set -euo pipefail

[[ $# -eq 1 ]] || { echo "usage: stop.sh STATE_DIR" >&2; exit 1; }
state=$(cd "$1" 2>/dev/null && pwd) || exit 0
pidfile=$state/registry.pid
[[ -f $pidfile ]] || exit 0
pid=$(cat "$pidfile")
# Only ever signal the registry serving this state dir, even if the pid was reused.
if [[ -r /proc/$pid/cmdline ]] && tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q "docker-registry serve $state/config.yml"; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
fi
rm -f "$pidfile"
