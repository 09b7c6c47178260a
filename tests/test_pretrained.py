"""SmolLM2-135M-Instruct on our code versus `transformers` on the same GGUF file: dequantization, logits (with and
without the KV cache), greedy decoding, the tokenizer, the chat template, export round trips and bad input."""
import os
os.environ.setdefault('HF_HUB_OFFLINE', '1'); os.environ.setdefault('TRANSFORMERS_OFFLINE', '1')
import numpy as np, pytest, torch
pytest.importorskip('gguf'); pytest.importorskip('transformers'); pytest.importorskip('accelerate')
from llm_nb.data import DataError, get_path, load as load_data, load_text
from llm_nb.generation import generate
from llm_nb.pretrained import (GGUFError, chat, chat_ids, export_gguf, gguf_tokenizer, load, read_gguf,
                                render_chat)
from llm_nb.transformer import GPT, GPTConfig

try: PATH = get_path('smollm2-135m-instruct-q4_1', download=False)
except DataError as e: pytest.skip(f'the SmolLM2 GGUF is not available: {e}', allow_module_level=True)

@pytest.fixture(scope='module')
def hf():
    "transformers' model and tokenizer from the same file, loaded once for the module."
    from transformers import AutoModelForCausalLM, AutoTokenizer
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    m = AutoModelForCausalLM.from_pretrained(PATH.parent, gguf_file=PATH.name, dtype=torch.float32).eval()
    return m, AutoTokenizer.from_pretrained(PATH.parent, gguf_file=PATH.name)

@pytest.fixture(scope='module')
def ours():
    return load('smollm2-135m-instruct-q4_1')

def test_dequantize_every_tensor_equals_gguf():
    from gguf import GGUFReader
    from gguf.quants import dequantize
    f = read_gguf(PATH)
    for t in GGUFReader(PATH).tensors:
        np.testing.assert_array_equal(f.tensor(t.name), dequantize(t.data, t.tensor_type), err_msg=t.name)

PROMPTS = ['The capital of France is', 'def add(a, b):\n    return', '<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n',
           'In 1492, Columbus sailed the ocean blue. In 1969,']

@torch.no_grad()
def test_logits_match_transformers_with_and_without_cache(ours, hf):
    model, _ = ours
    for p in PROMPTS:
        ids = torch.tensor([hf[1].encode(p)])
        ref = hf[0](ids).logits
        torch.testing.assert_close(model(ids), ref, atol=1e-4, rtol=0)
        cache = model.new_cache(64)
        T = ids.size(1)   # prefill all but the last 4 tokens, then one at a time
        steps = [model(ids[:, :T - 4], cache=cache)] + [model(ids[:, i:i+1], cache=cache) for i in range(T - 4, T)]
        torch.testing.assert_close(torch.cat(steps, 1), ref, atol=1e-4, rtol=0)

def test_greedy_generate_matches_transformers(ours, hf):
    model, tok = ours
    ids = chat_ids(tok, [{'role': 'user', 'content': 'Write a haiku about autumn.'}])
    a = generate(model, ids, 64, temperature=0)[0].tolist()
    x = torch.tensor([ids])   # an explicit mask: else transformers masks every id equal to pad_token_id (<|im_end|> in the prompt)
    b = hf[0].generate(x, attention_mask=torch.ones_like(x), max_new_tokens=64, do_sample=False, eos_token_id=None, pad_token_id=2)[0].tolist()
    assert a == b

def test_tokenizer_matches_transformers(ours, hf):
    from tokenizers import pre_tokenizers
    from transformers import AutoTokenizer
    _, tok = ours
    fixed = AutoTokenizer.from_pretrained(PATH.parent, gguf_file=PATH.name)
    fixed.backend_tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    plain = gguf_tokenizer(read_gguf(PATH), pre='gpt2')
    instr = '\n\n'.join(f"{r['instruction']}\n{r['input']}\n{r['output']}" for r in load_data('instructions'))
    for text in [load_text('tinyshakespeare'), instr, load_text('tang-poems')[:300_000], 'a  12 x\x04!\x04? \U00050000 2024']:
        assert tok.encode(text) == fixed.encode(text, add_special_tokens=False)
        assert plain.encode(text) == hf[1].encode(text, add_special_tokens=False)
    assert tok.decode(tok.encode(instr)) == instr

