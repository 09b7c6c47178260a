"The course's own trained models (models/NAME/): each card's held-out figure is recomputed from the shipped weights."
import json
from pathlib import Path
import pytest, torch
from llm_nb.data import load_text
from llm_nb.lmdata import LMData, evaluate
from llm_nb.runs import load_model

MODELS = sorted(p for p in (Path(__file__).parent.parent/'models').glob('*') if (p/'config.json').is_file())

@pytest.mark.parametrize('folder', MODELS, ids=lambda p: p.name)
def test_card_matches_weights(folder):
    cfg = json.loads((folder/'config.json').read_text(encoding='utf-8'))
    card = cfg['card']
    assert (folder/'README.md').is_file() and (folder/'curve.csv').is_file()
    model, tok, _ = load_model(folder, device='cpu')
    assert sum(p.numel() for p in model.parameters()) == card['params']
    data = LMData.from_text(load_text(cfg['recipe']['data']), tok)
    torch.set_num_threads(1)
    res = evaluate(model, data.val, card['block_size'], batch_size=48, tokens_per_byte=data.val_tokens_per_byte)
    assert abs(res['loss'] - card['val_loss']) < 1e-3, (res['loss'], card['val_loss'])
    assert abs(res['bpb'] - card['val_bits_per_byte']) < 1e-3
    assert f"{card['val_loss']:.4f}" in (folder/'README.md').read_text(encoding='utf-8')   # the card shows this figure

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
