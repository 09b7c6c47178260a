"""Bad arguments to `llm_nb.generation` and `llm_nb.metrics` (issue 17, item 11): each gets one clear `ValueError` or
`TypeError` that names the argument, never an error from deep inside torch or a silently wrong result; good values work.

Property-based (hypothesis) with small, bounded example counts, on a tiny model: a few seconds in all.
"""
import math
import pytest, torch
from hypothesis import given, settings, strategies as st, HealthCheck
from llm_nb.core import check_number
from llm_nb.generation import generate, stream, model_perplexity, distinct_n
from llm_nb.decoding import beam_search, speculative_generate
from llm_nb import metrics as M
from llm_nb import rouge as R

V = 11

class Tiny(torch.nn.Module):
    "A bigram-table decoder with the package's calling convention."
    def __init__(self):
        super().__init__(); self.table = torch.nn.Embedding(V, V); self.block_size, self.vocab_size = 32, V
    def forward(self, idx, cache=None, attention_mask=None, positions=None): return self.table(idx)

torch.manual_seed(0)
TINY = Tiny()
FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- the specific cases of the issue: each failed (or passed silently) before the fix ---

@pytest.mark.parametrize('prompt', [[1.7], [[1, 2], [3.5]], torch.tensor([1.7]), torch.tensor([[1.0, 2.0]]), [True]])
def test_float_ids_are_rejected_not_truncated(prompt):
    with pytest.raises(TypeError, match='prompt_ids must hold integer token ids'): generate(TINY, prompt, 2, temperature=0)
    with pytest.raises(TypeError, match='prompt_ids must hold integer token ids'): beam_search(TINY, prompt, 2)

def test_float_ids_in_perplexity_are_rejected():
    with pytest.raises(TypeError, match='integer token ids'): model_perplexity(TINY, [1.5, 2.5])

@pytest.mark.parametrize('stops', ['', [''], ['a', '']])
def test_empty_stop_string_rejected_everywhere(stops):
    with pytest.raises(ValueError, match='stop_strings must be non-empty strings'): generate(TINY, [1], 2, stop_strings=stops, decode=str)
    with pytest.raises(ValueError, match='stop_strings must be non-empty strings'): list(stream(TINY, [1], 2, stop_strings=stops, decode=str))

@pytest.mark.parametrize('kw', [dict(presence_penalty=math.inf), dict(frequency_penalty=math.nan), dict(presence_penalty=-math.inf),
                                dict(repetition_penalty=math.inf), dict(temperature=math.nan), dict(min_p=math.nan)])
def test_non_finite_penalties_fail_up_front(kw):
    (name,) = kw
    with pytest.raises(ValueError, match=f'^{name} must be a finite number'): generate(TINY, [1], 2, **kw)

@pytest.mark.parametrize('prompt', [[], [[]], [[1], []], torch.zeros(0, dtype=torch.long), torch.zeros(2, 0, dtype=torch.long)])
def test_empty_prompt_is_a_value_error(prompt):
    for f in (lambda: generate(TINY, prompt, 2), lambda: beam_search(TINY, prompt, 2), lambda: list(stream(TINY, prompt, 2, decode=str))):
        with pytest.raises(ValueError, match='empty prompt'): f()

def test_ids_outside_the_vocabulary():
    with pytest.raises(ValueError, match='token ids >= 0'): generate(TINY, [-1], 2)
    with pytest.raises(ValueError, match=f'^prompt_ids must be token ids < vocab_size={V}'): generate(TINY, [V], 2)
    with pytest.raises(ValueError, match=f'^pad_token_id must be token ids < vocab_size={V}'): generate(TINY, [[1], [1, 2]], 2, pad_token_id=V)

def test_early_stopping_must_be_a_bool_or_never():
    "`1 == True`, but the search tests `early_stopping is True`: 1 used to pass the check and act as False."
    with pytest.raises(ValueError, match='early_stopping'): beam_search(TINY, [1], 2, early_stopping=1)

