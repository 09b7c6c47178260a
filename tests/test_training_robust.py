"""Nothing lost, nothing silently wrong (issue #17): step order past 999,999, validated settings, non-finite gradients,
the run-folder lock, recovery of a save killed mid-swap, a full disk, a malformed manifest, a model recorded by the trainer."""
import os, shutil, subprocess, sys
from pathlib import Path
import pytest, torch
from llm_nb.core import seed_everything
from llm_nb.lmdata import LMData, LSTMLM
from llm_nb.checkpoint import (CheckpointError, RunLockedError, find_checkpoint, recover_run, run_lock, save_checkpoint,
                               step_folders, verify_checkpoint)
from llm_nb.training import TrainConfig, Trainer, NonFiniteLossError

ROOT = Path(__file__).resolve().parents[1]

def _model(V=13, seed=0):
    seed_everything(seed)
    return LSTMLM(V, 8, 12, 1)

CFG = dict(max_steps=8, batch_size=4, block_size=8, warmup_steps=1, eval_interval=4, eval_windows=4, log_interval=1,
           dtype='float32', device='cpu', keep_last=2)

def test_pruning_orders_steps_by_number(tmp_path, synthetic_lm):
    # past step 999,999 text order puts step-1000000 before step-999999: pruning must keep the newest by number
    tr = Trainer(_model(), synthetic_lm(), TrainConfig(**{**CFG, 'max_steps': 1_000_003, 'eval_interval': 10**7,
                                                     'save_interval': 1}), out_dir=tmp_path, progress=False)
    tr.step = 999_997
    tr.fit()
    assert [p.name for p in step_folders(tmp_path)] == ['step-1000002', 'step-1000003']
    assert find_checkpoint(tmp_path).name == 'step-1000003'
    res = Trainer(_model(), synthetic_lm(), tr.cfg, out_dir=tmp_path, progress=False).resume(tmp_path)
    assert res.step == 1_000_003

@pytest.mark.parametrize('field,value', [
    ('keep_last', -1), ('keep_last', 0), ('keep_last', 1.5), ('max_steps', True), ('max_steps', 2.7), ('batch_size', 2.5),
    ('eval_windows', 0), ('save_interval', 0), ('decay_steps', -3), ('warmup_steps', -1), ('seed', -1), ('lr', -1),
    ('lr', 0), ('lr', float('nan')), ('min_lr', -1e-4), ('weight_decay', float('inf')), ('beta1', 1.0), ('beta2', -0.1),
    ('adam_eps', 0), ('grad_clip', -1), ('dtype', 'fp8'), ('compile', 'bogus'), ('compile', 3), ('fused', 'yes'),
    ('device', 'tpu'), ('block_size', 0), ('eval_batch_size', 0), ('log_interval', 0), ('grad_accum', 0)])
def test_every_train_config_field_is_checked(field, value):
    with pytest.raises(ValueError, match=field) as e: TrainConfig(**{field: value})
    assert '\n' not in str(e.value)

def test_train_config_accepts_its_defaults_and_edges():
    TrainConfig(); TrainConfig(keep_last=1, warmup_steps=0, min_lr=0, weight_decay=0, grad_clip=0, beta1=0,
                               save_interval=1, eval_windows=None, compile='eager', device='cpu:0')

def test_nonfinite_gradient_never_reaches_the_weights(tmp_path, synthetic_lm):
    tr = Trainer(_model(), synthetic_lm(), TrainConfig(**CFG), out_dir=tmp_path, progress=False)
    tr.fit(until=4)
    w = {k: v.clone() for k, v in tr.model.state_dict().items()}
    h = tr.model.head.weight.register_hook(lambda g: g * float('nan'))   # a finite loss, a NaN gradient
    with pytest.raises(NonFiniteLossError, match=r'gradient norm became nan .* step 4 .*Last good checkpoint: .*step-000004'):
        tr.fit()
    h.remove()
    for k, v in tr.model.state_dict().items(): assert torch.equal(v, w[k]), k
    assert tr.step == 4 and [p.name for p in step_folders(tmp_path)] == ['step-000004']
    # and no save writes non-finite weights, whoever calls it
    with torch.no_grad(): tr.model.head.bias[0] = float('nan')
    with pytest.raises(CheckpointError, match='NaN or inf .*head.bias'): tr.save()
    assert [p.name for p in step_folders(tmp_path)] == ['step-000004']

