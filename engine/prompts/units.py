"""The files of a prompts job: `plan.parquet` (the balanced plan, one row per prompt) and one
`units/unit-NNNNNN.parquet` per work unit (what the models wrote for its rows), each written under a
hidden temporary name and renamed when whole, so that a unit's file existing is its "done" mark."""

from __future__ import annotations

import os
import uuid
from dataclasses import asdict
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pixsift.engine.prompts.taxonomy import PlannedPrompt

PLAN_FILE = "plan.parquet"
UNITS_DIR = "units"
TEXTS = ("prompt", "enhanced_prompt")
# What a unit file holds per row, after its id.
UNIT_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        *[(name, pa.string()) for name in TEXTS],
        *[(f"{name}_truncated", pa.bool_()) for name in TEXTS],
        *[(f"{name}_tokens", pa.int32()) for name in TEXTS],
        *[(f"{name}_perplexity", pa.float64()) for name in TEXTS],
    ]
)
_PARTIAL = ".partial"


def unit_path(out: Path, unit: int) -> Path:
    return out / UNITS_DIR / f"unit-{unit:06d}.parquet"


def write_plan(out: Path, plan: list[PlannedPrompt], names: dict[str, str]) -> None:
    """The plan with the models' names (Fine-T2I's columns: prompt_category, prompt_generator, enhancer)."""
    rows = [asdict(p) for p in plan]
    table = pa.Table.from_pylist(rows, schema=_plan_schema()) if rows else _plan_schema().empty_table()
    table = table.rename_columns(["prompt_category" if c == "category" else c for c in table.column_names])
    for name, value in names.items():
        table = table.append_column(name, pa.array([value] * table.num_rows, pa.string()))
    write_atomically(table, out / PLAN_FILE)


def _plan_schema() -> pa.Schema:
    fields = [("index", pa.int64())] + [
        (f, pa.string()) for f in ("id", "task", "category", "style", "template", "instruction")
    ]
    return pa.schema(fields)


def read_plan_rows(out: Path, start: int, stop: int) -> list[dict]:
    table = pq.read_table(out / PLAN_FILE, columns=["index", "id", "instruction"])
    return table.slice(start, stop - start).to_pylist()


def write_unit(out: Path, unit: int, rows: list[dict]) -> None:
    write_atomically(pa.Table.from_pylist(rows, schema=UNIT_SCHEMA), unit_path(out, unit))


def read_units(out: Path, units: int) -> pa.Table:
    tables = [pq.read_table(unit_path(out, u), schema=UNIT_SCHEMA) for u in range(units)]
    return pa.concat_tables(tables) if tables else UNIT_SCHEMA.empty_table()


def write_atomically(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}{_PARTIAL}")
    pq.write_table(table, partial)
    with open(partial, "rb") as f:
        os.fsync(f.fileno())
    os.replace(partial, path)


def remove_partials(out: Path) -> None:
    """Delete the temporary files a killed job left."""
    for path in [*out.glob(f".*{_PARTIAL}"), *(out / UNITS_DIR).glob(f".*{_PARTIAL}")]:
        path.unlink()
