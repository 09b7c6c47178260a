"""The documentation site, checked in a real browser.

Builds the site (`python tools/build_docs.py`, what `make docs` runs) into `_docs/`, serves it on 127.0.0.1 and
drives Debian's headless Chromium through the Chrome DevTools protocol (a small client on `websocket-client`;
no downloaded browser). Checks: every navigation link answers 200 and shows a heading; no image, script,
stylesheet or font fails to load and nothing is fetched from outside the site; math is typeset by the MathJax
served with the site (no raw `$...$` left); code and outputs wrap in the column (no sideways scrolling, no copy
button over text, none on outputs) and table names are not broken; the search box finds API names, finds Chinese words
inside longer runs (character bigrams) and shows math in its previews as text; and it writes
`_docs/screenshot-landing.png` and `_docs/screenshot-chapter.png` for people to look at.

Skipped (with the reason) when Chromium, MkDocs or websocket-client is missing. Takes about a minute.
"""
import base64, functools, http.server, importlib, json, os, re, select, shutil, subprocess, sys, tempfile, threading, time
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT/'_docs'
CHROMIUM = next((p for p in (os.environ.get('CHROMIUM'), shutil.which('chromium'), shutil.which('chromium-browser'),
                             shutil.which('google-chrome')) if p), None)
HAVE_MKDOCS = importlib.util.find_spec('mkdocs') is not None and importlib.util.find_spec('material') is not None
HAVE_WS = importlib.util.find_spec('websocket') is not None

needs_mkdocs = pytest.mark.skipif(not HAVE_MKDOCS, reason='mkdocs-material is not installed (pip install -e ".[dev]")')
needs_browser = [needs_mkdocs,
    pytest.mark.skipif(CHROMIUM is None, reason='Chromium is not installed (apt-get install chromium)'),
    pytest.mark.skipif(not HAVE_WS, reason='websocket-client is not installed (pip install -e ".[dev]")')]

def browser_test(f):
    "Marks a test that needs the built site in Chromium: it runs wherever Chromium is installed, else is skipped."
    for m in needs_browser: f = m(f)
    return f

sys.path.insert(0, str(ROOT/'tools'))
import build_docs as bd
sys.path.remove(str(ROOT/'tools'))

