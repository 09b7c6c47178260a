"""Helpers every bench script shares, so that each is fair in the same ways (not a bench itself: tools/run_bench.py
skips files whose name starts with `_`).

- `pin(n)`: one thread count for torch (intra- and inter-op) and for the BLAS/OpenMP pools, set before timing;
- `load_line()`: the load average, printed beside every result (on a shared machine it says how much to trust them);
- `interleave(fns, reps)`: the contenders run in turn, rep after rep, so that a burst of background load hits all of
  them alike; each call is timed in process CPU time (with one thread, what the work itself cost) and in wall time.
"""
import os, statistics, time

def pin(threads:int=1):
    "Run torch (and the OpenMP/BLAS pools it starts) on `threads` threads."
    for k in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'RAYON_NUM_THREADS'):
        os.environ[k] = str(threads)
    import torch
    torch.set_num_threads(threads)
    try: torch.set_num_interop_threads(threads)
    except RuntimeError: pass   # only settable before the first parallel work; harmless when already set
    return threads

def load_line() -> str:
    "The 1, 5 and 15 minute load averages and the CPU count, as one line."
    try: l1, l5, l15 = os.getloadavg()
    except OSError: return 'load average: unknown'
    return f'load average {l1:.1f} {l5:.1f} {l15:.1f} on {os.cpu_count()} cpus'

def interleave(fns:dict, reps:int=3, warmup:int=1, clock:str='cpu') -> dict:
    "Median seconds per call of each function in `fns` (name -> f), called in turn `reps` times after `warmup` rounds."
    for _ in range(warmup):
        for f in fns.values(): f()
    tick = time.process_time if clock == 'cpu' else time.perf_counter
    ts = {k: [] for k in fns}
    for _ in range(reps):
        for k, f in fns.items():
            t0 = tick(); f(); ts[k].append(tick() - t0)
    return {k: statistics.median(v) for k, v in ts.items()}
