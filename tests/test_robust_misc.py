"""Small robustness fixes: `save_pretrained` leaves one weight set (#17), `generate_simple` refuses a bad budget, the explorers name the `explore` extra (#23)."""
import pytest, torch
from llm_nb.transformer import GPT, GPTConfig, generate_simple
from llm_nb.hf_gpt2 import from_pretrained, save_pretrained, load_hf_weights

def _gpt(seed):
    torch.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=50, block_size=16, n_layer=1, n_head=2, n_embd=16, bias=True))

@pytest.mark.parametrize('first,second', [(True, False), (False, True)])
def test_resave_in_the_other_format_leaves_one_weight_set(tmp_path, first, second):
    save_pretrained(_gpt(0), tmp_path, safe_serialization=first)
    (tmp_path/'model.safetensors.index.json').write_text('{}')              # and a stale shard index
    new = _gpt(1)
    save_pretrained(new, tmp_path, safe_serialization=second)
    weights = sorted(p.name for p in tmp_path.iterdir() if p.name != 'config.json')
    assert weights == ['model.safetensors' if second else 'pytorch_model.bin']
    back = from_pretrained(tmp_path)
    for a, b in zip(new.state_dict().values(), back.state_dict().values()): assert torch.equal(a, b)
    assert load_hf_weights(tmp_path)

def test_generate_simple_rejects_a_negative_budget():
    m = _gpt(0).eval()
    with pytest.raises(ValueError, match='max_new_tokens must be an integer >= 0'): generate_simple(m, torch.tensor([[1]]), -2)

def test_explorers_need_the_explore_extra_and_say_so(monkeypatch):
    import configparser, sys
    from pathlib import Path
    cfg = configparser.ConfigParser(); cfg.read(Path(__file__).resolve().parents[1]/'settings.ini')
    assert 'ipywidgets' not in cfg['DEFAULT']['requirements'].split()
    assert cfg['DEFAULT']['explore_requirements'].split() == ['ipywidgets']
    from llm_nb.attention import attention_explorer
    monkeypatch.setitem(sys.modules, 'ipywidgets', None)                   # as if it were not installed
    with pytest.raises(ImportError, match=r"pip install 'llm_nb\[explore\]'"):
        attention_explorer([torch.ones(1, 2, 2) / 2], ['a', 'b'])
