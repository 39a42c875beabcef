"""Renders a tracekit-view page in headless Chromium and checks it through
the DevTools protocol with real DOM queries and real mouse and keyboard
input. Exits non-zero on the first failed check.

    python3 check_page.py PAGE.html EXPECTED.json SCREENSHOT.png
    python3 check_page.py --first-render PAGE.html     (prints the time to first render)
"""
import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

from websockets.sync.client import connect


class Browser:
    def __init__(self, width=1600, height=1000):
        exe = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
        if not exe:
            sys.exit("check_page: no chromium (scripts/view-browser-test.sh installs it)")
        self.profile = tempfile.mkdtemp(prefix="tracekit-view-chromium-")
        self.proc = subprocess.Popen(
            [exe, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-extensions", "--remote-debugging-port=0", f"--user-data-dir={self.profile}",
             f"--window-size={width},{height}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        port = None
        deadline = time.time() + 60
        while time.time() < deadline:
            line = self.proc.stderr.readline()
            if not line and self.proc.poll() is not None:
                break
            m = re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", line)
            if m:
                port = int(m.group(1))
                break
        if port is None:
            self.close()
            sys.exit("check_page: chromium did not start its DevTools endpoint")
        targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list"))
        page = next(t for t in targets if t["type"] == "page")
        self.ws = connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=30)
        self.next_id = 0
        self.events = []
        self.call("Page.enable")
        self.call("Runtime.enable")
        self.call("Network.enable")

    def call(self, method, **params):
        self.next_id += 1
        me = self.next_id
        self.ws.send(json.dumps({"id": me, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv(timeout=120))
            if "method" in msg:
                self.events.append(msg)
            if msg.get("id") == me:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})

    def js(self, expr):
        r = self.call("Runtime.evaluate", expression=expr, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            raise RuntimeError(f"{expr}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def open(self, path):
        self.events.clear()
        self.call("Page.navigate", url="file://" + os.path.abspath(path))
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                if self.js("document.body && document.body.dataset.ready === '1'"):
                    return
            except RuntimeError:
                pass
            time.sleep(0.05)
        raise RuntimeError("the page never got ready")

    def requests(self):
        """The URLs the page asked for since it was opened."""
        return [e["params"]["request"]["url"] for e in self.events
                if e["method"] == "Network.requestWillBeSent"]

    def click(self, selector):
        box = self.js(f"""(() => {{ const e = document.querySelector({json.dumps(selector)});
            if (!e) return null; e.scrollIntoView({{block: 'center'}}); const r = e.getBoundingClientRect();
            return [r.left + r.width / 2, r.top + r.height / 2]; }})()""")
        if box is None:
            raise RuntimeError(f"nothing matches {selector}")
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1], button="left", clickCount=1)
        time.sleep(0.05)

    def type_text(self, text):
        self.call("Input.insertText", text=text)
        for kind in ("keyDown", "keyUp"):
            self.call("Input.dispatchKeyEvent", type=kind, key="Enter", code="Enter", windowsVirtualKeyCode=13)
        time.sleep(0.2)

    def screenshot(self, path):
        data = self.call("Page.captureScreenshot", format="png")["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))

    def close(self):
        try:
            self.ws.close()
        except Exception:
            pass
        self.proc.kill()
        self.proc.wait()
        shutil.rmtree(self.profile, ignore_errors=True)


failures = []


def check(what, got, want):
    ok = got == want
    print(("ok   " if ok else "FAIL ") + what + ("" if ok else f": got {got!r}, want {want!r}"))
    if not ok:
        failures.append(what)


ROWS = "Array.from(document.querySelectorAll('#row-sizer .row'))"


def rows(b):
    return b.js(f"""{ROWS}.map(r => ({{id: r.dataset.spanId, parent: r.dataset.parentId,
        depth: +r.dataset.depth, name: r.querySelector('.name').textContent,
        error: r.querySelector('.bar').classList.contains('error'),
        match: r.querySelector('.bar').classList.contains('match'),
        critical: r.querySelector('.bar').classList.contains('critical'),
        orphan: !!r.querySelector('.orphan-mark') && r.querySelector('.orphan-mark').textContent}}))""")


def main_checks(page, expected, shot):
    b = Browser()
    try:
        b.open(page)
        A, B = "0af7651916cd43dd8448eb211c80319c", "4bf92f3577b34da6a3ce929d0e0e4736"
        C = "5bf92f3577b34da6a3ce929d0e0e4736"
        ea = expected["traces"][A]
        check("the trace list has the three traces, by start",
              b.js("Array.from(document.querySelectorAll('.trace-row')).map(r => r.dataset.traceId)"), [A, B, C])
        check("the page opens on the slowest trace with an error (not on the slowest, which has none)",
              b.js("document.querySelector('.trace-row.selected').dataset.traceId"), A)
        check("the trace list marks the traces' errors",
              b.js("Array.from(document.querySelectorAll('.trace-row')).map(r => !!r.querySelector('.err-mark'))"),
              [True, True, False])
        texts = b.js("Array.from(document.querySelectorAll('.trace-row')).map(r => r.textContent)")
        check("two traces of one route are told apart by their start and path",
              ("22:13:20.000 · /checkout/42" in texts[0], "22:13:20.400 · /checkout/43" in texts[2]),
              (True, True))
        root_label = b.js("""(() => {
            const row = document.querySelector('[data-span-id="f000000000000001"]');
            const label = row.querySelector('.dur-label').getBoundingClientRect();
            const name = row.querySelector('.label').getBoundingClientRect();
            const track = row.querySelector('.track').getBoundingClientRect();
            return [label.left >= name.right, label.right <= track.right + 0.5];
        })()""")
        check("the root's duration stays off its name, inside the track", root_label, [True, True])
        check("the page asked for nothing but itself (everything inline, no network)",
              [u for u in b.requests() if not u.startswith("file://")], [])
        first = b.js("document.querySelector('.trace-row').textContent")
        for part in ("GET /checkout/{cart}", "frontend, backend", "100.0 ms", "13 spans", "1 error"):
            check(f"the trace list shows {part!r} for the first trace", part in first, True)
        r = rows(b)
        check("one bar per span", b.js("document.querySelectorAll('#row-sizer .bar').length"), len(ea["parents"]))
        service_of = b.js("""Object.fromEntries(Array.from(document.querySelectorAll('#row-sizer .row')).map(r =>
            [r.dataset.spanId, Array.from(r.querySelector('.bar').classList).find(c => c.startsWith('svc-'))]))""")
        by_service = {}
        for sid, svc in ea["services"].items():
            by_service.setdefault(svc, set()).add(service_of[sid])
        check("one colour per service", sorted(len(v) for v in by_service.values()), [1, 1])
        check("and the services' colours differ", len(set().union(*by_service.values())), 2)
        check("the self time beside a bar", b.js(
            "document.querySelector('[data-span-id=\"f000000000000002\"] .dur-label').textContent"),
            "18.0 ms · self 13.0 ms")
        check("every span is shown once", sorted(x["id"] for x in r), sorted(ea["parents"]))
        # Nesting: each row's parent is the nearest row above it one level up.
        nesting_ok = True
        for k, row in enumerate(r):
            want_parent = "" if row["id"] in ea["orphans"] else ea["parents"][row["id"]]
            above = next((x for x in reversed(r[:k]) if x["depth"] == row["depth"] - 1), None)
            shown_parent = above["id"] if (above and row["depth"] > 0) else ""
            if row["parent"] != want_parent or shown_parent != want_parent:
                nesting_ok = False
                print(f"     {row['id']}: parent {row['parent']!r}, under {shown_parent!r}, want {want_parent!r}")
        check("nesting follows the parent ids", nesting_ok, True)
        check("error spans are marked", sorted(x["id"] for x in r if x["error"]), ea["errors"])
        check("the span whose parent is missing is a marked root",
              [(x["id"], x["depth"], x["orphan"]) for x in r if x["orphan"]],
              [("0000000000000b0b", 0, "parent missing")])
        check("names are text: the hostile name shows as written",
              [x["name"] for x in r if x["id"] == "f000000000000005"], [expected["hostile_name"]])
        check("and it is drawn: its text has room on screen",
              b.js("document.querySelector('[data-span-id=\"f000000000000005\"] .name').getBoundingClientRect().width > 100"),
              True)
        check("no user text ran as code", b.js("window.__pwned === undefined"), True)
        check("no user text became an element",
              b.js("document.querySelectorAll('script').length + document.querySelectorAll('img').length"), 2)
        check("self time vs children: load_cart shows its children's time",
              b.js("document.querySelector('[data-span-id=\"f000000000000002\"] .kids') !== null"), True)
        check("events are ticks on their bar",
              b.js("document.querySelectorAll('[data-span-id=\"f000000000000006\"] .bar .tick').length"), 1)

        # Clicking a span shows its tags, events, links, status, resource and scope.
        b.click('[data-span-id="b000000000000003"] .name')
        check("clicking a span selects it", b.js("document.querySelector('.row.selected').dataset.spanId"),
              "b000000000000003")
        check("its name heads the details", b.js("document.querySelector('#detail h2').textContent"), "db.query")
        check("its tags are listed, values as text",
              b.js("Array.from(document.querySelectorAll('#span-tags tr')).map(t => [t.cells[0].textContent, t.cells[1].textContent])"),
              [["db.statement", expected["hostile_tag"]]])
        check("its resource is listed", "service.name" in b.js("document.querySelector('#detail').textContent"), True)
        b.click('[data-span-id="b000000000000002"] .name')
        text = b.js("document.querySelector('#detail').textContent")
        check("status and events are shown", "error: item 7 is out of stock" in text and "exception" in text, True)
        cells = b.js("Object.fromEntries(Array.from(document.querySelectorAll('#detail tr')).map(t => [t.cells[0].textContent, t.cells[1] ? t.cells[1].textContent : '']))")
        check("its self time and its children's time", (cells.get("self time"), cells.get("children time")),
              ("5.00 ms", "53.0 ms"))
        check("an event is shown with its time in the span",
              b.js("Array.from(document.querySelectorAll('#detail .event')).map(e => e.firstChild.textContent.replace(/\\s+/g, ' ').trim())"),
              ["+53.0 ms exception"])
        check("the instrumentation scope is shown", (cells.get("name"), cells.get("version")), ("fixture", "1"))
        b.click('[data-span-id="f00000000000000a"] .name')
        text = b.js("document.querySelector('#detail').textContent")
        check("a hostile event name and field show as text",
              expected["hostile_event"] in text and expected["hostile_tag"] in text, True)
        check("and nothing ran or became an element",
              b.js("window.__pwned === undefined && document.querySelectorAll('svg, img, script').length"), 2)
        b.click('[data-span-id="f000000000000006"] .name')
        check("a link to a span in the file is followable",
              b.js("document.querySelector('#detail .link-target') && document.querySelector('#detail .link-target').textContent.startsWith('cron tick')"),
              True)

        # Search by span name or tag value.
        b.click("#search")
        b.type_text("redis")
        check("search highlights the matching bar (name and tag)",
              sorted(x["id"] for x in rows(b) if x["match"]), ["f000000000000003"])
        b.js("document.querySelector('#search').select()")
        b.type_text("update stock")
        check("search matches tag values",
              sorted(x["id"] for x in rows(b) if x["match"]), ["b000000000000004"])
        check("the match count says so", b.js("document.querySelector('#match-count').textContent"),
              "1 match (1 in this trace)")
        b.js("document.querySelector('#search').select()")
        b.type_text("")
        b.js("(() => { const s = document.querySelector('#search'); s.value = ''; s.dispatchEvent(new KeyboardEvent('keydown', {key: 'Enter'})); })()")
        time.sleep(0.1)
        check("clearing the search clears the highlight", [x for x in rows(b) if x["match"]], [])

        # Collapse and expand a subtree.
        b.click('[data-span-id="b000000000000002"] .toggle')
        check("collapsing hides the subtree", b.js("document.querySelectorAll('#row-sizer .bar').length"),
              len(ea["parents"]) - 2)
        b.click('[data-span-id="b000000000000002"] .toggle')
        check("expanding shows it again", b.js("document.querySelectorAll('#row-sizer .bar').length"),
              len(ea["parents"]))

        # Collapse and expand everything.
        b.click("#collapse-all")
        check("collapse all leaves the roots",
              sorted(x["id"] for x in rows(b)), sorted(ea["roots"]))
        b.click("#expand-all")
        check("expand all shows every span again", len(rows(b)), len(ea["parents"]))

        # The critical path.
        b.click("#critical")
        check("the critical path is highlighted", sorted(x["id"] for x in rows(b) if x["critical"]), ea["critical"])
        b.click('[data-span-id="b000000000000002"] .name')
        b.screenshot(shot)
        print(f"     screenshot: {shot}")
        b.click("#critical")
        check("and turned off again", [x for x in rows(b) if x["critical"]], [])

        # A second service in the same process, named by its server span.
        b.click(f'.trace-row[data-trace-id="{C}"]')
        colours = b.js("""Object.fromEntries(Array.from(document.querySelectorAll('#row-sizer .row')).map(r =>
            [r.dataset.spanId, Array.from(r.querySelector('.bar').classList).find(c => c.startsWith('svc-'))]))""")
        check("a server span's own service.name gives it and its children a colour of their own",
              (colours["d000000000000001"] != colours["d000000000000002"],
               colours["d000000000000002"] == colours["d000000000000003"]), (True, True))
        check("and the trace lists both services",
              "frontend, inventory" in b.js(f"document.querySelector('.trace-row[data-trace-id=\"{C}\"]').textContent"),
              True)

        # The functions view: every operation over all loaded spans.
        b.click("#functions-toggle")
        fns = b.js("""Object.fromEntries(Array.from(document.querySelectorAll('#functions tbody tr')).map(r =>
            [r.dataset.fn, [+r.dataset.calls, +r.dataset.errors, +r.dataset.selfNs, +r.dataset.totalNs,
                            +r.dataset.p50Ns, +r.dataset.p99Ns]]))""")
        ms = 1_000_000
        check("the functions view counts the calls of an operation across traces",
              fns.get("GET /checkout/{cart}|frontend"), [2, 0, 26 * ms, 400 * ms, 100 * ms, 300 * ms])
        check("with its errors and self time", fns.get("reserve_stock|backend"), [1, 1, 5 * ms, 58 * ms, 58 * ms, 58 * ms])
        check("and an operation of each service apart", (fns.get("db.query|backend") or [0])[0], 2)
        check("a recursive operation's total counts its outermost call once (its unfinished call not at all)",
              fns.get("walk|frontend"), [3, 0, 10 * ms, 10 * ms, 8 * ms, 10 * ms])
        check("and an async one that outlives its caller adds the time past the caller's end",
              fns.get("drain|frontend"), [3, 0, 23 * ms, 23 * ms, 10 * ms, 16 * ms])
        check("and one that starts before its caller adds the time before the caller's start",
              fns.get("probe|frontend"), [2, 0, 15 * ms, 15 * ms, 10 * ms, 14 * ms])
        check("a server span's own service names its operations", (fns.get("count_stock|inventory") or [0])[0], 1)
        check("it lists every operation once", len(fns), expected["operations"])
        check("a span whose parent is missing counts inside the innermost span that holds it",
              fns.get("db.query|backend")[2], (30 - 10 + 23) * ms)
        check("two functions of one name in different modules are rows of their own",
              ((fns.get("app::a::handle|inventory") or [0])[0], (fns.get("app::b::handle|inventory") or [0])[0]),
              (1, 1))
        check("an HTTP client's calls are a row of their own, by host",
              ((fns.get("GET payments:443|inventory") or [0])[0], (fns.get("GET|frontend") or [0])[0],
               b.js("document.querySelector('#functions tr[data-fn=\"GET payments:443|inventory\"]').dataset.kind")),
              (1, 1, "client"))
        check("a call inside an unfinished span of its function counts all its time",
              fns.get("sweep|frontend"), [1, 0, 3 * ms, 3 * ms, 3 * ms, 3 * ms])
        note = b.js("(document.querySelector('#functions .fn-note') || {}).textContent || ''")
        check("the view says what it left out and what it placed",
              ("2 spans did not finish and are left out." in note,
               "1 span's parent is not in the files" in note), (True, True))
        order = b.js("Array.from(document.querySelectorAll('#functions tbody tr')).map(r => +r.dataset.selfNs)")
        check("sorted by self time", order, sorted(order, reverse=True))
        b.click('#functions th[data-sort="calls"]')
        calls = b.js("Array.from(document.querySelectorAll('#functions tbody tr')).map(r => +r.dataset.calls)")
        check("and by calls when that column is clicked", calls, sorted(calls, reverse=True))
        b.click('#functions tr[data-fn="reserve_stock|backend"] td')
        check("a row opens its slowest span in the waterfall",
              (b.js("document.getElementById('functions').hidden"),
               b.js("document.querySelector('#row-sizer .row.selected') && document.querySelector('#row-sizer .row.selected').dataset.spanId")),
              (True, "b000000000000002"))

        # A trace picked while the functions table is up shows its waterfall.
        b.click("#functions-toggle")
        check("the functions table is up again", b.js("document.getElementById('functions').hidden"), False)

        # The other trace.
        b.click(f'.trace-row[data-trace-id="{B}"]')
        check("picking it puts the waterfall back",
              (b.js("document.getElementById('functions').hidden"),
               b.js("document.getElementById('row-scroll').hidden")), (True, False))
        r = rows(b)
        check("choosing a trace shows its spans", sorted(x["id"] for x in r),
              sorted(expected["traces"][B]["parents"]))
        check("and its errors", sorted(x["id"] for x in r if x["error"]), expected["traces"][B]["errors"])
    finally:
        b.close()


def first_render(page, assert_virtual=False):
    b = Browser()
    try:
        t0 = time.time()
        b.open(page)
        wall = time.time() - t0
        info = b.js("window.tracekitView")
        bars = b.js("document.querySelectorAll('#row-sizer .bar').length")
        rows_total = b.js("+document.querySelector('#row-sizer').dataset.rows")
        b.js("document.querySelector('#row-scroll').scrollTop = 1e9")
        time.sleep(0.3)
        scrolled = b.js("document.querySelectorAll('#row-sizer .bar').length")
        print(json.dumps({"spans": info["spans"], "traces": info["traces"],
                          "first_render_ms_in_page": round(info["readyAt"]),
                          "navigate_to_ready_s": round(wall, 2),
                          "bars_in_dom": bars, "rows_in_trace": rows_total,
                          "bars_in_dom_after_scrolling_to_end": scrolled}))
        if assert_virtual:
            check("the whole trace is laid out", rows_total, info["spans"])
            check("only a few screens of it are in the page",
                  (bars < 300, scrolled < 300, bars > 10), (True, True, True))
    finally:
        b.close()


if __name__ == "__main__":
    if sys.argv[1] == "--first-render":
        first_render(sys.argv[2], "--assert-virtual" in sys.argv[3:])
        if failures:
            sys.exit(f"{len(failures)} browser checks failed: {failures}")
    else:
        main_checks(sys.argv[1], json.load(open(sys.argv[2])), sys.argv[3])
        if failures:
            sys.exit(f"{len(failures)} browser checks failed: {failures}")
        print("all browser checks passed")
