"""Data parallelism: 2 gloo processes under torchrun give the losses of 1 process with the same global batch."""
import json, os, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

WORKER = r'''
import json, os, sys
import numpy as np, torch
torch.set_num_threads(1)
from llm_nb.core import seed_everything
from llm_nb.lmdata import LMData, LSTMLM
from llm_nb.training import TrainConfig, Trainer, setup_distributed, cleanup_distributed
rank, world = setup_distributed()
rng = np.random.default_rng(0)
x = rng.integers(0, 17, 8000)
x[1::2] = (x[::2] + 3) % 17                          # learnable: every odd token follows from the one before
data = LMData(x[:7000].astype(np.uint16), x[7000:].astype(np.uint16), 17)
seed_everything(0)
model = LSTMLM(17, 16, 32, 1)
cfg = TrainConfig(max_steps=8, batch_size=8, grad_accum=2, block_size=16, lr=3e-3, warmup_steps=2, eval_interval=4,
                  eval_windows=16, eval_batch_size=4, log_interval=1, dtype='float32', device='cpu')
tr = Trainer(model, data, cfg, out_dir=sys.argv[2], progress=False)
hist = tr.fit()
if rank == 0:
    w = [p.detach().double().sum().item() for p in model.parameters()]
    json.dump(dict(world=world, train=hist['train'], val=hist['val'], w=w), open(sys.argv[1], 'w'))
cleanup_distributed()
'''

def _torchrun():
    exe = Path(sys.executable).with_name('torchrun')
    return [str(exe)] if exe.exists() else [sys.executable, '-m', 'torch.distributed.run']

def test_two_processes_match_one(tmp_path):
    script = tmp_path/'worker.py'; script.write_text(WORKER)
    env = {**os.environ, 'PYTHONPATH': str(ROOT), 'OMP_NUM_THREADS': '1', 'GLOO_SOCKET_IFNAME': 'lo',
           'MASTER_ADDR': '127.0.0.1'}
    r1 = subprocess.run([sys.executable, str(script), str(tmp_path/'one.json'), str(tmp_path/'run1')],
                        env=env, capture_output=True, text=True, timeout=120)
    assert r1.returncode == 0, r1.stderr[-3000:]
    r2 = subprocess.run(_torchrun() + ['--standalone', '--nproc_per_node=2', str(script), str(tmp_path/'two.json'),
                        str(tmp_path/'run2')], env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert r2.returncode == 0, (r2.stdout[-2000:], r2.stderr[-3000:])
    one, two = json.loads((tmp_path/'one.json').read_text()), json.loads((tmp_path/'two.json').read_text())
    assert one['world'] == 1 and two['world'] == 2
    assert [s for s, _ in one['train']] == [s for s, _ in two['train']] == list(range(1, 9))
    for (_, a), (_, b) in zip(one['train'] + one['val'], two['train'] + two['val']):
        assert abs(a - b) < 1e-4 * max(1, abs(a)), (one, two)
    for a, b in zip(one['w'], two['w']): assert abs(a - b) < 1e-3 * max(1, abs(a))
    assert one['train'][-1][1] < one['train'][0][1]
    # only rank 0 wrote checkpoints, in the same layout
    assert sorted(p.name for p in (tmp_path/'run2').iterdir()) == sorted(p.name for p in (tmp_path/'run1').iterdir())
