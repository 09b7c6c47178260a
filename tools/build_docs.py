"""Build the course website into `_docs/` from the notebooks in `nbs/`, offline, with MkDocs Material.

    python tools/build_docs.py             # = make docs: nbs/*.ipynb -> _proc/docs_src/*.md -> _docs/
    python tools/build_docs.py --serve     # build, then serve _docs/ on http://127.0.0.1:8000 (Ctrl-C to stop)

Each notebook goes through nbdev's own processors (the ones `nbdev_proc_nbs` runs before Quarto), so the
`#|` directives mean what they mean for nbdev: `#| hide` cells are dropped, every exported function and class
gets a `show_doc` entry (signature, docstring, docments parameter table), backticked names become links. Where
this differs from nbdev: `#| export` source is shown (after its `show_doc`); `show_doc` renders nbdev's classic
parameter table; and `show_doc` cells are evaluated against the module the notebook exports instead of
re-running the notebook's imports and definitions, so nothing in a notebook is re-run and every cell keeps the
outputs stored in it. Only public nbdev/fastcore APIs are used, so nbdev can be upgraded: `FilterDefaults.base_procs`
(checked by name), `show_doc(sym, renderer=DocEntry)` with `DocEntry` a fastcore `ShowDocRenderer`, `docments`,
`NbdevLookup`, and `ExportModuleProc` for a notebook's `default_exp`. The processed notebook becomes a Markdown page (code, text/HTML/markdown outputs, figures
as files, `$...$` math typeset by the copy of MathJax in docs/assets). The API reference is generated from each
module's `__all__`. Pages are named as nbdev names them (`nbs/01_tokenization.ipynb` -> `tokenization.html`), so
nbdev's links resolve; MkDocs Material (mkdocs.yml) turns the pages into the site, with its offline search.
"""
import argparse, ast, base64, dataclasses, html, inspect, json, os, re, shutil
import functools, http.server, importlib, subprocess, sys, time
from pathlib import Path
import yaml
from fastcore.docments import ShowDocRenderer, docments
from nbdev.config import get_config
from nbdev.doclinks import NbdevLookup
from nbdev.export import ExportModuleProc
from execnb.nbio import read_nb
from nbdev.process import NBProcessor, Processor
from nbdev.processors import FilterDefaults
from fastcore.xtras import dict2obj
from nbdev.showdoc import show_doc

ROOT = Path(__file__).resolve().parent.parent
PROC = ROOT/'_proc'
SRC = PROC/'docs_src'           # generated Markdown pages (ignored by git)
SITE = ROOT/'_docs'             # the built site (ignored by git)
ASSETS = ROOT/'docs'            # committed static files: css, MathJax config, vendored MathJax
SIG_WIDTH = 76                  # characters of code that fit in the content column beside both sidebars (1280 px window)

# ---------------------------------------------------------------------------------------------------------
# Which notebooks, in which order, under which names

def discover(nbs_path):
    "Every notebook under `nbs_path` (skipping `_*`/`.*` files and folders), index first, then by file name."
    nbs = [p for p in Path(nbs_path).rglob('*.ipynb')
           if not any(part.startswith(('_', '.')) for part in p.relative_to(nbs_path).parts)]
    return sorted(nbs, key=lambda p: (p.name != 'index.ipynb', p.relative_to(nbs_path).as_posix()))

def page_name(nb_path, nbs_path):
    "The page a notebook becomes, as nbdev names it: `01_tokenization.ipynb` -> `tokenization.md`."
    rel = Path(nb_path).relative_to(nbs_path)
    if rel.name == 'index.ipynb': return rel.with_suffix('.md').as_posix()
    return rel.with_name(re.sub(r'^\d+[a-zA-Z0-9]*_', '', rel.name.lower())).with_suffix('.md').as_posix()

def plain(md):
    "Markdown inline text as plain text: `code`, *emphasis*, [links](url) and $math$ lose their markup."
    md = re.sub(r'!?\[([^\]]*)\]\([^)]*\)', r'\1', md)
    return re.sub(r'[`*$]|(?<!\w)_|_(?!\w)', '', md).strip()

def chapter_label(nb_path):
    "`01_tokenization.ipynb` -> '1', `00a_data.ipynb` -> '0a', no number or a prologue before chapter 0 (`000_overview`) -> ''."
    m = re.match(r'^(\d+)([a-zA-Z]*)_', Path(nb_path).name)
    if not m or (len(m.group(1)) > 2 and int(m.group(1)) == 0): return ''
    return f'{int(m.group(1))}{m.group(2)}'

def title_summary(nb):
    "The notebook's `# Title` and `> summary` lines (from its first markdown cell)."
    for c in nb['cells']:
        if c['cell_type'] != 'markdown': continue
        src = ''.join(c['source']) if isinstance(c['source'], list) else c['source']
        t = re.search(r'^#\s+(.+?)\s*$', src, flags=re.M)
        s = re.search(r'^>\s*(.+?)\s*$', src, flags=re.M)
        return (t.group(1) if t else None), (s.group(1) if s else '')
    return None, ''

# ---------------------------------------------------------------------------------------------------------
# show_doc: signature, docstring and the docments parameter table (nbdev's classic layout)

def anchor(name):
    "The id of an API entry on a page: 'Timer.__enter__' -> 'timer-enter' (safe in Markdown headings)."
    return re.sub(r'[^0-9a-z]+', '-', name.lower()).strip('-')

def _param_str(p):
    "One parameter as nbdev writes it in a signature: `*args`, `x:int=3` (no spaces, no quotes in annotations)."
    res = ('*' if p.kind == p.VAR_POSITIONAL else '**' if p.kind == p.VAR_KEYWORD else '') + p.name
    fname = lambda o: f'<function {o.__name__}>' if inspect.isfunction(o) else None
    if p.annotation is not p.empty: res += ':' + (fname(p.annotation) or inspect.formatannotation(p.annotation).strip("'").replace(' ', ''))
    if p.default is not p.empty: res += '=' + (fname(p.default) or repr(p.default))
    return res

