"""Property tests: `llm_nb.metrics` against the reference packages on random hypothesis/reference sets.

Random sentences are drawn from a small vocabulary (so n-grams overlap often) that mixes ASCII words, punctuation
that the 13a tokenizer treats specially, accented French, Chinese characters, digits and symbols, and includes
empty hypotheses and single words. `sacrebleu` and `rouge-score` are dev-only dependencies used here as oracles.
"""
import re, string
from collections import Counter

import pytest
from hypothesis import given, settings, strategies as st, HealthCheck

sacrebleu = pytest.importorskip('sacrebleu')
rouge_scorer = pytest.importorskip('rouge_score.rouge_scorer')

from llm_nb import metrics as M
from llm_nb import rouge as R

WORDS = ['the', 'a', 'cat', 'cats', 'running', 'runs', 'Comment', 'allez-vous', 'vas-tu', '?', '!', '.', ',',
         'élève', 'réussi', 'Ça', 'va', '你好', '你', '好', '吗', '？', '，', '3.14', '1,000', '2-3', '$', '(', ')',
         '&amp;', '"', "l'homme", 'DOG', 'dog.', 'GPT-2', '—', '…', '“', '”', 'naïve', 'straße', 'x']
SETTINGS = dict(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

word = st.sampled_from(WORDS)
sep = st.sampled_from([' ', ' ', ' ', '', '  ', '\t'])
sentence = st.lists(st.tuples(word, sep), min_size=0, max_size=14).map(lambda ws: ''.join(w + s for w, s in ws).strip())
single_word = word
any_sentence = st.one_of(sentence, single_word, st.just(''), st.text(max_size=20))


@st.composite
def corpus(draw, max_refs=3):
    n = draw(st.integers(1, 6))
    hyps = draw(st.lists(any_sentence, min_size=n, max_size=n))
    k = draw(st.integers(1, max_refs))
    streams = [draw(st.lists(st.one_of(sentence, single_word), min_size=n, max_size=n)) for _ in range(k)]
    return hyps, streams


@settings(**SETTINGS)
@given(corpus(), st.sampled_from(list(M.BLEU_SMOOTH_DEFAULTS)), st.booleans(), st.booleans(), st.sampled_from(['13a', 'zh', 'char', 'none']))
def test_corpus_bleu_parity(data, smooth, eff, lc, tok):
    hyps, streams = data
    ours = M.corpus_bleu(hyps, streams, smooth=smooth, effective_order=eff, lowercase=lc, tokenize=tok)
    ref = sacrebleu.corpus_bleu(hyps, streams, smooth_method=smooth, use_effective_order=eff, lowercase=lc, tokenize=tok)
    assert abs(ours.score - ref.score) < 0.01
    assert (ours.sys_len, ours.ref_len) == (ref.sys_len, ref.ref_len)
    assert abs(ours.bp - ref.bp) < 1e-12


@settings(**SETTINGS)
@given(any_sentence, st.lists(st.one_of(sentence, single_word), min_size=1, max_size=3),
       st.sampled_from(list(M.BLEU_SMOOTH_DEFAULTS)), st.sampled_from([None, 0.5, 2]))
def test_sentence_bleu_parity(hyp, refs, smooth, value):
    value = None if smooth in ('none', 'exp') else value
    ours = M.sentence_bleu(hyp, refs, smooth=smooth, smooth_value=value)
    ref = sacrebleu.sentence_bleu(hyp, refs, smooth_method=smooth, smooth_value=value)
    assert abs(ours.score - ref.score) < 0.01


@settings(**SETTINGS)
@given(corpus(), st.sampled_from([0, 1, 2]), st.booleans(), st.booleans(), st.sampled_from([1, 2, 3]), st.booleans())
def test_chrf_parity(data, word_order, eps, lc, beta, ws):
    hyps, streams = data
    ours = M.corpus_chrf(hyps, streams, word_order=word_order, eps_smoothing=eps, lowercase=lc, beta=beta, whitespace=ws)
    ref = sacrebleu.metrics.CHRF(word_order=word_order, eps_smoothing=eps, lowercase=lc, beta=beta,
                                 whitespace=ws).corpus_score(hyps, streams)
    assert abs(ours.score - ref.score) < 0.01


TYPES = ['rouge1', 'rouge2', 'rouge3', 'rougeL', 'rougeLsum']
_scorers = {s: rouge_scorer.RougeScorer(TYPES, use_stemmer=s) for s in (False, True)}
summary = st.lists(st.one_of(any_sentence, st.just('')), min_size=0, max_size=4).map('\n'.join)

@settings(**SETTINGS)
@given(summary, st.lists(summary, min_size=1, max_size=3), st.booleans())
def test_rouge_parity(hyp, refs, stem):
    ours = R.rouge(hyp, refs, types=TYPES, use_stemmer=stem)
    theirs = _scorers[stem].score_multi(refs, hyp)
    for t in TYPES:
        for a, b in zip((ours[t].precision, ours[t].recall, ours[t].fmeasure), theirs[t]):
            assert abs(a - b) < 1e-12, (t, ours[t], theirs[t])


# The official SQuAD v1.1 evaluation functions (github.com/rajpurkar/SQuAD-explorer, evaluate-v1.1.py), verbatim in
# substance, as the oracle; and the SQuAD 2.0 F1 rule for empty answers (evaluate-v2.0.py, compute_f1).
def _official_normalize(s):
    def remove_articles(text): return re.sub(r'\b(a|an|the)\b', ' ', text)
    def white_space_fix(text): return ' '.join(text.split())
    def remove_punc(text):
        exclude = set(string.punctuation)
        return ''.join(ch for ch in text if ch not in exclude)
    return white_space_fix(remove_articles(remove_punc(s.lower())))

def _official_f1(prediction, ground_truth):
    p, g = _official_normalize(prediction).split(), _official_normalize(ground_truth).split()
    common = Counter(p) & Counter(g)
    num_same = sum(common.values())
    if num_same == 0: return 0
    precision, recall = 1.0 * num_same / len(p), 1.0 * num_same / len(g)
    return (2 * precision * recall) / (precision + recall)

def _official_f1_v2(prediction, ground_truth):
    p, g = _official_normalize(prediction).split(), _official_normalize(ground_truth).split()
    if len(p) == 0 or len(g) == 0: return int(p == g)
    return _official_f1(prediction, ground_truth)

answer = st.one_of(sentence, st.sampled_from(['The', 'an', 'A cat.', 'the the', '', '!?', 'Eiffel Tower']))

@settings(**SETTINGS)
@given(answer, st.lists(answer, min_size=1, max_size=3))
def test_squad_parity(pred, golds):
    assert M.normalize_answer(pred) == _official_normalize(pred)
    assert M.exact_match(pred, golds) == max(float(_official_normalize(pred) == _official_normalize(g)) for g in golds)
    assert abs(M.token_f1(pred, golds) - max(_official_f1(pred, g) for g in golds)) < 1e-12
    assert abs(M.token_f1(pred, golds, squad_v2=True) - max(_official_f1_v2(pred, g) for g in golds)) < 1e-12


def test_zh_ranges_match_sacrebleu_on_every_code_point():
    from sacrebleu.tokenizers.tokenizer_zh import TokenizerZh
    theirs = TokenizerZh._is_chinese_char
    bad = [hex(c) for c in range(0x110000) if M._is_zh(chr(c)) != theirs(chr(c))]
    assert not bad, bad[:10]


def test_bad_inputs():
    with pytest.raises(ValueError, match='reference stream 1 has 2 segments but there are 3 hypotheses'):
        M.corpus_bleu(['a', 'b', 'c'], [['a', 'b', 'c'], ['a', 'b']])
    with pytest.raises(ValueError, match='empty reference set'): M.corpus_chrf(['a'], [])
    with pytest.raises(ValueError, match='empty reference set'): R.rouge('a', [])
    with pytest.raises(ValueError, match='empty reference set'): M.sentence_chrf('a', [])
    with pytest.raises(ValueError, match='no hypotheses'): R.corpus_rouge([], [[]])
    with pytest.raises(TypeError, match='hypothesis 1 is a int'): M.corpus_bleu(['a', 3], ['a', 'b'])
    with pytest.raises(ValueError, match='2 predictions but 1 answer lists'): M.squad_scores(['a', 'b'], [['a']])


SUFFIXES = ['', 's', 'es', 'ies', 'ied', 'ed', 'eed', 'ing', 'y', 'ational', 'tional', 'enci', 'anci', 'izer', 'bli',
            'alli', 'entli', 'eli', 'ousli', 'ization', 'ation', 'ator', 'alism', 'iveness', 'fulness', 'ousness',
            'aliti', 'iviti', 'biliti', 'fulli', 'logi', 'icate', 'ative', 'alize', 'iciti', 'ical', 'ful', 'ness',
            'al', 'ance', 'ence', 'er', 'ic', 'able', 'ible', 'ant', 'ement', 'ment', 'ent', 'sion', 'tion', 'ou',
            'ism', 'ate', 'iti', 'ous', 'ive', 'ize', 'e', 'll', 'sses', 'ss']

@settings(max_examples=200, deadline=None)
@given(st.text(alphabet='aeiouybcdlmnrstwxz0', min_size=0, max_size=7),
       st.lists(st.sampled_from(SUFFIXES), min_size=0, max_size=3))
def test_porter_matches_nltk(root, suffixes):
    from nltk.stem.porter import PorterStemmer
    word = root + ''.join(suffixes)
    assert R.porter_stem(word) == PorterStemmer().stem(word), word


def test_porter_matches_nltk_on_all_short_roots():
    "Every root of up to 3 letters (short stems are where the m and cvc conditions bite) with common suffixes."
    import itertools
    from nltk.stem.porter import PorterStemmer
    nltk_stem = PorterStemmer().stem
    letters = 'aeiybdlstwz'
    roots = [''.join(p) for n in (1, 2, 3) for p in itertools.product(letters, repeat=n)]
    words = [r + s for r in roots for s in ['', 's', 'e', 'es', 'ed', 'ing', 'y', 'ies', 'ied', 'eed', 'll', 'ement', 'ion']]
    bad = [(w, R.porter_stem(w), nltk_stem(w)) for w in words if R.porter_stem(w) != nltk_stem(w)]
    assert not bad, bad[:10]
