"""Generation speed: our decoding vs Hugging Face `transformers` on the same GPT-2 weights (CPU), with and without
the KV cache, and speculative vs plain decoding.

    python bench/generation.py                 # a small GPT-2-shaped model (random weights written by transformers)
    python bench/generation.py --layers 12 --embd 768 --heads 12   # GPT-2 small's shape

Prints tokens/s and ratios; ratio = transformers' time / ours (>= 1.0 means we are at least as fast).
Token ids are checked to be identical before any time is reported.
"""
import argparse, tempfile, time
import torch
import transformers
from llm_nb.transformer import GPT
from llm_nb.hf_gpt2 import from_pretrained
from llm_nb.generation import generate
from llm_nb.decoding import beam_search, speculative_generate

def best(f, reps):
    times = []
    for _ in range(reps):
        t = time.perf_counter(); out = f(); times.append(time.perf_counter() - t)
    return min(times), out

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--layers', type=int, default=6); ap.add_argument('--embd', type=int, default=384)
    ap.add_argument('--heads', type=int, default=6); ap.add_argument('--vocab', type=int, default=50257)
    ap.add_argument('--ctx', type=int, default=256); ap.add_argument('--prompt', type=int, default=32)
    ap.add_argument('--new', type=int, default=64); ap.add_argument('--beams', type=int, default=4)
    ap.add_argument('--reps', type=int, default=3); ap.add_argument('--threads', type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads); torch.manual_seed(0)
    cfg = transformers.GPT2Config(vocab_size=a.vocab, n_positions=a.ctx, n_embd=a.embd, n_layer=a.layers, n_head=a.heads,
                                  bos_token_id=a.vocab - 1, eos_token_id=a.vocab - 1)
    hf = transformers.GPT2LMHeadModel(cfg).eval()
    with tempfile.TemporaryDirectory() as d:
        hf.save_pretrained(d); ours = from_pretrained(d).eval()
    prompt = torch.randint(0, a.vocab - 1, (1, a.prompt))
    mask = torch.ones_like(prompt)
    n = a.new
    print(f"GPT-2 shape: {a.layers} layers, d={a.embd}, {a.heads} heads, vocab {a.vocab}; prompt {a.prompt}, {n} new tokens, "
          f"{a.threads} threads, best of {a.reps}")
    rows = []
    with torch.no_grad():
        # greedy, ours with and without cache, and transformers
        t_c, o_c = best(lambda: generate(ours, prompt, n, temperature=0), a.reps)
        t_n, o_n = best(lambda: generate(ours, prompt, n, temperature=0, use_cache=False), a.reps)
        t_h, o_h = best(lambda: hf.generate(prompt, attention_mask=mask, max_new_tokens=n, min_new_tokens=n, do_sample=False,
                                             pad_token_id=cfg.eos_token_id, eos_token_id=None), a.reps)
        assert torch.equal(o_c, o_n) and torch.equal(o_c, o_h), "greedy ids differ"
        rows += [('greedy, ours, KV cache', t_c), ('greedy, ours, no cache', t_n), ('greedy, transformers', t_h)]
        print(f"greedy tokens/s: ours+cache {n / t_c:.1f} | ours no cache {n / t_n:.1f} | transformers {n / t_h:.1f}")
        print(f"  KV cache speed-up (ours): {t_n / t_c:.2f}x   transformers / ours: {t_h / t_c:.2f}")
        # beam search
        t_b, o_b = best(lambda: beam_search(ours, prompt, n, num_beams=a.beams, length_penalty=1.0), a.reps)
        t_hb, o_hb = best(lambda: hf.generate(prompt, attention_mask=mask, max_new_tokens=n, do_sample=False, num_beams=a.beams,
                                               length_penalty=1.0, pad_token_id=cfg.eos_token_id, eos_token_id=None), a.reps)
        assert torch.equal(o_b, o_hb), "beam ids differ"
        print(f"beam search ({a.beams} beams) tokens/s: ours {n / t_b:.1f} | transformers {n / t_hb:.1f}   transformers / ours: {t_hb / t_b:.2f}")
        # speculative decoding with two drafts: the target itself (every draft accepted, but the draft costs as much as
        # the target, so this measures the method's overhead), and a 1-layer "early exit" draft sharing the target's
        # embeddings and output head (cheaper per layer, but the vocab-sized head is paid by both)
        t_p, _ = best(lambda: generate(ours, prompt, n, temperature=0), a.reps)
        t_s, (o_s, st) = best(lambda: speculative_generate(ours, ours, prompt, n, num_draft_tokens=4, temperature=0, return_stats=True), a.reps)
        assert torch.equal(o_s, o_c)
        small = GPT(ours.config.__class__(**{**ours.config.__dict__, 'n_layer': 1})).eval()
        small.load_state_dict({k: v for k, v in ours.state_dict().items() if not k.startswith('h.') or k.startswith('h.0.')}, strict=False)
        t_s2, (o_s2, st2) = best(lambda: speculative_generate(ours, small, prompt, n, num_draft_tokens=4, temperature=0, return_stats=True), a.reps)
        assert torch.equal(o_s2, o_c), "greedy speculative must equal greedy"
        print(f"speculative (greedy, 4 draft tokens): plain {n / t_p:.1f} tok/s | self-draft {n / t_s:.1f} tok/s "
              f"({t_p / t_s:.2f}x, acceptance {st['acceptance_rate']:.2f}) | 1-layer draft {n / t_s2:.1f} tok/s "
              f"({t_p / t_s2:.2f}x, acceptance {st2['acceptance_rate']:.2f})")

if __name__ == '__main__': main()
