"""Execute every notebook the way a reader's *Run All* does: a real Jupyter kernel, every cell, in order.

    python tools/run_all.py [NB ...] [--workers 2] [--timeout 900]

Unlike `nbdev_test`, which skips the cells flagged in settings.ini's `tst_flags`, nothing is skipped here: a `#| slow`
cell must guard itself with `slow_ready(...)` and a `#| gpu` cell with `gpu_ready(...)` (chapter 00), printing one line
that says what was skipped and how to run it. The notebooks on disk are not modified. Exits non-zero if any cell fails,
naming the notebook, the cell and the error.

One line is left out: the closing `nbdev.nbdev_export()`, which writes every module of llm_nb/ from every notebook.
Kernels running side by side would rewrite the package while other kernels import it; the export is checked on its
own (CI fails when `nbdev_export` would change the tree). A kernel's own log (its stderr, where ipykernel warns that
the connection is unencrypted TCP) is kept in a temporary file and shown only when that notebook fails.

Widgets: nbclient mimics a front end's Output widget (what `interact`/`interactive` print into) by sending `comm_msg`
requests on the kernel's shell channel from inside its output handler, while it waits on that channel for the cell's
reply. That client-to-kernel traffic is what the reported hangs of widget cells share (jupyter/nbclient#312,
jupyter/nbconvert#2029, #2003, #1921: `interact` in each), and the one widget-specific thing nbclient does; a hang here
in chapter 06's `interactive` cell did not come back in later runs. Run All does not need the widgets' stored state, so the mimic is off
(`widget_registry = {}`): nbclient then only reads from the kernel, and whatever a widget's callback prints (its
traceback included) lands in the cell's own outputs, where an `error` output fails the notebook like a raised one.
"""
import argparse, os, re, sys, tempfile, time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

_EXPORT = re.compile(r'^[ \t]*import nbdev[ \t]*;[ \t]*nbdev\.nbdev_export\(\)[ \t]*$', re.M)

def run_one(path:str, timeout:int) -> tuple[str, float, str|None]:
    "Run the notebook at `path` top to bottom in a fresh kernel; (path, seconds, None or the error)."
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError
    nb = nbformat.read(path, as_version=4)
    for c in nb.cells:
        if c.cell_type == 'code': c.source = _EXPORT.sub('', c.source)
    cur = {}
    class Client(NotebookClient):
        async def async_execute_cell(self, cell, cell_index, **kw):
            cur['cell'] = cell_index
            return await super().async_execute_cell(cell, cell_index, **kw)
    client = Client(nb, timeout=timeout, kernel_name='python3', resources={'metadata': {'path': str(Path(path).parent)}},
                    store_widget_state=False)
    client.widget_registry = {}     # no Output-widget mimic: see the module's docstring
    t0 = time.time()
    with tempfile.TemporaryFile('w+') as log:
        err = None
        try:
            client.execute(stderr=log)
            shown = [(i, o) for i, c in enumerate(nb.cells) if c.cell_type == 'code'
                     for o in c.get('outputs', []) if o.get('output_type') == 'error']
            if shown:                # a traceback shown without failing the cell, e.g. by a widget's callback
                i, o = shown[0]
                err = f"cell {i} shows an error: {o.get('ename')}: {o.get('evalue')}\n{nb.cells[i].source[:300]}"
        except CellExecutionError as e: err = str(e)[-3000:]
        except Exception as e:
            src = nb.cells[cur['cell']].source[:300] if 'cell' in cur else ''
            err = f'{type(e).__name__} in cell {cur.get("cell")}:\n{src}\n{e}'[-3000:]
        if err:
            log.seek(0); klog = log.read().strip()
            if klog: err += f'\n--- kernel log ---\n{klog[-2000:]}'
    return path, time.time() - t0, err

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('nbs', nargs='*'); ap.add_argument('--workers', type=int, default=2); ap.add_argument('--timeout', type=int, default=900)
    a = ap.parse_args()
    nbs = a.nbs or sorted(str(p) for p in Path('nbs').glob('*.ipynb') if not p.name.startswith('_'))
    os.environ.pop('LLM_NB_SLOW', None)            # a plain Run All: long runs skip themselves
    if a.workers > 1:   # kernels side by side: one thread each, or their thread pools fight for the cores (10x slower)
        for v in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS', 'OPENBLAS_NUM_THREADS'): os.environ.setdefault(v, '1')
    failed, t0 = [], time.time()
    with ProcessPoolExecutor(a.workers) as ex:      # each result as it comes: a slow notebook holds up no report
        for f in as_completed([ex.submit(run_one, p, a.timeout) for p in nbs]):
            path, secs, err = f.result()
            print(f'{"FAIL" if err else "ok  "} {secs:6.1f}s  {path}', flush=True)
            if err: failed.append((path, err))
    for path, err in sorted(failed): print(f'\n=== {path}\n{err}')
    print(f'{len(nbs) - len(failed)}/{len(nbs)} notebooks ran top to bottom with a real kernel in {time.time() - t0:.0f}s')
    sys.exit(1 if failed else 0)

if __name__ == '__main__': main()
