#!/usr/bin/python3
"""yaml2json.py IN.yaml OUT.json: the OpenAPI document as compact JSON.

Fails (exit 1) on anything YAML would read as other than JSON's types (a
date, say): the served document must say what the YAML file says.
"""
import json
import os
import sys

import yaml


class JsonLoader(yaml.SafeLoader):
    """SafeLoader without the timestamp resolver: dates stay strings."""


JsonLoader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}

with open(sys.argv[1], encoding="utf-8") as f:
    doc = yaml.load(f, Loader=JsonLoader)
os.makedirs(os.path.dirname(sys.argv[2]), exist_ok=True)
tmp = sys.argv[2] + ".tmp"
with open(tmp, "w", encoding="utf-8") as f:
    json.dump(doc, f, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
os.replace(tmp, sys.argv[2])
