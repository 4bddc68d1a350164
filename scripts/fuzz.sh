#!/usr/bin/env bash
# Coverage-guided fuzzing of OrbitMQ's decoders with Atheris (libFuzzer), on demand:
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     (default: 300 s, every target)
# Targets and what they check: tests/fuzz/targets.py; docs/fuzzing.md says how to add a
# crash to the regression corpus. JOBS=N runs N targets at once (default 2).
# Without Atheris (`pip install -e '.[fuzz]'`), the Hypothesis targets run instead with
# ORBITMQ_FUZZ_EXAMPLES raised so that they last about as long.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds="${1:-300}"
shift || true
PY=.venv/bin/python
[ -x "$PY" ] || PY=python3
mkdir -p .fuzz/logs
printf '*\n' > .fuzz/.gitignore  # fuzzing state stays out of git

if ! "$PY" -c 'import atheris' 2>/dev/null; then
  echo "fuzz: Atheris is not installed; running the Hypothesis targets instead" >&2
  # About 300 examples a second per target on one core.
  ORBITMQ_FUZZ_EXAMPLES=$((seconds * 300)) exec "$PY" -m pytest tests/fuzz -q -p no:cacheprovider \
    -o timeout=0 "$@"
fi

if [ "$#" -eq 0 ]; then
  read -r -a targets <<< "$("$PY" -m tests.fuzz --list | sed 's/^targets: //')"
else
  targets=("$@")
fi
jobs="${JOBS:-2}"
status=0
run_one() {
  local target="$1"
  # ORBITMQ_PURE_PYTHON is not needed: tests/fuzz/pure.py makes the run load .py sources.
  if "$PY" -m tests.fuzz "$target" -max_total_time="$seconds" -print_final_stats=1 \
      > ".fuzz/logs/$target.log" 2>&1; then
    echo "fuzz: $target: no crash in ${seconds}s ($(grep -o 'Done [0-9]* runs' ".fuzz/logs/$target.log" | tail -1))"
  else
    echo "fuzz: $target: CRASH, see .fuzz/logs/$target.log and .fuzz/crashes/$target/" >&2
    return 1
  fi
}
running=0
for target in "${targets[@]}"; do
  run_one "$target" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then
    wait -n || status=1
    running=$((running - 1))
  fi
done
while [ "$running" -gt 0 ]; do
  wait -n || status=1
  running=$((running - 1))
done
exit "$status"