def _sig_str(sig, obj, name):
    "The signature `sig` of `obj` as code: on one line when it fits in 76 characters (the content column), else one parameter a line."
    if sig is None: return None
    params = [_param_str(p) for n, p in sig.parameters.items() if n != 'self']
    ret = ''
    if sig.return_annotation is not inspect.Signature.empty and not inspect.isclass(obj):
        ret = ' -> ' + inspect.formatannotation(sig.return_annotation).strip("'")
    params, ret = [_short_types(p) for p in params], _short_types(ret)
    one = f"{name}({', '.join(params)}){ret}"
    if len(one) <= SIG_WIDTH or not params: return one
    return f"{name}(\n" + ''.join(f"    {p},\n" for p in params) + f"){ret}"

def _short_types(s): return re.sub(r'\btorch\.nn\.modules\.\w+\.', 'torch.nn.', s)  # torch.nn.modules.module.Module -> torch.nn.Module

def _escape_md(s): return re.sub(r'([_*\[\]<>])', r'\\\1', s)

class DocEntry(ShowDocRenderer):
    """What `show_doc` renders on the site: fastcore's public `ShowDocRenderer` (which finds the symbol, its name,
    signature and docstring) with the Markdown of this site. nbdev's `show_doc(sym, renderer=DocEntry)` returns one."""
    links = ()
    def _repr_markdown_(self):
        body = doc_markdown(self, NbdevLookup().code(self.fn), [('reference', f'REFERENCE:{self.full_name()}')])
        return f'<div class="nb-doc" markdown>\n\n{body}\n</div>\n'
    def full_name(self):
        "The qualified name: names defined in a notebook's cells live in `__main__`, so use its `default_exp`."
        lib = get_config().lib_name
        if self.fn.startswith(lib + '.') or not _CUR_MOD: return self.fn
        return f'{_CUR_MOD}.{self.nm}'

def doc_markdown(r:ShowDocRenderer, src_url=None, links=()):
    "Markdown for one API entry: heading (with a stable id), links, signature, docstring, parameter table."
    sym, name, level = r.sym, r.nm, r.title_level
    lk = [f'[{t}]({u})' for t, u in links] + ([f'[source]({src_url})'] if src_url else [])
    out = [f'<span class="nb-doc-links">{" · ".join(lk)}</span>', ''] if lk else []
    out += [f"{'#'*level} {_escape_md(name)} {{ #{anchor(name)} }}", '']
    if callable(sym):
        sig = _sig_str(r.sig, sym, name.split('.')[-1] if '.' in name else name)
        if sig: out += ['```python', ('class ' if inspect.isclass(sym) else '') + sig, '```', '']
    else:
        rp = re.sub(r' at 0x[0-9a-f]+>', '>', repr(sym))   # no memory addresses: the page is the same on every build
        out += [f'`{type(sym).__name__}`' + (f': `{rp[:200]}{"…" if len(rp) > 200 else ""}`' if '`' not in rp else ''), '']
    docs = r.docs if callable(sym) else ''
    if docs:
        first, _, rest = docs.partition('\n')
        out += [f'*{first.strip()}*' + (('\n' + rest) if rest.strip() else ''), '']
    if callable(sym):
        tbl = param_table(sym)
        if tbl: out += [tbl, '']
    return '\n'.join(out)

def _cell(s): return str(s).replace('|', '\\|').replace('\n', '<br>')

def _anno(a):
    if a is inspect.Parameter.empty or a is None or a is type(None): return ''  # NoneType: inferred from a None default
    return a.__name__ if isinstance(a, type) and a.__module__ == 'builtins' else _short_types(inspect.formatannotation(a).strip("'"))

def param_table(sym):
    "The docments table (Type, Default, Details for each parameter; Returns), as nbdev's classic `show_doc` had it."
    try: dm = docments(sym, full=True, eval_str=True)
    except Exception:
        try: dm = docments(sym, full=True)
        except Exception: return ''
    dm = {k: v for k, v in dm.items() if k != 'self'}
    ret = dm.pop('return', None) if not dataclasses.is_dataclass(sym) else None
    if not any(v.get('docment') for v in dm.values()) and not (ret and ret.get('docment')): return ''
    rows = []
    for k, v in dm.items():
        kind = v.get('kind')
        nm = ('*' if kind == inspect.Parameter.VAR_POSITIONAL else '**' if kind == inspect.Parameter.VAR_KEYWORD else '') + k
        d = v.get('default', inspect.Parameter.empty)
        rows.append([f'`{nm}`', _anno(v.get('anno')), '' if d is inspect.Parameter.empty else f'`{d!r}`', v.get('docment') or ''])
    if ret and (ret.get('anno') not in (None, inspect.Parameter.empty) or ret.get('docment')):
        rows.append(['**Returns**', _anno(ret.get('anno')), '', ret.get('docment') or ''])
    cols = [i for i in (1, 2, 3) if any(r[i] for r in rows)]
    hdr = ['', 'Type', 'Default', 'Details']
    lines = ['| ' + ' | '.join(['parameter'] + [f'**{hdr[i]}**' for i in cols]) + ' |',
             '|' + '---|' * (len(cols) + 1)]
    lines += ['| ' + ' | '.join(_cell(r[0]) if j == 0 else _cell(r[j]) for j in [0] + cols) + ' |' for r in rows]
    return '\n'.join(lines)

