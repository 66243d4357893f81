"""Loads a web inbox page in headless Chromium over WebDriver (chromedriver, stdlib only) and
prints JSON with the milliseconds from navigation to the first list shown (the page's
`data-first-paint`) and to the first contentful paint, per run.
    python3 inbox_paint.py URL RUNS"""
import json
import subprocess
import sys
import tempfile
import time
import urllib.request

url, runs = sys.argv[1], int(sys.argv[2])


def call(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(request, timeout=120))["value"]


driver = subprocess.Popen(["chromedriver", "--port=0"], stdout=subprocess.PIPE, text=True)
for line in driver.stdout:
    if "started successfully on port" in line:
        base = f"http://127.0.0.1:{line.rsplit(' ', 1)[1].strip().rstrip('.')}"
        break
profile = tempfile.mkdtemp()
args = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--window-size=1280,900", f"--user-data-dir={profile}"]
caps = {"alwaysMatch": {"goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": args}}}
session = "/session/" + call("POST", "/session", {"capabilities": caps})["sessionId"]
script = ("const fcp = performance.getEntriesByName('first-contentful-paint')[0];"
          "return [document.body.dataset.firstPaint || null, fcp ? fcp.startTime : null,"
          " document.querySelectorAll('#rows tr').length];")
results = []
try:
    for _ in range(runs):
        call("POST", session + "/url", {"url": "about:blank"})
        call("POST", session + "/url", {"url": url})
        deadline = time.time() + 60
        while True:
            listed, fcp, rows = call("POST", session + "/execute/sync", {"script": script, "args": []})
            if listed is not None and fcp is not None:
                break
            if time.time() > deadline:
                sys.exit("the inbox never showed its list")
            time.sleep(0.02)
        results.append({"list_ms": int(listed), "fcp_ms": round(fcp), "rows": rows})
finally:
    call("DELETE", session)
    driver.terminate()
print(json.dumps(results))
