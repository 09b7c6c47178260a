"""Full fine-tuning vs LoRA: trainable parameters, AdamW state and time per step, in one process.

    python bench/finetuning.py                      # 'gpt-tiny' preset (GPT-2 vocabulary, 4 layers, d=128)
    python bench/finetuning.py --preset gpt2 --steps 3 --batch 2 --seq 128

No peer library (peft) is installed here, so the comparison is ours-vs-ours: full fine-tuning, LoRA un-merged,
and LoRA merged for inference (which must cost the same as the base model).
"""
import argparse, copy, time
import torch
from llm_nb.transformer import GPT, GPTConfig
from llm_nb.finetuning import apply_lora, merge_lora, finetune_config
from llm_nb.training import Trainer


def opt_bytes(trainer):
    return sum(t.numel() * t.element_size() for s in trainer.opt.state.values() for t in s.values()
               if torch.is_tensor(t) and t.dim() > 0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--preset', default='gpt-tiny'); ap.add_argument('--steps', type=int, default=6)
    ap.add_argument('--batch', type=int, default=8); ap.add_argument('--seq', type=int, default=64)
    ap.add_argument('--r', type=int, default=8)
    a = ap.parse_args()
    torch.manual_seed(0)
    base = GPT(GPTConfig.from_preset(a.preset))
    V = base.config.vocab_size
    x = torch.randint(V, (a.batch, a.seq + 1))
    batch = (x[:, :-1], x[:, 1:])
    rows = []
    for name, make in [('full', lambda: copy.deepcopy(base)),
                       ('lora', lambda: apply_lora(copy.deepcopy(base), ['q_proj', 'k_proj', 'v_proj', 'out_proj', 'fc', 'proj'], r=a.r, alpha=2 * a.r))]:
        m = make()
        tr = Trainer(m, [batch], finetune_config(1 + a.steps, 1e-4, device='cpu', dtype='float32'), progress=False)
        tr.fit(until=1)                                                 # warm-up step (allocations)
        t0 = time.perf_counter(); tr.fit(); dt = (time.perf_counter() - t0) / a.steps
        n = sum(p.numel() for p in m.parameters() if p.requires_grad)
        rows.append((name, n, n / sum(p.numel() for p in base.parameters()), opt_bytes(tr) / 2**20, dt))
        if name == 'lora': lora = m
    print(f"{'method':6s} {'trainable':>12s} {'fraction':>9s} {'AdamW MB':>9s} {'s/step':>8s}")
    for r in rows: print(f'{r[0]:6s} {r[1]:12,d} {r[2]:9.4f} {r[3]:9.2f} {r[4]:8.3f}')
    print(f'LoRA/full time per step: {rows[1][4] / rows[0][4]:.2f}x; optimizer state: {rows[1][3] / rows[0][3]:.4f}x')
    with torch.no_grad():
        lora.eval(); base.eval()
        def t(m, reps=5):
            m(batch[0]); t0 = time.perf_counter()
            for _ in range(reps): m(batch[0])
            return (time.perf_counter() - t0) / reps
        tb, tu = t(base), t(lora); merge_lora(lora); tm = t(lora)
    print(f'inference: base {tb:.4f}s, LoRA un-merged {tu:.4f}s ({tu / tb:.2f}x), merged {tm:.4f}s ({tm / tb:.2f}x)')


if __name__ == '__main__': main()
