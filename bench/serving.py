"""Serving: continuous batching vs serving one request at a time, at 1, 4, 8 and 16 concurrent clients.

    python bench/serving.py                  # the course's char-level Shakespeare model (models/shakespeare-char)
    python bench/serving.py --quick          # fewer requests (a smoke run: `make bench`)
    python bench/serving.py --real           # SmolLM2-135M-Instruct (chapter 06a), chat prompts; slow on a CPU
    python bench/serving.py --http           # through the HTTP server and streaming clients instead of the engine

Each client is a thread that sends `--requests` greedy requests one after another (a closed loop) and waits for each.
"One at a time" is the same engine with one KV-cache slot (`max_batch=1`): a request runs to its end before the next
starts. "Batched" has a slot per client. Reported per setting: throughput (completion tokens / wall time), p50/p95
time to first token (TTFT) and p50/p95 latency (request sent -> last token). The answers of both modes are checked to
be identical (greedy) before any number is printed. Headline: `RATIO throughput_batched_over_one_c8=...` (goal >= 3).
"""
import argparse, json, statistics, sys, threading, time
from pathlib import Path
import torch

ROOT = Path(__file__).resolve().parents[1]
PROMPTS = ['ROMEO:\n', 'First Citizen:\nWe are', 'To be, or not', 'KING HENRY:\n', 'O, what a', 'My lord,', 'HAMLET:\nThe time is',
           'Good morrow', 'What say you', 'Nay, but', 'Come, come', 'MENENIUS:\nWhy', 'Speak, speak', 'Well, sir', 'Alas', 'JULIET:\n']
QUESTIONS = ['What is the capital of France?', 'Name three colors.', 'Why is the sky blue?', 'Write a haiku about rain.',
             'What is 12 times 7?', 'Give me a word that rhymes with cat.', 'Who wrote Hamlet?', 'What do bees make?']

def pct(xs, q): return statistics.quantiles(xs, n=100, method='inclusive')[q - 1] if len(xs) > 1 else xs[0]

def run_engine(engine, prompts, clients, requests, max_tokens):
    "Closed-loop clients on the engine directly: (wall seconds, per-request records)."
    from llm_nb.engine import Sequence, SamplingParams
    recs, go = [], threading.Barrier(clients)
    def client(c):
        go.wait()
        for r in range(requests):
            k = (c * requests + r)
            s = engine.submit([Sequence(prompts[k % len(prompts)], SamplingParams(max_tokens=max_tokens[k % len(max_tokens)], temperature=0))])[0]
            s.result(600)
            recs.append(dict(key=k, tokens=len(s.tokens), text=s.text, ttft=s.t_first - s.t_arrive, latency=s.t_end - s.t_arrive))
    ts = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    t = time.perf_counter()
    for th in ts: th.start()
    for th in ts: th.join()
    return time.perf_counter() - t, recs

def run_http(url, texts, clients, requests, max_tokens):
    "Closed-loop streaming HTTP clients (httpx): (wall seconds, per-request records)."
    import httpx
    recs, go = [], threading.Barrier(clients)
    def client(c):
        go.wait()
        with httpx.Client(timeout=600) as h:
            for r in range(requests):
                k = c * requests + r
                t0, first, text = time.perf_counter(), None, ''
                with h.stream('POST', url + '/v1/completions', json=dict(prompt=texts[k % len(texts)], max_tokens=max_tokens[k % len(max_tokens)],
                                                                          temperature=0, stream=True)) as resp:
                    for line in resp.iter_lines():
                        if not line.startswith('data: {'): continue
                        piece = json.loads(line[6:])['choices'][0]['text']
                        if piece and first is None: first = time.perf_counter()
                        text += piece
                end = time.perf_counter()
                recs.append(dict(key=k, tokens=None, text=text, ttft=(first or end) - t0, latency=end - t0))
    ts = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    t = time.perf_counter()
    for th in ts: th.start()
    for th in ts: th.join()
    return time.perf_counter() - t, recs

