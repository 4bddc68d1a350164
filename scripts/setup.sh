#!/usr/bin/env bash
# Idempotent set-up on a fresh machine: a virtualenv at .venv with OrbitMQ installed
# (editable), its hot-path modules compiled with Cython in place when a C compiler is
# there (setup.py), and, with --test, the test tools and the official C++ client's venv
# (--bench: the peers' Python clients, for scripts/perf.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON="${PYTHON:-python3}"
if ! "$PYTHON" -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null; then
  echo "setup: OrbitMQ needs Python 3.11 or newer ($PYTHON is $("$PYTHON" -V 2>&1))" >&2
  exit 1
fi
if ! "$PYTHON" -m venv --help >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
  apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
fi
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
extras="build"
[ "${1:-}" = "--test" ] && extras="build,test"
[ "${1:-}" = "--bench" ] && extras="build,bench"  # scripts/perf.sh
# The editable install (dependencies and entry points) is redone only when the project
# files change; compiling is left to the in-place build below, which is incremental.
stamp=".venv/.orbitmq-installed-${extras/,/-}"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ setup.py -nt "$stamp" ]; then
  ORBITMQ_PURE_PYTHON=1 .venv/bin/python -m pip install -q --disable-pip-version-check \
    -e ".[${extras}]"
  touch "$stamp"
fi
# The RocketMQ 5 gRPC stubs (orbitmq/proxy/apis), from the .proto files RocketMQ publishes
# on npm; npm comes from Debian when it is missing.
if ! command -v npm >/dev/null && [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null
fi
.venv/bin/python scripts/grpc_stubs.py
# Recompiles only modules whose .py changed since their last build (seconds when none did).
.venv/bin/python setup.py -q build_ext --inplace --parallel 2 2>&1 | grep -v -i -E "deprecat|beta|warnings.warn|^\s*$|\*{10}|!!" >&2 || true
if [ "${1:-}" = "--test" ]; then
  bash scripts/cpp_client_env.sh >/dev/null
  # The official RocketMQ 5.x clients tests/grpc5 drives (PyPI and npm).
  bash scripts/grpc5_clients_env.sh >/dev/null
  # tests/cluster makes one-way partitions between network namespaces with iptables;
  # tests/console drives Debian's chromium with Playwright (its own browser download cannot
  # work here), with a CJK font for Chinese text. tests/cluster also runs an sshd per
  # namespace host (tests/cluster/sshd.py) for `orbitmq cluster` over ssh, with keys made
  # by ssh-keygen.
  missing=()
  command -v iptables >/dev/null || missing+=(iptables)
  [ -x /usr/sbin/sshd ] || missing+=(openssh-server)
  command -v ssh-keygen >/dev/null || missing+=(openssh-client)
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  [ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || missing+=(fonts-wqy-microhei)
  if [ "${#missing[@]}" -gt 0 ] && [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
fi
