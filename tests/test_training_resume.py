"""Checkpoints (`llm_nb.checkpoint`) through the trainer (`llm_nb.training`): exact resume, atomic writes, corruption detection, the NaN guard."""
import os
import numpy as np, pytest, torch
from llm_nb.core import seed_everything
from llm_nb.lmdata import LSTMLM
from llm_nb.checkpoint import CheckpointError, find_checkpoint, load_checkpoint, verify_checkpoint
from llm_nb.training import TrainConfig, Trainer, NonFiniteLossError, get_lr, decay_report

N = 6000                                # tokens of the synthetic stream (conftest's `synthetic_lm`)

def _model(V=13, seed=0):
    seed_everything(seed)
    return LSTMLM(V, 16, 24, 2, dropout=0.2)     # dropout: the global RNG must be restored too

CFG = dict(max_steps=16, batch_size=6, block_size=12, grad_accum=2, warmup_steps=3, eval_interval=4, eval_windows=8,
           log_interval=1, dtype='float32', device='cpu', keep_last=3)

def test_resume_is_bit_equal(tmp_path, synthetic_lm):
    data, cfg = synthetic_lm(n=N), TrainConfig(**CFG)
    full = Trainer(_model(), data, cfg, out_dir=tmp_path/'a', progress=False)
    h_full = full.fit()
    part = Trainer(_model(), data, cfg, out_dir=tmp_path/'b', progress=False)
    part.fit(until=8)
    torch.manual_seed(12345); np.random.seed(7)         # disturb every global generator before resuming
    res = Trainer(_model(seed=99), data, cfg, out_dir=tmp_path/'b', progress=False).resume(tmp_path/'b')
    assert res.step == 8
    h_res = res.fit()
    assert h_res['train'] == h_full['train'] and h_res['val'] == h_full['val']
    for a, b in zip(full.model.state_dict().values(), res.model.state_dict().values()): assert torch.equal(a, b)
    # and the run is not trivially constant: the loss went down
    assert h_full['train'][-1][1] < h_full['train'][0][1]

def test_keep_last_and_best(tmp_path, synthetic_lm):
    tr = Trainer(_model(), synthetic_lm(n=N), TrainConfig(**{**CFG, 'keep_last': 2}), out_dir=tmp_path, progress=False)
    tr.fit()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ['best', 'step-000012', 'step-000016'], names
    cfg = verify_checkpoint(tmp_path/'best')
    assert cfg['best_val'] == min(v for _, v in tr.history['val'])

def test_interrupted_save_keeps_previous(tmp_path, monkeypatch, synthetic_lm):
    tr = Trainer(_model(), synthetic_lm(n=N), TrainConfig(**CFG), out_dir=tmp_path, progress=False)
    tr.fit(until=4)
    good = find_checkpoint(tmp_path); before = {f: (good/f).read_bytes() for f in os.listdir(good)}
    real_save = torch.save
    def crash(obj, f, *a, **k):                          # die half-way through writing trainer_state.pt
        with open(f, 'wb') as fh: fh.write(b'partial')
        raise OSError('disk full (simulated)')
    monkeypatch.setattr(torch, 'save', crash)
    with pytest.raises(OSError, match='disk full'): tr.save(good)   # overwrite attempt of the same folder
    with pytest.raises(OSError, match='disk full'): tr.fit(until=8)  # a new checkpoint at step 8
    monkeypatch.setattr(torch, 'save', real_save)
    assert {f: (good/f).read_bytes() for f in os.listdir(good)} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ['best', 'step-000004']   # no partial folders left
    verify_checkpoint(good)

def test_corrupted_checkpoint_clear_error(tmp_path, synthetic_lm):
    tr = Trainer(_model(), synthetic_lm(n=N), TrainConfig(**CFG), out_dir=tmp_path, progress=False); tr.fit(until=8)
    ck = find_checkpoint(tmp_path)
    os.truncate(ck/'model.safetensors', 50)
    with pytest.raises(CheckpointError, match='truncated'): load_checkpoint(ck)
    (ck/'manifest.json').unlink()
    with pytest.raises(CheckpointError, match='manifest.json is missing'):
        Trainer(_model(), synthetic_lm(n=N), TrainConfig(**CFG), progress=False).resume(tmp_path)
    with pytest.raises(CheckpointError, match='no checkpoint'): find_checkpoint(tmp_path/'nothing')
    # the earlier checkpoint is still good and loads
    verify_checkpoint(tmp_path/'step-000004')
    # weights of a different shape: a clear error too
    with pytest.raises(CheckpointError, match='do not fit'): load_checkpoint(tmp_path/'step-000004', LSTMLM(13, 8, 8, 1))

def test_nan_guard_keeps_last_good_checkpoint(tmp_path, synthetic_lm):
    tr = Trainer(_model(), synthetic_lm(n=N), TrainConfig(**CFG), out_dir=tmp_path, progress=False); tr.fit(until=4)
    good = find_checkpoint(tmp_path)
    w_before = {k: v.clone() for k, v in tr.model.state_dict().items()}
    for g in tr.opt.param_groups: pass
    with torch.no_grad(): tr.model.head.bias.fill_(float('inf'))
    w_before['head.bias'] = tr.model.head.bias.clone()
    with pytest.raises(NonFiniteLossError, match=r'step 4 .*Last good checkpoint: .*step-000004'): tr.fit()
    assert tr.step == 4
    for k, v in tr.model.state_dict().items(): assert torch.equal(v, w_before[k]), k   # no update happened
    assert sorted(p.name for p in tmp_path.iterdir()) == ['best', 'step-000004']
    verify_checkpoint(good)

def test_lr_schedule_values():
    assert get_lr(0, 1e-3, 10, 110, 1e-4) == pytest.approx(1e-3 / 11)
    assert get_lr(10, 1e-3, 10, 110, 1e-4) == pytest.approx(1e-3)
    assert get_lr(60, 1e-3, 10, 110, 1e-4) == pytest.approx(5.5e-4)
    assert get_lr(110, 1e-3, 10, 110, 1e-4) == pytest.approx(1e-4)
    assert get_lr(10**6, 1e-3, 10, 110, 1e-4) == pytest.approx(1e-4)

def test_weight_decay_groups(synthetic_lm):
    rep = decay_report(LSTMLM(13, 8, 8, 1, tie_embeddings=True))
    assert 'emb.weight' in rep['no_decay'] and 'head.bias' in rep['no_decay'] and 'lstm.bias_ih_l0' in rep['no_decay']
    assert rep['decay'] == ['lstm.weight_ih_l0', 'lstm.weight_hh_l0']
    tr = Trainer(LSTMLM(13, 8, 8, 1), synthetic_lm(n=N), TrainConfig(**{**CFG, 'weight_decay': 0.3}), progress=False)
    wd = {id(p): g['weight_decay'] for g in tr.opt.param_groups for p in g['params']}
    assert wd[id(tr.model.emb.weight)] == 0.0 and wd[id(tr.model.lstm.weight_hh_l0)] == 0.3
    assert len(wd) == len(list(tr.model.parameters()))

def test_bad_config_values():
    with pytest.raises(ValueError, match="dtype must be one of"): TrainConfig(dtype='fp8')
    with pytest.raises(ValueError, match='batch_size must be an integer >= 1'): TrainConfig(batch_size=0)
