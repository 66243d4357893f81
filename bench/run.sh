#!/usr/bin/env bash
# One entry point for the benchmarks, each measured next to its peer in the same run:
#   bench/run.sh [sink|kafka|render|verify|e2e|inbox|load|hostile|celery|capture|all] ...  (default: all)
# Runs the per-area scripts (each installs or builds what it needs, starts its peers on
# loopback, repeats its workload and writes bench/results/<area>.json), then prints one
# table of medians and ratios and writes bench/results/all.json.
# Quick sizes for a first look: SIZE=quick bench/run.sh all
set -euo pipefail
cd "$(dirname "$0")/.."
areas=("$@")
[ ${#areas[@]} -eq 0 ] && areas=(all)
[ "${areas[0]}" = all ] && areas=(sink kafka render verify e2e inbox load hostile celery capture)
quick=${SIZE:-full}
failed=()
for area in "${areas[@]}"; do
  echo "== bench/$area.sh" >&2
  # One area failing does not lose the others' figures; the run still fails at the end.
  case "$area:$quick" in
    sink:quick) bash bench/sink.sh 5000 1 ;;
    kafka:quick) bash bench/kafka.sh 50000 1 ;;
    render:quick) bash bench/render.sh 1 3 ;;
    verify:quick) bash bench/verify.sh 20000 100 1 ;;
    e2e:quick) bash bench/e2e.sh 5000 5 ;;
    inbox:quick) bash bench/inbox.sh 20000 3 ;;
    load:quick) bash bench/load.sh 20000 ;;
    hostile:quick) bash bench/hostile.sh 10 ;;
    celery:quick) bash bench/celery.sh 5000 1 ;;
    capture:quick) bash bench/capture.sh 5000 1 ;;
    sink:*|kafka:*|render:*|verify:*|e2e:*|inbox:*|load:*|hostile:*|celery:*|capture:*) bash "bench/$area.sh" ;;
    *) echo "unknown area \`$area\` (sink, kafka, render, verify, e2e, inbox, load, hostile, celery, capture, all)" >&2; exit 2 ;;
  esac || failed+=("$area")
done
python3 bench/summary.py
if [ ${#failed[@]} -gt 0 ]; then
  echo "bench: failed: ${failed[*]}" >&2
  exit 1
fi
