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
        if self.path.exists():
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
                self.stages = dict(data["stages"])
            except (ValueError, KeyError, TypeError):
                raise BadInput(
                    str(self.path), "not a pixsift run state file", "delete it to run every stage again"
                ) from None

    def started(self, step: Step) -> None:
        self.stages[step.name] = {
            "status": "started",
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


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
