"""Training on the CPU: our Trainer against nanoGPT itself, on nanoGPT's CPU recipe for Tiny Shakespeare (characters).

    python bench/training.py --steps 50              # throughput and MFU of both, interleaved (a minute or so)
    python bench/training.py --steps 2000            # the whole recipe: both trained, both evaluated the same way

nanoGPT is run, not quoted: its `model.py` (karpathy/nanoGPT, a snapshot in bench/_peers/nanoGPT/, ignored by git;
fetch it with `git show HEAD:model.py` from a clone, or set NANOGPT_GIT_DIR to a clone's git folder and the bench
extracts it; without either it stops with that advice) with the
training step of its `train.py` (AdamW from its `configure_optimizers`, its warm-up + cosine `get_lr`, gradient
clipping at 1.0, `zero_grad(set_to_none=True)`, random windows as its `get_batch` draws them). The recipe is the
README's CPU command: 4 layers, 4 heads, width 128, block 64, batch 12, no dropout, no bias, lr 1e-3 -> 1e-4 over
2000 steps after 100 warm-up steps, beta2 0.99, weight decay 0.1. Ours is the `shakespeare-char` run (the same
hyper-parameters), on the same token arrays (65 characters, last 10% for validation).

Fair in four ways: the two trainers run interleaved in blocks of --block steps (ours, nanoGPT, matmul, ours, ...),
on --threads threads (pinned for torch and the BLAS pools), timed in process CPU time, with the load average printed.
Throughput is the median over blocks (the first block is a warm-up); MFU divides FLOPs per token (nanoGPT's
formula 6N + 12·L·T·C, the same N for both) × tokens per CPU-second by a matmul peak (1024², float32) measured in the
same process, on the same threads, in CPU time, in every round between the two trainers (median of the rounds).
Both models are then scored by the same evaluator (`llm_nb.lmdata.evaluate`) over all validation windows.
"""
import argparse, importlib.util, math, os, statistics, subprocess, sys, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import load_line, pin
import numpy as np, torch
from llm_nb.core import seed_everything, fmt_count
from llm_nb.lmdata import evaluate
from llm_nb.training import Trainer
from llm_nb.runs import build_run

PEERS = Path(__file__).resolve().parent/'_peers'

def nanogpt_module():
    "karpathy/nanoGPT's model.py from bench/_peers/nanoGPT (a snapshot of the repository, not part of the package)."
    p = PEERS/'nanoGPT'/'model.py'
    if not p.is_file() and (git_dir := os.environ.get('NANOGPT_GIT_DIR')):   # a clone or mirror of karpathy/nanoGPT
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(subprocess.run(['git', f'--git-dir={git_dir}', 'show', 'HEAD:model.py'], check=True,
                                     capture_output=True).stdout)
    if not p.is_file():
        sys.exit(f'{p} is missing: put nanoGPT\'s model.py there (git --git-dir=<a clone> show HEAD:model.py > {p}), '
                 f'or set NANOGPT_GIT_DIR to a clone\'s git folder')
    spec = importlib.util.spec_from_file_location('nanogpt_model', p)
    mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
    return mod

class NanoGPTRun:
    "nanoGPT's train.py loop for the CPU recipe, one step at a time (no DDP, no autocast, no GradScaler: all off on CPU)."
    def __init__(self, mod, train, vocab_size, max_steps, seed=1337, block=64, batch=12, lr=1e-3, min_lr=1e-4,
                 warmup=100, decay=2000):
        torch.manual_seed(seed)
        cfg = mod.GPTConfig(block_size=block, vocab_size=vocab_size, n_layer=4, n_head=4, n_embd=128, dropout=0.0, bias=False)
        self.model = mod.GPT(cfg)
        self.opt = self.model.configure_optimizers(0.1, lr, (0.9, 0.99), 'cpu')
        self.train, self.block, self.batch = torch.from_numpy(np.asarray(train).astype(np.int64)), block, batch
        self.lr, self.min_lr, self.warmup, self.decay, self.step = lr, min_lr, warmup, decay, 0
        self.g = torch.Generator().manual_seed(seed)
        self.x, self.y = self.get_batch()

    def get_batch(self):
        ix = torch.randint(len(self.train) - self.block, (self.batch,), generator=self.g)
        x = torch.stack([self.train[i:i + self.block] for i in ix])
        y = torch.stack([self.train[i + 1:i + 1 + self.block] for i in ix])
        return x, y

    def get_lr(self, it):
        if it < self.warmup: return self.lr * (it + 1) / (self.warmup + 1)
        if it > self.decay: return self.min_lr
        coeff = 0.5 * (1.0 + math.cos(math.pi * (it - self.warmup) / (self.decay - self.warmup)))
        return self.min_lr + coeff * (self.lr - self.min_lr)

    def fit(self, until):
        while self.step < until:
            for g in self.opt.param_groups: g['lr'] = self.get_lr(self.step)
            _, loss = self.model(self.x, self.y)
            self.x, self.y = self.get_batch()        # nanoGPT fetches the next batch while the GPU works
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
            self.opt.step()
            self.opt.zero_grad(set_to_none=True)
            self.step += 1

