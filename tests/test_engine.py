"""The continuous-batching engine (chapter 11a, `llm_nb.engine`) on its own: no HTTP, no optional dependencies.

The engine must give exactly the tokens of unbatched greedy decoding; it must import without the `serve` extra
(fastapi, uvicorn) and without the HTTP layer; and the names that moved out of `llm_nb.serve` still import from there.
"""
import os, subprocess, sys, time, warnings
from pathlib import Path
import pytest
import torch
import llm_nb.engine as engine_mod
from llm_nb.engine import Engine, Sequence, SamplingParams
from llm_nb.generation import generate
from llm_nb.runs import load_model

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT/'models'/'shakespeare-char'
PROMPTS = ['ROMEO:\n', 'First Citizen:\nWe are', 'To be, or not', 'KING HENRY', 'O, what a', 'My lord,', 'HAMLET:\nThe time is', 'A']

def test_engine_matches_unbatched_greedy():
    "Staggered arrivals, different lengths, joining and leaving a running batch: the tokens of one-at-a-time `generate`."
    model, tok, _ = load_model(MODEL)
    ids = [tok.encode(p) for p in PROMPTS]
    n_new = [10 + 5 * i for i in range(len(ids))]
    threads = torch.get_num_threads(); torch.set_num_threads(1)
    try: ref = [generate(model, p, n, temperature=0)[0, len(p):].tolist() for p, n in zip(ids, n_new)]
    finally: torch.set_num_threads(threads)
    engine = Engine(model, tok, max_batch=4)                    # fewer slots than requests: some wait and take freed slots
    try:
        seqs = []
        for p, n in zip(ids, n_new):
            seqs += engine.submit([Sequence(p, SamplingParams(max_tokens=n, temperature=0))]); time.sleep(0.005)
        for s, r in zip(seqs, ref):
            s.result(60)
            assert s.tokens == r and s.finish_reason == 'length' and s.text == tok.decode(r)
        assert engine.load['free_slots'] == 4 and engine.load['running'] == 0
    finally: engine.shutdown()

def _fresh(code):
    env = {**os.environ, 'PYTHONPATH': str(ROOT)}
    return subprocess.run([sys.executable, '-W', 'always::DeprecationWarning', '-c', code], env=env, capture_output=True,
                          text=True, timeout=120, check=True)

def test_engine_imports_without_the_http_layer_or_its_extra():
    "With fastapi and uvicorn unimportable, the engine loads and serves a model; it never imports `llm_nb.serve`."
    r = _fresh("import sys; sys.modules['fastapi'] = sys.modules['uvicorn'] = None\n"
               "import llm_nb.engine as e\n"
               f"sv = e.load_served({str(MODEL)!r})\n"
               "eng = e.Engine(sv.model, sv.tokenizer, max_batch=2)\n"
               "s, = eng.generate([sv.encode('ROMEO:')], max_tokens=5, temperature=0, timeout=60); eng.shutdown()\n"
               "print(len(s.tokens), 'llm_nb.serve' in sys.modules, 'fastapi' in sys.modules and sys.modules['fastapi'] is not None)")
    assert r.stdout.split() == ['5', 'False', 'False'], r.stderr

def test_moved_names_still_import_from_serve():
    pytest.importorskip('fastapi'); pytest.importorskip('uvicorn')
    import llm_nb.serve as serve
    moved = tuple(serve.__getattr__.moved)
    assert set(moved) | {'Engine', 'QueueFull', 'SamplingParams', 'Sequence', 'Served', 'load_served'} == set(engine_mod.__all__)
    assert not set(engine_mod.__all__) & set(serve.__all__)          # each name has one home
    for name in moved:
        with pytest.warns(DeprecationWarning, match=f'llm_nb.serve.{name} has moved to llm_nb.engine'):
            assert getattr(serve, name) is getattr(engine_mod, name)
    for name in set(engine_mod.__all__) - set(moved):                 # the names the HTTP layer uses: plain imports
        assert getattr(serve, name) is getattr(engine_mod, name)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        with pytest.raises(AttributeError, match='no attribute'): serve.no_such_name
    r = _fresh("from llm_nb.serve import SlotCache, Engine; print(SlotCache.__module__, Engine.__module__)")
    assert r.stdout.split() == ['llm_nb.engine', 'llm_nb.engine'] and 'DeprecationWarning' in r.stderr
