"""`llm_nb serve` as users use it: a real server process on 127.0.0.1 with the course's small Shakespeare model, driven by
the official `openai` client, plain HTTP (what curl sends), 16 concurrent streaming clients, bad input, a full queue,
clients that leave, SIGTERM, and the chat page in headless Chromium.

Skipped when the `serve` extra (fastapi, uvicorn) or httpx is missing; the openai client and Chromium tests skip on their
own. Every wait is bounded; the whole file takes well under a minute on a quiet machine. The engine on its own (no HTTP):
tests/test_engine.py.
"""
import json, os, re, select, shutil, signal, socket, subprocess, sys, tempfile, threading, time
from pathlib import Path
import pytest

pytest.importorskip('fastapi', reason='the serve extra is not installed (pip install -e ".[serve]")')
pytest.importorskip('uvicorn', reason='the serve extra is not installed (pip install -e ".[serve]")')
httpx = pytest.importorskip('httpx')

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT/'models'/'shakespeare-char'
BLOCK = json.loads((MODEL/'config.json').read_text())['model']['config']['block_size']

def _free_port() -> int:
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

class Server:
    "`llm_nb serve` in a subprocess on a free port of 127.0.0.1."
    def __init__(self, *args):
        self.port = _free_port(); self.url = f'http://127.0.0.1:{self.port}'
        env = {**os.environ, 'PYTHONPATH': os.pathsep.join([str(ROOT), os.environ.get('PYTHONPATH', '')])}
        self.log = tempfile.TemporaryFile(mode='w+')
        self.proc = subprocess.Popen([sys.executable, '-m', 'llm_nb.cli', 'serve', '--model', str(MODEL), '--port', str(self.port), *args],
                                     cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 90
        while time.time() < deadline:
            assert self.proc.poll() is None, f'the server exited:\n{self.output()}'
            try:
                if httpx.get(self.url + '/health', timeout=2).status_code == 200: return
            except httpx.HTTPError: time.sleep(0.2)
        self.stop(); raise AssertionError(f'the server did not start in 90 s:\n{self.output()}')
    def output(self) -> str: self.log.seek(0); return self.log.read()[-3000:]
    def health(self) -> dict: return httpx.get(self.url + '/health', timeout=5).json()
    def stop(self, timeout=30) -> int:
        if self.proc.poll() is None: self.proc.send_signal(signal.SIGTERM)
        try: return self.proc.wait(timeout)
        except subprocess.TimeoutExpired: self.proc.kill(); self.proc.wait(5); raise

@pytest.fixture(scope='module')
def server():
    s = Server('--max-batch', '16')
    yield s
    assert s.stop() == 0, s.output()

def sse(url, body, headers=None, timeout=60) -> tuple[list[dict], bool]:
    "POST a streaming request; the parsed chunks and whether the stream ended with `data: [DONE]`."
    chunks, done = [], False
    with httpx.stream('POST', url, json=body, headers=headers, timeout=timeout) as r:
        assert r.status_code == 200, r.read()
        assert r.headers['content-type'].startswith('text/event-stream')
        for line in r.iter_lines():
            if not line: continue
            assert line.startswith('data: '), line
            assert not done, 'data after [DONE]'
            if line == 'data: [DONE]': done = True
            else: chunks.append(json.loads(line[6:]))
    return chunks, done

PROMPTS = ['ROMEO:\n', 'First Citizen:\nWe are', 'To be, or not', 'KING HENRY', 'O, what a', 'My lord,', 'HAMLET:\nThe time is',
           'A', 'Good morrow', 'What say you', 'Nay, but', 'Come, come', 'MENENIUS:\nWhy', 'Speak, speak', 'Well, sir', 'Alas']

# -- the official client ------------------------------------------------------------------------------------------------
def test_openai_client_chat_and_completion(server):
    openai = pytest.importorskip('openai')
    client = openai.OpenAI(base_url=server.url + '/v1', api_key='unused', max_retries=0, timeout=60)
    assert [m.id for m in client.models.list().data] == ['shakespeare-char']
    full = client.completions.create(model='shakespeare-char', prompt='ROMEO:\n', max_tokens=40, temperature=0)
    assert full.choices[0].finish_reason == 'length' and full.usage.completion_tokens == 40 and len(full.choices[0].text) == 40
    parts = list(client.completions.create(model='shakespeare-char', prompt='ROMEO:\n', max_tokens=40, temperature=0, stream=True))
    assert ''.join(c.choices[0].text for c in parts) == full.choices[0].text
    assert parts[-1].choices[0].finish_reason == 'length'

    msgs = [{'role': 'system', 'content': 'Speak as a king.'}, {'role': 'user', 'content': 'Who goes there?'}]
    chat = client.chat.completions.create(model='shakespeare-char', messages=msgs, max_tokens=50, temperature=0)
    text = chat.choices[0].message.content
    assert chat.object == 'chat.completion' and chat.choices[0].message.role == 'assistant' and text
    chunks = list(client.chat.completions.create(model='shakespeare-char', messages=msgs, max_tokens=50, temperature=0, stream=True))
    assert chunks[0].choices[0].delta.role == 'assistant'
    assert ''.join(c.choices[0].delta.content or '' for c in chunks) == text
    assert chunks[-1].choices[0].finish_reason == chat.choices[0].finish_reason

    # sampling: n choices, a seed makes them reproducible, a stop string is cut from the text
    kw = dict(model='shakespeare-char', prompt='KING:\n', max_tokens=60, temperature=0.9, top_p=0.95, n=3, seed=11, stop=['\n'])
    a, b = client.completions.create(**kw), client.completions.create(**kw)
    assert len(a.choices) == 3 and [c.text for c in a.choices] == [c.text for c in b.choices]
    assert all('\n' not in c.text for c in a.choices)
    assert any(c.finish_reason == 'stop' for c in a.choices)
    # a stop string of several tokens: held back from the stream until it is ruled out, cut from the text either way
    kw = dict(model='shakespeare-char', prompt='ROMEO:\n', max_tokens=80, temperature=0, stop=['of the c'])
    whole = client.completions.create(**kw).choices[0]
    assert whole.finish_reason == 'stop' and 'of the c' not in whole.text and full.choices[0].text.startswith(whole.text + 'of the c')
    assert ''.join(c.choices[0].text for c in client.completions.create(**kw, stream=True)) == whole.text

def test_health_models_and_page(server):
    h = server.health()
    assert h['status'] == 'ok' and h['slots'] == 16 and h['model'] == 'shakespeare-char'
    r = httpx.get(server.url + '/', timeout=10)
    assert r.status_code == 200 and '<script>' in r.text
    assert not re.search(r'''(src|href)=["']https?://''', r.text), 'the chat page must not load external assets'

# -- load -----------------------------------------------------------------------------------------------------------------
def test_16_concurrent_streaming_clients(server):
    "16 streaming clients at once: every response complete ([DONE], a finish reason) and equal to its greedy answer."
    url = server.url + '/v1/completions'
    expected = [httpx.post(url, json=dict(prompt=p, max_tokens=48, temperature=0), timeout=60).json()['choices'][0]['text']
                for p in PROMPTS]
    results, errors, go = [None] * len(PROMPTS), [], threading.Barrier(len(PROMPTS))
    def client(i):
        try:
            go.wait(30)
            chunks, done = sse(url, dict(prompt=PROMPTS[i], max_tokens=48, temperature=0, stream=True))
            results[i] = (''.join(c['choices'][0]['text'] for c in chunks), chunks[-1]['choices'][0]['finish_reason'], done)
        except Exception as e: errors.append(repr(e))
    threads = [threading.Thread(target=client, args=(i,)) for i in range(len(PROMPTS))]
    t = time.time()
    for th in threads: th.start()
    for th in threads: th.join(max(1, 120 - (time.time() - t)))
    assert not errors, errors
    assert all(r is not None for r in results), 'a client did not finish in time'
    for r, e in zip(results, expected): assert r == (e, 'length', True)
    h = server.health()
    assert h['running'] == 0 and h['free_slots'] == 16

# -- bad input and limits -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize('path,body,needle', [
    ('/v1/completions', '{"prompt": "hi",', 'not valid JSON'),
    ('/v1/completions', '[1, 2]', 'JSON object'),
    ('/v1/completions', '{"prompt": 3}', "'prompt'"),
    ('/v1/completions', '{"prompt": "hi", "temperature": "hot"}', "'temperature'"),
    ('/v1/completions', '{"prompt": "hi", "max_tokens": 2.5}', "'max_tokens'"),
    ('/v1/completions', '{"prompt": "hi", "n": 0}', "'n'"),
    ('/v1/completions', '{"prompt": "hi", "stream": "yes"}', "'stream'"),
    ('/v1/completions', '{"prompt": "hi", "stop": 7}', "'stop'"),
    ('/v1/completions', r'{"prompt": "caf\u00e9 \ud83d\ude00"}', 'cannot encode'),
    ('/v1/chat/completions', '{"messages": "hello"}', "'messages'"),
    ('/v1/chat/completions', '{"messages": [{"role": "user", "content": 5}]}', 'messages[0].content'),
    ('/v1/chat/completions', '{"messages": [{"role": "king", "content": "hi"}]}', 'messages[0]'),
])
def test_bad_input_is_400_with_a_message(server, path, body, needle):
    r = httpx.post(server.url + path, content=body, headers={'content-type': 'application/json'}, timeout=10)
    assert r.status_code == 400, r.text
    err = r.json()['error']
    assert needle in err['message'] and err['type'] == 'invalid_request_error'