def test_nonfinite_gradient_without_clipping(tmp_path, synthetic_lm):
    tr = Trainer(_model(), synthetic_lm(), TrainConfig(**{**CFG, 'grad_clip': 0.0}), out_dir=tmp_path, progress=False)
    tr.model.head.weight.register_hook(lambda g: g * float('inf'))
    with pytest.raises(NonFiniteLossError, match='gradient'): tr.fit()
    assert all(torch.isfinite(p).all() for p in tr.model.parameters())

def _hold_lock(run_dir):
    code = (f"import sys, time; sys.path.insert(0, {str(ROOT)!r}); from llm_nb.checkpoint import run_lock\n"
            f"with run_lock({str(run_dir)!r}):\n    print('locked', flush=True); time.sleep(60)")
    p = subprocess.Popen([sys.executable, '-c', code], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == 'locked'
    return p

def test_second_run_on_a_locked_folder_is_refused(tmp_path, synthetic_lm):
    holder = _hold_lock(tmp_path)
    try:
        tr = Trainer(_model(), synthetic_lm(), TrainConfig(**CFG), out_dir=tmp_path, progress=False)
        with pytest.raises(RunLockedError, match=f'in use by process {holder.pid}'): tr.fit()
        assert not step_folders(tmp_path)
    finally: holder.kill(); holder.wait()
    # the holder died without removing its lock: the lock is stale and the next run takes it over
    assert (tmp_path/'.lock').exists()
    Trainer(_model(), synthetic_lm(), TrainConfig(**CFG), out_dir=tmp_path, progress=False).fit()
    assert not (tmp_path/'.lock').exists() and [p.name for p in step_folders(tmp_path)] == ['step-000004', 'step-000008']

def test_lock_is_reentrant_in_one_process(tmp_path):
    with run_lock(tmp_path):
        with run_lock(tmp_path): pass
        assert (tmp_path/'.lock').exists()
    assert not (tmp_path/'.lock').exists()

@pytest.mark.parametrize('left', ['old', 'old+tmp'])
def test_best_survives_a_kill_between_the_two_renames(tmp_path, left, synthetic_lm):
    tr = Trainer(_model(), synthetic_lm(), TrainConfig(**CFG), out_dir=tmp_path, progress=False); tr.fit()
    best = verify_checkpoint(tmp_path/'best')
    # what `save_checkpoint` leaves when killed after moving best/ aside and before renaming the new copy in
    os.replace(tmp_path/'best', tmp_path/'.old-best-4242')
    if 'tmp' in left: shutil.copytree(tmp_path/'.old-best-4242', tmp_path/'.tmp-best-ab12cd34')
    (tmp_path/'.tmp-step-000012-zz99yy88').mkdir()                   # and an unfinished step save
    found = find_checkpoint(tmp_path, 'best')                          # readers find the aside copy
    assert found.name.startswith(('.old-best', '.tmp-best')) and verify_checkpoint(found) == best
    done = recover_run(tmp_path)
    assert any('restored' in d for d in done) and verify_checkpoint(tmp_path/'best') == best
    assert sorted(p.name for p in tmp_path.iterdir()) == ['best', 'step-000004', 'step-000008']

def test_resume_recovers_the_run_folder(tmp_path, synthetic_lm):
    tr = Trainer(_model(), synthetic_lm(), TrainConfig(**CFG), out_dir=tmp_path, progress=False); tr.fit(until=4)
    os.replace(tmp_path/'best', tmp_path/'.old-best-4242')
    Trainer(_model(), synthetic_lm(), TrainConfig(**CFG), out_dir=tmp_path, progress=False).resume(tmp_path)
    assert (tmp_path/'best').is_dir() and not list(tmp_path.glob('.old-*'))

def test_full_disk_is_named(tmp_path, monkeypatch):
    def full(obj, f, *a, **k): raise RuntimeError('[enforce fail at inline_container.cc:603] . unexpected pos 1088 vs 1000')
    monkeypatch.setattr(torch, 'save', full)
    with pytest.raises(OSError, match='no space left on device'): save_checkpoint(tmp_path/'c', _model(), {}, {'a': 1})
    assert not list(tmp_path.iterdir())

@pytest.mark.parametrize('manifest', ['[]', '{}', '{"model.safetensors": 3}', '{"../x": {"sha256": "0", "size": 1}}'])
def test_malformed_manifest_is_a_checkpoint_error(tmp_path, manifest):
    ck = save_checkpoint(tmp_path/'c', _model(), {}, {})
    (ck/'manifest.json').write_text(manifest)
    with pytest.raises(CheckpointError, match='manifest.json is corrupted'): verify_checkpoint(ck)

def test_trainer_saved_gpt_loads_with_load_model(tmp_path):
    from llm_nb.transformer import GPT, GPTConfig
    from llm_nb.tokenization import CharTokenizer
    from llm_nb.runs import load_model
    text = 'to be or not to be, that is the question. ' * 40
    tok = CharTokenizer.from_text(text, special_tokens=())
    seed_everything(0)
    m = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=16, n_layer=1, n_head=2, n_embd=16))
    data = LMData.from_text(text, tok)
    cfg = TrainConfig(max_steps=4, batch_size=4, eval_interval=4, eval_windows=4, dtype='float32', device='cpu')
    tr = Trainer(m, data, cfg, out_dir=tmp_path/'run1', tokenizer=tok, progress=False)
    assert tr.cfg.block_size == 16                                   # one source of truth: the model's context
    tr.fit()
    m2, tok2, config = load_model(tmp_path/'run1')
    assert config['train']['block_size'] == 16 and tok2.decode(tok2.encode('to be')) == 'to be'
    for a, b in zip(m.state_dict().values(), m2.state_dict().values()): assert torch.equal(a.cpu(), b)
    with pytest.raises(ValueError, match='longer than the model'): Trainer(m, data, TrainConfig(**{**CFG, 'block_size': 32}))

def test_ctrl_c_finishes_the_step_and_saves(tmp_path, synthetic_lm):
    import signal
    from llm_nb.training import TrainingInterrupted
    def ctrl_c(tr, event, info):
        if event == 'log' and info['step'] == 3: os.kill(os.getpid(), signal.SIGINT)
    cfg = TrainConfig(**{**CFG, 'eval_interval': 100})
    tr = Trainer(_model(), synthetic_lm(), cfg, out_dir=tmp_path, progress=False, callbacks=[ctrl_c])
    with pytest.raises(TrainingInterrupted, match='interrupted at step 3; checkpoint saved in .*step-000003') as e: tr.fit()
    assert e.value.checkpoint == tmp_path/'step-000003' and signal.getsignal(signal.SIGINT) is signal.default_int_handler
    full = Trainer(_model(), synthetic_lm(), cfg, progress=False); full.fit()
    res = Trainer(_model(seed=5), synthetic_lm(), cfg, out_dir=tmp_path, progress=False).resume(tmp_path); res.fit()
    for a, b in zip(full.model.state_dict().values(), res.model.state_dict().values()): assert torch.equal(a, b)

@pytest.mark.parametrize('content', ['[]', '', 'not json'])
def test_an_unreadable_old_lock_is_stale(tmp_path, content):
    (tmp_path/'.lock').write_text(content)
    os.utime(tmp_path/'.lock', (0, 0))                                 # written long ago: not a run starting up
    with run_lock(tmp_path): assert (tmp_path/'.lock').read_text().startswith('{')
    assert not (tmp_path/'.lock').exists()
