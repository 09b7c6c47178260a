"""`torch.compile` on the CPU against eager PyTorch: a training step and cached greedy decoding, with the compile time.

    python bench/compile.py [--steps 30] [--new 48] [--threads 1]

Training: the `shakespeare-char` run (4 layers, width 128, batch 12 x 64) with `TrainConfig.compile` off and on.
Decoding: the same model shape with a 256-token context, greedy `generate` with the KV cache, the model's `forward`
compiled with dynamic shapes (the cache grows by one position a step) against the eager one; the ids must agree.

Fair in four ways: eager and compiled run interleaved (blocks of --block training steps, or one generation, in turn),
on --threads threads (pinned), timed in process CPU time, with the load average printed. The compile time is the
CPU time of the first compiled call(s) beyond an eager call of the same work, with Inductor's C++ builds done in this
process (plus the CPU time of the C++ compiler it runs) and its on-disk cache empty (a fresh temporary folder; --warm-cache keeps the usual one, as a rerun would). Ratios: `time_eager_over_compiled`
(> 1: compiling wins in steady state); the verdict weighs it against the compile time over the run's length.
"""
import argparse, os, statistics, sys, tempfile, time
from pathlib import Path
if '--warm-cache' not in sys.argv:   # a fresh Inductor cache: the compile time a new machine (or a CI runner) pays
    os.environ['TORCHINDUCTOR_CACHE_DIR'] = tempfile.mkdtemp(prefix='inductor-')
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import load_line, pin
import torch, torch._inductor.config
from llm_nb.core import seed_everything
from llm_nb.generation import generate
from llm_nb.runs import build_run
from llm_nb.training import Trainer
from llm_nb.transformer import GPT, GPTConfig

def cpu(f):
    "CPU seconds of one call of `f`, and its result."
    t0 = time.process_time(); r = f(); return time.process_time() - t0, r

def cpu_all():
    "CPU seconds of this process and of its finished children (the C++ compiler that Inductor runs)."
    t = os.times(); return time.process_time() + t.children_user + t.children_system

def cpu_wall(f):
    "CPU seconds (children included) and wall seconds of one call of `f`."
    t0, w0 = cpu_all(), time.perf_counter(); f(); return cpu_all() - t0, time.perf_counter() - w0

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--steps', type=int, default=30, help='training steps each (after the first block)')
    ap.add_argument('--block', type=int, default=5)
    ap.add_argument('--new', type=int, default=48, help='new tokens per generation')
    ap.add_argument('--reps', type=int, default=3, help='generations each')
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--warm-cache', action='store_true', help="keep Inductor's on-disk cache (compile time of a rerun)")
    a = ap.parse_args()
    pin(a.threads)
    torch._inductor.config.compile_threads = 1   # Inductor's C++ builds in this process, so its CPU time counts them
    print(f'torch {torch.__version__}, {torch.get_num_threads()} thread(s), process CPU time'); print(load_line())
    # --- training step
    tr = {}
    for name, comp in [('eager', False), ('compiled', True)]:
        seed_everything(1337)
        run = build_run('shakespeare-char', dict(max_steps=10**6, device='cpu', dtype='float32', compile=comp,
                                                eval_interval=10**9, log_interval=10**9))
        tr[name] = Trainer(run['model'], run['data'], run['cfg'], progress=False)
    first = {n: cpu_wall(lambda t=t: t.fit(until=a.block)) for n, t in tr.items()}   # the compiled one compiles here
    ts = {n: [] for n in tr}
    for k in range(a.block, a.block + a.steps, a.block):
        for n, t in tr.items(): ts[n].append(cpu(lambda t=t: t.fit(until=k + a.block))[0] / a.block)
    step = {n: statistics.median(v) for n, v in ts.items()}
    compile_s, compile_w = (first['compiled'][i] - first['eager'][i] for i in (0, 1))
    sp = step['eager'] / step['compiled']
    gain = step['eager'] - step['compiled']
    print(f'training step: eager {step["eager"] * 1e3:.1f} ms CPU, compiled {step["compiled"] * 1e3:.1f} ms CPU '
          f'-> {sp:.2f}x; compile time {compile_s:.1f} s CPU ({compile_w:.1f} s wall)'
          + (f', paid back after {compile_s / gain:,.0f} steps' if gain > 0 else ', never paid back'))
    # --- cached greedy decoding
    seed_everything(0)
    cfg = GPTConfig(n_layer=4, n_head=4, n_embd=128, block_size=256, vocab_size=65, dropout=0.0, bias=False)
    eager = GPT(cfg).eval()
    comp = GPT(cfg).eval(); comp.load_state_dict(eager.state_dict())
    comp.forward = torch.compile(comp.forward, dynamic=True)
    prompt = torch.randint(0, 65, (1, 16), generator=torch.Generator().manual_seed(0))
    gen = {'eager': lambda: generate(eager, prompt, a.new, temperature=0),
           'compiled': lambda: generate(comp, prompt, a.new, temperature=0)}
    first, w0 = {}, {}
    with torch.no_grad():
        for n, f in gen.items():
            w0[n], c0 = time.perf_counter(), cpu_all(); first[n] = (None, f()); w0[n] = time.perf_counter() - w0[n]
            first[n] = (cpu_all() - c0, first[n][1])
        assert torch.equal(first['eager'][1], first['compiled'][1]), 'compiled decoding gave other ids'
        ts = {n: [] for n in gen}
        for _ in range(a.reps):
            for n, f in gen.items(): ts[n].append(cpu(f)[0])
    dec = {n: statistics.median(v) for n, v in ts.items()}
    compile_d, compile_dw = first['compiled'][0] - first['eager'][0], w0['compiled'] - w0['eager']
    sd = dec['eager'] / dec['compiled']
    gain_tok = (dec['eager'] - dec['compiled']) / a.new
    print(f'cached greedy decoding, {a.new} tokens after 16: eager {dec["eager"] / a.new * 1e3:.2f} ms/token CPU, '
          f'compiled {dec["compiled"] / a.new * 1e3:.2f} ms/token -> {sd:.2f}x; compile time {compile_d:.1f} s CPU '
          f'({compile_dw:.1f} s wall)' + (f', paid back after {compile_d / gain_tok:,.0f} tokens' if gain_tok > 0 else ''))
    print(load_line())
    print('verdict: compile by default only where the steady-state gain pays back the compile time within a typical run')
    print(f'RATIO train_step_time_eager_over_compiled={sp:.3f}')
    print(f'RATIO decode_time_eager_over_compiled={sd:.3f}')
    print(f'RATIO compile_seconds_train={compile_s:.1f}')
    print(f'RATIO compile_seconds_decode={compile_d:.1f}')

if __name__ == '__main__': main()
