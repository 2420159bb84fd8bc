#!/usr/bin/env bash
# Installs what Mediaferry needs and is missing: system tools (ffmpeg, aria2c,
# chromium) with apt when run as root, a virtual environment and the Python
# dependencies. Safe to run again: it only does what is not done yet.
set -euo pipefail
cd "$(dirname "$0")/.."

WITH_DEV=0
[ "${1:-}" = "--dev" ] && WITH_DEV=1

need_apt=()
command -v ffmpeg >/dev/null 2>&1 || need_apt+=(ffmpeg)
command -v ffprobe >/dev/null 2>&1 || need_apt+=(ffmpeg)
command -v aria2c >/dev/null 2>&1 || need_apt+=(aria2)
command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || need_apt+=(chromium)
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
command -v pg_dump >/dev/null 2>&1 || need_apt+=(postgresql-client)  # db backup/restore
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need_apt+=(python3-venv)
if [ ${#need_apt[@]} -gt 0 ]; then
  mapfile -t need_apt < <(printf '%s\n' "${need_apt[@]}" | sort -u)
  if [ "$(id -u)" = "0" ]; then
    echo "installing system packages: ${need_apt[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  else
    echo "missing system packages; run:  sudo apt-get install -y ${need_apt[*]}" >&2
    exit 1
  fi
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=".venv/.mediaferry-installed-$WITH_DEV-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  if [ "$WITH_DEV" = 1 ]; then
    .venv/bin/python -m pip install -q -e ".[dev]"
  else
    .venv/bin/python -m pip install -q -e .
  fi
  rm -f .venv/.mediaferry-installed-*
  touch "$stamp"
fi