_SHOWDOC = re.compile(r'^show_doc', flags=re.M)   # a cell that calls show_doc (what nbdev's processors look for)
_CUR_MOD = None  # the module the notebook being processed exports to (`#| default_exp`)
_CUR_NB = ''
_WARNINGS = []

# ---------------------------------------------------------------------------------------------------------
# nbdev's processors, with `#| export` source shown after its show_doc

def _procs():

    def rm_hidden(cell):
        "Drop the source of hidden, internal-export and default_exp cells (nbdev's `rm_export`, keeping `export`)."
        if cell.directives_ and (cell.directives_.keys() & {'exporti', 'hide', 'default_exp'}): del cell['source']

    class docs_first(Processor):
        "Put the show_doc entries nbdev adds after an `export`/`exports` cell before its source."
        def begin(self):
            cells = self.nb.cells
            i = 0
            while i < len(cells):
                c = cells[i]
                if c.cell_type == 'code' and ({'export', 'exports'} & set(getattr(c, 'directives_', {}) or {})):
                    j = i + 1
                    while j < len(cells) and getattr(cells[j], 'has_sd', 0): j += 1
                    if j > i + 1:
                        cells[i:j] = cells[i+1:j] + [c]
                        i = j
                        continue
                i += 1

    class show_docs_from_module(Processor):
        """Stands in for nbdev's `exec_show_docs`, which re-runs a notebook's imports and exported cells so that its
        `show_doc` cells can render: here each `show_doc(...)` is evaluated in the namespace of the module the
        notebook exports (`#| default_exp`), which holds exactly those definitions. Nothing in the notebook is
        re-run, every other cell keeps the outputs stored in the notebook, and the build takes seconds."""
        def begin(self):
            self.ns = {}
            lib = get_config().lib_name
            for mod in importlib.import_module(f'{lib}._modidx').d['syms']:  # names a notebook imports from other chapters
                m = importlib.import_module(mod)
                self.ns.update({k: getattr(m, k) for k in getattr(m, '__all__', []) if hasattr(m, k)})
            if _CUR_MOD: self.ns.update(vars(importlib.import_module(_CUR_MOD)))
            self.ns['show_doc'] = functools.partial(show_doc, renderer=DocEntry)   # nbdev's show_doc, this site's Markdown
        def __call__(self, cell):
            if not (cell.cell_type == 'code' and _SHOWDOC.search(cell.source)): return
            code = '\n'.join(l for l in cell.source.splitlines() if not l.lstrip().startswith('#|'))
            mds = []
            try:
                for node in ast.parse(code).body:
                    if isinstance(node, ast.Expr):
                        r = eval(compile(ast.Expression(node.value), '<show_doc>', 'eval'), self.ns)
                        if hasattr(r, '_repr_markdown_'): mds.append(r._repr_markdown_())
                    else: exec(compile(ast.Module([node], []), '<show_doc>', 'exec'), self.ns)
            except Exception as e:
                print(f'WARNING: {Path(_CUR_NB).name}: cell {cell.idx_} `{code.strip()[:60]}` could not be rendered: '
                      f'{type(e).__name__}: {e}'[:300], file=sys.stderr)
                _WARNINGS.append(f'{Path(_CUR_NB).name}: {code.strip()[:60]}: {type(e).__name__}: {e}')
            md = '\n'.join(mds)
            cell['outputs'] = [dict2obj(dict(output_type='display_data', metadata={},
                                             data={'text/markdown': md.splitlines(keepends=True)}))] if md else []

    class Filter(FilterDefaults):
        "nbdev's documentation processors (public `FilterDefaults.base_procs`), less four, with exec_show_docs replaced."
        def base_procs(self):
            skip = {'insert_warning', 'rm_export', 'add_fold', 'mv_exports'}
            procs = super().base_procs()
            if missing := (skip | {'exec_show_docs'}) - {p.__name__ for p in procs}:
                raise SystemExit(f"nbdev's processors changed ({', '.join(sorted(missing))} not in FilterDefaults.base_procs): "
                                 "update tools/build_docs.py's Filter for this nbdev version")
            ps = [show_docs_from_module if p.__name__ == 'exec_show_docs' else p for p in procs if p.__name__ not in skip]
            return ps + [rm_hidden, docs_first]   # after exec_show_docs, which runs definitions before their docs
    return Filter()

# ---------------------------------------------------------------------------------------------------------
# A processed notebook -> one Markdown page

_ANSI = re.compile(r'\x1B(?:[@-Z\\-_]|\[[0-?]*[ -/]*[@-~])')
_LIST = re.compile(r'^\s{0,3}(?:[-*+]|\d+[.)])\s+\S')

def _inline_display_math(line):
    "`text $$x$$ text` (display math inside a line, which MathJax shows as display) -> `$\\displaystyle x$`; code spans kept."
    parts = re.split(r'(`+[^`]*`+)', line)
    return ''.join(p if p.startswith('`') else re.sub(r'\$\$(.+?)\$\$', r'$\\displaystyle \1$', p) for p in parts)