def test_tokenizer_property(ours, hf):
    pytest.importorskip('hypothesis')
    from hypothesis import given, settings, strategies as st
    from tokenizers import pre_tokenizers
    _, tok = ours
    be = hf[1].backend_tokenizer.__class__.from_str(hf[1].backend_tokenizer.to_str())
    be.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    chars = st.one_of(st.characters(codec='utf-8'), st.sampled_from(list(' \t\n0123456789\x04\'sl') + ['  ', '\U00050000']))
    @settings(max_examples=300, deadline=None, derandomize=True)
    @given(st.lists(chars, max_size=40).map(''.join))
    def check(s):
        if '<' in s: return
        assert tok.encode(s) == be.encode(s, add_special_tokens=False).ids
    check()

def test_chat_template_matches_apply_chat_template(ours, hf):
    _, tok = ours
    convs = [[{'role': 'user', 'content': 'Hi'}],
             [{'role': 'system', 'content': 'Be brief.'}, {'role': 'user', 'content': 'Hi'}],
             [{'role': 'user', 'content': 'A'}, {'role': 'assistant', 'content': 'B'}, {'role': 'user', 'content': 'C'}],
             [{'role': 'system', 'content': 'S'}, {'role': 'user', 'content': 'A'}, {'role': 'assistant', 'content': 'B'}]]
    for msgs in convs:
        for gen in (True, False):
            assert render_chat(tok.chat_template, msgs, gen) == hf[1].apply_chat_template(msgs, tokenize=False, add_generation_prompt=gen)

def test_chat_answers_and_streams(ours):
    model, tok = ours
    msgs = [{'role': 'user', 'content': 'What is the capital of France?'}]
    pieces = list(chat(model, tok, msgs, max_new_tokens=30))
    assert len(pieces) > 1 and 'Paris' in ''.join(pieces) and '<|im_end|>' not in ''.join(pieces)
    assert chat(model, tok, msgs, stream=False, max_new_tokens=30) == ''.join(pieces)

@pytest.mark.parametrize('dtype', ['F32', 'F16', 'Q8_0'])
def test_export_round_trip(ours, tmp_path, dtype):
    from transformers import AutoModelForCausalLM
    _, tok = ours
    torch.manual_seed(0)
    small = GPT(GPTConfig.from_preset('llama-tiny', vocab_size=tok.vocab_size, tie_embeddings=dtype != 'F16')).eval()
    p = export_gguf(small, tmp_path/f'm-{dtype}.gguf', tok, dtype=dtype)
    back, tok2 = load(p)
    theirs = AutoModelForCausalLM.from_pretrained(tmp_path, gguf_file=p.name, dtype=torch.float32).eval()
    ids = torch.tensor([chat_ids(tok, [{'role': 'user', 'content': 'Hello there, 123'}])])
    with torch.no_grad(): a, b, c = back(ids), theirs(ids).logits, small(ids)
    torch.testing.assert_close(a, b, atol=1e-4, rtol=0)
    tol = {'F32': 1e-6, 'F16': 1e-2, 'Q8_0': 0.1}[dtype]
    assert (a - c).abs().max() < tol
    assert tok2.encode('The year 2024,  12 apples') == tok.encode('The year 2024,  12 apples')

@pytest.mark.parametrize('dtype,bias', [('F32', False), ('F16', True), ('Q8_0', False)])
def test_export_gpt2_layout_round_trip(tmp_path, dtype, bias):
    "A GPT-2-layout model with a character tokenizer: architecture gpt2, zero biases when it has none, transformers agrees."
    import dataclasses
    from transformers import AutoModelForCausalLM, GPT2Config
    from llm_nb.hf_gpt2 import gpt2_config_to_hf
    from llm_nb.tokenization import CharTokenizer
    tok = CharTokenizer.from_text('To be, or not to be: that is the question. 春眠不觉晓')
    torch.manual_seed(0)
    cfg = GPTConfig(vocab_size=tok.vocab_size, block_size=48, n_layer=2, n_head=4, n_embd=64, bias=bias, tie_embeddings=not bias)
    small = GPT(cfg).eval()
    p = export_gguf(small, tmp_path/f'g-{dtype}.gguf', tok, dtype=dtype)
    assert read_gguf(p).metadata['general.architecture'] == 'gpt2'
    back, tok2 = load(p)
    assert back.config.block_size == 48 and back.config.tie_embeddings == cfg.tie_embeddings
    assert tok2.encode('春眠, to be') == tok.encode('春眠, to be')
    hf_cfg = GPT2Config(**gpt2_config_to_hf(dataclasses.replace(cfg, bias=True)))
    theirs = AutoModelForCausalLM.from_pretrained(tmp_path, gguf_file=p.name, config=hf_cfg, dtype=torch.float32).eval()
    ids = torch.tensor([tok.encode('that is the question 春眠')])
    with torch.no_grad(): a, b, c = back(ids), theirs(ids).logits, small(ids)
    torch.testing.assert_close(a, b, atol=1e-4, rtol=0)
    assert (a - c).abs().max() < {'F32': 1e-6, 'F16': 1e-2, 'Q8_0': 0.1}[dtype]

