"""Properties and error handling of llm_nb.tokenization and llm_nb.bpe: round trips (hypothesis), trainer agreement, the save
format and its errors, GPT-2 file errors, batches."""
import random, warnings

import pytest
from hypothesis import given, settings, strategies as st

import llm_nb.tokenization as part1, llm_nb.bpe as part2
from llm_nb.data import get_path, load_text
from llm_nb.tokenization import CharTokenizer, FORMAT_VERSION, Tokenizer, WordTokenizer, pad_batch
from llm_nb.bpe import (BPETokenizer, _bpe_fast, _bpe_heap, _bpe_simple, _gpt2_re, load_tokenizer, pre_tokenize, train_bpe,
                        train_bpe_naive)

@pytest.fixture(scope='module')
def shakespeare(): return load_text('tinyshakespeare')

@pytest.fixture(scope='module')
def gpt2(): return BPETokenizer.from_gpt2_files()

@pytest.fixture(scope='module')
def small_bpe(shakespeare): return BPETokenizer.train(shakespeare[:100_000], 512, special_tokens=['<|endoftext|>'])

# --- round trips -----------------------------------------------------------------------------------------------
@settings(max_examples=300, deadline=None)
@given(st.text())  # hypothesis' text() covers all of Unicode except surrogates
def test_roundtrip_gpt2(gpt2, s):
    assert gpt2.decode(gpt2.encode(s, disallowed_special=())) == s

@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec='utf-8'), max_size=200) | st.binary(max_size=64).map(lambda b: b.decode('latin-1')))
def test_roundtrip_trained(small_bpe, s):
    ids = small_bpe.encode(s, disallowed_special=())
    assert small_bpe.decode(ids) == s
    assert small_bpe.decode_bytes(ids) == s.encode('utf-8')

def test_roundtrip_empty(gpt2, small_bpe):
    for t in (gpt2, small_bpe):
        assert t.encode('') == [] and t.decode([]) == ''

def test_lone_surrogate_documented_replacement(small_bpe):
    assert small_bpe.decode(small_bpe.encode('a\udc80b')) == 'a\ufffdb'

@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=1, max_size=300))
def test_heap_and_simple_merge_agree(gpt2, data):
    assert _bpe_heap(data, gpt2.ranks) == _bpe_simple(data, gpt2.ranks) == _bpe_fast(data, gpt2.ranks)

@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40).map(lambda s: s.encode('utf-8')))  # real text's bytes: the merges GPT-2 actually makes
def test_fast_and_simple_merge_agree_on_text(gpt2, data):
    assert _bpe_fast(data, gpt2.ranks) == _bpe_simple(data, gpt2.ranks)

def test_heap_and_simple_merge_agree_on_repetitive_bytes(small_bpe):
    rng = random.Random(0)
    for _ in range(200):
        data = bytes(rng.choice(b'ab ') for _ in range(rng.randrange(1, 200)))
        assert _bpe_heap(data, small_bpe.ranks) == _bpe_simple(data, small_bpe.ranks) == _bpe_fast(data, small_bpe.ranks)

# --- the stdlib `re` route for GPT-2's pattern: the same pre-tokens as `regex` ----------------------------------
# characters where `re` and `regex` (or Unicode versions) could disagree: the contraction letters, every kind of
# whitespace (U+001C-U+001F are str.isspace() but not Unicode White_Space), digits that are not decimal, letters that
# are numbers, marks, format characters, the class boundaries of Latin-1, and characters new in recent Unicode versions
TRICKY_CHARS = list("'sdmtlvreSDMTLVRE \t\n\x0b\x0c\r\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000\u2028\u2029\u202f\u205f\u3000"
                    "09\u0660\u00b2\u00bd\u2167\u3007\u4e00\u4e2d\u00aa\u00b5\u00ba\u00d7\u00f7\u00df\u0301\u200b\u200d"
                    "\ufeff\u0e01\u0e31\u1e9e\u2c2f\ua7c0\u0870\u0897\u1cfa\u31ef\ufffd\uffff!_-\\[]^")

@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from(TRICKY_CHARS) | st.characters(max_codepoint=0xFFFF), max_size=60))
def test_stdlib_re_split_is_gpt2_pattern(s):
    assert _gpt2_re().findall(s) == pre_tokenize(s)

@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=0xFFFF, categories=['Cs']) | st.sampled_from(TRICKY_CHARS), max_size=30))
def test_stdlib_re_split_with_surrogates(s):  # what `pre_tokenize` may be given (encode replaces lone surrogates first)
    assert _gpt2_re().findall(s) == pre_tokenize(s)