def fix_markdown(md):
    """Make notebook (CommonMark) Markdown mean the same to Python-Markdown: a blank line before a list, a table
    or a code fence that follows a paragraph, and around `$$` display math; nested list items indented by 4
    spaces; `$$...$$` inside a line typeset in display style. Code fences are left untouched."""
    out, fence, prev, list_indents, after_fence = [], None, '', [], False
    lines = md.split('\n')
    i = 0
    while i < len(lines):
        l = lines[i]
        m = re.match(r'^\s*(`{3,}|~{3,})', l)
        if fence:
            out.append(l)
            if m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence): fence, after_fence = None, True
            prev = l; i += 1; continue
        s = l.strip()
        if after_fence and s and not l.startswith(' '): out.append('')
        after_fence = False
        if m:
            fence = m.group(1)
            if prev.strip() and not l.startswith(' '): out.append('')
            out.append(l); prev = l; i += 1; continue
        # display math: $$ ... $$ (possibly spanning lines) or \begin{env} ... \end{env}, as its own block
        one_line = s.startswith('$$') and s.endswith('$$') and len(s) > 4 and s.count('$$') == 2
        if s == '$$' or one_line or (s.startswith('$$') and s.count('$$') == 1) or s.startswith('\\begin{'):
            block = [l]
            closed = one_line or (s.startswith('\\begin{') and re.search(r'\\end\{', s))
            j = i
            while not closed and j + 1 < len(lines):
                j += 1; block.append(lines[j])
                closed = '$$' in lines[j] if s.startswith('$$') else bool(re.search(r'\\end\{', lines[j]))
            indent = re.match(r'^\s*', l).group(0)
            if out and out[-1].strip(): out.append(indent if indent else '')
            out += block
            if j + 1 < len(lines) and lines[j + 1].strip(): out.append('')
            prev = block[-1]; i = j + 1; continue
        if '$$' in l: l = _inline_display_math(l)
        # a table right after a paragraph line
        if s.startswith('|') and i + 1 < len(lines) and re.match(r'^\s*\|?\s*:?-{3,}', lines[i + 1]) \
           and prev.strip() and not prev.strip().startswith('|'):
            out.append('')
        if _LIST.match(l) or re.match(r'^\s+(?:[-*+]|\d+[.)])\s+\S', l):
            ind = len(l) - len(l.lstrip())
            if not list_indents or (ind == 0 and not _LIST.match(prev) and not prev.startswith(' ')):
                if prev.strip() and not _LIST.match(prev) and not list_indents: out.append('')
                list_indents = [ind]
            # nesting level from the indents seen so far in this list (CommonMark 2-3 spaces -> 4)
            while list_indents and ind < list_indents[-1]: list_indents.pop()
            if not list_indents or ind > list_indents[-1]: list_indents.append(ind)
            level = len(list_indents) - 1
            l = ' ' * (4 * level) + l.lstrip()
        elif not s:
            pass
        elif list_indents and l.startswith(' '):
            level = len([x for x in list_indents if x < len(l) - len(l.lstrip())])
            l = ' ' * (4 * max(level, 1)) + l.lstrip()
        else:
            if not prev.strip(): list_indents = []
        if not s and i + 1 < len(lines) and not lines[i + 1].startswith(' ') and not _LIST.match(lines[i + 1]):
            list_indents = []
        out.append(l); prev = l; i += 1
    return '\n'.join(out)

def _fence(code, lang=''):
    ticks = '```'
    while ticks in code: ticks += '`'
    return f'{ticks}{lang}\n{code.rstrip()}\n{ticks}'

def _out_fence(text):
    "An output as a text block without a copy button (`.no-copy`: the button would cover the output's first lines)."
    return _fence(text, '{ .text .no-copy }')

def _text(x): return ''.join(x) if isinstance(x, list) else (x or '')

def _clean_stream(t):
    "What a terminal would show: ANSI codes stripped, carriage-return overwrites (tqdm) resolved."
    t = _ANSI.sub('', t)
    return '\n'.join(line.split('\r')[-1] if '\r' in line.rstrip('\r') else line.rstrip('\r')
                     for line in t.split('\n'))

_DIRECTIVE = re.compile(r'^#\|\s*([\w-]+)\s*:?\s*(.*?)\s*$')

def _quarto_opts(cell):
    "The `#| key: value` options a cell carries (nbdev leaves these in the source), and the source without them."
    opts, keep = {}, []
    for l in _text(cell.get('source', '')).split('\n'):
        m = _DIRECTIVE.match(l)
        if m: opts[m.group(1)] = m.group(2)
        else: keep.append(l)
    for k, v in (getattr(cell, 'directives_', None) or {}).items():
        if k.endswith(':'): opts.setdefault(k[:-1], ' '.join(v))
    return opts, '\n'.join(keep).strip('\n')

def render_outputs(outputs, files_dir, rel_files, stem):
    "Markdown/HTML for a code cell's outputs; figures are written to `files_dir`."
    parts, stream, stream_name = [], [], None
    def flush():
        nonlocal stream, stream_name
        if stream:
            txt = _clean_stream(''.join(stream)).strip('\n')
            if txt.strip():
                cls = 'nb-output nb-stderr' if stream_name == 'stderr' else 'nb-output'
                parts.append(f'<div class="{cls}" markdown>\n\n{_out_fence(txt)}\n\n</div>')
        stream, stream_name = [], None
    for k, o in enumerate(outputs):
        ot = o.get('output_type')
        if ot == 'stream':
            if stream_name not in (None, o.get('name')): flush()
            stream.append(_text(o.get('text'))); stream_name = o.get('name'); continue
        flush()
        if ot == 'error':
            tb = _ANSI.sub('', '\n'.join(o.get('traceback', [])) or f"{o.get('ename')}: {o.get('evalue')}")
            parts.append(f'<div class="nb-output nb-error" markdown>\n\n{_out_fence(tb)}\n\n</div>')
            continue
        data = o.get('data', {})
        if not data or 'application/vnd.jupyter.widget-view+json' in data: continue  # widgets: static fallback shown elsewhere
        if 'text/markdown' in data:
            parts.append(_text(data['text/markdown']).strip('\n'))
        elif 'text/html' in data:
            h = _text(data['text/html']).strip()
            if '<script' in h.lower() and 'text/plain' in data:  # interactive HTML needs a kernel-side runtime
                parts.append(f'<div class="nb-output" markdown>\n\n{_out_fence(_text(data["text/plain"]))}\n\n</div>')
            else:
                parts.append(f'<div class="nb-output nb-html">\n{h}\n</div>')
        elif any(m in data for m in ('image/png', 'image/jpeg', 'image/svg+xml')):
            mime = next(m for m in ('image/svg+xml', 'image/png', 'image/jpeg') if m in data)
            ext = {'image/png': 'png', 'image/jpeg': 'jpg', 'image/svg+xml': 'svg'}[mime]
            files_dir.mkdir(parents=True, exist_ok=True)
            fn = f'{stem}_{k}.{ext}'
            if ext == 'svg': (files_dir/fn).write_text(_text(data[mime]), encoding='utf-8')
            else: (files_dir/fn).write_bytes(base64.b64decode(_text(data[mime])))
            alt = html.escape(_text(data.get('text/plain', 'figure')).strip().split('\n')[0][:80].strip('<>'))
            parts.append(f'<div class="nb-output" markdown>\n\n![{alt}]({rel_files}/{fn})\n\n</div>')
        elif 'text/latex' in data:
            parts.append(_text(data['text/latex']).strip())
        elif 'text/plain' in data:
            parts.append(f'<div class="nb-output" markdown>\n\n{_out_fence(_ANSI.sub("", _text(data["text/plain"])))}\n\n</div>')
    flush()
    return parts

