"""The settings a stored result depends on, compared: a store (or output folder) made with other
settings is refused, naming every difference, instead of being mixed with new results."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from pixsift.engine.core.errors import BadInput


class SettingsMismatch(BadInput):
    """An existing store or output was made with settings that change its values."""


def check_settings(what: str, stored: Mapping[str, Any], wanted: Mapping[str, Any], hint: str = "") -> None:
    """Raise SettingsMismatch naming every setting in `wanted` that differs from `stored` (nested mappings
    compared key by key, as they read back from JSON); `what` names the store, `hint` what to do."""
    if changes := differences(stored, wanted):
        raise SettingsMismatch(
            what,
            f"made with other settings ({'; '.join(changes)})",
            hint or "use another path, or delete this one to start over",
        )


def differences(stored: Mapping[str, Any], wanted: Mapping[str, Any]) -> list[str]:
    """`key: <stored> before, <wanted> now` for every setting that differs, nested keys joined by dots."""
    ours, theirs = _flatten(as_json(stored)), _flatten(as_json(wanted))
    ours, theirs = defaultdict(lambda: "<absent>", ours), defaultdict(lambda: "<absent>", theirs)
    differing = sorted(k for k in ours.keys() | theirs.keys() if ours[k] != theirs[k])
    return [f"{k}: {ours[k]!r} before, {theirs[k]!r} now" for k in differing]


def as_json(value: Any) -> Any:
    """`value` as it reads back from JSON attributes (tuples become lists, keys strings)."""
    return json.loads(json.dumps(value, sort_keys=True))


def _flatten(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested tables (and lists of tables, as a spec's steps: `steps.2.fraction`) as dotted keys."""
    flat = {}
    for key, value in mapping.items():
        if isinstance(value, Mapping) and value:
            flat.update(_flatten(value, f"{prefix}{key}."))
        elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            flat.update(_flatten({str(i): v for i, v in enumerate(value, 1)}, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat
