"""`make book-check`: the built book (_book/) opened in headless Chromium, as a reader's browser shows it.

    python tools/check_book.py [--book _book] [--chromium chromium] [PAGE ...]

Drives the system Chromium (Debian: `apt-get install -y chromium`) through the DevTools protocol (the
`websocket-client` package; no browser is downloaded). For each page (default: a chapter with maths, a map, a run
notebook) it records every request the page makes, waits for MathJax to typeset, screenshots the page into
_book/_check/ and prints a short description. It fails (exit 1) when the maths is left raw (TeX delimiters in the
text, or no <mjx-container> on a page with maths), an image did not load (naturalWidth 0), or the page requested
anything off the machine (only file:, data:, blob: and about: URLs are allowed).
"""
import argparse, base64, json, os, shutil, socket, subprocess, sys, tempfile, time, urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# (page, what it shows, whether it must have typeset maths, whether its screenshot starts at the first figure rather
# than at the top); the first existing of each list is checked
DEFAULT_PAGES = [(["14_ec.daytime.html", "13_ec.nighttime.html", "60_inversion.bayes.html"], "a chapter with maths", True, False),
                 (["62_inversion.mega.html", "04_upscale.html", "05_maps.html"], "a chapter with maps", False, True),
                 (["runs/mega.html", "runs/land_twin.html", "runs/index.html"], "a run notebook", False, False)]
SHOT_HEIGHT = 6000   # px of a screenshot at most
FIRST_FIGURE = ("(() => { const i = document.querySelector('.cell_output img');"
                " return i ? Math.max(0, Math.round(i.getBoundingClientRect().top + window.scrollY - 120)) : 0; })()")
LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:", "chrome:", "chrome-extension:", "devtools:")

# the page's state once loaded: typeset maths, raw TeX left in the prose, images that did not load, headings
PROBE = r"""
(async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) { try { await MathJax.startup.promise; } catch (e) {} }
  const root = document.querySelector('main') || document.body;
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT, {acceptNode: n =>
      n.parentElement.closest('pre, code, script, style, mjx-container, .highlight, .output, .cell_output, textarea')
        ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT});
  const raw = [];
  const tex = /\\\(|\\\)|\\\[|\\\]|\$\$|\$[^$\s][^$]*?[^$\s\\]\$|\\begin\{|\\frac|\\mathrm/;
  for (let n = walker.nextNode(); n; n = walker.nextNode()) if (tex.test(n.textContent)) raw.push(n.textContent.trim().slice(0, 80));
  const imgs = [...document.images];
  await Promise.all(imgs.map(i => i.complete ? null : new Promise(r => { i.onload = i.onerror = r; setTimeout(r, 5000); })));
  return {title: document.title,
          h1: (document.querySelector('h1') || {}).textContent || '',
          mjx: document.querySelectorAll('mjx-container').length,
          mathSpans: document.querySelectorAll('.math').length,
          raw: raw.slice(0, 10),
          images: imgs.length,
          broken: imgs.filter(i => i.naturalWidth === 0).map(i => i.getAttribute('src')),
          codeCells: document.querySelectorAll('.cell').length,
          outputs: document.querySelectorAll('.cell_output').length,
          sidebarLinks: document.querySelectorAll('nav.bd-docs-nav a').length};
})()
"""


