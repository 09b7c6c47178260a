"""Execute every notebook the way a reader's *Run All* does: a real Jupyter kernel, every cell, in order.

    python tools/run_all.py [NB ...] [--workers 2] [--timeout 900]

Unlike `nbdev_test`, which skips the cells flagged in settings.ini's `tst_flags`, nothing is skipped here: a `#| slow`
cell must guard itself with `slow_ready(...)` and a `#| gpu` cell with `gpu_ready(...)` (chapter 00), printing one line
that says what was skipped and how to run it. The notebooks on disk are not modified. Exits non-zero if any cell fails,
naming the notebook, the cell and the error.
"""
import argparse, os, sys, time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

def run_one(path:str, timeout:int) -> tuple[str, float, str|None]:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError
    nb = nbformat.read(path, as_version=4)
    t0 = time.time()
    client = NotebookClient(nb, timeout=timeout, kernel_name='python3', resources={'metadata': {'path': str(Path(path).parent)}})
    try: client.execute()
    except CellExecutionError as e: return path, time.time() - t0, str(e)[-3000:]
    except Exception as e: return path, time.time() - t0, f'{type(e).__name__}: {e}'[-3000:]
    return path, time.time() - t0, None

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('nbs', nargs='*'); ap.add_argument('--workers', type=int, default=2); ap.add_argument('--timeout', type=int, default=900)
    a = ap.parse_args()
    nbs = a.nbs or sorted(str(p) for p in Path('nbs').glob('*.ipynb') if not p.name.startswith('_'))
    os.environ.pop('LLM_NB_SLOW', None)            # a plain Run All: long runs skip themselves
    if a.workers > 1:   # kernels side by side: one thread each, or their thread pools fight for the cores (10x slower)
        for v in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS', 'OPENBLAS_NUM_THREADS'): os.environ.setdefault(v, '1')
    failed, t0 = [], time.time()
    with ProcessPoolExecutor(a.workers) as ex:
        for path, secs, err in ex.map(run_one, nbs, [a.timeout] * len(nbs)):
            print(f'{"FAIL" if err else "ok  "} {secs:6.1f}s  {path}', flush=True)
            if err: failed.append((path, err))
    for path, err in failed: print(f'\n=== {path}\n{err}')
    print(f'{len(nbs) - len(failed)}/{len(nbs)} notebooks ran top to bottom with a real kernel in {time.time() - t0:.0f}s')
    sys.exit(1 if failed else 0)

if __name__ == '__main__': main()