def test_metrics_name_the_non_string_argument():
    cases = [(lambda: R.rouge('a', [3]), 'refs'), (lambda: R.rouge(3, 'a'), 'hyp'), (lambda: M.exact_match(3, 'a'), 'prediction'),
             (lambda: M.exact_match('a', [3]), 'answers'), (lambda: M.token_f1('a', 3), 'answers'),
             (lambda: M.token_f1(None, 'a'), 'prediction'), (lambda: M.squad_scores([1], ['a']), 'predictions'),
             (lambda: M.squad_scores(['a'], [[2]]), 'answers'), (lambda: M.sentence_bleu('a', [3]), 'refs'),
             (lambda: M.sentence_chrf('a', 3), 'refs'), (lambda: M.normalize_answer(3), 's')]
    for f, name in cases:
        with pytest.raises(TypeError, match=f'^{name}'): f()

@pytest.mark.parametrize('f,name', [(lambda: M.corpus_bleu(['a'], ['a'], max_order=0), 'max_order'),
                                    (lambda: M.sentence_bleu('a', 'a', max_order=2.5), 'max_order'),
                                    (lambda: M.corpus_bleu(['a b'], ['a c'], smooth='floor', smooth_value=-1), 'smooth_value'),
                                    (lambda: M.corpus_chrf(['a'], ['a'], char_order=0, word_order=0), 'char_order'),
                                    (lambda: M.corpus_chrf(['a'], ['a'], word_order=-1), 'word_order'),
                                    (lambda: M.sentence_chrf('a', 'a', beta=math.nan), 'beta'),
                                    (lambda: R.rouge_n(['a'], ['a'], 0), 'n'),
                                    (lambda: R.rouge('a', 'a', types=[]), 'types')])
def test_metric_ranges(f, name):
    with pytest.raises(ValueError, match=f'^{name}'): f()

def test_perplexity_targets_checked():
    with pytest.raises(TypeError, match='targets'): M.perplexity_from_logits(torch.zeros(2, 3), torch.tensor([1.5, 2.0]))
    with pytest.raises(ValueError, match='targets'): M.perplexity_from_logits(torch.zeros(2, 3), torch.tensor([1, 3]))

# --- properties: any value of any argument is either accepted (and works) or rejected with a clear message ---

# the allowed set of each argument: (strategy of candidate values, predicate "is allowed")
def _fin(x): return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
def _int(x): return isinstance(x, int) and not isinstance(x, bool)
NUMS = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=32), st.integers(-3, 12), st.booleans(),
                 st.sampled_from([None, '1', [1]]))
SAMPLING = {
    'temperature': lambda x: _fin(x) and x >= 0, 'top_k': lambda x: x is None or (_int(x) and x >= 1),
    'top_p': lambda x: x is None or (_fin(x) and 0 < x <= 1), 'min_p': lambda x: x is None or (_fin(x) and 0 <= x <= 1),
    'repetition_penalty': lambda x: x is None or (_fin(x) and x > 0), 'presence_penalty': _fin, 'frequency_penalty': _fin,
    'no_repeat_ngram_size': lambda x: _int(x) and x >= 0, 'max_new_tokens': lambda x: _int(x) and x >= 0,
    'pad_token_id': lambda x: x is None or (_int(x) and 0 <= x < V),
    'eos_token_id': lambda x: x is None or (_int(x) and 0 <= x < V) or (isinstance(x, list) and all(_int(i) and 0 <= i < V for i in x)),
}

def _check(call, name, allowed):
    "Run `call`; it must succeed when `allowed`, else raise ValueError/TypeError whose message starts with `name`."
    try: out = call()
    except (ValueError, TypeError) as e:
        assert not allowed, f'{name}: an allowed value was rejected: {e}'
        assert str(e).startswith(name) or f'{name}=' in str(e), f'the message does not name {name}: {e}'
        return None
    assert allowed, f'{name}: a bad value was accepted'
    return out

@FAST
@given(name=st.sampled_from(sorted(SAMPLING)), value=NUMS, sample=st.booleans())
def test_generate_arguments(name, value, sample):
    kw = {'max_new_tokens': 3, name: value}
    if name == 'max_new_tokens' and _int(value): kw[name] = min(value, 5)
    out = _check(lambda: generate(TINY, [[1, 2], [3]], do_sample=sample, generator=torch.Generator().manual_seed(0), **kw), name,
                 SAMPLING[name](value))
    if out is not None:
        assert out.dtype == torch.long and out.shape[0] == 2 and out.shape[1] <= 2 + kw['max_new_tokens']
        assert int(out.min()) >= 0 and int(out.max()) < V

BEAM = {'num_beams': lambda x: _int(x) and 1 <= x, 'length_penalty': _fin, 'num_return_sequences': lambda x: _int(x) and 1 <= x <= 2}

