"""Run by the Helix venv's Python 3.13 (never imported by the flywheel's tests): check payloads against
the Helix SDK's pydantic types and the served OpenAPI document.

Input (argv[1]): JSON ``{"openapi": {...}, "cases": [{"id", "sdk": "module:Class" | null, "schema":
"ComponentName" | null, "payload": {...}}]}``. Output (stdout): JSON ``{id: [problems]}``; an empty list
means the payload parsed strictly with the SDK type and validated against the schema, where every object
schema is closed (a renamed or extra field is a problem, not ignored).
"""

from __future__ import annotations

import copy
import importlib
import json
import sys
from typing import Any

import jsonschema
from pydantic import ValidationError


def _closed(node: Any) -> Any:
    """The schema with ``additionalProperties: false`` wherever properties are listed and nothing else is said."""
    if isinstance(node, dict):
        out = {k: _closed(v) for k, v in node.items()}
        if "properties" in out and "additionalProperties" not in out:
            out["additionalProperties"] = False
        return out
    if isinstance(node, list):
        return [_closed(v) for v in node]
    return node


def check_schema(openapi: dict[str, Any], name: str, payload: Any) -> list[str]:
    components = _closed(copy.deepcopy(openapi["components"]))
    schema = {"$ref": f"#/components/schemas/{name}", "components": components}
    validator = jsonschema.Draft202012Validator(schema)
    return [
        f"openapi {name}: {'/'.join(map(str, e.absolute_path))}: {e.message}"[:300]
        for e in validator.iter_errors(payload)
    ]


def check_sdk(target: str, payload: Any) -> list[str]:
    module, _, cls_name = target.partition(":")
    cls = getattr(importlib.import_module(module), cls_name)
    try:
        cls.model_validate_json(json.dumps(payload), strict=True)
    except ValidationError as exc:
        return [f"sdk {cls_name}: {'.'.join(map(str, e['loc']))}: {e['msg']}"[:300] for e in exc.errors()]
    return []


def main() -> None:
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    results: dict[str, list[str]] = {}
    for case in spec["cases"]:
        problems: list[str] = []
        if case.get("sdk"):
            problems += check_sdk(case["sdk"], case["payload"])
        if case.get("schema"):
            problems += check_schema(spec["openapi"], case["schema"], case["payload"])
        results[case["id"]] = problems
    print(json.dumps(results))


if __name__ == "__main__":
    main()
