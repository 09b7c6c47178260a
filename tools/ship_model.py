"""Turn a finished training run into a model the course keeps: `models/NAME/` with weights, config, tokenizer,
a model card and the training curve.

    python tools/ship_model.py RUN_DIR NAME --recipe "llm_nb train ..." --commit SHA --wall "1 h 27 min" --hardware "..."

What it does, all measured here (nothing in the card is typed by hand):
- loads the run's best checkpoint, evaluates the validation loss on the whole validation split in float32;
- stores the weights in float16 when that changes the validation loss by less than 1e-3 nats (else float32), and
  evaluates the stored weights again: that figure is the card's, and `tests/test_models.py` recomputes it;
- writes config.json (the checkpoint's, with the figures under `card`), tokenizer.txt, a manifest of SHA-256s
  (the checkpoint format, so `load_model(models/NAME)` loads it), curve.csv (step, tokens, train and val loss)
  and README.md (the card, with samples).
"""
import argparse, copy, csv, hashlib, json, shutil
from pathlib import Path
import torch
from safetensors.torch import save_model
from llm_nb.core import seed_everything
from llm_nb.data import load_text
from llm_nb.lmdata import LMData, evaluate
from llm_nb.checkpoint import verify_checkpoint, find_checkpoint
from llm_nb.runs import load_model
from llm_nb.generation import sample_text

FILES = ('model.safetensors', 'config.json', 'tokenizer.txt')

def sha256(p): return hashlib.sha256(Path(p).read_bytes()).hexdigest()

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('run'); ap.add_argument('name')
    ap.add_argument('--recipe', required=True, help='the exact command that trained it')
    ap.add_argument('--commit', required=True, help='the commit of llm_nb that trained it')
    ap.add_argument('--wall', required=True, help='wall time of the run, as measured')
    ap.add_argument('--hardware', required=True)
    ap.add_argument('--out', default='models')
    a = ap.parse_args()
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

if __name__ == '__main__': main()
