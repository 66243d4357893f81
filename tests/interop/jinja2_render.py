"""Renders a team's templates with Python's Jinja2, as its service does, to compare with
mailtest's renders of the same files.

  jinja2_render.py email CATALOG TYPE < payload.json
      one email of a catalog with a `templates.yaml`: {"subject", "html", "text"} (text
      null when the type has no text template)
  jinja2_render.py features CATALOG < context.json
      every template under the catalog's `features/` folder, each to its output or
      {"error": ...}: {"name": output, ...}

The Environment is set up from `templates.yaml` the way a service sets up its own:
FileSystemLoader, select_autoescape() or autoescape=True/False, Undefined,
ChainableUndefined or StrictUndefined. The event's fields and the globals are the
template's variables (`template.render(**payload, **globals)`); a subject in a block is
rendered the way services do it: `"".join(template.blocks["subject"](context))`.
"""

import json
import os
import sys

import jinja2
import yaml


def environment(catalog):
    with open(os.path.join(catalog, "templates.yaml"), encoding="utf-8") as f:
        layout = yaml.safe_load(f)
    escape = layout.get("autoescape", "html")
    undefined = {
        "lenient": jinja2.Undefined,
        "chainable": jinja2.ChainableUndefined,
        "strict": jinja2.StrictUndefined,
    }[layout.get("undefined", "lenient")]
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(os.path.join(catalog, layout.get("dir", "."))),
        autoescape={"html": jinja2.select_autoescape(), "all": True, "none": False}[escape],
        undefined=undefined,
    )
    return env, layout


def part(env, spec, html, context, variables):
    if spec is None:
        return ""
    if "block" in spec:
        template = env.get_template(html)
        return "".join(template.blocks[spec["block"]](template.new_context(variables)))
    if "file" in spec:
        return env.get_template(spec["file"]).render(**variables)
    return env.from_string(spec["text"]).render(**variables)


def email(catalog, event_type):
    env, layout = environment(catalog)
    own = layout["types"][event_type]
    payload = json.load(sys.stdin)
    variables = {**payload, **layout.get("globals", {})}
    html = own["html"]
    out = {
        "subject": " ".join(part(env, own["subject"], html, None, variables).split()),
        "html": env.get_template(html).render(**variables),
        "text": env.get_template(own["text"]).render(**variables) if own.get("text") else None,
    }
    json.dump(out, sys.stdout)


def features(catalog):
    env, layout = environment(catalog)
    context = {**json.load(sys.stdin), **layout.get("globals", {})}
    out = {}
    for name in sorted(env.list_templates()):
        if not name.startswith("features/"):
            continue
        try:
            out[name] = env.get_template(name).render(**context)
        except Exception as e:  # noqa: BLE001 - every failure is a result here
            out[name] = {"error": f"{type(e).__name__}: {e}"}
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    if sys.argv[1] == "email":
        email(sys.argv[2], sys.argv[3])
    else:
        features(sys.argv[2])
