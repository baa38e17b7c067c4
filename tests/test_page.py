"""The review page in a real browser: headless Debian Chromium, driven by Selenium through Debian's
chromium-driver, against ``heartbeat serve`` on 127.0.0.1 serving the committed deploy model.

The record uploaded is a real one, 208 of the embedded sample (so this runs on a fresh clone).
Where Chromium, its driver or selenium is missing, every test here skips and says which.
Screenshots of the record view and the monitoring view are written to docs/.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest
from test_serve import ADMIN_KEY, Server

from heartbeat.data.sample import __file__ as _sample_init

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "cnn1d-rhythm-all"
SAMPLE = Path(_sample_init).parent / "mitdb"
CHROMIUM = next((p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser") if Path(p).exists()), None)
DRIVER = shutil.which("chromedriver") or ("/usr/bin/chromedriver" if Path("/usr/bin/chromedriver").exists() else None)
PASSWORDS = {"carl": "password-carl", "rita": "password-rita"}

pytestmark = pytest.mark.slow


def _why_no_browser() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[dev]')"
    if CHROMIUM is None:
        return "no Chromium: apt-get install chromium chromium-driver (Debian), as .ci/run does"
    if DRIVER is None:
        return "no chromedriver: apt-get install chromium-driver (Debian), as .ci/run does"
    return None


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if (why := _why_no_browser()) is not None:
        pytest.skip(why)
    work = tmp_path_factory.mktemp("page")
    # a whole MIT-BIH record is 1,805 s: the limit is raised past it (and stays far below the bad-input NPY)
    srv = Server(MODEL, work / "serve.db", work, "--max-record-seconds", "1900", "--max-failures", "100000").start()
    for name, role in (("carl", "clinician"), ("rita", "reader")):
        r = srv.call("POST", "/users", ADMIN_KEY, json={"name": name, "role": role, "password": PASSWORDS[name]})
        assert r.status_code == 201, r.text
    srv.work = work
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def browser(server):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1100",
                "--disable-background-networking", "--disable-component-update", "--no-first-run",
                "--disable-sync", "--disable-default-apps", "--disable-extensions"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    try:
        drv = webdriver.Chrome(service=Service(DRIVER), options=opts)
    except Exception as exc:  # a driver that does not match the browser, no display libraries, ...
        pytest.skip(f"Chromium would not start under {DRIVER}: {str(exc).splitlines()[0]}")
    drv.set_script_timeout(60)
    yield drv
    drv.quit()


def wait(drv, js: str, timeout: float = 60.0, what: str = ""):
    """Poll a JavaScript expression until it is truthy; its value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = drv.execute_script(f"return ({js});")
        if value:
            return value
        time.sleep(0.1)
    msg = drv.execute_script("return document.getElementById('message').textContent")
    raise AssertionError(f"waited {timeout:g} s for {what or js}; the page says: {msg!r}")


def message(drv) -> str:
    return drv.execute_script("const m = document.getElementById('message'); return m.hidden ? '' : m.textContent;")


def log_in(drv, server, name: str) -> None:
    drv.get(server.url + "/")
    wait(drv, "window.heartbeatPage && window.Plotly", what="the page's scripts")
    drv.find_element("id", "username").send_keys(name)
    drv.find_element("id", "password").send_keys(PASSWORDS[name])
    drv.find_element("id", "login-button").click()
    wait(drv, "!document.getElementById('recordings').hidden", what=f"{name}'s recordings view")
    assert name in drv.find_element("id", "who").text


def upload(drv, *paths: Path, fs: float | None = None) -> None:
    """Choose files, set the rate, submit; wait until the upload has an answer."""
    drv.execute_script("document.getElementById('message').hidden = true; document.getElementById('fs').value = ''; "
                       "document.getElementById('files').value = '';")
    drv.find_element("id", "files").send_keys("\n".join(str(p) for p in paths))
    if fs is not None:
        drv.find_element("id", "fs").send_keys(str(fs))
    button = drv.find_element("id", "upload-button")
    drv.execute_script("arguments[0].scrollIntoView({block: 'center'});", button)
    button.click()
    wait(drv, "!document.getElementById('message').hidden", 120, "the upload's answer")


def stored(server) -> dict:
    with sqlite3.connect(server.db_url.removeprefix("sqlite:///")) as c:
        return {t: c.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in ("recordings", "recording_beats", "recording_chunks", "predictions")}


def api_token(server, name: str) -> str:
    return server.call("POST", "/token", data={"username": name, "password": PASSWORDS[name]}).json()["access_token"]


