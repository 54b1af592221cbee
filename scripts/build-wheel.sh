#!/usr/bin/env bash
# Builds the Python package for PyPI and tests what it built:
#   1. `maturin build --profile dist --zig` (release without debug info; `--release` would pick
#      the `release` profile, debug info and all, a 5.5 MB wheel): a manylinux2014
#      (manylinux_2_17) wheel. zig (PyPI package `ziglang`) links against glibc 2.17, so the wheel installs on any Linux of the last decade
#      although this machine's glibc is newer; the wheel's tag and the library's glibc symbols
#      are checked with `auditwheel show`.
#   2. The wheel installed in a fresh venv runs bindings/python/tests.
#   3. `maturin sdist`, installed with pip in another fresh venv (a build from source, as pip
#      does where no wheel fits), runs the tests too.
#
# Idempotent: the tools (maturin, ziglang, auditwheel, pytest) are installed once into a venv
# under ${CONCLAVE_CACHE:-~/.cache/conclave}. Network needed on the first run only (PyPI; the
# sdist build also fetches maturin and the crates). Honours CARGO_TARGET_DIR (default: target/).
# Prints the wheel's size and the build times.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

step() { printf '\n--> %s\n' "$*"; }
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
case $TARGET_DIR in /*) ;; *) TARGET_DIR=$ROOT/$TARGET_DIR ;; esac
export CARGO_TARGET_DIR=$TARGET_DIR
CACHE=${CONCLAVE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/conclave}
TOOLS=$CACHE/wheel-tools
OUT=$TARGET_DIR/python-dist
TESTS=$ROOT/bindings/python/tests

if ! "$TOOLS/bin/python" -c 'import ziglang, auditwheel, pytest' 2>/dev/null ||
    ! "$TOOLS/bin/maturin" --version >/dev/null 2>&1; then
    step "installing maturin, ziglang, auditwheel and pytest into $TOOLS"
    rm -rf "$TOOLS"
    python3 -m venv "$TOOLS"
    "$TOOLS/bin/pip" install --quiet --disable-pip-version-check \
        'maturin>=1.9,<2' 'ziglang>=0.13' 'auditwheel>=6' 'pytest>=8,<10'
fi
export PATH=$TOOLS/bin:$PATH
rm -rf "$OUT" && mkdir -p "$OUT"

step "maturin build --profile dist --zig (manylinux2014)"
t=$(date +%s)
# maturin reads bindings/python/pyproject.toml from the working directory.
(cd bindings/python && maturin build --profile dist --zig --compatibility manylinux2014 --out "$OUT")
echo "    ($(($(date +%s) - t)) s)"
WHEEL=$(ls "$OUT"/conclave_e2ee-*.whl)
case $WHEEL in
    *manylinux_2_17_x86_64.manylinux2014_x86_64.whl | *manylinux2014_x86_64*.whl) ;;
    *) echo "not a manylinux2014 wheel: $WHEEL" >&2; exit 1 ;;
esac
auditwheel show "$WHEEL" | tee "$OUT/auditwheel.txt"
grep -q 'manylinux_2_17' "$OUT/auditwheel.txt"
echo "    wheel: $(basename "$WHEEL"), $(stat -c %s "$WHEEL") bytes"

step "the wheel in a fresh venv: pytest"
rm -rf "$OUT/venv-wheel"
python3 -m venv "$OUT/venv-wheel"
"$OUT/venv-wheel/bin/pip" install --quiet --disable-pip-version-check "$WHEEL" 'pytest>=8,<10'
(cd "$OUT" && "$OUT/venv-wheel/bin/python" -m pytest -q -p no:cacheprovider "$TESTS")

step "maturin sdist, pip install of the sdist in a fresh venv: pytest"
(cd bindings/python && maturin sdist --out "$OUT")
SDIST=$(ls "$OUT"/conclave_e2ee-*.tar.gz)
rm -rf "$OUT/venv-sdist"
python3 -m venv "$OUT/venv-sdist"
t=$(date +%s)
# A cold target directory: the build from source as a user gets it.
CARGO_TARGET_DIR=$OUT/sdist-target "$OUT/venv-sdist/bin/pip" install --quiet \
    --disable-pip-version-check "$SDIST" 'pytest>=8,<10'
echo "    (sdist build and install: $(($(date +%s) - t)) s)"
(cd "$OUT" && "$OUT/venv-sdist/bin/python" -m pytest -q -p no:cacheprovider "$TESTS")

step "python packages: all checks passed"