def test_prompt_longer_than_the_context_names_the_limit(server):
    for path, body in [('/v1/completions', {'prompt': 'x' * (BLOCK + 5)}),
                       ('/v1/chat/completions', {'messages': [{'role': 'user', 'content': 'y' * BLOCK}]})]:
        r = httpx.post(server.url + path, json=body, timeout=10)
        assert r.status_code == 400 and f'block_size={BLOCK}' in r.json()['error']['message']

def test_client_disconnect_frees_its_slots(server):
    before = server.health()['cancelled']
    with httpx.stream('POST', server.url + '/v1/completions', timeout=30,
                      json=dict(prompt='A', max_tokens=BLOCK - 2, n=8, temperature=0, stream=True)) as r:
        next(r.iter_lines())                                           # one event, then hang up
    deadline = time.time() + 20
    while time.time() < deadline:
        h = server.health()
        if h['running'] == 0 and h['free_slots'] == 16: break
        time.sleep(0.05)
    assert h['running'] == 0 and h['free_slots'] == 16
    assert h['cancelled'] > before, h                                 # stopped early, not run to the end

def test_full_queue_503_api_key_and_sigterm():
    "One slot, one waiting place: a burst gets 503 + Retry-After; the key is required; SIGTERM lets the stream finish, exit 0."
    s = Server('--max-batch', '1', '--max-queue', '1', '--api-key', 'sk-test')
    try:
        H = {'Authorization': 'Bearer sk-test'}
        assert httpx.post(s.url + '/v1/completions', json={'prompt': 'A'}, timeout=10).status_code == 401
        assert httpx.post(s.url + '/v1/completions', json={'prompt': 'A'}, headers={'Authorization': 'Bearer nope'}, timeout=10).status_code == 401
        assert httpx.get(s.url + '/health', timeout=10).status_code == 200          # health needs no key
        codes, go = [], threading.Barrier(6)
        def burst():
            go.wait(30)
            r = httpx.post(s.url + '/v1/completions', json=dict(prompt='A', max_tokens=BLOCK - 2), headers=H, timeout=60)
            codes.append((r.status_code, r.headers.get('retry-after'), r.text))
        ts = [threading.Thread(target=burst) for _ in range(6)]
        for t in ts: t.start()
        for t in ts: t.join(90)
        assert len(codes) == 6
        busy = [c for c in codes if c[0] == 503]
        assert busy and all(ra and int(ra) >= 1 and 'busy' in txt for _, ra, txt in busy)
        assert all(c == 200 for c, *_ in codes if c != 503) and any(c == 200 for c, *_ in codes)

        got, first = {}, threading.Event()
        def stream():
            with httpx.stream('POST', s.url + '/v1/completions', headers=H, timeout=60,
                              json=dict(prompt='A', max_tokens=BLOCK - 2, temperature=0, stream=True)) as r:
                lines = []
                for line in r.iter_lines():
                    if line: lines.append(line); first.set()
                got['lines'] = lines
        t = threading.Thread(target=stream); t.start()
        assert first.wait(30)
        s.proc.send_signal(signal.SIGTERM)                             # mid-stream
        assert s.proc.wait(60) == 0, s.output()
        t.join(30)
        assert got['lines'][-1] == 'data: [DONE]'                     # the in-flight request was finished
        assert json.loads(got['lines'][-2][6:])['choices'][0]['finish_reason'] == 'length'
    finally:
        if s.proc.poll() is None: s.stop()

