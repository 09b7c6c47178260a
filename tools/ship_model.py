"""Turn a finished training run into a model the course keeps: `models/NAME/` with weights, config, tokenizer,
a model card and the training curve.

    python tools/ship_model.py RUN_DIR NAME --recipe "llm_nb train ..." --commit SHA --wall "1 h 27 min" --hardware "..."
    python tools/ship_model.py --trained DIR --hardware "..." [--commit SHA]

The second form ships what `tools/train_models.py` wrote (DIR is its --out folder, or the folder holding its
--pack parts trained.tar.partNN): models/tang-char, models/translation-en-fr-transformer and
models/translation-en-fr-lstm, every card figure re-measured here on the CPU from the shipped float16 weights
(see `ship_trained`); the device's own figures are kept in config.json under `trained`.

What it does, all measured here (nothing in the card is typed by hand):
- loads the run's best checkpoint, evaluates the validation loss on the whole validation split in float32;
- stores the weights in float16 when that changes the validation loss by less than 1e-3 nats (else float32), and
  evaluates the stored weights again: that figure is the card's, and `tests/test_models.py` recomputes it;
- writes config.json (the checkpoint's, with the figures under `card`), tokenizer.txt, a manifest of SHA-256s
  (the checkpoint format, so `load_model(models/NAME)` loads it), curve.csv (step, tokens, train and val loss)
  and README.md (the card, with samples).
"""
import argparse, copy, csv, hashlib, io, json, shutil, tarfile, tempfile
from pathlib import Path
import torch
from safetensors.torch import save_model
from llm_nb.core import seed_everything
from llm_nb.data import load_text
from llm_nb.lmdata import LMData, evaluate
from llm_nb.checkpoint import verify_checkpoint, find_checkpoint
from llm_nb.runs import load_model
from llm_nb.generation import sample_text
from llm_nb.seq2seq import unseen_forms

FILES = ('model.safetensors', 'config.json', 'tokenizer.txt')