class Contiguous(torch.nn.Module):
    "nanoGPT's forward `view`s its targets: hand it contiguous windows (the evaluator's targets are a slice)."
    def __init__(self, m): super().__init__(); self.m = m
    def forward(self, x, y): return self.m(x.contiguous(), y.contiguous())

def matmul_flops_per_cpu_second(n=1024, reps=3):
    "FLOP per CPU-second of an n x n float32 matmul, the median of `reps` (after one untimed call)."
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(n, n, generator=g), torch.randn(n, n, generator=g)
    a @ b; ts = []
    for _ in range(reps):
        t0 = time.process_time(); a @ b; ts.append(time.process_time() - t0)
    return 2 * n**3 / statistics.median(ts)

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--steps', type=int, default=50, help='steps each (2000 = the whole recipe)')
    ap.add_argument('--block', type=int, default=5, help='steps per interleaved block')
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--throughput-steps', type=int, default=None, help=argparse.SUPPRESS)   # the old name of --steps
    a = ap.parse_args()
    steps = a.throughput_steps or a.steps
    pin(a.threads)
    mod = nanogpt_module()
    seed_everything(1337)
    run = build_run('shakespeare-char', dict(max_steps=steps + 1, decay_steps=2000,   # +1: no evaluation inside the timed steps
                                             device='cpu', dtype='float32',
                                            eval_interval=10**9, log_interval=10**9))
    ours = Trainer(run['model'], run['data'], run['cfg'], progress=False)
    data = run['data']
    nano = NanoGPTRun(mod, data.train, data.vocab_size, steps)
    T, C, L = 64, 128, 4
    n_params = nano.model.get_num_params()                     # nanoGPT's count (position embeddings left out)
    flops_tok = 6 * n_params + 12 * L * T * C
    tok_step = 12 * T
    print(f'recipe: shakespeare-char, {steps} steps each, batch 12 x {T}; nanoGPT {fmt_count(n_params)} parameters, '
          f'ours {fmt_count(sum(p.numel() for p in ours.model.parameters()))} (all counted); '
          f'{torch.get_num_threads()} thread(s), process CPU time')
    print(load_line())
    t = {'ours': [], 'nanoGPT': []}; peaks = []
    prev = 0
    while prev < steps:
        k = min(prev + a.block, steps); n = k - prev
        c0 = time.process_time(); ours.fit(until=k); t['ours'].append((time.process_time() - c0) / n)
        c0 = time.process_time(); nano.fit(k); t['nanoGPT'].append((time.process_time() - c0) / n)
        peaks.append(matmul_flops_per_cpu_second())
        prev = k
    assert ours.step == nano.step == steps
    keep = slice(1, None) if len(t['ours']) > 2 else slice(None)   # the first block warms up
    med = {n: statistics.median(v[keep]) for n, v in t.items()}
    peak = statistics.median(peaks)
    print(load_line())
    print(f'matmul peak (1024², float32, same process and threads): {fmt_count(peak, "FLOP")} per CPU-second')
    for n, s in med.items():
        tps = tok_step / s
        print(f'{n:>8}: {s * 1e3:7.2f} ms CPU per step, {fmt_count(tps)} tokens per CPU-second, MFU {flops_tok * tps / peak:.1%}')
    ratio = med['nanoGPT'] / med['ours']
    print(f'ours runs at {ratio:.2f}x nanoGPT\'s training throughput (tokens per CPU-second)')
    c0 = time.process_time()
    ev = {'ours': evaluate(ours.model, data.val, T, 32, None), 'nanoGPT': evaluate(Contiguous(nano.model), data.val, T, 32, None)}
    print(f'validation loss after {steps} steps, the same evaluator over all {ev["ours"]["tokens"]:,} validation tokens '
          f'(non-overlapping windows of {T}): ours {ev["ours"]["loss"]:.4f}, nanoGPT {ev["nanoGPT"]["loss"]:.4f} '
          f'({time.process_time() - c0:.1f} s CPU)')
    print(f'RATIO train_tokens_per_cpu_sec_ours_over_nanogpt={ratio:.3f}')
    print(f'RATIO train_mfu_ours={flops_tok * tok_step / med["ours"] / peak:.3f}')
    print(f'RATIO train_mfu_nanogpt={flops_tok * tok_step / med["nanoGPT"] / peak:.3f}')
    print(f'RATIO val_loss_ours_over_nanogpt={ev["ours"]["loss"] / ev["nanoGPT"]["loss"]:.4f}')

if __name__ == '__main__': main()
