"""Run the `#| gpu` cells of notebooks on a CUDA machine and graft their outputs into the notebooks here.

The course's GPU cells differ from their CPU twins only in device and size, and their stored outputs must come from a
real run. On a machine with a GPU:

    LLM_NB_DEVICE=cpu python tools/gpu_cells.py run nbs/03_attention.ipynb nbs/04c_hf_gpt2.ipynb --out gpu_outputs.json

executes each notebook top to bottom (`#| slow` cells skipped; every other cell on the CPU through `LLM_NB_DEVICE=cpu`,
since the `#| gpu` cells name `device='cuda'` themselves), keeps only the `#| gpu` cells' outputs, keyed by notebook
and cell id, and records the GPU, torch version and run time. Back on the machine that holds the repository:

    python tools/gpu_cells.py apply gpu_outputs.json

writes those outputs into the matching cells (by id; a cell whose source changed since the run is skipped and named).
Reads only execnb (and IPython) besides the package, so it runs where nbdev is not installed.
"""
import argparse, hashlib, json, os, sys, time, traceback
from pathlib import Path

def _flags(source:str) -> set:
    return {l[2:].strip().split()[0] for l in source.splitlines() if l.startswith('#|') and l[2:].strip()}

def _digest(source) -> str:
    return hashlib.sha256((''.join(source) if isinstance(source, list) else source).encode()).hexdigest()[:16]

def run(nbs, out, skip=('slow',), skip_ids=()):
    "Execute each notebook, cell by cell (errors recorded, not fatal), and save the `#| gpu` cells' outputs to `out`."
    from execnb.shell import CaptureShell
    from execnb.nbio import read_nb
    import torch
    root = Path.cwd()
    sys.path.insert(0, str(root))
    result = dict(device=torch.cuda.get_device_name() if torch.cuda.is_available() else 'no CUDA device',
                  torch=torch.__version__, notebooks={})
    for nb_path in nbs:
        nb_path = (root / nb_path).absolute()
        nb = read_nb(nb_path)
        os.chdir(nb_path.parent)
        sh, t0, cells, errors = CaptureShell(), time.time(), {}, []
        for c in nb.cells:
            if c.cell_type != 'code' or 'nbdev_export(' in c.source or set(skip) & _flags(c.source) or c.get('id') in skip_ids: continue
            is_gpu = 'gpu' in _flags(c.source)
            t1 = time.time()
            outs = sh.run(c.source)
            if sh.exc is not None:
                errors.append(dict(cell=c.get('id'), gpu=is_gpu, error=''.join(traceback.format_exception_only(type(sh.exc), sh.exc))))
                print(f'  error in {"gpu " if is_gpu else ""}cell {c.get("id")}: {errors[-1]["error"].strip()[:300]}', flush=True)
            if is_gpu:
                cells[c['id']] = dict(source=_digest(c.source), outputs=outs, seconds=round(time.time() - t1, 1))
                print(f'  gpu cell {c["id"]}: {time.time() - t1:.1f}s', flush=True)
        result['notebooks'][nb_path.name] = dict(cells=cells, errors=errors, seconds=round(time.time() - t0, 1))
        print(f'{nb_path.name}: {len(cells)} gpu cells, {len(errors)} errors, {time.time() - t0:.1f}s', flush=True)
        os.chdir(root)
    Path(out).write_text(json.dumps(result, indent=1, default=str))

def apply(path, nbs_dir='nbs'):
    "Write the outputs saved by `run` into the notebooks' cells of the same id and source."
    res = json.loads(Path(path).read_text())
    for name, r in res['notebooks'].items():
        p = Path(nbs_dir) / name
        nb = json.loads(p.read_text(encoding='utf-8'))
        n = 0
        for c in nb['cells']:
            got = r['cells'].get(c.get('id'))
            if got is None: continue
            if got['source'] != _digest(c['source']):
                print(f'{name}: cell {c["id"]} changed since the GPU run; left as it is'); continue
            c['outputs'] = got['outputs']; n += 1
        p.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + '\n', encoding='utf-8')
        print(f'{name}: {n} gpu cell(s) updated from a run on {res["device"]} (torch {res["torch"]})')

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest='cmd', required=True)
    r = sub.add_parser('run'); r.add_argument('nbs', nargs='+'); r.add_argument('--out', required=True)
    r.add_argument('--skip', default='', help='comma-separated ids of CPU cells to leave out (long ones the GPU cells do not need)')
    a_ = sub.add_parser('apply'); a_.add_argument('json'); a_.add_argument('--nbs', default='nbs')
    a = ap.parse_args()
    if a.cmd == 'run': run(a.nbs, a.out, skip_ids=set(filter(None, a.skip.split(','))))
    else: apply(a.json, a.nbs)
