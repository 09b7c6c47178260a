"""Property tests for `llm_nb.attention`: random shapes, chunkings and masks (the notebook checks fixed cases).

Run: python -m pytest -q tests/test_attention.py
"""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from hypothesis import given, settings, strategies as st

from llm_nb.attention import (attention, causal_mask, padding_mask, merge_masks, MultiHeadAttention, KVCache)

SETTINGS = dict(max_examples=25, deadline=None)


@st.composite
def mha_shapes(draw):
    n_kv = draw(st.sampled_from([1, 2, 4]))
    H = n_kv * draw(st.sampled_from([1, 2, 3]))
    D = draw(st.sampled_from([2, 4, 8]))
    return dict(B=draw(st.integers(1, 3)), T=draw(st.integers(1, 9)), H=H, n_kv=n_kv, D=D, seed=draw(st.integers(0, 10_000)))


@given(mha_shapes(), st.data())
@settings(**SETTINGS)
def test_cached_decoding_equals_full_pass(s, data):
    torch.manual_seed(s['seed'])
    B, T, H, C = s['B'], s['T'], s['H'], s['H'] * s['D']
    layer = MultiHeadAttention(C, H, n_kv_heads=s['n_kv'], causal=True).eval()
    x = torch.randn(B, T, C)
    cache, outs, i = KVCache(T + data.draw(st.integers(0, 3))), [], 0
    while i < T:
        c = data.draw(st.integers(1, T - i))
        outs.append(layer(x[:, i:i + c], cache=cache)); i += c
    torch.testing.assert_close(torch.cat(outs, 1), layer(x), atol=1e-5, rtol=1e-4)
    assert cache.length == T


@given(mha_shapes(), st.data())
@settings(**SETTINGS)
def test_no_leak_from_future_bitwise(s, data):
    torch.manual_seed(s['seed'])
    B, T, H, C = s['B'], s['T'], s['H'], s['H'] * s['D']
    layer = MultiHeadAttention(C, H, n_kv_heads=s['n_kv'], causal=True).eval()
    x = torch.randn(B, T, C)
    p = data.draw(st.integers(0, T - 1))
    y = x.clone(); y[:, p + 1:] = torch.randn_like(y[:, p + 1:]) * 10
    for nw in [False, True]:
        a, b = layer(x, need_weights=nw), layer(y, need_weights=nw)
        if nw: a, b = a[0], b[0]
        assert torch.equal(a[:, :p + 1], b[:, :p + 1])


@given(st.integers(1, 3), st.integers(1, 6), st.integers(1, 6), st.sampled_from([1, 2, 4]), st.integers(0, 10_000),
       st.booleans())
