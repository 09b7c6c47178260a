"Tests of llm_nb.finetuning: metrics vs scikit-learn, loss masking, LoRA, DPO, bad input."
import copy, math
import pytest, torch, torch.nn as nn
from hypothesis import given, settings, strategies as st
from llm_nb.transformer import GPT, GPTConfig
from llm_nb.bert import BERT, EncoderConfig
from llm_nb.finetuning import (classification_metrics, encode_labels, InstructionDataset, sft_collate,
                               sft_loss, apply_lora, merge_lora, unmerge_lora, save_adapters, load_adapters, lora_layers,
                               dpo_loss, sequence_logprobs, SequenceClassifier, set_trainable, make_dpo_loss,
                               PreferenceDataset, preference_collate, finetune_config, train_losses)
from llm_nb.training import Trainer

sk = pytest.importorskip('sklearn.metrics')


class ByteTok:
    "A tokenizer over UTF-8 bytes, enough for the tests."
    def encode(self, s): return list(s.encode('utf-8'))
    def decode(self, ids): return bytes(ids).decode('utf-8', 'replace')

EOS, PAD = 256, 257
CPU = dict(device='cpu', dtype='float32')
def tiny_gpt(seed=0):
    torch.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=258, block_size=64, n_layer=2, n_head=2, n_embd=32)).eval()


@pytest.mark.filterwarnings('ignore::UserWarning')
@settings(max_examples=30, deadline=None)
@given(st.integers(1, 5), st.integers(1, 60), st.integers(0, 10_000))
def test_metrics_match_sklearn(k, n, seed):
    g = torch.Generator().manual_seed(seed)
    t, p = torch.randint(k, (n,), generator=g), torch.randint(k, (n,), generator=g)
    labels = list(range(k))
    m = classification_metrics(t, p, k, average='macro')
    assert m['confusion'].tolist() == sk.confusion_matrix(t, p, labels=labels).tolist()
    assert math.isclose(m['accuracy'], sk.accuracy_score(t, p), abs_tol=1e-12)
    for name, fn in [('precision', sk.precision_score), ('recall', sk.recall_score), ('f1', sk.f1_score)]:
        assert math.isclose(m[name], fn(t, p, labels=labels, average='macro', zero_division=0), abs_tol=1e-9), name
    if k == 2:
        b = classification_metrics(t, p, 2, average='binary')
        assert math.isclose(b['f1'], sk.f1_score(t, p, average='binary', zero_division=0), abs_tol=1e-9)
        assert math.isclose(b['precision'], sk.precision_score(t, p, average='binary', zero_division=0), abs_tol=1e-9)


def test_loss_masking_by_hand_and_padding():
    tok, model = ByteTok(), tiny_gpt()
    recs = [{'instruction': 'Say hi', 'input': '', 'output': 'hi'}, {'instruction': 'Add', 'input': '1+1', 'output': 'two, of course'}]
    ds = InstructionDataset(recs, tok, EOS, template=lambda r: f"{r['instruction']}|{r['input']}>")
    b = sft_collate([ds[0], ds[1]], PAD)
    assert b['input_ids'].shape == b['labels'].shape == b['attention_mask'].shape
    with torch.no_grad():
        loss = sft_loss(model, b)
        terms = []
        for ids, n_p in [ds[0], ds[1]]:
            lp = model(torch.tensor([ids[:-1]]))[0].log_softmax(-1)
            terms += [-lp[j, ids[j + 1]] for j in range(n_p - 1, len(ids) - 1)]
    assert torch.allclose(loss, torch.stack(terms).mean(), atol=1e-5)
    # padding never contributes: the short example's labels past its end are all ignored, whatever the pad id
    b2 = sft_collate([ds[0], ds[1]], 7)
    with torch.no_grad(): assert torch.allclose(sft_loss(model, b2), loss, atol=1e-5)
    n0 = len(ds[0][0]) - 1
    assert (b['labels'][0, n0:] == -100).all() and (b['attention_mask'][0, n0:] == 0).all()
    # labelled positions are exactly the response (+ eos)
    assert int((b['labels'] != -100).sum()) == (len('hi') + 1) + (len('two, of course') + 1)


