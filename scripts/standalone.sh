#!/usr/bin/env bash
# Set up (if needed) and run a NameServer plus a broker in one process on 9876/10911.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
exec .venv/bin/orbitmq standalone "$@"
