"""Training throughput and the nanoGPT reference recipe, on the CPU.

    python bench/training.py --throughput-steps 50          # tokens/s and MFU of the shakespeare-char model
    python bench/training.py --steps 2000                    # the full recipe: validation loss vs nanoGPT's number

What is and is not run: nanoGPT itself is not installed here and is NOT run. Its documented CPU recipe for
Tiny Shakespeare (README, "I only have a MacBook"): 4 layers, 4 heads, width 128, block 64, batch 12, 2000 steps,
lr 1e-3 -> 1e-4 cosine after 100 warm-up steps, beta2 0.99, no dropout, compile off; reported validation loss
"about 1.88" (its estimate: mean over eval_iters=20 random batches of the validation split) in "about 3 minutes".
This script trains OUR model with exactly those hyper-parameters (the `shakespeare-char` recipe), evaluates it both
nanoGPT's way (20 random batches of 12 x 64) and on the whole validation split, and prints the ratio to 1.88.
Known differences: nanoGPT also applies weight decay to the embeddings (we do not), and its vocabulary/split are
the same (65 characters, last 10% for validation).
"""
import argparse, time
import numpy as np, torch
from llm_nb.core import seed_everything, fmt_count, fmt_time, num_params, Timer, peak_flops
from llm_nb.lmdata import get_windows
from llm_nb.training import Trainer
from llm_nb.runs import build_run

NANOGPT_VAL = 1.88          # README of karpathy/nanoGPT, CPU recipe for shakespeare_char

@torch.no_grad()
def nanogpt_style_val(model, val, iters=20, batch=12, block=64, seed=0):
    "nanoGPT's estimate_loss: the mean loss of `iters` random batches of the validation split."
    g = torch.Generator().manual_seed(seed); model.eval(); losses = []
    for _ in range(iters):
        x, y = get_windows(val, torch.randint(len(val) - block - 1, (batch,), generator=g).numpy(), block)
        losses.append(model(x, y)[1].item())
    model.train(); return float(np.mean(losses))

def throughput(steps, threads):
    if threads: torch.set_num_threads(threads)
    run = build_run('shakespeare-char', dict(max_steps=steps + 5, eval_interval=10**6, device='cpu', dtype='float32',
                                            log_interval=steps + 5))
    tr = Trainer(run['model'], run['data'], run['cfg'], progress=False)
    tr.fit(until=5)                                   # warm-up steps (allocations, first-call overheads)
    c0 = time.process_time()
    with Timer() as t: tr.fit(until=steps + 5)
    cpu = time.process_time() - c0
    tok_s, tok_cpu = steps * run['cfg'].tokens_per_step / t.elapsed, steps * run['cfg'].tokens_per_step / cpu
    peak, src = peak_flops('cpu')
    print(f"shakespeare-char model ({fmt_count(num_params(run['model']))} parameters), {torch.get_num_threads()} threads: "
          f"{fmt_count(tok_s)} tokens/s wall ({t.elapsed / steps * 1e3:.1f} ms/step of {run['cfg'].tokens_per_step} tokens), "
          f"{fmt_count(tok_cpu)} tokens per process-CPU-second ({cpu / steps * 1e3:.1f} ms CPU/step; on a shared machine "
          f"this is the steadier number); wall-clock MFU {tr.flops_per_token * tok_s / peak:.1%} of {fmt_count(peak, 'FLOP/s')} ({src})")

def recipe(steps):
    run = build_run('shakespeare-char', dict(max_steps=steps, decay_steps=2000, device='cpu', dtype='float32'))
    log = []
    t0 = time.perf_counter()
    def cb(tr, event, info):
        if event == 'eval':
            log.append((info['step'], time.perf_counter() - t0, info['loss'], nanogpt_style_val(tr.model, tr.data.val)))
            print(f"  step {info['step']:5d}  {fmt_time(log[-1][1]):>7s}  val (240 even windows) {info['loss']:.4f}  "
                  f"val (nanoGPT-style, 20 random batches) {log[-1][3]:.4f}", flush=True)
    tr = Trainer(run['model'], run['data'], run['cfg'], progress=False, callbacks=[cb])
    tr.fit()
    full = tr.evaluate(None)
    el = time.perf_counter() - t0
    print(f"ours, {steps} steps in {fmt_time(el)}: validation loss {full['loss']:.4f} on the whole split "
          f"({full['tokens']} tokens), nanoGPT-style estimate {log[-1][3]:.4f}")
    if steps == 2000:
        print(f"nanoGPT documented (not run here): about {NANOGPT_VAL} in about 3 minutes on a MacBook CPU; "
              f"ours / nanoGPT = {log[-1][3] / NANOGPT_VAL:.3f} (nanoGPT-style estimate)")

if __name__ == '__main__':
    ap = argparse.ArgumentParser()
    ap.add_argument('--throughput-steps', type=int, default=50)
    ap.add_argument('--threads', type=int, default=0)
    ap.add_argument('--steps', type=int, default=0, help='train the recipe for this many steps (2000 = full); 0 = skip')
    a = ap.parse_args()
    seed_everything(1337)
    if a.throughput_steps: throughput(a.throughput_steps, a.threads)
    if a.steps: recipe(a.steps)
