"""The state file of `pixsift run`: for each stage, the settings it last ran with and whether it finished.

One JSON file, replaced whole (written beside itself, then renamed) after every change, so that a killed
run leaves either the old record or the new one.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from pixsift.engine.cli.plan import Step
from pixsift.engine.core.errors import BadInput
from pixsift.engine.io.paths import write_whole

VERSION = 1


class RunState:
    def __init__(self, path: str, pipeline: str):
        self.path, self.pipeline = Path(path), pipeline
        self.stages: dict[str, dict[str, Any]] = {}
        if self.path.is_dir():
            raise BadInput(str(self.path), "is a folder, not a pipeline state file", "name a file")
        if self.path.exists():
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
                self.stages = {name: _record(value) for name, value in data["stages"].items()}
            except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError):
                raise BadInput(
                    str(self.path),
                    "not a pixsift run state file, or edited by hand",
                    "name another state file (key `state`), or remove this one if pixsift wrote it, to run "
                    "every stage again",
                ) from None

    def started(self, step: Step, ids: dict[str, str]) -> None:
        """Record that `step` starts, its outputs to be made (or gone on with) with these `ids`."""
        self.stages[step.name] = {
            "status": "started",
            "outputs": ids,
            "digest": step.digest,
            "settings": step.settings,
            "action": step.action,
            "reason": step.reason,
            "started": _now(),
        }
        self._save()

    def finished(self, step: Step, seconds: float) -> None:
        self.stages[step.name].update(status="done", finished=_now(), seconds=round(seconds, 3))
        self._save()

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {"version": VERSION, "pipeline": os.path.abspath(self.pipeline), "stages": self.stages}
        write_whole(self.path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def _record(value: Any) -> dict[str, Any]:
    """One stage's record as this module writes it (TypeError otherwise)."""
    if not isinstance(value, dict) or not all(isinstance(value.get(k), str) for k in ("status", "digest")):
        raise TypeError("not a stage record")
    outputs = value.get("outputs", {})
    if not isinstance(outputs, dict) or not all(isinstance(v, str) for v in outputs.values()):
        raise TypeError("not a stage record")
    if not isinstance(value.get("settings", {}), dict):
        raise TypeError("not a stage record")
    return value


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
