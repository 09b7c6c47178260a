"""Speed of `llm_nb.metrics` next to the reference packages, in one process, on the same inputs.

    LLM_NB_DATA=... python bench/metrics.py [--n N] [--repeat 3]   # default: all 2,597 distinct English sentences

Inputs: the Tatoeba English-French pairs grouped by English sentence (up to 24 French references each) and a
simulated system output (the first reference with words dropped, repeated, swapped or replaced). Each timing is the
best of `--repeat` runs; a ratio below 1 means ours is faster. The scores are printed too, to show they agree.
"""
import argparse, random, re, time

import sacrebleu
from nltk.stem.porter import PorterStemmer
from rouge_score import rouge_scorer

from llm_nb import metrics as M
from llm_nb import rouge as R
from llm_nb.data import load


def best_of(f, repeat):
    best, out = float('inf'), None
    for _ in range(repeat):
        t0 = time.perf_counter(); out = f(); best = min(best, time.perf_counter() - t0)
    return best, out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--n', type=int, default=5000, help='number of segments (at most the distinct English sentences)')
    ap.add_argument('--repeat', type=int, default=3)
    args = ap.parse_args()

    by_en = {}
    for p in load('eng-fra'): by_en.setdefault(p['en'], []).append(p['fr'])
    sources = list(by_en)[:args.n]
    k = max(len(by_en[s]) for s in sources)
    streams = [[by_en[s][i] if i < len(by_en[s]) else None for s in sources] for i in range(k)]
    first = [by_en[s][0] for s in sources]
    rng = random.Random(0)
    hyps = [M.corrupt_words(r, rng) for r in first]
    sets = M.reference_sets(hyps, streams)
    scorer = {s: rouge_scorer.RougeScorer(['rouge1', 'rouge2', 'rougeL'], use_stemmer=s) for s in (False, True)}
    words = sorted(set(re.findall(r'[a-z]+', load('tinyshakespeare').lower())))
    nltk_stem = PorterStemmer().stem

    cases = [
        ('corpus BLEU (multi-ref)', lambda: M.corpus_bleu(hyps, streams).score,
                                    lambda: sacrebleu.corpus_bleu(hyps, streams).score),
        ('sentence BLEU x n', lambda: sum(M.sentence_bleu(h, rs).score for h, rs in zip(hyps, sets)),
                              lambda: sum(sacrebleu.sentence_bleu(h, rs).score for h, rs in zip(hyps, sets))),
        ('corpus chrF', lambda: M.corpus_chrf(hyps, streams).score,
                        lambda: sacrebleu.metrics.CHRF().corpus_score(hyps, streams).score),
        ('corpus chrF++', lambda: M.corpus_chrf(hyps, streams, word_order=2).score,
                          lambda: sacrebleu.metrics.CHRF(word_order=2).corpus_score(hyps, streams).score),
        ('ROUGE-1/2/L x n', lambda: sum(R.rouge(h, r)['rougeL'].fmeasure for h, r in zip(hyps, first)),
                            lambda: sum(scorer[False].score(r, h)['rougeL'].fmeasure for h, r in zip(hyps, first))),
        ('ROUGE stemmed x n', lambda: sum(R.rouge(h, r, use_stemmer=True)['rougeL'].fmeasure for h, r in zip(hyps, first)),
                              lambda: sum(scorer[True].score(r, h)['rougeL'].fmeasure for h, r in zip(hyps, first))),
        (f'Porter x {len(words)} words', lambda: sum(map(len, map(R.porter_stem, words))),
                                        lambda: sum(map(len, map(nltk_stem, words)))),
    ]
    print(f'{len(hyps)} segments, up to {k} references; best of {args.repeat}')
    print(f'{"case":26} {"ours":>10} {"reference":>10} {"ratio":>6}   scores (ours / reference)')
    for name, ours, theirs in cases:
        (ta, a), (tb, b) = best_of(ours, args.repeat), best_of(theirs, args.repeat)
        print(f'{name:26} {ta*1e3:8.1f}ms {tb*1e3:8.1f}ms {ta/tb:6.2f}   {a:.4f} / {b:.4f}')


if __name__ == '__main__':
    main()
