"""Kill -9 a training run while it saves (issue #17): after each kill the run folder still loads, `best` survives
(restored from its aside copy when the kill fell between the two renames), and the resumed run ends bit-equal to an
uninterrupted one."""
import os, random, signal, subprocess, sys, time
from pathlib import Path
from llm_nb.checkpoint import find_checkpoint, recover_run, verify_checkpoint

ROOT = Path(__file__).resolve().parents[1]
STEPS = 60

SCRIPT = r'''
import sys, hashlib, numpy as np, torch
torch.set_num_threads(1)
from llm_nb.core import seed_everything
from llm_nb.lmdata import LMData, LSTMLM
from llm_nb.training import TrainConfig, Trainer
out, steps = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(0); V, n = 13, 3000
x = np.zeros(n, dtype=np.int64)
for i in range(1, n): x[i] = (x[i-1] + 1) % V if rng.random() < 0.8 else rng.integers(V)
data = LMData(x[:2700].astype(np.uint16), x[2700:].astype(np.uint16), V, val_bytes=300, name='synthetic')
seed_everything(0)
cfg = TrainConfig(max_steps=steps, batch_size=4, block_size=8, warmup_steps=2, eval_interval=3, eval_windows=4,
                  log_interval=1, dtype='float32', device='cpu', keep_last=2, save_interval=1)
tr = Trainer(LSTMLM(V, 8, 12, 1, dropout=0.1), data, cfg, out_dir=out, progress=False)
from pathlib import Path
if list(Path(out).glob('step-*')) or list(Path(out).glob('.old-*')): tr.resume(out)
tr.fit()
print(hashlib.sha256(b''.join(v.numpy().tobytes() for v in tr.model.state_dict().values())).hexdigest())
'''

def _run(out, env, wait=True):
    args = [sys.executable, '-c', SCRIPT, str(out), str(STEPS)]
    if not wait: return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    r = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return r.stdout.strip().splitlines()[-1]

def test_kill_during_saves_then_resume_is_bit_equal(tmp_path):
    env = {**os.environ, 'PYTHONPATH': str(ROOT), 'OMP_NUM_THREADS': '1'}
    want = _run(tmp_path/'ref', env)
    run, rnd, kills_in_save = tmp_path/'run', random.Random(0), 0
    for _ in range(3):
        p = _run(run, env, wait=False)
        t0, stop_after = time.time(), rnd.uniform(0.0, 1.5)
        while p.poll() is None and time.time() - t0 < 120:               # wait for a save in progress, then kill -9
            saving = run.is_dir() and any(n.startswith(('.tmp-', '.old-')) for n in os.listdir(run))
            if saving and time.time() - t0 > stop_after: break
            time.sleep(0.0005)
        if p.poll() is not None: continue                              # finished before a kill: resume is a no-op
        kills_in_save += saving
        p.send_signal(signal.SIGKILL); p.wait()
        # after every kill the folder is usable: the last checkpoint verifies, and best (once written) is found
        recover_run(run)
        if any(run.glob('step-*')):                                    # (a kill during the very first save leaves none)
            verify_checkpoint(find_checkpoint(run))
            if int(find_checkpoint(run).name[5:]) >= 3: verify_checkpoint(find_checkpoint(run, 'best'))
    assert kills_in_save >= 1
    got = _run(run, env)
    assert got == want
    assert verify_checkpoint(run/'best')['step'] <= STEPS
