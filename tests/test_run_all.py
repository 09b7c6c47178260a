"""tools/run_all.py, the CI step that runs every notebook as Run All does, on three small notebooks (issue #23, item 1)."""
import os, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
nbformat = pytest.importorskip('nbformat'); pytest.importorskip('nbclient'); pytest.importorskip('ipykernel')

def _nb(path, *cells):
    nb = nbformat.v4.new_notebook(); nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    nb.metadata['kernelspec'] = dict(name='python3', display_name='Python 3 (ipykernel)', language='python')
    nbformat.write(nb, path); return str(path)

def test_run_all_passes_fails_and_names_the_cell(tmp_path):
    widget = ("import ipywidgets as w\n"
              "def f(x):\n    print('x is', x)\n    if x > 1: raise ValueError('bad x')\n")
    ok = _nb(tmp_path/'ok.ipynb', 'x = 1', widget + "w.interactive(f, x=w.IntSlider(0))",
             '#| hide\nimport nbdev; nbdev.nbdev_export()')           # left out: it would rewrite a package (none here)
    raises = _nb(tmp_path/'raises.ipynb', 'x = 1', '1/0', 'print("never")')
    shows = _nb(tmp_path/'shows.ipynb', widget + "w.interactive(f, x=w.IntSlider(2))", 'print("after")')
    env = {**os.environ, 'PYTHONPATH': str(ROOT), 'OMP_NUM_THREADS': '1'}
    r = subprocess.run([sys.executable, str(ROOT/'tools'/'run_all.py'), ok, raises, shows, '--workers', '2', '--timeout', '120'],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    out = r.stdout
    assert r.returncode == 1, out + r.stderr
    assert '1/3 notebooks ran top to bottom' in out, out
    line = {p: next(l for l in out.splitlines() if l.endswith(p)) for p in (ok, raises, shows)}
    assert line[ok].startswith('ok') and line[raises].startswith('FAIL') and line[shows].startswith('FAIL'), out
    assert 'ZeroDivisionError' in out                                      # the raised error, with its cell
    assert 'cell 0 shows an error: ValueError: bad x' in out               # a widget callback's traceback fails too
    assert 'Kernel is running over TCP' not in r.stderr                    # the kernels' log is kept out of the report
