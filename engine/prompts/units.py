"""The files of a prompts job: `plan.parquet` (the balanced plan, one row per prompt) and one
`units/unit-NNNNNN.parquet` per work unit (what the models wrote for its rows), each written under a
hidden temporary name and renamed when whole, so that a unit's file existing is its "done" mark."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pixsift.engine.io.paths import remove_partials as remove_partial_files
from pixsift.engine.io.paths import write_through_partial

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


def unit_path(out: Path, unit: int) -> Path:
    return out / UNITS_DIR / f"unit-{unit:06d}.parquet"


def write_plan(out: Path, plan: pa.Table, names: dict[str, str], rows_per_unit: int) -> None:
    """The plan (engine.prompts.taxonomy.draw_plan) with the models' names (Fine-T2I's prompt_generator and
    enhancer), one Parquet row group per work unit."""
    for name, value in names.items():
        plan = plan.append_column(name, pa.DictionaryArray.from_arrays(
            pa.array([0] * plan.num_rows, pa.int32()), pa.array([value])
        ))  # fmt: skip
    write_atomically(plan, out / PLAN_FILE, row_group_size=rows_per_unit)


def read_plan_unit(out: Path, unit: int) -> list[dict]:
    """The planned rows of work unit `unit`: its row group."""
    columns = ["id", "task", "prompt_category", "style", "template"]
    return pq.ParquetFile(out / PLAN_FILE).read_row_group(unit, columns=columns).to_pylist()


def write_unit(out: Path, unit: int, rows: list[dict]) -> None:
    write_atomically(pa.Table.from_pylist(rows, schema=UNIT_SCHEMA), unit_path(out, unit))


def read_units(out: Path, units: int) -> pa.Table:
    tables = [pq.read_table(unit_path(out, u), schema=UNIT_SCHEMA) for u in range(units)]
    return pa.concat_tables(tables) if tables else UNIT_SCHEMA.empty_table()


def write_atomically(table: pa.Table, path: Path, row_group_size: int | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_through_partial(path, lambda partial: pq.write_table(table, partial, row_group_size=row_group_size))


def remove_partials(out: Path) -> None:
    """Delete the temporary files a killed job left."""
    for folder in (out, out / UNITS_DIR):
        remove_partial_files(folder)
