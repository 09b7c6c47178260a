"""Hostile and careless tokenizer files (issue 17, item 7) and non-integer ids in `decode` (item 11).

Every malformed file must raise one `ValueError` that names the file (and the line, where one line is at fault);
a file that loads must mean exactly what its lines say (no id renumbered) and survive a save/load round trip.
The last test mutates valid files at random (seeded, bounded) and checks both properties on each."""
import json, random, re, time

import numpy as np
import pytest
import torch

from llm_nb.tokenization import CharTokenizer, WordTokenizer
from llm_nb.bpe import BPETokenizer, load_tokenizer

CATASTROPHIC = '(?:a|aa)+$'  # exponential backtracking: each extra 'a' before a mismatch multiplies the time

@pytest.fixture(scope='module')
def toks():
    text = "It's a truth universally acknowledged, 2024: 你好, naïve café! " * 20
    return {'char': CharTokenizer.from_text(text), 'word': WordTokenizer.from_text(text),
            'bpe': BPETokenizer.train(text, 300, special_tokens=['<|endoftext|>']),
            'char-plain': CharTokenizer.from_text('abc', special_tokens=())}

def _saved(tok, tmp_path, name='t.tok'):
    p = tmp_path/name; tok.save(p); return p, p.read_text(encoding='utf-8')

def _fails(p, *patterns):
    "Loading `p` raises one ValueError whose message names the file and matches every regex in `patterns`."
    with pytest.raises(ValueError) as e: load_tokenizer(p)
    msg = str(e.value)
    assert str(p) in msg, msg
    for pat in patterns: assert re.search(pat, msg), (pat, msg)
    return msg

def _line_of(text, start):
    return next(n for n, l in enumerate(text.split('\n'), 1) if l.startswith(start))

# --- ids ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize('kind', ['char', 'word'])
def test_special_after_token_lines_is_not_renumbered(toks, tmp_path, kind):
    "Before: the loader numbered specials first whatever ids the file gave, so `token [0, 'a']`, `special [1, '<pad>']` swapped them."
    p = tmp_path/'t.tok'
    extra = 'pattern "\\\\w+"\n' if kind == 'word' else ''
    p.write_text(f'llm_nb-tokenizer 1 {kind}\n{extra}token [0, "a"]\nspecial [1, "<unk>"]\n', encoding='utf-8')
    _fails(p, rf':{3 + bool(extra)}: .*id 1.*should have id 0')
    _, text = _saved(toks[kind], tmp_path)  # a special line moved after the token lines keeps its id: still loads
    lines = text.rstrip('\n').split('\n')
    special = next(l for l in lines if l.startswith('special'))
    (tmp_path/'moved.tok').write_text('\n'.join([l for l in lines if l != special] + [special]) + '\n', encoding='utf-8')
    back = load_tokenizer(tmp_path/'moved.tok')
    assert back.itos == toks[kind].itos and back.special_tokens == toks[kind].special_tokens

@pytest.mark.parametrize('kind', ['char', 'word', 'bpe'])
@pytest.mark.parametrize('bad,why', [('-1', 'negative'), ('-5', 'negative'), ('true', 'not an integer'),
                                     ('2.0', 'not an integer'), ('1.5', 'not an integer'), ('10000000000', r'too large|ids are 0 to'),
                                     ('1e3', 'not an integer'), ('null', 'not an integer')])
def test_ids_must_be_small_non_negative_integers(toks, tmp_path, kind, bad, why):
    "Before: negative, boolean and huge ids loaded (a bpe special id of 10**10 made vocab_size 10**10 + 1)."
    p, text = _saved(toks[kind], tmp_path)
    key = 'special' if kind == 'bpe' else 'token'
    n = _line_of(text, key)
    lines = text.split('\n'); lines[n - 1] = re.sub(r'\[\d+,', f'[{bad},', lines[n - 1])
    p.write_text('\n'.join(lines), encoding='utf-8')
    _fails(p, rf':{n}: ', why)

