"""One configuration path: a config's fields give its flags, a TOML file and flags merge (flags win), and
every value is checked on the way in, naming where it came from."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import pytest

from pixsift.engine.core.commands import add_command, config_from
from pixsift.engine.core.config import Config, SettingError, setting


@dataclass(kw_only=True)
class Example(Config):
    store: str = setting(positional=True, help="a store")
    inputs: list[str] = setting(flag="--input", help="inputs")
    workers: int = setting(0, min=0, help="workers")
    rate: float = setting(1.0, min=0.0, max=2.0, help="a rate")
    decoder: str = setting("auto", choices=("auto", "pil"), help="decoder")
    limit: int | None = setting(None, min=1, help="optional")
    weights: dict[str, float] = setting(factory=dict, metavar="COLUMN=W", help="weights")
    random: bool = setting(False, affects_values=True, help="random")

    def check(self) -> None:
        if self.limit is not None and self.limit > 100 * (self.workers + 1):
            raise SettingError("limit", "is more than the workers can take")


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="test")
    add_command(parser.add_subparsers(dest="command").add_parser("run"), lambda args: 0, config=Example)
    return parser.parse_args(["run", *argv])


def test_flags_are_derived_from_the_fields_and_win_over_the_file(tmp_path):
    settings = tmp_path / "settings.toml"
    settings.write_text('store = "from-file"\ninputs = ["a", "b"]\nworkers = 2\nrate = 1\n')
    args = parse(["--config", str(settings), "--workers", "3", "--weight", "x=0.5", "--weight", "y=2",
                  "--random", "--decoder", "pil"])  # fmt: skip
    cfg = config_from(args, Example)
    assert (cfg.store, cfg.inputs, cfg.workers, cfg.decoder) == ("from-file", ["a", "b"], 3, "pil")
    assert cfg.rate == 1.0 and isinstance(cfg.rate, float)  # an integer widens to the float it must be
    assert cfg.weights == {"x": 0.5, "y": 2.0} and cfg.random is True and cfg.limit is None
    assert config_from(parse(["positional", "--input", "c"]), Example).store == "positional"
    assert cfg.value_settings() == {"random": True}


def test_a_repeated_list_flag_adds_up():
    cfg = config_from(parse(["s", "--input", "a", "--input", "b", "c"]), Example)
    assert cfg.inputs == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (["--workers", "-1"], "--workers: must be at least 0, got -1"),
        (["--rate", "3"], "--rate: must be at most 2.0, got 3.0"),
        (["--limit", "0"], "--limit: must be at least 1, got 0"),
        (["--limit", "1000"], "--limit: is more than the workers can take"),
        ([], "--input: is required (flag --input or key inputs in the config file)"),
    ],
)
def test_bad_flags_are_named_by_their_flag(argv, line):
    args = parse(["s", *argv] if argv else ["s"])
    if argv:
        args.inputs = ["x"]
    with pytest.raises(SettingError) as error:
        config_from(args, Example)
    assert str(error.value) == line


@pytest.mark.parametrize(
    ("toml", "line"),
    [
        ("workers = -1", "workers: must be at least 0, got -1"),
        ('workers = "2"', "workers: must be an integer, got '2'"),
        ("workers = 1.5", "workers: must be an integer, got 1.5"),
        ("rate = nan", "rate: must be a finite number, got nan"),
        ('decoder = "nvjpeg"', "decoder: must be one of auto, pil, got 'nvjpeg'"),
        ('inputs = "a.tar"', "inputs: must be a list, got 'a.tar'"),
        ("random = 1", "random: must be true or false, got 1"),
        ("weights = { x = true }", "weights: must be a finite number, got True"),
    ],
)
def test_bad_values_in_a_file_name_the_file_and_key(tmp_path, toml, line):
    settings = tmp_path / "s.toml"
    inputs = "" if toml.startswith("inputs") else 'inputs = ["a"]\n'
    settings.write_text(f'store = "s"\n{inputs}{toml}\n')
    with pytest.raises(SettingError) as error:
        Example.load(settings)
    assert str(error.value) == f"{settings}: {line}"


def test_unknown_keys_and_unreadable_files_are_refused(tmp_path):
    settings = tmp_path / "s.toml"
    settings.write_text('store = "s"\ninputs = []\nworkrs = 2\n')
    with pytest.raises(SettingError, match=r"s.toml: unknown settings workrs; known: decoder, inputs"):
        Example.load(settings)
    settings.write_text("store = [")
    with pytest.raises(ValueError, match=r"s.toml: not valid TOML"):
        Example.load(settings)
    with pytest.raises(FileNotFoundError, match=r"missing.toml: no such settings file"):
        Example.load(tmp_path / "missing.toml")


def test_python_callers_get_the_field_named():
    with pytest.raises(SettingError, match=r"^Example.workers: must be at least 0, got -5$"):
        Example(store="s", inputs=[], workers=-5)


@dataclass(kw_only=True)
class Needing(Example):
    NEEDS = {"rate": "random"}


def test_a_setting_given_without_the_one_it_needs_is_an_error(tmp_path):
    base = {"store": "s", "inputs": []}
    with pytest.raises(SettingError) as error:
        Needing.load(given={**base, "rate": 1.0})  # given at its default value: still given, still unused
    assert str(error.value) == "--rate: is for --random, which was not given"
    settings = tmp_path / "s.toml"
    settings.write_text('store = "s"\ninputs = []\nrate = 0.5\n')
    with pytest.raises(SettingError) as error:
        Needing.load(settings)
    assert str(error.value) == f"{settings}: rate: is for --random, which was not given"
    assert Needing.load(given={**base, "rate": 0.5, "random": True}).rate == 0.5
    assert Needing.load(given=base).rate == 1.0
