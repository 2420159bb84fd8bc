#!/usr/bin/env bash
# Checks deploy/systemd/*.service with `systemd-analyze verify`. It exits 0 even on
# unknown keys and bad values (it only warns), so any output at all is a failure.
# The units name /opt/mediaferry/.venv/bin/mediaferry; the check points ExecStart at
# this checkout's .venv instead (verify insists the command exists) and changes
# nothing else. Installs Debian's systemd package when run as root without it.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v systemd-analyze >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing systemd (for systemd-analyze)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=300 \
      --no-install-recommends systemd >/dev/null \
      || { apt-get update -qq -o DPkg::Lock::Timeout=300 && \
           DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=300 \
             --no-install-recommends systemd >/dev/null; }
  else
    echo "systemd-analyze is not installed: skipping the unit check" >&2
    exit 0
  fi
fi

exe="$PWD/.venv/bin/mediaferry"
[ -x "$exe" ] || { echo "no $exe: run scripts/setup.sh first" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
units=()
for unit in deploy/systemd/*.service; do
  name=$(basename "$unit")
  sed "s#/opt/mediaferry/.venv/bin/mediaferry#$exe#g" "$unit" >"$work/$name"
  case "$name" in
    *@.service) cp "$work/$name" "$work/${name%@.service}@1.service"; units+=("$work/${name%@.service}@1.service") ;;
    *) units+=("$work/$name") ;;
  esac
done
rc=0
out=$(cd "$work" && systemd-analyze verify --man=no "${units[@]}" 2>&1) || rc=$?
if [ -n "$out" ] || [ "$rc" != 0 ]; then
  echo "systemd-analyze verify found problems:" >&2
  echo "$out" >&2
  exit 1
fi
echo "systemd units OK: ${units[*]##*/}"