def sha256(p): return hashlib.sha256(Path(p).read_bytes()).hexdigest()

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('run', nargs='?'); ap.add_argument('name', nargs='?')
    ap.add_argument('--recipe', help='the exact command that trained it')
    ap.add_argument('--commit', help='the commit of llm_nb that trained it (default for --trained: the one the run recorded)')
    ap.add_argument('--wall', help='wall time of the run, as measured')
    ap.add_argument('--hardware', help='where it was trained (required when shipping)')
    ap.add_argument('--out', default='models')
    ap.add_argument('--trained', help="ship the models of tools/train_models.py from this folder")
    ap.add_argument('--refresh-probe-rows', action='store_true', help="only rewrite the translators' 'How are you?' card rows")
    a = ap.parse_args()
    if a.refresh_probe_rows: return refresh_probe_rows(a.out)
    if not a.hardware: ap.error('--hardware is required')
    if a.trained: return ship_trained(a.trained, a.out, a.hardware, a.commit)
    if not (a.run and a.name and a.recipe and a.commit and a.wall):
        ap.error('a training run needs RUN NAME --recipe --commit --wall (or use --trained DIR)')
    torch.set_num_threads(1)
    folder = find_checkpoint(a.run, 'best')
    cfg = verify_checkpoint(folder)
    model, tok, _ = load_model(folder, device='cpu')
    rec, tcfg = cfg['recipe'], cfg['train']
    data = LMData.from_text(load_text(rec['data']), tok, name=cfg['data']['name'])
    T = tcfg['block_size']
    ev = lambda m: evaluate(m, data.val, T, batch_size=48, tokens_per_byte=data.val_tokens_per_byte)
    fp32 = ev(model)
    sd16 = {k: v.detach().to(torch.float16) for k, v in model.state_dict().items()}
    m16, _, _ = load_model(folder, device='cpu')
    m16.load_state_dict({k: v.float() for k, v in sd16.items()})
    fp16 = ev(m16)
    use16 = abs(fp16['loss'] - fp32['loss']) < 1e-3
    out = Path(a.out)/a.name
    if out.exists(): shutil.rmtree(out)
    out.mkdir(parents=True)
    save_model(copy.deepcopy(model).half() if use16 else model, str(out/'model.safetensors'), metadata={'format': 'pt'})
    shutil.copy(folder/'tokenizer.txt', out/'tokenizer.txt')
    cfg_out = dict(cfg)
    (out/'config.json').write_text(json.dumps(cfg_out, indent=1) + '\n', encoding='utf-8')
    def write_manifest():
        manifest = {f: dict(sha256=sha256(out/f), size=(out/f).stat().st_size) for f in FILES}
        (out/'manifest.json').write_text(json.dumps(manifest, indent=1) + '\n', encoding='utf-8')
    write_manifest()
    shipped = load_model(out, device='cpu')[0]          # the weights exactly as a user loads them
    res = ev(shipped)
    card = dict(name=a.name, val_loss=round(res['loss'], 4), val_bits_per_byte=round(res['bpb'], 4),
                val_windows='all', block_size=T, weights_dtype='float16' if use16 else 'float32',
                val_loss_fp32=round(fp32['loss'], 4), val_loss_fp16=round(fp16['loss'], 4),
                params=sum(p.numel() for p in model.parameters()), step=cfg['step'],
                tokens_seen=cfg['step'] * tcfg['batch_size'] * T * tcfg.get('grad_accum', 1),
                recipe=a.recipe, commit=a.commit, wall_time=a.wall, hardware=a.hardware)
    cfg_out['card'] = card
    (out/'config.json').write_text(json.dumps(cfg_out, indent=1) + '\n', encoding='utf-8')
    write_manifest()
    hist = torch.load(folder/'trainer_state.pt', weights_only=False)['history']
    val = dict((int(s), v) for s, v in hist['val'])
    with open(out/'curve.csv', 'w', newline='') as f:
        w = csv.writer(f); w.writerow(['step', 'tokens', 'train_loss', 'val_loss'])
        steps = sorted({int(s) for s, _ in hist['train']} | set(val))
        train = dict((int(s), v) for s, v in hist['train'])
        for s in steps:
            w.writerow([s, s * tcfg['batch_size'] * T * tcfg.get('grad_accum', 1),
                        f"{train[s]:.4f}" if s in train else '', f"{val[s]:.4f}" if s in val else ''])
    seed_everything(0)
    samples = [sample_text(shipped, tok, p, 240, temperature=0.8, seed=i) for i, p in enumerate(['ROMEO:', 'First Citizen:\n'])]
    mc = model.config
    text = f"""# Model card: {a.name}

A character-level GPT trained by the course on Tiny Shakespeare (chapter 05's recipe `{rec.get('preset', a.name)}`,
scaled up). Every figure below was measured by `tools/ship_model.py` from the weights in this folder.

| | |
|---|---|
| architecture | GPT (pre-norm, learned positions, GELU, tied embeddings, no biases): {mc.n_layer} layers, width {mc.n_embd}, {mc.n_head} heads, context {mc.block_size} |
| parameters | {card['params']:,} |
| data | Tiny Shakespeare (`tinyshakespeare`, public domain), character vocabulary of {mc.vocab_size}; last 10 % of the text (cut at a line end) held out |
| training | {card['step']:,} steps of {tcfg['batch_size']} × {T} characters = {card['tokens_seen']:,} characters (about {card['tokens_seen'] / len(data.train):.0f} epochs), AdamW, lr {tcfg['lr']} → {tcfg['min_lr']} cosine, warm-up {tcfg['warmup_steps']}, weight decay {tcfg['weight_decay']}, dropout {mc.dropout} |
| **held-out loss** | **{card['val_loss']:.4f} nats/char** ({card['val_bits_per_byte']:.4f} bits per byte), every window of the validation split, T = {T} |
| weights | {card['weights_dtype']} (validation loss {card['val_loss_fp32']:.4f} with the float32 weights, {card['val_loss_fp16']:.4f} rounded to float16) |
| wall time | {a.wall} on {a.hardware} |
| trained by | `{a.recipe}` at llm_nb commit `{a.commit[:12]}` |

The goal set for this model was a held-out loss of at most 1.60 (nanoGPT's GPU recipe, 10.7M parameters and
5,000 steps of 16,384 characters, reaches 1.47; its CPU recipe 1.88).

**Retrain it:** run the command above from a checkout of that commit (`LLM_NB_DATA` pointing at the data; add
`--keep_last=10` so that every evaluation's checkpoint is kept, since the run is seeded and its step checkpoints are
reproducible), then
`python tools/ship_model.py runs/... {a.name} ...`. **Load it:** `load_model('models/{a.name}')` returns
`(model, tokenizer, config)`; `tests/test_models.py` recomputes the held-out loss from these weights.

`curve.csv` holds the training loss every {tcfg['log_interval']} steps and the validation loss at each evaluation.

## Samples (temperature 0.8, seeds 0 and 1)

```
{samples[0]}
```

```
{samples[1]}
```
"""
    (out/'README.md').write_text(text, encoding='utf-8')
    print(json.dumps(card, indent=1))