@pytest.fixture(scope="module")
def record(server, browser):
    """Record 208 uploaded through the page by the clinician: the API's view of it."""
    log_in(browser, server, "carl")
    upload(browser, SAMPLE / "208.hea", SAMPLE / "208.dat")
    wait(browser, "window.heartbeatPage.recording && !document.getElementById('record').hidden", what="the record view")
    rid = browser.execute_script("return window.heartbeatPage.recording.id")
    r = server.call("GET", f"/recordings/{rid}", token=api_token(server, "carl"))
    assert r.status_code == 200, r.text
    return r.json()


# ---------------------------------------------------------------- the clinician's path
def test_log_in_and_upload_a_real_record(server, browser, record):
    assert "Analysed 208" in message(browser), message(browser)
    assert record["name"] == "208" and record["format"] == "wfdb" and record["fs"] == 360
    n = record["summary"]["beats"]
    assert n == len(record["beats"]["sample"]) > 2000  # 208 has ~2,950 beats in 30 min
    assert sum(record["per_class"].values()) == n
    assert stored(server)["recording_beats"] == n
    listed = server.call("GET", "/recordings", token=api_token(server, "carl")).json()
    assert [r["id"] for r in listed] == [record["id"]] and listed[0]["abnormal_burden_percent"] > 0


def test_every_detected_beat_is_drawn_in_its_colour(server, browser, record):
    browser.find_element("id", "whole").click()
    wait(browser, f"window.heartbeatPage.view[1] > {record['seconds'] - 1}", what="the whole-recording view")
    time.sleep(0.5)
    wait(browser, "document.getElementById('strip').data && document.getElementById('strip').data.length > 5")
    drawn = browser.execute_script("""
        const gd = document.getElementById('strip'), out = {};
        gd.data.forEach((t, k) => {
          if (!t.meta || t.meta.role !== 'beats') return;
          const nodes = gd.querySelectorAll('.scatterlayer .trace')[k];
          const fills = nodes ? [...nodes.querySelectorAll('path.point')].map(p => getComputedStyle(p).fill) : [];
          out[t.meta.cls] = {x: Array.from(t.x), colour: t.marker.color, fills: fills, type: t.type};
        });
        return out;""")
    colours = browser.execute_script("return window.heartbeatPage.colours")
    beats, classes = record["beats"], record["classes"]
    t = np.array(beats["sample"]) / record["fs"]
    assert len(set(colours[c] for c in classes)) == len(classes), f"one colour per class expected: {colours}"
    for k, c in enumerate(classes):
        want = t[np.array(beats["class"]) == k]
        got = np.array(drawn[c]["x"])
        assert len(got) == len(want) and np.allclose(np.sort(got), want), (
            f"class {c}: {len(want)} beats from /recordings/{record['id']}, {len(got)} markers drawn")
        assert drawn[c]["colour"] == colours[c]
        if drawn[c]["type"] == "scatter":  # SVG: each marker is a DOM node, painted in the class colour
            assert len(drawn[c]["fills"]) == len(want), f"class {c}: {len(drawn[c]['fills'])} SVG markers"
            r, g, b = (int(colours[c][i:i + 2], 16) for i in (1, 3, 5))
            assert all(f == f"rgb({r}, {g}, {b})" for f in drawn[c]["fills"]), f"class {c}: {set(drawn[c]['fills'])}"


def test_next_abnormal_beat_then_relabel_it_into_the_database(server, browser, record):
    browser.find_element("id", "zoom-in").click()  # any view; J goes from its start
    browser.execute_script("window.heartbeatPage.setView(0, 10)")
    wait(browser, "window.heartbeatPage.view[0] === 0 && window.heartbeatPage.view[1] === 10")
    browser.find_element("tag name", "body").send_keys("j")
    i = wait(browser, "window.heartbeatPage.selected >= 0 && window.heartbeatPage.selected + 1",
             what="a selected beat") - 1
    first = int(np.flatnonzero(record["beats"]["abnormal"])[0])
    assert i == first, f"J selected beat {i}; the first abnormal beat of the API's list is {first}"
    view = browser.execute_script("return window.heartbeatPage.view")
    t = record["beats"]["sample"][i] / record["fs"]
    assert view[0] <= t <= view[1]
    assert "Beat %d of" % (i + 1) in browser.find_element("id", "beat-panel").text
    browser.find_element("tag name", "body").send_keys("j")
    j = wait(browser, f"window.heartbeatPage.selected !== {i} && window.heartbeatPage.selected + 1") - 1
    assert j == int(np.flatnonzero(record["beats"]["abnormal"])[1])
    predicted = record["classes"][record["beats"]["class"][j]]
    new = "N" if predicted != "N" else "V"
    browser.find_element("tag name", "body").send_keys(new.lower())
    wait(browser, "document.getElementById('message').textContent.includes('labelled')", what="the label's answer")
    pid = record["beats"]["id"][j]
    with sqlite3.connect(server.db_url.removeprefix("sqlite:///")) as c:
        row = c.execute("SELECT f.label, u.name FROM feedback f JOIN users u ON u.id = f.user_id "
                        "WHERE f.prediction_id = ?", (pid,)).fetchone()
    assert row is not None, f"no feedback row for prediction {pid}"
    assert record["classes"][row[0]] == new and row[1] == "carl"
    assert "reviewed" in browser.find_element("id", "beat-label").text
    rev = browser.execute_script("return document.getElementById('strip').data.find(t => t.meta && "
                                 "t.meta.role === 'reviewed').customdata")
    assert j in rev, f"the reviewed trace holds {rev}; beat {j} was just labelled"
    # the record view, for the README
    browser.save_screenshot(str(ROOT / "docs" / "page-record.png"))


