"""Bench: our skip-gram trainer vs gensim's Word2Vec (C code) on Tiny Shakespeare, same settings, one CPU thread each.

    python bench/embeddings.py [--repeats 3] [--epochs 5] [--dim 100]

Prints words per second of each (in-vocabulary corpus words × epochs / CPU seconds of training), the median ratio,
and how well the two models agree: the mean overlap of top-10 neighbour lists and the Spearman correlation of cosine
similarities over the 1,000 most frequent words, next to the same figures for gensim against itself with another seed
(the noise floor of training).

Fair in four ways: the two trainers run interleaved (ours, gensim, ours, gensim, ... with a fresh seed each round, the
median of --repeats rounds kept), on one thread (torch pinned to 1; gensim `workers=1`), timed in process CPU time
(all threads of the process, so gensim's job-feeding thread counts too), with the load average printed beside the
results. Both vocabularies are built before the clock starts; ours still pays inside its timing for encoding the
corpus to ids and building its noise table (gensim does both while building its vocabulary).
The last lines are `RATIO name=value` for `make bench` (tools/run_bench.py).
"""
import argparse, statistics, sys, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import load_line, pin
import torch
from llm_nb.embeddings import (shakespeare_sentences, train_word2vec, WordVocab, WordVectors,
                               neighbour_overlap, similarity_correlation)

def gensim_run(sents, args, seed):
    "gensim's Word2Vec with `args` (train_word2vec's names): (model, CPU seconds of `train`, vocabulary built before)."
    from gensim.models import Word2Vec
    m = Word2Vec(vector_size=args['dim'], window=args['window'], negative=args['negative'], sample=args['sample'],
                 min_count=args['min_count'], sg=1, hs=0, workers=1, epochs=args['epochs'], alpha=0.025,
                 min_alpha=1e-4, seed=seed)
    m.build_vocab(sents)
    t0 = time.process_time()
    m.train(sents, total_examples=m.corpus_count, epochs=args['epochs'])
    return m, time.process_time() - t0

def ours_run(sents, args, vocab, seed, batch_size):
    "Our trainer on a prebuilt vocabulary: (result, CPU seconds)."
    t0 = time.process_time()
    res = train_word2vec(sents, arch='skipgram', seed=seed, batch_size=batch_size, progress=False, threads=1,
                         vocab=vocab, **args)
    return res, time.process_time() - t0

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--repeats', type=int, default=3)
    ap.add_argument('--epochs', type=int, default=5)
    ap.add_argument('--dim', type=int, default=100)
    ap.add_argument('--batch-size', type=int, default=512)
    a = ap.parse_args()
    pin(1)
    args = dict(dim=a.dim, window=5, negative=5, sample=1e-3, min_count=5, epochs=a.epochs)
    sents = shakespeare_sentences()
    vocab = WordVocab(sents, args['min_count'])
    print(f'corpus: Tiny Shakespeare, {len(sents):,} speeches, {sum(map(len, sents)):,} words')
    print(f'settings: skip-gram, {args}, lr 0.025 -> 0.0001; ours: torch {torch.__version__}, 1 thread, '
          f'batch {a.batch_size}; gensim: workers=1; clock: process CPU time')
    print(load_line())
    ours_run(sents, {**args, 'epochs': 1}, vocab, 0, a.batch_size); gensim_run(sents, {**args, 'epochs': 1}, 0)  # warm-up
    ours_t, gen_t = [], []
    for r in range(a.repeats):
        res, t_o = ours_run(sents, args, vocab, r, a.batch_size)
        gm, t_g = gensim_run(sents, args, r)
        ours_t.append(t_o); gen_t.append(t_g)
        n = res.words
        print(f'  run {r}: ours {t_o:6.2f}s ({n / t_o / 1e3:6.1f}K words/s)   '
              f'gensim {t_g:6.2f}s ({n / t_g / 1e3:6.1f}K words/s)   ours/gensim words/s {t_g / t_o:.2f}')
    speed = statistics.median(g / o for o, g in zip(ours_t, gen_t))
    print(f'median: ours {n / statistics.median(ours_t) / 1e3:.1f}K words/s, gensim '
          f'{n / statistics.median(gen_t) / 1e3:.1f}K words/s -> ours runs at {speed:.2f}x gensim\'s words/s (goal >= 0.5x)')
    print(load_line())
    ours_wv, g_wv = res.wv, WordVectors.from_gensim(gm.wv)
    gm2, _ = gensim_run(sents, args, a.repeats + 1)
    g2_wv = WordVectors.from_gensim(gm2.wv)
    common = g_wv.itos[:1000]
    agree = {}
    for name, x, y in [('ours vs gensim', ours_wv, g_wv), ('gensim vs gensim (other seed)', g_wv, g2_wv)]:
        agree[name] = neighbour_overlap(x, y, common), similarity_correlation(x, y, common)
        print(f'{name:>30}: top-10 neighbour overlap {agree[name][0]:.3f}, similarity Spearman {agree[name][1]:.3f}')
    (ov, sp), (ov0, sp0) = agree.values()
    print(f'RATIO word2vec_words_per_sec_ours_over_gensim={speed:.3f}')
    print(f'RATIO word2vec_neighbour_overlap_vs_gensim_noise_floor={ov / ov0:.3f}')
    print(f'RATIO word2vec_spearman_vs_gensim_noise_floor={sp / sp0:.3f}')

if __name__ == '__main__': main()
