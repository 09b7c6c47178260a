"""Progress bars as a terminal or a log shows them: each bar draws its 100 % line once (issue #23, item 6)."""
import io, os, re, subprocess, sys, time
from pathlib import Path
import pytest
from llm_nb.lmdata import tokenize_to_memmap

ROOT = Path(__file__).resolve().parents[1]

def _draws(stderr:str, desc:str) -> list[str]:
    "Every state of the bar called `desc` that was written: tqdm redraws a line with '\\r', a log keeps each."
    return [s for s in re.split(r'[\r\n]', stderr) if s.startswith(desc)]

def test_tokenizing_bar_draws_100_percent_once(tmp_path, monkeypatch):
    err = io.StringIO()
    monkeypatch.setattr(sys, 'stderr', err)                       # tqdm writes to sys.stderr as it is when the bar starts
    def slow_encode(s):                                           # each chunk outlasts tqdm's 0.1 s redraw interval
        time.sleep(0.15); return list(s.encode())
    text = 'to be, or not to be\n' * 30
    ids = tokenize_to_memmap(text, slow_encode, tmp_path/'t.bin', 256, chunk_chars=200)
    assert bytes(ids.tolist()).decode() == text
    draws = _draws(err.getvalue(), 'tokenizing t.bin')
    assert len(draws) >= 3, draws                                 # 0 %, some in between, the end
    assert sum('100%' in d for d in draws) == 1, draws
    assert draws[-1].startswith('tokenizing t.bin: 100%'), draws

def test_tokenizing_bar_quiet_draws_nothing(tmp_path, monkeypatch):
    err = io.StringIO()
    monkeypatch.setattr(sys, 'stderr', err)
    tokenize_to_memmap('abc\n' * 100, lambda s: list(s.encode()), tmp_path/'q.bin', 256, chunk_chars=50, progress=False)
    assert err.getvalue() == ''

@pytest.mark.skipif(not (Path(os.environ.get('LLM_NB_DATA', '/nonexistent'))/'tinyshakespeare.txt').exists(),
                    reason='needs LLM_NB_DATA with tinyshakespeare.txt (offline test)')
def test_cli_train_tokenizing_bars_end_once(tmp_path):
    env = {**os.environ, 'PYTHONPATH': str(ROOT), 'OMP_NUM_THREADS': '1'}
    r = subprocess.run([sys.executable, '-m', 'llm_nb.cli', 'train', '--preset', 'tiny', '--device=cpu', '--max_steps=2',
                        '--eval_interval=2', '--out', 'r'], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    for name in ('train.bin', 'val.bin'):
        draws = _draws(r.stderr, f'tokenizing {name}')
        assert draws and sum('100%' in d for d in draws) == 1, (name, draws)

def test_training_bar_draws_100_percent_once(monkeypatch, synthetic_lm):
    import torch
    from llm_nb.lmdata import LSTMLM
    from llm_nb.training import TrainConfig, Trainer
    err = io.StringIO()
    monkeypatch.setattr(sys, 'stderr', err)
    torch.manual_seed(0)
    cfg = TrainConfig(max_steps=4, batch_size=4, block_size=8, warmup_steps=1, eval_interval=4, eval_windows=2, log_interval=1,
                      dtype='float32', device='cpu')
    tr = Trainer(LSTMLM(13, 8, 12, 1), synthetic_lm(), cfg, progress=True)
    step = tr._train_step
    def slow_step():                                              # each step outlasts tqdm's 0.1 s redraw interval
        time.sleep(0.15); return step()
    monkeypatch.setattr(tr, '_train_step', slow_step)
    tr.fit()
    draws = _draws(err.getvalue(), 'training')
    assert len(draws) >= 3, draws
    assert sum('100%' in d for d in draws) == 1, draws
    assert draws[-1].startswith('training: 100%') and 'loss=' in draws[-1], draws
