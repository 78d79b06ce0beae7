"""YAML for configs: ``yaml.safe_load`` that refuses duplicate keys and alias bombs.

A key given twice in one mapping is an error naming the line (PyYAML silently keeps the last).
Aliases are kept as shared references by PyYAML, but everything that walks the config later
(validation, fingerprints, MLflow params) expands them: a document whose expanded size exceeds
``MAX_NODES`` is refused before anything walks it.
"""
from __future__ import annotations

import os

import yaml

from seqline.pipeline.errors import ConfigError

MAX_NODES = 100_000


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that raises on a duplicate mapping key."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue                   # "<<: *defaults": later keys may override it
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int, float, bool)):
                continue                   # unhashable keys: SafeLoader reports them itself
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


def expanded_size(value, limit: int = MAX_NODES) -> int:
    """The number of values in ``value`` with every alias expanded, counted up to ``limit + 1``."""
    count, stack = 0, [value]
    while stack and count <= limit:
        item = stack.pop()
        count += 1
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return count


def load(stream):
    """Parse one YAML document; ``yaml.YAMLError`` for a duplicate key, ``ValueError`` for a
    document that expands to more than :data:`MAX_NODES` values."""
    data = yaml.load(stream, Loader=_StrictLoader)   # noqa: S506 (a SafeLoader subclass)
    if expanded_size(data) > MAX_NODES:
        raise ValueError(f"more than {MAX_NODES:,} values once its aliases are expanded "
                         "(an alias bomb?)")
    return data


def load_file(path: str):
    """The YAML document in the file at ``path``; any problem is a one-line ConfigError naming the
    file (and the line, where YAML knows it)."""
    if os.path.isdir(path):
        raise ConfigError(f"{path}: is a folder, not a YAML file")
    if not os.path.isfile(path):
        raise ConfigError(f"config file not found: {path}")
    try:
        with open(path, encoding="utf-8") as fh:
            return load(fh)
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}: {exc.reason})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        problem = " ".join(str(getattr(exc, "problem", None) or exc).split())
        raise ConfigError(f"{path}{where}: invalid YAML ({problem})") from None
    except ValueError as exc:
        raise ConfigError(f"{path}: {exc}") from None