def test_bpe_ids_shared_by_a_token_and_a_special_name_both(toks, tmp_path):
    p, text = _saved(toks['bpe'], tmp_path)
    sid = toks['bpe'].special_tokens['<|endoftext|>']
    p.write_text(text.replace(f'special [{sid},', 'special [65,'), encoding='utf-8')
    _fails(p, r':\d+: the id 65 .*also the id of', r'line \d+')

# --- patterns ----------------------------------------------------------------------------------------------------
def _with_pattern(text, pattern):
    return re.sub(r'^pattern .*$', lambda m: 'pattern ' + json.dumps(pattern), text, count=1, flags=re.M)

@pytest.mark.parametrize('kind', ['word', 'bpe'])
def test_catastrophic_pattern_is_refused_at_load(toks, tmp_path, kind):
    "Before: the file loaded, and encoding 35 'a's and a '!' took seconds to minutes (exponential in the length)."
    p, text = _saved(toks[kind], tmp_path)
    p.write_text(_with_pattern(text, CATASTROPHIC), encoding='utf-8')
    t0 = time.perf_counter()
    _fails(p, r':\d+: the pattern takes over .* backtracks catastrophically')
    assert time.perf_counter() - t0 < 30  # refused after the probe's time limit, not after the exponential run

def test_untrusted_pattern_runs_under_a_time_limit(toks):
    "What the load-time probe cannot foresee is stopped at encode time, with a message instead of a hang."
    tok = BPETokenizer(toks['bpe'].ranks, CATASTROPHIC)
    assert tok.decode(tok.encode('aaa')) == 'aaa'  # a short text is fine
    with pytest.raises(TimeoutError, match='backtracks catastrophically'): tok.encode('a' * 60 + '!')

@pytest.mark.parametrize('pattern', ['(a', '[a-', '\\p{NoSuchProperty}', 'a{2,1}'])
def test_bad_pattern_is_a_value_error_naming_the_line(toks, tmp_path, pattern):
    "Before: `regex.error` without the file's name."
    p, text = _saved(toks['bpe'], tmp_path)
    p.write_text(_with_pattern(text, pattern), encoding='utf-8')
    _fails(p, r':2: the pattern is not a valid regex')

def test_pattern_must_cover_the_text_and_have_no_capturing_group(toks, tmp_path):
    "Before: a pattern that skips characters made a lossy BPE, and one with a group made findall return the groups."
    p, text = _saved(toks['bpe'], tmp_path)
    for pattern, expect in [(r'\p{L}+', 'matches only'), ('', 'matches only'), (r'(\p{L}+)|\s+|.', 'capturing group')]:
        p.write_text(_with_pattern(text, pattern), encoding='utf-8')
        _fails(p, r':2: .*' + expect)
    with pytest.raises(ValueError, match='capturing group'): BPETokenizer(toks['bpe'].ranks, r'(\w+)|\W')

@pytest.mark.parametrize('value', ['5', 'null', '["x"]'])
def test_pattern_must_be_a_string(toks, tmp_path, value):
    p, text = _saved(toks['word'], tmp_path)
    p.write_text(re.sub(r'^pattern .*$', 'pattern ' + value, text, count=1, flags=re.M), encoding='utf-8')
    _fails(p, r':\d+: pattern must be a str')

# --- bytes, structure ----------------------------------------------------------------------------------------------
def test_invalid_utf8_names_file_and_line(toks, tmp_path):
    "Before: a bare `UnicodeDecodeError` without the file's name."
    p, text = _saved(toks['bpe'], tmp_path)
    data = text.encode('utf-8')
    n = 40
    at = sum(len(l) + 1 for l in data.split(b'\n')[:n - 1]) + 3
    p.write_bytes(data[:at] + b'\xff' + data[at:])
    _fails(p, rf':{n}: not UTF-8 text')

