"""Our GPT vs transformers.GPT2LMHeadModel with the same weights, side by side in one process.

    python bench/transformer.py                       # CPU, a GPT-2-shaped 6-layer model
    python bench/transformer.py --preset gpt2         # GPT-2 small (124M)
    python bench/transformer.py --device cuda --preset gpt2 --batch 16 --seq 1024 --dtype bf16

Prints training-step tokens/s (forward, backward and an AdamW step, the same optimizer settings on both sides) and
greedy generation tokens/s (KV cache on both sides) and the ratio ours/HF (> 1 means ours is faster). The two models'
logits are checked to agree before timing. Fair in four ways: the two contenders run interleaved, on pinned threads
(--threads, default 1), timed in process CPU time on the CPU (wall time with CUDA synchronised on a GPU), with the load
average printed beside the results; the ratios are printed again as `RATIO name=value` lines (tools/run_bench.py).
"""
import argparse, os, statistics, sys, tempfile, time
from pathlib import Path
os.environ.setdefault('HF_HUB_OFFLINE', '1')
sys.path.insert(0, str(Path(__file__).resolve().parents[1])); sys.path.insert(0, str(Path(__file__).resolve().parent))
import torch
import transformers
from _common import load_line, pin
from transformers import GPT2Config, GPT2LMHeadModel
from llm_nb.transformer import GPTConfig
from llm_nb.hf_gpt2 import from_pretrained
from llm_nb.generation import generate   # the course's one public decoder

def sync(dev):
    if dev.type == 'cuda': torch.cuda.synchronize()

def timeit(fns, dev, warmup=2, reps=5):
    "Median seconds per call of each function in `fns`, calling them in turn so that background load hits all alike."
    for _ in range(warmup):
        for f in fns: f()
    ts = [[] for _ in fns]
    tick = time.process_time if dev.type == 'cpu' else time.perf_counter   # CPU time: what the work cost on a busy machine
    for _ in range(reps):
        for t, f in zip(ts, fns):
            sync(dev); t0 = tick(); f(); sync(dev); t.append(tick() - t0)
    return [statistics.median(t) for t in ts]

def main():
    p = argparse.ArgumentParser()
    p.add_argument('--preset', default=None, help='a GPTConfig preset with learned positions (gpt2, gpt-tiny, ...)')
    p.add_argument('--layers', type=int, default=6); p.add_argument('--embd', type=int, default=384); p.add_argument('--heads', type=int, default=6)
    p.add_argument('--vocab', type=int, default=50257); p.add_argument('--block', type=int, default=1024)
    p.add_argument('--batch', type=int, default=4); p.add_argument('--seq', type=int, default=128)
    p.add_argument('--prompt', type=int, default=16); p.add_argument('--new-tokens', type=int, default=64)
    p.add_argument('--device', default='cpu'); p.add_argument('--dtype', default='fp32', choices=['fp32', 'bf16'])
    p.add_argument('--hf-attn', default='sdpa', help="transformers' attention implementation: sdpa (its default) or eager")
    p.add_argument('--reps', type=int, default=5)
    p.add_argument('--threads', type=int, default=1, help='CPU threads for torch (pinned)')
    a = p.parse_args()
    pin(a.threads)
    transformers.logging.set_verbosity_error(); transformers.utils.logging.disable_progress_bar()
    dev = torch.device(a.device)
    cfg = GPTConfig.from_preset(a.preset) if a.preset else GPTConfig(vocab_size=a.vocab, block_size=a.block, n_layer=a.layers, n_head=a.heads, n_embd=a.embd)
    torch.manual_seed(0)
    hf = GPT2LMHeadModel(GPT2Config(vocab_size=cfg.vocab_size, n_positions=cfg.block_size, n_embd=cfg.n_embd, n_layer=cfg.n_layer,
                                    n_head=cfg.n_head, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=None, eos_token_id=None,
                                    attn_implementation=a.hf_attn))
    with tempfile.TemporaryDirectory() as d:
        hf.save_pretrained(d)
        ours = from_pretrained(d)
    dtype = torch.bfloat16 if a.dtype == 'bf16' else torch.float32
    hf, ours = hf.to(dev, dtype), ours.to(dev, dtype)
    print(f'device {dev} ({torch.cuda.get_device_name() if dev.type == "cuda" else f"{torch.get_num_threads()} threads, CPU time"}), {a.dtype}, '
          f'torch {torch.__version__}, transformers {transformers.__version__}, HF attention: {a.hf_attn}')
    print(f'model: n_layer={cfg.n_layer} n_embd={cfg.n_embd} n_head={cfg.n_head} vocab={cfg.vocab_size}; '
          f'{sum(p.numel() for p in ours.parameters()) / 1e6:.1f}M parameters')
    g = torch.Generator().manual_seed(0)
    idx = torch.randint(0, cfg.vocab_size, (a.batch, a.seq + 1), generator=g).to(dev)
    x, y = idx[:, :-1], idx[:, 1:]
    hf.eval(); ours.eval()
    with torch.no_grad():
        err = (hf(x).logits.float() - ours(x).float()).abs().max().item()
    print(f'max |logits difference| = {err:.1e}')
    hf.train(); ours.train()
    opt_ours = torch.optim.AdamW(ours.parameters(), lr=1e-4, weight_decay=0.1)   # a training step includes the update
    opt_hf = torch.optim.AdamW(hf.parameters(), lr=1e-4, weight_decay=0.1)
    def step_ours():
        opt_ours.zero_grad(set_to_none=True); ours(x, targets=y)[1].backward(); opt_ours.step()
    def step_hf():   # HF shifts the labels inside; both run on the same T = seq positions
        opt_hf.zero_grad(set_to_none=True); hf(x, labels=x).loss.backward(); opt_hf.step()
    t_ours, t_hf = timeit([step_ours, step_hf], dev, reps=a.reps)
    ntok = a.batch * a.seq
    rows = [('train step (fwd+bwd+AdamW)', ntok / t_ours, ntok / t_hf)]
    hf.eval(); ours.eval()
    prompt = idx[:1, :a.prompt]
    with torch.no_grad():
        out_ours = generate(ours, prompt, a.new_tokens, temperature=0)
        out_hf = hf.generate(prompt, max_new_tokens=a.new_tokens, min_new_tokens=a.new_tokens, do_sample=False, use_cache=True, pad_token_id=0)
        same = torch.equal(out_ours, out_hf)
        t_ours, t_hf = timeit([lambda: generate(ours, prompt, a.new_tokens, temperature=0),
                               lambda: hf.generate(prompt, max_new_tokens=a.new_tokens, min_new_tokens=a.new_tokens, do_sample=False,
                                                   use_cache=True, pad_token_id=0)], dev, warmup=1, reps=max(3, a.reps // 2))
    rows.append((f'greedy generate (cache), batch 1', a.new_tokens / t_ours, a.new_tokens / t_hf))
    print(f'greedy outputs identical: {same}')
    print(load_line())
    print(f"{'benchmark':34s} {'ours tok/s':>11s} {'HF tok/s':>11s} {'ours/HF':>8s}")
    for name, o, h in rows: print(f'{name:34s} {o:11.0f} {h:11.0f} {o / h:8.2f}')
    print(f'RATIO train_step_speed_ours_over_hf={rows[0][1] / rows[0][2]:.3f}')
    print(f'RATIO greedy_cache_speed_ours_over_hf={rows[1][1] / rows[1][2]:.3f}')

if __name__ == '__main__':
    main()