def test_the_printable_report_has_identifiers_summary_and_each_longest_run(server, browser, record):
    browser.execute_script("window.print = () => {};")
    browser.find_element("id", "print-report").click()
    wait(browser, "document.getElementById('report-body').dataset.ready", what="the report")
    text = browser.find_element("id", "report-body").text
    runs = [r for r in record["summary"]["longest_abnormal_runs"] if r["beats"]]
    assert f"Recording report #{record['id']}" in text and record["model_version"] in text
    assert f"{record['abnormal_burden_percent']:.1f} %" in text
    assert len(browser.find_elements("css selector", "#report-body .run-strip .main-svg")) >= len(runs) > 0
    browser.find_element("id", "report-close").click()


def test_a_reader_sees_everything_but_cannot_relabel(server, browser, record):
    before = stored(server)
    with sqlite3.connect(server.db_url.removeprefix("sqlite:///")) as c:
        labels = c.execute("SELECT count(*) FROM feedback_labels").fetchone()[0]
    browser.find_element("id", "logout").click()
    log_in(browser, server, "rita")
    browser.find_element("css selector", f"#recording-list tr[data-id='{record['id']}']").click()
    wait(browser, "window.heartbeatPage.recording && !document.getElementById('record').hidden")
    assert browser.find_element("id", "readonly-note").is_displayed()
    assert "relabelling needs a clinician" in browser.find_element("id", "readonly-note").text
    browser.find_element("tag name", "body").send_keys("j")
    wait(browser, "window.heartbeatPage.selected >= 0")
    assert all(not b.is_enabled() for b in browser.find_elements("css selector", "#beat-panel button[data-label]"))
    browser.find_element("tag name", "body").send_keys("q")
    wait(browser, "document.getElementById('message').textContent.includes('needs a clinician')")
    with sqlite3.connect(server.db_url.removeprefix("sqlite:///")) as c:
        assert c.execute("SELECT count(*) FROM feedback_labels").fetchone()[0] == labels
    assert stored(server) == before
    assert not browser.find_element("id", "nav-monitoring").is_displayed()
    # nor can a reader add a recording: the page offers no upload, and the API refuses one
    assert not browser.find_element("id", "upload-form").is_displayed()
    note = browser.find_element("id", "upload-readonly")  # its section is behind the open recording
    assert note.get_attribute("hidden") is None and "uploading one needs a clinician" in note.get_attribute("textContent")
    reader = server.call("POST", "/users", ADMIN_KEY, json={"name": "rory", "role": "reader"}).json()["api_key"]
    r = server.call("POST", "/recordings", reader, files={"files": ("x.npy", b"\x93NUMPY", "application/octet-stream")},
                    data={"fs": "360"})
    assert r.status_code == 403, r.text
    assert stored(server) == before


