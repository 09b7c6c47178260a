"""Weight-only quantization (`llm_nb.quantize`) on SmolLM2-135M-Instruct, CPU, against PyTorch's dynamic int8
(`torch.ao.quantization.quantize_dynamic`), all in one process:

1. correctness first: perplexity of each variant on the same held-out text (Tiny Shakespeare's validation split);
   `int8` (per channel), `q8_0` (per 32 inputs), `q4_*` compute in float32 (codes dequantized on the fly); `+bf16` variants run the same codes with
   bfloat16 activations, which is where PyTorch's CPU int8/int4 weight-only kernels are fast;
2. greedy decoding tokens/s with the KV cache (the memory-bound case weight-only quantization is for);
3. prefill tokens/s on a 256-token prompt (the compute-bound case).

    python bench/quantize.py                 # 2 threads, best of 3, variants interleaved
    python bench/quantize.py --threads 4 --reps 5 --new-tokens 64

Ratios are variant speed / torch.ao int8 speed: >= 1.0 means the variant is at least as fast as the peer.
"""
import argparse, copy, os, time, warnings
os.environ.setdefault('HF_HUB_OFFLINE', '1')
import torch
from torch import nn
from torch.ao.quantization import quantize_dynamic, default_dynamic_qconfig
from llm_nb.pretrained import load
from llm_nb.data import load_text
from llm_nb.generation import generate
from llm_nb.quantize import quantize_model, chunked_perplexity, weight_bytes

VARIANTS = ('ao-int8', 'fp32', 'bf16', 'int8', 'q8_0', 'q4_0', 'q4_1', 'int8+bf16', 'q4_0+bf16', 'q4_1+bf16')

class WeightDtype(nn.Module):
    "A torch.ao dynamic Linear (whose `weight` is a method) behind a `.weight` our attention can read the dtype of."
    def __init__(self, inner): super().__init__(); self.inner = inner
    weight = property(lambda self: torch.empty(0, device='meta'))
    def forward(self, x): return self.inner(x)

def build(base, name):
    "A copy of the float32 model in form `name`."
    m = copy.deepcopy(base)
    if name == 'bf16': return m.to(torch.bfloat16)
    if name == 'ao-int8':
        lin = [n for n, x in m.named_modules() if type(x) is nn.Linear and n != 'lm_head']
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            m = quantize_dynamic(m, {n: default_dynamic_qconfig for n in lin}, dtype=torch.qint8)
        for blk in m.h: blk.attn.q_proj = WeightDtype(blk.attn.q_proj)
        return m
    if name == 'fp32': return m
    scheme, _, dt = name.partition('+')          # 'q4_1+bf16': quantize from fp32, then compute in bf16 (CPU kernels)
    m = quantize_model(m, scheme)
    return m.to(torch.bfloat16) if dt == 'bf16' else m

@torch.no_grad()
def timed(f):
    t = time.perf_counter(); f(); return time.perf_counter() - t

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--reps', type=int, default=3)
    ap.add_argument('--new-tokens', type=int, default=32)
    ap.add_argument('--prefill', type=int, default=256)
    ap.add_argument('--eval-tokens', type=int, default=512)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    base, tok = load()
    text = load_text('tinyshakespeare')
    ids = tok.encode(text[int(0.9 * len(text)):][:60_000])
    prompt = ids[:16]
    x = torch.tensor([ids[:args.prefill]])
    models = {n: build(base, n) for n in VARIANTS}
    del base
    print(f'torch {torch.__version__}, {args.threads} threads, best of {args.reps}; perplexity on {args.eval_tokens} held-out tokens')
    ppl = {n: chunked_perplexity(m, ids[:args.eval_tokens + 1], 256) for n, m in models.items()}
    dec, pre = {n: [] for n in models}, {n: [] for n in models}
    for n, m in models.items(): generate(m, prompt, 2, temperature=0)        # warm-up
    for _ in range(args.reps):                                                  # interleaved: load drifts hit all alike
        for n, m in models.items():
            dec[n].append(timed(lambda: generate(m, prompt, args.new_tokens, temperature=0)))
            pre[n].append(timed(lambda: m(x)))
    d_ao, p_ao = args.new_tokens / min(dec['ao-int8']), args.prefill / min(pre['ao-int8'])
    print(f"{'variant':10s} {'weights MB':>10s} {'perplexity':>10s} {'decode tok/s':>12s} {'× ao':>6s} {'prefill tok/s':>13s} {'× ao':>6s}")
    for n, m in models.items():
        size = weight_bytes(m) + sum(x.weight().numel() for x in m.modules() if isinstance(x, torch.ao.nn.quantized.dynamic.Linear))
        d, p = args.new_tokens / min(dec[n]), args.prefill / min(pre[n])
        print(f'{n:10s} {size/1e6:10.1f} {ppl[n]:10.3f} {d:12.1f} {d/d_ao:6.2f} {p:13.1f} {p/p_ao:6.2f}')
    for n in models:   # the make-bench convention: one RATIO line per number (variant speed / torch.ao int8 speed)
        if n != 'ao-int8':
            tag = n.replace('+', '_')
            print(f'RATIO {tag}_decode_over_ao={min(dec["ao-int8"]) / min(dec[n]):.3f}')
            print(f'RATIO {tag}_prefill_over_ao={min(pre["ao-int8"]) / min(pre[n]):.3f}')

if __name__ == '__main__':
    main()
