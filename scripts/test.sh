#!/usr/bin/env bash
# Set up (if needed) and run the whole test suite: lint, unit, integration with real
# processes on 127.0.0.1, and compatibility with the official C++ client.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh --test
.venv/bin/ruff check orbitmq tests
exec .venv/bin/python -m pytest -n 2 --dist loadfile "$@"
