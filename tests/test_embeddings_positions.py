"""Property tests for the positional encodings of `llm_nb.positions` (hypothesis, modest sizes)."""
import math
import torch
import llm_nb.embeddings as emb, llm_nb.positions as pos
from hypothesis import given, settings, strategies as st
from llm_nb.positions import SinusoidalPositionalEncoding, LearnedPositionalEmbedding, RotaryEmbedding, alibi_bias, alibi_slopes

def rope_complex(x, positions, base=10000.0):
    D = x.shape[-1]
    theta = base ** (-torch.arange(0, D, 2, dtype=torch.float64) / D)
    ang = positions.double()[:, None] * theta
    xc = torch.view_as_complex(x.double().reshape(*x.shape[:-1], D // 2, 2).contiguous())
    return torch.view_as_real(xc * torch.polar(torch.ones_like(ang), ang)).flatten(-2)

half_dims = st.integers(1, 16)

@settings(max_examples=30, deadline=None)
@given(h=half_dims, m=st.integers(0, 500), n=st.integers(0, 500), shift=st.integers(0, 500), seed=st.integers(0, 10**6),
       interleaved=st.booleans())
def test_rope_relative(h, m, n, shift, seed, interleaved):
    D = 2 * h
    g = torch.Generator().manual_seed(seed)
    q, k = torch.randn(1, 1, 1, D, generator=g), torch.randn(1, 1, 1, D, generator=g)
    rope = RotaryEmbedding(D, max_seq_len=1001, interleaved=interleaved)
    def s(a, b): return (rope(q, offset=a) * rope(k, offset=b)).sum().item()
    assert math.isclose(s(m, n), s(m + shift, n + shift), rel_tol=1e-4, abs_tol=1e-4)

@settings(max_examples=30, deadline=None)
@given(h=half_dims, T=st.integers(1, 20), off=st.integers(0, 100), seed=st.integers(0, 10**6))
def test_rope_matches_complex_reference_and_norm(h, T, off, seed):
    D = 2 * h
    x = torch.randn(2, 3, T, D, generator=torch.Generator().manual_seed(seed))
    rope = RotaryEmbedding(D, max_seq_len=128)
    y = rope(x, offset=off)
    torch.testing.assert_close(y.double(), rope_complex(x, torch.arange(off, off + T)), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(y.norm(dim=-1), x.norm(dim=-1), atol=1e-5, rtol=1e-5)
    for p in range(T):  # decoding one token at position off+p equals slicing the full result
        torch.testing.assert_close(rope(x[:, :, p:p + 1], offset=off + p), y[:, :, p:p + 1], atol=0, rtol=0)

@settings(max_examples=20, deadline=None)
@given(d=st.integers(1, 64), T=st.integers(1, 30), off=st.integers(0, 30))
def test_sinusoidal_formula_and_slicing(d, T, off):
    pe = SinusoidalPositionalEncoding(d, max_len=64)
    x = torch.zeros(2, T, d)
    y = pe(x, offset=off)
    for pos in {off, off + T - 1}:
        for j in {0, d - 1, (d - 1) // 2}:
            a = pos / 10000 ** ((j - j % 2) / d)
            want = math.sin(a) if j % 2 == 0 else math.cos(a)
            assert math.isclose(y[0, pos - off, j].item(), want, abs_tol=1e-5)

def test_learned_offset_and_positions():
    lpe = LearnedPositionalEmbedding(10, 4)
    x = torch.zeros(3, 4, 4)
    with torch.no_grad():
        assert torch.equal(lpe(x, offset=6)[1], lpe.weight[6:10])
        pos = torch.tensor([3, 2, 1, 0])
        assert torch.equal(lpe(x, positions=pos)[2], lpe.weight[pos])

def test_alibi_bias_causal_rows_match_paper():
    n, T = 12, 7
    b = alibi_bias(n, T)
    m = alibi_slopes(n)
    for h in range(n):
        for i in range(T):
            for j in range(i + 1):
                assert math.isclose(b[h, i, j].item(), -m[h].item() * (i - j), rel_tol=1e-6, abs_tol=1e-9)
    assert torch.all(alibi_slopes(n) > 0) and len(set(alibi_slopes(n).tolist())) == n

def test_bad_inputs_name_the_limit():
    import pytest
    with pytest.raises(ValueError, match='max_len=8'): SinusoidalPositionalEncoding(4, 8)(torch.zeros(1, 9, 4))
    with pytest.raises(ValueError, match='max_seq_len=16'): RotaryEmbedding(4, 16)(torch.zeros(1, 1, 2, 4), offset=15)
    with pytest.raises(ValueError, match='even'): RotaryEmbedding(9)

def test_rope_after_model_cast_to_bfloat16():
    rope = RotaryEmbedding(8, max_seq_len=32)
    x = torch.randn(1, 2, 5, 8)
    ref = rope(x, offset=3)
    rope_b = RotaryEmbedding(8, max_seq_len=32).to(torch.bfloat16)   # casts the cached tables too
    y = rope_b(x.to(torch.bfloat16), offset=3)
    assert y.dtype == torch.bfloat16
    torch.testing.assert_close(y.float(), ref, atol=3e-2, rtol=3e-2)

def test_sinusoidal_keeps_dtype_and_device_buffer_not_saved():
    pe = SinusoidalPositionalEncoding(8, 16)
    assert 'pe' not in pe.state_dict()      # recomputed, never stored in checkpoints
    assert pe(torch.zeros(1, 3, 8, dtype=torch.bfloat16)).dtype == torch.bfloat16

def test_embeddings_still_reexports_the_positions_for_one_release():
    for name in pos.__all__:
        assert getattr(emb, name) is getattr(pos, name) and name in emb.__all__, name
