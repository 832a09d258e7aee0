#!/usr/bin/env bash
# The conformance gate as the GitHub Action (action.yml) runs it, and as CI tests it:
#   ENGINE=mypkg/engine.py:Value REPORT=conformance-report ARGS="--suite examples" scripts/gate.sh
# Runs `python -m conformance run` on ENGINE, writes the reports to REPORT, adds the verdict to
# the job's summary page when there is one, and exits with run's exit code (the gate).
set -uo pipefail
: "${ENGINE:?set ENGINE to the engine, e.g. mypkg/engine.py:Value}"
REPORT="${REPORT:-conformance-report}"
# ARGS is split on whitespace, as a shell would split it, but never evaluated.
read -r -a extra <<< "${ARGS:-}"
python -m conformance run --engine "$ENGINE" --out "$REPORT" "${extra[@]}"
code=$?
if [ -n "${GITHUB_STEP_SUMMARY:-}" ] && [ -f "$REPORT/run.json" ]; then
  python - "$REPORT/run.json" >> "$GITHUB_STEP_SUMMARY" <<'PY'
import json, sys
meta = json.load(open(sys.argv[1]))
print(f"### backprop-conformance: {meta['engine']}\n\n{meta['verdict']}\n")
PY
fi
exit "$code"
