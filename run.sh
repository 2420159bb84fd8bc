#!/usr/bin/env bash
# Set up what is missing, then run Mediaferry (workers, plus the bot and the web
# page when configured) on the embedded SQLite database under ./data.
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh
exec .venv/bin/mediaferry run "$@"
