"Tests of llm_nb.seq2seq that go beyond the notebook's cells: properties on random inputs, both architectures."
import copy, math
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings, strategies as st

from llm_nb.core import seed_everything
from llm_nb.encoder_decoder import Seq2SeqConfig, Seq2SeqTransformer
from llm_nb.seq2seq import (BahdanauSeq2Seq, TranslationPairs, check_no_future_leak, check_padding_invariance,
                            collate_pairs, cross_attention, evaluate_translation, label_smoothed_loss, noam_lr,
                            split_pairs, translate, train_seq2seq)


class CharTok:
    "A tiny character tokenizer with the special-token ids the module uses."
    def __init__(self, chars):
        self.itos = ['<pad>', '<bos>', '<eos>'] + sorted(set(chars))
        self.stoi = {c: i for i, c in enumerate(self.itos)}
        self.pad_id, self.bos_id, self.eos_id, self.vocab_size = 0, 1, 2, len(self.itos)
    def encode(self, s): return [self.stoi[c] for c in s]
    def decode(self, ids): return ''.join(self.itos[i] for i in ids if i > 2)


PAIRS = [dict(en=e, fr=f, attribution='test') for e, f in
         [('ab', 'ba'), ('abc', 'cba'), ('ca', 'ac'), ('bb', 'bb'), ('cab', 'bac'), ('a', 'a'), ('b', 'b'), ('c', 'c')]]
TOK = CharTok('abc')


def models(V):
    seed_everything(0)
    tf = Seq2SeqTransformer(Seq2SeqConfig(vocab_size=V, block_size=32, n_layer=2, n_head=2, n_embd=32, d_ff=64))
    return [tf, BahdanauSeq2Seq(V, 16, 16, 16, pad_id=0)]


@settings(max_examples=15, deadline=None)
@given(st.integers(1, 100000), st.integers(1, 5000), st.sampled_from([64, 128, 512]))
def test_noam_formula(step, warmup, d):
    assert math.isclose(noam_lr(step, d, warmup), d ** -0.5 * min(step ** -0.5, step * warmup ** -1.5))
    assert noam_lr(step, d, warmup) <= noam_lr(warmup, d, warmup) + 1e-15     # the peak is at step = warmup


@settings(max_examples=15, deadline=None)
@given(st.floats(0.0, 0.9), st.integers(2, 30), st.integers(0, 10**6))
def test_label_smoothing_matches_torch(eps, V, seed):
    g = torch.Generator().manual_seed(seed)
    logits, y = torch.randn(7, V, generator=g), torch.randint(0, V, (7,), generator=g)
    y[2] = -100
    assert torch.allclose(label_smoothed_loss(logits, y, eps), F.cross_entropy(logits, y, label_smoothing=eps), atol=1e-5)


def test_collate_teacher_forcing():
    ds = TranslationPairs(PAIRS, TOK)
    b = collate_pairs([ds[0], ds[1]], TOK.pad_id)
    # labels are the decoder input shifted left by one, wherever the input is real
    real = b['tgt_mask'] == 1
    assert (b['tgt_in'][:, 1:][real[:, 1:]] == b['labels'][:, :-1][real[:, 1:]]).all()
    assert (b['labels'][~real] == -100).all()
    with pytest.raises(ValueError, match='empty batch'): collate_pairs([])


def test_split_is_by_source_and_fixed():
    rows = [dict(en=f's{i % 40}', fr=f't{i}', attribution='x') for i in range(200)]
    tr, te = split_pairs(rows, n_test=30, seed=1, force_test=['s3'])
    assert {r['en'] for r in tr}.isdisjoint({r['en'] for r in te}) and len(te) >= 30 and len(tr) + len(te) == 200
    assert 's3' in {r['en'] for r in te} and split_pairs(rows, n_test=30, seed=1, force_test=['s3']) == (tr, te)


@pytest.mark.parametrize('i', [0, 1])
def test_leak_and_padding_on_random_batches(i):
    V = TOK.vocab_size
    m = models(V)[i]
    for seed in range(3):
        g = torch.Generator().manual_seed(seed)
        src, tgt = torch.randint(3, V, (3, 5), generator=g), torch.randint(3, V, (3, 4), generator=g)
        check_no_future_leak(m, src, tgt, V)
        check_padding_invariance(m, src, tgt, pad_id=0, n_pad=2)


