"Parity of llm_nb.transformer's GPT with transformers.GPT2LMHeadModel, checkpoint I/O and its errors (llm_nb.hf_gpt2), generation, encoder (llm_nb.bert) and encoder–decoder (llm_nb.encoder_decoder)."
import json, os
os.environ.setdefault('HF_HUB_OFFLINE', '1')
import pytest, torch
transformers = pytest.importorskip('transformers')
from transformers import GPT2Config, GPT2LMHeadModel
from llm_nb.transformer import GPT, GPTConfig, generate_simple
from llm_nb.bert import BERT, EncoderConfig
from llm_nb.encoder_decoder import Seq2SeqTransformer, Seq2SeqConfig
from llm_nb.hf_gpt2 import load_hf_weights, gpt2_config_from_hf   # importing llm_nb.hf_gpt2 gives GPT from_pretrained/save_pretrained

transformers.logging.set_verbosity_error()
transformers.utils.logging.disable_progress_bar()

SHAPES = [  # n_embd, n_head, n_layer, vocab, n_positions, extra GPT2Config kwargs
    (48, 3, 2, 100, 32, {}),                                  # 3 heads: not a power of two
    (80, 5, 3, 257, 64, {}),                                  # 5 heads
    (36, 6, 2, 77, 40, {'n_inner': 100}),                     # head_dim 6, FFN width not 4d
    (64, 4, 1, 50, 16, {'activation_function': 'gelu'}),      # exact GELU
    (32, 2, 2, 64, 24, {'tie_word_embeddings': False}),       # untied output head
    (40, 1, 2, 90, 20, {'activation_function': 'relu', 'layer_norm_epsilon': 1e-6}),
]

def make_hf(tmp_path, n_embd, n_head, n_layer, vocab, n_pos, extra, seed=0, attn='eager', name='hf'):
    torch.manual_seed(seed)
    cfg = GPT2Config(vocab_size=vocab, n_positions=n_pos, n_embd=n_embd, n_layer=n_layer, n_head=n_head, resid_pdrop=0.0,
                     embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=None, eos_token_id=None, attn_implementation=attn, **extra)
    hf = GPT2LMHeadModel(cfg)
    with torch.no_grad():  # make biases and norms non-trivial so that a wrong mapping cannot hide
        for n, p in hf.named_parameters():
            if p.dim() == 1: p.add_(torch.randn_like(p) * 0.1)
    folder = tmp_path / name
    hf.save_pretrained(folder)
    return hf, folder

