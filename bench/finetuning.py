"""Full fine-tuning vs last block vs LoRA: trainable parameters, AdamW state, time per step and peak memory, in one process.

    python bench/finetuning.py                      # 'gpt-tiny' preset (GPT-2 vocabulary, 4 layers, d=128)
    python bench/finetuning.py --preset gpt2 --steps 3 --batch 2 --seq 128
    python bench/finetuning.py --real --steps 2 --batch 4 --seq 64   # SmolLM2-135M-Instruct (llm_nb.pretrained.load)

No peer library (peft) is installed here, so the comparison is ours-vs-ours: full fine-tuning, the last block only
(plus the final norm), LoRA un-merged, and LoRA merged for inference (which must cost the same as the base model).
Peak memory is the process's resident set sampled during each method's steps (`PeakRSS`); 'added' is the peak minus
the resident set when the method started (the base model and earlier allocations are not counted).
"""
import argparse, copy, gc, time
import torch
from llm_nb.transformer import GPT, GPTConfig
from llm_nb.finetuning import apply_lora, merge_lora, finetune_config
from llm_nb.finetune_real import PeakRSS
from llm_nb.training import Trainer


def opt_bytes(trainer):
    return sum(t.numel() * t.element_size() for s in trainer.opt.state.values() for t in s.values()
               if torch.is_tensor(t) and t.dim() > 0)


def last_block(m):
    last = f'h.{m.config.n_layer - 1}.'
    for n, p in m.named_parameters(): p.requires_grad = n.startswith(last) or n.startswith('ln_f')
    return m


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--preset', default='gpt-tiny'); ap.add_argument('--steps', type=int, default=6)
    ap.add_argument('--batch', type=int, default=8); ap.add_argument('--seq', type=int, default=64)
    ap.add_argument('--r', type=int, default=8)
    ap.add_argument('--real', action='store_true', help='the real model (SmolLM2-135M-Instruct) instead of --preset')
    ap.add_argument('--targets', default=None, help='comma-separated LoRA targets (default: every attention and FFN matrix; '
                                                     "with --real: q_proj,v_proj as chapter 07a)")
    a = ap.parse_args()
    torch.manual_seed(0)
    if a.real:
        from llm_nb.pretrained import load
        base = load()[0]
        targets = (a.targets or 'q_proj,v_proj').split(',')
    else:
        base = GPT(GPTConfig.from_preset(a.preset))
        targets = (a.targets or 'q_proj,k_proj,v_proj,out_proj,fc,proj').split(',')
    V = base.config.vocab_size
    x = torch.randint(V, (a.batch, a.seq + 1))
    batch = (x[:, :-1], x[:, 1:])
    rows = []
    # smallest first: memory a method frees stays in the process (the allocator keeps it), so a later, smaller
    # method would show no added memory at all
    for name, make in [('lora', lambda: apply_lora(copy.deepcopy(base), targets, r=a.r, alpha=2 * a.r)),
                       ('last', lambda: last_block(copy.deepcopy(base))),
                       ('full', lambda: copy.deepcopy(base))]:
        gc.collect()
        with PeakRSS() as pk:
            m = make()
            tr = Trainer(m, [batch], finetune_config(1 + a.steps, 1e-4, device='cpu', dtype='float32'), progress=False)
            tr.fit(until=1)                                             # warm-up step (allocations)
            t0 = time.perf_counter(); tr.fit(); dt = (time.perf_counter() - t0) / a.steps
        n = sum(p.numel() for p in m.parameters() if p.requires_grad)
        rows.append((name, n, n / sum(p.numel() for p in base.parameters()), opt_bytes(tr) / 2**20, dt, pk.peak / 2**30, (pk.peak - pk.start) / 2**30))
        if name == 'lora': lora = m
        else: del m, tr
    print(f"model: {'SmolLM2-135M-Instruct' if a.real else a.preset}; batch {a.batch} x {a.seq} tokens; {torch.get_num_threads()} threads")
    print(f"{'method':6s} {'trainable':>12s} {'fraction':>9s} {'AdamW MB':>9s} {'s/step':>8s} {'peak GiB':>9s} {'added GiB':>10s}")
    for r in rows: print(f'{r[0]:6s} {r[1]:12,d} {r[2]:9.4f} {r[3]:9.2f} {r[4]:8.3f} {r[5]:9.2f} {r[6]:10.2f}')
    lo, lb, full = rows
    print(f'time per step vs full: last block {lb[4] / full[4]:.2f}x, LoRA {lo[4] / full[4]:.2f}x; '
          f'optimizer state vs full: last block {lb[3] / full[3]:.4f}x, LoRA {lo[3] / full[3]:.4f}x')
    with torch.no_grad():
        lora.eval(); base.eval()
        def t(m, reps=5):
            m(batch[0]); t0 = time.perf_counter()
            for _ in range(reps): m(batch[0])
            return (time.perf_counter() - t0) / reps
        tb, tu = t(base), t(lora); merge_lora(lora); tm = t(lora)
    print(f'inference: base {tb:.4f}s, LoRA un-merged {tu:.4f}s ({tu / tb:.2f}x), merged {tm:.4f}s ({tm / tb:.2f}x)')


if __name__ == '__main__': main()
