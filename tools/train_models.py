"""Train the course's own models (issue #18) in one go: the Tang-poem character GPT and the two English→French
translators (Transformer and LSTM + attention, same budget), evaluate each on held-out data and write them out.

FOR THE LEAD: the device command (one H200, about 4-6 minutes; from the repository root, after
`rm -rf .gpu_data && cp -r /work/shared/data .gpu_data && chmod -R u+w .gpu_data` here; .gpu_data/ is git-ignored):

    run(kind="nvidia-h200", timeout_s=560, carry=[".gpu_data"], command=
        "set -o pipefail; PYTHONUNBUFFERED=1 LLM_NB_DATA=.gpu_data python3 tools/train_models.py --device cuda "
        "--out /tmp/trained --pack $OUT 2>&1 | tee $OUT/train.log")

It needs only torch, numpy, safetensors, tqdm and regex (no fastcore/nbdev/ipywidgets/gguf). What comes back
under files_at: train.log, summary.json (every figure) and trained.tar.partNN (the models, split in 15 MiB parts to
pass the 16 MiB-per-file limit; re-packed after each model, so a run stopped at its limit keeps the finished ones).
Expected on an H200: Tang ~1-1.5 min (3,000 steps), Transformer ~1 min and LSTM ~1.5 min (2,840 steps each),
evaluation included; the log prints every 5 % with timestamps. Then, here:

    python tools/ship_model.py --trained FILES_AT --hardware "one NVIDIA H200 (...)" --commit SHA

unpacks them, re-measures every figure on the CPU from the shipped float16 weights and writes models/tang-char,
models/translation-en-fr-transformer and models/translation-en-fr-lstm with their cards.
`--only tang` (or `transformer`, `lstm`, comma-separated) trains a subset; the CPU check of the whole pipeline is

    python tools/train_models.py --device cpu --tiny --out /tmp/trained-tiny --pack /tmp/trained-tiny-pack

(tiny models, a few dozen steps: about a minute, figures meaningless).

Each model's folder in --out: model.safetensors (float16), config.json (model class and config, data, recipe),
tokenizer.txt, manifest.json (so `llm_nb.runs.load_model(folder)` loads it), metrics.json (held-out figures,
wall time, device), curve.csv (training curve: step, tokens or pairs, wall seconds, losses) and samples.txt.
"""
import argparse, copy, csv, hashlib, io, json, os, platform, subprocess, sys, tarfile, tempfile, time, traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))                      # the checkout's llm_nb, also where it is not installed
if not os.environ.get('LLM_NB_DATA') and (ROOT/'.gpu_data').is_dir(): os.environ['LLM_NB_DATA'] = str(ROOT/'.gpu_data')

import torch                                                                      # noqa: E402
from safetensors.torch import save_model                                          # noqa: E402
from llm_nb.core import seed_everything                                           # noqa: E402
from llm_nb.data import load                                                      # noqa: E402
from llm_nb.lmdata import evaluate                                                # noqa: E402
from llm_nb.training import Trainer                                               # noqa: E402
from llm_nb.runs import build_run, load_model, tokenizer_text, sample_poems, form_share   # noqa: E402
from llm_nb.encoder_decoder import Seq2SeqTransformer, Seq2SeqConfig              # noqa: E402
from llm_nb.seq2seq import (split_pairs, reference_groups, train_tokenizer, TranslationPairs, BahdanauSeq2Seq,  # noqa: E402
                            noam_lr, train_seq2seq, translate, evaluate_translation)

FILES = ('model.safetensors', 'config.json', 'tokenizer.txt')

# ------------------------------------------------------------------------------------------------ the settings
# Full size (GPU) and tiny (CPU check). Tang: the 'tang-char-gpu' recipe of llm_nb.runs, with overrides for tiny.
TANG_TINY = dict(n_layer=2, n_head=2, n_embd=64, max_steps=30, batch_size=8, block_size=128, eval_interval=15,
                 eval_windows=16, warmup_steps=5, dtype='float32')
