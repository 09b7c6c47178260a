"""How many intra-op threads make CPU training fastest: the `--threads` default of `llm_nb train` / `sample`.

    python bench/threads.py --steps 10 --rounds 3          # the shakespeare-char model, 1..N threads, interleaved

Prints, per thread count, the median seconds per optimizer step over `rounds` interleaved rounds (so a burst of
load from other processes hits every setting alike) and the ratio to 1 thread. Only the ratios mean anything
across machines; the absolute times depend on the CPU and on what else runs. Also times sampling (`generate`).
"""
import argparse, os, statistics, time
import torch
from llm_nb.core import seed_everything
from llm_nb.training import Trainer
from llm_nb.runs import build_run
from llm_nb.generation import generate

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--steps', type=int, default=10, help='timed optimizer steps per measurement')
    ap.add_argument('--rounds', type=int, default=3, help='interleaved repetitions (the median is reported)')
    ap.add_argument('--threads', default=None, help='comma-separated thread counts (default: 1..os.cpu_count())')
    ap.add_argument('--recipe', default='shakespeare-char')
    a = ap.parse_args()
    counts = [int(t) for t in a.threads.split(',')] if a.threads else list(range(1, (os.cpu_count() or 1) + 1))
    print(f"cpu_count {os.cpu_count()}, torch default threads {torch.get_num_threads()}, load average "
          f"{os.getloadavg()[0]:.1f}; recipe {a.recipe}, {a.steps} steps x {a.rounds} rounds")
    run = build_run(a.recipe, dict(max_steps=10**6, eval_interval=10**6, device='cpu', dtype='float32', log_interval=10**6))
    tr = Trainer(run['model'], run['data'], run['cfg'], progress=False)
    tr.fit(until=3)                                                    # first-call overheads
    train, gen = {k: [] for k in counts}, {k: [] for k in counts}
    prompt = torch.zeros((1, 1), dtype=torch.long)
    for _ in range(a.rounds):
        for k in counts:
            torch.set_num_threads(k)
            t0 = time.perf_counter(); tr.fit(until=tr.step + a.steps); train[k].append((time.perf_counter() - t0) / a.steps)
            seed_everything(0)
            t0 = time.perf_counter(); generate(tr.model, prompt, 50, temperature=1.0); gen[k].append((time.perf_counter() - t0) / 50)
            tr.model.train()
    base_t, base_g = statistics.median(train[counts[0]]), statistics.median(gen[counts[0]])
    print(f"{'threads':>7} {'s/step':>8} {'vs 1':>6} {'s/token (sample)':>17} {'vs 1':>6}")
    for k in counts:
        t, g = statistics.median(train[k]), statistics.median(gen[k])
        print(f"{k:>7} {t:8.4f} {t / base_t:6.2f} {g:17.5f} {g / base_g:6.2f}")

if __name__ == '__main__': main()
