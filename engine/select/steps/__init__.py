"""The step types of a selection spec, a module each; importing the package imports every module, and each
step type registers itself (engine.select.steps.base), so adding a step is adding a module here."""

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