@settings(**SETTINGS)
def test_matches_torch_multihead_attention(B, T, S, H, seed, cross):
    torch.manual_seed(seed)
    C = 4 * H
    ours = MultiHeadAttention(C, H).eval()
    ref = nn.MultiheadAttention(C, H, batch_first=True).eval()
    with torch.no_grad():
        ref.in_proj_weight.copy_(torch.cat([ours.q_proj.weight, ours.k_proj.weight, ours.v_proj.weight]))
        ref.in_proj_bias.copy_(torch.cat([ours.q_proj.bias, ours.k_proj.bias, ours.v_proj.bias]))
        ref.out_proj.load_state_dict(ours.out_proj.state_dict())
    x = torch.randn(B, T, C)
    src = torch.randn(B, S, C) if cross else x
    S = src.size(1)
    lengths = torch.randint(1, S + 1, (B,))
    am = (torch.arange(S)[None] < lengths[:, None]).long()       # right padding, at least one real token
    o1, w1 = ours(x, kv=src if cross else None, mask=padding_mask(am), need_weights=True)
    o2, w2 = ref(x, src, src, key_padding_mask=~am.bool(), average_attn_weights=False)
    torch.testing.assert_close(o1, o2, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(w1, w2, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(ours(x, kv=src if cross else None, mask=padding_mask(am)), o2, atol=1e-5, rtol=1e-4)


@given(st.integers(1, 6), st.integers(0, 5), st.integers(0, 10_000))
@settings(**SETTINGS)
def test_reference_equals_sdpa_with_random_masks(T, extra, seed):
    torch.manual_seed(seed)
    S = T + extra
    q, k, v = torch.randn(2, 3, T, 4), torch.randn(2, 3, S, 4), torch.randn(2, 3, S, 4)
    m = torch.rand(2, 1, T, S) > 0.4
    m[..., -1] = True                               # no fully masked rows: SDPA's behaviour there is backend-defined
    for mask in [m, causal_mask(T, S), merge_masks(m, causal_mask(T, S))]:
        torch.testing.assert_close(attention(q, k, v, mask=mask), F.scaled_dot_product_attention(q, k, v, attn_mask=mask),
                                   atol=1e-5, rtol=1e-4)


def test_fully_masked_rows_zero_and_finite_grads():
    torch.manual_seed(0)
    layer = MultiHeadAttention(16, 4, n_kv_heads=2, causal=True)
    x = torch.randn(2, 5, 16, requires_grad=True)
    am = torch.tensor([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]])          # left padding: rows 0, 1 of sequence 0 see nothing
    for nw in [False, True]:
        out = layer(x, mask=padding_mask(am), need_weights=nw)
        out = out[0] if nw else out
        out.sum().backward()
        assert torch.isfinite(out).all() and torch.isfinite(x.grad).all()
        torch.testing.assert_close(out[0, :2].detach(), layer.out_proj.bias.detach().expand(2, 16))
        x.grad = None
    # a float mask with -inf rows behaves the same
    fm = torch.zeros(5, 5).masked_fill(~causal_mask(5), float('-inf')); fm[1] = float('-inf')
    out = layer(x.detach(), mask=fm)
    torch.testing.assert_close(out[:, 1], layer.out_proj.bias.detach().expand(2, 16))


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
def test_low_precision_and_autocast_on_cpu(dtype):
    "The GPU path (16-bit, autocast) exercised on CPU: close to float32, cache included."
    torch.manual_seed(0)
    layer = MultiHeadAttention(64, 4, n_kv_heads=2, causal=True).eval()
    x = torch.randn(2, 10, 64)
    ref = layer(x)
    with torch.autocast('cpu', dtype=dtype):
        out = layer(x)
        cache = KVCache(10)
        steps = torch.cat([layer(x[:, i:i + 1], cache=cache) for i in range(10)], 1)
    assert out.dtype == dtype and cache.k.dtype == dtype
    torch.testing.assert_close(out.float(), ref, atol=0.05, rtol=0.05)
    torch.testing.assert_close(steps.float(), ref, atol=0.05, rtol=0.05)


def test_backward_matches_reference_path():
    "Gradients through SDPA equal gradients through the written-out reference (need_weights=True)."
    torch.manual_seed(0)
    layer = MultiHeadAttention(32, 4, n_kv_heads=2, causal=True)
    x = torch.randn(2, 7, 32)
    am = torch.tensor([[1] * 7, [0, 0, 1, 1, 1, 1, 1]])
    grads = []
    for nw in [False, True]:
        layer.zero_grad()
        out = layer(x, mask=padding_mask(am), need_weights=nw)
        (out[0] if nw else out).pow(2).sum().backward()
        grads.append([p.grad.clone() for p in layer.parameters()])
    for a, b in zip(*grads): torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def test_errors_name_sizes():
    with pytest.raises(ValueError, match=r'd_model \(10\).*n_heads \(4\)'): MultiHeadAttention(10, 4)
    with pytest.raises(ValueError, match=r'n_heads \(6\).*n_kv_heads \(4\)'): MultiHeadAttention(24, 6, n_kv_heads=4)
    c = KVCache(3)
    c.append(torch.zeros(1, 1, 2, 4), torch.zeros(1, 1, 2, 4))
    with pytest.raises(ValueError, match=r'2 cached \+ 2 new = 4 > max_len=3'):
        c.append(torch.zeros(1, 1, 2, 4), torch.zeros(1, 1, 2, 4))
    with pytest.raises(ValueError, match='max_len'): KVCache(0)
    layer = MultiHeadAttention(16, 4, causal=True)
    cache = KVCache(4)
    layer(torch.randn(1, 3, 16), cache=cache)
    with pytest.raises(ValueError, match='max_len=4'): layer(torch.randn(1, 2, 16), cache=cache)


@given(mha_shapes(), st.data())
@settings(**SETTINGS)
def test_rope_cached_decoding_equals_full_pass(s, data):
    from llm_nb.positions import RotaryEmbedding
    torch.manual_seed(s['seed'])
    B, T, H, C = s['B'], s['T'], s['H'], s['H'] * s['D']
    rope = RotaryEmbedding(s['D'], max_seq_len=32, interleaved=data.draw(st.booleans()))
    layer = MultiHeadAttention(C, H, n_kv_heads=s['n_kv'], causal=True, rope=rope).eval()
    x = torch.randn(B, T, C)
    cache, outs, i = KVCache(T), [], 0
    while i < T:
        c = data.draw(st.integers(1, T - i))
        outs.append(layer(x[:, i:i + c], cache=cache)); i += c
    torch.testing.assert_close(torch.cat(outs, 1), layer(x), atol=1e-5, rtol=1e-4)


def test_rope_rejected_for_cross_attention():
    from llm_nb.positions import RotaryEmbedding
    layer = MultiHeadAttention(16, 4, rope=RotaryEmbedding(4))
    with pytest.raises(ValueError, match='self-attention only'): layer(torch.randn(1, 3, 16), kv=torch.randn(1, 5, 16))


@given(st.integers(1, 6), st.integers(1, 14), st.integers(0, 10_000), st.booleans())
@settings(**SETTINGS)
def test_sliding_cache_equals_banded_mask(W, T, seed, use_rope):
    "A sliding KVCache of W positions, one token at a time == a full pass where each query sees its last W keys."
    from llm_nb.positions import RotaryEmbedding
    torch.manual_seed(seed)
    layer = MultiHeadAttention(16, 4, n_kv_heads=2, causal=True, rope=RotaryEmbedding(4, 32) if use_rope else None).eval()
    x = torch.randn(2, T, 16)
    i, j = torch.arange(T)[:, None], torch.arange(T)[None]
    full = layer(x, mask=(i - j < W))
    cache = KVCache(W, sliding=True)
    steps = torch.cat([layer(x[:, t:t + 1], cache=cache) for t in range(T)], 1)
    torch.testing.assert_close(steps, full, atol=1e-5, rtol=1e-4)
    assert cache.position == T and cache.length == min(W, T)


def test_dropout_only_in_training():
    torch.manual_seed(0)
    layer = MultiHeadAttention(16, 4, dropout=0.5, causal=True)
    x = torch.randn(2, 6, 16)
    layer.train()
    a, b = layer(x), layer(x)
    assert not torch.allclose(a, b)                                 # random weights dropped
    layer.eval()
    torch.testing.assert_close(layer(x), layer(x))
    layer.dropout = 0.0; layer.train()
    torch.testing.assert_close(layer(x), layer.eval()(x))


def test_weights_rows_sum_to_one_or_zero():
    torch.manual_seed(0)
    layer = MultiHeadAttention(16, 4, n_kv_heads=1, causal=True)
    am = torch.tensor([[0, 1, 1, 1], [1, 1, 1, 1]])
    _, w = layer(torch.randn(2, 4, 16), mask=padding_mask(am), need_weights=True)
    assert w.shape == (2, 4, 4, 4)
    sums = w.sum(-1)
    torch.testing.assert_close(sums[0, :, 0], torch.zeros(4))              # the pad at position 0 sees nothing
    torch.testing.assert_close(sums[0, :, 1:], torch.ones(4, 3)); torch.testing.assert_close(sums[1], torch.ones(4, 4))
    assert (w[0, :, :, 0] == 0).all()                                       # nobody attends to the pad
