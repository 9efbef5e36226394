#!/usr/bin/env bash
# Build llama.cpp's llama-server from the very sources that the installed
# llama-cpp-python vendors (same commit), with the same default CPU flags
# (GGML_NATIVE, Release) that `pip install llama-cpp-python` used.
#
# usage: bench/build_llama_server.sh [--force]
# output: bench/.build/llama.cpp-build/bin/llama-server
#         bench/.build/llama_cpp_commit.txt  (the vendored llama.cpp commit)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
BUILD="$HERE/.build"
JOBS="${JOBS:-2}"

if [[ "${1:-}" == "--force" ]]; then
    rm -rf "$BUILD"
fi
mkdir -p "$BUILD"

VERSION="$("$PY" -c 'import importlib.metadata as m; print(m.version("llama-cpp-python"))')"
NAME="llama_cpp_python-$VERSION"
echo "llama-cpp-python $VERSION"

if [[ ! -f "$BUILD/$NAME.tar.gz" ]]; then
    "$PY" -m pip download --no-binary :all: --no-deps \
        "llama-cpp-python==$VERSION" -d "$BUILD"
fi
if [[ ! -d "$BUILD/$NAME" ]]; then
    tar -xzf "$BUILD/$NAME.tar.gz" -C "$BUILD"
fi
SRC="$BUILD/$NAME/vendor/llama.cpp"

# The vendored tree has no .git: the commit is named in the sdist's changelog,
# in the first "update llama.cpp to ggml-org/llama.cpp@<sha>" of this version.
COMMIT="$(awk -v v="## [$VERSION]" '
    $0 == v { inside = 1; next }
    inside && /^## \[/ { exit }
    inside && match($0, /llama\.cpp@[0-9a-f]+/) { print substr($0, RSTART + 10, RLENGTH - 10); exit }
' "$BUILD/$NAME/CHANGELOG.md")"
COMMIT="${COMMIT:-unknown}"
echo "$COMMIT" > "$BUILD/llama_cpp_commit.txt"
echo "vendored llama.cpp commit: $COMMIT"

# LLAMA_CURL is deprecated (ignored) at this commit; passed for older trees.
# The web UI is left out (no npm, no download): the bench uses the API only.
cmake -S "$SRC" -B "$BUILD/llama.cpp-build" -G Ninja \
    -DCMAKE_BUILD_TYPE=Release \
    -DBUILD_SHARED_LIBS=OFF \
    -DLLAMA_CURL=OFF \
    -DLLAMA_OPENSSL=OFF \
    -DLLAMA_BUILD_TESTS=OFF \
    -DLLAMA_BUILD_EXAMPLES=OFF \
    -DLLAMA_BUILD_TOOLS=ON \
    -DLLAMA_BUILD_SERVER=ON \
    -DLLAMA_BUILD_UI=OFF \
    -DLLAMA_USE_PREBUILT_UI=OFF \
    -DLLAMA_BUILD_COMMIT="$COMMIT"
cmake --build "$BUILD/llama.cpp-build" --target llama-server -j "$JOBS"

"$BUILD/llama.cpp-build/bin/llama-server" --version
