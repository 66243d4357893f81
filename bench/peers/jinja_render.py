"""Renders per second for Python Jinja2 on the same template and context as mailtest.

The filters the template uses (money, times, track) are written to give the same output as
mailtest's, so the two rendered pages can be compared byte for byte.
    python3 jinja_render.py TEMPLATES_DIR CONTEXT_JSON TEMPLATE SECONDS OUT_HTML
"""
import json
import sys
import time
from decimal import Decimal, ROUND_HALF_UP
from urllib.parse import urlsplit, urlunsplit, parse_qsl, urlencode

import jinja2

templates, context_file, template, seconds, out = sys.argv[1:6]
context = json.load(open(context_file))
tracking = {"utm_source": "mailtest", "utm_medium": "email"}


def money(value, currency):
    amount = Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    symbol = {"USD": "$", "EUR": "€", "GBP": "£"}.get(currency, currency)
    number = f"{abs(amount):,.2f}"
    sign = "-" if amount < 0 else ""
    return f"{sign}{symbol}{number}" if len(symbol) == 1 else f"{sign}{symbol}\u00a0{number}"


def times(value, factor):
    d = Decimal(str(value)) * factor
    return str(d)


def track(url, campaign=None):
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    keys = {k for k, _ in query}
    # mailtest adds the configured parameters in key order, then the campaign.
    for k in sorted(tracking):
        if k not in keys:
            query.append((k, tracking[k]))
    if campaign is not None and "utm_campaign" not in keys:
        query.append(("utm_campaign", campaign))
    path = parts.path or "/"
    return urlunsplit((parts.scheme, parts.netloc, path, urlencode(query), parts.fragment))


def plural(n, one, many):
    return (one if n == 1 else many).replace("{n}", str(n))


env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(templates),
    undefined=jinja2.StrictUndefined,
    autoescape=jinja2.select_autoescape(["html"]),
)
env.filters.update(money=money, times=times, track=track, plural=plural)
tpl = env.get_template(template)
open(out, "w").write(tpl.render(context))
for _ in range(100):
    tpl.render(context)
n = 0
start = time.perf_counter()
while time.perf_counter() - start < float(seconds):
    for _ in range(100):
        tpl.render(context)
    n += 100
print(round(n / (time.perf_counter() - start)))
