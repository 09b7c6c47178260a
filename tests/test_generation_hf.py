"""Greedy and beam search give the same token ids as Hugging Face `transformers` on the same GPT-2 weights.

Here the model is transformers' own GPT2LMHeadModel behind our calling convention, so these tests pin down the
*decoding* logic (beam bookkeeping, length penalty, early stopping, EOS, left padding) independently of our GPT.
"""
import pytest, torch
transformers = pytest.importorskip('transformers')
from llm_nb.generation import generate, prepare_prompts
from llm_nb.decoding import beam_search

V, EOS = 61, 60

class HFWrap(torch.nn.Module):
    "transformers' GPT-2 behind the package's `model(idx, attention_mask=, positions=)` convention (no cache)."
    def __init__(self, m): super().__init__(); self.m, self.block_size = m, m.config.n_positions
    def forward(self, idx, cache=None, attention_mask=None, positions=None):
        if attention_mask is None: return self.m(idx).logits
        return self.m(idx, attention_mask=attention_mask, position_ids=positions).logits

@pytest.fixture(scope='module')
def hf():
    torch.manual_seed(0)
    cfg = transformers.GPT2Config(vocab_size=V, n_positions=48, n_embd=32, n_layer=2, n_head=4, bos_token_id=EOS, eos_token_id=EOS)
    m = transformers.GPT2LMHeadModel(cfg).eval()
    with torch.no_grad(): m.transformer.wte.weight[EOS] *= 4   # make EOS likely, so finished beams really occur
    return m

PROMPTS = [[[3, 14, 15, 9, 2]], [[7, 1], [5, 9, 26, 53, 5, 8]], [[40], [2, 7, 1, 8], [28, 18, 28]]]

def _hf(m, rows, **kw):
    ids, mask = prepare_prompts(rows, pad_token_id=EOS)
    mask = torch.ones_like(ids) if mask is None else mask
    return m.generate(ids, attention_mask=mask, do_sample=False, pad_token_id=EOS, **kw)

@pytest.mark.parametrize('rows', PROMPTS, ids=['b1', 'b2', 'b3'])
def test_greedy_matches_transformers(hf, rows):
    ref = _hf(hf, rows, max_new_tokens=15, eos_token_id=EOS)
    test = generate(HFWrap(hf), rows, 15, temperature=0, eos_token_id=EOS)
    assert torch.equal(ref, test), (ref, test)

@pytest.mark.parametrize('rows', PROMPTS, ids=['b1', 'b2', 'b3'])
@pytest.mark.parametrize('lp,es', [(1.0, False), (2.0, True), (-1.0, 'never'), (0.5, 'never'), (0.0, False)])
def test_beam_search_matches_transformers(hf, rows, lp, es):
    ref = _hf(hf, rows, max_new_tokens=12, num_beams=4, length_penalty=lp, early_stopping=es, eos_token_id=EOS)
    test = beam_search(HFWrap(hf), rows, 12, num_beams=4, length_penalty=lp, early_stopping=es, eos_token_id=EOS)
    assert torch.equal(ref, test), (ref, test)

def test_eos_really_occurs(hf):
    "The parity above is only meaningful if some hypotheses finish with EOS before the budget."
    out = beam_search(HFWrap(hf), PROMPTS[2], 12, num_beams=4, eos_token_id=EOS)
    assert (out[:, 4:] == EOS).any()

def test_beam_search_return_sequences(hf):
    rows = PROMPTS[1]
    ref = _hf(hf, rows, max_new_tokens=10, num_beams=4, num_return_sequences=3, eos_token_id=EOS)
    test = beam_search(HFWrap(hf), rows, 10, num_beams=4, num_return_sequences=3, eos_token_id=EOS)
    assert torch.equal(ref, test)


# --- the same checks with OUR GPT loaded from the weights transformers wrote (GPT.from_pretrained) ---

@pytest.fixture(scope='module')
def ours_and_hf(hf, tmp_path_factory):
    tr = pytest.importorskip('llm_nb.transformer')
    pytest.importorskip('llm_nb.hf_gpt2')   # gives GPT its from_pretrained
    d = tmp_path_factory.mktemp('gpt2-random')
    hf.save_pretrained(d)
    return tr.GPT.from_pretrained(d).eval(), hf

@pytest.mark.parametrize('rows', PROMPTS, ids=['b1', 'b2', 'b3'])
def test_our_gpt_greedy_matches_transformers(ours_and_hf, rows):
    ours, hf = ours_and_hf
    ref = _hf(hf, rows, max_new_tokens=15, eos_token_id=EOS)
    for use_cache in (True, False):
        assert torch.equal(ref, generate(ours, rows, 15, temperature=0, eos_token_id=EOS, use_cache=use_cache))

@pytest.mark.parametrize('rows', PROMPTS, ids=['b1', 'b2', 'b3'])
@pytest.mark.parametrize('lp,es', [(1.0, False), (2.0, True), (-1.0, 'never')])
def test_our_gpt_beam_search_matches_transformers(ours_and_hf, rows, lp, es):
    ours, hf = ours_and_hf
    ref = _hf(hf, rows, max_new_tokens=12, num_beams=4, length_penalty=lp, early_stopping=es, eos_token_id=EOS)
    assert torch.equal(ref, beam_search(ours, rows, 12, num_beams=4, length_penalty=lp, early_stopping=es, eos_token_id=EOS))

def test_our_gpt_batched_equals_one_by_one(ours_and_hf):
    ours, _ = ours_and_hf
    rows = PROMPTS[2]; T = max(map(len, rows))
    out = generate(ours, rows, 10, temperature=0)
    for r, p in zip(out, rows):
        assert torch.equal(r[T - len(p):], generate(ours, p, 10, temperature=0)[0])
