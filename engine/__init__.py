"""pixsift's data engine, in layers; each imports only the layers before it (tests/test_layers.py):

    engine.core                     candidates, errors, configs, progress, prefetch, batches, device, recipes
    engine.io, engine.decode,       input paths and scans, row readers, the tar writer; image decoding;
    engine.executors                running work units on local processes or a Ray cluster
    engine.store                    the unit store, the run store, selections, the store-backed unit job
    engine.generate, engine.score,  the stages, peers that never import each other
    engine.select, engine.export,
    engine.report
    engine.cli                      the `pixsift` command

The stages' configs and entry points, for Python callers:

    from engine import ScoreConfig, SelectSpec
    from engine.score import score;      summary = score(ScoreConfig(inputs=[...], store="pool.zarr", ...))
    from engine.select import select;    select("pool.zarr", SelectSpec.recipe("synthvlm"))
    from engine.export import export;    export("pool.zarr", "synthvlm", "out", "webdataset")
    from engine.report import write_report
    from engine.generate import generate

Names load on first use, so importing the engine (and starting the CLI) stays light.
"""

from __future__ import annotations

from engine.core.lazy import lazy_names

_EXPORTS = {
    "GenerateConfig": "engine.generate.config",
    "ScoreConfig": "engine.score.config",
    "SelectConfig": "engine.select.config",
    "SelectSpec": "engine.select.spec",
    "ExportConfig": "engine.export.config",
    "ReportConfig": "engine.report.config",
    "RunStore": "engine.store.run_store",
    "UserError": "engine.core.errors",
    "write_report": "engine.report.page",
}
__all__ = sorted(_EXPORTS)

__getattr__ = lazy_names(__name__, _EXPORTS)
