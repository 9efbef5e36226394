#!/usr/bin/env bash
# Build the CPU image and prove it: serve a real model, /health + HEALTHCHECK, a chat
# completion and a stream with the openai client, a drained `stop` that exits 0 quickly.
#
#   scripts/container-smoke.sh               build, then run tests/test_container.py on it
#   scripts/container-smoke.sh --build-only  build; the last stdout line is the image name
#
# Env: CONTAINER_ENGINE (podman|docker; default: podman if present), IMAGE (default
# localhost/freehold:smoke), BASE_IMAGE (default: localhost/python-base:bookworm if the
# engine has it, else made by LOCAL_BASE_SCRIPT if that exists, else python:3.11-slim),
# LOCAL_BASE_SCRIPT (default ../shared/docker/local-base.sh: a base image built from
# Debian packages, for machines without a registry), PYTHON (default .venv/bin/python).
# Progress goes to stderr. Cold build here: ~15 min (compiles llama.cpp); warm: seconds.
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."

log() { printf '[container-smoke %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

engine=${CONTAINER_ENGINE:-$(command -v podman >/dev/null && echo podman || echo docker)}
image=${IMAGE:-localhost/freehold:smoke}
python=${PYTHON:-.venv/bin/python}
local_base=${LOCAL_BASE_SCRIPT:-../shared/docker/local-base.sh}

pick_base() {
    if [[ -n "${BASE_IMAGE:-}" ]]; then
        echo "$BASE_IMAGE"
    elif "$engine" image inspect localhost/python-base:bookworm >/dev/null 2>&1; then
        echo localhost/python-base:bookworm
    elif [[ "$engine" == podman && -f "$local_base" ]]; then
        log "making the local base image with $local_base (~3 min)"
        bash "$local_base" | tail -n 1
    else
        echo python:3.11-slim
    fi
}

build() {  # sets $built
    local base args=()
    base=$(pick_base)
    if [[ "$engine" == podman ]]; then
        # --format docker keeps HEALTHCHECK. podman 4.3 decides which stages are unused
        # before expanding `FROM ${BACKEND}-...`: build them all, from images it has.
        args+=(--format docker --skip-unused-stages=false
            --build-arg "CUDA_DEVEL_IMAGE=$base" --build-arg "CUDA_RUNTIME_IMAGE=$base")
    fi
    log "building $image with $engine on $base"
    local start=$SECONDS
    "$engine" build "${args[@]}" --build-arg "BASE_IMAGE=$base" --build-arg BACKEND=cpu \
        -t "$image" . >&2
    local size
    size=$("$engine" image inspect --format '{{.Size}}' "$image")
    log "built $image in $((SECONDS - start)) s; size $((size / 1000000)) MB"
    built=$image
}

build_only=0
[[ "${1:-}" == "--build-only" ]] && build_only=1
build
if ((build_only)); then
    echo "$built"
    exit 0
fi
log "running tests/test_container.py against $built"
FREEHOLD_CONTAINER_IMAGE="$built" CONTAINER_ENGINE="$engine" \
    "$python" -m pytest -m container -v -p no:cacheprovider tests/test_container.py
