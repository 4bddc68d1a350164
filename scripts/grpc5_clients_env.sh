#!/usr/bin/env bash
# Build (idempotently) the official RocketMQ 5.x gRPC clients the tests drive:
#   .venv-rmq5/            PyPI rocketmq-python-client (import package `rocketmq`, which
#                          must never share site-packages with the 4.x C++ client's)
#   tests/grpc5/node/node_modules   npm rocketmq-client-nodejs (tests/grpc5/node/package.json)
# Prints the venv's python path as the last line of stdout; progress goes to stderr.
# Safe to run concurrently (pytest-xdist workers): serialised by flock.
set -euo pipefail
PYTHON_CLIENT_VERSION="5.1.2"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv-rmq5"
NODE_DIR="$ROOT/tests/grpc5/node"
unset PYTHONPATH PYTHONHOME PYTHONSTARTUP PYTHONUSERBASE 2>/dev/null || true

exec 9>"$ROOT/.grpc5-clients-env.lock"
flock 9
stamp="$VENV/.rocketmq-python-client-$PYTHON_CLIENT_VERSION"
if [ ! -f "$stamp" ]; then
  echo "grpc5_clients_env: installing rocketmq-python-client==$PYTHON_CLIENT_VERSION in $VENV" >&2
  rm -rf "$VENV"
  "${ORBITMQ_RMQ5_PYTHON:-python3}" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check \
    "rocketmq-python-client==$PYTHON_CLIENT_VERSION" >&2
  touch "$stamp"
fi
if [ -f "$NODE_DIR/package.json" ] && [ ! -f "$NODE_DIR/node_modules/.installed" ]; then
  if ! command -v npm >/dev/null && [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >&2
  fi
  echo "grpc5_clients_env: npm install in $NODE_DIR" >&2
  (cd "$NODE_DIR" && npm install --silent --no-audit --no-fund >&2)
  touch "$NODE_DIR/node_modules/.installed"
fi
echo "$VENV/bin/python"