# ------------------------------------------------------------------------------------------ tools/train_models.py
TANG_CHECK_WINDOWS = 64           # the subset of validation windows tests/test_models.py recomputes (fast)
MT_CHECK_SENTENCES = 64           # the held-out sentences tests/test_models.py translates again (fast)

def _source(path):
    "The folder of trained models: `path` itself, its `trained/`, or the tar its --pack parts make (unpacked to a temp dir)."
    path = Path(path)
    parts = sorted(path.glob('trained.tar.part*'))
    if parts:
        tmp = Path(tempfile.mkdtemp(prefix='trained-'))
        with tarfile.open(fileobj=io.BytesIO(b''.join(p.read_bytes() for p in parts))) as t: t.extractall(tmp, filter='data')
        return tmp/'trained'
    return path/'trained' if (path/'trained').is_dir() else path

def _copy_model(src, out):
    "Weights, config and tokenizer of `src` into a fresh `out`, with the training curve; returns the config."
    if out.exists(): shutil.rmtree(out)
    out.mkdir(parents=True)
    for f in (*FILES, 'curve.csv'): shutil.copy(src/f, out/f)
    return json.loads((src/'config.json').read_text(encoding='utf-8'))

def _finish(out, cfg, card):
    "Write config.json with the card, and the manifest over the final files."
    cfg['card'] = card
    (out/'config.json').write_text(json.dumps(cfg, indent=1, ensure_ascii=False) + '\n', encoding='utf-8')
    manifest = {f: dict(sha256=sha256(out/f), size=(out/f).stat().st_size) for f in FILES}
    (out/'manifest.json').write_text(json.dumps(manifest, indent=1) + '\n', encoding='utf-8')

def _mins(s): return f'{s / 60:.1f} min' if s >= 60 else f'{s:.0f} s'