def test_lora_properties(tmp_path):
    base = tiny_gpt()
    x = torch.randint(0, 256, (2, 10))
    ref = base(x)
    m = apply_lora(copy.deepcopy(base), ['q_proj', 'v_proj', 'fc'], r=4, alpha=8).eval()
    assert torch.equal(m(x), ref)                                     # B = 0 -> identical
    m.train(); m(x).pow(2).mean().backward()
    got = {n for n, p in m.named_parameters() if p.grad is not None}
    assert got and all('lora_' in n for n in got)
    assert all(p.requires_grad == ('lora_' in n) for n, p in m.named_parameters())
    for l in lora_layers(m): nn.init.normal_(l.lora_B, std=0.05)
    m.eval(); out = m(x)
    assert not torch.allclose(out, ref)
    merge_lora(m); assert torch.allclose(m(x), out, atol=1e-5)
    unmerge_lora(m); assert torch.allclose(m(x), out, atol=1e-5)
    save_adapters(m, tmp_path / 'a.pt')
    fresh = load_adapters(apply_lora(copy.deepcopy(base), ['q_proj', 'v_proj', 'fc'], r=4, alpha=8), tmp_path / 'a.pt').eval()
    assert torch.allclose(fresh(x), out, atol=1e-6)
    with pytest.raises(ValueError, match='r=4'):
        load_adapters(apply_lora(copy.deepcopy(base), ['q_proj', 'v_proj', 'fc'], r=2, alpha=8), tmp_path / 'a.pt')


def test_lora_training_changes_only_adapters():
    base = tiny_gpt()
    m = apply_lora(copy.deepcopy(base), ['q_proj', 'v_proj'], r=2)
    x = torch.randint(0, 256, (4, 12))
    tr = Trainer(m, [(x[:, :-1], x[:, 1:])], finetune_config(3, 1e-2, **CPU), progress=False)
    tr.fit()
    assert {id(p) for g in tr.opt.param_groups for p in g['params']} == {id(p) for n, p in m.named_parameters() if 'lora_' in n}
    sd0, sd1 = base.state_dict(), m.state_dict()
    for k, v in sd1.items():
        if 'lora_' in k: continue
        assert torch.equal(v, sd0[k.replace('.base.', '.')]), k


def test_dpo():
    pc, pr = torch.tensor([-1.0, -2.0]), torch.tensor([-3.0, -1.5])
    rc, rr = torch.tensor([-1.5, -2.5]), torch.tensor([-2.0, -1.0])
    beta = 0.2
    loss, cr, rj = dpo_loss(pc, pr, rc, rr, beta)
    z = [beta * ((-1 + 1.5) - (-3 + 2)), beta * ((-2 + 2.5) - (-1.5 + 1))]
    assert math.isclose(loss.item(), sum(math.log1p(math.exp(-v)) for v in z) / 2, rel_tol=1e-6)
    assert math.isclose(dpo_loss(rc, rr, rc, rr)[0].item(), math.log(2), rel_tol=1e-6)
    assert dpo_loss(rc + 0.5, rr, rc, rr)[0] < math.log(2)
    # on a real model: policy == reference gives log 2, and a few DPO steps lower the loss
    tok, model = ByteTok(), tiny_gpt()
    recs = [{'instruction': f'q{i}', 'chosen': 'yes please', 'rejected': 'no way'} for i in range(4)]
    b = preference_collate([PreferenceDataset(recs, tok, EOS, template=lambda r: r['instruction'] + '>')[i] for i in range(4)], PAD)
    ref, pol = copy.deepcopy(model), copy.deepcopy(model)
    stats = []
    fn = make_dpo_loss(ref, 0.1, stats)
    with torch.no_grad(): assert math.isclose(fn(pol, b).item(), math.log(2), rel_tol=1e-5)
    losses = train_losses(Trainer(pol, [b], finetune_config(10, 1e-3, **CPU), loss_fn=fn, progress=False).fit())
    assert len(losses) == 10 and losses[-1] < losses[0]
    assert stats[-1]['loss'] < math.log(2) and stats[-1]['margin'] > 0


def test_sequence_logprobs_ignores_masked():
    model = tiny_gpt()
    b = dict(input_ids=torch.tensor([[1, 2, 3]]), labels=torch.tensor([[-100, 3, 4]]), attention_mask=torch.ones(1, 3, dtype=torch.long))
    with torch.no_grad():
        lp = model(b['input_ids'])[0].log_softmax(-1)
        assert torch.allclose(sequence_logprobs(model, b), lp[1, 3] + lp[2, 4], atol=1e-5)


