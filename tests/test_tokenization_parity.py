"""Our GPT-2 tokenizer against tiktoken built from the same two files, and our trained tokenizers against `to_tiktoken()`.

tiktoken's `gpt2` encoding is rebuilt here from the local `vocab.bpe` and `encoder.json` with
`tiktoken.load.data_gym_to_mergeable_bpe_ranks` and tiktoken's own GPT-2 regex, so no download is needed.
"""
import pytest
pytest.importorskip('tiktoken')
import tiktoken.load  # binds `tiktoken` too
from tiktoken_ext.openai_public import r50k_pat_str

from llm_nb.data import get_path, load_text
from llm_nb.bpe import BPETokenizer, CL100K_PATTERN, GPT2_PATTERN

EOT = '<|endoftext|>'

@pytest.fixture(scope='module')
def gpt2():
    return BPETokenizer.from_gpt2_files()

@pytest.fixture(scope='module')
def ref():
    ranks = tiktoken.load.data_gym_to_mergeable_bpe_ranks(str(get_path('gpt2-merges')), str(get_path('gpt2-encoder')))
    return tiktoken.Encoding('gpt2-from-files', pat_str=r50k_pat_str, mergeable_ranks=ranks, special_tokens={EOT: 50256})

@pytest.fixture(scope='module')
def shakespeare():
    return load_text('tinyshakespeare')

def test_same_ranks_and_specials(gpt2, ref):
    assert gpt2.ranks == ref._mergeable_ranks
    assert gpt2.special_tokens == {EOT: 50256}
    assert gpt2.vocab_size == ref.n_vocab == 50257
    assert gpt2.eos_id == 50256

def test_all_of_tiny_shakespeare(gpt2, ref, shakespeare):
    ours, theirs = gpt2.encode(shakespeare), ref.encode(shakespeare)
    assert len(ours) == len(theirs)
    assert ours == theirs
    assert gpt2.decode(ours) == shakespeare

TRICKY = [
    '今天的天气非常好，我感到很开心。', '我非常喜欢这款手机', 'How are you? → 你好吗？',
    '🙂👍🏽👨‍👩‍👧 emoji and ZWJ sequences 🏳️‍🌈',
    'mixed: English, 中文, 日本語のテキスト, 한국어, ελληνικά, русский, عربى, हिन्दी',
    ' ' * 50 + 'x', '\n\n\n\n', '\t \t \n  \r\n', 'a' + ' ' * 3000 + 'b', ' ' * 10_000, '\n' * 500,
    '0123456789' * 300, '3.14159 1,234,567 ２０２４ ٣٤٥ 1e-10', "I'm you're we've they'll he'd it's 'S 'LL",
    'def f(x):\n    return x ** 2  # comment\n', '<html><body>&amp;</body></html>', '',
    'x' * 5000, 'ab' * 2000, 'ÿ\x00\x01\x7f\x80', 'é' * 1000, '\u200b\ufeff\u00a0 nbsp',
]

@pytest.mark.parametrize('text', TRICKY)
def test_tricky_strings(gpt2, ref, text):
    assert gpt2.encode(text) == ref.encode(text)
    assert gpt2.decode(gpt2.encode(text)) == text

def test_lone_surrogates_replaced_like_tiktoken(gpt2, ref):
    for s in ['a\ud800b', '\udfff', 'x\ud83d\ude00y', 'end\ud83d']:
        assert gpt2.encode(s) == ref.encode(s), repr(s)
    # documented replacement: lone surrogates become U+FFFD, a split surrogate pair is joined
    assert gpt2.decode(gpt2.encode('a\ud800b')) == 'a\ufffdb'
    assert gpt2.decode(gpt2.encode('x\ud83d\ude00y')) == 'x😀y'

SPECIAL_TEXTS = [f'Hello{EOT}world', f'{EOT}', f'a {EOT} b {EOT}{EOT}', f'<|endoftext{EOT}|>', 'no special here']

@pytest.mark.parametrize('text', SPECIAL_TEXTS)
def test_special_token_policies(gpt2, ref, text):
    policies = [dict(allowed_special='all'), dict(allowed_special={EOT}), dict(disallowed_special=()),
                dict(allowed_special=set(), disallowed_special=()), dict(), dict(disallowed_special={EOT})]
    for kw in policies:
        try: theirs = ref.encode(text, **kw)
        except ValueError:
            with pytest.raises(ValueError, match='special token'): gpt2.encode(text, **kw)
            continue
        assert gpt2.encode(text, **kw) == theirs, kw
    assert gpt2.encode_ordinary(text) == ref.encode_ordinary(text)

def test_disallowed_special_raises_by_default(gpt2):
    with pytest.raises(ValueError, match=r"special token '<\|endoftext\|>' at position 5"):
        gpt2.encode(f'Hello{EOT}')

def test_chinese_poems_cold_and_warm(ref):
    "Real Chinese text (long pre-tokens, nearly all of them merged by BPE), with an empty cache and then a full one."
    tang = load_text('tang-poems')[:200_000]
    tok = BPETokenizer.from_gpt2_files()
    theirs = ref.encode_ordinary(tang)
    assert tok.encode(tang) == theirs
    assert tok.encode(tang) == theirs

def test_astral_text_takes_the_regex_route(gpt2, ref, shakespeare):
    "Text with characters above U+FFFF is split by `regex`; the ids stay tiktoken's."
    text = shakespeare[:20_000].replace('e\n', 'e 🙂\n') + ' 𠀀𠀁 emoji 👍🏽'
    assert gpt2.encode(text) == ref.encode_ordinary(text)

def test_encode_batch_matches(gpt2, ref, shakespeare):
    texts = shakespeare[:20_000].split('\n\n')
    assert gpt2.encode_batch(texts) == ref.encode_batch(texts)

@pytest.mark.parametrize('pattern', ['gpt2', 'cl100k'])
def test_trained_tokenizer_to_tiktoken(shakespeare, pattern):
    n = int(0.9 * len(shakespeare))
    tok = BPETokenizer.train(shakespeare[:200_000], 600, pattern=pattern, special_tokens=[EOT])
    enc = tok.to_tiktoken()
    held = shakespeare[n:] + ' 1234567 numbers, 中文 and emoji 🙂 ' + EOT
    assert tok.encode(held, allowed_special='all') == enc.encode(held, allowed_special='all')
    assert tok.encode(held, disallowed_special=()) == enc.encode(held, disallowed_special=())
    back = BPETokenizer.from_tiktoken(enc)
    assert back.ranks == tok.ranks and back.special_tokens == tok.special_tokens and back.pattern == tok.pattern

def test_patterns_are_the_tiktoken_ones():
    from tiktoken_ext import openai_public as op
    import inspect
    assert CL100K_PATTERN in inspect.getsource(op.cl100k_base)
    # our GPT-2 pattern is the original (openai/gpt-2 encoder.py); tiktoken's r50k pattern is an equivalent rewrite,
    # which test_all_of_tiny_shakespeare and test_tricky_strings check on real text
    assert GPT2_PATTERN != r50k_pat_str