def test_stdlib_re_split_on_every_bmp_character(shakespeare):
    every = ''.join(map(chr, range(0x10000)))
    shuffled = ''.join(random.Random(0).sample(every, len(every)))
    for s in (every, shuffled, every[::-1], shakespeare, load_text('tang-poems')[:200_000]):
        assert _gpt2_re().findall(s) == pre_tokenize(s)

def test_split_routes(gpt2, small_bpe):
    "GPT-2's pattern takes the `re` route unless the text has a character above U+FFFF; other patterns never do."
    s = "it's 12 naïve 中文 " * 3
    assert gpt2._split(s) == _gpt2_re().findall(s) == pre_tokenize(s)
    for t in (s + '🙂', '🙂', '𠀀中', 'a\U0010ffffb'):  # above U+FFFF: the regex route, the same pre-tokens
        assert gpt2._split(t) == pre_tokenize(t)
    cl = BPETokenizer(gpt2.ranks, 'cl100k')
    assert cl._split("it's 12345") == pre_tokenize("it's 12345", 'cl100k') != gpt2._split("it's 12345")

# --- trainers --------------------------------------------------------------------------------------------------
def test_wikipedia_example():
    merges = train_bpe_naive('aaabdaaabac', 259)
    assert merges == [((97, 97), 256), ((97, 98), 257), ((256, 257), 258)]
    assert train_bpe('aaabdaaabac', 259) == merges
    tok = BPETokenizer.from_merges(merges)
    assert tok.encode('aaabdaaabac') == [258, 100, 258, 97, 99]  # XdXac

@pytest.mark.parametrize('n,vocab,pattern', [(20_000, 400, 'gpt2'), (8_000, 500, 'cl100k')])
def test_naive_and_fast_trainers_agree(shakespeare, n, vocab, pattern):
    text = shakespeare[:n]
    assert train_bpe(text, vocab, pattern) == train_bpe_naive(text, vocab, pattern)

def test_trainers_agree_on_chinese_and_specials():
    text = load_text('tang-poems')[:6000] + '<|endoftext|>' + 'aaaa bbbb ' * 30
    kw = dict(special_tokens=['<|endoftext|>'])
    assert train_bpe(text, 420, **kw) == train_bpe_naive(text, 420, **kw)

def test_trainer_ties_smallest_pair_first():
    # every pair occurs once: the tie goes to the smallest (left id, right id)
    assert train_bpe('zyx', 257) == [((121, 120), 256)] == train_bpe_naive('zyx', 257)

def test_trainer_stops_when_nothing_to_merge():
    tok = BPETokenizer.train('ab', 1000)
    assert tok.vocab_size == 257

def test_special_tokens_are_boundaries_and_last_ids():
    tok = BPETokenizer.train('ab<|x|>ab<|x|>ab', 300, special_tokens=['<|x|>'])
    assert tok.special_tokens == {'<|x|>': tok.vocab_size - 1}
    assert all(b'<' not in b for b in tok.ranks if len(b) > 1)  # nothing merged across or into the special

def test_smaller_vocab_is_a_prefix(shakespeare):
    big = train_bpe(shakespeare[:50_000], 700)
    assert big[:100] == train_bpe(shakespeare[:50_000], 356)

# --- errors ----------------------------------------------------------------------------------------------------
def test_vocab_size_too_small():
    with pytest.raises(ValueError, match='at least 258'): BPETokenizer.train('abc', 257, special_tokens=['<a>', '<b>'])
    with pytest.raises(ValueError, match='vocab_size=100'): train_bpe_naive('abc', 100)

def test_decode_out_of_range(small_bpe):
    with pytest.raises(ValueError, match='token id 512 at position 2 is out of range'): small_bpe.decode([1, 2, 512])
    with pytest.raises(ValueError, match='token id -1'): small_bpe.decode([-1])
    with pytest.raises(TypeError, match='not an integer'): small_bpe.decode(['a'])

def test_disallowed_and_unknown_specials(small_bpe):
    with pytest.raises(ValueError, match='disallowed_special=()'): small_bpe.encode('x<|endoftext|>')
    with pytest.raises(ValueError, match='not special tokens'): small_bpe.encode('x', allowed_special={'<nope>'})
    with pytest.raises(TypeError): small_bpe.encode(b'bytes')
    with pytest.raises(TypeError, match="did you mean"): small_bpe.encode('x', allowed_special='<|endoftext|>')

def test_partial_utf8_decode(gpt2):
    ids = gpt2.encode('非')
    assert len(ids) > 1
    assert gpt2.decode(ids[:1]) == '\ufffd'
    assert gpt2.decode(ids[:1], errors='ignore') == ''
    with pytest.raises(UnicodeDecodeError): gpt2.decode(ids[:1], errors='strict')

def _write(tmp_path, name, text):
    p = tmp_path/name; p.write_text(text, encoding='utf-8'); return p