def test_export_refuses_what_gguf_cannot_hold(tmp_path):
    cfg = GPTConfig(vocab_size=32, block_size=16, n_layer=1, n_head=2, n_embd=16, pos='alibi')
    with pytest.raises(ValueError, match="'llama'.*'gpt2'"): export_gguf(GPT(cfg), tmp_path/'x.gguf')
    assert not (tmp_path/'x.gguf').exists()

def _rewrite_gguf(src, dst, edit):
    "Copy the GGUF file `src` to `dst` with gguf's own reader and writer, every tensor passed through `edit(name, array)` (None drops it)."
    from gguf import GGUFReader, GGUFValueType, GGUFWriter
    r = GGUFReader(src)
    w = GGUFWriter(str(dst), r.fields['general.architecture'].contents())
    for key, f in r.fields.items():
        if key.startswith('GGUF.') or key == 'general.architecture': continue     # the writer writes these itself
        sub = f.types[1] if f.types[0] == GGUFValueType.ARRAY else None
        w.add_key_value(key, f.contents(), f.types[0], sub_type=sub)
    for t in r.tensors:
        a = edit(t.name, np.array(t.data))
        if a is not None: w.add_tensor(t.name, a)
    w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
    return dst

def test_bad_gpt2_input(tmp_path):
    "A damaged gpt2-architecture GGUF (a tensor missing, a tensor of the wrong shape) is refused with an error that names the tensor."
    from llm_nb.tokenization import CharTokenizer
    tok = CharTokenizer.from_text('To be, or not to be: that is the question.')
    torch.manual_seed(0)
    small = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=32, n_layer=2, n_head=2, n_embd=16, bias=True, tie_embeddings=False)).eval()
    good = export_gguf(small, tmp_path/'good.gguf', tok)
    assert read_gguf(good).metadata['general.architecture'] == 'gpt2'
    copy = _rewrite_gguf(good, tmp_path/'copy.gguf', lambda name, a: a)          # the rewriting itself damages nothing
    back, _ = load(copy)
    ids = torch.tensor([tok.encode('to be')])
    with torch.no_grad(): torch.testing.assert_close(back(ids), small(ids), atol=1e-6, rtol=0)
    qkv = 'blk.1.attn_qkv.weight'
    assert read_gguf(good).tensors[qkv].shape == (3 * 16, 16)
    missing = _rewrite_gguf(good, tmp_path/'missing.gguf', lambda name, a: None if name == qkv else a)
    short = _rewrite_gguf(good, tmp_path/'short.gguf', lambda name, a: a[:-16] if name == qkv else a)  # Q and K, no V
    with pytest.raises(GGUFError, match=r"missing\.gguf: tensor 'blk\.1\.attn_qkv\.weight' is missing"): load(missing)
    with pytest.raises(GGUFError, match=r"tensor 'blk\.1\.attn_qkv\.weight' has shape \(32, 16\), our GPT needs \(48, 16\)"): load(short)

def test_bad_input(tmp_path):
    good = PATH.read_bytes()
    (tmp_path/'t.gguf').write_bytes(good[:len(good) // 2])
    (tmp_path/'m.gguf').write_bytes(b'GGML' + good[4:2048])
    (tmp_path/'v.gguf').write_bytes(good[:4] + (7).to_bytes(4, 'little') + good[8:2048])
    with pytest.raises(GGUFError, match='truncated file'): load(tmp_path/'t.gguf')
    with pytest.raises(GGUFError, match='not a GGUF file'): load(tmp_path/'m.gguf')
    with pytest.raises(GGUFError, match='version 7 is not supported'): read_gguf(tmp_path/'v.gguf')
    with pytest.raises(GGUFError, match='checksum mismatch'): load(PATH, sha256='0' * 64)
    with pytest.raises(DataError): load(tmp_path/'missing.gguf')
