# Metadata lives in pyproject.toml; this file lets older tooling run `setup.py develop`.
from setuptools import setup

setup()
