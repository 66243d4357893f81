#!/usr/bin/env bash
# Template rendering, mailtest (minijinja) next to Python Jinja2 (what notification services
# in this field are commonly written with): the same template files, the same context, the
# same filters; the two outputs are compared so both are known to do the same work. Each
# engine runs pinned to the same CPU, alternating, RUNS times; prints medians and the ratio,
# and writes bench/results/render.json.
#   bench/render.sh [SECONDS_PER_RUN] [RUNS] [FIXTURE]   (defaults: 3, 5, order_confirmation/default)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-3}
runs=${2:-5}
fixture=${3:-order_confirmation/default}
python3 -c "import jinja2" 2>/dev/null || pip install --quiet jinja2
cargo build --release --locked -q --example render_rate
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cpu=$(( $(nproc) > 1 ? 1 : 0 ))
mt=() ; full=() ; py=()
for _ in $(seq "$runs"); do
  out=$(taskset -c "$cpu" target/release/examples/render_rate "$fixture" "$seconds" "$work")
  mt+=("$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['template'])" "$out")")
  full+=("$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['full'])" "$out")")
  py+=("$(taskset -c "$cpu" python3 bench/peers/jinja_render.py templates "$work/context.json" \
    "$(cat "$work/template.txt")" "$seconds" "$work/jinja.html")")
done
# minijinja escapes `/` in HTML output as `&#x2f;`, Jinja2 does not; the same page otherwise.
python3 - "$work/mailtest.html" "$work/jinja.html" <<'PY'
import sys
a = open(sys.argv[1]).read().replace("&#x2f;", "/")
b = open(sys.argv[2]).read()
if a != b:
    sys.exit("render bench: mailtest and Jinja2 rendered different pages")
print("outputs: identical (after normalising minijinja's escaped '/')", file=sys.stderr)
PY
mkdir -p bench/results
python3 - "$fixture" "${mt[*]}" "${full[*]}" "${py[*]}" <<'PY'
import json, statistics, sys, platform, os
fixture, mt, full, py = sys.argv[1], *[list(map(float, a.split())) for a in sys.argv[2:]]
m = {k: statistics.median(v) for k, v in {"mailtest_template": mt, "mailtest_full": full, "jinja2_template": py}.items()}
print(f"render {fixture} (renders/s, median of {len(mt)} runs, one CPU)")
print(f"  {'mailtest, HTML template':<34}{m['mailtest_template']:>10,.0f}   {m['mailtest_template']/m['jinja2_template']:.1f}x Jinja2")
print(f"  {'Jinja2 3, HTML template':<34}{m['jinja2_template']:>10,.0f}   1.0x")
print(f"  {'mailtest, whole email (+CSS, text)':<34}{m['mailtest_full']:>10,.0f}   {m['mailtest_full']/m['jinja2_template']:.1f}x Jinja2 template alone")
json.dump({"fixture": fixture, "runs": {"mailtest_template": mt, "mailtest_full": full, "jinja2_template": py},
           "median": m, "ratio_template": m["mailtest_template"] / m["jinja2_template"],
           "machine": {"cpus": os.cpu_count(), "python": platform.python_version()}},
          open("bench/results/render.json", "w"), indent=2)
PY