def test_classifiers_and_freezing():
    gpt = SequenceClassifier(tiny_gpt(), 3)
    ids, m = torch.tensor([[5, 6, 7, PAD], [8, 9, PAD, PAD]]), torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]])
    assert gpt(ids, m).shape == (2, 3)
    with torch.no_grad(): assert torch.allclose(gpt.eval()(ids, m)[1], gpt(ids[1:, :2])[0], atol=1e-5)
    n_head = set_trainable(gpt, 'head'); assert n_head == 32 * 3 + 3
    n_last = set_trainable(gpt, 'last'); n_full = set_trainable(gpt, 'full')
    assert n_head < n_last < n_full
    torch.manual_seed(0)
    bert = SequenceClassifier(BERT(EncoderConfig.from_preset('bert-micro', vocab_size=258)), 2)
    assert bert(ids, m).shape == (2, 2)


def test_bad_input():
    with pytest.raises(KeyError, match="record 1 has no 'output'"):
        InstructionDataset([{'instruction': 'a', 'output': 'b'}, {'instruction': 'c', 'input': 'd'}], ByteTok(), EOS)
    with pytest.raises(ValueError, match="'maybe' of example 2"):
        encode_labels(['positive', 'negative', 'maybe'], ['negative', 'positive'])
    with pytest.raises(ValueError, match=r"\['attn.query'\] match no nn.Linear"):
        apply_lora(tiny_gpt(), ['q_proj', 'attn.query'])
    with pytest.raises(ValueError, match="average must be"):
        classification_metrics([0, 1], [1, 1], average='micro')


def test_finetune_config():
    cfg = finetune_config(50, 2e-3, 5, 0.01, eval_interval=10)
    assert (cfg.max_steps, cfg.lr, cfg.min_lr, cfg.warmup_steps, cfg.weight_decay) == (50, 2e-3, 2e-4, 5, 0.01)
    assert cfg.log_interval == 1 and cfg.eval_interval == 10
    assert finetune_config(7, 1e-3).eval_interval == 7
    with pytest.raises(TypeError): finetune_config(5, 1e-3, not_a_field=1)


def tiny_llama(seed=0):
    torch.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=258, block_size=64, n_layer=2, n_head=4, n_kv_head=2, n_embd=32, d_ff=64, bias=False,
                         norm='rmsnorm', mlp='swiglu', pos='rope', tie_embeddings=True)).eval()


def test_lora_on_llama_layout_merges_and_exports_to_gguf(tmp_path):
    "LoRA on the Llama-style GPT (the layout of `llm_nb.pretrained.load`): merged logits = unmerged = reloaded GGUF."
    pytest.importorskip('gguf')
    from llm_nb.pretrained import export_gguf, gpt_from_gguf
    from llm_nb.finetune_real import merged_model
    m = apply_lora(tiny_llama(), ['q_proj', 'k_proj', 'v_proj', 'out_proj', 'gate', 'up', 'down'], r=4, alpha=8)
    for layer in lora_layers(m): nn.init.normal_(layer.lora_B, std=0.05)       # a trained-looking adapter
    x = torch.randint(256, (2, 12))
    with torch.no_grad():
        want = m(x)
        plain = merged_model(m)
        assert not lora_layers(plain) and not lora_layers(m)[0].merged          # a copy: the original stays unmerged
        torch.testing.assert_close(plain(x), want, atol=1e-5, rtol=1e-5)
        back = gpt_from_gguf(export_gguf(plain, tmp_path/'merged.gguf')).eval()
        torch.testing.assert_close(back(x), want, atol=1e-4, rtol=1e-4)


def test_adapter_files_swap_on_one_base(tmp_path):
    "Two adapter files loaded in turn into one model each reproduce their own model's logits."
    base = tiny_llama()
    a, b = (apply_lora(copy.deepcopy(base), ['q_proj', 'v_proj'], r=2, alpha=4) for _ in range(2))
    for s, m in ((1, a), (2, b)):
        torch.manual_seed(s)
        for layer in lora_layers(m): nn.init.normal_(layer.lora_B, std=0.1)
        save_adapters(m, tmp_path/f'{s}.pt')
    host = apply_lora(copy.deepcopy(base), ['q_proj', 'v_proj'], r=2, alpha=4).eval()
    x = torch.randint(256, (1, 10))
    with torch.no_grad():
        for s, m in ((1, a), (2, b), (1, a)):
            load_adapters(host, tmp_path/f'{s}.pt')
            torch.testing.assert_close(host(x), m.eval()(x))