# -- the chat page in a real browser ---------------------------------------------------------------------------------------
CHROMIUM = next((p for p in (os.environ.get('CHROMIUM'), shutil.which('chromium'), shutil.which('chromium-browser'),
                             shutil.which('google-chrome')) if p), None)

class _Page:
    "Just enough of the Chrome DevTools protocol: one page, evaluate JavaScript, collect console errors."
    def __init__(self, ws_url):
        import websocket
        self.ws, self.n, self.errors = websocket.create_connection(ws_url, timeout=30, suppress_origin=True), 0, []
        target = self.call('Target.createTarget', url='about:blank')['targetId']
        self.session = self.call('Target.attachToTarget', targetId=target, flatten=True)['sessionId']
        for dom in ('Page', 'Runtime', 'Log'): self.call(f'{dom}.enable', session=True)
    def call(self, method, session=False, **params):
        self.n += 1
        msg = dict(id=self.n, method=method, params=params, **({'sessionId': self.session} if session else {}))
        self.ws.send(json.dumps(msg))
        while True:
            m = json.loads(self.ws.recv())
            if m.get('id') == self.n:
                if 'error' in m: raise RuntimeError(f'{method}: {m["error"]}')
                return m.get('result', {})
            meth, p = m.get('method'), m.get('params', {})
            if meth == 'Runtime.exceptionThrown': self.errors.append(p['exceptionDetails'].get('text'))
            if meth == 'Runtime.consoleAPICalled' and p.get('type') == 'error': self.errors.append(p.get('args'))
            if meth == 'Log.entryAdded' and p['entry'].get('level') == 'error': self.errors.append(p['entry'].get('text'))
    def js(self, expr):
        r = self.call('Runtime.evaluate', session=True, expression=expr, returnByValue=True, awaitPromise=True)
        if 'exceptionDetails' in r: raise RuntimeError(r['exceptionDetails'])
        return r['result'].get('value')
    def wait(self, expr, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.js(expr): return True
            time.sleep(0.1)
        raise TimeoutError(expr)

@pytest.mark.skipif(CHROMIUM is None, reason='Chromium is not installed (apt-get install chromium)')
def test_chat_page_in_headless_chromium(server):
    pytest.importorskip('websocket', reason='websocket-client is not installed')
    prof = tempfile.mkdtemp(prefix='llm_nb_chat_')
    proc = subprocess.Popen([CHROMIUM, '--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-extensions',
                             '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage',
                             f'--user-data-dir={prof}', '--remote-debugging-address=127.0.0.1', '--remote-debugging-port=0', 'about:blank'],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        ws_url, deadline = None, time.time() + 30
        while ws_url is None and time.time() < deadline and proc.poll() is None:
            if select.select([proc.stderr], [], [], 1)[0]:
                m = re.search(r'DevTools listening on (ws://\S+)', proc.stderr.readline())
                if m: ws_url = m.group(1)
        assert ws_url, 'Chromium did not start'
        threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()
        page = _Page(ws_url)
        page.call('Page.navigate', session=True, url=server.url + '/')
        page.wait("document.readyState === 'complete' && document.body.dataset.state === 'idle'")
        page.js("document.getElementById('max_tokens').value = '25'; document.getElementById('temperature').value = '0'")
        for i, text in enumerate(['Good morrow, sir.', 'What news from Rome?']):
            page.js(f"document.getElementById('text').value = {json.dumps(text)}; document.getElementById('send').click()")
            page.wait(f"document.querySelectorAll('.msg.assistant').length === {i + 1} && document.body.dataset.state === 'idle'")
        bubbles = page.js("[...document.querySelectorAll('.msg')].map(d => [d.className, d.textContent])")
        assert [c for c, _ in bubbles] == ['msg user', 'msg assistant'] * 2, bubbles
        assert all(t.strip() for _, t in bubbles), bubbles
        assert page.js('messages.length') == 4                          # the page keeps the conversation
        # the second answer continues the conversation: it is what the API gives for the same four-message history
        hist = page.js('messages.slice(0, 3)')
        r = httpx.post(server.url + '/v1/chat/completions', json=dict(messages=hist, max_tokens=25, temperature=0), timeout=60)
        assert r.json()['choices'][0]['message']['content'] == bubbles[3][1]
        page.js('1'); assert page.errors == [], page.errors
        page.ws.close()
    finally:
        proc.terminate()
        try: proc.wait(10)
        except subprocess.TimeoutExpired: proc.kill()
        shutil.rmtree(prof, ignore_errors=True)
