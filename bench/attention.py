"""Benchmark for chapter 03 (llm_nb.attention), ours and the peer side by side in one process.

1. `MultiHeadAttention` vs `torch.nn.MultiheadAttention`: causal self-attention, forward + backward, same weights,
   T = 128 ... 2048. Both reach `scaled_dot_product_attention`; ratio = peer time / our time (>= 1: ours is not slower).
2. Decoding 256 tokens through a stack of attention layers: with a `KVCache` per layer vs re-running the prefix
   at every step; ratio = uncached time / cached time (expect >= 5x).

    python bench/attention.py            # CPU, the sizes above
    python bench/attention.py --quick    # smaller, for a smoke run
    python bench/attention.py --threads 1  # steadier on a shared machine
    python bench/attention.py --device cuda
"""
import argparse, statistics, time
import torch
import torch.nn as nn
from llm_nb.attention import MultiHeadAttention, KVCache, causal_mask
from llm_nb.core import fmt_time, get_device


def sync(device):
    if device.type == 'cuda': torch.cuda.synchronize()


def timeit(f, device, reps):
    f(); sync(device)                                  # warm-up
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter(); f(); sync(device); ts.append(time.perf_counter() - t0)
    return min(ts)                                    # best of reps: the least disturbed by other load


def torch_mha_like(ours):
    ref = nn.MultiheadAttention(ours.d_model, ours.n_heads, batch_first=True)
    with torch.no_grad():
        ref.in_proj_weight.copy_(torch.cat([ours.q_proj.weight, ours.k_proj.weight, ours.v_proj.weight]))
        ref.in_proj_bias.copy_(torch.cat([ours.q_proj.bias, ours.k_proj.bias, ours.v_proj.bias]))
        ref.out_proj.load_state_dict(ours.out_proj.state_dict())
    return ref


def bench_vs_torch(Ts, B, C, H, device, reps):
    print(f'\n1. causal self-attention forward+backward, B={B}, C={C}, H={H}, {device}')
    print(f'{"T":>6} {"ours":>10} {"torch MHA":>10} {"ratio":>6}')
    ratios = []
    for T in Ts:
        ours = MultiHeadAttention(C, H, causal=True).to(device)
        ref = torch_mha_like(ours).to(device)
        x = torch.randn(B, T, C, device=device, requires_grad=True)
        blocked = ~causal_mask(T, device=device)                      # torch's convention: True = blocked
        with torch.no_grad(): torch.testing.assert_close(ours(x), ref(x, x, x, attn_mask=blocked, need_weights=False)[0],
                                                         atol=1e-4, rtol=1e-4)
        def run_ours(): ours(x).sum().backward()
        def run_ref(): ref(x, x, x, attn_mask=blocked, is_causal=True, need_weights=False)[0].sum().backward()
        t_ours, t_ref = timeit(run_ours, device, reps), timeit(run_ref, device, reps)
        ratios.append(t_ref / t_ours)
        print(f'{T:>6} {fmt_time(t_ours):>10} {fmt_time(t_ref):>10} {t_ref / t_ours:>5.2f}x')
    return ratios


def decode(layers, x, cached):
    T = x.size(1)
    caches = [KVCache(T) for _ in layers] if cached else None
    with torch.no_grad():
        for t in range(T):
            h = x[:, t:t + 1] if cached else x[:, :t + 1]
            for i, l in enumerate(layers):
                h = h + l(h, cache=caches[i] if cached else None)
    return h


def bench_decoding(n_tokens, n_layers, C, H, device, reps):
    print(f'\n2. decoding {n_tokens} tokens, {n_layers} attention layers, C={C}, H={H}, {device}')
    layers = nn.ModuleList(MultiHeadAttention(C, H, causal=True) for _ in range(n_layers)).to(device).eval()
    x = torch.randn(1, n_tokens, C, device=device)
    # the last position is the same whether or not we cache
    torch.testing.assert_close(decode(layers, x, True)[:, -1], decode(layers, x, False)[:, -1], atol=1e-4, rtol=1e-4)
    t_cached = timeit(lambda: decode(layers, x, True), device, reps)
    t_full = timeit(lambda: decode(layers, x, False), device, reps)
    print(f'without cache {fmt_time(t_full)}, with cache {fmt_time(t_cached)}: {t_full / t_cached:.1f}x')
    return t_full / t_cached


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--device', default='cpu')
    ap.add_argument('--quick', action='store_true', help='smaller sizes for a smoke run')
    ap.add_argument('--reps', type=int, default=3)
    ap.add_argument('--threads', type=int, default=None, help='PyTorch CPU threads (default: PyTorch\'s choice)')
    a = ap.parse_args()
    if a.threads: torch.set_num_threads(a.threads)
    device = get_device(a.device)
    torch.manual_seed(0)
    Ts = [128, 256, 512] if a.quick else [128, 256, 512, 1024, 2048]
    ratios = bench_vs_torch(Ts, B=2, C=256, H=8, device=device, reps=a.reps)
    dec = bench_decoding(64 if a.quick else 256, 4, 256, 8, device, a.reps)
    print(f'\nsummary ({torch.get_num_threads()} CPU threads, torch {torch.__version__}): torch MHA / ours fwd+bwd ratio {min(ratios):.2f}x..{max(ratios):.2f}x '
          f'(geometric mean {statistics.geometric_mean(ratios):.2f}x); cached decoding {dec:.1f}x faster')


if __name__ == '__main__':
    main()
