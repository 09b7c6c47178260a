"""The course's conventions, checked on every notebook and exported name.

- each chapter notebook opens with a `# Title` and a `> summary` line (the docs' navigation uses them);
- each exported function and class has a one-line docstring;
- each parameter of an exported function (and of a class's `__init__`) is documented by a docments comment,
  so the docs show a parameter table;
- no code cell hides a section heading in a comment (`# ## 5. Loading weights`): a heading is a markdown cell, or
  the docs' table of contents and the reader's outline miss the section;
- `#| slow` and `#| gpu` cells guard themselves (`slow_ready`, `gpu_ready`), so *Run All* on a CPU works.
"""
import importlib, inspect, json, pkgutil, re
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

_HIDDEN_HEADING = re.compile(r'^\s*#\s*#{1,6}\s+\S')   # `# ## Title`, `## Title`, `# ### Title` in code

def hidden_headings(cells:list) -> list[str]:
    "Code-cell lines that are markdown headings written as comments, as 'cell N: line'."
    return [f'cell {i}: {l.strip()}' for i, c in enumerate(cells) if c['cell_type'] == 'code'
            for l in ''.join(c['source']).split('\n') if _HIDDEN_HEADING.match(l)]

def test_hidden_heading_detector():
    code = lambda s: dict(cell_type='code', source=s)
    assert hidden_headings([code('x = 1\n# ## 5. Loading weights')]) == ['cell 0: # ## 5. Loading weights']
    assert hidden_headings([code('## Section\nx = 1'), code('# ### Sub')]) == ['cell 0: ## Section', 'cell 1: # ### Sub']
    assert hidden_headings([code('#| export\n# a comment\nx = 1  # ## not at the start'), code('#\n#|hide\n###')]) == []
    assert hidden_headings([dict(cell_type='markdown', source='## A real heading')]) == []

@pytest.mark.parametrize('nb', NBS, ids=lambda p: p.name)
def test_no_heading_hidden_in_code(nb):
    found = hidden_headings(json.loads(nb.read_text(encoding='utf-8'))['cells'])
    assert not found, f'{nb.name}: make these markdown cells:\n' + '\n'.join(found)

@pytest.mark.parametrize('nb', NBS, ids=lambda p: p.name)
def test_long_and_gpu_cells_guard_themselves(nb):
    "*Run All* in a plain kernel on a CPU must not fail or start a long run: `#| slow` cells call `slow_ready`, `#| gpu` cells `gpu_ready`."
    for c in json.loads(nb.read_text(encoding='utf-8'))['cells']:
        s = ''.join(c['source'])
        if c['cell_type'] != 'code': continue
        flags = {l[2:].strip().split()[0] for l in s.splitlines() if l.startswith('#|') and l[2:].strip()}
        if 'slow' in flags: assert 'slow_ready(' in s, f'{nb.name}: a #| slow cell without slow_ready(...): {s[:120]!r}'
        if 'gpu' in flags: assert 'gpu_ready(' in s, f'{nb.name}: a #| gpu cell without gpu_ready(...): {s[:120]!r}'
