"""Chapter 07a, section 1 at full size: `sentiment_study` on every training review of rotten tomatoes.

    OMP_NUM_THREADS=1 python tools/sentiment_real.py [--lora-steps N] [--block-steps N] [--n-train N]
    OMP_NUM_THREADS=1 python tools/sentiment_real.py --part 0/3   # (and 1/3, 2/3 beside it): only a share of the features

Does what the chapter's `#| slow` cell of section 1 does (same function, same arguments) outside Jupyter, so a long
run survives a notebook re-run: the frozen features go to nbs/_cache/07a_sentiment/ in chunks (reused when present),
the results table to nbs/results/07a_sentiment_full.json, which the chapter displays.
"""
import argparse, datetime, json, os, platform, sys, time
from pathlib import Path
import torch

ROOT = Path(__file__).resolve().parents[1]
CACHE, OUT = ROOT / 'nbs/_cache/07a_sentiment', ROOT / 'nbs/results/07a_sentiment_full.json'

def cpu_name():
    try:
        for line in open('/proc/cpuinfo'):
            if line.startswith('model name'): return line.split(':', 1)[1].strip()
    except OSError: pass
    return platform.processor()

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--lora-steps', type=int, default=0, help='steps of the LoRA variant (0: skip it)')
    ap.add_argument('--block-steps', type=int, default=400, help='steps of the last-block variant')
    ap.add_argument('--n-train', type=int, default=0, help='use the first N training reviews of the split (0: all 3,892)')
    ap.add_argument('--part', default=None, help="i/n: compute only chunks k with k % n == i of the features, then stop")
    ap.add_argument('--out', default=str(OUT))
    a = ap.parse_args(argv)
    torch.set_num_threads(int(os.environ.get('OMP_NUM_THREADS', 1)))
    from llm_nb.data import load as load_data
    from llm_nb.pretrained import load
    from llm_nb.finetuning import encode_labels, encode_texts, split_indices
    from llm_nb.finetune_real import ChatTokenizer, accuracy_row, sentiment_study
    t0, load0 = time.time(), os.getloadavg()
    base, gtok = load(); base.eval()
    tok, pad = ChatTokenizer(gtok), gtok.special_tokens['<|endoftext|>']
    reviews = load_data('rotten-tomatoes')
    y = encode_labels([r['label'] for r in reviews], ['negative', 'positive'])
    X, M = encode_texts(tok, [f"Review: {r['text']}\nSentiment:" for r in reviews], 64, pad)
    tr, va, te = split_indices(len(reviews), seed=0)
    tr_all, tr = tr, tr[:a.n_train] if a.n_train else tr
    rows, _, notes = sentiment_study(base, X, M, y, dict(train=tr, valid=va, test=te), block_steps=a.block_steps,
                                     lora_steps=a.lora_steps, cache=str(CACHE), log=lambda s: print(s, flush=True),
                                     part=tuple(int(v) for v in a.part.split('/')) if a.part else None)
    if a.part:
        print(f"part {a.part} of the features: {notes['features']}"); return
    from sklearn.feature_extraction.text import CountVectorizer     # the chapter's bag-of-words baseline, as its cell computes it
    from sklearn.linear_model import LogisticRegression
    texts = [r['text'] for r in reviews]
    vec = CountVectorizer(ngram_range=(1, 2), min_df=2)
    bow = LogisticRegression(max_iter=2000, C=1.0).fit(vec.fit_transform([texts[i] for i in tr_all]), y[tr_all].numpy())
    rows = [accuracy_row('bag-of-words (all training reviews)', y[te], torch.as_tensor(bow.predict(vec.transform([texts[i] for i in te]))))] + rows
    res = dict(command=' '.join(['OMP_NUM_THREADS=' + os.environ.get('OMP_NUM_THREADS', '?'), 'python', 'tools/sentiment_real.py'] + sys.argv[1:]),
               finished_utc=datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M'),
               cpu=cpu_name(), cores=os.cpu_count(), threads=torch.get_num_threads(),
               load_average_start=round(load0[0], 1), load_average_end=round(os.getloadavg()[0], 1),
               wall_seconds=round(time.time() - t0, 1), reviews=dict(train=len(tr), valid=len(va), test=len(te)), rows=rows, notes=notes)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(res, indent=1, default=float) + '\n')
    print(json.dumps(rows, indent=1, default=float))

if __name__ == '__main__': main()
