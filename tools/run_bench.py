"""Run every bench/*.py with small settings and write one JSON of the ratios they print (`make bench`).

    python tools/run_bench.py                       # all scripts, small settings, -> _bench/results.json
    python tools/run_bench.py attention embeddings  # some of them
    python tools/run_bench.py --timeout 600 --out bench.json

The convention: a bench script prints its headline numbers as lines `RATIO name=value` (a dimensionless number whose
name says which way it goes, e.g. `word2vec_time_ours_over_gensim=1.8`). For a script that prints none yet, every
number written as `1.23x` is taken from its output with the line it stands on, so nothing has to change in a script
for the runner to report it. Each script runs in its own process with a time limit; a failure or a timeout is
recorded in the JSON (and makes the exit status 1), it does not stop the others.

The settings below are each script's smallest sensible arguments: the ratios are a smoke check that the comparison
still runs and roughly where it stands, not the numbers a chapter quotes (run the script itself for those).
"""
import argparse, json, os, platform, re, subprocess, sys, time
from pathlib import Path
import torch

ROOT = Path(__file__).resolve().parents[1]

SMALL = {   # script stem -> its smallest sensible arguments (unknown scripts run with none)
    'attention':    ['--quick', '--reps', '2', '--threads', '1'],
    'embeddings':   ['--repeats', '1', '--epochs', '1'],
    'compile':      ['--steps', '10', '--new', '16', '--reps', '1'],
    'finetuning':   ['--steps', '2', '--batch', '2', '--seq', '32'],
    'generation':   ['--layers', '2', '--embd', '64', '--heads', '2', '--ctx', '128', '--prompt', '8', '--new', '16',
                     '--beams', '2', '--reps', '1', '--threads', '1', '--prefill', '128', '--real-prefill', '64'],
    'metrics':      ['--n', '200', '--repeat', '1'],
    'pretrained':   ['--reps', '1', '--new', '16', '--prefill', '64'],
    'serving':      ['--quick', '--clients', '1,8', '--threads', '1'],
    'tokenization': ['--naive-chars', '20000', '--repeat', '1'],
    'training':     ['--steps', '10', '--threads', '1'],
    'transformer':  ['--layers', '2', '--embd', '64', '--heads', '2', '--block', '128', '--batch', '2', '--seq', '32',
                     '--prompt', '8', '--new-tokens', '8', '--reps', '2'],
}

_RATIO = re.compile(r'^RATIO\s+([\w.\-]+)=(\S+)\s*$')
_TIMES = re.compile(r"(?<!\w)(?<!\d\.)(\d+(?:\.\d+)?)x\b|\w+ / \w+:\s*(\d+\.\d+)\b")   # 1.23x, or "a / b: 1.23"
_RATIO_COL = re.compile(r'(?:ratio|[A-Za-z]{2,}/[A-Za-z]{2,})$')   # a table whose last column is a ratio ("ratio", "ours/HF")

def parse_ratios(text:str) -> tuple[dict, list]:
    "The `RATIO name=value` lines of `text` as a dict, and (only when there are none) every `1.23x` with its line."
    named = {m[1]: float(m[2]) for m in map(_RATIO.match, text.splitlines()) if m}
    if named: return named, []
    found, table = [], False
    for l in text.splitlines():
        xs = [float(a or b) for a, b in _TIMES.findall(l)]
        last = l.split()[-1] if l.split() else ''
        if table and re.fullmatch(r'\d+(?:\.\d+)?', last): xs.append(float(last))
        else: table = bool(_RATIO_COL.search(l.strip()))
        if xs: found.append({'line': l.strip(), 'x': xs})
    return {}, found

def run_one(script:Path, args:list, timeout:float) -> dict:
    "Run one bench script with `args` under a time limit; its ratios, exit status and wall time."
    env = {**os.environ, 'PYTHONPATH': os.pathsep.join(filter(None, [str(ROOT), os.environ.get('PYTHONPATH')])),
           'MPLBACKEND': 'Agg'}
    t0 = time.perf_counter()
    try:
        r = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, timeout=timeout,
                           cwd=ROOT, env=env)
        rc, out, err = r.returncode, r.stdout, r.stderr
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors='replace') if isinstance(e.stdout, bytes) else (e.stdout or '')
        rc, err = 'timeout', ''
    named, from_text = parse_ratios(out)
    res = dict(args=args, rc=rc, seconds=round(time.perf_counter() - t0, 1), ratios=named)
    if from_text: res['ratios_from_text'] = from_text
    if rc != 0: res['tail'] = (out + err)[-1500:]
    return res

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('names', nargs='*', help='bench script stems (default: every bench/*.py)')
    p.add_argument('--timeout', type=float, default=300, help='seconds allowed to each script')
    p.add_argument('--out', default=str(ROOT/'_bench'/'results.json'))
    p.add_argument('--dir', default=str(ROOT/'bench'), help='the folder of bench scripts')
    a = p.parse_args()
    scripts = sorted(s for s in Path(a.dir).glob('*.py') if not s.name.startswith('_'))   # _common.py: shared helpers
    if unknown := set(a.names) - {s.stem for s in scripts}: p.error(f'no such bench script: {", ".join(sorted(unknown))}')
    if a.names: scripts = [s for s in scripts if s.stem in a.names]
    report = dict(machine=platform.platform(), python=platform.python_version(), torch=torch.__version__,
                  cpus=os.cpu_count(), started=time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()), scripts={})
    for s in scripts:
        print(f'bench/{s.name} {" ".join(SMALL.get(s.stem, []))}', flush=True)
        res = report['scripts'][s.stem] = run_one(s, SMALL.get(s.stem, []), a.timeout)
        shown = res['ratios'] or {f['line'][:60]: f['x'] for f in res.get('ratios_from_text', [])}
        print(f'  rc={res["rc"]} {res["seconds"]}s', *(f'\n  {k}: {v}' for k, v in shown.items()), flush=True)
    out = Path(a.out); out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1, ensure_ascii=False) + '\n', encoding='utf-8')
    failed = [k for k, v in report['scripts'].items() if v['rc'] != 0]
    print(f'wrote {out}' + (f'; failed: {", ".join(failed)}' if failed else ''))
    sys.exit(1 if failed else 0)

if __name__ == '__main__': main()