def nb_to_markdown(nb, title, summary, page):
    "The page for processed notebook `nb`: title, summary, then its cells in order."
    stem = Path(page).stem
    files_dir, rel_files = SRC/Path(page).parent/f'{stem}_files', f'{stem}_files'
    out = [f'---\ntitle: {json.dumps(title)}\ndescription: {json.dumps(summary)}\n---\n', f'# {title}\n']
    if summary: out.append(f'<p class="nb-summary" markdown>{summary}</p>\n')
    for n, cell in enumerate(nb.cells):
        ct = cell.cell_type
        if ct == 'raw': continue
        if ct == 'markdown':
            src = _text(cell.source).strip('\n')
            if src.startswith('<!-- WARNING: THIS FILE WAS AUTOGENERATED'): continue
            for name, att in (cell.get('attachments') or {}).items():
                for mime, b64 in att.items():
                    files_dir.mkdir(parents=True, exist_ok=True)
                    fn = f'{stem}_att_{n}_{re.sub(r"[^A-Za-z0-9_.-]", "_", name)}'
                    (files_dir/fn).write_bytes(base64.b64decode(_text(b64)))
                    src = src.replace(f'attachment:{name}', f'{rel_files}/{fn}')
                    break
            out.append(fix_markdown(src) + '\n')
            continue
        opts, code = _quarto_opts(cell)
        if opts.get('include') == 'false': continue
        if code.strip() and opts.get('echo') != 'false':
            out.append(_fence(code, 'python') + '\n')
        if opts.get('output') != 'false':
            out += [p + '\n' for p in render_outputs(cell.get('outputs', []), files_dir, rel_files, f'cell{n}')]
    return '\n'.join(out)

def link_fix(md, page, pages, doc_prefix, ref_pages, anchors=None, ref_of_page=None):
    """Turn nbdev's absolute doc links and `*.ipynb` links into relative links between pages of this site.
    A name the chapter does not document itself (a method, a constant) links to its API reference entry."""
    depth = page.count('/')
    up = '../' * depth
    anchors, ref_of_page = anchors or {}, ref_of_page or {}
    def nbdev_url(m):
        target, frag = m.group(1), m.group(2) or ''
        md_page = re.sub(r'\.html$', '.md', target)
        if frag:
            a = anchor(frag[1:])
            if md_page in anchors and a not in anchors[md_page]:
                ref = ref_of_page.get(md_page)
                if ref and a in anchors.get(ref, ()): md_page = ref
                else: a = ''
            frag = f'#{a}' if a else ''
        return f'({up}{md_page}{frag})'
    md = re.sub(r'\(' + re.escape(doc_prefix) + r'([\w./-]+\.html)(#[^)\s]*)?\)', nbdev_url, md)
    def ipynb(m):
        target, frag = m.group(1), m.group(2) or ''
        name = Path(target).name
        if name not in pages: return m.group(0)
        return f'({up}{pages[name]}{("#" + frag[1:].lower()) if frag else ""})'
    md = re.sub(r'\((?!https?:)([^()\s]+?\.ipynb)(#[^)\s]*)?\)', ipynb, md)
    def ref(m):
        "The API reference entry of a name a chapter documents; no link when the reference has no such entry."
        fn = m.group(1)
        mod = fn.rsplit('.', 1)[0]
        while mod and mod not in ref_pages: mod = mod.rpartition('.')[0]
        a = anchor(fn[len(mod) + 1:]) if mod else ''
        if not mod or (anchors and a not in anchors.get(ref_pages[mod], ())): return ''
        return f'[reference]({up}{ref_pages[mod]}#{a}){m.group(2)}'
    return re.sub(r'\[reference\]\(REFERENCE:([\w.]+)\)( · )?', ref, md)

# ---------------------------------------------------------------------------------------------------------
# One notebook

def default_exp(nb_path):
    "The module a notebook exports to (`#| default_exp`), found by nbdev's own export processor; None if none."
    exp = ExportModuleProc()
    NBProcessor(nb_path, [exp]).process()
    return getattr(exp, 'default_exp', None)

def process_one(src, page):
    "Turn notebook `src` into the Markdown of its `page`: {src, page, title, summary, md, secs}."
    global _CUR_MOD, _CUR_NB
    src = Path(src).resolve()
    t0 = time.time()
    title, summary = title_summary(json.loads(src.read_text(encoding='utf-8')))
    nb = read_nb(src)
    exp = default_exp(src)
    _CUR_NB, _CUR_MOD = str(src), (f'{get_config().lib_name}.{exp}' if exp else None)
    _procs()(nb)
    title = title or src.stem
    md = nb_to_markdown(nb, title, summary, page)
    return dict(src=str(src), page=page, title=title, summary=summary, md=md, secs=time.time() - t0)

