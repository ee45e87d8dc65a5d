"""pixsift installs and imports as one package, `pixsift`: the card's top-level folders engine/, kernels/
and trainer/ are mapped to pixsift.engine, pixsift.kernels and pixsift.trainer. None of the three folders has
an __init__.py, so from the repository root (which Python puts first on sys.path for `python -m` and
`python -c`) a bare `import kernels` or `import trainer` still finds the installed distribution of that name
(Hugging Face's `kernels`, which transformers requires): a folder without __init__.py loses to any regular
package of the same name further down sys.path."""

from setuptools import find_namespace_packages, setup

FOLDERS = ("engine", "kernels", "trainer")

setup(
    packages=[
        f"pixsift.{name}"
        for name in find_namespace_packages(include=[f"{f}*" for f in FOLDERS], exclude=["*__pycache__"])
    ],
    package_dir={f"pixsift.{folder}": folder for folder in FOLDERS},
    package_data={
        "pixsift.engine.select.recipes": ["*.toml"],
        "pixsift.engine.vlm.rubrics": ["*.toml"],
        "pixsift.trainer.train.recipes": ["*.toml"],
        "pixsift.trainer.train.configs": ["*.json"],
    },
)
