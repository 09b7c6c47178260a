"Fixtures shared by the test files."
import os, subprocess, sys
from pathlib import Path
import pytest

@pytest.fixture
def fresh_python(tmp_path):
    "`run(code)`: run `code` in a new interpreter (nothing imported yet, DeprecationWarnings shown) on this checkout, in `tmp_path`; return its stdout and stderr."
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, 'PYTHONPATH': os.pathsep.join([str(root), os.environ.get('PYTHONPATH', '')])}
    def run(code:str) -> tuple[str, str]:
        r = subprocess.run([sys.executable, '-W', 'always::DeprecationWarning', '-c', code], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        return r.stdout, r.stderr
    return run

@pytest.fixture
def synthetic_lm():
    "`make(V=13, n=3000, seed=0)`: an `LMData` over a learnable token stream (mostly t -> t+1 mod V, some noise), 90% train."
    import numpy as np                          # imported here: most test files never load torch
    from llm_nb.lmdata import LMData
    def make(V:int=13, n:int=3000, seed:int=0):
        rng = np.random.default_rng(seed)
        x = np.zeros(n, dtype=np.int64)
        for i in range(1, n): x[i] = (x[i-1] + 1) % V if rng.random() < 0.8 else rng.integers(V)
        cut = int(n * 0.9)
        return LMData(x[:cut].astype(np.uint16), x[cut:].astype(np.uint16), V, val_bytes=n - cut, name='synthetic')
    return make
