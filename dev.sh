#!/usr/bin/env bash
# ./dev.sh sample  - install into .venv (once) and score the bundled sample pool (resumes if run again)
# ./dev.sh test    - install into .venv (once) and run the test suite
set -euo pipefail
cd "$(dirname "$0")"

VENV=.venv
EXTRAS="dali,train,dist,dev"

install() {
    [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
    local stamp="$VENV/.pixsift-installed"
    local want
    want=$(cat pyproject.toml setup.py constraints.txt | sha256sum | cut -d' ' -f1)-$EXTRAS
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        "$VENV/bin/python" -m pip install --disable-pip-version-check -q --upgrade pip
        "$VENV/bin/python" -m pip install --disable-pip-version-check -q -c constraints.txt -e ".[$EXTRAS]"
        echo "$want" > "$stamp"
    fi
}

case "${1:-}" in
    sample)
        install
        shift
        "$VENV/bin/pixsift" score --config samples/score.toml "$@"
        exec "$VENV/bin/pixsift" inspect runs/sample-score
        ;;
    test)
        install
        shift
        exec "$VENV/bin/python" -m pytest "$@"
        ;;
    *)
        echo "usage: ./dev.sh sample | test [pytest args]" >&2
        exit 2
        ;;
esac