@pytest.mark.parametrize('edit,expect', [
    (lambda t: t.replace('token [4, "', 'token [4, "xy', 1), r':\d+: .*one character'),       # char: a two-character token
    (lambda t: t + 'token [999, "\\ud800"]\n', r':\d+: '),
    (lambda t: t + 'colour "red"\n', r":\d+: unknown key 'colour'"),
    (lambda t: t + 'token [1, 2, 3]\n', r':\d+: token line must be \[id, text\]'),
    (lambda t: t + 'special [4, ""]\n', r':\d+: .*the text is empty'),
    (lambda t: t + 'token [' + '9' * 5000 + ', "q"]\n', r':\d+: malformed value'),
    (lambda t: t + 'token ' + '[' * 100_000 + '\n', r':\d+: malformed value'),
    (lambda t: t.replace('llm_nb-tokenizer 1 char', 'llm_nb-tokenizer 1 sentencepiece'), r":1: unknown tokenizer kind"),
    (lambda t: t.replace('llm_nb-tokenizer 1 char', 'llm_nb-tokenizer 9 char'), r':1: .*format version 9, newer'),
])
def test_malformed_char_files(toks, tmp_path, edit, expect):
    p, text = _saved(toks['char'], tmp_path)
    p.write_text(edit(text), encoding='utf-8')
    _fails(p, expect)

def test_bpe_structure_errors(toks, tmp_path):
    p, text = _saved(toks['bpe'], tmp_path)
    cases = [(text.replace('token [65, "A"]\n', ''), r"no token line for the byte 65"),
             (text + 'token [299, "A"]\n', r':\d+: token b?.A.? appears twice'),
             (text + 'pattern "x"\n', r":\d+: a second 'pattern' line \(the first is line 2\)"),
             (re.sub(r'^pattern .*\n', '', text, flags=re.M), r"no 'pattern' line"),
             (text.replace('token [65, "A"]', 'token [65, "\\udc00"]'), r':\d+: .*surrogate')]
    for t, expect in cases:
        p.write_text(t, encoding='utf-8'); _fails(p, expect)

def test_word_file_needs_unk_and_typed_meta(toks, tmp_path):
    p, text = _saved(toks['word'], tmp_path)
    for t, expect in [(text.replace('"<unk>"', '"<unknown>"'), "no special line for '<unk>'"),
                      (text.replace('lowercase false', 'lowercase "no"'), r':2: lowercase must be a bool'),
                      (text.replace('token [5, ', 'token [5, "<unk>"]\ntoken [99, ', 1), r':\d+: text .* appears twice')]:
        p.write_text(t, encoding='utf-8'); _fails(p, expect)

# --- decode --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize('kind', ['char', 'word', 'bpe'])
def test_decode_refuses_non_integer_ids(toks, kind):
    "Before: `decode([3.7])` decoded id 3 (the float was truncated)."
    tok = toks[kind]
    good = tok.encode('a')[:1]
    for bad in (3.7, 3.0, True, np.float32(3), torch.tensor(3.7), torch.tensor(3.0), '3', None):
        with pytest.raises(TypeError, match='position 1 is .*not an integer'): tok.decode(good + [bad])
    assert tok.decode(np.array(good)) == tok.decode(torch.tensor(good)) == tok.decode(good)  # integer arrays are fine

# --- fuzz ----------------------------------------------------------------------------------------------------------
_NUMBERS = ['-1', '0', '1', '2.5', 'true', 'null', '1e3', '"7"', '10000000000', '299', '300', '65']
_TEXTS = ['', 'ab', 'a', ' ', '<|endoftext|>', '<unk>', '\\ud800', '\\udc80', '\\udcff\\udc80', '中', '\\n']

