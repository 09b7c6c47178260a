#!/usr/bin/env bash
# What a GPU lease runs for the course (see tools/gpu_cells.py). Modes:
#   cells    the `#| gpu` cells of 03, 04c, 05c, outputs saved for grafting (`tools/gpu_cells.py apply`)
#   models   the training of the course's shipped models (tools/train_models.py)
#   tests    tests/test_gpu.py: the practitioner's GPU paths (precisions, compile, fused AdamW, SDPA, cache, engine, GGUF,
#            quantized layers, LoRA); with PART=file, also keeps that file in /tmp/big for the next call (see 07a)
#   07a      chapter 07a's `#| gpu` cells (the real model at full size). The SmolLM2 GGUF (98 MB) is larger than what one
#            call may carry (64 MiB with the working tree), so it travels in two halves: the `tests` call leaves the first
#            in /tmp/big on the warm machine, this call brings the second (.gpu07/b) and joins them (SHA-256 checked).
# Expects: the pure-Python dependencies that the GPU image lacks as wheels in .whl/; data in .gpu_data/ (or .gpu07/data/).
set -uo pipefail
OUT=${OUT:-/tmp/gpu_out}; mkdir -p "$OUT"
[ -f /tmp/site/.done ] || { python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && touch /tmp/site/.done; } || exit 1
export PYTHONPATH=$PWD:/tmp/site LLM_NB_DATA=${LLM_NB_DATA:-$PWD/.gpu_data} LLM_NB_CACHE=/tmp/llm_nb_cache MPLBACKEND=Agg \
       PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONHASHSEED=0
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())"
case "${1:-cells}" in
cells)
  LLM_NB_DEVICE=cpu python3 tools/gpu_cells.py run nbs/03_attention.ipynb nbs/04c_hf_gpt2.ipynb nbs/05c_runs.ipynb \
      --out "$OUT/gpu_cells.json" 2>&1 | tee "$OUT/gpu_cells.log" ;;
models)
  python3 tools/train_models.py --device cuda --out /tmp/models 2>&1 | tee "$OUT/train_models.log"
  for d in /tmp/models/*/; do tar -C /tmp/models -czf "$OUT/$(basename "$d").tgz" "$(basename "$d")"; done ;;
tests)
  if [ -n "${PART:-}" ]; then mkdir -p /tmp/big && cp "$PART" /tmp/big/ && ls -la /tmp/big; fi
  python3 -m pytest -q -p no:cacheprovider tests/test_gpu.py 2>&1 | tee "$OUT/test_gpu.log" ;;
07a)
  G=$LLM_NB_DATA/models/SmolLM2-135M-Instruct.Q4_1.gguf; mkdir -p "$(dirname "$G")"
  cat /tmp/big/part.aa .gpu07/b/part.ab > "$G" || exit 1
  echo "$(cat "$LLM_NB_DATA/sha")  $G" | sha256sum -c - || exit 1
  LLM_NB_DEVICE=cpu OMP_NUM_THREADS=${OMP_NUM_THREADS:-16} python3 tools/gpu_cells.py run nbs/07a_finetuning_real.ipynb \
      --skip "${SKIP:-}" --out "$OUT/gpu_07a.json" 2>&1 | tee "$OUT/gpu_07a.log" ;;
esac
ls -la "$OUT"
