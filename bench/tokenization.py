"""Benchmark for chapter 01a (byte-level BPE, `llm_nb.bpe`): ours against the naive trainer, HF `tokenizers` and `tiktoken`, side by side.

    python bench/tokenization.py                   # about 1-3 minutes on one core
    python bench/tokenization.py --naive-chars 0   # the naive trainer on all of Tiny Shakespeare too (several minutes)

Training (Tiny Shakespeare, GPT-2 pre-tokenization, one core):
  - fast vs naive trainer at vocab 512 on the same text (the naive one on a prefix by default: it is slow by design);
  - fast vs HF `tokenizers` BpeTrainer (Rust, RAYON_NUM_THREADS=1) at vocab 512 and 4096 on all of Tiny Shakespeare.
Encoding (Tiny Shakespeare, GPT-2's ranks):
  - our pure-Python encoder (cold chunk cache, then warm) vs tiktoken with the same ranks, in MB/s; the same cold
    comparison on Chinese (the first 300,000 characters of the Tang poems);
  - the pre-tokenizer alone: GPT-2's pattern on `regex`, on `regex` under a time limit, and on stdlib `re` with the
    classes spelled out (our built-in route), plus the one-off cost of building that `re` pattern (once per process);
  - the cost of the pattern guard: the same regex written as `(?:...)` is not one of ours, so it is matched under a
    time limit (`regex`'s `timeout=`); cold-cache encoding with it against the built-in pattern.
Every timing is the best of --repeat runs, in process CPU time by default (all contenders run on one thread).
Ratios are printed next to the numbers, and the headline ones again as `RATIO name=value` lines (tools/run_bench.py).

Fair in four ways: contenders run interleaved (rep after rep, --repeat of them, the median kept), on one thread,
in process CPU time, with the load average printed beside the results. Tokenizer construction (from GPT-2's files;
tiktoken from the same files) is timed on its own, a cold encode runs on a freshly built object (no warm cache, no
structures built by an earlier call), and a warm encode repeats it on the same object and the same text.
The trainers all see the same text as one string (HF `tokenizers` too: `train_from_iterator([text])`). minbpe
(karpathy/minbpe, its RegexTokenizer with GPT-2's pattern) joins the naive-vs-fast comparison when its files are in
bench/_peers/minbpe (a snapshot of the repository's minbpe/ folder; skipped cleanly when absent).
"""
import argparse, importlib.util, os, platform, sys, time
os.environ.setdefault('RAYON_NUM_THREADS', '1')     # HF tokenizers on one core, like ours
os.environ.setdefault('TOKENIZERS_PARALLELISM', 'false')
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import interleave, load_line, pin

from llm_nb.data import get_path, load_text
from llm_nb.bpe import GPT2_PATTERN, BPETokenizer, _gpt2_re, bytes_to_unicode, train_bpe, train_bpe_naive
from llm_nb.tokenization import _compile_pattern, _findall

CLOCK = time.process_time  # CPU time of this process: everything timed here runs on one thread, and on a shared
                           # machine wall time mostly measures the neighbours (--clock wall to use it anyway)

