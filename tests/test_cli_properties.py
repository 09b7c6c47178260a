"""Property tests (hypothesis) for the command line's parsing and the config classes: every value is either accepted
(and then in range) or rejected with a one-line message; never a traceback."""
import contextlib, dataclasses, io, math
from hypothesis import example, given, settings, strategies as st, HealthCheck
from llm_nb.cli import UsageError, check_train_settings, complete_utf8, make_parser, parse_overrides, parse_value
from llm_nb.training import TrainConfig
from llm_nb.transformer import GPTConfig

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

values = st.one_of(st.none(), st.booleans(), st.integers(-10**7, 10**7), st.floats(allow_nan=True, allow_infinity=True),
                   st.text(max_size=12), st.sampled_from(['cpu', 'cuda', 'tpu', 'float32', 'bfloat16', 'eager', 'bogus']))
train_fields = [f.name for f in dataclasses.fields(TrainConfig)]
model_fields = [f.name for f in dataclasses.fields(GPTConfig) if f.name != 'vocab_size']

def _one_line(msg): return msg.strip() and '\n' not in msg.strip()

@FAST
@given(key=st.sampled_from(train_fields + model_fields), value=values)
def test_settings_are_accepted_in_range_or_rejected_in_one_line(key, value):
    try: r = check_train_settings('tiny', {key: value})
    except UsageError as e:
        assert _one_line(str(e)) and str(e).startswith('llm_nb'), str(e)
        return
    cfg = TrainConfig(**r['train'])                                   # accepted: the config builds and is in range
    assert cfg.max_steps >= 1 and cfg.keep_last >= 1 and cfg.lr > 0 and math.isfinite(cfg.lr)
    GPTConfig(**{'vocab_size': 65, **r['model']})

@FAST
@given(kw=st.dictionaries(st.sampled_from(train_fields), values, max_size=4))
def test_train_config_value_error_or_valid(kw):
    try: cfg = TrainConfig(**kw)
    except ValueError as e:
        assert _one_line(str(e)); return
    for k in ('max_steps', 'batch_size', 'grad_accum', 'eval_interval', 'log_interval', 'eval_batch_size', 'keep_last'):
        v = getattr(cfg, k); assert isinstance(v, int) and not isinstance(v, bool) and v >= 1
    for k in ('block_size', 'decay_steps', 'eval_windows', 'save_interval'):
        v = getattr(cfg, k); assert v is None or (isinstance(v, int) and v >= 1)
    assert 0 <= cfg.beta1 < 1 and 0 <= cfg.beta2 < 1 and cfg.adam_eps > 0 and cfg.grad_clip >= 0

@FAST
@given(args=st.lists(st.text(alphabet='-=abc_x0123456789.e', max_size=10), max_size=6))
def test_parse_overrides_dict_or_usage_error(args):
    try: out = parse_overrides(args)
    except UsageError as e:
        assert _one_line(str(e)); return
    assert all(isinstance(k, str) and '-' not in k for k in out)

@FAST
@given(s=st.text(max_size=20))
def test_parse_value_never_raises(s): parse_value(s)

@FAST
@given(opt=st.sampled_from(['--num_samples', '--max_new_tokens', '--temperature', '--top_k', '--top_p', '--seed']),
       value=st.one_of(st.text(max_size=8), st.integers(-5, 5).map(str), st.floats().map(str)))
@example(opt='--num_samples', value='--')     # argparse before 3.12 turned this into [] without calling the type
def test_sample_options_parse_or_exit_with_one_line(opt, value):
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err): a = make_parser().parse_args(['sample', f'{opt}={value}'])
    except SystemExit as e:
        assert e.code == 2 and 'error: argument' in err.getvalue() and 'Traceback' not in err.getvalue(); return
    v = getattr(a, opt[2:])
    if opt in ('--num_samples', '--max_new_tokens', '--top_k'): assert v >= 1
    if opt == '--temperature': assert v >= 0 and math.isfinite(v)
    if opt == '--top_p': assert 0 < v <= 1

@FAST
@given(text=st.text(max_size=40), data=st.data())
def test_complete_utf8_never_cuts_a_character(text, data):
    b = text.encode('utf-8', 'surrogatepass') if not any(0xD800 <= ord(c) < 0xE000 for c in text) else text.encode('utf-8', 'replace')
    k = data.draw(st.integers(0, len(b)))
    kept = complete_utf8(b[:k])
    s = kept.decode('utf-8')                                           # decodes strictly: nothing cut, so no U+FFFD
    assert b.decode('utf-8').startswith(s) and k - len(kept) < 4
