"""Generation speed: our decoding vs Hugging Face `transformers` on the same weights (CPU), each contender against its
fair peer: cached vs cached, no cache vs no cache, prefill vs prefill; then beam search and speculative decoding.

    python bench/generation.py                 # a GPT-2-shaped model (random weights written by transformers), 1 thread
    python bench/generation.py --layers 12 --embd 768 --heads 12   # GPT-2 small's shape
    python bench/generation.py --real-prefill 0                     # skip the real model (SmolLM2) prefill

Fair in four ways: the contenders of each comparison run interleaved (rep after rep, so background load hits them
alike), on pinned threads (--threads, default 1), timed in process CPU time (--clock wall to change), and the load
average is printed beside the results. Token ids (and prefill logits) are checked to agree before any time is reported.
Ratios are `time_hf_over_ours` (>= 1.0: ours is at least as fast) or speed-ups of one method over another; the
headline ones are printed again as `RATIO name=value` lines (tools/run_bench.py).

Prefill is one forward over the prompt that keeps only the last position's logits, as generation needs
(`logits_to_keep=1` on both sides): a `--prefill`-token prompt on the GPT-2-shaped model, and a `--real-prefill`-token
prompt on SmolLM2-135M (llm_nb.pretrained.load vs transformers' LlamaForCausalLM, both from the same GGUF file).
"""
import argparse, contextlib, io, os, sys, tempfile
from pathlib import Path
os.environ.setdefault('HF_HUB_OFFLINE', '1'); os.environ.setdefault('TRANSFORMERS_OFFLINE', '1')
sys.path.insert(0, str(Path(__file__).resolve().parents[1])); sys.path.insert(0, str(Path(__file__).resolve().parent))
import torch
import transformers
from _common import interleave, load_line, pin
from llm_nb.transformer import GPT
from llm_nb.hf_gpt2 import from_pretrained
from llm_nb.generation import generate
from llm_nb.decoding import beam_search, speculative_generate

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--layers', type=int, default=6); ap.add_argument('--embd', type=int, default=384)
    ap.add_argument('--heads', type=int, default=6); ap.add_argument('--vocab', type=int, default=50257)
    ap.add_argument('--ctx', type=int, default=256); ap.add_argument('--prompt', type=int, default=32)
    ap.add_argument('--new', type=int, default=64); ap.add_argument('--beams', type=int, default=4)
    ap.add_argument('--prefill', type=int, default=144, help='prompt tokens for the GPT-2-shaped prefill (0: skip)')
    ap.add_argument('--real-prefill', type=int, default=512, help='prompt tokens for the SmolLM2 prefill (0: skip)')
    ap.add_argument('--reps', type=int, default=3); ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--clock', choices=['cpu', 'wall'], default='cpu')
    a = ap.parse_args()
    pin(a.threads); torch.manual_seed(0)
    transformers.logging.set_verbosity_error(); transformers.utils.logging.disable_progress_bar()
    cfg = transformers.GPT2Config(vocab_size=a.vocab, n_positions=a.ctx, n_embd=a.embd, n_layer=a.layers, n_head=a.heads,
                                  bos_token_id=a.vocab - 1, eos_token_id=a.vocab - 1)
    hf = transformers.GPT2LMHeadModel(cfg).eval()
    with tempfile.TemporaryDirectory() as d:
        hf.save_pretrained(d); ours = from_pretrained(d).eval()
    prompt = torch.randint(0, a.vocab - 1, (1, a.prompt))
    mask = torch.ones_like(prompt)
    n = a.new
    run = lambda fns: interleave(fns, reps=a.reps, clock=a.clock)
    print(f"GPT-2 shape: {a.layers} layers, d={a.embd}, {a.heads} heads, vocab {a.vocab}; prompt {a.prompt}, {n} new tokens; "
          f"{torch.get_num_threads()} thread(s), {a.clock} time, median of {a.reps} interleaved reps; torch {torch.__version__}, "
          f"transformers {transformers.__version__}")
    print(load_line())
    R = {}
    def hf_gen(cache, **kw):
        return lambda: hf.generate(prompt, attention_mask=mask, max_new_tokens=n, min_new_tokens=n, do_sample=False,
                                   pad_token_id=cfg.eos_token_id, eos_token_id=None, use_cache=cache, **kw)
    with torch.no_grad():
        # greedy: ours and transformers, each with and without the KV cache
        fns = {'ours_cache': lambda: generate(ours, prompt, n, temperature=0),
               'ours_nocache': lambda: generate(ours, prompt, n, temperature=0, use_cache=False),
               'hf_cache': hf_gen(True), 'hf_nocache': hf_gen(False)}
        outs = {k: f() for k, f in fns.items()}
        assert all(torch.equal(o, outs['ours_cache']) for o in outs.values()), "greedy ids differ"
        t = run(fns)
        print(f"greedy tokens/s: ours+cache {n / t['ours_cache']:.1f} | ours no cache {n / t['ours_nocache']:.1f} | "
              f"transformers+cache {n / t['hf_cache']:.1f} | transformers no cache {n / t['hf_nocache']:.1f}")
        R['greedy_cache_time_hf_over_ours'] = t['hf_cache'] / t['ours_cache']
        R['greedy_nocache_time_hf_over_ours'] = t['hf_nocache'] / t['ours_nocache']
        R['kv_cache_speedup_ours'] = t['ours_nocache'] / t['ours_cache']
        R['kv_cache_speedup_hf'] = t['hf_nocache'] / t['hf_cache']
        print(f"  cached: transformers / ours {R['greedy_cache_time_hf_over_ours']:.2f} | no cache: transformers / ours "
              f"{R['greedy_nocache_time_hf_over_ours']:.2f} | KV-cache speed-up: ours {R['kv_cache_speedup_ours']:.2f}x, "
              f"transformers {R['kv_cache_speedup_hf']:.2f}x")
        # prefill: one forward over a prompt, the last position's logits only (what generation asks for)
        if a.prefill:
            long = torch.randint(0, a.vocab - 1, (1, min(a.prefill, a.ctx)))
            torch.testing.assert_close(ours(long, logits_to_keep=1), hf(long, logits_to_keep=1).logits, atol=1e-4, rtol=1e-4)
            t = run({'ours': lambda: ours(long, logits_to_keep=1), 'hf': lambda: hf(long, logits_to_keep=1).logits})
            R[f'prefill{long.size(1)}_time_hf_over_ours'] = t['hf'] / t['ours']
            print(f"prefill {long.size(1)} tokens (last logits only): ours {long.size(1) / t['ours']:.0f} tok/s | transformers "
                  f"{long.size(1) / t['hf']:.0f} tok/s   transformers / ours: {t['hf'] / t['ours']:.2f}")
        # beam search
        t_fns = {'ours': lambda: beam_search(ours, prompt, n, num_beams=a.beams, length_penalty=1.0),
                 'hf': hf_gen(True, num_beams=a.beams, length_penalty=1.0)}
        assert torch.equal(t_fns['ours'](), t_fns['hf']()), "beam ids differ"
        t = run(t_fns)
        R['beam_time_hf_over_ours'] = t['hf'] / t['ours']
        print(f"beam search ({a.beams} beams) tokens/s: ours {n / t['ours']:.1f} | transformers {n / t['hf']:.1f}   "
              f"transformers / ours: {R['beam_time_hf_over_ours']:.2f}")
        # speculative decoding with two drafts: the target itself (every draft accepted, but the draft costs as much as
        # the target, so this measures the method's overhead), and a 1-layer "early exit" draft sharing the target's
        # embeddings and output head (cheaper per layer, but the vocab-sized head is paid by both)
        small = GPT(ours.config.__class__(**{**ours.config.__dict__, 'n_layer': 1})).eval()
        small.load_state_dict({k: v for k, v in ours.state_dict().items() if not k.startswith('h.') or k.startswith('h.0.')}, strict=False)
        spec = lambda draft: lambda: speculative_generate(ours, draft, prompt, n, num_draft_tokens=4, temperature=0, return_stats=True)
        (o_s, st), (o_s2, st2) = spec(ours)(), spec(small)()
        assert torch.equal(o_s, outs['ours_cache']) and torch.equal(o_s2, outs['ours_cache']), "greedy speculative must equal greedy"
        t = run({'plain': fns['ours_cache'], 'self': spec(ours), 'early': spec(small)})
        R['speculative_selfdraft_speedup'] = t['plain'] / t['self']; R['speculative_1layer_speedup'] = t['plain'] / t['early']
        print(f"speculative (greedy, 4 draft tokens): plain {n / t['plain']:.1f} tok/s | self-draft {n / t['self']:.1f} tok/s "
              f"({R['speculative_selfdraft_speedup']:.2f}x, acceptance {st['acceptance_rate']:.2f}) | 1-layer draft "
              f"{n / t['early']:.1f} tok/s ({R['speculative_1layer_speedup']:.2f}x, acceptance {st2['acceptance_rate']:.2f})")
        if a.real_prefill: R.update(real_prefill(a, run))
    print(load_line())
    for k, v in R.items(): print(f'RATIO {k}={v:.3f}')