def best(f, repeat):
    "Median CPU seconds of `repeat` calls of `f`, and its last result."
    ts, out = [], None
    for _ in range(repeat):
        t0 = CLOCK(); out = f(); ts.append(CLOCK() - t0)
    return sorted(ts)[len(ts) // 2], out

def timed(fns, repeat):
    "Median seconds of each function in `fns` (name -> f), interleaved, and each one's last result."
    outs = {}
    wrap = {k: (lambda k=k, f=f: outs.__setitem__(k, f())) for k, f in fns.items()}
    return interleave(wrap, reps=repeat, warmup=0, clock='cpu' if CLOCK is time.process_time else 'wall'), outs

def minbpe_peer():
    "karpathy/minbpe's package from bench/_peers/minbpe, or None when it is not there."
    peers = os.path.join(os.path.dirname(os.path.abspath(__file__)), '_peers')
    if not os.path.isfile(os.path.join(peers, 'minbpe', 'regex.py')): return None
    sys.path.insert(0, peers)
    try: import minbpe
    except ImportError: return None
    finally: sys.path.remove(peers)
    return minbpe

def hf_train(text, vocab_size):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)  # GPT-2's regex
    tr = trainers.BpeTrainer(vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                             show_progress=False, min_frequency=0)
    tk.train_from_iterator([text], trainer=tr)   # the same single string ours gets
    return tk

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--naive-chars', type=int, default=250_000, help='characters for the naive-vs-fast(-vs-minbpe) comparison (0: all)')
    p.add_argument('--repeat', type=int, default=3, help='interleaved runs per timing (the median is kept); the naive trainers run once')
    p.add_argument('--clock', choices=['cpu', 'wall'], default='cpu', help='process CPU time (default) or wall time')
    a = p.parse_args()
    global CLOCK
    if a.clock == 'wall': CLOCK = time.perf_counter
    pin(1)
    text = load_text('tinyshakespeare')
    mb = len(text.encode('utf-8')) / 1e6
    print(f'python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cpus; '
          f'Tiny Shakespeare {len(text):,} characters ({mb:.2f} MB); {a.clock} clock, median of {a.repeat} interleaved runs')
    print(load_line() + '\n')

    print('== Training ==')
    small = text if a.naive_chars <= 0 else text[:a.naive_chars]
    t_fast, m_fast = best(lambda: train_bpe(small, 512), a.repeat)
    t_naive, m_naive = best(lambda: train_bpe_naive(small, 512), 1)
    assert m_fast == m_naive, 'the naive and fast trainers disagree'
    print(f'vocab  512 on {len(small):>9,} chars: naive {t_naive:8.2f} s | fast {t_fast:6.2f} s | '
          f'fast is {t_naive / t_fast:6.1f}x faster (same {len(m_fast)} merges)')
    ratios = {'train_time_naive_over_fast': t_naive / t_fast}
    if (minbpe := minbpe_peer()) is None: print('(minbpe not in bench/_peers/minbpe: skipping it)')
    else:
        mb_tok = minbpe.RegexTokenizer(GPT2_PATTERN)
        t_min, _ = best(lambda: mb_tok.train(small, 512), 1)
        ours = BPETokenizer.from_merges(m_fast).ranks
        theirs = {b: i for i, b in mb_tok.vocab.items()}
        print(f'vocab  512 on {len(small):>9,} chars: minbpe {t_min:7.2f} s | fast is {t_min / t_fast:6.1f}x faster than minbpe '
              f'(the same token at the same id: {sum(theirs.get(b) == i for b, i in ours.items()) / len(ours):.0%})')
        ratios['train_time_minbpe_over_ours'] = t_min / t_fast
    have_hf = importlib.util.find_spec('tokenizers') is not None  # an optional peer
    if not have_hf: print('(HF tokenizers not installed: skipping its trainer)')
    for v in (512, 4096):
        if have_hf:
            t, o = timed({'ours': lambda: train_bpe(text, v), 'hf': lambda: hf_train(text, v)}, a.repeat)
            t_ours, merges, t_hf, hf = t['ours'], o['ours'], t['hf'], o['hf']
        else: t_ours, merges = best(lambda: train_bpe(text, v), a.repeat)
        line = f'vocab {v:4} on {len(text):>9,} chars: fast {t_ours:6.2f} s'
        if have_hf:
            ratios[f'train_time_ours_over_hf_vocab{v}'] = t_ours / t_hf
            ours = BPETokenizer.from_merges(merges).ranks
            byte_of = {c: b for b, c in bytes_to_unicode().items()}
            theirs = {bytes(byte_of[c] for c in t): i for t, i in hf.get_vocab().items()}
            same_id = sum(theirs.get(b) == i for b, i in ours.items() if i >= 256) / max(len(ours) - 256, 1)
            print(f'{line} | HF tokenizers {t_hf:6.2f} s | ours/HF time {t_ours / t_hf:5.2f}x | vocabularies share '
                  f'{len(ours.keys() & theirs.keys()) / len(ours):.0%} of tokens, {same_id:.0%} of merges at the same rank')
        else: print(line)
    print(f'target: fast >= 50x naive at vocab 512 -> {"met" if t_naive / t_fast >= 50 else "NOT met"}; '
          f'vocab 4096 on all of Tiny Shakespeare < 10 s -> {"met" if t_ours < 10 else "NOT met"}\n')

    print('== Construction and encoding (GPT-2 ranks, all of Tiny Shakespeare) ==')
    _gpt2_re.cache_clear(); t0 = CLOCK(); _gpt2_re(); t_re_build = CLOCK() - t0   # what the first encode in a process pays
    import tiktoken, tiktoken.load
    from tiktoken_ext.openai_public import r50k_pat_str
    def tt_build():
        ranks = tiktoken.load.data_gym_to_mergeable_bpe_ranks(str(get_path('gpt2-merges')), str(get_path('gpt2-encoder')))
        return tiktoken.Encoding('gpt2-files', pat_str=r50k_pat_str, mergeable_ranks=ranks, special_tokens={'<|endoftext|>': 50256})
    t, built = timed({'ours': BPETokenizer.from_gpt2_files, 'tiktoken': tt_build}, a.repeat)
    print(f'construction from the GPT-2 files: ours {t["ours"]:.3f} s | tiktoken {t["tiktoken"]:.3f} s | '
          f'ours/tiktoken time {t["ours"] / t["tiktoken"]:.2f}x   target ours <= 0.1 s -> {"met" if t["ours"] <= .1 else "NOT met"}')
    ratios.update(build_seconds_ours=t['ours'], build_time_ours_over_tiktoken=t['ours'] / t['tiktoken'])
    gpt2, ref = built['ours'], built['tiktoken']
    cold_t = {'ours': [], 'tiktoken': []}   # a fresh object for every cold run, built outside the clock
    def cold_ours():
        tok = BPETokenizer.from_gpt2_files(); t0 = CLOCK(); ids = tok.encode(text); cold_t['ours'].append(CLOCK() - t0); return ids
    def cold_tt():
        enc = tt_build(); t0 = CLOCK(); ids = enc.encode_ordinary(text); cold_t['tiktoken'].append(CLOCK() - t0); return ids
    ids_cold = ids_tt = None
    for _ in range(a.repeat): ids_cold, ids_tt = cold_ours(), cold_tt()
    t_cold, t_tt_cold = (sorted(v)[len(v) // 2] for v in cold_t.values())
    gpt2.encode(text)   # warm its cache
    enc = gpt2.to_tiktoken()
    t, o = timed({'warm': lambda: gpt2.encode(text), 'tiktoken': lambda: ref.encode_ordinary(text),
                  'to_tiktoken': lambda: enc.encode_ordinary(text)}, a.repeat)
    t_warm, t_tt, t_tt2 = t['warm'], t['tiktoken'], t['to_tiktoken']
    ids = o['warm']
    assert ids == ids_cold == ids_tt == o['tiktoken'] == o['to_tiktoken']
    print(f'ours, cold (fresh object)  {mb / t_cold:6.2f} MB/s  ({t_cold:.2f} s)  = {t_tt_cold / t_cold:5.0%} of tiktoken cold '
          f'({t_tt_cold:.2f} s on a fresh Encoding)')
    print(f'ours, warm (same text)     {mb / t_warm:6.2f} MB/s  ({t_warm:.2f} s)  = {t_tt / t_warm:5.0%} of tiktoken')
    print(f'tiktoken                   {mb / t_tt:6.2f} MB/s  ({t_tt:.2f} s)')
    print(f'ours.to_tiktoken()         {mb / t_tt2:6.2f} MB/s  ({t_tt2:.2f} s)  (same ids: {len(ids):,} tokens)')
    print(f'target: cold >= 50% of tiktoken -> {"met" if t_tt_cold / t_cold >= .5 else "NOT met"}; '
          f'pure Python >= 25% of tiktoken -> cold {"met" if t_tt_cold / t_cold >= .25 else "NOT met"}, '
          f'warm {"met" if t_tt / t_warm >= .25 else "NOT met"}')
    ratios.update(encode_time_ours_cold_over_tiktoken=t_cold / t_tt_cold, encode_time_ours_warm_over_tiktoken=t_warm / t_tt)

    zh = load_text('tang-poems')[:300_000]   # Chinese: long pre-tokens, nearly all distinct, so nearly all go through BPE
    def cold_zh(): gpt2._cache.clear(); return gpt2.encode(zh)
    t, o = timed({'ours': cold_zh, 'tiktoken': lambda: ref.encode_ordinary(zh)}, a.repeat)
    assert o['ours'] == o['tiktoken']
    zmb = len(zh.encode('utf-8')) / 1e6
    print(f'Chinese ({len(zh):,} chars of Tang poems, {zmb:.2f} MB), cold: ours {zmb / t["ours"]:.2f} MB/s, tiktoken '
          f'{zmb / t["tiktoken"]:.2f} MB/s = {t["tiktoken"] / t["ours"]:.0%} of tiktoken (same {len(o["ours"]):,} ids)')
    ratios['encode_time_ours_cold_over_tiktoken_chinese'] = t['ours'] / t['tiktoken']

    rx = _compile_pattern(GPT2_PATTERN)
    t, o = timed({'regex': lambda: rx.findall(text), 'limit': lambda: _findall(rx, text, False),
                  're': lambda: gpt2._split(text)}, a.repeat)
    assert o['regex'] == o['limit'] == o['re']
    print(f'pre-tokenizer alone, Tiny Shakespeare: regex {t["regex"]:.3f} s | regex under a time limit {t["limit"]:.3f} s | '
          f'stdlib re (ours) {t["re"]:.3f} s = {t["regex"] / t["re"]:.2f}x faster than regex (same {len(o["re"]):,} '
          f'pre-tokens); building the re pattern, once per process: {t_re_build:.3f} s')
    ratios['split_time_re_over_regex'] = t['re'] / t['regex']

    guarded = BPETokenizer(gpt2.ranks, f'(?:{GPT2_PATTERN})', gpt2.special_tokens)  # same matches, not one of ours
    assert guarded._trusted is False and gpt2._trusted is True
    def cold_guarded(): guarded._cache.clear(); return guarded.encode(text)
    def cold_builtin(): gpt2._cache.clear(); return gpt2.encode(text)
    t, o = timed({'builtin': cold_builtin, 'guarded': cold_guarded}, a.repeat)
    assert o['guarded'] == ids
    print(f'ours, cleared cache, a pattern not ours (matched under a time limit) {mb / t["guarded"]:6.2f} MB/s: '
          f'{t["guarded"] / t["builtin"]:.2f}x the time with the built-in pattern (which takes the stdlib re route)')
    ratios['encode_time_guarded_pattern_over_builtin'] = t['guarded'] / t['builtin']
    print(load_line() + '\n')
    for k, v in ratios.items(): print(f'RATIO {k}={v:.3f}')

if __name__ == '__main__': main()