def ship_tang(src, out, hardware, commit):
    "models/tang-char: held-out loss (all windows and the tested subset) and the form share of 50 poems, on the CPU."
    from llm_nb.runs import sample_poems, form_share
    m = json.loads((src/'metrics.json').read_text(encoding='utf-8'))
    cfg = _copy_model(src, out); _finish(out, cfg, {})
    model, tok, _ = load_model(out, device='cpu')
    data = LMData.from_text(load_text(cfg['recipe']['data']), tok, name=cfg['data']['name'])
    T = cfg['train']['block_size']
    full = evaluate(model, data.val, T, batch_size=48, tokens_per_byte=data.val_tokens_per_byte)
    sub = evaluate(model, data.val, T, batch_size=48, max_windows=TANG_CHECK_WINDOWS, tokens_per_byte=data.val_tokens_per_byte)
    sample = dict(n=50, n_lines=4, temperature=0.8, seed=0)
    poems = sample_poems(model, tok, **sample)
    share = form_share(poems)
    mc, tc = model.config, cfg['train']
    card = dict(name='tang-char', task='poems', params=m['params'], val_loss=round(full['loss'], 4),
                val_bits_per_byte=round(full['bpb'], 4), val_windows='all', block_size=T,
                check=dict(val_windows=TANG_CHECK_WINDOWS, val_loss=round(sub['loss'], 4)),
                form=share, form_sample=sample, step=cfg['step'], tokens_seen=m['tokens_seen'],
                weights_dtype='float16', commit=commit or cfg.get('commit', ''), hardware=hardware,
                wall_time=_mins(m['train_seconds']), device_figures=dict(val_loss=m['val_loss'], form=m['form']))
    cfg['trained'] = m; _finish(out, cfg, card)
    good = [p for p in poems if p.count('\n') == 3][:6]
    text = f"""# Model card: tang-char

A character-level GPT trained by the course on Tang-dynasty poems (chapter 05's recipe `tang-char-gpu`,
`llm_nb.runs.RECIPES`). Every figure below was measured by `tools/ship_model.py` on the CPU from the float16
weights in this folder; `tests/test_models.py` recomputes them.

| | |
|---|---|
| architecture | GPT (pre-norm, learned positions, GELU, tied embeddings, no biases): {mc.n_layer} layers, width {mc.n_embd}, {mc.n_head} heads, context {mc.block_size} |
| parameters | {m['params']:,} (the embedding of {mc.vocab_size:,} characters is {mc.vocab_size * mc.n_embd:,} of them) |
| data | `tang-poems`: 全唐诗 (Complete Tang Poems), one couplet per line, 72,514 lines (public domain; from Yunpneg/Tensorflow_CharForLSTM data/poetry.txt); character vocabulary of the whole corpus; last 10 % (cut at a line end) held out |
| training | {m['steps']:,} steps of {tc['batch_size']} × {T} characters, AdamW, lr {tc['lr']} → {tc['min_lr']} cosine, warm-up {tc['warmup_steps']}, weight decay {tc['weight_decay']}, dropout {mc.dropout}, {m['dtype']} autocast; the best evaluation was at step {cfg['step']:,} ({card['tokens_seen']:,} characters, about {card['tokens_seen'] / m['train_chars']:.0f} epochs) |
| **held-out loss** | **{card['val_loss']:.4f} nats/char** ({card['val_bits_per_byte']:.4f} bits per byte), every window of the validation split, T = {T}; {card['check']['val_loss']:.4f} on its first {TANG_CHECK_WINDOWS} evenly spaced windows (the test's subset) |
| **form** | **{share['five'] + share['seven']} of {share['n']} sampled poems ({share['share']:.0%})** have the regular form: four lines, every line a couplet of five characters per verse (or every line of seven) with ， and 。 ({share['five']} five-, {share['seven']} seven-character); goal ≥ 80 % |
| sampling | `sample_poems(model, tok, n=50, n_lines=4, temperature=0.8, seed=0)` after a line break, counted by `form_share` (`llm_nb.runs`) |
| weights | float16 (held-out loss {m['val_loss_fp32']:.4f} with the float32 weights on the device, {m['val_loss']:.4f} rounded to float16) |
| wall time | {card['wall_time']} of training on {hardware} (the device measured {m['val_loss']:.4f} and {m['form']['five'] + m['form']['seven']} of {m['form']['n']} with its own sampling) |
| trained by | `python tools/train_models.py --device cuda --out DIR --only tang` at llm_nb commit `{card['commit'][:12]}` |

**Retrain it:** run that command from a checkout of that commit with `LLM_NB_DATA` pointing at the data, then
`python tools/ship_model.py --trained DIR --hardware "..."`. **Load it:** `load_model('tang-char')` (`llm_nb.runs`)
returns `(model, tokenizer, config)`.

`curve.csv` holds the training loss every 10 steps (with the wall seconds) and the validation loss at each evaluation.

## Poems (the first six of the 50 that have four lines)

""" + '\n\n'.join(f'```\n{p}\n```' for p in good) + '\n'
    (out/'README.md').write_text(text, encoding='utf-8')
    return card

