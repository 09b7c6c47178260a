"""Bench: our skip-gram trainer vs gensim's Word2Vec (C code) on Tiny Shakespeare, same settings, one CPU thread each.

    python bench/embeddings.py [--repeats 3] [--epochs 5] [--dim 100]

Runs the two trainers alternately in one process and prints words per second of each (in-vocabulary corpus words ×
epochs / wall time of the training passes, vocabulary building excluded for both), the median time ratio, and how well the two models agree: the mean
overlap of top-10 neighbour lists and the Spearman correlation of cosine similarities over the 1,000 most frequent
words, next to the same figures for gensim against itself with another seed (the noise floor of training).

Timing: each trainer's own clock around its training passes (`Word2VecResult.seconds`, gensim's `train`), so the
vocabulary and the corpus encoding stay out of both figures; a timer around the whole call would add them unevenly.
The last lines are `RATIO name=value` for `make bench` (tools/run_bench.py).
"""
import argparse, statistics, sys
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import torch
from llm_nb.embeddings import (shakespeare_sentences, train_word2vec, gensim_word2vec, WordVectors,
                               neighbour_overlap, similarity_correlation)

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--repeats', type=int, default=3)
    ap.add_argument('--epochs', type=int, default=5)
    ap.add_argument('--dim', type=int, default=100)
    ap.add_argument('--batch-size', type=int, default=512)
    a = ap.parse_args()
    args = dict(dim=a.dim, window=5, negative=5, sample=1e-3, min_count=5, epochs=a.epochs)
    sents = shakespeare_sentences()
    print(f'corpus: Tiny Shakespeare, {len(sents):,} speeches, {sum(map(len, sents)):,} words')
    print(f'settings: skip-gram, {args}, lr 0.025 -> 0.0001; ours: torch {torch.__version__}, 1 thread, '
          f'batch {a.batch_size}; gensim: workers=1')
    ours_t, gen_t = [], []
    for r in range(a.repeats):
        res = train_word2vec(sents, arch='skipgram', seed=r, batch_size=a.batch_size, progress=False, threads=1, **args)
        gm, gs = gensim_word2vec(sents, arch='skipgram', seed=r, workers=1, **args)
        ours_t.append(res.seconds); gen_t.append(gs)
        print(f'  run {r}: ours {res.seconds:6.2f}s ({res.words_per_sec / 1e3:6.1f}K words/s)   '
              f'gensim {gs:6.2f}s ({res.words / gs / 1e3:6.1f}K words/s)   ratio {res.seconds / gs:.2f}x')
    n = res.words
    ratio = statistics.median(o / g for o, g in zip(ours_t, gen_t))
    print(f'best:   ours {n / min(ours_t) / 1e3:.1f}K words/s, gensim {n / min(gen_t) / 1e3:.1f}K words/s -> '
          f'{min(ours_t) / min(gen_t):.2f}x')
    print(f'median: ours {n / statistics.median(ours_t) / 1e3:.1f}K words/s, gensim {n / statistics.median(gen_t) / 1e3:.1f}K '
          f'words/s -> ours takes {ratio:.2f}x as long as gensim (goal: within 3x)')
    ours_wv, g_wv = res.wv, WordVectors.from_gensim(gm.wv)
    gm2, _ = gensim_word2vec(sents, arch='skipgram', seed=a.repeats + 1, workers=1, **args)
    g2_wv = WordVectors.from_gensim(gm2.wv)
    common = g_wv.itos[:1000]
    agree = {}
    for name, x, y in [('ours vs gensim', ours_wv, g_wv), ('gensim vs gensim (other seed)', g_wv, g2_wv)]:
        agree[name] = neighbour_overlap(x, y, common), similarity_correlation(x, y, common)
        print(f'{name:>30}: top-10 neighbour overlap {agree[name][0]:.3f}, similarity Spearman {agree[name][1]:.3f}')
    (ov, sp), (ov0, sp0) = agree.values()
    print(f'RATIO word2vec_time_ours_over_gensim={ratio:.3f}')
    print(f'RATIO word2vec_neighbour_overlap_vs_gensim_noise_floor={ov / ov0:.3f}')
    print(f'RATIO word2vec_spearman_vs_gensim_noise_floor={sp / sp0:.3f}')

if __name__ == '__main__': main()
