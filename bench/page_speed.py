"""How fast the review page opens and pans a 24-hour recording, in headless Chromium.

    python bench/page_speed.py [--hours 24] [--steps 40]

Builds a 24-hour single-lead recording at 360 Hz by concatenating the MLII lead of real MIT-BIH
records (the embedded sample: 208, 213, 217, 232, over and over), starts ``heartbeat serve`` on
127.0.0.1 with the deploy model (models/cnn1d-rhythm-all) and limits raised to take a day, uploads
it (``POST /recordings``, timed too, but that is the service's work, not the page's), then drives
the page in Debian's Chromium through Selenium:

- **time to first draw**: from calling the page's ``openRecord`` (fetch every beat, overview, heart
  rate, the first 10 s strip) until the strip is drawn and a frame has been painted;
- **time per pan step** at two zooms: a 10-second strip (raw samples) and a 1-hour strip (min/max
  envelope), each step half a view to the right: fetch of the window, redraw, next frame.

Times are wall-clock in the browser (``performance.now()``), on this machine, with the server on
the same cores. Writes results/bench/page_speed.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def day_of_signal(hours: float) -> np.ndarray:
    import wfdb

    from heartbeat.data.sample import __file__ as sample_init

    folder = Path(sample_init).parent / "mitdb"
    parts = [wfdb.rdrecord(str(folder / r), channels=[0]).p_signal[:, 0] for r in ("208", "213", "217", "232")]
    one = np.concatenate(parts)
    n = int(hours * 3600 * 360)
    return np.tile(one, n // len(one) + 1)[:n].astype(np.float32)


def steps(drv, start: float, width: float, count: int) -> list[float]:
    out = []
    for k in range(count):
        t0 = start + k * width / 2
        ms = drv.execute_async_script("""
            const [t0, w, done] = arguments, p = window.heartbeatPage, t = performance.now();
            p.setView(t0, t0 + w).then(() => requestAnimationFrame(() => done(performance.now() - t)));""", t0, width)
        out.append(ms)
    return out


def figures(ms: list[float]) -> dict:
    return {"steps": len(ms), "median_ms": round(statistics.median(ms), 1),
            "p90_ms": round(float(np.percentile(ms, 90)), 1), "max_ms": round(max(ms), 1)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, default=24.0)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--out", default=str(ROOT / "results" / "bench" / "page_speed.json"))
    args = ap.parse_args(argv)

    import requests
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from test_page import CHROMIUM, DRIVER
    from test_serve import ADMIN_KEY, Server

    work = Path(tempfile.mkdtemp(prefix="page-speed-"))
    x = day_of_signal(args.hours)
    np.save(work / "day.npy", x)
    seconds = len(x) / 360
    srv = Server(ROOT / "models" / "cnn1d-rhythm-all", work / "serve.db", work, "--max-record-seconds",
                 str(seconds + 1), "--max-record-work", str((seconds + 1) * 360 * 360), "--record-time-limit",
                 "1800").start()
    drv = None
    try:
        srv.call("POST", "/users", ADMIN_KEY, json={"name": "bench", "role": "clinician", "password": "bench-password"})
        tok = srv.call("POST", "/token", data={"username": "bench", "password": "bench-password"})
        tok = tok.json()["access_token"]
        t = time.perf_counter()
        with open(work / "day.npy", "rb") as f:
            r = requests.post(srv.url + "/recordings", headers={"Authorization": f"Bearer {tok}"},
                              files=[("files", ("day.npy", f))], data={"fs": "360"}, timeout=3600)
        upload_s = time.perf_counter() - t
        assert r.status_code == 201, r.text[:500]
        rec = r.json()
        print(f"uploaded and analysed {seconds / 3600:.1f} h, {rec['beats']} beats in {upload_s:.1f} s", flush=True)

        opts = webdriver.ChromeOptions()
        opts.binary_location = CHROMIUM
        for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1100"):
            opts.add_argument(a)
        drv = webdriver.Chrome(service=Service(DRIVER), options=opts)
        drv.set_script_timeout(600)
        drv.get(srv.url + "/")
        deadline = time.monotonic() + 60
        while not drv.execute_script("return !!(window.heartbeatPage && window.Plotly)"):
            assert time.monotonic() < deadline, "the page's scripts did not load"
            time.sleep(0.1)
        drv.find_element("id", "username").send_keys("bench")
        drv.find_element("id", "password").send_keys("bench-password")
        drv.find_element("id", "login-button").click()
        while drv.execute_script("return document.getElementById('recordings').hidden"):
            time.sleep(0.1)
        first = drv.execute_async_script("""
            const [id, done] = arguments, t = performance.now();
            window.heartbeatPage.openRecord(id)
              .then(() => requestAnimationFrame(() => done(performance.now() - t)));""",
                                         rec["id"])
        drawn = drv.execute_script("return document.getElementById('strip').data.filter(t => t.meta && "
                                   "t.meta.role === 'beats').reduce((n, t) => n + t.x.length, 0)")
        assert drawn > 0, "the first strip drew no beat"
        near = steps(drv, 3600.0, 10.0, args.steps)
        far = steps(drv, 0.0, 3600.0, min(args.steps, int(2 * seconds / 3600) - 2))
        out = {"recording": {"hours": round(seconds / 3600, 2), "fs": 360, "beats": rec["beats"],
                             "built_from": "MIT-BIH 208, 213, 217, 232 (MLII) concatenated, repeated"},
               "upload_and_analysis_s": round(upload_s, 1),
               "time_to_first_draw_ms": round(first, 1),
               "pan_10s_view": figures(near), "pan_1h_view": figures(far),
               "measured": "browser performance.now(), from the call to the next painted frame; "
                           "server on the same host",
               "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                           "chromium": drv.capabilities.get("browserVersion")}}
    finally:
        if drv is not None:
            drv.quit()
        srv.stop()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