# ---------------------------------------------------------------------------------------------------------
# The API reference: one page per module, an entry per exported name

def reference_pages(modidx, chapter_of_page):
    "{module: (page, markdown)} for every module in the package's `_modidx`, names from the module's `__all__`."
    lookup = NbdevLookup()
    syms = modidx['syms']
    res = {}
    for mod_name, entries in syms.items():
        mod = importlib.import_module(mod_name)
        names = list(getattr(mod, '__all__', []))
        docpage = next((v[0].split('#')[0] for v in entries.values()), None)
        chap = chapter_of_page.get(docpage)
        short = mod_name.split('.', 1)[-1]
        page = f'reference/{short}.md'
        out = [f'---\ntitle: {json.dumps(mod_name)}\n---\n', f'# `{mod_name}`\n']
        if chap: out.append(f'<p class="nb-summary" markdown>Exported from the chapter [{chap["title"]}](../{chap["page"]}). '
                            f'{chap["summary"]}</p>\n')
        for nm in names:
            obj = getattr(mod, nm, None)
            full = f'{mod_name}.{nm}'
            links = []
            if chap:
                key = entries.get(full, (None,))[0]
                a = anchor(key.split('#', 1)[1]) if key and '#' in key else ''
                frag = f'#{a}' if a in chap['documented'] else ''
                links.append(('in the chapter', f'../{chap["page"]}{frag}'))
            body = doc_markdown(ShowDocRenderer(obj, nm, 2), lookup.code(full) if full in entries else None, links)
            out.append(f'<div class="nb-doc" markdown>\n\n{body}\n</div>\n')
            if inspect.isclass(obj):
                for mn, m in obj.__dict__.items():
                    if mn.startswith('_') or not (inspect.isfunction(m) or isinstance(m, (property, classmethod, staticmethod))): continue
                    f = m.fget if isinstance(m, property) else getattr(m, '__func__', m)
                    sub = doc_markdown(ShowDocRenderer(f, f'{nm}.{mn}', 3), lookup.code(f'{full}.{mn}') if f'{full}.{mn}' in entries else None)
                    out.append(f'<div class="nb-doc" markdown>\n\n{sub}\n</div>\n')
        res[mod_name] = (page, '\n'.join(out), names, chap)
    return res

def reference_index(refs):
    out = ['---\ntitle: API reference\n---\n', '# API reference\n',
           'Every name the package exports, by module, in course order. Each entry gives the signature, the docstring '
           'and the parameters, and links to the chapter that builds it.\n']
    for mod_name, (page, _, names, chap) in refs.items():
        mod = importlib.import_module(mod_name)
        out.append(f'## [`{mod_name}`]({Path(page).name})\n')
        if chap: out.append(f'From [{chap["title"]}](../{chap["page"]}).\n')
        if names:
            out.append('| name | what it is |\n|---|---|')
            for nm in names:
                doc = (inspect.getdoc(getattr(mod, nm, None)) or '').split('\n')[0] if callable(getattr(mod, nm, None)) else ''
                doc = doc.replace('|', '\\|')
                out.append(f'| [`{nm}`]({Path(page).name}#{anchor(nm)}) | {doc} |')
            out.append('')
    return '\n'.join(out)

def chapters_page(chapters):
    out = ['---\ntitle: Chapters\n---\n', '# Chapters\n',
           'The course in order. Each chapter is a notebook; each exports one module of the package.\n',
           '<dl class="nb-chapters" markdown>\n']
    for c in chapters:
        out.append(f'<dt markdown>[{c["nav"]}]({c["page"]})</dt>\n<dd markdown>{c["summary"]}</dd>\n')
    out.append('</dl>\n')
    return '\n'.join(out)

# ---------------------------------------------------------------------------------------------------------
# The search index MkDocs Material writes (search/search_index.json), made fit for this course

_TEX_SYMBOLS = dict(
    alpha='α', beta='β', gamma='γ', delta='δ', epsilon='ε', varepsilon='ε', zeta='ζ', eta='η', theta='θ', iota='ι',
    kappa='κ', lambda_='λ', mu='μ', nu='ν', xi='ξ', pi='π', rho='ρ', sigma='σ', tau='τ', upsilon='υ', phi='φ',
    varphi='φ', chi='χ', psi='ψ', omega='ω', Gamma='Γ', Delta='Δ', Theta='Θ', Lambda='Λ', Xi='Ξ', Pi='Π', Sigma='Σ',
    Phi='Φ', Psi='Ψ', Omega='Ω', ell='ℓ', cdot='·', times='×', le='≤', leq='≤', ge='≥', geq='≥', neq='≠', ne='≠',
    approx='≈', sim='~', propto='∝', in_='∈', notin='∉', sum='Σ', prod='Π', int_='∫', infty='∞', partial='∂',
    nabla='∇', to='→', rightarrow='→', leftarrow='←', Rightarrow='⇒', mapsto='↦', pm='±', odot='⊙', otimes='⊗',
    oplus='⊕', top='⊤', mid='|', dots='…', ldots='…', cdots='⋯', lfloor='⌊', rfloor='⌋', lceil='⌈', rceil='⌉',
    langle='⟨', rangle='⟩', forall='∀', exists='∃', cup='∪', cap='∩', subset='⊂', emptyset='∅', quad=' ', qquad=' ')
