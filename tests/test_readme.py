"""The README's "Use the library" block runs as written (issue #23 item 9), and its install lines name no package index."""
import os, re, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]

def _section(title):
    text = (ROOT/'README.md').read_text(encoding='utf-8')
    m = re.search(rf'^## {re.escape(title)}\n(.*?)(?=^## )', text, flags=re.S | re.M)
    assert m, f'README.md has no section {title!r}'
    return m.group(1)

@pytest.mark.skipif(not (Path(os.environ.get('LLM_NB_DATA', '/nonexistent'))/'tinyshakespeare.txt').exists(),
                    reason='needs LLM_NB_DATA with tinyshakespeare.txt (offline test)')
def test_use_the_library_block_runs(tmp_path):
    blocks = re.findall(r'```python\n(.*?)```', _section('Use the library'), flags=re.S)
    assert len(blocks) == 1
    env = {**os.environ, 'PYTHONPATH': str(ROOT), 'OMP_NUM_THREADS': '1'}
    r = subprocess.run([sys.executable, '-c', blocks[0]], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    m = re.search(r'validation loss ([\d.]+) \(uniform guessing: ([\d.]+)\)', r.stdout)
    assert m and float(m.group(1)) < float(m.group(2))                  # it learnt something
    assert 'ROMEO:' in r.stdout

def test_install_section_is_true():
    s = _section('Install')
    assert 'pip install .' in s and 'not on PyPI' in s
    assert not re.search(r'pip install llm_nb\b', s)                   # the name is not published
