"The course's own trained models (models/NAME/): each card's held-out figure is recomputed from the shipped weights."
import json
from pathlib import Path
import pytest, torch
from llm_nb.data import load, load_text
from llm_nb.lmdata import LMData, evaluate
from llm_nb.runs import load_model, shipped_models, sample_poems, form_share
import llm_nb.seq2seq as s2s   # registers the LSTM translator with load_model

MODELS = sorted(p for p in (Path(__file__).parent.parent/'models').glob('*') if (p/'config.json').is_file())

@pytest.mark.parametrize('folder', MODELS, ids=lambda p: p.name)
def test_card_matches_weights(folder): check_card(folder)

def check_card(folder):
    "Recompute a card's figures from the weights of `folder` (a model of `models_dir()`, loaded by its name)."
    cfg = json.loads((folder/'config.json').read_text(encoding='utf-8'))
    card = cfg['card']
    readme = (folder/'README.md').read_text(encoding='utf-8')
    assert (folder/'curve.csv').is_file()
    model, tok, _ = load_model(folder.name, device='cpu')                   # found by name
    assert sum(p.numel() for p in model.parameters()) == card['params']
    torch.set_num_threads(1)
    if card.get('task', 'lm') in ('lm', 'poems'):
        data = LMData.from_text(load_text(cfg['recipe']['data']), tok)
        check = card.get('check', dict(val_windows=None, val_loss=card['val_loss']))   # a subset where the card states one
        res = evaluate(model, data.val, card['block_size'], batch_size=48, max_windows=check['val_windows'],
                       tokens_per_byte=data.val_tokens_per_byte)
        assert abs(res['loss'] - check['val_loss']) < 1e-3, (res['loss'], check['val_loss'])
        if check['val_windows'] is None: assert abs(res['bpb'] - card['val_bits_per_byte']) < 1e-3
        assert f"{card['val_loss']:.4f}" in readme and f"{check['val_loss']:.4f}" in readme   # the card shows them
    if card.get('task') == 'poems':
        share = form_share(sample_poems(model, tok, **card['form_sample']))
        assert share == card['form'], (share, card['form'])
        assert f"{share['five'] + share['seven']} of {share['n']} sampled poems" in readme
    if card.get('task') == 'translation':
        _, test = s2s.split_pairs(load('eng-fra'))
        srcs, refs = s2s.reference_groups(test)
        n = card['check']['sentences']
        r = s2s.evaluate_translation(s2s.translate(model, tok, srcs[:n], beam=1, max_len=48), refs[:n])
        assert abs(r['bleu'] - card['check']['bleu']) < 1e-2 and abs(r['chrf'] - card['check']['chrf']) < 1e-2, (r, card['check'])
        assert s2s.translate(model, tok, [card['probe']['source']], max_len=48) == [card['probe']['greedy']]
        assert f"{card['bleu']:.2f} / {card['chrf']:.2f}" in readme and f"{card['check']['bleu']:.2f}" in readme

def test_every_model_loads_by_name():
    assert [p.name for p in MODELS] == shipped_models() and 'shakespeare-char' in shipped_models()
    from llm_nb.checkpoint import CheckpointError
    with pytest.raises(CheckpointError, match='shakespeare-char'): load_model('no-such-model')

def test_models_fit_the_budget():
    total = sum(f.stat().st_size for f in (Path(__file__).parent.parent/'models').rglob('*') if f.is_file())
    assert total <= 60 * 2**20, f'models/ holds {total / 2**20:.1f} MiB, the budget is 60 MiB'

def test_weights_only_folder_loads_but_does_not_resume(tmp_path):
    "A shipped model keeps config, weights and tokenizer only: `load_model` takes it, `Trainer.resume` refuses it clearly."
    from llm_nb.checkpoint import CheckpointError, save_checkpoint, verify_checkpoint
    from llm_nb.tokenization import CharTokenizer
    from llm_nb.training import TrainConfig, Trainer
    from llm_nb.transformer import GPT, GPTConfig
    import hashlib
    tok = CharTokenizer('abc\n')
    cfg = GPTConfig.from_preset('gpt-micro', vocab_size=tok.vocab_size, block_size=8)
    model = GPT(cfg)
    tok.save(tmp_path/'t.txt')
    src = save_checkpoint(tmp_path/'run'/'best', model, dict(model=dict(cls='GPT', config=vars(cfg)), step=0),
                          dict(step=0), extra_files={'tokenizer.txt': (tmp_path/'t.txt').read_text(encoding='utf-8')})
    ship = tmp_path/'ship'; ship.mkdir()
    files = ('model.safetensors', 'config.json', 'tokenizer.txt')
    for f in files: (ship/f).write_bytes((src/f).read_bytes())
    (ship/'manifest.json').write_text(json.dumps({f: dict(sha256=hashlib.sha256((ship/f).read_bytes()).hexdigest(),
                                                         size=(ship/f).stat().st_size) for f in files}))
    verify_checkpoint(ship)
    loaded, tok2, _ = load_model(ship, device='cpu')
    x = torch.tensor([tok.encode('abca')])
    assert torch.equal(loaded(x), model.eval()(x)) and tok2.decode(tok2.encode('cab')) == 'cab'
    trainer = Trainer(GPT(cfg), [(x, x)], TrainConfig(max_steps=1, batch_size=1, block_size=4, device='cpu', dtype='float32'))
    with pytest.raises(CheckpointError, match='no trainer_state.pt'): trainer.resume(ship)
    (ship/'model.safetensors').write_bytes(b'x' * 10)                     # and a damaged one is still caught
    with pytest.raises(CheckpointError): load_model(ship, device='cpu')

def test_train_models_tiny_ships(tmp_path, monkeypatch):
    "tools/train_models.py --tiny and tools/ship_model.py --trained make folders that load by name and pass the card checks."
    import subprocess, sys, os
    if not os.environ.get('LLM_NB_SLOW'): pytest.skip('minutes of CPU: set LLM_NB_SLOW=1 to run it')
    root = Path(__file__).parent.parent
    env = dict(os.environ, PYTHONPATH=str(root))
    subprocess.run([sys.executable, str(root/'tools/train_models.py'), '--device', 'cpu', '--tiny', '--out', str(tmp_path/'t'),
                    '--pack', str(tmp_path/'p')], check=True, env=env)
    subprocess.run([sys.executable, str(root/'tools/ship_model.py'), '--trained', str(tmp_path/'p'), '--hardware', 'test',
                    '--out', str(tmp_path/'models')], check=True, env=env)
    monkeypatch.setenv('LLM_NB_MODELS', str(tmp_path/'models'))
    assert shipped_models() == ['tang-char', 'translation-en-fr-lstm', 'translation-en-fr-transformer']
    for name in shipped_models(): check_card(tmp_path/'models'/name)
