"""Offline checks of the deployment files, run by the tools' Python (deploy/validate/tools.sh).

    check.py k8s FILE...          Kubernetes manifests: kubernetes-validate's bundled schemas,
                                  custom resources against their CRD's openAPIV3Schema
    check.py compose FILE...      Compose files against the compose-spec JSON schema
    check.py prepare-keda DIR     from KEDA's Go module: the ScaledObject CRD schema and the
                                  kafka trigger's metadata keys, into the tools' schema folder

Prints one line per problem (`file: Kind/name: what`) and exits 1 when there is any.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

TOOLS_DIR = Path(
    os.environ.get("STREAM_HEALTH_TOOLS_DIR", Path(__file__).resolve().parents[2] / ".stack/tools")
)
SCHEMA_DIR = TOOLS_DIR / "schemas"
# The oldest Kubernetes release still in wide support, and the newest the validator bundles:
# a manifest must be valid on both.
KUBERNETES_VERSIONS = ("1.30.0", "1.37.0")
KAFKA_TRIGGER_KEYS = "keda-kafka-trigger.json"
TAG = re.compile(r'keda:"([^"]*)"')


def _documents(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as stream:
        for document in yaml.safe_load_all(stream):
            if document is not None:
                yield document


def _name(document: dict[str, Any]) -> str:
    return f"{document.get('kind')}/{document.get('metadata', {}).get('name')}"


def _crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> schema, for every CRD schema prepare-* wrote."""
    schemas = {}
    for path in sorted(SCHEMA_DIR.glob("crd-*.json")):
        wrapper = json.loads(path.read_text(encoding="utf-8"))
        schemas[(wrapper["apiVersion"], wrapper["kind"])] = wrapper["schema"]
    return schemas


def _schema_errors(schema: dict[str, Any], document: Any) -> list[str]:
    validator = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
    errors = sorted(validator(schema).iter_errors(document), key=lambda e: list(e.absolute_path))
    return [f"{'.'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}" for e in errors]


def _kafka_trigger_errors(document: dict[str, Any]) -> list[str]:
    """KEDA ignores metadata keys it does not know: a misspelt key silently means its default."""
    keys = json.loads((SCHEMA_DIR / KAFKA_TRIGGER_KEYS).read_text(encoding="utf-8"))
    known = set(keys["metadata"]) | {f"{k}FromEnv" for k in keys["from_env"]}
    errors = []
    for index, trigger in enumerate(document.get("spec", {}).get("triggers", [])):
        if trigger.get("type") != "kafka":
            continue
        metadata = trigger.get("metadata", {})
        errors += [
            f"spec.triggers.{index}.metadata.{key}: not a key of KEDA's kafka scaler"
            for key in sorted(set(metadata) - known)
        ]
        errors += [
            f"spec.triggers.{index}.metadata: {key} (or {key}FromEnv) is required"
            for key in keys["required"]
            if key not in metadata and f"{key}FromEnv" not in metadata
        ]
    return errors


def check_kubernetes(paths: list[Path]) -> list[str]:
    """Every problem in the manifests, as `file: Kind/name: what`."""
    crds = _crd_schemas()
    problems = []
    for path in paths:
        for document in _documents(path):
            where = f"{path}: {_name(document)}"
            crd = crds.get((document.get("apiVersion", ""), document.get("kind", "")))
            if crd is not None:
                errors = _schema_errors(crd, document)
                if document["kind"] == "ScaledObject":
                    errors += _kafka_trigger_errors(document)
                problems += [f"{where}: {e}" for e in errors]
                continue
            for version in KUBERNETES_VERSIONS:
                try:
                    kubernetes_validate.validate(document, version, strict=True)
                except kubernetes_validate.ValidationError as exc:
                    path_in = ".".join(str(p) for p in exc.absolute_path) or "(root)"
                    problems.append(f"{where}: {path_in}: {exc.message} (k8s {version})")
                except kubernetes_validate.SchemaNotFoundError as exc:
                    problems.append(f"{where}: {exc.message}")
    return problems


def check_compose(paths: list[Path]) -> list[str]:
    """Every problem in the compose files, as `file: path: what`."""
    schema = json.loads((SCHEMA_DIR / "compose-spec.json").read_text(encoding="utf-8"))
    problems = []
    for path in paths:
        for document in _documents(path):
            problems += [f"{path}: {e}" for e in _schema_errors(schema, document)]
    return problems


def _strict(schema: Any) -> Any:
    """Reject unknown fields, as the API server's strict field validation does."""
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    strict = {key: _strict(value) for key, value in schema.items()}
    if (
        "properties" in strict
        and "additionalProperties" not in strict
        and not strict.get("x-kubernetes-preserve-unknown-fields")
    ):
        strict["additionalProperties"] = False
    return strict


def _kafka_metadata_keys(source: str) -> dict[str, list[str]]:
    """The kafka scaler's metadata keys, from its struct tags (`keda:"name=...,order=..."`)."""
    body = source.split("type kafkaMetadata struct {", 1)[1].split("\n}\n", 1)[0]
    metadata, from_env, required = [], [], []
    for tag in TAG.findall(body):
        pairs = [part.strip().partition("=") for part in tag.split(",") if part.strip()]
        fields = {key: value for key, _, value in pairs}
        order = fields.get("order", "").split(";")
        if "triggerMetadata" not in order:
            continue
        metadata.append(fields["name"])
        if "resolvedEnv" in order:
            from_env.append(fields["name"])
        if "optional" not in fields and "default" not in fields:
            required.append(fields["name"])
    return {"metadata": metadata, "from_env": from_env, "required": required}


def prepare_keda(module_dir: Path) -> list[str]:
    """Write the ScaledObject schema and the kafka trigger's keys from KEDA's module."""
    SCHEMA_DIR.mkdir(parents=True, exist_ok=True)
    crd_path = module_dir / "config/crd/bases/keda.sh_scaledobjects.yaml"
    crd = next(_documents(crd_path))
    kind = crd["spec"]["names"]["kind"]
    written = []
    for version in crd["spec"]["versions"]:
        api_version = f"{crd['spec']['group']}/{version['name']}"
        schema = _strict(version["schema"]["openAPIV3Schema"])
        out = SCHEMA_DIR / f"crd-{kind.lower()}-{version['name']}.json"
        out.write_text(json.dumps({"apiVersion": api_version, "kind": kind, "schema": schema}))
        written.append(str(out))
    source = (module_dir / "pkg/scalers/kafka_scaler.go").read_text(encoding="utf-8")
    keys = _kafka_metadata_keys(source)
    if not keys["required"]:
        return [f"{module_dir}: no kafka trigger keys found: has kafka_scaler.go changed?"]
    out = SCHEMA_DIR / KAFKA_TRIGGER_KEYS
    out.write_text(json.dumps(keys, indent=1))
    print("\n".join([*written, str(out)]))
    return []


def main(argv: list[str] | None = None) -> int:
    """Run one check; 1 when it found problems."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("check", choices=("k8s", "compose", "prepare-keda"))
    parser.add_argument("paths", nargs="+", type=Path)
    args = parser.parse_args(argv)
    if args.check == "k8s":
        problems = check_kubernetes(args.paths)
    elif args.check == "compose":
        problems = check_compose(args.paths)
    else:
        problems = prepare_keda(args.paths[0])
    for problem in problems:
        print(problem)
    if not problems and args.check != "prepare-keda":
        print(f"ok: {args.check}: {len(args.paths)} files")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
