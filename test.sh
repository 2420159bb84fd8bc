#!/usr/bin/env bash
# Set up what is missing (including test tools), then run the whole test suite.
# PostgreSQL tests use the server on 127.0.0.1:5432 when one is there (started
# here if installed but down) and are skipped with a reason otherwise.
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh --dev
if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
  if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  fi
fi
# three test processes (pytest-xdist): the tests mostly wait on real programs, servers
# and timers, so three keep two cores busier than one; `./test.sh -n 0` runs one
exec .venv/bin/pytest -q -p no:cacheprovider -n 3 "$@"