def test_gpt2_malformed_merges_names_the_line(tmp_path):
    lines = get_path('gpt2-merges').read_text(encoding='utf-8').split('\n')
    bad = lines[:10] + ['Ġt he extra'] + lines[10:]
    p = _write(tmp_path, 'vocab.bpe', '\n'.join(bad))
    with pytest.raises(ValueError, match=r'vocab\.bpe:11: expected two tokens'):
        BPETokenizer.from_gpt2_files(p)
    swapped = lines[:5] + [lines[6], lines[5]] + lines[7:]
    p = _write(tmp_path, 'vocab2.bpe', '\n'.join(swapped))
    with pytest.raises(ValueError, match=r'vocab2\.bpe:6: .* do not belong together'):
        BPETokenizer.from_gpt2_files(p)

def test_gpt2_truncated_files(tmp_path):
    lines = get_path('gpt2-merges').read_text(encoding='utf-8').split('\n')
    p = _write(tmp_path, 'vocab.bpe', '\n'.join(lines[:1000]))
    with pytest.raises(ValueError, match='only 999 merges.*truncated'):
        BPETokenizer.from_gpt2_files(p)
    enc = get_path('gpt2-encoder').read_text(encoding='utf-8')
    q = _write(tmp_path, 'encoder.json', enc[:len(enc) // 2])
    with pytest.raises(ValueError, match=r'encoder\.json:1: malformed JSON'):
        BPETokenizer.from_gpt2_files(encoder_path=q)

def test_save_load_roundtrip_all_kinds(tmp_path, small_bpe, gpt2, shakespeare):
    text = shakespeare[-3000:] + ' 中文 🙂'
    for tok in (small_bpe, gpt2, CharTokenizer.from_text(shakespeare), WordTokenizer.from_text(shakespeare, max_size=500),
                CharTokenizer.from_text('abc', special_tokens=())):
        p = tmp_path/f'{tok.kind}.tok'
        tok.save(p)
        back = load_tokenizer(p)
        assert type(back) is type(tok) and back.special_tokens == tok.special_tokens
        assert back.encode(text, disallowed_special=()) == tok.encode(text, disallowed_special=()) if tok.vocab_size > 10 \
            else back.encode('cab') == tok.encode('cab')
        assert isinstance(back, Tokenizer)
    small_bpe.save(p := tmp_path/'again.tok')
    assert BPETokenizer.load(p).ranks == small_bpe.ranks
    with pytest.raises(ValueError, match="holds a 'bpe' tokenizer"): CharTokenizer.load(p)

def test_save_file_is_readable_text(tmp_path, gpt2):
    gpt2.save(p := tmp_path/'gpt2.tok')
    lines = p.read_text(encoding='utf-8').split('\n')
    assert lines[0] == f'llm_nb-tokenizer {FORMAT_VERSION} bpe'
    assert 'token [262, " the"]' in lines
    assert any(l.startswith('token [') and '\\udc' in l for l in lines)  # partial UTF-8 bytes as surrogate escapes

def test_load_newer_version_and_malformed(tmp_path, small_bpe):
    small_bpe.save(p := tmp_path/'t.tok')
    text = p.read_text(encoding='utf-8')
    _write(tmp_path, 'new.tok', text.replace(f'llm_nb-tokenizer {FORMAT_VERSION}', f'llm_nb-tokenizer {FORMAT_VERSION + 1}', 1))
    with pytest.raises(ValueError, match=f'format version {FORMAT_VERSION + 1}, newer'): load_tokenizer(tmp_path/'new.tok')
    lines = text.split('\n'); lines[7] = 'token [5, "unterminated'
    _write(tmp_path, 'bad.tok', '\n'.join(lines))
    with pytest.raises(ValueError, match=r'bad\.tok:8: malformed'): load_tokenizer(tmp_path/'bad.tok')
    lines = text.split('\n'); lines[7] = 'token {"id": 5}'
    _write(tmp_path, 'bad2.tok', '\n'.join(lines))
    with pytest.raises(ValueError, match=r'bad2\.tok:8: token line must be \[id, text\]'): load_tokenizer(tmp_path/'bad2.tok')
    _write(tmp_path, 'trunc.tok', text[:len(text) // 2])  # cut mid-line: the last line is malformed
    with pytest.raises(ValueError, match=r'trunc\.tok:\d+: malformed'): load_tokenizer(tmp_path/'trunc.tok')
    _write(tmp_path, 'other.tok', 'hello\n')
    with pytest.raises(ValueError, match='not an llm_nb tokenizer file'): load_tokenizer(tmp_path/'other.tok')

# --- char / word / batches ---------------------------------------------------------------------------------------
def test_char_tokenizer(shakespeare):
    ct = CharTokenizer.from_text(shakespeare, special_tokens=())
    assert ct.vocab_size == 65  # the classic Tiny Shakespeare character vocabulary
    assert ct.decode(ct.encode(shakespeare[:1000])) == shakespeare[:1000]
    with pytest.raises(ValueError, match='not in the vocabulary'): ct.encode('你')
    ct2 = CharTokenizer.from_text(shakespeare)
    assert (ct2.pad_id, ct2.unk_id, ct2.bos_id, ct2.eos_id) == (0, 1, 2, 3)
    assert ct2.encode('a<eos>', allowed_special='all')[-1] == 3

def test_word_tokenizer_oov(shakespeare):
    wt = WordTokenizer.from_text(shakespeare[:500_000], max_size=2000)
    ids = wt.encode('thou art zyzzyva')
    assert ids[-1] == wt.unk_id and wt.unk_id not in ids[:2]
    with pytest.raises(ValueError, match="'<unk>'"): WordTokenizer(['a'], special_tokens=['<pad>'])

def test_batches_padding_truncation(small_bpe):
    ct = CharTokenizer.from_text('abcdef')
    seqs = ct.encode_batch(['abc', 'abcdef', ''], add_bos=True, add_eos=True, max_length=5)
    assert [len(s) for s in seqs] == [5, 5, 2]
    assert seqs[1] == [2] + ct.encode('abcd')  # truncated on the right: eos cut off
    assert ct.encode_batch(['abcdef'], max_length=3, truncation_side='left')[0] == ct.encode('def')
    b = ct.pad(seqs, side='left')
    assert b.input_ids[2] == [0, 0, 0, 2, 3] and b.attention_mask[2] == [0, 0, 0, 1, 1]
    b = ct.pad(seqs, length=6)
    assert b.input_ids[2] == [2, 3, 0, 0, 0, 0] and b.attention_mask[0] == [1] * 5 + [0]
    with pytest.raises(ValueError, match='longer than length=3'): ct.pad(seqs, length=3)
    with pytest.raises(ValueError, match='no pad_id'): small_bpe.pad([[1], [1, 2]])
    assert pad_batch([[1], [1, 2]], pad_id=99).input_ids == [[1, 99], [1, 2]]
    with pytest.raises(ValueError, match='no bos'): small_bpe.encode_batch(['x'], add_bos=True)
    assert small_bpe.encode_batch(['x'], add_eos=True)[0][-1] == small_bpe.eos_id

def test_pre_tokenize_patterns():
    assert pre_tokenize("Hello world's  12345") == ['Hello', ' world', "'s", ' ', ' 12345']
    assert pre_tokenize("Hello world's  12345", 'cl100k') == ['Hello', ' world', "'s", ' ', ' ', '123', '45']

def test_protocol():
    for t in (CharTokenizer.from_text('ab'), WordTokenizer.from_text('a b'), BPETokenizer.train('ab ab', 257)):
        assert isinstance(t, Tokenizer)

# --- the split into llm_nb.tokenization (part 1) and llm_nb.bpe (part 2) ----------------------------------------------
def test_part1_does_not_import_part2(fresh_python):
    out, _ = fresh_python("import sys, llm_nb.tokenization; print('llm_nb.bpe' in sys.modules)")
    assert out.split() == ['False']

def test_moved_names_forward_for_one_release(tmp_path, fresh_python):
    moved = tuple(part1.__getattr__.moved)
    assert set(moved) <= set(part2.__all__) and not set(moved) & set(part1.__all__)
    for name in moved:
        with pytest.warns(DeprecationWarning, match=f'llm_nb.tokenization.{name} has moved to llm_nb.bpe'):
            assert getattr(part1, name) is getattr(part2, name)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        with pytest.raises(AttributeError, match='no attribute'): part1.no_such_name
    # an old import in a fresh interpreter still loads a BPE file (the lazy import registers the 'bpe' kind)
    BPETokenizer.train('the cat sat on the mat ' * 20, 270).save(tmp_path/'b.tok')
    CharTokenizer.from_text('abc').save(tmp_path/'c.tok')
    out, err = fresh_python("from llm_nb.tokenization import load_tokenizer\n"
                            "print(type(load_tokenizer('b.tok')).__name__, type(load_tokenizer('c.tok')).__name__)")
    assert out.split() == ['BPETokenizer', 'CharTokenizer'] and 'DeprecationWarning' in err
    # part 1 alone refuses a BPE file and says where the loader that knows it lives
    _, err = fresh_python("from llm_nb.tokenization import TokenizerBase\n"
                          "try: TokenizerBase.load('b.tok')\nexcept ValueError as e: print(e, file=__import__('sys').stderr)")
    assert "unknown tokenizer kind 'bpe'" in err and 'llm_nb.bpe.load_tokenizer' in err