def probe_row(probe, unseen):
    "The card's 'How are you?' row: both outputs, whether each is a reference, and which reference words training never shows."
    verdict = lambda k: 'correct' if probe['correct'][k] else 'not among the references'
    why = (f"; {'the form' if len(unseen) == 1 else 'the forms'} {', '.join(repr(w) for w in unseen)} of the references {'occurs' if len(unseen) == 1 else 'occur'} in no training target (chapter 09 shows why the others were not reached either)"
           if unseen and not all(probe['correct'].values()) else '')
    return (f"| **How are you?** | greedy: {probe['greedy']!r} ({verdict('greedy')}); beam 4: {probe['beam4']!r} ({verdict('beam4')}); "
            f"references: {' / '.join(probe['refs'])}{why} |")

def refresh_probe_rows(root='models'):
    "Rewrite the 'How are you?' row of the shipped translators' cards from their config.json (after `probe_row` changed)."
    import llm_nb.seq2seq as s2s
    from llm_nb.data import load
    train, _ = s2s.split_pairs(load('eng-fra'))
    for d in sorted(Path(root).glob('translation-*')):
        probe = json.loads((d/'config.json').read_text(encoding='utf-8'))['card']['probe']
        lines = (d/'README.md').read_text(encoding='utf-8').split('\n')
        lines = [probe_row(probe, unseen_forms(train, probe['refs'])) if l.startswith('| **How are you?** |') else l for l in lines]
        (d/'README.md').write_text('\n'.join(lines), encoding='utf-8')