MT = dict(  # translation: the same budget (epochs x batch) for both models
    full=dict(epochs=40, batch_size=64, vocab=1000,
              transformer=dict(n_layer=3, n_head=4, n_embd=256, d_ff=1024, dropout=0.3, norm_position='pre', block_size=64),
              noam=dict(warmup=400, factor=0.5),
              lstm=dict(emb_dim=256, hidden=256, attn_dim=256, dropout=0.3), lstm_lr=2e-3),
    tiny=dict(epochs=1, batch_size=32, vocab=400, n_train=320, n_test=24,
              transformer=dict(n_layer=1, n_head=2, n_embd=32, d_ff=64, dropout=0.1, norm_position='pre', block_size=64),
              noam=dict(warmup=5, factor=1.0),
              lstm=dict(emb_dim=32, hidden=32, attn_dim=32, dropout=0.1), lstm_lr=3e-3),
)
PROBE = 'How are you?'

def log(*a): print(f'[{time.strftime("%H:%M:%S")}]', *a, flush=True)

def sha256(p): return hashlib.sha256(Path(p).read_bytes()).hexdigest()

def git_commit():
    try: return subprocess.run(['git', 'rev-parse', 'HEAD'], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip() or 'unknown'
    except Exception: return 'unknown'

def device_name(dev):
    if dev.type == 'cuda': return torch.cuda.get_device_name(dev)
    return f'CPU ({platform.machine()}, {torch.get_num_threads()} threads)'

def half_copy(model):
    "The model with its weights rounded to float16 and back (what the shipped file holds, as it is loaded)."
    m = copy.deepcopy(model)
    with torch.no_grad():
        for p in m.parameters(): p.copy_(p.half().float())
    return m.eval()

def write_folder(folder, model, config, tok, metrics, curve_rows, curve_header, samples):
    "model.safetensors (float16), config.json, tokenizer.txt, manifest.json, metrics.json, curve.csv, samples.txt."
    folder = Path(folder); folder.mkdir(parents=True, exist_ok=True)
    save_model(copy.deepcopy(model).cpu().half(), str(folder/'model.safetensors'), metadata={'format': 'pt'})
    (folder/'config.json').write_text(json.dumps(config, indent=1, default=str) + '\n', encoding='utf-8')
    (folder/'tokenizer.txt').write_text(tokenizer_text(tok), encoding='utf-8')
    manifest = {f: dict(sha256=sha256(folder/f), size=(folder/f).stat().st_size) for f in FILES}
    (folder/'manifest.json').write_text(json.dumps(manifest, indent=1) + '\n', encoding='utf-8')
    (folder/'metrics.json').write_text(json.dumps(metrics, indent=1, ensure_ascii=False) + '\n', encoding='utf-8')
    with open(folder/'curve.csv', 'w', newline='') as f:
        w = csv.writer(f); w.writerow(curve_header); w.writerows(curve_rows)
    (folder/'samples.txt').write_text(samples, encoding='utf-8')
    loaded, tok2, _ = load_model(folder, device='cpu')                       # it loads back, as a user loads it
    assert sum(p.numel() for p in loaded.parameters()) == metrics['params']
    return folder

# ------------------------------------------------------------------------------------------------ Tang poems
def train_tang(args, dev, out):
    overrides = dict(device=str(dev), seed=args.seed, **(TANG_TINY if args.tiny else {}))
    if not args.tiny and dev.type != 'cuda': overrides['dtype'] = 'float32'
    run = build_run('tang-char-gpu', overrides)
    model, tok, data, cfg = run['model'], run['tokenizer'], run['data'], run['cfg']
    params = sum(p.numel() for p in model.parameters())
    log(f'tang-char: {data}, {params:,} parameters, {cfg.max_steps} steps of {cfg.batch_size} x {cfg.block_size}, dtype {cfg.dtype}')
    t0, wall = time.perf_counter(), {}
    def report(trainer, event, info):
        wall[info['step']] = time.perf_counter() - t0
        if event == 'eval': log(f"  step {info['step']:5d}  val loss {info['loss']:.4f}")
        elif info['step'] % max(cfg.max_steps // 20, 1) == 0:
            log(f"  step {info['step']:5d}  loss {info['loss']:.4f}  {info['tok_s']:,.0f} tok/s  ({wall[info['step']]:.0f} s)")
    with tempfile.TemporaryDirectory() as d:
        tr = Trainer(model, data, cfg, out_dir=Path(d)/'run', meta=run['meta'], progress=False, callbacks=[report],
                     extra_files=run['extra_files'])
        tr.fit()
        seconds = time.perf_counter() - t0
        best, _, ckpt_cfg = load_model(Path(d)/'run', 'best', device=dev)
    T = cfg.block_size
    windows = 64 if args.tiny else None                               # None: every window of the validation split
    ev = lambda m: evaluate(m, data.val, T, batch_size=64, max_windows=windows, tokens_per_byte=data.val_tokens_per_byte)
    fp32 = ev(best); shipped = half_copy(best); fp16 = ev(shipped)
    log(f"tang-char: {seconds:.0f} s; best step {ckpt_cfg['step']}, held-out loss {fp32['loss']:.4f} (float16 weights {fp16['loss']:.4f})")
    n_poems = 10 if args.tiny else 50
    poems = sample_poems(shipped, tok, n=n_poems, temperature=0.8, seed=0)
    share = form_share(poems)
    log(f"tang-char: {share['five'] + share['seven']} of {share['n']} sampled poems in the regular form "
        f"({share['five']} five-, {share['seven']} seven-character): {share['share']:.0%} (goal >= 80%)")
    metrics = dict(name='tang-char', task='poems', params=params, steps=cfg.max_steps, best_step=ckpt_cfg['step'],
                   tokens_per_step=cfg.tokens_per_step, tokens_seen=ckpt_cfg['step'] * cfg.tokens_per_step,
                   train_chars=len(data.train), val_chars=len(data.val), vocab_size=data.vocab_size, block_size=T,
                   val_loss_fp32=fp32['loss'], val_loss=fp16['loss'], val_bits_per_byte=fp16['bpb'],
                   val_windows='all' if windows is None else windows,
                   form=share, sample=dict(n=n_poems, temperature=0.8, seed=0, n_lines=4),
                   train_seconds=seconds, device=device_name(dev), dtype=str(tr.dtype).replace('torch.', ''))
    val = dict(tr.history['val'])
    rows = [[s, s * cfg.tokens_per_step, f'{wall.get(s, float("nan")):.1f}', f'{l:.4f}', f'{val[s]:.4f}' if s in val else '']
            for s, l in tr.history['train']]
    config = dict(ckpt_cfg, format='llm_nb-model/1')
    return write_folder(out/'tang-char', shipped, config, tok, metrics, rows,
                        ['step', 'tokens', 'seconds', 'train_loss', 'val_loss'], '\n\n'.join(poems[:10]) + '\n')

# ------------------------------------------------------------------------------------------------ translation
def norm_fr(s): return ' '.join(s.replace('\u202f', ' ').replace('\u00a0', ' ').split())

def translation_data(args):
    s = MT['tiny' if args.tiny else 'full']
    pairs = load('eng-fra')
    train_pairs, test_pairs = split_pairs(pairs)                   # chapter 09's split: 'How are you?' is held out
    test_src, test_refs = reference_groups(test_pairs)
    if args.tiny:
        train_pairs = train_pairs[:s['n_train']]
        keep = [i for i, x in enumerate(test_src) if x == PROBE] + list(range(s['n_test'] - 1))
        test_src, test_refs = [test_src[i] for i in keep], [test_refs[i] for i in keep]
    t0 = time.perf_counter(); tok = train_tokenizer(train_pairs, s['vocab'])
    log(f'eng-fra: {len(train_pairs)} training pairs, {len(test_src)} held-out English sentences ({len(test_pairs)} pairs); '
        f'BPE of {tok.vocab_size} tokens in {time.perf_counter() - t0:.1f} s')
    return dict(train=train_pairs, test_src=test_src, test_refs=test_refs, n_test_pairs=len(test_pairs), tok=tok)

def train_translator(kind, args, dev, out, td):
    s = MT['tiny' if args.tiny else 'full']
    tok = td['tok']; V = tok.vocab_size
    ds = TranslationPairs(td['train'], tok)
    seed_everything(args.seed)
    if kind == 'transformer':
        mcfg = dict(vocab_size=V, **s['transformer'])
        model = Seq2SeqTransformer(Seq2SeqConfig(**mcfg)); desc = dict(cls='Seq2SeqTransformer', config=mcfg)
        d, w, f = mcfg['n_embd'], s['noam']['warmup'], s['noam']['factor']
        lr, lr_desc = (lambda step: noam_lr(step, d, w, factor=f)), f'noam_lr(step, d_model={d}, warmup={w}, factor={f}) (peak {noam_lr(w, d, w, f):.2e})'
    else:
        mcfg = dict(vocab_size=V, pad_id=tok.pad_id, **s['lstm'])
        model = BahdanauSeq2Seq(**mcfg); desc = dict(cls='BahdanauSeq2Seq', config=mcfg)
        lr, lr_desc = s['lstm_lr'], f"constant {s['lstm_lr']}"
    name = f'translation-en-fr-{"transformer" if kind == "transformer" else "lstm"}'
    params = sum(p.numel() for p in model.parameters())
    steps = s['epochs'] * -(-len(ds) // s['batch_size'])
    log(f'{name}: {params:,} parameters, {s["epochs"]} epochs x {-(-len(ds) // s["batch_size"])} steps of {s["batch_size"]} pairs = {steps} steps')
    model.to(dev)
    res = train_seq2seq(model, ds, epochs=s['epochs'], batch_size=s['batch_size'], lr=lr, label_smoothing=0.1,
                        seed=args.seed, pad_id=tok.pad_id, log_every=max(steps // 20, 1))
    log(f'{name}: {res.steps} steps in {res.seconds:.0f} s, last loss {res.losses[-1]:.3f}')
    shipped = half_copy(model)
    scores = {}
    for beam in (1, 4):
        hyp = translate(shipped, tok, td['test_src'], beam=beam, max_len=48)
        scores[f'beam{beam}'] = dict(evaluate_translation(hyp, td['test_refs']), hyps=hyp)
    hyp32 = translate(model.eval(), tok, td['test_src'], beam=1, max_len=48)
    fp32 = evaluate_translation(hyp32, td['test_refs'])
    refs_of = dict(zip(td['test_src'], td['test_refs']))
    probe = {f'beam{b}': translate(shipped, tok, [PROBE], beam=b, max_len=48)[0] for b in (1, 4)}
    ok = {k: norm_fr(v) in {norm_fr(r) for r in refs_of[PROBE]} for k, v in probe.items()}
    g, b4 = scores['beam1'], scores['beam4']
    log(f"{name}: held-out BLEU {g['bleu']:.2f} / chrF {g['chrf']:.2f} greedy, {b4['bleu']:.2f} / {b4['chrf']:.2f} beam 4 "
        f"(goal BLEU >= 10, chrF >= 35); {PROBE!r} -> {probe['beam1']!r} greedy ({'correct' if ok['beam1'] else 'wrong'}), "
        f"{probe['beam4']!r} beam 4 ({'correct' if ok['beam4'] else 'wrong'})")
    metrics = dict(name=name, task='translation', params=params, steps=res.steps, epochs=s['epochs'], batch_size=s['batch_size'],
                   train_pairs=len(td['train']), test_sentences=len(td['test_src']), test_pairs=td['n_test_pairs'],
                   vocab_size=V, lr=lr_desc, label_smoothing=0.1,
                   bleu=g['bleu'], chrf=g['chrf'], bleu_beam4=b4['bleu'], chrf_beam4=b4['chrf'],
                   bleu_fp32=fp32['bleu'], chrf_fp32=fp32['chrf'], probe=dict(source=PROBE, refs=refs_of[PROBE], **probe,
                   correct=ok), final_train_loss=res.losses[-1], train_seconds=res.seconds, device=device_name(dev))
    config = dict(format='llm_nb-model/1', model=desc, data=dict(name='eng-fra', split="llm_nb.seq2seq.split_pairs(load('eng-fra'))"),
                  tokenizer=dict(kind='bpe', vocab_size=V, trained_on='the training pairs (English and French)'),
                  train=dict(epochs=s['epochs'], batch_size=s['batch_size'], lr=lr_desc, label_smoothing=0.1,
                             betas=[0.9, 0.98], clip=1.0, seed=args.seed, steps=res.steps))
    per = res.seconds / max(res.steps, 1)
    rows = [[i + 1, (i + 1) * s['batch_size'], f'{(i + 1) * per:.1f}', f'{l:.4f}', f'{r:.3e}']
            for i, (l, r) in enumerate(zip(res.losses, res.lrs))]
    show = [PROBE] + [x for x in td['test_src'] if x != PROBE][:15]
    idx = {x: i for i, x in enumerate(td['test_src'])}
    samples = '\n'.join(f"{x}\n   refs:   {' | '.join(refs_of[x])}\n   greedy: {g['hyps'][idx[x]]}\n   beam 4: {b4['hyps'][idx[x]]}"
                        for x in show) + '\n'
    return write_folder(out/name, shipped, config, tok, metrics, rows, ['step', 'pairs', 'seconds', 'train_loss', 'lr'], samples)

# ------------------------------------------------------------------------------------------------ main
def pack(out, dest, part=15 * 2**20):
    "out/ as a tar split into parts of at most `part` bytes (dest/trained.tar.partNN), plus dest/summary.json."
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w') as t: t.add(out, arcname='trained')
    data = buf.getvalue(); dest = Path(dest); dest.mkdir(parents=True, exist_ok=True)
    for old in dest.glob('trained.tar.part*'): old.unlink()
    for i in range(0, len(data), part): (dest/f'trained.tar.part{i // part:02d}').write_bytes(data[i:i + part])
    (dest/'summary.json').write_bytes((Path(out)/'summary.json').read_bytes())
    log(f'packed {len(data) / 2**20:.1f} MiB into {-(-len(data) // part)} part(s) in {dest}')

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--device', default='cuda'); ap.add_argument('--out', required=True)
    ap.add_argument('--tiny', action='store_true', help='tiny models and a few steps: the CPU check of the pipeline')
    ap.add_argument('--only', default='tang,transformer,lstm')
    ap.add_argument('--pack', default=None, help='also write the results as trained.tar.partNN (<= 15 MiB each) here')
    ap.add_argument('--seed', type=int, default=1337)
    args = ap.parse_args()
    only = set(args.only.split(','))
    if only - {'tang', 'transformer', 'lstm'}: ap.error(f'--only takes tang, transformer, lstm; got {args.only}')
    dev = torch.device(args.device)
    if dev.type == 'cuda':
        torch.backends.cuda.matmul.allow_tf32 = True; torch.backends.cudnn.allow_tf32 = True
    else: torch.set_num_threads(1 if args.tiny else min(8, os.cpu_count() or 1))
    out = Path(args.out); out.mkdir(parents=True, exist_ok=True)
    info = dict(device=device_name(dev), torch=torch.__version__, python=platform.python_version(), commit=git_commit(),
                tiny=args.tiny, seed=args.seed, started=time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime()))
    log(f"train_models: {info}; data from {os.environ.get('LLM_NB_DATA')}")
    t0 = time.perf_counter(); summary = dict(info=info, models={})
    def save_summary():
        summary['total_seconds'] = time.perf_counter() - t0
        (out/'summary.json').write_text(json.dumps(summary, indent=1, ensure_ascii=False) + '\n', encoding='utf-8')
    def attempt(name, fn):                            # one model failing must not cost the others
        try:
            f = fn(); summary['models'][f.name] = json.loads((f/'metrics.json').read_text(encoding='utf-8'))
        except Exception:
            log(f'{name} FAILED:\n{traceback.format_exc()}'); summary.setdefault('failed', {})[name] = traceback.format_exc()
        save_summary()
        if args.pack: pack(out, args.pack)            # after each model: a run stopped at its time limit keeps the finished ones
    if 'tang' in only: attempt('tang-char', lambda: train_tang(args, dev, out))
    if only & {'transformer', 'lstm'}:
        td = translation_data(args)
        for kind in ('transformer', 'lstm'):
            if kind in only: attempt(kind, lambda: train_translator(kind, args, dev, out, td))
    log(f'done in {summary["total_seconds"]:.0f} s: {", ".join(summary["models"])} in {out}'
        + (f'; FAILED: {", ".join(summary["failed"])}' if summary.get('failed') else ''))
    if args.pack: pack(out, args.pack)
    if summary.get('failed'): sys.exit(1)

if __name__ == '__main__': main()
