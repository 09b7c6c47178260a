"""SmolLM2-135M-Instruct (the Q4_1 GGUF) on our code versus `transformers` loading the same file, on CPU:

1. load time and peak RSS (each loader in a fresh child process; goal: peak RSS <= 2x the fp32 weights);
2. greedy generation of 128 tokens with the KV cache (ids checked identical first);
3. prefill tokens/s on a 512-token prompt (logits checked close first).

    python bench/pretrained.py                # 1 thread, median of 3 interleaved rounds, CPU time
    python bench/pretrained.py --threads 2 --reps 5 --clock wall

Ratios are transformers' time / ours: >= 1.0 means ours is at least as fast. Speed is timed with `bench/_common.py`
(threads pinned, contenders interleaved, process CPU time by default, the load average printed beside the result).
"""
import argparse, contextlib, io, json, os, subprocess, sys, time
os.environ.setdefault('HF_HUB_OFFLINE', '1'); os.environ.setdefault('TRANSFORMERS_OFFLINE', '1')
import torch
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import pin, load_line, interleave

def _peak_rss() -> int:
    "This process's peak resident set size in bytes (VmHWM)."
    for line in open('/proc/self/status'):
        if line.startswith('VmHWM:'): return int(line.split()[1]) * 1024
    import resource; return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

def _load(which, path, threads):
    pin(threads)
    if which == 'ours':
        from llm_nb.pretrained import load
        before = _peak_rss(); t = time.perf_counter(); model, _ = load(path)
    else:
        import transformers
        from transformers import AutoModelForCausalLM, AutoTokenizer
        transformers.utils.logging.disable_progress_bar()
        before = _peak_rss(); t = time.perf_counter()
        model = AutoModelForCausalLM.from_pretrained(os.path.dirname(path), gguf_file=os.path.basename(path), dtype=torch.float32)
        AutoTokenizer.from_pretrained(os.path.dirname(path), gguf_file=os.path.basename(path))  # loaded, as a user would
    dt = time.perf_counter() - t
    n = sum(p.numel() for p in model.parameters())
    print(json.dumps(dict(seconds=dt, peak_rss=_peak_rss(), rss_before=before, params=n)))

def best(f, reps):
    times, out = [], None
    for _ in range(reps):
        t = time.perf_counter(); out = f(); times.append(time.perf_counter() - t)
    return min(times), out

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--threads', type=int, default=1); ap.add_argument('--reps', type=int, default=3)
    ap.add_argument('--new', type=int, default=128); ap.add_argument('--prefill', type=int, default=512)
    ap.add_argument('--clock', choices=['cpu', 'wall'], default='cpu')
    ap.add_argument('--_load', choices=['ours', 'transformers'], help=argparse.SUPPRESS)
    ap.add_argument('--_path', help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a._load: return _load(a._load, a._path, a.threads)
    from llm_nb.data import get_path
    path = str(get_path('smollm2-135m-instruct-q4_1'))
    pin(a.threads)
    print(f'SmolLM2-135M-Instruct Q4_1 GGUF, CPU, {a.threads} thread(s) (torch {torch.__version__}), median of {a.reps}, {a.clock} time; {load_line()}')

    # 1. load time and peak RSS, each in a fresh process
    res = {}
    for which in ['ours', 'transformers']:
        out = subprocess.run([sys.executable, __file__, '--_load', which, '--_path', path, '--threads', str(a.threads)],
                             capture_output=True, text=True, check=True).stdout
        res[which] = json.loads(out.strip().splitlines()[-1])
    fp32 = res['ours']['params'] * 4
    for which, r in res.items():
        print(f"load {which:12s} {r['seconds']:6.1f} s  peak RSS {r['peak_rss']/2**20:6.0f} MiB ({r['peak_rss']/fp32:.2f}x the fp32 weights "
              f"of {fp32/2**20:.0f} MiB; {(r['peak_rss'] - r['rss_before'])/2**20:.0f} MiB above the process after imports)")
    print(f"load time ratio (transformers / ours): {res['transformers']['seconds'] / res['ours']['seconds']:.2f}")
    print(f"RATIO pretrained_load_time_hf_over_ours={res['transformers']['seconds'] / res['ours']['seconds']:.3f}")
    print(f"RATIO pretrained_peak_rss_ours_over_fp32_weights={res['ours']['peak_rss'] / fp32:.3f}")

    # 2. and 3. speed, both models in this process, measurements interleaved
    from transformers import AutoModelForCausalLM
    import transformers; transformers.utils.logging.disable_progress_bar(); transformers.utils.logging.set_verbosity_error()
    from llm_nb.pretrained import load, chat_ids
    from llm_nb.generation import generate
    from llm_nb.data import load_text
    ours, tok = load(path)
    with contextlib.redirect_stderr(io.StringIO()):   # transformers' GGUF progress bar
        hf = AutoModelForCausalLM.from_pretrained(os.path.dirname(path), gguf_file=os.path.basename(path), dtype=torch.float32).eval()
    prompt = chat_ids(tok, [{'role': 'user', 'content': 'Tell me about the history of Paris.'}])
    g_ours = lambda: generate(ours, prompt, a.new, temperature=0)
    x = torch.tensor([prompt])  # an explicit mask: else transformers masks the prompt's <|im_end|> (= pad_token_id)
    g_hf = lambda: hf.generate(x, attention_mask=torch.ones_like(x), max_new_tokens=a.new, do_sample=False, eos_token_id=None, pad_token_id=2)
    assert g_ours().tolist() == g_hf().tolist(), 'greedy ids differ'
    long = torch.tensor([tok.encode(load_text('tinyshakespeare'))[:a.prefill]])
    with torch.no_grad():
        torch.testing.assert_close(ours(long), hf(long).logits, atol=1e-3, rtol=0)
        m = interleave({'gen_ours': g_ours, 'gen_hf': g_hf, 'pre_ours': lambda: ours(long), 'pre_hf': lambda: hf(long).logits},
                       reps=a.reps, warmup=0, clock=a.clock)
    print(f"greedy {a.new} tokens (KV cache, {len(prompt)}-token prompt, ids identical): ours {a.new/m['gen_ours']:6.1f} tok/s, "
          f"transformers {a.new/m['gen_hf']:6.1f} tok/s, ratio {m['gen_hf']/m['gen_ours']:.2f}")
    print(f"prefill {a.prefill} tokens: ours {a.prefill/m['pre_ours']:7.0f} tok/s, transformers {a.prefill/m['pre_hf']:7.0f} tok/s, "
          f"ratio {m['pre_hf']/m['pre_ours']:.2f}")
    print(f"RATIO pretrained_greedy_time_hf_over_ours={m['gen_hf']/m['gen_ours']:.3f}")
    print(f"RATIO pretrained_prefill_time_hf_over_ours={m['pre_hf']/m['pre_ours']:.3f}")
    print(f'after: {load_line()}')

if __name__ == '__main__':
    main()