def _mutate(text:str, rng:random.Random) -> bytes:
    "One random edit of a saved file: lines moved, copied, dropped or retyped, numbers and texts replaced, bytes flipped."
    lines = text.rstrip('\n').split('\n')
    k = rng.randrange(1, len(lines)) if len(lines) > 1 else 0
    op = rng.randrange(10) if len(lines) > 2 else rng.choice([7, 8, 9])
    if op == 0: del lines[k]
    elif op == 1: lines.insert(rng.randrange(len(lines) + 1), lines[k])
    elif op == 2: j = rng.randrange(1, len(lines)); lines[k], lines[j] = lines[j], lines[k]
    elif op == 3: lines.append(lines.pop(k))
    elif op == 4: lines[k] = re.sub(r'-?\d+', lambda m: rng.choice(_NUMBERS), lines[k], count=1)
    elif op == 5: lines[k] = re.sub(r'"(?:[^"\\]|\\.)*"', lambda m: json.dumps(rng.choice(_TEXTS)).replace('\\\\', '\\'), lines[k], count=1)
    elif op == 6: lines[k] = rng.choice(['token', 'special', 'pattern', 'lowercase', 'x']) + ' ' + lines[k].partition(' ')[2]
    elif op == 7: lines[0] = rng.choice(['llm_nb-tokenizer 0 char', 'llm_nb-tokenizer 1 word', 'llm_nb-tokenizer 1 bpe',
                                         'llm_nb-tokenizer 2 bpe', 'llm_nb-tokenizer x bpe', 'tokenizer'])
    data = bytearray(('\n'.join(lines) + '\n').encode('utf-8'))
    if op == 8: i = rng.randrange(len(data)); data[i] = rng.randrange(256)
    if op == 9: data = data[:rng.randrange(len(data))]
    return bytes(data)

def _meaning(tok):
    "What a tokenizer is, as comparable data."
    return (type(tok), tok.special_tokens, getattr(tok, 'itos', None), getattr(tok, 'ranks', None),
            getattr(tok, 'pattern', None), getattr(tok, 'lowercase', None))

def _check_lines_hold(tok, data:bytes):
    "Every token and special line of the file means what it says in the loaded tokenizer."
    for line in data.decode('utf-8').split('\n')[1:]:
        key, _, rest = line.partition(' ')
        if key not in ('token', 'special'): continue
        i, s = json.loads(rest)
        want = s.encode('utf-8', 'surrogateescape') if key == 'token' and tok.kind == 'bpe' else s.encode('utf-8', 'surrogatepass')
        assert tok.decode_bytes([i]) == want, (line, tok.decode_bytes([i]))

def test_fuzz_mutated_files(toks, tmp_path):
    "Seeded mutations of valid files: every failure is one ValueError naming the file; every file that loads round-trips."
    rng = random.Random(0)
    p, q = tmp_path/'fuzz.tok', tmp_path/'again.tok'
    sources = [tok.save(tmp_path/f'{k}.tok') or (tmp_path/f'{k}.tok').read_text(encoding='utf-8') for k, tok in toks.items()]
    counts, deadline = {'loaded': 0, 'refused': 0}, time.perf_counter() + 4
    for it in range(3000):
        if time.perf_counter() > deadline and it >= 300: break
        data = _mutate(rng.choice(sources), rng)
        if rng.random() < 0.3: data = _mutate(data.decode('utf-8', 'replace'), rng)  # two edits
        p.write_bytes(data)
        try: tok = load_tokenizer(p)
        except ValueError as e:
            assert str(p) in str(e), (data[:300], e)
            counts['refused'] += 1
            continue
        counts['loaded'] += 1
        _check_lines_hold(tok, data)
        tok.save(q)
        assert _meaning(load_tokenizer(q)) == _meaning(tok)
        s = "It's 你好 naïve!"
        if tok.kind == 'bpe': assert tok.decode(tok.encode(s, disallowed_special=())) == s
    print(counts)
    assert counts["loaded"] > 30 and counts["refused"] > 100, counts
