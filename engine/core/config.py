"""One configuration path for every stage: a dataclass whose fields are the settings.

    @dataclass(kw_only=True)
    class ScoreConfig(StageConfig):
        store: str = setting(help="run store path or fsspec URL")
        batch_size: int = setting(256, help="images per model batch", min=1, affects_values=False)

- Values come from a TOML file (`--config FILE.toml`, keys are the field names) and from flags derived
  from the fields (`batch_size` -> `--batch-size`, help from the field's metadata); a flag wins over the
  file. `StageConfig.load` merges them and remembers where each value came from.
- Every value is checked when the config is made, before any output exists: its type (from the
  annotation), its range (`min`, `max`) and its `choices`. A bad value is a SettingError naming where it
  came from: the flag (`--workers`), the key in the file (`score.toml: workers`) or, for a Python caller,
  the field (`ScoreConfig.workers`).
- Fields marked `affects_values=True` are the settings a store's values depend on: `value_settings()`
  gives them, and a store made with others is refused (engine.core.settings).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import tomllib
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, ClassVar, Self

from pixsift.engine.core.errors import BadInput, NotFound

_NO_DEFAULT = dataclasses.MISSING


class SettingError(BadInput):
    """A setting with a bad value; `name` is the field."""

    def __init__(self, name: str, problem: str, where: str = ""):
        self.name = name
        super().__init__(where or name, problem)


def setting(
    default: Any = _NO_DEFAULT,
    *,
    help: str,
    choices: tuple | None = None,
    min: float | None = None,
    max: float | None = None,
    affects_values: bool = False,
    flag: str | None = None,
    metavar: str | None = None,
    positional: bool = False,
    factory: Any = _NO_DEFAULT,
):
    """A config field: its default (or `factory` for a list or dict), the help its flag shows (a
    `positional` one is an argument, not a flag), the checks its value must pass, and whether the stored
    values depend on it."""
    metadata = {
        "help": help,
        "choices": choices,
        "min": min,
        "max": max,
        "affects_values": affects_values,
        "flag": flag,
        "metavar": metavar,
        "positional": positional,
    }
    if factory is not _NO_DEFAULT:
        return dataclasses.field(default_factory=factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclasses.dataclass(kw_only=True)
class Config:
    """A checked dataclass of settings (see the module docstring). Subclasses add cross-field checks in
    `check()`, raising SettingError."""

    def __post_init__(self) -> None:
        hints = _hints(type(self))
        for f in dataclasses.fields(self):
            setattr(self, f.name, checked(f, hints[f.name], getattr(self, f.name), _label(type(self), f)))
        self.check()

    def check(self) -> None:
        """Checks that involve several fields."""

    # Settings used only with another one (a field that is falsy unless given): {setting: the one it needs}.
    NEEDS: ClassVar[Mapping[str, str]] = {}

    def check_needs(self, given: Iterable[str]) -> None:
        """A setting given without the one it needs would go unused: an error, naming both."""
        for name in sorted(set(given) & self.NEEDS.keys()):
            needed = self.NEEDS[name]
            if not getattr(self, needed):
                raise SettingError(name, f"is for {flag_of(type(self), needed)}, which was not given")

    @classmethod
    def load(
        cls,
        config_file: str | Path | None = None,
        values: Mapping[str, Any] | None = None,
        *,
        given: Mapping[str, Any] | None = None,
        where: Mapping[str, str] | None = None,
        flag_names: Mapping[str, str] | None = None,
    ) -> Self:
        """The config from a TOML file, then `values` (a table, as read from a file), then `given` (flag
        values; None means not given): each later source wins. Errors name the source of the value."""
        merged: dict[str, Any] = {}
        names = {
            f.name: (flag_names or {}).get(f.name) or flag_of(cls, f.name) for f in dataclasses.fields(cls)
        }
        origin: dict[str, str] = {**names, **(where or {})}
        if config_file:
            table = read_toml(config_file)
            merged.update(table)
            origin.update({k: f"{config_file}: {k}" for k in table})
        if values:
            merged.update(values)
        for name, value in (given or {}).items():
            if value is not None:
                merged[name] = value
                origin[name] = names[name]
        return cls.from_table(merged, str(config_file or ""), origin)

    @classmethod
    def from_table(
        cls, table: Mapping[str, Any], where: str = "", origin: Mapping[str, str] | None = None
    ) -> Self:
        """The config from a table of settings (field names); `where` names the table in errors."""
        origin = dict(origin or {})
        known = {f.name: f for f in dataclasses.fields(cls)}
        if unknown := sorted(table.keys() - known.keys()):
            raise SettingError(
                unknown[0],
                f"unknown settings {', '.join(unknown)}; known: {', '.join(sorted(known))}",
                where or cls.__name__,
            )
        for name, f in known.items():
            required = f.default is _NO_DEFAULT and f.default_factory is _NO_DEFAULT
            if required and name not in table:
                raise SettingError(
                    name,
                    f"is required (flag {flag_of(cls, name)} or key {name} in the config file)",
                    origin.get(name, flag_of(cls, name)),
                )
        try:
            config = cls(**table)
            config.check_needs(table.keys())
            return config
        except SettingError as e:
            if e.name in origin:
                raise SettingError(e.name, e.problem, origin[e.name]) from None
            raise

    def value_settings(self) -> dict[str, Any]:
        """The settings the stored values depend on (fields with affects_values), by name."""
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.metadata.get("affects_values")
        }

    # -- command-line flags ------------------------------------------------------------------------

    FLAGS_SKIPPED: ClassVar[tuple[str, ...]] = ()  # fields that have no flag of their own

    @classmethod
    def add_arguments(
        cls,
        parser: argparse.ArgumentParser,
        *,
        skip: tuple[str, ...] = (),
        rename: Mapping[str, str] | None = None,
    ) -> None:
        """A flag for each field (but `skip`), unset (None) unless given; `rename` changes flag names."""
        hints = _hints(cls)
        for f in dataclasses.fields(cls):
            if f.name in skip or f.name in cls.FLAGS_SKIPPED:
                continue
            spec = _argument(f, hints[f.name])
            if f.metadata.get("positional"):
                # Optional on the command line: it may come from the --config file instead.
                parser.add_argument(f.name, nargs="?", default=None, **spec)
                continue
            flag = (rename or {}).get(f.name) or flag_of(cls, f.name)
            parser.add_argument(flag, dest=f.name, default=None, **spec)

    @classmethod
    def given(cls, args: argparse.Namespace) -> dict[str, Any]:
        """The fields' values among parsed `args` (None where the flag was not given)."""
        return {f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if hasattr(args, f.name)}


