"""`make bench` (tools/run_bench.py): the RATIO convention, the fallback parse of existing output, time limits."""
import json, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT/'tools'))
import run_bench as rb
sys.path.remove(str(ROOT/'tools'))

def test_ratio_lines_win_over_text():
    assert rb.parse_ratios('speed 3.0x\nRATIO ours_over_peer=1.25\nRATIO b-c=0.5') == ({'ours_over_peer': 1.25, 'b-c': 0.5}, [])

def test_fallback_reads_x_numbers_slash_labels_and_ratio_columns():
    text = ('ratio 0.90x..1.37x (geometric mean 1.14x)\nKV cache speed-up: 3.00x   transformers / ours: 1.37\n'
            'benchmark   ours tok/s  HF tok/s  ours/HF\ntrain fwd+bwd   1000   900   1.11\n\nmax |diff| = 1e-06 at 3 x 4')
    named, found = rb.parse_ratios(text)
    assert named == {} and [f['x'] for f in found] == [[0.9, 1.37, 1.14], [3.0, 1.37], [1.11]]

def test_runner_records_ratios_failures_and_timeouts(tmp_path):
    ok, bad, slow = tmp_path/'ok.py', tmp_path/'bad.py', tmp_path/'slow.py'
    ok.write_text("print('RATIO x_over_y=2.5')\n"); bad.write_text("raise SystemExit('boom')\n")
    slow.write_text("import time; print('1.5x', flush=True); time.sleep(30)\n")
    assert rb.run_one(ok, [], 30)['ratios'] == {'x_over_y': 2.5}
    r = rb.run_one(bad, [], 30)
    assert r['rc'] == 1 and 'boom' in r['tail']
    r = rb.run_one(slow, [], 2)
    assert r['rc'] == 'timeout' and r['seconds'] < 20

def test_make_bench_writes_one_json(tmp_path):
    (tmp_path/'a.py').write_text("print('RATIO a=1.0')\n"); (tmp_path/'b.py').write_text("print('b is 2.0x')\n")
    run = lambda *args: subprocess.run([sys.executable, str(ROOT/'tools'/'run_bench.py'), '--dir', str(tmp_path), *args],
                                       capture_output=True, text=True, cwd=ROOT)
    p = run('--out', str(tmp_path/'r.json'))
    assert p.returncode == 0, p.stderr
    rep = json.loads((tmp_path/'r.json').read_text())
    assert {'torch', 'python', 'machine'} <= rep.keys()
    assert rep['scripts']['a']['ratios'] == {'a': 1.0} and rep['scripts']['b']['ratios_from_text'][0]['x'] == [2.0]
    assert run('nope').returncode != 0