@pytest.mark.parametrize('shape', SHAPES, ids=[f'd{s[0]}h{s[1]}L{s[2]}' + ''.join(s[5]) for s in SHAPES])
@pytest.mark.parametrize('mode', ['eval', 'train'])
def test_parity_with_transformers(tmp_path, shape, mode):
    hf, folder = make_hf(tmp_path, *shape)
    ours = GPT.from_pretrained(folder)
    hf.train(mode == 'train'); ours.train(mode == 'train')
    B, T = 3, shape[4]
    idx = torch.randint(0, shape[3], (B, T), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref = hf(idx).logits
        torch.testing.assert_close(ours(idx), ref, atol=1e-5, rtol=0)
        cache = ours.new_cache()                                   # with the KV cache: prefill, then token by token
        k = T // 2
        parts = [ours(idx[:, :k], cache=cache)] + [ours(idx[:, t:t + 1], cache=cache) for t in range(k, T)]
        torch.testing.assert_close(torch.cat(parts, 1), ref, atol=1e-5, rtol=0)
    # and our export loads back into transformers with the same logits
    ours.save_pretrained(tmp_path / 'export')
    hf2 = GPT2LMHeadModel.from_pretrained(tmp_path / 'export', attn_implementation='eager').train(mode == 'train')
    with torch.no_grad(): torch.testing.assert_close(hf2(idx).logits, ref, atol=1e-5, rtol=0)

def test_parity_sdpa_and_loss(tmp_path):
    hf, folder = make_hf(tmp_path, 48, 3, 2, 100, 32, {}, attn='sdpa')
    ours = GPT.from_pretrained(folder).eval(); hf.eval()
    idx = torch.randint(0, 100, (2, 32))
    with torch.no_grad():
        out = hf(idx, labels=idx)
        logits, loss = ours(idx[:, :-1], targets=idx[:, 1:])      # HF shifts the labels inside
    torch.testing.assert_close(logits, out.logits[:, :-1], atol=1e-5, rtol=0)
    torch.testing.assert_close(loss, out.loss, atol=1e-5, rtol=0)

def test_gradients_match(tmp_path):
    hf, folder = make_hf(tmp_path, 48, 3, 2, 100, 32, {})
    ours = GPT.from_pretrained(folder).train(); hf.train()
    idx = torch.randint(0, 100, (2, 16))
    hf(idx, labels=idx).loss.backward()
    ours(idx[:, :-1], targets=idx[:, 1:])[1].backward()
    g_hf = hf.transformer.h[1].attn.c_attn.weight.grad.T          # Conv1D (in, 3C) -> (3C, in)
    a = ours.h[1].attn
    torch.testing.assert_close(torch.cat([a.q_proj.weight.grad, a.k_proj.weight.grad, a.v_proj.weight.grad]), g_hf, atol=1e-6, rtol=1e-4)
    torch.testing.assert_close(ours.wte.weight.grad, hf.transformer.wte.weight.grad, atol=1e-6, rtol=1e-4)

def test_pytorch_model_bin_and_unprefixed_keys(tmp_path):
    hf, folder = make_hf(tmp_path, 48, 3, 2, 100, 32, {})
    sd = {k.removeprefix('transformer.'): v for k, v in hf.state_dict().items()}
    for i in range(2): sd[f'h.{i}.attn.bias'] = torch.ones(1, 1, 32, 32).tril()   # the old causal-mask buffers
    sd['lm_head.weight'] = sd['wte.weight']
    out = tmp_path / 'bin'; out.mkdir()
    torch.save(sd, out / 'pytorch_model.bin')
    (out / 'config.json').write_text((folder / 'config.json').read_text())
    ours = GPT.from_pretrained(out).eval()
    idx = torch.randint(0, 100, (2, 10))
    with torch.no_grad(): torch.testing.assert_close(ours(idx), hf.eval()(idx).logits, atol=1e-5, rtol=0)
    ours.save_pretrained(tmp_path / 'bin-export', safe_serialization=False)
    assert (tmp_path / 'bin-export' / 'pytorch_model.bin').exists()
    torch.testing.assert_close(GPT.from_pretrained(tmp_path / 'bin-export').eval()(idx), ours(idx))

def test_bin_is_loaded_with_weights_only(tmp_path, monkeypatch):
    _, folder = make_hf(tmp_path, 48, 3, 2, 100, 32, {})
    torch.save(load_hf_weights(folder), tmp_path / 'pytorch_model.bin')
    seen = {}
    real = torch.load
    def spy(*a, **kw): seen.update(kw); return real(*a, **kw)
    monkeypatch.setattr(torch, 'load', spy)
    load_hf_weights(tmp_path)
    assert seen.get('weights_only') is True

class _Evil:
    def __reduce__(self): return (os.system, ('echo pwned',))

def test_bin_with_code_is_refused(tmp_path):
    torch.save({'x': _Evil()}, tmp_path / 'pytorch_model.bin')
    with pytest.raises(Exception, match='(?i)weights_only|unsupported|global'): load_hf_weights(tmp_path)

def _unchanged(model, before):
    return all(torch.equal(before[k], v) for k, v in model.state_dict().items())

def test_bad_checkpoints_name_the_difference_and_load_nothing(tmp_path):
    _, folder = make_hf(tmp_path, 48, 3, 2, 100, 32, {})
    sd = load_hf_weights(folder)
    cfg = gpt2_config_from_hf(json.loads((folder / 'config.json').read_text()))
    model = GPT(cfg); before = {k: v.clone() for k, v in model.state_dict().items()}
    bad = dict(sd); bad['transformer.h.1.mlp.c_fc.weight'] = torch.zeros(48, 100)
    with pytest.raises(ValueError, match=r'transformer.h.1.mlp.c_fc.weight: checkpoint \(48, 100\), model \(48, 192\)'): model.load_gpt2_state_dict(bad)
    assert _unchanged(model, before)
    bad = {k: v for k, v in sd.items() if k != 'transformer.ln_f.bias'}
    with pytest.raises(ValueError, match='missing keys: transformer.ln_f.bias'): model.load_gpt2_state_dict(bad)
    assert _unchanged(model, before)
    bad = {**sd, 'transformer.h.2.attn.c_attn.weight': torch.zeros(48, 144)}
    with pytest.raises(ValueError, match='unexpected keys: transformer.h.2.attn.c_attn.weight'): model.load_gpt2_state_dict(bad)
    assert _unchanged(model, before)
    bad = {**sd, 'lm_head.weight': torch.zeros(100, 48)}
    with pytest.raises(ValueError, match='lm_head.weight differs'): model.load_gpt2_state_dict(bad)
    assert _unchanged(model, before)
    # a config.json that does not match the weights: shapes named, no model returned
    cfg_json = json.loads((folder / 'config.json').read_text()); cfg_json['n_embd'] = 24
    (folder / 'config.json').write_text(json.dumps(cfg_json))
    with pytest.raises(ValueError, match=r'checkpoint \(100, 48\), model \(100, 24\)'): GPT.from_pretrained(folder)
    with pytest.raises(FileNotFoundError, match='config.json'): GPT.from_pretrained(tmp_path / 'nowhere')

def test_unsupported_gpt2_options():
    with pytest.raises(ValueError, match='scale_attn_by_inverse_layer_idx'):
        gpt2_config_from_hf(dict(vocab_size=10, n_positions=8, n_layer=1, n_head=1, n_embd=8, scale_attn_by_inverse_layer_idx=True))
    with pytest.raises(ValueError, match="pos='learned'"): GPT(GPTConfig.from_preset('llama-tiny')).save_pretrained('/tmp/never')

def test_bad_input():
    m = GPT(GPTConfig.from_preset('gpt-micro'))
    with pytest.raises(ValueError, match='65 tokens .* block_size=64'): m(torch.zeros(1, 65, dtype=torch.long))
    with pytest.raises(ValueError, match=r'token id 300 is outside the vocabulary \[0, 256\)'): m(torch.tensor([[0, 300]]))
    with pytest.raises(TypeError, match='integer tensor'): m(torch.zeros(1, 3))
    cache = m.new_cache()
    m(torch.zeros(1, 60, dtype=torch.long), cache=cache)
    with pytest.raises(ValueError, match=r'70 tokens \(60 cached \+ 10 new\)'): m(torch.zeros(1, 10, dtype=torch.long), cache=cache)

@pytest.mark.parametrize('preset', ['gpt-micro', 'llama-tiny'])
def test_generate_cache_equals_no_cache(preset):
    torch.manual_seed(0)
    m = GPT(GPTConfig.from_preset(preset)).eval()
    prompt = torch.randint(0, m.config.vocab_size, (2, 7))
    a = generate_simple(m, prompt, 20, temperature=0)
    b = generate_simple(m, prompt, 20, temperature=0, use_cache=False)
    assert torch.equal(a, b)
    for kw in [dict(temperature=0.8), dict(top_k=5), dict(top_p=0.7, temperature=1.3)]:
        a = generate_simple(m, prompt, 20, generator=torch.Generator().manual_seed(3), **kw)
        b = generate_simple(m, prompt, 20, use_cache=False, generator=torch.Generator().manual_seed(3), **kw)
        assert torch.equal(a, b), kw

def test_generate_restores_training_mode_and_matches_hf_greedy(tmp_path):
    hf, folder = make_hf(tmp_path, 48, 3, 2, 100, 64, {})
    ours = GPT.from_pretrained(folder).train()
    prompt = torch.randint(0, 100, (1, 5))
    out = generate_simple(ours, prompt, 20, temperature=0)
    assert ours.training
    ref = hf.eval().generate(prompt, max_new_tokens=20, do_sample=False, pad_token_id=0)
    assert torch.equal(out, ref)

def test_encoder_padding_and_bidirectional():
    torch.manual_seed(0)
    enc = BERT(EncoderConfig.from_preset('bert-micro')).eval()
    idx = torch.randint(0, 256, (1, 8))
    padded = torch.cat([idx, torch.zeros(1, 4, dtype=torch.long)], 1)
    am = torch.tensor([[1] * 8 + [0] * 4])
    torch.testing.assert_close(enc(padded, attention_mask=am).hidden[:, :8], enc(idx).hidden, atol=1e-5, rtol=0)
    idx2 = idx.clone(); idx2[0, -1] = (idx2[0, -1] + 1) % 256
    assert (enc(idx2).hidden[0, 0] - enc(idx).hidden[0, 0]).abs().max() > 1e-4

@pytest.mark.parametrize('norm_position,pos', [('post', 'sinusoidal'), ('pre', 'learned'), ('pre', 'rope')])
def test_seq2seq_leak_padding_cache(norm_position, pos):
    torch.manual_seed(0)
    m = Seq2SeqTransformer(Seq2SeqConfig.from_preset('transformer-tiny', norm_position=norm_position, pos=pos, src_vocab_size=500)).eval()
    src, tgt = torch.randint(1, 500, (2, 9)), torch.randint(1, 1000, (2, 8))
    with torch.no_grad():
        ref = m(src, tgt)
        for t in range(8):                                          # no position sees a later target token
            tgt2 = tgt.clone(); tgt2[:, t:] = torch.randint(1, 1000, (2, 8 - t))
            torch.testing.assert_close(m(src, tgt2)[:, :t], ref[:, :t], atol=1e-6, rtol=0)
        src_pad = torch.cat([src, torch.zeros(2, 5, dtype=torch.long)], 1)
        mask = torch.cat([torch.ones(2, 9), torch.zeros(2, 5)], 1)
        torch.testing.assert_close(m(src_pad, tgt, src_mask=mask), ref, atol=1e-5, rtol=0)
        memory, cache = m.encode(src_pad, mask), m.new_cache()
        steps = torch.cat([m.decode(tgt[:, t:t + 1], memory, src_mask=mask, cache=cache) for t in range(8)], 1)
        torch.testing.assert_close(steps, ref, atol=1e-5, rtol=0)

def test_left_padded_batch_matches_transformers(tmp_path):
    "A left-padded batch (attention_mask + positions), with and without the cache, equals transformers on the real tokens."
    hf, folder = make_hf(tmp_path, 48, 3, 2, 100, 32, {})
    ours = GPT.from_pretrained(folder).eval(); hf.eval()
    idx = torch.randint(0, 100, (2, 12), generator=torch.Generator().manual_seed(2))
    am = torch.ones(2, 12, dtype=torch.long); am[1, :4] = 0                  # sequence 1 has 4 pad tokens on the left
    pos = (am.cumsum(-1) - 1).clamp(min=0)
    with torch.no_grad():
        ref = hf(idx, attention_mask=am, position_ids=pos).logits
        got = ours(idx, attention_mask=am, positions=pos)
        real = am.bool()
        torch.testing.assert_close(got[real], ref[real], atol=1e-5, rtol=0)
        cache = ours.new_cache()
        parts = [ours(idx[:, :6], cache=cache, attention_mask=am[:, :6], positions=pos[:, :6])]
        parts += [ours(idx[:, t:t + 1], cache=cache, attention_mask=am[:, :t + 1], positions=pos[:, t:t + 1]) for t in range(6, 12)]
        torch.testing.assert_close(torch.cat(parts, 1)[real], ref[real], atol=1e-5, rtol=0)
        # the padded row's real tokens equal the same sequence run alone without padding
        alone = ours(idx[1:, 4:])
        torch.testing.assert_close(got[1, 4:], alone[0], atol=1e-5, rtol=0)

def test_sliding_cache_with_rope_equals_window():
    "One layer, RoPE (relative positions), a sliding KV cache of W keys: each step equals a fresh run on the last W tokens."
    # (with more layers the cached keys of deeper layers remember tokens that have left the window: only one layer is exact)
    from llm_nb.attention import KVCache
    torch.manual_seed(0)
    m = GPT(GPTConfig.from_preset('llama-tiny', block_size=64, n_layer=1)).eval()
    W, idx = 8, torch.randint(0, 512, (1, 14))
    cache = [KVCache(W, sliding=True) for _ in range(m.config.n_layer)]
    with torch.no_grad():
        for t in range(14):
            step = m(idx[:, t:t + 1], cache=cache)[:, -1]
            ref = m(idx[:, max(0, t - W + 1):t + 1])[:, -1]
            torch.testing.assert_close(step, ref, atol=1e-5, rtol=0)
    assert cache[0].length == W and cache[0].position == 14


def test_deprecated_generate_alias_warns_and_matches_the_teaching_loop():
    import llm_nb.transformer as tr
    m = GPT(GPTConfig.from_preset('gpt-micro')).eval()
    p = torch.tensor([[3, 1, 4]])
    with pytest.warns(DeprecationWarning, match='llm_nb.generation.generate'):
        old = tr.generate(m, p, 5, temperature=0)
    assert torch.equal(old, generate_simple(m, p, 5, temperature=0))

def test_from_preset_is_one_method_for_the_three_configs():
    for cls, name in [(GPTConfig, 'gpt-micro'), (EncoderConfig, 'bert-micro'), (Seq2SeqConfig, 'transformer-tiny')]:
        assert cls.from_preset.__func__ is GPTConfig.from_preset.__func__
        c = cls.from_preset(name, dropout=0.25)
        assert isinstance(c, cls) and c.dropout == 0.25
        with pytest.raises(ValueError, match='unknown preset'): cls.from_preset('nope')
    assert 'shakespeare-char' not in GPTConfig._presets      # the name belongs to the training recipe

def test_models_count_their_flops_and_share_the_loss():
    from llm_nb.transformer import flops_per_token, lm_loss
    c = GPTConfig.from_preset('gpt-micro')
    m = GPT(c)
    assert m.flops_per_token(32, training=True) == flops_per_token(c, 32, training=True)
    x = torch.randint(0, c.vocab_size, (2, 8))
    logits, loss = m(x, x)
    assert torch.equal(loss, lm_loss(logits, x))

def test_positions_are_checked_by_each_model():
    with pytest.raises(ValueError, match="BERT supports pos="):
        BERT(EncoderConfig.from_preset('bert-micro', pos='alibi'))
    with pytest.raises(ValueError, match="Seq2SeqTransformer supports pos="):
        Seq2SeqTransformer(Seq2SeqConfig.from_preset('transformer-tiny', pos='alibi'))
    s = Seq2SeqTransformer(Seq2SeqConfig.from_preset('transformer-tiny', pos='learned'))
    assert s.src_pos is not s.tgt_pos                       # learned tables: one per side
    s = Seq2SeqTransformer(Seq2SeqConfig.from_preset('transformer-tiny'))
    assert s.src_pos is s.tgt_pos                           # the sinusoidal table is shared

# --- the split of chapter 04 into llm_nb.transformer, .bert, .encoder_decoder and .hf_gpt2 ------------------------------
def test_transformer_does_not_import_the_later_parts(fresh_python):
    out, _ = fresh_python("import sys, llm_nb.transformer\n"
                          "print(*[m in sys.modules for m in ('llm_nb.bert', 'llm_nb.encoder_decoder', 'llm_nb.hf_gpt2')])")
    assert out.split() == ['False', 'False', 'False']

def test_moved_names_forward_for_one_release(tmp_path, fresh_python):
    import importlib, warnings
    import llm_nb.transformer as tr
    moved = {}
    for name, modname in tr.__getattr__.moved.items(): moved.setdefault(modname, []).append(name)
    for modname, names in moved.items():
        mod = importlib.import_module(modname)
        assert set(names) <= set(mod.__all__) and not set(names) & set(tr.__all__)
        for name in names:
            with pytest.warns(DeprecationWarning, match=f'llm_nb.transformer.{name} has moved to {modname}'):
                assert getattr(tr, name) is getattr(mod, name)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        with pytest.raises(AttributeError, match='no attribute'): tr.no_such_name
    # an old import in a fresh interpreter still works, and brings GPT its from_pretrained/save_pretrained
    hf = GPT2LMHeadModel(GPT2Config(vocab_size=50, n_positions=16, n_embd=16, n_layer=1, n_head=2, bos_token_id=None, eos_token_id=None))
    hf.save_pretrained(tmp_path / 'hf')
    out, err = fresh_python("from llm_nb.transformer import GPT, load_hf_weights, BERT, Seq2SeqConfig\n"
                            "m = GPT.from_pretrained('hf'); m.save_pretrained('ours')\n"
                            "print(sum(v.numel() for v in load_hf_weights('ours').values()), BERT.__module__, Seq2SeqConfig.__module__)")
    n_hf = sum(p.numel() for p in hf.parameters())   # the tied head is counted once here and not stored in our file
    assert out.split() == [str(n_hf), 'llm_nb.bert', 'llm_nb.encoder_decoder'] and 'DeprecationWarning' in err

def test_from_pretrained_functions_equal_the_methods(tmp_path):
    from llm_nb.hf_gpt2 import from_pretrained, save_pretrained
    folder = save_pretrained(GPT(GPTConfig.from_preset('gpt-micro')), tmp_path / 'm')
    a, b = from_pretrained(folder).eval(), GPT.from_pretrained(folder).eval()
    idx = torch.randint(0, 256, (1, 8))
    torch.testing.assert_close(a(idx), b(idx))
    class MyGPT(GPT): pass
    assert type(MyGPT.from_pretrained(folder)) is MyGPT and type(from_pretrained(folder, MyGPT)) is MyGPT

# --- bad configs and bad files fail with a message that names the field or the file (issue 17, item 10) ---------------
@pytest.mark.parametrize('field,value', [('n_layer', 0), ('n_head', 0), ('vocab_size', 0), ('block_size', 0), ('n_embd', -8),
                                         ('n_layer', -1), ('n_kv_head', 0), ('d_ff', -4)])
def test_configs_refuse_empty_or_negative_sizes(field, value):
    for cls in (GPTConfig, EncoderConfig, Seq2SeqConfig):
        with pytest.raises(ValueError, match=f'{field} must be a positive integer, got {value}'): cls(**{field: value})

def _micro_folder(tmp_path, **kw):
    return GPT(GPTConfig.from_preset('gpt-micro')).save_pretrained(tmp_path / 'm', **kw)

def test_truncated_weights_name_the_file(tmp_path):
    folder = _micro_folder(tmp_path, safe_serialization=False)
    f = folder / 'pytorch_model.bin'; f.write_bytes(f.read_bytes()[:f.stat().st_size // 2])
    with pytest.raises(ValueError, match=r'pytorch_model\.bin'): GPT.from_pretrained(folder)
    folder = _micro_folder(tmp_path / 's')
    f = folder / 'model.safetensors'; f.write_bytes(f.read_bytes()[:f.stat().st_size // 2])
    with pytest.raises(ValueError, match=r'model\.safetensors'): load_hf_weights(folder)

def test_truncated_config_names_the_file(tmp_path):
    folder = _micro_folder(tmp_path)
    c = folder / 'config.json'; c.write_text(c.read_text()[:40])
    with pytest.raises(ValueError, match=r'config\.json'): GPT.from_pretrained(folder)

def test_shard_index_may_not_point_outside_the_folder(tmp_path):
    folder = _micro_folder(tmp_path)
    (folder / 'model.safetensors').rename(tmp_path / 'x.safetensors')
    (folder / 'model.safetensors.index.json').write_text(json.dumps({'weight_map': {'transformer.wte.weight': '../x.safetensors'}}))
    with pytest.raises(ValueError, match=r'\.\./x\.safetensors.*outside'): load_hf_weights(folder)
