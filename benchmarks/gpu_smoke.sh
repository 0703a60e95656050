#!/usr/bin/env bash
# GPU smoke test: one script, <= 8 minutes on one GPU, no downloads. Prints one JSON object:
#   overhead  capture overhead at real width (random Llama, d = 4096, 2 layers, bf16, LoRA r=16
#             on q,k,v,o,gate,up,down): time_ratio = captured / plain eval pass (target <= 1.05)
#             and the peak GPU memory of those passes (benchmarks/overhead.py --device cuda);
#   train     a 50-step LoRA run (zoo:world-s, task novel, D = 800, batch 16, 1 epoch, bf16) through
#             `miub train`: its result.json metrics, wall time and peak GPU memory.
# NOT YET RUN ON A GPU: written on a machine without one (and without hub access); the CPU
# parts were checked there. Run:  bash benchmarks/gpu_smoke.sh [OUT_DIR]   (from the repo root,
# with the venv at .venv or PYTHON=/path/to/python). DEVICE, HIDDEN, DATA_SIZE override the
# defaults (cuda, 4096, 800) for a CPU check of the script itself: DEVICE=cpu HIDDEN=256 DATA_SIZE=64.
set -euo pipefail
PYTHON=${PYTHON:-.venv/bin/python}
DEVICE=${DEVICE:-cuda} HIDDEN=${HIDDEN:-4096} DATA_SIZE=${DATA_SIZE:-800}
OUT=${1:-$(mktemp -d)}
mkdir -p "$OUT"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1  # no downloads

if [ "$DEVICE" = cuda ]; then
  "$PYTHON" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA GPU')"
fi

timeout 240 "$PYTHON" benchmarks/overhead.py --device "$DEVICE" --dtype bfloat16 --hidden "$HIDDEN" \
  --layers 2 --rank 16 --vocab 512 --batch-size 8 --seq-len 512 --batches 8 --repeats 5 \
  --memory-hidden > "$OUT/overhead.json"

timeout 240 "$PYTHON" - "$OUT" "$DEVICE" "$DATA_SIZE" <<'PY' >&2
import json, sys, time
from pathlib import Path

import torch

from miub.cli.main import main

out, device, data_size = Path(sys.argv[1]) / "train", sys.argv[2], sys.argv[3]
sys.argv = [
    "miub", "train", "--model", "zoo:world-s", "--task", "novel", "--rank", "8",
    "--data-size", data_size, "--batch-size", "16", "--epochs", "1", "--device", device,
    "--dtype", "bfloat16", "--eval-examples", "100", "--no-progress", "--out", str(out),
]
start = time.perf_counter()
try:
    main()
except SystemExit as exit_:
    if exit_.code not in (0, None):
        raise
wall = time.perf_counter() - start
result = json.loads((out / "result.json").read_text())
peak = torch.cuda.max_memory_allocated() if device.startswith("cuda") else None
summary = {"wall_s": wall, "cuda_peak_bytes": peak, "result": result}
(out.parent / "train.json").write_text(json.dumps(summary))  # stdout holds miub's table
PY

"$PYTHON" - "$OUT" "$HIDDEN" <<'PY'
import json, sys
from pathlib import Path

import torch

out = Path(sys.argv[1])
overhead = json.loads((out / "overhead.json").read_text())
train = json.loads((out / "train.json").read_text())
entry = overhead["results"][sys.argv[2]]
report = {
    "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
    "torch": torch.__version__,
    "overhead": {
        "hidden": int(sys.argv[2]),
        "time_ratio": entry["time_ratio"],
        "target": 1.05,
        "plain_s": entry["plain_s"],
        "capture_s": entry["capture_s"],
        "cuda_peak_bytes": entry.get("cuda_peak_bytes"),
    },
    "train": {
        "steps": train["result"]["steps"],
        "wall_s": train["wall_s"],
        "cuda_peak_bytes": train["cuda_peak_bytes"],
        "device": train["result"]["device"],
        "metrics": train["result"]["metrics"],
        "timings": train["result"].get("timings"),
    },
    "out_dir": str(out),
}
print(json.dumps(report, indent=2, default=str))
PY
