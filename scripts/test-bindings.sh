#!/usr/bin/env bash
# Builds the uniffi library (conclave-ffi), generates the Python, Kotlin and Swift bindings and
# tests each in its own language:
#   - Python: pytest suite (bindings/python/tests) against the generated module + the .so
#   - Kotlin: generated bindings + test compiled with kotlinc -Werror, run on the JVM with JNA
#   - Swift:  no Swift compiler here; a C program includes the generated conclaveFFI.h, checks
#             every API checksum the generated Conclave.swift expects and calls the library.
#
# Idempotent; installs what it needs once (pytest into a venv, kotlinc from npm, JNA from
# Debian) under ${CONCLAVE_CACHE:-~/.cache/conclave}. Network needed on the first run only:
# crates.io, PyPI, npm, Debian. Honours CARGO_TARGET_DIR (default: target/).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

KOTLIN_VERSION=2.4.20
step() { printf '\n--> %s\n' "$*"; }
elapsed() { echo "    ($(($(date +%s) - $1)) s)"; }

TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
case $TARGET_DIR in /*) ;; *) TARGET_DIR=$ROOT/$TARGET_DIR ;; esac
CACHE=${CONCLAVE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/conclave}
OUT=$TARGET_DIR/bindings
case "$(uname -s)" in
    Darwin) LIB=$TARGET_DIR/debug/libconclave_ffi.dylib ;;
    *) LIB=$TARGET_DIR/debug/libconclave_ffi.so ;;
esac
mkdir -p "$CACHE" "$OUT"
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# ----- build and generate -----

t=$(date +%s)
step "cargo build -p conclave-ffi -p conclave-uniffi-bindgen"
cargo build -p conclave-ffi -p conclave-uniffi-bindgen
elapsed "$t"

t=$(date +%s)
step "uniffi-bindgen generate (python, kotlin, swift)"
# The binary built above (the same as `cargo run -p conclave-uniffi-bindgen --`, without a second
# feature resolution that would rebuild the proc-macro stack).
BINDGEN=$TARGET_DIR/debug/conclave-uniffi-bindgen
for lang in python kotlin swift; do
    rm -rf "${OUT:?}/$lang"
    "$BINDGEN" generate --language "$lang" --out-dir "$OUT/$lang" --no-format "$LIB"
done
elapsed "$t"

# The committed Python module (what maturin packages, through ffi/python-module) must be what
# this library generates.
if ! cmp -s "$OUT/python/conclave.py" ffi/python-module/conclave.py; then
    echo "ffi/python-module/conclave.py is stale: cp $OUT/python/conclave.py ffi/python-module/" >&2
    exit 1
fi

# ----- Python -----

t=$(date +%s)
step "Python: pytest bindings/python/tests"
VENV=$CACHE/venv
if ! "$VENV/bin/python" -c 'import pytest' 2>/dev/null; then
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check 'pytest>=8,<10'
fi
# The package as the wheel lays it out: our conclave/ (wrapper, py.typed) with the generated
# module and the library it loads inside.
PYDIR=$OUT/python-pkg
rm -rf "$PYDIR" && mkdir -p "$PYDIR"
cp -r bindings/python/python/conclave "$PYDIR/"
cp "$OUT/python/conclave.py" "$LIB" "$PYDIR/conclave/"
CONCLAVE_PY_DIR=$PYDIR "$VENV/bin/python" -m pytest -q -p no:cacheprovider bindings/python/tests
elapsed "$t"

# ----- Kotlin -----

t=$(date +%s)
step "Kotlin: kotlinc -Werror + run on the JVM"
KOTLINC_HOME=$CACHE/kotlinc-$KOTLIN_VERSION
KOTLINC=$KOTLINC_HOME/package/bin/kotlinc
if [ ! -x "$KOTLINC" ]; then
    tmp=$(mktemp -d)
    (cd "$tmp" && npm pack --silent "kotlin-compiler@$KOTLIN_VERSION" >/dev/null && mkdir x &&
        tar -xzf kotlin-compiler-*.tgz -C x)
    chmod +x "$tmp/x/package/bin/"*
    rm -rf "$KOTLINC_HOME" && mv "$tmp/x" "$KOTLINC_HOME" && rm -rf "$tmp"
fi
find_jna() { ls /usr/share/java/jna-[0-9]*.jar /usr/share/java/jna.jar 2>/dev/null | head -n1; }
JNA=$(find_jna || true)
if [ -z "$JNA" ]; then
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libjna-java >/dev/null
    JNA=$(find_jna)
fi
# The README's Kotlin example, verbatim, as its own file (class ReadmeKt).
README_KT=$OUT/kotlin-readme/Readme.kt
mkdir -p "$(dirname "$README_KT")"
awk '/^```kotlin$/ {on=1; next} /^```$/ {on=0} on' bindings/kotlin/README.md >"$README_KT.new"
grep -q 'fun main' "$README_KT.new" || { echo "no Kotlin example in bindings/kotlin/README.md" >&2; exit 1; }
cmp -s "$README_KT.new" "$README_KT" || mv "$README_KT.new" "$README_KT"
rm -f "$README_KT.new"
KT_SOURCES=("$OUT/kotlin/org/conclave/conclave.kt" bindings/kotlin/src/main/kotlin/org/conclave/*.kt
    bindings/kotlin/src/test/kotlin/org/conclave/test/ConclaveTest.kt "$README_KT")
KT_CLASSPATH=$JNA
# The coroutines wrappers (Flow) need kotlinx-coroutines >= 1.4 (Debian ships 1.0.1): the Kotlin
# compiler package carries kotlinx-coroutines-core-jvm (1.8.0 in 2.4.20), which compiles and runs
# them and their test; CONCLAVE_KOTLINX_COROUTINES_JAR overrides it.
COROUTINES_JAR=${CONCLAVE_KOTLINX_COROUTINES_JAR:-$KOTLINC_HOME/package/lib/kotlinx-coroutines-core-jvm.jar}
if [ -f "$COROUTINES_JAR" ]; then
    KT_SOURCES+=(bindings/kotlin/src/coroutines/kotlin/org/conclave/coroutines/*.kt
        bindings/kotlin/src/coroutines-test/kotlin/org/conclave/test/coroutines/*.kt)
    KT_CLASSPATH=$KT_CLASSPATH:$COROUTINES_JAR
else
    echo "    (coroutines Flow wrapper not compiled: no kotlinx-coroutines jar at $COROUTINES_JAR)"
    COROUTINES_JAR=
fi
JAVA_TEST=bindings/kotlin/src/test/java/org/conclave/test/JavaCaller.java
JAR=$OUT/kotlin-test.jar
JAVA_CLASSES=$OUT/java-classes
# Recompile only when the generated bindings or the tests changed (kotlinc takes 10-20 s).
stamp=$(cat "${KT_SOURCES[@]}" "$JAVA_TEST" | sha256sum | cut -d' ' -f1)
if [ ! -f "$JAR" ] || [ "$(cat "$JAR.sha256" 2>/dev/null)" != "$stamp" ]; then
    rm -rf "$JAR" "$JAVA_CLASSES"
    "$KOTLINC" -Werror -include-runtime -d "$JAR" -classpath "$KT_CLASSPATH" "${KT_SOURCES[@]}"
    # A Java caller, compiled against the jar: the API is callable from Java.
    javac -Werror -d "$JAVA_CLASSES" -cp "$JAR:$JNA" "$JAVA_TEST"
    echo "$stamp" >"$JAR.sha256"
fi
JVM=(java -Djna.library.path="$(dirname "$LIB")")
"${JVM[@]}" -cp "$JAR:$JNA" org.conclave.test.ConclaveTestKt
"${JVM[@]}" -cp "$JAVA_CLASSES:$JAR:$JNA" org.conclave.test.JavaCaller
if [ -n "$COROUTINES_JAR" ]; then
    "${JVM[@]}" -cp "$JAR:$JNA:$COROUTINES_JAR" org.conclave.test.coroutines.FlowTestKt
fi
echo "    README example:"
"${JVM[@]}" -cp "$JAR:$JNA" ReadmeKt >"$OUT/readme-kotlin.out"
sed 's/^/      /' "$OUT/readme-kotlin.out"
grep -q '^rejected: frame from sender' "$OUT/readme-kotlin.out"
if grep -q 'refused' "$OUT/readme-kotlin.out"; then
    echo "the README's Kotlin example had a message refused" >&2
    exit 1
fi
elapsed "$t"

# ----- Swift (C ABI check) -----

t=$(date +%s)
step "Swift: compile a C check against conclaveFFI.h and the library"
SW=$OUT/swift
# The committed Swift API must be what this library generates (regenerate: copy
# $SW/Conclave.swift to bindings/swift/Sources/Conclave/).
if ! cmp -s "$SW/Conclave.swift" bindings/swift/Sources/Conclave/Conclave.swift; then
    echo "bindings/swift/Sources/Conclave/Conclave.swift is stale: cp $SW/Conclave.swift bindings/swift/Sources/Conclave/" >&2
    exit 1
fi
bindings/swift/check/extract_checksums.sh "$SW/Conclave.swift" >"$SW/checksums.inc"
CC=${CC:-cc}
"$CC" -std=c11 -Wall -Wextra -Werror -D_Nullable= -D_Nonnull= -I"$SW" \
    bindings/swift/check/header_check.c -o "$SW/header_check" \
    -L"$(dirname "$LIB")" -lconclave_ffi -Wl,-rpath,"$(dirname "$LIB")"
"$SW/header_check"
elapsed "$t"

step "bindings: all checks passed"
