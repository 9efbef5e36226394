"""Extract the schemas freehold's tests validate against from OpenAI's published spec.

usage: python tests/data/extract_openai_schemas.py PATH/openai-openapi.yaml
Writes tests/data/openai-schemas.json: the named schemas and everything they reference.
"""

import json
import sys
from pathlib import Path

import yaml

ROOTS = [
    "CreateChatCompletionResponse",
    "CreateChatCompletionStreamResponse",
    "CreateCompletionResponse",
    "CreateEmbeddingResponse",
    "ErrorResponse",
    "ListModelsResponse",
    "Model",
    "Response",
    "ResponseItemList",
    "ResponseStreamEvent",
]


def refs(node, found):
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            found.add(ref.rsplit("/", 1)[1])
        for value in node.values():
            refs(value, found)
    elif isinstance(node, list):
        for value in node:
            refs(value, found)


def main(spec_path: str) -> None:
    spec = yaml.load(Path(spec_path).read_text(), Loader=yaml.CSafeLoader)
    schemas = spec["components"]["schemas"]
    keep, todo = set(), list(ROOTS)
    while todo:
        name = todo.pop()
        if name in keep:
            continue
        keep.add(name)
        found: set[str] = set()
        refs(schemas[name], found)
        todo += sorted(found - keep)
    out = {
        "openapi": spec["openapi"],
        "info": spec["info"]["version"],
        "components": {"schemas": {n: schemas[n] for n in sorted(keep)}},
    }
    target = Path(__file__).with_name("openai-schemas.json")
    target.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
    print(f"{len(keep)} schemas -> {target}")


if __name__ == "__main__":
    main(sys.argv[1])
