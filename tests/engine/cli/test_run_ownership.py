"""`pixsift run` never removes or replaces what this pipeline did not make: outputs that overlap each other,
an input, the pipeline or state file, `/`, the home folder or a repository are refused before anything
runs; a stage that starts over removes its output only when the output's marker carries the id the state
file recorded; a folder that is not the stage's output is never taken for a finished one. Each case of
the hostile round in issue 23, refused in one line (exit 2) with the user's files untouched."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from pixsift.engine.cli import main
from pixsift.engine.io.ownership import made
from tests.helpers.pipeline_files import plan, run, write_pipeline
from tests.helpers.scoring import good_pool

PREFIX = 'batch_size = 4\ntext_prefix = "a photo of "'  # a changed score setting: the store starts over


@pytest.fixture
def pipeline(tmp_path, tiny_config):
    return write_pipeline(tmp_path, good_pool(tmp_path / "pool"), tiny_config)


def refused(capsys, *argv: str) -> str:
    """The one line `pixsift run` refuses with."""
    capsys.readouterr()
    assert main(["run", *argv]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def users_folder(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "thesis.txt").write_text("three years of work")
    return path


def intact(path: Path) -> bool:
    return (path / "thesis.txt").read_text() == "three years of work"


def set_store(pipeline: Path, store: Path | str, *more: tuple[str, str]) -> None:
    text = pipeline.read_text().replace(f'store = "{pipeline.parent / "store"}"', f'store = "{store}"')
    for old, new in more:
        text = text.replace(old, new)
    pipeline.write_text(text)


def test_a_store_path_moved_onto_a_users_folder_is_never_removed_by_a_changed_setting(pipeline, capsys):
    run(capsys, str(pipeline))
    precious = users_folder(pipeline.parent / "precious")
    set_store(pipeline, precious, ("batch_size = 4", PREFIX))
    for argv in ([str(pipeline), "--dry-run"], [str(pipeline)]):
        line = refused(capsys, *argv)
        assert f"score output {precious}: the stage must start over (settings changed: text_prefix" in line
        assert "was not made by pixsift" in line and "refusing to remove it" in line
    assert intact(precious)


def test_a_store_that_is_an_input_is_refused_on_every_run(pipeline, capsys):
    pool = pipeline.parent / "pool"
    before = sorted(p.name for p in pool.iterdir())
    set_store(pipeline, pool)
    for extra in ((), (("batch_size = 4", PREFIX),)):
        set_store(pipeline, pool, *extra)
        line = refused(capsys, str(pipeline))
        assert line.startswith(
            f"pixsift run: score output {pool}: overlaps {pool}/pool-00000.tar, which score"
        )
    assert sorted(p.name for p in pool.iterdir()) == before


def test_outputs_that_overlap_each_other_are_refused(pipeline, capsys):
    text = pipeline.read_text()
    store = pipeline.parent / "store"
    for key, value in (("to", store), ("to", store / "sub"), ("out", pipeline.parent)):
        pipeline.write_text(
            text.replace(
                f'{key} = "{pipeline.parent / ("export" if key == "to" else "report")}"', f'{key} = "{value}"'
            )
        )
        line = refused(capsys, str(pipeline), "--dry-run")
        assert "overlaps the" in line or "is or holds the pipeline file" in line, line
    assert not store.exists()


def test_a_trainer_output_on_the_store_is_refused(pipeline, tmp_path, capsys, tiny_janus):
    tokenize = f'\n[tokenize]\nout = "{tmp_path / "store"}"\nmodel = "{tiny_janus}"\n'
    pipeline.write_text(pipeline.read_text() + tokenize)
    line = refused(capsys, str(pipeline), "--dry-run")
    assert line == (
        f"pixsift run: tokenize output {tmp_path / 'store'}: overlaps the score output {tmp_path / 'store'}; "
        "give each stage its own folder"
    )


def test_a_generate_folder_on_its_own_captions_is_refused(tmp_path, capsys):
    captions = users_folder(tmp_path / "captions")
    (captions / "t2i.jsonl").write_text('{"caption": "a cat"}\n')
    path = tmp_path / "pipeline.toml"
    path.write_text(
        f'[generate]\ntask = "t2i"\ninputs = "{captions / "t2i.jsonl"}"\nout = "{captions}"\n'
        f'pipeline = "{tmp_path / "no-pipeline"}"\n'
    )
    line = refused(capsys, str(path), "--dry-run")
    assert line.startswith(f"pixsift run: generate output {captions}: overlaps {captions / 't2i.jsonl'}")
    assert intact(captions)


@pytest.mark.parametrize("where", ["/", "home", "repository"])
def test_the_root_the_home_folder_and_a_repository_are_never_outputs(pipeline, tmp_path, capsys, where):
    if where == "repository":
        target = users_folder(tmp_path / "project")
        subprocess.run(["git", "init", "-q", str(target)], check=True)
    else:
        target = Path.home() if where == "home" else Path("/")
    set_store(pipeline, target, ("batch_size = 4", PREFIX))
    line = refused(capsys, str(pipeline), "--dry-run")
    problem = {
        "/": "is the root folder",
        "home": "is or holds the home folder",
        "repository": "is a repository",
    }
    assert line.startswith(f"pixsift run: score output {target}: {problem[where]}"), line


def test_two_pipelines_sharing_a_state_file_never_remove_a_hand_made_store(pipeline, capsys):
    run(capsys, str(pipeline))
    other = pipeline.with_name("other.toml")
    mine = users_folder(pipeline.parent / "hand-made-store")
    other.write_text(pipeline.read_text())
    set_store(other, mine, ("batch_size = 4", PREFIX))
    line = refused(capsys, str(other))
    assert f"score output {mine}" in line and "was not made by pixsift" in line
    assert intact(mine)


def test_a_store_made_by_another_pipeline_is_not_removed_by_this_one(pipeline, tmp_path, capsys):
    run(capsys, str(pipeline))
    other = pipeline.with_name("other.toml")
    other.write_text(pipeline.read_text().replace(str(tmp_path / "state.json"), str(tmp_path / "other.json")))
    set_store(other, tmp_path / "store", ("batch_size = 4", PREFIX))
    state = json.loads((tmp_path / "state.json").read_text())
    # Its own state file says it made a store there with another id: a copied state file, say.
    state["stages"]["score"]["outputs"] = {str(tmp_path / "store"): "0" * 32}
    (tmp_path / "other.json").write_text(json.dumps(state))
    line = refused(capsys, str(other), "--dry-run")
    assert "was made by another pixsift job" in line and f"this pipeline's is {'0' * 32}" in line
    assert made(str(tmp_path / "store"))["kind"] == "run store"


def test_the_state_file_must_be_a_file_of_its_own(pipeline, tmp_path, capsys):
    text = pipeline.read_text()
    cases = {
        str(
            pipeline
        ): f"pixsift run: {pipeline}: state: {pipeline} is the pipeline file itself; name a file of its own",
        str(tmp_path / "store"): "pixsift run: score output",
        str(tmp_path / "store" / "state.json"): "is or holds the state file",
        str(users_folder(tmp_path / "a-folder")): "is a folder, not a pipeline state file",
    }
    for state, expected in cases.items():
        pipeline.write_text(text.replace(f'state = "{tmp_path / "state.json"}"', f'state = "{state}"'))
        assert expected in refused(capsys, str(pipeline)), state
    assert intact(tmp_path / "a-folder")


@pytest.mark.parametrize(
    "entry", [5, "done", {"status": "done"}, {"status": "done", "digest": "x", "outputs": 3}]
)
def test_a_hand_edited_state_entry_is_one_line(pipeline, tmp_path, capsys, entry):
    run(capsys, str(pipeline))
    state = json.loads((tmp_path / "state.json").read_text())
    state["stages"]["score"] = entry
    (tmp_path / "state.json").write_text(json.dumps(state))
    assert "not a pixsift run state file, or edited by hand" in refused(capsys, str(pipeline))


def test_a_folder_put_in_place_of_a_finished_output_is_not_taken_for_it(pipeline, tmp_path, capsys):
    run(capsys, str(pipeline))
    for name, stage in (("store", "score"), ("export", "export")):
        shutil.rmtree(tmp_path / name)
        users_folder(tmp_path / name)
        (tmp_path / name / ".pixsift-manifest.json").write_text("{}")
        capsys.readouterr()
        assert main(["run", str(pipeline)]) == 2
        captured = capsys.readouterr()
        assert plan(captured.out)[stage] == ("run", "its output is missing or incomplete")
        assert "was not made by pixsift" in captured.err.strip().splitlines()[-1]
        assert intact(tmp_path / name)
        shutil.rmtree(tmp_path / name)
        run(capsys, str(pipeline))


def test_a_dry_run_names_what_it_would_remove_and_the_run_removes_only_that(pipeline, tmp_path, capsys):
    run(capsys, str(pipeline))
    id = made(str(tmp_path / "store"))["id"]
    assert json.loads((tmp_path / "state.json").read_text())["stages"]["score"]["outputs"] == {
        str(tmp_path / "store"): id
    }
    pipeline.write_text(pipeline.read_text().replace("batch_size = 4", PREFIX))
    out = run(capsys, str(pipeline), "--dry-run")
    assert (
        f"would remove {tmp_path / 'store'} (this pipeline made it, id {id}, with the earlier settings)"
        in out
    )
    assert made(str(tmp_path / "store"))["id"] == id
    run(capsys, str(pipeline))
    new = made(str(tmp_path / "store"))["id"]
    assert new != id
    assert json.loads((tmp_path / "state.json").read_text())["stages"]["score"]["outputs"] == {
        str(tmp_path / "store"): new
    }
