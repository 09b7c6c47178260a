"""The `llm_nb` command line end to end, offline with the data folder: train a tiny run, sample, resume, errors."""
import json, os, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]

def _cli(*args, cwd, timeout=120):
    env = {**os.environ, 'PYTHONPATH': str(ROOT), 'OMP_NUM_THREADS': '1'}
    return subprocess.run([sys.executable, '-m', 'llm_nb.cli', *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)

needs_data = pytest.mark.skipif(not (Path(os.environ.get('LLM_NB_DATA', '/nonexistent'))/'tinyshakespeare.txt').exists(),
                                reason='needs LLM_NB_DATA with tinyshakespeare.txt (offline test)')

@needs_data
def test_train_sample_resume(tmp_path):
    r = _cli('train', '--preset', 'tiny', '--quiet', '--device=cpu', '--dtype=float32', cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert 'validation loss' in r.stdout
    run = tmp_path/'runs'/'tiny'
    assert sorted(p.name for p in run.iterdir() if p.name != 'data') == ['best', 'step-000010', 'step-000020']
    cfg = json.loads((run/'step-000020'/'config.json').read_text())
    assert cfg['step'] == 20 and cfg['model']['cls'] == 'GPT' and cfg['train']['max_steps'] == 20
    # sample from the latest run (no --run), reproducibly with a seed
    s1 = _cli('sample', '--prompt', 'ROMEO:', '--max_new_tokens', '40', '--seed', '1', cwd=tmp_path)
    s2 = _cli('sample', '--run', str(run), '--prompt', 'ROMEO:', '--length', '40', '--seed', '1', cwd=tmp_path)
    assert s1.returncode == 0, s1.stderr[-3000:]
    assert s1.stdout == s2.stdout and s1.stdout.startswith('ROMEO:') and len(s1.stdout.strip()) >= 40
    # resume the run to 30 steps
    r = _cli('train', '--preset', 'tiny', '--quiet', '--device=cpu', '--dtype=float32', '--max_steps=30', '--resume',
             cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert 'at step 20' in r.stdout and (run/'step-000030').is_dir()

@needs_data
def test_corrupted_checkpoint_is_refused(tmp_path):
    r = _cli('train', '--preset', 'tiny', '--quiet', '--device=cpu', '--max_steps=10', cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    ck = tmp_path/'runs'/'tiny'/'step-000010'
    os.truncate(ck/'model.safetensors', 100)
    r = _cli('sample', '--which', 'last', cwd=tmp_path)
    assert r.returncode != 0 and 'truncated' in r.stderr and 'Traceback' not in r.stderr
    r = _cli('train', '--preset', 'tiny', '--quiet', '--device=cpu', '--max_steps=12', '--resume', cwd=tmp_path)
    assert r.returncode != 0 and 'cannot resume' in r.stderr and 'truncated' in r.stderr

def test_bad_arguments_list_valid_keys(tmp_path):
    r = _cli('train', '--preset', 'tiny', '--max_stepz=5', cwd=tmp_path)
    assert r.returncode != 0 and "unknown setting 'max_stepz'" in r.stderr
    assert 'max_steps' in r.stderr and 'n_layer' in r.stderr and 'Traceback' not in r.stderr
    r = _cli('train', '--preset', 'nope', cwd=tmp_path)
    assert r.returncode != 0 and 'shakespeare-char' in r.stderr
    r = _cli('train', '--lr=fast', cwd=tmp_path)
    assert r.returncode != 0 and 'expects a number' in r.stderr
    r = _cli('sample', cwd=tmp_path)
    assert r.returncode != 0 and 'no trained run' in r.stderr
    r = _cli('sample', '--bogus', cwd=tmp_path)
    assert r.returncode != 0 and 'unrecognized arguments' in r.stderr

@needs_data
def test_tokenizer_train(tmp_path):
    out = tmp_path/'tok.txt'
    r = _cli('tokenizer', 'train', '--data', 'tinyshakespeare', '--vocab_size', '300', '--max_chars', '20000',
             '--out', str(out), cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    sys.path.insert(0, str(ROOT))
    from llm_nb.bpe import load_tokenizer
    tok = load_tokenizer(out)
    assert tok.vocab_size == 300 and tok.decode(tok.encode('To be, or not to be')) == 'To be, or not to be'
