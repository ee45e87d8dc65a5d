#!/usr/bin/env bash
# ./dev.sh sample  - install into .venv (once), then `pixsift run samples/pipeline.toml`: generate -> score ->
#                    select -> export -> report -> tokenize -> train (a short fine-tune of a tiny random
#                    Janus-Pro) -> sample on the samples; arguments go to `pixsift run` (--dry-run, --limit N)
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
        [ -d runs/tiny-sd ] || "$VENV/bin/python" -m benchmarks.tiny_diffusers runs/tiny-sd
        [ -d runs/tiny-janus ] || "$VENV/bin/python" -m benchmarks.tiny_janus runs/tiny-janus
        exec "$VENV/bin/pixsift" run samples/pipeline.toml "$@"
        ;;
    test)
        install
        ensure_chromium
        shift
        exec "$VENV/bin/python" -m pytest "$@"
        ;;
    *)
        echo "usage: ./dev.sh sample | test [pytest args]" >&2
        exit 2
        ;;
esac
