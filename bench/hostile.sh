#!/usr/bin/env bash
# What a GET on a hostile captured message costs next to one on an ordinary message of the
# same size (issue 16, item 9): a sink stores an ordinary 300 KB newsletter (HTML, links, an
# inline image named once) and hostile messages padded to the same size (an image named a
# thousand times, unterminated attributes, unclosed tags, thousands of links, deep nesting,
# thousands of style blocks). For each, RUNS reads of the parsed view
# (`/api/v1/messages/ID`) and of the viewer's HTML (`/html`); prints the median wall time,
# the sink's CPU time per read (from /proc) and the response size, each as a ratio to the
# ordinary message. Target: every ratio under 5. Writes bench/results/hostile.json.
#   bench/hostile.sh [RUNS] [SIZE_KB]     (defaults: 30 reads, 300 KB)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-30}
size_kb=${2:-300}
cargo build --release --locked -q --bin mailtest
bin=$PWD/target/release/mailtest
work=$(mktemp -d)
server=""
trap '[ -n "$server" ] && kill $server 2>/dev/null; rm -rf "$work"' EXIT
source bench/lib.sh
smtp=$(free_port); http=$(free_port)
"$bin" -q sink --smtp 127.0.0.1:$smtp --http 127.0.0.1:$http --store "$work/store" & server=$!
wait_port "$smtp"; wait_port "$http"
mkdir -p bench/results
python3 - "$smtp" "$http" "$server" "$runs" "$size_kb" <<'PY'
import base64, http.client, json, os, smtplib, statistics, sys, time
from email.message import EmailMessage

smtp, port, pid, runs, size_kb = (int(a) for a in sys.argv[1:])
size = size_kb * 1024
image = base64.b64encode(os.urandom(60_000)).decode()
filler = "<p>Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod.</p>\n"

def message(name, html):
    # Padded with ordinary paragraphs up to the same size as every other message.
    head = ("From: News <news@example.com>\r\nTo: reader@example.com\r\n"
            f"Subject: {name}\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/related; boundary=\"b\"\r\n\r\n--b\r\n"
            "Content-Type: text/html; charset=utf-8\r\n\r\n")
    tail = ("\r\n--b\r\nContent-Type: image/png\r\nContent-ID: <img1>\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n"
            + "\r\n".join(image[i:i + 76] for i in range(0, len(image), 76)) + "\r\n--b--\r\n")
    pad = max(0, size - len(head) - len(html) - len(tail))
    body = html + filler * (pad // len(filler))
    return (head + body + tail).encode()

ordinary = "<img src=\"cid:img1\" alt=\"logo\" width=\"120\">" + "".join(
    f"<h2>Story {i}</h2><p>Read <a href=\"https://news.example.com/{i}\">more</a>.</p>"
    for i in range(200))
shapes = {
    "ordinary": ordinary,
    "image named 1,000 times": "<img src=\"cid:img1\">" * 1000,
    "unterminated attributes": "<a x=\"" * 20_000,
    "attributes without end": "<a b c d e " * 20_000,
    "unclosed tags": "<b>" * 50_000,
    "stray end tags": "</i>" * 50_000,
    "5,000 links": "".join(f"<a href=\"https://x.example/{i}\">l</a>" for i in range(5_000)),
    "nesting 20,000 deep": "<div>" * 20_000 + "x" + "</div>" * 20_000,
    "style blocks": "<style>p{color:red}</style>" * 5_000,
}
raws = {name: message(name, html) for name, html in shapes.items()}
sizes = [len(raw) for raw in raws.values()]
assert max(sizes) - min(sizes) < size // 100, f"messages differ in size: {sizes}"
with smtplib.SMTP("127.0.0.1", smtp) as s:
    for raw in raws.values():
        s.sendmail("news@example.com", ["reader@example.com"], raw)

def get(conn, path):
    conn.request("GET", path)
    r = conn.getresponse()
    body = r.read()
    assert r.status == 200, (path, r.status, body[:200])
    return len(body)

def cpu():
    # utime + stime of the sink, in seconds.
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
conn.request("GET", "/api/v1/messages?limit=100")
listed = json.loads(conn.getresponse().read())["messages"]
ids = {m["subject"]: m["id"] for m in listed}
results = {}
for name in shapes:
    row = {}
    for route, path in (("view", f"/api/v1/messages/{ids[name]}"),
                        ("html", f"/api/v1/messages/{ids[name]}/html")):
        get(conn, path)  # warm the page cache
        times, start_cpu = [], cpu()
        for _ in range(runs):
            t = time.perf_counter()
            length = get(conn, path)
            times.append(time.perf_counter() - t)
        row[route] = {"ms": statistics.median(times) * 1000,
                      "cpu_ms": (cpu() - start_cpu) / runs * 1000, "bytes": length}
    results[name] = row

base = results["ordinary"]
print(f"GET on a hostile message vs an ordinary one of {size_kb} KB, median of {runs} reads")
print(f"{'message':<26} {'route':<5} {'ms':>8} {'cpu ms':>8} {'KB out':>8} {'ms x':>6} {'cpu x':>6}")
worst = 0.0
for name, row in results.items():
    for route, r in row.items():
        b = base[route]
        wall = r["ms"] / b["ms"]
        # CPU ticks are 10 ms: below a tick per read, compare wall times only.
        cpu_ratio = r["cpu_ms"] / b["cpu_ms"] if b["cpu_ms"] > 0 else float("nan")
        r["ratio"] = wall
        worst = max(worst, wall)
        print(f"{name:<26} {route:<5} {r['ms']:>8.2f} {r['cpu_ms']:>8.2f} {r['bytes'] / 1024:>8.0f}"
              f" {wall:>6.2f} {cpu_ratio:>6.2f}")
print(f"worst wall-time ratio: {worst:.2f}x (target: under 5x)")
json.dump({"runs": runs, "size_kb": size_kb, "results": results, "worst_ratio": worst},
          open("bench/results/hostile.json", "w"), indent=2)
PY