def test_bench_finetuning_runs_small():
    "bench/finetuning.py at its small default settings prints the three methods side by side."
    import subprocess, sys
    from pathlib import Path
    root = Path(__file__).resolve().parents[1]
    p = subprocess.run([sys.executable, str(root/'bench'/'finetuning.py'), '--steps', '1', '--batch', '2', '--seq', '16'],
                       capture_output=True, text=True, cwd=root, timeout=600)
    assert p.returncode == 0, p.stderr
    assert all(f'\n{m} ' in p.stdout for m in ('full', 'last', 'lora')) and 'peak GiB' in p.stdout


def padded_batch(n=7, T=10, seed=0):
    "n right-padded random sequences of 3..T tokens, with their attention mask."
    g = torch.Generator().manual_seed(seed)
    lens = torch.randint(3, T + 1, (n,), generator=g)
    ids, mask = torch.full((n, T), PAD), torch.zeros(n, T, dtype=torch.long)
    for i, k in enumerate(lens.tolist()): ids[i, :k] = torch.randint(256, (k,), generator=g); mask[i, :k] = 1
    return ids, mask


def test_cached_features_chunks_match_one_pass_and_reload(tmp_path):
    "Features computed in chunks (and shared between 'processes' by `part`) equal one pass; a second call only loads."
    from llm_nb.finetune_real import cached_features, frozen_features
    m, (ids, mask) = tiny_llama(), padded_batch()
    splits = dict(a=[3, 0, 2, 6, 5], b=[1, 4])
    kw = dict(layers=(0, 1), keep_block_inputs=True)
    half, _ = cached_features(tmp_path, m, ids, mask, splits, chunk=2, part=(0, 2), **kw)
    assert not half                                                   # chunks 1 and 3 are missing: no split is complete
    got, info = cached_features(tmp_path, m, ids, mask, splits, chunk=2, **kw)
    assert (info['chunks_computed'], info['chunks_loaded']) == (2, 2)
    for name, rows in splits.items():
        want = frozen_features(m, ids[rows], mask[rows], **kw)
        for k in ('last', 'mean', 'layers_last', 'layers_mean'): torch.testing.assert_close(got[name][k], want[k], atol=1e-5, rtol=1e-5)
        assert sorted(i for b in got[name]['blocks'] for i in b['index'].tolist()) == list(range(len(rows)))
    again, info = cached_features(tmp_path, m, ids, mask, splits, chunk=2, **kw)
    assert info['loaded'] and info['chunks_loaded'] == 4
    torch.testing.assert_close(again['a']['mean'], got['a']['mean'])


def test_head_from_probe_gives_the_probes_decision():
    "A standardised logistic-regression probe copied into a linear head decides exactly as the probe."
    pytest.importorskip('sklearn.linear_model')
    from llm_nb.finetune_real import fit_probe, head_from_probe
    g = torch.Generator().manual_seed(0)
    X = torch.randn(80, 6, generator=g) * torch.arange(1., 7.) + 5
    y = (X[:, 0] / 1 - X[:, 3] / 4 + torch.randn(80, generator=g) > 0).long()
    probe, C, acc = fit_probe(X[:60], y[:60], X[60:], y[60:])
    assert 0 <= acc <= 1 and C in (0.001, 0.01, 0.1, 1.0)
    head = nn.Linear(6, 2); head_from_probe(head, probe)
    with torch.no_grad(): z = head(X)
    torch.testing.assert_close((z[:, 1] - z[:, 0]).double(), torch.as_tensor(probe.decision_function(X.numpy())).double(), atol=1e-4, rtol=1e-4)


def test_sentiment_study_runs_every_variant_and_trains_only_what_it_says():
    "Probes, the last block and LoRA on a tiny model: one row each, accuracies in [0, 1], LoRA moves only adapters and head."
    pytest.importorskip('sklearn.linear_model')
    from llm_nb.finetune_real import sentiment_study
    m, (ids, mask) = tiny_llama(), padded_batch(n=24, seed=1)
    y = torch.arange(24) % 2
    before = copy.deepcopy(m.state_dict())
    rows, clf, notes = sentiment_study(m, ids, mask, y, dict(train=list(range(12)), valid=list(range(12, 18)), test=list(range(18, 24))),
                                       block_steps=2, lora_steps=2, B=4, log=lambda s: None)
    assert len(rows) == 5 and all(0 <= r['accuracy'] <= 1 and r['n_test'] == 6 for r in rows)
    assert 1 <= notes['best_block'] <= 2 and len(notes['valid_by_block']) == 4 and len(notes['lora_losses']) == 2
    assert all('lora_' in n or n.startswith('head.') for n, p in clf.named_parameters() if p.requires_grad)
    assert all(torch.equal(v, before[k]) for k, v in m.state_dict().items())   # the model passed in is left unchanged
