"""`pip install .` (not editable) into a clean venv gives an importable package with every exported module.

Dependencies are not installed here (`--no-deps`): an unpinned torch would pull the CUDA build, and the point is
that setup.py + settings.ini package the right files and metadata, which the import of `__version__` and the
file list prove.
"""
import configparser, subprocess, venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

def test_pip_install_non_editable(tmp_path):
    env_dir = tmp_path/'venv'
    venv.EnvBuilder(with_pip=True).create(env_dir)
    py = env_dir/'bin'/'python'
    build = tmp_path/'src'
    # build from a copy of what setup.py needs, so no build artefacts land in the checkout
    build.mkdir()
    for f in ['settings.ini', 'setup.py', 'README.md', 'MANIFEST.in']: (build/f).write_bytes((ROOT/f).read_bytes())
    subprocess.run(['cp', '-r', str(ROOT/'llm_nb'), str(build)], check=True)
    r = subprocess.run([str(py), '-m', 'pip', 'install', '-q', '--no-deps', str(build)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    out = subprocess.run([str(py), '-c', 'import llm_nb, pathlib; print(llm_nb.__version__); '
                          'print(" ".join(sorted(p.name for p in pathlib.Path(llm_nb.__file__).parent.glob("*.py"))))'],
                         capture_output=True, text=True, cwd=tmp_path, check=True).stdout.split('\n')
    cfg = configparser.ConfigParser(); cfg.read(ROOT/'settings.ini')
    assert out[0] == cfg['DEFAULT']['version']
    shipped = set(out[1].split())
    expected = {p.name for p in (ROOT/'llm_nb').glob('*.py')}
    assert expected <= shipped, expected - shipped
    assert {'core.py', 'data.py', '_modidx.py'} <= shipped
