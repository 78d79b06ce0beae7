"""A JSON Schema (draft 2020-12) of the seqline config, generated from the config tables
(:mod:`seqline.pipeline.config`, :mod:`seqline.pipeline.task_configs`, :mod:`seqline.pipeline.model_choices`), for editors:
YAML language servers complete and check keys with it.

Example:
    ``seqline config schema -o seqline.schema.json``, then as the first line of pipeline.yaml
    ``# yaml-language-server: $schema=./seqline.schema.json``.

The schema checks what the tables say (keys, types, defaults, choices, ranges); the checks that
read data files or relate keys to each other run only in ``seqline run``.
"""
from __future__ import annotations

from seqline.pipeline.config_fields import COMMON, MODEL_TYPES, NAME, REQUIRED, Field, Section
from seqline.pipeline.config import schema
from seqline.pipeline.model_choices import MEMBER_KEYS, TUNABLE
from seqline.pipeline.task_configs import TASK_SECTIONS

DRAFT = "https://json-schema.org/draft/2020-12/schema"
JSON_TYPES = {int: "integer", float: "number", str: "string", bool: "boolean", list: "array",
              dict: "object", type(None): "null"}
PATH_NOTE = "a path relative to the config file"


def json_types(types: tuple) -> str | list:
    """JSON Schema ``type`` for Python types (an integer is a number, so int + float is number)."""
    names = list(dict.fromkeys(JSON_TYPES[t] for t in types))
    if "number" in names and "integer" in names:
        names.remove("integer")
    return names[0] if len(names) == 1 else names


def field_schema(spec: Field) -> dict:
    """The schema of one key: type, default, enum, range, name pattern, description."""
    out: dict = {"type": json_types(spec.types)}
    description = "; ".join(filter(None, (spec.help, PATH_NOTE if spec.is_path else "")))
    if description:
        out["description"] = description
    if spec.default is not REQUIRED:
        out["default"] = spec.default
    if spec.choices:
        out["enum"] = list(spec.choices) + ([None] if type(None) in spec.types else [])
    if spec.minimum is not None:
        out["minimum"] = spec.minimum
    if spec.maximum is not None:
        out["maximum"] = spec.maximum
    if spec.is_name:
        out["pattern"] = f"^{NAME.pattern}$"
    return out


def _value_schema(spec: Field) -> dict:
    """``field_schema`` without default and description: the schema of a value to choose from."""
    return {k: v for k, v in field_schema(spec).items() if k not in ("default", "description")}


def ensemble_member() -> dict:
    """An ``model.ensemble`` entry: an architecture name or a mapping of model keys."""
    fields = COMMON["model"].fields
    return {"anyOf": [{"enum": list(MODEL_TYPES)},
                      {"type": "object", "additionalProperties": False,
                       "properties": {k: _value_schema(fields[k]) for k in MEMBER_KEYS}}]}


def search_space() -> dict:
    """``tuning.search_space``: each tunable key with a list of choices or a ``{low, high, log}``
    range."""
    properties = {}
    for name, section in TUNABLE.items():
        spec = COMMON[section].fields.get(name)
        value = _value_schema(spec) if spec else {"type": "integer", "minimum": 2}
        properties[name] = {
            "description": f"choices or a range for {section}.{name}" if spec else
                           "choices or a range of window lengths up to transform.lookback",
            "anyOf": [{"type": "array", "minItems": 1, "items": value},
                      {"type": "object", "additionalProperties": False, "required": ["low", "high"],
                       "properties": {"low": {"type": "number"}, "high": {"type": "number"},
                                      "log": {"type": "boolean", "default": False}}}]}
    return {"type": "object", "minProperties": 1, "additionalProperties": False,
            "properties": properties}


SPECIAL = {"model.ensemble": lambda s: {**s, "items": ensemble_member(), "minItems": 2},
           "tuning.search_space": lambda s: {**s, **search_space()}}


def section_schema(section: Section, prefix: str = "") -> dict:
    """A closed object of the section's keys; an optional section may also be null (absent)."""
    properties, required = {}, []
    for key, spec in section.fields.items():
        name = prefix + key
        if isinstance(spec, Section):
            properties[key] = section_schema(spec, name + ".")
            if not spec.optional:
                required.append(key)
            continue
        properties[key] = SPECIAL.get(name, lambda s: s)(field_schema(spec))
        if spec.default is REQUIRED:
            required.append(key)
    out: dict = {"type": "object" if prefix == "" or not section.optional else ["object", "null"],
                 "additionalProperties": False, "properties": properties}
    if required:
        out["required"] = required
    return out


def config_schema() -> dict:
    """The JSON Schema of a seqline config: ``task`` picks the sections of that task."""
    tasks = list(TASK_SECTIONS)
    branches, definitions = [], {}
    for task in tasks:
        definitions[task] = section_schema(schema(task))
        condition: dict = {"properties": {"task": {"const": task}}}
        if task != COMMON["task"].default:       # the default task applies when task is absent
            condition["required"] = ["task"]
        branches.append({"if": condition, "then": {"$ref": f"#/$defs/{task}"}})
    return {"$schema": DRAFT, "title": "seqline pipeline config",
            "description": "Generated by `seqline config schema` from the config tables.",
            "type": "object",
            "properties": {"task": {**field_schema(COMMON["task"]), "enum": tasks,
                                    "description": "which task's sections the config has"}},
            "allOf": branches, "$defs": definitions}