def ship_translator(src, out, hardware, commit):
    "models/translation-en-fr-*: held-out BLEU and chrF (greedy and beam 4, all and the tested subset) on the CPU."
    import llm_nb.seq2seq as s2s
    from llm_nb.data import load
    m = json.loads((src/'metrics.json').read_text(encoding='utf-8'))
    cfg = _copy_model(src, out); _finish(out, cfg, {})
    model, tok, _ = load_model(out, device='cpu')
    train, test = s2s.split_pairs(load('eng-fra'))
    srcs, refs = s2s.reference_groups(test)
    greedy = s2s.translate(model, tok, srcs, beam=1, max_len=48)
    beam = s2s.translate(model, tok, srcs, beam=4, max_len=48)
    g, b = s2s.evaluate_translation(greedy, refs), s2s.evaluate_translation(beam, refs)
    n = MT_CHECK_SENTENCES
    sub = s2s.evaluate_translation(greedy[:n], refs[:n])
    probe_src = 'How are you?'; i = srcs.index(probe_src)
    norm = lambda t: ' '.join(t.replace('\u202f', ' ').replace('\u00a0', ' ').split())
    ok = {k: norm(h[i]) in {norm(r) for r in refs[i]} for k, h in (('greedy', greedy), ('beam4', beam))}
    name = out.name
    card = dict(name=name, task='translation', params=m['params'], bleu=round(g['bleu'], 2), chrf=round(g['chrf'], 2),
                bleu_beam4=round(b['bleu'], 2), chrf_beam4=round(b['chrf'], 2), test_sentences=len(srcs), test_pairs=len(test),
                check=dict(sentences=n, bleu=round(sub['bleu'], 4), chrf=round(sub['chrf'], 4)),
                probe=dict(source=probe_src, refs=refs[i], greedy=greedy[i], beam4=beam[i], correct=ok),
                weights_dtype='float16', commit=commit or cfg.get('commit', ''), hardware=hardware,
                wall_time=_mins(m['train_seconds']), steps=m['steps'],
                device_figures=dict(bleu=m['bleu'], chrf=m['chrf'], bleu_beam4=m['bleu_beam4'], chrf_beam4=m['chrf_beam4']))
    cfg['trained'] = m; _finish(out, cfg, card)
    mc = cfg['model']['config']; tc = cfg['train']
    arch = (f"encoder–decoder Transformer (Vaswani et al. 2017; pre-norm, sinusoidal positions, shared embeddings): "
            f"{mc['n_layer']} + {mc['n_layer']} layers, width {mc['n_embd']}, {mc['n_head']} heads, FFN {mc['d_ff']}, dropout {mc['dropout']}"
            if cfg['model']['cls'] == 'Seq2SeqTransformer' else
            f"LSTM encoder–decoder with additive attention (Bahdanau et al. 2015): bidirectional encoder of {mc['hidden']} per direction, "
            f"decoder {mc['hidden']}, embeddings {mc['emb_dim']}, attention {mc['attn_dim']}, dropout {mc['dropout']}")
    show = [probe_src] + [x for x in srcs if x != probe_src][:11]
    ex = '\n'.join(f"{x}\n   refs:   {' | '.join(refs[srcs.index(x)])}\n   greedy: {greedy[srcs.index(x)]}\n   beam 4: {beam[srcs.index(x)]}"
                   for x in show)
    text = f"""# Model card: {name}

An English → French translator trained by the course (chapter 09, `llm_nb.seq2seq`) on Tatoeba pairs. Every
figure below was measured by `tools/ship_model.py` on the CPU from the float16 weights in this folder;
`tests/test_models.py` recomputes the subset figures and the probe.

| | |
|---|---|
| architecture | {arch} |
| parameters | {m['params']:,} |
| data | `eng-fra`: the first 5,000 English–French pairs of Tatoeba (CC-BY 2.0 France; attribution kept in the data file); chapter 09's split `split_pairs`: {m['train_pairs']:,} training pairs, {len(test)} held-out pairs = {len(srcs)} English sentences never seen in training (whole groups, 'How are you?' among them), each scored against all its references |
| tokenizer | byte-level BPE of {m['vocab_size']:,} tokens shared by both languages, trained on the training pairs (`train_tokenizer`) |
| training | {m['steps']:,} steps ({tc['epochs']} epochs of {tc['batch_size']} pairs), teacher forcing, label smoothing {tc['label_smoothing']}, Adam β = (0.9, 0.98), clipping 1, lr {tc['lr']}, float32; the same budget as its sibling model |
| **held-out BLEU / chrF** | **{card['bleu']:.2f} / {card['chrf']:.2f}** greedy, {card['bleu_beam4']:.2f} / {card['chrf_beam4']:.2f} beam 4 (`evaluate_translation`: chapter 08's `corpus_bleu` / `corpus_chrf`, equal to sacrebleu's); greedy on the first {n} sentences (the test's subset): {card['check']['bleu']:.2f} / {card['check']['chrf']:.2f}. Goal: BLEU ≥ 10, chrF ≥ 35 |
{probe_row(card['probe'], unseen_forms(train, refs[i]))}
| weights | float16 (on the device, greedy BLEU {m['bleu_fp32']:.2f} with the float32 weights, {m['bleu']:.2f} rounded to float16) |
| wall time | {card['wall_time']} of training on {hardware} |
| trained by | `python tools/train_models.py --device cuda --out DIR --only {'transformer' if 'transformer' in name else 'lstm'}` at llm_nb commit `{card['commit'][:12]}` |

**Retrain it:** run that command from a checkout of that commit with `LLM_NB_DATA` pointing at the data, then
`python tools/ship_model.py --trained DIR --hardware "..."`. **Load it:** `import llm_nb.seq2seq` (it registers the
LSTM class), then `load_model('{name}')` (`llm_nb.runs`) returns `(model, tokenizer, config)`;
`translate(model, tok, ['How are you?'])` translates.

`curve.csv` holds the training loss (label-smoothed) and learning rate of every step, with the wall seconds.

## Translations of held-out sentences

```
{ex}
```
"""
    (out/'README.md').write_text(text, encoding='utf-8')
    return card

def ship_trained(path, out_root, hardware, commit=None):
    "Ship every model tools/train_models.py wrote in `path` into `out_root/NAME`, with cards measured here."
    torch.set_num_threads(1)
    src = _source(path)
    summary = json.loads((src/'summary.json').read_text(encoding='utf-8')) if (src/'summary.json').is_file() else {}
    commit = commit or summary.get('info', {}).get('commit', '')
    for folder in sorted(p for p in src.iterdir() if (p/'metrics.json').is_file()):
        task = json.loads((folder/'metrics.json').read_text(encoding='utf-8'))['task']
        ship = ship_tang if task == 'poems' else ship_translator
        card = ship(folder, Path(out_root)/folder.name, hardware, commit)
        print(json.dumps(card, indent=1, ensure_ascii=False), flush=True)

if __name__ == '__main__': main()