def flag_of(cls: type, name: str) -> str:
    """How the command line names field `name`: its flag, or its argument's name in capitals."""
    f = next((f for f in dataclasses.fields(cls) if f.name == name), None)
    if f is not None and f.metadata.get("positional"):
        return name.upper()
    return (f.metadata.get("flag") if f else None) or "--" + name.replace("_", "-")


def parse_override(item: str, flag: str = "--set") -> tuple[list[str], Any]:
    """`a.b=value` as (["a", "b"], value): the value in TOML syntax, or a bare string."""
    key, sep, raw = item.partition("=")
    path = [part.strip() for part in key.split(".")]
    if not sep or len(path) < 2 or not all(path):
        raise BadInput(f"{flag} {item}", "takes section.key=value")
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return path, value


def read_toml(path: str | Path) -> dict[str, Any]:
    """A TOML file as a table; a missing or malformed file is one clear error."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotFound(str(path), "no such settings file") from None
    except OSError as e:
        raise BadInput(str(path), f"cannot read it ({e.strerror or e})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise BadInput(str(path), f"not valid TOML ({e})") from None


# -- checking values --------------------------------------------------------------------------------


def checked(f: dataclasses.Field, hint: Any, value: Any, label: str) -> Any:
    """`value` for field `f` of type `hint`, checked (and ints widened to float where a float is asked)."""
    value = _typed(hint, value, label, f.name)
    meta = f.metadata
    if value is None:
        return value
    if meta.get("choices") is not None and value not in meta["choices"]:
        raise SettingError(
            f.name, f"must be one of {', '.join(map(str, meta['choices']))}, got {value!r}", label
        )
    for bound, ok, word in (
        ("min", lambda v, b: v >= b, "at least"),
        ("max", lambda v, b: v <= b, "at most"),
    ):
        if meta.get(bound) is not None and isinstance(value, int | float) and not ok(value, meta[bound]):
            raise SettingError(f.name, f"must be {word} {meta[bound]}, got {value!r}", label)
    return value


def _typed(hint: Any, value: Any, label: str, name: str) -> Any:
    options = _union(hint)
    if value is None:
        if type(None) in options:
            return None
        raise SettingError(name, "must be given (got nothing)", label)
    problems = []
    for option in (o for o in options if o is not type(None)):
        try:
            return _as_type(option, value, label, name)
        except SettingError as e:
            problems.append(e.problem)
    raise SettingError(name, problems[0] if len(problems) == 1 else " or ".join(problems), label)


def _as_type(hint: Any, value: Any, label: str, name: str) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise SettingError(name, f"must be true or false, got {value!r}", label)
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise SettingError(name, f"must be an integer, got {value!r}", label)
    if hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
        raise SettingError(name, f"must be a finite number, got {value!r}", label)
    if hint is str:
        if isinstance(value, str):
            return value
        raise SettingError(name, f"must be a string, got {value!r}", label)
    if origin is list:
        if isinstance(value, list | tuple):
            return [_as_type(args[0], v, label, name) for v in value]
        raise SettingError(name, f"must be a list, got {value!r}", label)
    if origin is dict:
        if isinstance(value, Mapping):
            return {
                _as_type(args[0], k, label, name): _as_type(args[1], v, label, name) for k, v in value.items()
            }
        raise SettingError(
            name, f"must be a table of {args[0].__name__} to {args[1].__name__}, got {value!r}", label
        )
    raise TypeError(f"config field {name}: unsupported type {hint!r}")


def _union(hint: Any) -> tuple:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return typing.get_args(hint)
    return (hint,)


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _label(cls: type, f: dataclasses.Field) -> str:
    return f"{cls.__name__}.{f.name}"


def _argument(f: dataclasses.Field, hint: Any) -> dict[str, Any]:
    meta = f.metadata
    options = [o for o in _union(hint) if o is not type(None)]
    kind = options[0]
    default = f.default if f.default is not _NO_DEFAULT else None
    help_text = meta.get("help", "")
    if default not in (None, "", [], {}) and not isinstance(default, bool):
        help_text += f" (default {default})"
    spec: dict[str, Any] = {"help": help_text}
    if meta.get("metavar"):
        spec["metavar"] = meta["metavar"]
    origin = typing.get_origin(kind)
    if kind is bool:
        spec["action"] = argparse.BooleanOptionalAction
    elif origin is list:  # repeated flags add up: --input a --input b is --input a b
        spec["nargs"] = "+"
        spec["action"] = "extend"
        spec["type"] = typing.get_args(kind)[0]
    elif origin is dict:
        spec["action"] = _key_value(typing.get_args(kind)[1])
        spec.setdefault("metavar", "KEY=VALUE")
    else:
        spec["type"] = kind
        if meta.get("choices") is not None:
            spec["choices"] = meta["choices"]
    return spec


def _key_value(value_type: type) -> type[argparse.Action]:
    """A repeatable KEY=VALUE flag collected into a dict, each VALUE converted to `value_type`."""

    class KeyValue(argparse.Action):
        def __call__(self, parser, namespace, value, option_string=None):
            key, sep, item = value.partition("=")
            try:
                converted = value_type(item)
            except ValueError:
                sep = ""
            if not sep or not key or not item:
                parser.error(f"{option_string} takes {self.metavar}, got {value!r}")
            found = dict(getattr(namespace, self.dest) or {})
            found[key] = converted
            setattr(namespace, self.dest, found)

    return KeyValue
