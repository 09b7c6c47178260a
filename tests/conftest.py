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
