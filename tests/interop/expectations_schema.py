"""Checks the expectations JSON Schema: it is a valid draft 2020-12 schema, every file under
fixtures/expectations conforms to it, and files with mistakes do not.
    python3 expectations_schema.py PROJECT_ROOT
"""
import glob
import json
import sys

import jsonschema
import yaml

root = sys.argv[1]
schema = json.load(open(f"{root}/schemas/expectations.schema.json"))
jsonschema.Draft202012Validator.check_schema(schema)
validator = jsonschema.Draft202012Validator(schema)
files = sorted(glob.glob(f"{root}/fixtures/expectations/*/*.yaml"))
assert files, "no expectation files found"
for path in files:
    errors = [e.message for e in validator.iter_errors(yaml.safe_load(open(path)))]
    assert not errors, f"{path}: {errors}"
mistakes = [
    {"expect": [{"name": "a", "asert": {}}]},
    {"expect": [{"name": "a", "match": {"subject": {"contians": "x"}}}]},
    {"expect": [{"name": "a", "count": -1}]},
    {"timeout": "soon", "expect": []},
    {"expect": [{"name": "a", "extract": {"t": {"from": "body", "regex": "x"}}}]},
]
for doc in mistakes:
    assert list(validator.iter_errors(doc)), f"accepted a mistake: {doc}"
print(f"{len(files)} files conform, {len(mistakes)} mistakes refused")