def real_prefill(a, run) -> dict:
    "SmolLM2-135M prefill of `a.real_prefill` tokens of Tiny Shakespeare: ours vs transformers from the same GGUF."
    from llm_nb.data import get_path, load_text
    from llm_nb.pretrained import load
    path = str(get_path('smollm2-135m-instruct-q4_1'))
    ours, tok = load(path)
    with contextlib.redirect_stderr(io.StringIO()):   # transformers' GGUF progress bar
        hf = transformers.AutoModelForCausalLM.from_pretrained(os.path.dirname(path), gguf_file=os.path.basename(path),
                                                               dtype=torch.float32).eval()
    long = torch.tensor([tok.encode(load_text('tinyshakespeare')[:20 * a.real_prefill])[:a.real_prefill]])
    torch.testing.assert_close(ours(long, logits_to_keep=1), hf(long, logits_to_keep=1).logits, atol=1e-3, rtol=0)
    t = run({'ours': lambda: ours(long, logits_to_keep=1), 'hf': lambda: hf(long, logits_to_keep=1).logits})
    T = long.size(1)
    print(f"SmolLM2-135M ({type(hf).__name__} from the same GGUF) prefill {T} tokens (last logits only): ours "
          f"{T / t['ours']:.0f} tok/s | transformers {T / t['hf']:.0f} tok/s   transformers / ours: {t['hf'] / t['ours']:.2f}")
    return {f'smollm2_prefill{T}_time_hf_over_ours': t['hf'] / t['ours']}

if __name__ == '__main__': main()
