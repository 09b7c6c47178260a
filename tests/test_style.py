"""The course's conventions, checked on every notebook and exported name.

- each chapter notebook opens with a `# Title` and a `> summary` line (the docs' navigation uses them);
- each exported function and class has a one-line docstring;
- each parameter of an exported function (and of a class's `__init__`) is documented by a docments comment,
  so the docs show a parameter table.
"""
import importlib, inspect, json, pkgutil
from pathlib import Path
import pytest
from fastcore.docments import docments
import llm_nb

ROOT = Path(__file__).resolve().parents[1]
NBS = sorted(p for p in (ROOT/'nbs').glob('*.ipynb') if not p.name.startswith('_'))
MODULES = sorted(m.name for m in pkgutil.iter_modules(llm_nb.__path__) if not m.name.startswith('_'))

@pytest.mark.parametrize('nb', NBS, ids=lambda p: p.name)
def test_notebook_has_title_and_summary(nb):
    cells = json.loads(nb.read_text(encoding='utf-8'))['cells']
    first = ''.join(cells[0]['source']).strip().split('\n')
    assert cells[0]['cell_type'] == 'markdown' and first[0].startswith('# '), f'{nb.name}: first cell must be "# Title"'
    assert any(l.startswith('> ') for l in first[1:]), f'{nb.name}: the title cell needs a "> summary" line'

def _exported(modname):
    mod = importlib.import_module(f'llm_nb.{modname}')
    for name in getattr(mod, '__all__', []):
        obj = getattr(mod, name)
        if (inspect.isfunction(obj) or inspect.isclass(obj)) and getattr(obj, '__module__', '') == mod.__name__:
            yield name, obj

def _undocumented_params(f):
    try: sig = inspect.signature(f)
    except (TypeError, ValueError): return []
    docs = docments(f)
    skip = {'self', 'cls', 'args', 'kwargs', 'return'}
    return [p for p in sig.parameters if p not in skip and not docs.get(p)]

@pytest.mark.parametrize('modname', MODULES)
def test_exports_documented(modname):
    problems = []
    for name, obj in _exported(modname):
        if not (inspect.getdoc(obj) or '').strip(): problems.append(f'{name}: no docstring')
        if inspect.isclass(obj):
            if '__init__' in vars(obj) and not getattr(obj, '__dataclass_fields__', None):
                problems += [f'{name}.__init__({p}): no docments comment' for p in _undocumented_params(obj.__init__)]
        else:
            problems += [f'{name}({p}): no docments comment' for p in _undocumented_params(obj)]
    assert not problems, f'llm_nb.{modname}:\n' + '\n'.join(problems)