def test_the_monitoring_view_for_an_admin(server, browser, record):
    r = server.call("POST", "/users", ADMIN_KEY, json={"name": "ada", "role": "admin", "password": "password-ada"})
    assert r.status_code == 201, r.text
    PASSWORDS["ada"] = "password-ada"
    browser.find_element("id", "logout").click()
    log_in(browser, server, "ada")
    for k in range(2, 40):  # the admin confirms a few more beats as predicted (admins may label), for the chart
        fb = server.call("POST", "/feedback", ADMIN_KEY, json={"prediction_id": record["beats"]["id"][k],
                                                                "label": record["beats"]["class"][k]})
        assert fb.status_code == 200, fb.text
    browser.find_element("id", "nav-monitoring").click()
    wait(browser, "document.getElementById('recall-plot').data && document.getElementById('drift-plot').data",
         what="the monitoring charts")
    recall = browser.execute_script("return document.getElementById('recall-plot').data.map(t => [t.name, t.y])")
    assert [name for name, _ in recall] == record["classes"]
    assert sum(1 for _, y in recall for v in y if v is not None) >= 1  # the label given above
    drift = browser.execute_script("return document.getElementById('drift-plot').data[0].x")
    mon = server.call("GET", "/monitoring", ADMIN_KEY).json()
    assert drift == list((mon["drift"]["psi"] or {}).keys())
    assert "retraining request" in browser.find_element("id", "requests").text.lower() or \
        len(browser.find_elements("css selector", "#requests tbody tr")) == len(mon["retrain_requests"])
    browser.save_screenshot(str(ROOT / "docs" / "page-monitoring.png"))


# ---------------------------------------------------------------- bad input: a clear message, nothing stored
@pytest.fixture()
def clinician_page(server, browser, record):
    if "carl" not in browser.find_element("id", "who").text:
        browser.find_element("id", "logout").click()
        log_in(browser, server, "carl")
    browser.find_element("id", "nav-recordings").click()
    wait(browser, "!document.getElementById('recordings').hidden")
    return browser


def bad_upload(server, drv, paths, says: str, fs=None):
    before = stored(server)
    upload(drv, *paths, fs=fs)
    said = message(drv)
    assert says in said and "nothing was stored" in said, f"the page said {said!r}; expected {says!r}"
    assert stored(server) == before, "a refused upload left rows behind"


def test_a_file_that_is_not_a_recording(server, clinician_page, tmp_path):
    (tmp_path / "notes.csv").write_text("patient,visit\nsmith,tuesday\njones,friday\n")
    bad_upload(server, clinician_page, [tmp_path / "notes.csv"], "non-numeric value", fs=360)
    (tmp_path / "scan.pdf").write_bytes(b"%PDF-1.4 not an ecg")
    bad_upload(server, clinician_page, [tmp_path / "scan.pdf"], "scan.pdf is not a recording")


def test_a_missing_dat(server, clinician_page):
    bad_upload(server, clinician_page, [SAMPLE / "213.hea"], "names the signal file 213.dat")


def test_an_implausible_rate(server, clinician_page, tmp_path):
    import wfdb

    x = wfdb.rdrecord(str(SAMPLE / "213"), channels=[0], sampto=360 * 120).p_signal[:, 0]
    np.save(tmp_path / "two-minutes.npy", x)  # 2 minutes at 360 Hz, said to be 1,000 Hz
    bad_upload(server, clinician_page, [tmp_path / "two-minutes.npy"], "implausible", fs=1000)


def test_a_recording_too_long_for_the_limits(server, clinician_page, tmp_path):
    import wfdb

    x = np.concatenate([wfdb.rdrecord(str(SAMPLE / r), channels=[0]).p_signal[:, 0] for r in ("213", "217")])
    np.save(tmp_path / "an-hour.npy", x.astype(np.float32))  # 3,611 s; the server takes 1,900
    bad_upload(server, clinician_page, [tmp_path / "an-hour.npy"], "at most 1900 s", fs=360)


def test_an_expired_session(server, clinician_page):
    with sqlite3.connect(server.db_url.removeprefix("sqlite:///")) as c:  # every token of carl's runs out now
        c.execute("UPDATE access_tokens SET expires_at = '2000-01-01 00:00:00' "
                  "WHERE user_id = (SELECT id FROM users WHERE name = 'carl')")
    before = stored(server)
    upload(clinician_page, SAMPLE / "213.hea", SAMPLE / "213.dat")
    assert "session has expired" in message(clinician_page) and "log in again" in message(clinician_page)
    assert not clinician_page.find_element("id", "login").get_attribute("hidden")
    assert stored(server) == before


# ---------------------------------------------------------------- offline
def test_the_page_made_no_request_outside_127_0_0_1(server, browser):
    """Every request of the whole session (the performance log keeps them all), asset and API alike."""
    urls = []
    for entry in browser.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg["method"] == "Network.requestWillBeSent":
            urls.append(msg["params"]["request"]["url"])
    assert any(u.endswith("/static/plotly.min.js") for u in urls), f"plotly.js never loaded; saw {urls[:5]}"
    outside = [u for u in urls if urlparse(u).scheme not in ("data", "blob") and urlparse(u).hostname != "127.0.0.1"]
    assert not outside, f"requests outside 127.0.0.1: {outside[:5]}"