class CDP:
    "A minimal Chrome DevTools protocol client: one browser, one page (flat session), events kept in a list."
    def __init__(self, ws_url, timeout=30):
        import websocket
        self.ws = websocket.create_connection(ws_url, timeout=timeout, suppress_origin=True)
        self.n, self.events, self.session = 0, [], None
        self.all_requests, self.all_failed = [], []   # over the whole session: late requests count too
        target = self.call('Target.createTarget', url='about:blank', _browser=True)['targetId']
        self.session = self.call('Target.attachToTarget', targetId=target, flatten=True, _browser=True)['sessionId']
        for dom in ('Page', 'Network', 'Runtime'): self.call(f'{dom}.enable')

    def call(self, method, _browser=False, _timeout=30, **params):
        self.n += 1
        msg = dict(id=self.n, method=method, params=params)
        if self.session and not _browser: msg['sessionId'] = self.session
        self.ws.send(json.dumps(msg))
        deadline = time.time() + _timeout
        while time.time() < deadline:
            m = json.loads(self.ws.recv())
            if m.get('id') == self.n:
                if 'error' in m: raise RuntimeError(f'{method}: {m["error"]}')
                return m.get('result', {})
            if 'method' in m: self._event(m)
        raise TimeoutError(method)

    def _event(self, m):
        self.events.append(m)
        if m['method'] == 'Network.requestWillBeSent': self.all_requests.append(m['params']['request']['url'])
        if m['method'] == 'Network.loadingFailed' and not m['params'].get('canceled'): self.all_failed.append(m['params'])

    def wait_event(self, name, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            for e in self.events:
                if e['method'] == name: return e
            self.ws.settimeout(max(0.1, deadline - time.time()))
            try: m = json.loads(self.ws.recv())
            except Exception: continue
            finally: self.ws.settimeout(30)
            if 'method' in m: self._event(m)
        raise TimeoutError(name)

    def js(self, expr, timeout=30):
        r = self.call('Runtime.evaluate', expression=expr, returnByValue=True, awaitPromise=True, _timeout=timeout)
        if 'exceptionDetails' in r: raise RuntimeError(f'{expr[:80]}: {r["exceptionDetails"]}')
        return r['result'].get('value')

    def visit(self, url):
        "Load `url`, wait for it and for MathJax; return what the network did meanwhile."
        self.events = []
        self.call('Page.navigate', url=url)
        self.wait_event('Page.loadEventFired')
        self.js("(async () => { if (document.querySelector('.arithmatex') && window.MathJax && MathJax.startup)"
                " await MathJax.startup.promise; return 1 })()")
        time.sleep(0.2)
        self.call('Runtime.evaluate', expression='1')  # drain events that arrived meanwhile
        resp = [e['params'] for e in self.events if e['method'] == 'Network.responseReceived']
        failed = [e['params'] for e in self.events if e['method'] == 'Network.loadingFailed']
        reqs = [e['params']['request']['url'] for e in self.events if e['method'] == 'Network.requestWillBeSent']
        return dict(responses=resp, failed=failed, requests=reqs)

    def screenshot(self, path):
        self.call('Emulation.setDeviceMetricsOverride', width=1280, height=900, deviceScaleFactor=1, mobile=False)
        time.sleep(0.8)  # let the theme's transitions finish
        data = self.call('Page.captureScreenshot', format='png')['data']
        Path(path).write_bytes(base64.b64decode(data))

    def close(self): self.ws.close()

def _modidx():
    sys.path.insert(0, str(ROOT))
    try: return importlib.import_module('llm_nb._modidx').d['syms']
    finally: sys.path.remove(str(ROOT))

@pytest.fixture(scope='module')
def built():
    "Build the site with the same command as `make docs`."
    if not HAVE_MKDOCS: pytest.skip('mkdocs-material is not installed')
    env = {**os.environ, 'PYTHONPATH': os.pathsep.join([str(ROOT)] + [p for p in [os.environ.get('PYTHONPATH')] if p]),
           'MPLBACKEND': 'Agg'}
    t0 = time.time()
    r = subprocess.run([sys.executable, 'tools/build_docs.py'], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    print(f'site built in {time.time() - t0:.1f}s')
    return r.stdout

@pytest.fixture(scope='module')
def site(built):
    "Serve the built site on 127.0.0.1 (a free port) and yield its address; stop the server afterwards."
    handler = functools.partial(QuietHandler, directory=str(SITE))
    srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    th = threading.Thread(target=srv.serve_forever, daemon=True); th.start()
    try: yield f'http://127.0.0.1:{srv.server_address[1]}/'
    finally: srv.shutdown(); srv.server_close()

class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a): pass

@pytest.fixture(scope='module')
def browser(site):
    "Headless Chromium with a fresh profile, driven over the DevTools protocol; killed at the end."
    if CHROMIUM is None: pytest.skip('Chromium is not installed (apt-get install chromium)')
    if not HAVE_WS: pytest.skip('websocket-client is not installed')
    prof = tempfile.mkdtemp(prefix='llm_nb_chromium_')
    cmd = [CHROMIUM, '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-extensions',
           '--disable-dev-shm-usage', '--hide-scrollbars', '--mute-audio', f'--user-data-dir={prof}',
           '--remote-debugging-address=127.0.0.1', '--remote-debugging-port=0', '--window-size=1280,900', 'about:blank']
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        ws_url, deadline, seen = None, time.time() + 30, []
        while time.time() < deadline and ws_url is None:
            if proc.poll() is not None: break
            ready, _, _ = select.select([proc.stderr], [], [], 1)
            if ready:
                line = proc.stderr.readline(); seen.append(line)
                m = re.search(r'DevTools listening on (ws://\S+)', line)
                if m: ws_url = m.group(1)
        assert ws_url, 'Chromium did not start:\n' + ''.join(seen[-20:])
        threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()  # keep its pipe drained
        cdp = CDP(ws_url)
        yield cdp
        cdp.close()
    finally:
        proc.terminate()
        try: proc.wait(10)
        except subprocess.TimeoutExpired: proc.kill(); proc.wait(5)
        shutil.rmtree(prof, ignore_errors=True)

LAYOUT = r"""
function layout() {  // how code, outputs and tables sit in the content column (issue 23, item 11)
    const main = document.querySelector('.md-content'), art = main.querySelector('article');
    const pres = [...main.querySelectorAll('pre')];
    const covered = [];  // text under a copy button
    for (const nav of main.querySelectorAll('.md-code__nav')) {
        const r = nav.getBoundingClientRect(), code = nav.parentElement.querySelector('code');
        if (!code || !r.width) continue;
        const walk = document.createTreeWalker(code, NodeFilter.SHOW_TEXT), range = document.createRange();
        let n; while ((n = walk.nextNode())) {
            if (!n.textContent.trim()) continue;
            range.selectNodeContents(n);
            for (const t of range.getClientRects())
                if (t.width > 1 && t.right > r.left && t.left < r.right && t.bottom > r.top && t.top < r.bottom)
                    covered.push(n.textContent.trim().slice(0, 40));
        }
    }
    const names = [...main.querySelectorAll('table td:first-child code')];
    return {col: art.clientWidth, pres: pres.length,
            wide: pres.filter(p => p.scrollWidth > p.clientWidth + 1 || [...p.querySelectorAll('code')].some(c => c.scrollWidth > c.clientWidth + 1))
                      .map(p => p.textContent.split('\n').reduce((a, b) => b.length > a.length ? b : a, '').slice(0, 60)),
            wrapped: [...main.querySelectorAll('pre > code > span[id^="__span"]')].filter(s => s.getClientRects().length > 1 ||
                      s.getBoundingClientRect().height > 1.6 * parseFloat(getComputedStyle(s).lineHeight || 20)).length,
            covered, outButtons: main.querySelectorAll('.nb-output .md-code__nav, .nb-output .md-clipboard').length,
            pageScrolls: document.documentElement.scrollWidth > window.innerWidth + 1,
            names: names.length, broken: names.filter(c => c.getClientRects().length > 1).map(c => c.textContent)};
}
"""

@pytest.fixture(scope='module')
def pages(site, browser):
    "Every page the navigation links to, visited once: its status, heading, math, raw dollars and network log."
    browser.visit(site)
    links = browser.js("[...new Set([...document.querySelectorAll('.md-nav--primary a.md-nav__link[href], "
                       "a.md-tabs__link[href]')].map(a => a.href.split('#')[0]))]")
    assert links, 'no navigation links on the landing page'
    res = {}
    for url in links:
        if not url.startswith(site): continue
        net = browser.visit(url)
        doc = [r for r in net['responses'] if r.get('type') == 'Document']
        info = browser.js(LAYOUT + r"""(() => {
            const main = document.querySelector('.md-content');
            const walk = document.createTreeWalker(main, NodeFilter.SHOW_TEXT, {acceptNode: n =>
                n.parentElement.closest('pre, code, script, style, .arithmatex, mjx-container')
                    ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT});
            let text = '', n; while ((n = walk.nextNode())) text += n.textContent + ' ';
            const math = [...document.querySelectorAll('.md-content .arithmatex')];
            return {h1: (document.querySelector('.md-content h1') || {}).innerText || '',
                    math: math.length, typeset: math.filter(m => m.querySelector('mjx-container')).length,
                    merror: document.querySelectorAll('mjx-merror').length,
                    raw: (text.match(/\$\$|\$[^\s$][^$]*?[^\s$\\]\$|\\\(|\\\[/g) || []).slice(0, 5),
                    imgs: [...document.querySelectorAll('.md-content img')].map(i => [i.src, i.naturalWidth]), ...layout()}})()""")
        res[url] = dict(net=net, status=doc[0]['response']['status'] if doc else None, **info)
    return res

@browser_test
def test_nav_pages_load_with_a_heading(pages, site):
    assert len(pages) >= 4, f'too few pages in the navigation: {list(pages)}'
    bad = {u: (p['status'], p['h1']) for u, p in pages.items() if p['status'] != 200 or not p['h1'].strip()}
    assert not bad, f'pages that did not load with a heading: {bad}'
    assert any('/reference/' in u for u in pages), 'no API reference page in the navigation'

@browser_test
def test_navigation_is_in_course_order_with_summaries(browser, site, pages):
    from nbdev.config import get_config
    nbs_path = Path(get_config(path=ROOT).nbs_path)
    chapters = [nb for nb in bd.discover(nbs_path) if nb.name != 'index.ipynb']
    browser.visit(site + 'chapters.html')
    nav = browser.js("[...document.querySelectorAll('.md-nav--primary a.md-nav__link[href]')]"
                     ".map(a => [a.href.split('#')[0], a.title])")
    want = [site + Path(bd.page_name(nb, nbs_path)).with_suffix('.html').as_posix() for nb in chapters]
    got = [h for h, _ in nav if h in want]
    assert list(dict.fromkeys(got)) == want, f'chapters not in course order: {got}'
    titles = {h: t for h, t in nav}
    for nb, url in zip(chapters, want):
        _, summary = bd.title_summary(json.loads(nb.read_text(encoding='utf-8')))
        if summary: assert titles.get(url) == bd.plain(summary), f'{nb.name}: navigation link lacks its summary line'
        assert bd.plain(summary) in ' '.join(_text_of(SITE/'chapters.html').split()), f'{nb.name}: summary missing from the chapter list'

@browser_test
def test_no_broken_or_remote_resources(pages, site, browser):
    bad, remote, broken_imgs = [], [], []
    for u, p in pages.items():
        bad += [(u, r['response']['url'], r['response']['status']) for r in p['net']['responses'] if r['response']['status'] >= 400]
        bad += [(u, f.get('errorText'), f.get('type')) for f in p['net']['failed'] if not f.get('canceled')]
        remote += [(u, q) for q in p['net']['requests'] if not q.startswith((site, 'data:', 'blob:', 'about:'))]
        broken_imgs += [(u, src) for src, w in p['imgs'] if not w]
    time.sleep(1); browser.call('Runtime.evaluate', expression='1')  # let late requests (after load) arrive
    remote += [('(any page)', q) for q in browser.all_requests if not q.startswith((site, 'data:', 'blob:', 'about:'))]
    bad += [('(any page)', f.get('errorText'), f.get('type')) for f in browser.all_failed]
    assert not bad, f'resources that failed to load: {bad[:10]}'
    assert not remote, f'requests that leave the site (the site must work offline): {remote[:10]}'
    assert not broken_imgs, f'images that did not render: {broken_imgs[:10]}'

@browser_test
def test_math_is_typeset(pages):
    raw = {u: p['raw'] for u, p in pages.items() if p['raw']}
    assert not raw, f'raw math delimiters left in the text (math not typeset): {raw}'
    math = {u: p for u, p in pages.items() if p['math']}
    if not math: pytest.skip('no page has math yet')
    chosen = max(math, key=lambda u: math[u]['math'])
    for u, p in math.items():
        assert p['typeset'] == p['math'], f"{u}: {p['math'] - p['typeset']} of {p['math']} formulas not typeset"
        assert not p['merror'], f'{u}: {p["merror"]} TeX errors'
    assert math[chosen]['math'] > 0

@browser_test
def test_code_and_outputs_fit_the_column(pages):
    "Long code and output lines wrap (no sideways scrolling); outputs have no copy button; no copy button hides text."
    with_code = {u: p for u, p in pages.items() if p['pres']}
    assert with_code, 'no page shows code'
    assert min(p['col'] for p in with_code.values()) < 800, 'the test wants the narrow column beside both sidebars'
    wide = {u: p['wide'][:3] for u, p in with_code.items() if p['wide']}
    assert not wide, f'code or output blocks that scroll sideways: {wide}'
    assert sum(p['wrapped'] for p in with_code.values()), 'no long line wrapped: the check measured nothing'
    covered = {u: p['covered'][:3] for u, p in with_code.items() if p['covered']}
    assert not covered, f'text under a copy button: {covered}'
    buttons = {u: p['outButtons'] for u, p in with_code.items() if p['outButtons']}
    assert not buttons, f'outputs with a copy button: {buttons}'
    scrolls = [u for u, p in pages.items() if p['pageScrolls']]
    assert not scrolls, f'pages that scroll sideways: {scrolls}'

@browser_test
def test_table_names_are_not_broken(pages):
    "Parameter and API names in the first column of a table stay on one line (no 'seed_everythin / g')."
    assert sum(p['names'] for p in pages.values()), 'no table with names in its first column'
    broken = {u: p['broken'][:5] for u, p in pages.items() if p['broken']}
    assert not broken, f'names broken across lines: {broken}'

def _search_index():
    return json.loads((SITE/'search'/'search_index.json').read_text(encoding='utf-8'))

_RAW_TEX = re.compile(r'\\\(|\\\[|\$\$|\\(?:frac|mathrm|text|sqrt|sum|cdot|top|log|alpha|theta|big|left|right)(?![a-z])')

def _outside_code(h): return re.sub(r'<pre\b.*?</pre>|<code\b.*?</code>', ' ', h, flags=re.S)

@needs_mkdocs
def test_search_index_has_no_raw_tex(built):
    "Search previews show math as text: no entry's title or text (outside code) keeps TeX delimiters or commands."
    assert any('class="arithmatex"' in f.read_text(encoding='utf-8') for f in SITE.glob('*.html')), 'no page has math'
    raw = [(d['location'], m.group(0)) for d in _search_index()['docs'] for k in ('title', 'text')
           for m in [_RAW_TEX.search(_outside_code(d.get(k, '')))] if m]
    assert not raw, f'search entries with raw TeX: {raw[:8]}'

def test_tex_to_text_and_han_bigrams():
    assert bd.tex_to_text(r'\mathrm{softmax}\Big(\frac{QK^\top}{\sqrt{d_k}}\Big)') == 'softmax((QK^⊤)/(√d_k))'
    assert bd.tex_to_text(r'C_{wc} \le \alpha \cdot x \leftarrow y') == 'C_wc ≤ α · x ← y'
    assert bd.search_text(r'<p>id \(i\) of \(V\)</p><code>re.escape(r"\(")</code>') == r'<p>id i of V</p><code>re.escape(r"\(")</code>'
    assert bd.han_bigrams('全唐诗 couplets 春逐') == '全唐 唐诗 春逐'
    assert bd.han_bigrams('no Chinese here, 字') == ''

def test_fix_search_index(tmp_path):
    (tmp_path/'search').mkdir()
    idx = dict(config=dict(lang=['en'], separator='[\\s\\-]+', pipeline=['stopWordFilter'], fields=dict(title=dict(boost=1000.0))),
               docs=[dict(location='a.html', title='Scaling \\(\\sqrt{d}\\)', text='<p>全唐诗 couplets</p>'),
                     dict(location='b.html', title='B', text='<p>plain</p>')])
    (tmp_path/'search'/'search_index.json').write_text(json.dumps(idx), encoding='utf-8')
    assert bd.fix_search_index(tmp_path) == (1, 1)
    out = json.loads((tmp_path/'search'/'search_index.json').read_text(encoding='utf-8'))
    assert out['docs'][0]['title'] == 'Scaling √d' and out['docs'][0][bd.NGRAM_FIELD] == '全唐 唐诗'
    assert bd.NGRAM_FIELD not in out['docs'][1] and bd.NGRAM_FIELD in out['config']['fields']

def _search(browser, site, query, sections=False):
    browser.visit(site)
    browser.js("document.querySelector('.md-search__input').focus(); 1")
    for ch in query:
        browser.call('Input.dispatchKeyEvent', type='keyDown', text=ch, key=ch)
        browser.call('Input.dispatchKeyEvent', type='keyUp', key=ch)
    deadline, hrefs, last = time.time() + 20, [], None
    time.sleep(0.5)
    while time.time() < deadline:  # until the results for the whole query are in and stop changing
        hrefs = browser.js("[...document.querySelectorAll('.md-search-result__item a, a.md-search-result__link')].map(a => a.href)")
        if hrefs and hrefs == last: break
        last = hrefs
        time.sleep(0.5)
    return hrefs if sections else [h.split('#')[0].split('?')[0] for h in hrefs]

@browser_test
@pytest.mark.parametrize('name', ['BPETokenizer', 'get_path'])
def test_search_finds_api_names(browser, site, pages, name):
    syms = {k.rsplit('.', 1)[-1]: v[0] for m in _modidx().values() for k, v in m.items()}
    if name not in syms: pytest.skip(f'`{name}` is not exported yet (its chapter has not landed)')
    page = syms[name].split('#')[0]
    hrefs = _search(browser, site, name)
    assert hrefs, f'search for {name!r} returned nothing'
    assert any(h.endswith('/' + page) for h in hrefs), f'search for {name!r} did not return {page}: {hrefs[:8]}'

@browser_test
def test_search_previews_show_math_as_text(browser, site, pages):
    hrefs = _search(browser, site, 'softmax')
    assert hrefs, 'search for softmax returned nothing'
    shown = browser.js("[...document.querySelectorAll('.md-search-result__item')].map(e => e.innerText).join('\\n')")
    assert shown.strip() and not _RAW_TEX.search(shown), f'raw TeX in the search previews: {_RAW_TEX.search(shown)}'

@browser_test
def test_chinese_search_finds_words_inside_runs(browser, site, pages):
    "唐诗 inside the run 全唐诗: the index has character bigrams, so the search finds every section that has it."
    want = {d['location'] for d in _search_index()['docs'] if '唐诗' in d['text'] and '#' in d['location']}
    if not want: pytest.skip('no section mentions 唐诗')
    got = {re.sub(r'\?[^#]*', '', h.replace(site, '', 1)) for h in _search(browser, site, '唐诗', sections=True)}  # no ?h=唐诗
    assert got, 'search for 唐诗 returned nothing'
    assert want <= got, f'sections with 唐诗 the search missed: {want - got} (found {sorted(got)[:8]})'

@browser_test
def test_screenshots(browser, site, pages):
    browser.visit(site)
    browser.screenshot(SITE/'screenshot-landing.png')
    chapters = {u: p for u, p in pages.items() if not u.rstrip('/').endswith(('index.html', 'chapters.html')) and '/reference/' not in u
                and u != site}
    assert chapters, 'no chapter pages'
    chap = max(chapters, key=lambda u: (chapters[u]['math'] > 0, len(chapters[u]['imgs']), chapters[u]['math']))
    browser.visit(chap)
    if chapters[chap]['math']:  # show typeset math in the picture
        browser.js("document.querySelector('.md-content .arithmatex').scrollIntoView({block: 'center'}); 1")
        time.sleep(0.3)
    browser.screenshot(SITE/'screenshot-chapter.png')
    for f in ('screenshot-landing.png', 'screenshot-chapter.png'):
        b = (SITE/f).read_bytes()
        assert b[:8] == b'\x89PNG\r\n\x1a\n' and len(b) > 20_000, f'{f} looks empty ({len(b)} bytes)'


# ---- the build itself (no browser needed) ----

def _text_of(html_path):
    import html as H
    return H.unescape(re.sub(r'<[^>]+>', '', Path(html_path).read_text(encoding='utf-8')))

@needs_mkdocs
def test_every_notebook_and_export_has_a_page(built):
    from nbdev.config import get_config
    nbs_path = Path(get_config(path=ROOT).nbs_path)
    nbs = bd.discover(nbs_path)
    assert nbs and (SITE/'index.html').exists()
    for nb in nbs:
        page = SITE/Path(bd.page_name(nb, nbs_path)).with_suffix('.html')
        assert page.exists(), f'{nb.name} has no page ({page.name})'
        text = _text_of(page)
        cells = json.loads(nb.read_text(encoding='utf-8'))['cells']
        for c in cells:
            src = ''.join(c['source'])
            if c['cell_type'] != 'code': continue
            shown = '\n'.join(l for l in src.split('\n') if not l.startswith('#|')).strip()
            if re.match(r'#\|\s*hide\s*$', src.split('\n')[0]) and shown:
                assert shown not in text, f'{nb.name}: a `#| hide` cell shows on its page: {shown[:80]!r}'
            m = re.search(r'^(?:def|class) (\w+)', src, flags=re.M)
            if re.match(r'#\|\s*export\s*$', src.split('\n')[0]) and m and not m.group(1).startswith('_'):
                assert re.search(rf'(def|class) {m.group(1)}\b', text), f'{nb.name}: `#| export` source of {m.group(1)} not shown'
    for mod, entries in _modidx().items():
        sys.path.insert(0, str(ROOT))
        try: names = importlib.import_module(mod).__all__
        finally: sys.path.remove(str(ROOT))
        ref = SITE/'reference'/(mod.split('.', 1)[1] + '.html')
        assert ref.exists(), f'no reference page for {mod}'
        h = ref.read_text(encoding='utf-8')
        for nm in names: assert f'id="{bd.anchor(nm)}"' in h, f'{mod}.{nm} has no entry on {ref.name}'

@needs_mkdocs
def test_show_doc_has_signature_docstring_and_table(built):
    h = (SITE/'reference'/'core.html').read_text(encoding='utf-8')
    entry = h[h.index('id="get-device"'):][:6000]
    text = _text_of_str(entry)
    assert 'get_device(device:str|torch.device|None=None) -> torch.device' in text
    assert 'The device to run on' in text
    assert '<table>' in entry and 'explicit choice' in text and 'Details' in text
    assert 'href="../core.html#get-device"' in h  # back to the chapter's entry
    chap = (SITE/'core.html').read_text(encoding='utf-8')
    assert 'href="reference/core.html#get-device"' in chap  # and from the chapter to the reference

@needs_mkdocs
def test_backticked_names_link_to_their_docs(built):
    "As nbdev does: a chapter's prose that names an exported function or class in backticks links to its entry."
    from nbdev.config import get_config
    nbs_path = Path(get_config(path=ROOT).nbs_path)
    sys.path.insert(0, str(ROOT))
    try: exported = {n for mod in _modidx() for n in importlib.import_module(mod).__all__ if callable(getattr(importlib.import_module(mod), n))}
    finally: sys.path.remove(str(ROOT))
    linked, unlinked = 0, []
    for nb in bd.discover(nbs_path):
        h = (SITE/Path(bd.page_name(nb, nbs_path)).with_suffix('.html')).read_text(encoding='utf-8')
        for para in re.findall(r'<p>.*?</p>', h, flags=re.S):
            for a, name in re.findall(r'(<a [^>]*>)?<code>(\w+)(?:\(\))?</code>', para):
                if name not in exported: continue
                if a: linked += 1; assert '.html#' in a, f'{nb.name}: `{name}` links nowhere useful: {a}'
                else: unlinked.append((nb.name, name))
    assert linked, 'no backticked name is linked anywhere'
    assert not unlinked, f'backticked exported names left unlinked: {unlinked[:10]}'

def _text_of_str(s):
    import html as H
    return H.unescape(re.sub(r'<[^>]+>', '', s))

def test_fix_markdown_makes_commonmark_lists_and_display_math_blocks():
    md = 'Some text:\n- a\n  - nested\n- b\nwhere\n$$\nx_1 = y_2\n$$\nafter\n```python\n$$ not math\n- not a list\n```'
    out = bd.fix_markdown(md)
    assert 'Some text:\n\n- a\n    - nested\n- b' in out
    assert '\n\n$$\nx_1 = y_2\n$$\n\nafter' in out
    assert bd.fix_markdown('so $$a^2$$ here, `$$x$$`') == 'so $\\displaystyle a^2$ here, `$$x$$`'
    assert bd.fix_markdown('Text:\n| a |\n|---|\n| 1 |') == 'Text:\n\n| a |\n|---|\n| 1 |'
    assert bd.fix_markdown('Text:\n```\nx\n```\nafter') == 'Text:\n\n```\nx\n```\n\nafter'
    assert out.endswith('```python\n$$ not math\n- not a list\n```')

def test_plain_summary():
    assert bd.plain('Why `softmax` needs *scaling*: see [the paper](http://x) and $\\sqrt{d_k}$ or snake_case') == \
        'Why softmax needs scaling: see the paper and \\sqrt{d_k} or snake_case'

def test_page_names_and_links_follow_nbdev():
    nbs = Path('/x/nbs')
    assert bd.page_name(nbs/'01_tokenization.ipynb', nbs) == 'tokenization.md'
    assert bd.page_name(nbs/'00a_data.ipynb', nbs) == 'data.md'
    assert bd.page_name(nbs/'index.ipynb', nbs) == 'index.md'
    assert bd.chapter_label(nbs/'00a_data.ipynb') == '0a' and bd.chapter_label(nbs/'12_x.ipynb') == '12'
    assert bd.chapter_label(nbs/'000_overview.ipynb') == '' and bd.chapter_label(nbs/'00_core.ipynb') == '0'
    assert [p.name for p in bd.discover(bd.ROOT/'nbs')][:3] == ['index.ipynb', '000_overview.ipynb', '00_core.ipynb']
    pages = {'01_tokenization.ipynb': 'tokenization.md'}
    anchors = {'tokenization.md': {'bpetokenizer'}, 'reference/tokenization.md': {'bpetokenizer-encode'}}
    md = ('[`BPETokenizer`](https://h.io/llm_nb/tokenization.html#bpetokenizer) '
          '[`BPETokenizer.encode`](https://h.io/llm_nb/tokenization.html#bpetokenizer.encode) '
          '[ch. 1](01_tokenization.ipynb#Byte-pair-encoding)')
    out = bd.link_fix(md, 'attention.md', pages, 'https://h.io/llm_nb/', {}, anchors, {'tokenization.md': 'reference/tokenization.md'})
    assert out == ('[`BPETokenizer`](tokenization.md#bpetokenizer) [`BPETokenizer.encode`](reference/tokenization.md#bpetokenizer-encode) '
                   '[ch. 1](tokenization.md#byte-pair-encoding)')
    assert bd.link_fix('[x](https://h.io/llm_nb/core.html#get_device)', 'reference/core.md', {}, 'https://h.io/llm_nb/', {}) \
        == '[x](../core.md#get-device)'

def test_param_table_is_nbdevs_docments_table():
    def f(a:int, # the first
          b:str='x', # the second
         ) -> float: # the result
        "Doc."
    t = bd.param_table(f).split('\n')
    assert t[0] == '| parameter | **Type** | **Default** | **Details** |'
    assert t[2] == "| `a` | int |  | the first |" and t[3] == "| `b` | str | `'x'` | the second |"
    assert t[4] == '| **Returns** | float |  | the result |'
    def g(x): "No docments."
    assert bd.param_table(g) == ''

def test_notebook_to_page_honours_directives_and_keeps_outputs(tmp_path, monkeypatch):
    "One notebook through nbdev's processors and the converter: what shows, what does not, and in which order."
    monkeypatch.setattr(bd, 'SRC', tmp_path/'src')
    monkeypatch.chdir(ROOT)
    png = base64.b64encode(bytes.fromhex('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489'
                                         '0000000d4944415478da63f8cfc0f01f0005000201e5d2c3b10000000049454e44ae426082')).decode()
    code = lambda src, outs=(): dict(cell_type='code', execution_count=None, metadata={}, outputs=list(outs), source=src)
    md = lambda src: dict(cell_type='markdown', metadata={}, source=src)
    cells = [md('# A trial\n\n> What the page shows'), code('#| default_exp core'),
             code('#| hide\nsecret_hidden = 1'),
             code('#| export\ndef fmt_time(seconds:float, # a duration\n            ) -> str:\n    "Format a duration."\n    return str(seconds)'),
             code("#| echo: false\nprint('only the output')", [dict(output_type='stream', name='stdout', text='only the output\n')]),
             code("print('progress')", [dict(output_type='stream', name='stderr', text='10%\r50%\r100%\n')]),
             code('plt.plot()', [dict(output_type='display_data', metadata={}, data={'image/png': png, 'text/plain': '<Figure>'})]),
             code('#| output: false\nx', [dict(output_type='execute_result', execution_count=1, metadata={}, data={'text/plain': 'SHOULD_NOT_SHOW'})]),
             md('Steps:\n- one\n- two\nand\n$$\na_1 = b_2\n$$\ndone')]
    nb_path = tmp_path/'99_trial.ipynb'
    nb_path.write_text(json.dumps(dict(cells=cells, metadata={}, nbformat=4, nbformat_minor=5)), encoding='utf-8')
    import nbdev.showdoc
    renderer = nbdev.showdoc.BasicMarkdownRenderer
    r = bd.process_one(nb_path, 'trial.md')
    assert nbdev.showdoc.BasicMarkdownRenderer is renderer, 'the build leaves nbdev unpatched'
    out = r['md']
    assert (r['title'], r['summary']) == ('A trial', 'What the page shows')
    assert 'secret_hidden' not in out and 'default_exp' not in out and '#|' not in out
    doc, src = out.index('### fmt\\_time { #fmt-time }'), out.index('def fmt_time(seconds:float, # a duration')
    assert doc < src, 'the show_doc entry comes before the exported source'
    assert '| `seconds` | float |' in out[doc:src] and '*Format a duration' in out[doc:src]  # rendered from llm_nb.core
    assert 'only the output' in out and "print('only the output')" not in out
    assert '100%' in out and '10%' not in out and 'nb-stderr' in out
    assert 'SHOULD_NOT_SHOW' not in out
    assert '![Figure](trial_files/cell' in out and list((tmp_path/'src'/'trial_files').glob('*.png'))
    assert 'Steps:\n\n- one\n- two' in out and '\n\n$$\na_1 = b_2\n$$\n\ndone' in out

def test_builder_uses_only_public_nbdev_and_fastcore_names():
    "So nbdev can be upgraded: tools/build_docs.py imports no `_private` name from nbdev, fastcore or execnb."
    import ast
    tree = ast.parse((ROOT/'tools'/'build_docs.py').read_text(encoding='utf-8'))
    libs = ('nbdev', 'fastcore', 'execnb')
    bad = [f'{n.module}.{a.name}' for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and (n.module or '').startswith(libs)
           for a in n.names if a.name.startswith('_')]
    bad += [n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr.startswith('_') and not n.attr.startswith('__')
            and isinstance(n.value, ast.Name) and n.value.id in {'nbdev', 'fastcore', 'P'}]
    assert not bad, bad
