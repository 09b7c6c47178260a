"""word2vec pieces of `llm_nb.embeddings` checked against gensim's own tables and against first principles."""
import math
import numpy as np
import pytest
import torch
from llm_nb.embeddings import (WordVocab, WordVectors, keep_probability, noise_cdf, skipgram_pairs, cbow_windows,
                               CBOW, train_word2vec, most_similar, analogy, ppmi)

def _corpus(seed=0, n=400):
    rng = np.random.default_rng(seed)
    zipf = rng.zipf(1.3, size=n * 10) % 300
    return [[f'w{x}' for x in zipf[i * 10:(i + 1) * 10]] for i in range(n)]

def test_keep_probability_and_noise_match_gensim():
    gensim = pytest.importorskip('gensim')
    sents = _corpus()
    m = gensim.models.Word2Vec(sents, vector_size=8, min_count=2, sample=1e-2, negative=5, sg=1, workers=1, epochs=1, seed=0)
    v = WordVocab(sents, min_count=2)
    assert set(v.itos) == set(m.wv.index_to_key)
    keep = keep_probability(v.counts, 1e-2)
    for w in m.wv.index_to_key[:50]:
        g = m.wv.get_vecattr(w, 'sample_int') / 2 ** 32
        assert math.isclose(keep[v.stoi[w]].item(), min(g, 1.0), rel_tol=1e-5, abs_tol=1e-6), w
    # gensim's cumulative table over its own word order, normalised, vs ours reordered the same way
    order = torch.tensor([v.stoi[w] for w in m.wv.index_to_key])
    ours = torch.diff(noise_cdf(v.counts[order]).double(), prepend=torch.zeros(1))
    theirs = torch.diff(torch.tensor(m.cum_table, dtype=torch.float64), prepend=torch.zeros(1)) / m.cum_table[-1]
    torch.testing.assert_close(ours, theirs, atol=1e-6, rtol=1e-4)

def test_pairs_respect_window_and_sentences():
    g = torch.Generator().manual_seed(1)
    ids = torch.arange(200)
    sid = torch.arange(200) // 7          # sentences of 7 tokens
    c, o = skipgram_pairs(ids, sid, window=3, generator=g)
    assert (c != o).all() and ((c - o).abs() <= 3).all() and (sid[c] == sid[o]).all()
    # every distance-1 pair inside a sentence is always present (window size is at least 1)
    pairs = set(zip(c.tolist(), o.tolist()))
    assert all((i, i + 1) in pairs and (i + 1, i) in pairs for i in range(199) if sid[i] == sid[i + 1])
    cw, ctx = cbow_windows(ids, sid, window=3, generator=g)
    m = ctx >= 0
    assert ((ctx - cw[:, None]).abs()[m] <= 3).all() and (sid[ctx.clamp(min=0)] == sid[cw][:, None])[m].all()

def test_cbow_step_matches_autograd_and_loss_decreases():
    torch.manual_seed(0)
    m = CBOW(30, 6); torch.nn.init.normal_(m.out_embed.weight)
    ref = CBOW(30, 6); ref.load_state_dict(m.state_dict())
    ctx = torch.tensor([[1, 2, -1, -1], [3, 3, 4, 5]]); tg = torch.randint(0, 30, (2, 3))
    ref(tg[:, 0], ctx, tg[:, 1:]).sum().backward()
    with torch.no_grad():
        for p in ref.parameters(): p -= 0.3 * p.grad
    m.sgd_step(ctx, tg, 0.3)
    torch.testing.assert_close(m.in_embed.weight, ref.in_embed.weight.detach())
    torch.testing.assert_close(m.out_embed.weight, ref.out_embed.weight.detach())

def test_training_decreases_loss_and_is_deterministic():
    rng = np.random.default_rng(0)   # 10 groups of 3 words that always occur together, among 100 filler words
    sents = [[f'f{j}' for j in rng.integers(0, 100, 4)] + [f'g{i}_{j}' for j in range(3)]
             for i in rng.integers(0, 10, 1500)]
    kw = dict(dim=16, window=2, epochs=4, sample=0, min_count=1, progress=False, log_every=5)
    r1, r2 = train_word2vec(sents, **kw), train_word2vec(sents, **kw)
    assert torch.equal(r1.wv.vectors, r2.wv.vectors)
    first, last = r1.losses[0][1], np.mean([l for _, l in r1.losses[-3:]])
    assert math.isclose(first, 6 * math.log(2), rel_tol=1e-4) and last < first - 1.0
    for i in range(10):
        assert r1.wv.most_similar(f'g{i}_0', 1)[0][0] in {f'g{i}_1', f'g{i}_2'}
    r3 = train_word2vec(sents, **{**kw, 'seed': 1})
    assert not torch.equal(r1.wv.vectors, r3.wv.vectors)

def test_queries_and_errors():
    vecs = torch.tensor([[1., 0.], [0.9, 0.1], [0., 1.], [-1., 0.]])
    wv = WordVectors(vecs, ['a', 'b', 'c', 'd'])
    assert [w for w, _ in most_similar(wv, 'a', 2)] == ['b', 'c']
    assert wv.most_similar('a', 1)[0][0] == 'b'
    assert analogy(wv, 'a', 'c', 'b', topn=1)[0][0] in {'d'}   # c - a + b: a, b, c excluded
    with pytest.raises(KeyError, match="'zzz' is not in the vocabulary"): wv.most_similar('zzz')
    with pytest.raises(KeyError, match="'zzz'"): wv.analogy('a', 'zzz', 'b')
    with pytest.raises(ValueError, match='3 words for 4 vectors'): WordVectors(vecs, ['a', 'b', 'c'])
    with pytest.raises(ValueError, match="'glove'"): train_word2vec([['a']], arch='glove', min_count=1)
    with pytest.raises(ValueError, match='min_count=5'): train_word2vec([['a', 'b']], min_count=5)

def test_ppmi_matches_definition():
    C = torch.tensor([[0., 3, 1], [3, 0, 2], [1, 2, 0]])
    M = ppmi(C, alpha=1.0)
    tot = C.sum()
    for w in range(3):
        for c in range(3):
            want = 0.0 if C[w, c] == 0 else max(0.0, math.log(C[w, c] * tot / (C[w].sum() * C[:, c].sum())))
            assert math.isclose(M[w, c].item(), want, abs_tol=1e-6)