def bench(model, tok, prompts, clients=(1, 4, 8, 16), requests=4, max_tokens=(48, 64, 32, 96), eos=None, http=False, reps=1, log=print):
    "Both modes at each number of clients: a list of result rows (dicts)."
    from llm_nb.engine import Engine, Served
    if http: from llm_nb.serve import create_app, BackgroundServer   # the HTTP layer needs the serve extra (fastapi, uvicorn)
    ids = [tok.encode(p, allowed_special='all') if hasattr(tok, 'special_tokens') else tok.encode(p) for p in prompts]
    rows = []
    for c in clients:
        best, texts = {}, {}
        for rep in range(reps):                                               # modes interleaved; the best of `reps` runs counts
            for mode, slots in (('one at a time', 1), ('batched', c)):
                engine = Engine(model, tok, max_batch=slots, max_queue=4 * max(clients), eos_token_id=eos)
                try:
                    run_engine(engine, ids, min(c, 2), 1, [8])                # warm up
                    if http:
                        served = Served(model, tok, 'bench', eos or [])
                        with BackgroundServer(create_app(served, engine)) as url: wall, recs = run_http(url, prompts, c, requests, max_tokens)
                        for r in recs: r['tokens'] = len(tok.encode(r['text']))    # approximate for BPE: re-encoded text
                    else: wall, recs = run_engine(engine, ids, c, requests, max_tokens)
                finally: engine.shutdown()
                tokens = sum(r['tokens'] for r in recs)
                row = dict(mode=mode, clients=c, requests=len(recs), tokens=tokens, seconds=wall, tokens_per_s=tokens / wall,
                           ttft_p50=pct([r['ttft'] for r in recs], 50), ttft_p95=pct([r['ttft'] for r in recs], 95),
                           latency_p50=pct([r['latency'] for r in recs], 50), latency_p95=pct([r['latency'] for r in recs], 95))
                texts.setdefault(mode, {r['key']: r['text'] for r in recs})
                if texts[mode] != {r['key']: r['text'] for r in recs}: raise SystemExit(f'{mode}: answers differ between runs')
                if mode not in best or row['tokens_per_s'] > best[mode]['tokens_per_s']: best[mode] = row
        if texts['one at a time'] != texts['batched']: raise SystemExit(f'answers differ between the modes at {c} clients')
        best['batched']['speedup'] = best['batched']['tokens_per_s'] / best['one at a time']['tokens_per_s']
        for mode in ('one at a time', 'batched'):
            row = best[mode]; rows.append(row)
            log(f"{mode:>13}  clients {c:2d}  {row['tokens_per_s']:7.1f} tok/s  TTFT p50 {row['ttft_p50']*1000:6.0f} ms  p95 {row['ttft_p95']*1000:6.0f} ms"
                f"  latency p50 {row['latency_p50']:6.2f} s  p95 {row['latency_p95']:6.2f} s" + (f"  {row['speedup']:.2f}x" if 'speedup' in row else ''))
    return rows

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--real', action='store_true', help='SmolLM2-135M-Instruct instead of the small char model')
    ap.add_argument('--http', action='store_true', help='through the HTTP server (streaming clients)')
    ap.add_argument('--quick', action='store_true', help='fewer requests and tokens')
    ap.add_argument('--clients', default='1,4,8,16')
    ap.add_argument('--requests', type=int, default=None, help='requests per client (default 4, --quick 2, --real 1)')
    ap.add_argument('--max-tokens', default=None, help='comma-separated, cycled over requests (default 48,64,32,96)')
    ap.add_argument('--reps', type=int, default=None, help='runs per mode and setting, best kept (default 2, --quick 1)')
    ap.add_argument('--threads', type=int, default=None, help='torch threads (default: torch\'s)')
    ap.add_argument('--json', help='write the rows here')
    a = ap.parse_args(argv)
    if a.threads: torch.set_num_threads(a.threads)
    sys.path.insert(0, str(ROOT))
    from llm_nb.engine import load_served
    if a.real:
        sv = load_served('smollm2-135m-instruct')
        prompts = [sv.tokenizer.decode(sv.chat_prompt([{'role': 'user', 'content': q}])) for q in QUESTIONS]
        requests, max_tokens = a.requests or 1, [int(x) for x in (a.max_tokens or '24,32').split(',')]
    else:
        sv = load_served(str(ROOT/'models'/'shakespeare-char'))
        prompts = PROMPTS
        requests = a.requests or (2 if a.quick else 4)
        max_tokens = [int(x) for x in (a.max_tokens or ('32,48,24,64' if a.quick else '48,64,32,96')).split(',')]
    clients = [int(c) for c in a.clients.split(',')]
    print(f'model {sv.name} | torch threads {torch.get_num_threads()} | {requests} requests per client | max_tokens {max_tokens}'
          f" | {'HTTP streaming' if a.http else 'engine'}")
    rows = bench(sv.model, sv.tokenizer, prompts, clients, requests, max_tokens, sv.eos_token_id, a.http, a.reps or (1 if a.quick or a.real else 2))
    print('answers identical in both modes (greedy): yes')
    for r in rows:
        if 'speedup' in r: print(f"RATIO throughput_batched_over_one_c{r['clients']}={r['speedup']:.2f}")
    if a.json: Path(a.json).write_text(json.dumps(dict(model=sv.name, threads=torch.get_num_threads(), rows=rows), indent=1))

if __name__ == '__main__': main()
