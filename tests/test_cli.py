"""The `llm_nb` command line end to end, offline with the data folder: train a tiny run, sample, resume, errors."""
import json, os, re, subprocess, sys
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

def test_help_does_not_import_torch(tmp_path):
    code = ("import sys\nfrom llm_nb.cli import main\n"
            "for argv in (['--help'], ['train', '--help'], ['sample', '--help'], ['tokenizer', 'train', '--help']):\n"
            "    try: main(argv)\n    except SystemExit: pass\n"
            "print('torch imported:', 'torch' in sys.modules)")
    env = {**os.environ, 'PYTHONPATH': str(ROOT)}
    r = subprocess.run([sys.executable, '-c', code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert 'torch imported: False' in r.stdout
    assert '(default: 512)' in r.stdout and 'BPE vocabulary' in r.stdout          # tokenizer train --help: defaults, descriptions
    flat = ' '.join(r.stdout.split())
    assert '(default: None)' not in flat, flat                                      # only a real default is named
    assert not re.search(r'\(default[^)]*\)[^-]*\(default:', flat), flat            # and once per option
    assert "(default: '\\n')" in flat                                             # sample's prompt, a newline, readable

@pytest.mark.parametrize('argv,msg', [
    (['train', '--max_steps'], '--max_steps needs a value'),
    (['train', '--max_steps=2.7'], '--max_steps expects an integer'),
    (['train', '--batch_size=2.5'], '--batch_size expects an integer'),
    (['train', '--eval_windows=0'], 'eval_windows must be None or an integer >= 1'),
    (['train', '--keep_last=-1'], 'keep_last must be an integer >= 1'),
    (['train', '--lr=-1'], 'lr must be a finite number > 0'),
    (['train', '--device=tpu'], "device must be None or a torch device"),
    (['train', '--compile=bogus'], 'compile must be true, false or a torch.compile backend'),
    (['train', '--n_layer=0'], 'n_layer'),
    (['train', '--config', 'missing.json'], 'no such file'),
    (['train', '--config', 'bad.json'], 'is not valid JSON'),
    (['train', '--config', 'list.json'], 'must hold a JSON object'),
    (['tokenizer', 'train', '--max_chars', '0', '--out', 'x.txt'], 'expected an integer >= 1'),
    (['tokenizer', 'train', '--max_chars', '-5', '--out', 'x.txt'], 'expected an integer >= 1'),
    (['sample', '--num_samples', '-1'], 'expected an integer >= 1'),
    (['sample', '--max_new_tokens', '-5'], 'expected an integer >= 1'),
    (['sample', '--temperature', '-1'], 'expected a finite number >= 0'),
    (['sample', '--temperature', 'nan'], 'expected a finite number >= 0'),
    (['sample', '--top_p', '0'], 'expected a number in (0, 1]'),
    (['train', '--threads=0'], 'expected an integer >= 1'),
])
def test_bad_values_get_one_line_messages(tmp_path, argv, msg):
    (tmp_path/'bad.json').write_text('{"preset": "tiny",')
    (tmp_path/'list.json').write_text('[]')
    r = _cli(*argv, cwd=tmp_path, timeout=60)
    assert r.returncode != 0 and msg in r.stderr, r.stderr
    assert 'Traceback' not in r.stderr and len([l for l in r.stderr.splitlines() if 'llm_nb' in l and msg in l or 'error:' in l]) >= 1

@needs_data
def test_run_folder_guidance(tmp_path):
    tok = tmp_path/'tok.txt'
    r = _cli('tokenizer', 'train', '--data', 'tang-poems', '--vocab_size', '300', '--max_chars', '3000', '--out', str(tok), cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert 'bytes per character' in r.stdout and f'--tokenizer={tok}' in r.stdout          # Chinese: the ratio explained
    r = _cli('tokenizer', 'train', '--vocab_size', '300', '--max_chars', '20000', '--out', str(tok), cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    # the file trains a model; --quiet silences every progress bar
    r = _cli('train', '--preset', 'tiny', '--quiet', '--device=cpu', f'--tokenizer={tok}', '--max_steps=4', '--eval_interval=2',
             '--out', 'r', cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stderr.strip() == '', r.stderr
    # a second run into the same folder: a warning that names --resume
    r = _cli('train', '--preset', 'tiny', '--quiet', '--device=cpu', f'--tokenizer={tok}', '--max_steps=2', '--eval_interval=2',
             '--out', 'r', cwd=tmp_path)
    assert r.returncode == 0 and 'already holds checkpoints' in r.stderr and '--resume' in r.stderr, r.stderr
    # sample says which checkpoint (a byte-level model takes any prompt); a character model: a message for unknown ones
    s = _cli('sample', '--run', 'r', '--prompt', '春', '--max_new_tokens', '30', '--seed', '0', cwd=tmp_path)
    assert s.returncode == 0 and 'checkpoint' in s.stderr and 'best' in s.stderr and s.stdout.startswith('春'), s.stderr
    r = _cli('train', '--preset', 'tiny', '--quiet', '--device=cpu', '--max_steps=2', '--eval_interval=2', '--out', 'c',
             cwd=tmp_path)
    s = _cli('sample', '--run', 'c', '--prompt', '春', cwd=tmp_path)
    assert s.returncode != 0 and "does not know: '春'" in s.stderr and 'Traceback' not in s.stderr, s.stderr
    s = _cli('sample', '--run', 'c', '--prompt', 'a\\x4', '--escapes', cwd=tmp_path)
    assert s.returncode != 0 and 'bad escape' in s.stderr and 'Traceback' not in s.stderr, s.stderr

@needs_data
def test_ctrl_c_saves_and_says_how_to_resume(tmp_path):
    import signal, time
    env = {**os.environ, 'PYTHONPATH': str(ROOT), 'OMP_NUM_THREADS': '1'}
    p = subprocess.Popen([sys.executable, '-m', 'llm_nb.cli', 'train', '--preset', 'tiny', '--quiet', '--device=cpu',
                          '--max_steps=100000', '--eval_interval=100000', '--save_interval=100000', '--out', 'r'],
                         cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t0 = time.time()
    while not (tmp_path/'r'/'.lock').exists() and time.time() - t0 < 120: time.sleep(0.1)
    time.sleep(1.0)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 130, err[-3000:]
    assert 'interrupted at step' in err and 'checkpoint saved in' in err and '--resume' in err and 'Traceback' not in err
    steps = sorted((tmp_path/'r').glob('step-*'))
    assert len(steps) == 1 and not (tmp_path/'r'/'.lock').exists()
    n = int(steps[0].name[5:])
    r = _cli('train', '--preset', 'tiny', '--quiet', '--device=cpu', f'--max_steps={n + 2}', '--eval_interval=100000',
             '--out', 'r', '--resume', cwd=tmp_path)
    assert r.returncode == 0 and f'at step {n}' in r.stdout, r.stderr[-3000:]