@pytest.mark.parametrize('i', [0, 1])
def test_cached_beam_equals_uncached_and_beam1_is_greedy(i):
    m = models(TOK.vocab_size)[i]
    sents = ['abc', 'ca', 'b']
    greedy = translate(m, TOK, sents, max_len=6)
    assert translate(m, TOK, sents, max_len=6, beam=1) == greedy
    # beam search over a one-sentence batch and a three-sentence batch agree (rows do not mix)
    b3 = translate(m, TOK, sents, max_len=6, beam=3)
    assert [translate(m, TOK, [s], max_len=6, beam=3)[0] for s in sents] == b3


def test_training_reduces_loss_and_learns_a_toy_task():
    torch.manual_seed(0)
    V = TOK.vocab_size
    m = models(V)[0]
    ds = TranslationPairs(PAIRS * 8, TOK)
    res = train_seq2seq(m, ds, epochs=30, batch_size=16, lr=lambda s: noam_lr(s, 32, 20, factor=0.2), label_smoothing=0.0)
    assert res.steps == 30 * 4 and sum(res.losses[-4:]) / 4 < 0.5 * sum(res.losses[:4]) / 4
    assert res.lrs == [noam_lr(s, 32, 20, factor=0.2) for s in range(1, 121)]      # the schedule reached the Trainer
    out = translate(m, TOK, [p['en'] for p in PAIRS], beam=2)
    assert evaluate_translation(out, [p['fr'] for p in PAIRS])['chrf'] > 50


def test_train_seq2seq_equals_a_plain_adam_loop():
    "The Trainer-based train_seq2seq takes exactly the steps of a hand-written Adam loop (AdamW without decay is Adam)."
    V, ds = TOK.vocab_size, TranslationPairs(PAIRS * 2, TOK)
    sched = lambda s: noam_lr(s, 32, 5, factor=0.5)
    torch.manual_seed(0); a = models(V)[0]; b = copy.deepcopy(a)
    torch.manual_seed(1); res = train_seq2seq(a, ds, epochs=2, batch_size=4, lr=sched, label_smoothing=0.1, seed=3)
    opt = torch.optim.Adam(b.parameters(), lr=sched(1), betas=(0.9, 0.98), eps=1e-9)
    g = torch.Generator().manual_seed(3)
    loader = torch.utils.data.DataLoader(ds, 4, shuffle=True, generator=g, collate_fn=lambda x: collate_pairs(x, 0))
    torch.manual_seed(1); b.train(); step, losses = 0, []
    for _ in range(2):
        for bt in loader:
            step += 1
            for grp in opt.param_groups: grp['lr'] = sched(step)
            logits = b(bt['src'], bt['tgt_in'], src_mask=bt['src_mask'], tgt_mask=bt['tgt_mask'])
            loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), bt['labels'].reshape(-1), ignore_index=-100, label_smoothing=0.1)
            opt.zero_grad(); loss.backward(); torch.nn.utils.clip_grad_norm_(b.parameters(), 1.0); opt.step()
            losses.append(loss.item())
    assert res.losses == pytest.approx(losses, rel=1e-5)
    for p, q in zip(a.parameters(), b.parameters()): assert torch.allclose(p, q, atol=1e-5)


def test_cross_attention_shapes_and_rows_sum_to_one():
    m = models(TOK.vocab_size)[0]
    src, tgt = torch.tensor([[3, 4, 5, 2, 0]]), torch.tensor([[1, 4, 3]])
    ws = cross_attention(m, src, tgt, src_mask=torch.tensor([[1, 1, 1, 1, 0]]))
    assert len(ws) == 2 and ws[0].shape == (1, 2, 3, 5)
    assert torch.allclose(ws[-1].sum(-1), torch.ones(1, 2, 3), atol=1e-5) and (ws[-1][..., -1] == 0).all()


def test_evaluate_translation_surfaces_metric_errors():
    with pytest.raises(ValueError, match='2 segments but there are 3 hypotheses'): evaluate_translation(['a', 'b', 'c'], ['a', 'b'])
    with pytest.raises(ValueError, match='empty reference set'): evaluate_translation(['a'], [])
    with pytest.raises(TypeError, match='list of strings'): translate(models(TOK.vocab_size)[1], TOK, 'abc')