_TEX_SYMBOLS = {k.rstrip('_'): v for k, v in _TEX_SYMBOLS.items()}
_TEX_DROP = re.compile(r'\\(?:(?:displaystyle|textstyle|left|right|[bB]igg?[lrm]?)(?![A-Za-z])|label\{[^{}]*\}|'
                       r'(?:begin|end)\{[^{}]*\}(?:\{[^{}]*\})?)')
_TEX_ARG = re.compile(r'\\(?:text\w*|math\w+|operatorname\*?|boldsymbol|bm|hat|widehat|bar|overline|underline|tilde|'
                      r'widetilde|vec|overrightarrow|overleftarrow|dot|ddot)\s*\{([^{}]*)\}')

def tex_to_text(tex):
    r"TeX as the plain text a search preview can show: `\frac{QK^\top}{\sqrt{d_k}}` -> `(QK^⊤)/√(d_k)`."
    wrap = lambda x: x if re.fullmatch(r'\\?\w+|[^\s+\-*/]', x.strip()) else f'({x.strip()})'
    t = _TEX_DROP.sub('', tex)
    for _ in range(10):   # innermost groups first, until nothing changes
        prev = t
        t = _TEX_ARG.sub(r'\1', t)
        t = re.sub(r'\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}', lambda m: f'{wrap(m.group(1))}/{wrap(m.group(2))}', t)
        t = re.sub(r'\\sqrt\s*\{([^{}]*)\}', lambda m: '√' + wrap(m.group(1)), t)
        t = re.sub(r'([_^])\{([^{}]*)\}', lambda m: m.group(1) + wrap(m.group(2)), t)
        if t == prev: break
    t = re.sub(r'\\\\|&(?!\w+;|#\d+;)', ' ', t)                  # row and column breaks (not HTML entities)
    t = re.sub(r'\\([{}%_#$&|])', r'\1', t)                     # escaped characters
    t = re.sub(r'\\[,;:! ]', ' ', t)                             # spacing
    t = re.sub(r'\\([A-Za-z]+)', lambda m: _TEX_SYMBOLS.get(m.group(1), m.group(1)), t)
    t = re.sub(r'\s+', ' ', t.replace('{', '').replace('}', ''))
    return re.sub(r'\s+([)\]])', r'\1', re.sub(r'([(\[])\s+', r'\1', t)).strip()

_MATH = re.compile(r'\\\((.+?)\\\)|\\\[(.+?)\\\]|\$\$(.+?)\$\$', flags=re.S)
_CODE_HTML = re.compile(r'(<pre\b.*?</pre>|<code\b.*?</code>)', flags=re.S)

def search_text(text):
    "A search index entry's text with its math (arithmatex's `\\(...\\)`, `\\[...\\]`) as plain text; code is left alone."
    parts = _CODE_HTML.split(text)
    return ''.join(p if i % 2 else _MATH.sub(lambda m: tex_to_text(next(g for g in m.groups() if g is not None)), p)
                   for i, p in enumerate(parts))

_HAN = re.compile(r'[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+')

def han_bigrams(text):
    """The character bigrams of the Chinese in `text`, each once, space separated: what the search indexes so that a
    word inside a longer run of characters (唐诗 in 全唐诗) is found. Lunr splits only at separators, and Chinese has none."""
    return ' '.join(dict.fromkeys(run[i:i + 2] for run in _HAN.findall(text) for i in range(len(run) - 1)))

NGRAM_FIELD = 'ngrams'

def fix_search_index(site_dir):
    """Rewrite the search index of the built site: math in titles and texts as plain text (previews show no raw TeX),
    and a field of Chinese character bigrams, which the theme's search indexes like the others (its query side
    splits a Chinese query into the pieces the index knows). Returns (entries with math, entries with bigrams)."""
    path = Path(site_dir)/'search'/'search_index.json'
    idx = json.loads(path.read_text(encoding='utf-8'))
    n_math = n_han = 0
    for doc in idx['docs']:
        for k in ('title', 'text'):
            if isinstance(doc.get(k), str):
                new = search_text(doc[k])
                n_math += new != doc[k]
                doc[k] = new
        grams = han_bigrams(f"{doc.get('title', '')} {re.sub(r'<[^>]+>', ' ', doc.get('text', ''))}")
        if grams: doc[NGRAM_FIELD] = grams; n_han += 1
    idx['config'].setdefault('fields', {})[NGRAM_FIELD] = {'boost': 1.0}
    path.write_text(json.dumps(idx, ensure_ascii=False, separators=(',', ':')), encoding='utf-8')
    return n_math, n_han

# ---------------------------------------------------------------------------------------------------------