class CDP:
    "A minimal Chrome DevTools Protocol client over one websocket (one page target)."
    def __init__(self, ws_url):
        import websocket
        self.ws, self.n, self.events = websocket.create_connection(ws_url, timeout=60, suppress_origin=True), 0, []

    def send(self, method, **params):
        self.n += 1; mid = self.n
        self.ws.send(json.dumps({"id": mid, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == mid:
                if "error" in msg: raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)

    def wait_event(self, name, timeout=60):
        end = time.time() + timeout
        for i, e in enumerate(self.events):
            if e.get("method") == name: return self.events.pop(i)
        while time.time() < end:
            msg = json.loads(self.ws.recv())
            if msg.get("method") == name: return msg
            self.events.append(msg)
        raise TimeoutError(name)


def free_port():
    with socket.socket() as s: s.bind(("127.0.0.1", 0)); return s.getsockname()[1]


def start_chromium(binary):
    port, profile = free_port(), tempfile.mkdtemp(prefix="book-check-")
    args = [binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", f"--remote-debugging-port={port}",
            "--remote-allow-origins=*", f"--user-data-dir={profile}", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--disable-default-apps", "--allow-file-access-from-files",
            "--window-size=1280,900", "about:blank"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=2) as r:
                pages = [t for t in json.load(r) if t.get("type") == "page"]
            if pages: return proc, profile, pages[0]["webSocketDebuggerUrl"]
        except OSError: pass
        time.sleep(0.2)
    proc.kill(); raise RuntimeError(f"{binary} did not open its DevTools port {port}")


def check_page(cdp, path: Path, shot: Path, needs_maths: bool, from_figure: bool = False) -> tuple:
    "Load one page; returns (facts, problems). The screenshot starts at the top, or just above its first figure."
    cdp.events.clear()
    cdp.send("Page.navigate", url=path.as_uri())
    try: cdp.wait_event("Page.loadEventFired", 60)
    except TimeoutError: pass
    r = cdp.send("Runtime.evaluate", expression=PROBE, awaitPromise=True, returnByValue=True, timeout=60000)
    facts = r.get("result", {}).get("value") or {}
    time.sleep(0.5)   # late requests (fonts the typeset maths asked for)
    cdp.send("Runtime.evaluate", expression="1")   # drain events
    reqs = [e["params"]["request"]["url"] for e in cdp.events if e.get("method") == "Network.requestWillBeSent"]
    facts["requests"] = len(reqs)
    problems = [f"requested off the machine: {u}" for u in reqs if not u.startswith(LOCAL_SCHEMES)]
    failed = [e["params"].get("errorText") for e in cdp.events if e.get("method") == "Network.loadingFailed"]
    if failed: facts["failed_loads"] = failed[:5]
    if facts.get("raw"): problems.append(f"raw TeX left in the text: {facts['raw'][:3]}")
    if needs_maths and not facts.get("mjx"): problems.append("no typeset maths (no <mjx-container>) on a page with maths")
    if facts.get("mathSpans") and not facts.get("mjx"): problems.append(f"{facts['mathSpans']} maths spans but nothing typeset")
    if facts.get("broken"): problems.append(f"images that did not load: {facts['broken'][:5]}")
    value = lambda expr: cdp.send("Runtime.evaluate", expression=expr, returnByValue=True).get("result", {}).get("value")
    top = int(value(FIRST_FIGURE) or 0) if from_figure else 0
    height = max(1, min(int(value("document.documentElement.scrollHeight") or 900) - top, SHOT_HEIGHT))
    cdp.send("Emulation.setDeviceMetricsOverride", width=1280, height=top + height, deviceScaleFactor=1, mobile=False)
    png = cdp.send("Page.captureScreenshot", format="png", captureBeyondViewport=False,
                   clip={"x": 0, "y": top, "width": 1280, "height": height, "scale": 1})
    cdp.send("Emulation.clearDeviceMetricsOverride")
    shot.write_bytes(base64.b64decode(png["data"]))
    return facts, problems


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--book", default=str(ROOT / "_book"))
    ap.add_argument("--chromium", default=os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
                    or shutil.which("google-chrome") or "chromium")
    ap.add_argument("pages", nargs="*", help="pages to check, relative to the book (default: maths, map, run notebook)")
    a = ap.parse_args(argv)
    book = Path(a.book)
    if not (book / "index.html").exists(): sys.exit(f"book-check: {book}/index.html not found: run `make book` first")
    if not shutil.which(a.chromium) and not Path(a.chromium).exists():
        sys.exit(f"book-check: no Chromium ({a.chromium}): `apt-get update && apt-get install -y chromium` (see CONTRIBUTING.md)")
    if a.pages: pages = [([p], "page", False, False) for p in a.pages]
    else: pages = DEFAULT_PAGES
    todo = []
    for cands, what, maths, from_figure in pages:
        p = next((c for c in cands if (book / c).exists()), None)
        if p is None: print(f"book-check: no page for {what} (looked for {', '.join(cands)})"); todo.append((cands[0], what, maths, from_figure, False))
        else: todo.append((p, what, maths, from_figure, True))
    out = book / "_check"; out.mkdir(exist_ok=True)
    proc, profile, ws = start_chromium(a.chromium)
    bad = 0
    try:
        cdp = CDP(ws)
        cdp.send("Page.enable"); cdp.send("Network.enable"); cdp.send("Runtime.enable")
        for page, what, maths, from_figure, exists in todo:
            if not exists: bad += 1; continue
            shot = out / (page.replace("/", "_").removesuffix(".html") + ".png")
            facts, problems = check_page(cdp, book / page, shot, maths, from_figure)
            print(f"{page} ({what}): \"{facts.get('h1', '').strip()[:70]}\"; {facts.get('codeCells', 0)} cells, "
                  f"{facts.get('outputs', 0)} outputs, {facts.get('images', 0)} images, {facts.get('mjx', 0)} typeset formulas, "
                  f"{facts.get('sidebarLinks', 0)} sidebar links, {facts.get('requests', 0)} requests (all local: "
                  f"{'no' if any('off the machine' in p for p in problems) else 'yes'}); screenshot {shot.relative_to(book.parent) if book.parent in shot.parents else shot}")
            for p in problems: print(f"  FAIL: {p}")
            bad += bool(problems)
    finally:
        proc.terminate()
        try: proc.wait(10)
        except subprocess.TimeoutExpired: proc.kill()
        shutil.rmtree(profile, ignore_errors=True)
    print(f"book-check: {len(todo) - bad} of {len(todo)} pages pass")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
