"""The select stage: a spec's filters, weighted score, best-of-N, top-k, quotas, prompt filters and dedup
over a run store, written as a named selection.

`from pixsift.engine.select import select, SelectSpec`; the entry point loads its libraries when first
used."""

from pixsift.engine.core.lazy import lazy_names
from pixsift.engine.select.spec import SelectSpec

__all__ = ["SelectSpec"]  # and the entry point, loaded by __getattr__

__getattr__ = lazy_names(__name__, {"select": "pixsift.engine.select.job"})
