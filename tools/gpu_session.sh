#!/usr/bin/env bash
# What a GPU lease runs for the course (see tools/gpu_cells.py): the `#| gpu` cells of the chapters that have them, with
# their outputs saved for grafting, and (with --models) the training of the course's shipped models (tools/train_models.py).
# Expects: the package's pure-Python dependencies that the GPU image lacks as wheels in .whl/, the data sets in .gpu_data/.
set -uo pipefail
OUT=${OUT:-/tmp/gpu_out}; mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=$PWD:/tmp/site LLM_NB_DATA=$PWD/.gpu_data LLM_NB_CACHE=/tmp/llm_nb_cache MPLBACKEND=Agg PYTHONUNBUFFERED=1 \
       TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONHASHSEED=0
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())"
if [ "${1:-cells}" = cells ]; then
  LLM_NB_DEVICE=cpu python3 tools/gpu_cells.py run nbs/03_attention.ipynb nbs/04c_hf_gpt2.ipynb nbs/05c_runs.ipynb \
      --out "$OUT/gpu_cells.json" 2>&1 | tee "$OUT/gpu_cells.log"
else
  python3 tools/train_models.py --device cuda --out /tmp/models 2>&1 | tee "$OUT/train_models.log"
  for d in /tmp/models/*/; do tar -C /tmp/models -czf "$OUT/$(basename "$d").tgz" "$(basename "$d")"; done
fi
ls -la "$OUT"