@FAST
@given(name=st.sampled_from(sorted(BEAM)), value=NUMS)
def test_beam_search_arguments(name, value):
    kw = {'num_beams': 2, name: min(value, 4) if name == 'num_beams' and _int(value) else value}
    if name == 'num_beams': kw['num_return_sequences'] = 1
    out = _check(lambda: beam_search(TINY, [1, 2], 3, **kw), name, BEAM[name](kw[name]))
    if out is not None: assert out.shape[0] == kw.get('num_return_sequences', 1)

@FAST
@given(value=NUMS)
def test_speculative_and_perplexity_arguments(value):
    _check(lambda: speculative_generate(TINY, TINY, [1], 3, num_draft_tokens=min(value, 4) if _int(value) else value, temperature=0),
           'num_draft_tokens', _int(value) and value >= 1)
    _check(lambda: model_perplexity(TINY, list(range(10)), stride=value), 'stride', value is None or (_int(value) and 1 <= value <= 32))
    _check(lambda: distinct_n(['abc'], value), 'n', _int(value) and value >= 1)

TEXTS = st.one_of(st.text(max_size=12), st.integers(), st.none(), st.floats(allow_nan=False), st.lists(st.text(max_size=5), max_size=2))

@FAST
@given(pred=TEXTS, ans=st.one_of(TEXTS, st.lists(TEXTS, max_size=3)))
def test_squad_metric_inputs(pred, ans):
    ok_pred = isinstance(pred, str)
    ok_ans = isinstance(ans, str) or (isinstance(ans, list) and len(ans) > 0 and all(isinstance(a, str) for a in ans))
    for f in (M.exact_match, M.token_f1):
        try: r = f(pred, ans)
        except (TypeError, ValueError) as e:
            assert not (ok_pred and ok_ans), e
            assert str(e).split()[0].rstrip('[]0123456789') in ('prediction', 'answers', 'empty'), e
        else: assert ok_pred and ok_ans and 0.0 <= r <= 1.0

@FAST
@given(hyp=TEXTS, refs=st.one_of(TEXTS, st.lists(TEXTS, max_size=3)))
def test_sentence_metric_inputs(hyp, refs):
    ok = isinstance(hyp, str) and (isinstance(refs, str) or (isinstance(refs, list) and len(refs) > 0 and all(isinstance(r, str) for r in refs)))
    for f, score in ((M.sentence_bleu, lambda s: s.score), (M.sentence_chrf, lambda s: s.score), (R.rouge, lambda s: s['rouge1'].fmeasure * 100)):
        try: r = score(f(hyp, refs))
        except (TypeError, ValueError) as e:
            assert not ok, e
            assert str(e).split()[0].rstrip('[]0123456789') in ('hyp', 'refs', 'empty'), e
        else: assert ok and 0.0 <= r <= 100.0 + 1e-9

METRIC_NUMS = {
    'max_order': (lambda v: M.corpus_bleu(['a b c'], ['a b d'], max_order=v), lambda x: _int(x) and x >= 1),
    'smooth_value': (lambda v: M.corpus_bleu(['a b c'], ['a b d'], smooth='floor', smooth_value=v), lambda x: x is None or (_fin(x) and x >= 0)),
    'char_order': (lambda v: M.corpus_chrf(['abc'], ['abd'], char_order=v), lambda x: _int(x) and x >= 1),
    'word_order': (lambda v: M.corpus_chrf(['a b'], ['a c'], word_order=v), lambda x: _int(x) and x >= 0),
    'beta': (lambda v: M.corpus_chrf(['abc'], ['abd'], beta=v), lambda x: _fin(x) and x >= 0),
    'n': (lambda v: R.rouge_n(['a', 'b'], ['a', 'c'], v), lambda x: _int(x) and x >= 1),
}

@FAST
@given(name=st.sampled_from(sorted(METRIC_NUMS)), value=NUMS)
def test_metric_number_arguments(name, value):
    f, allowed = METRIC_NUMS[name]
    if _int(value): value = min(value, 6)
    _check(lambda: f(value), name, allowed(value))

def test_check_number_messages():
    with pytest.raises(ValueError, match=r'^top_p must be a finite number in \(0, 1\], got nan$'): check_number('top_p', math.nan, 0, 1, lo_open=True)
    with pytest.raises(TypeError, match='^top_k must be an int >= 1'): check_number('top_k', '3', 1, integer=True)