def build(site_dir=SITE, quiet=False, strict=False):
    t0 = time.time()
    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)
    cfg = get_config()
    nbs_path = Path(cfg.nbs_path)
    nbs = discover(nbs_path)
    if not nbs: raise SystemExit(f'no notebooks found in {nbs_path}')
    pages = {p.name: page_name(p, nbs_path) for p in nbs}
    if SRC.exists(): shutil.rmtree(SRC)
    SRC.mkdir(parents=True)
    doc_prefix = f"{cfg.doc_host}{cfg.doc_baseurl}".rstrip('/') + '/'

    os.environ['IN_TEST'] = '1'   # as nbdev sets it while processing notebooks
    os.environ.setdefault('MPLBACKEND', 'Agg')
    results = {}
    for p in nbs:
        r = process_one(p, pages[p.name])
        results[r['src']] = r
        if not quiet: print(f"  {p.name:34s} -> {r['page']:24s} {r['secs']:5.1f}s", flush=True)

    chapters = []
    for p in nbs:
        r = results[str(p)]
        r['documented'] = set(re.findall(r'^#{2,4} .*\{ #([\w.-]+) \}', r['md'], flags=re.M))
        r['nav'] = (f"{chapter_label(p)}. " if chapter_label(p) else '') + r['title']
        if p.name != 'index.ipynb': chapters.append(r)
    # the reference links back to a name's entry in its chapter when the chapter shows one
    chapter_of_page = {Path(r['page']).with_suffix('.html').as_posix(): r for r in chapters}
    modidx = importlib.import_module(f'{cfg.lib_name}._modidx').d
    refs = reference_pages(modidx, chapter_of_page)
    order = {r['page']: i for i, r in enumerate(chapters)}   # the reference in course order
    refs = dict(sorted(refs.items(), key=lambda kv: (order.get(kv[1][3]['page'], len(order)) if kv[1][3] else len(order), kv[0])))
    ref_pages = {m: v[0] for m, v in refs.items()}

    ids = lambda md: set(re.findall(r'\{ #([\w.-]+) \}', md))
    anchors = {**{r['page']: ids(r['md']) for r in results.values()}, **{v[0]: ids(v[1]) for v in refs.values()}}
    ref_of_page = {v[3]['page']: v[0] for v in refs.values() if v[3]}
    def write(page, md):
        dest = SRC/page
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(link_fix(md, page, pages, doc_prefix, ref_pages, anchors, ref_of_page), encoding='utf-8')
    for r in results.values(): write(r['page'], r['md'])
    write('chapters.md', chapters_page(chapters))
    write('reference/index.md', reference_index(refs))
    for m, (page, md, _, _) in refs.items(): write(page, md)
    # files the notebooks refer to (images next to them), and the site's own static files
    for f in nbs_path.rglob('*'):
        rel = f.relative_to(nbs_path)
        if f.is_file() and f.suffix.lower() in {'.png', '.jpg', '.jpeg', '.gif', '.svg', '.webp'} and \
           not any(x.startswith(('_', '.')) for x in rel.parts):
            (SRC/rel).parent.mkdir(parents=True, exist_ok=True); shutil.copy2(f, SRC/rel)
    shutil.copytree(ASSETS, SRC, dirs_exist_ok=True)
    summaries = {Path(r['page']).with_suffix('.html').as_posix(): plain(r['summary']) for r in results.values() if r['summary']}
    (SRC/'assets'/'nav-summaries.js').write_text(
        '// Generated by tools/build_docs.py: each chapter\'s summary line as the tooltip of its links in the navigation.\n'
        f'(function () {{\n  const S = {json.dumps(summaries, ensure_ascii=False)};\n'
        '  const root = new URL("..", document.currentScript.src).href;\n'
        '  const tag = () => document.querySelectorAll(".md-nav__link[href], .md-footer__link[href]").forEach(a => {\n'
        '    const s = S[a.href.split("#")[0].replace(root, "")];\n'
        '    if (s && !a.title) a.title = s;\n  });\n'
        '  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", tag); else tag();\n'
        '})();\n', encoding='utf-8')

    index_page = pages.get('index.ipynb')
    nav = ([{'Home': index_page}] if index_page else []) + [
        {'Course': [{'Chapters': 'chapters.md'}] + [{r['nav']: r['page']} for r in chapters]},
        {'API reference': [{'Overview': 'reference/index.md'}] + [{m: v[0]} for m, v in refs.items()]}]
    conf = {'INHERIT': str(ROOT/'mkdocs.yml'), 'docs_dir': str(SRC), 'site_dir': str(Path(site_dir).resolve()), 'nav': nav}
    if not index_page:
        (SRC/'index.md').write_text('# llm_nb\n\nSee the [chapters](chapters.md).\n', encoding='utf-8')
        nav.insert(0, {'Home': 'index.md'})
    (PROC/'mkdocs.yml').write_text(yaml.safe_dump(conf, sort_keys=False, allow_unicode=True), encoding='utf-8')
    t1 = time.time()
    cmd = [sys.executable, '-m', 'mkdocs', 'build', '--clean', '-f', str(PROC/'mkdocs.yml')] + ([] if not quiet else ['-q'])
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env={**os.environ, 'NO_MKDOCS_2_WARNING': '1'})
    log = r.stdout + r.stderr
    warnings = [f'WARNING  show_doc: {w}' for w in _WARNINGS] + [l for l in log.splitlines() if 'WARNING' in l]
    if r.returncode: print(log); raise SystemExit(f'mkdocs build failed ({r.returncode})')
    n_math, n_han = fix_search_index(site_dir)
    if not quiet: print(f'search index: math as text in {n_math} entries, Chinese bigrams for {n_han}')
    for w in warnings: print(w)
    if strict and warnings: raise SystemExit(f'{len(warnings)} warnings (--strict)')
    print(f'built {len(nbs)} notebooks + {len(refs)} reference pages into {Path(site_dir).resolve()} '
          f'in {time.time() - t0:.1f}s (notebooks {t1 - t0:.1f}s, mkdocs {time.time() - t1:.1f}s, {len(warnings)} warnings)')
    return dict(pages=pages, chapters=chapters, refs=refs, warnings=warnings)

def serve(site_dir=SITE, port=8000):
    h = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site_dir))
    with http.server.ThreadingHTTPServer(('127.0.0.1', port), h) as s:
        print(f'serving {site_dir} on http://127.0.0.1:{port}/ (Ctrl-C to stop)')
        try: s.serve_forever()
        except KeyboardInterrupt: pass

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--out', default=str(SITE), help='site folder (default: _docs)')
    ap.add_argument('--serve', action='store_true', help='serve the site on 127.0.0.1 after building it')
    ap.add_argument('--port', type=int, default=8000)
    ap.add_argument('--strict', action='store_true', help='fail on warnings (broken links, show_doc that cannot render)')
    a = ap.parse_args()
    build(Path(a.out), strict=a.strict)
    if a.serve: serve(Path(a.out), a.port)
