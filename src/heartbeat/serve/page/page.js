// heartbeat review page: log in, upload a recording, review and relabel its beats, watch the model.
// Plain JavaScript and plotly.js (served by the service from the plotly Python package); no framework.
// The bearer token lives in this closure only: never in localStorage, sessionStorage or a cookie.
"use strict";
(() => {
  const COLOURS = { N: "#7b8794", S: "#1f77b4", V: "#d62728", F: "#ff7f0e", Q: "#9467bd" };
  const NAMES = { N: "N normal", S: "S supraventricular", V: "V ventricular", F: "F fusion", Q: "Q unknown/paced" };
  const RUN = 3;            // a run: at least this many consecutive abnormal beats
  const SVG_MARKERS = 4000; // more markers than this on screen are drawn by WebGL
  const $ = (id) => document.getElementById(id);
  const st = { token: null, user: null, rec: null, view: null, sel: -1, seq: 0, drawn: 0, webgl: null };

  // ------------------------------------------------------------ messages and the API
  function say(text, error = false) {
    const m = $("message");
    m.textContent = text; m.hidden = !text; m.classList.toggle("error", !!error);
  }
  function errorText(status, body) {
    if (body && typeof body.message === "string") return body.message;
    if (body && typeof body.detail === "string") return body.detail;
    if (body && Array.isArray(body.detail)) return body.detail.map((d) => d.msg).join("; ");
    return `the service answered ${status}`;
  }
  class ApiError extends Error { constructor(status, msg) { super(msg); this.status = status; } }
  function expired() {
    st.token = null; st.user = null;
    show("login");
    $("nav").hidden = true; $("logout").hidden = true; $("who").textContent = "";
    say("Your session has expired (or was ended): log in again. Nothing was changed by the last action.", true);
  }
  async function api(method, path, body) {
    const headers = { Authorization: `Bearer ${st.token}` };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body),
                                  cache: "no-store" });
    let data = null;
    try { data = await r.json(); } catch (e) { data = null; }
    if (r.status === 401 && st.token) { expired(); throw new ApiError(401, "session expired"); }
    if (!r.ok) throw new ApiError(r.status, errorText(r.status, data));
    return data;
  }
  function fail(e) { if (!(e instanceof ApiError && e.status === 401)) say(e.message || String(e), true); }

  // ------------------------------------------------------------ views
  function show(which) {
    for (const id of ["login", "recordings", "record", "monitoring"]) $(id).hidden = id !== which;
    $("nav-recordings").classList.toggle("active", which === "recordings");
    $("nav-monitoring").classList.toggle("active", which === "monitoring");
  }

  async function login(ev) {
    ev.preventDefault();
    const form = new URLSearchParams({ username: $("username").value, password: $("password").value });
    const r = await fetch("token", { method: "POST", body: form });
    let data = null;
    try { data = await r.json(); } catch (e) { data = null; }
    if (!r.ok) { say(`Log in refused: ${errorText(r.status, data)}`, true); return; }
    st.token = data.access_token;
    $("password").value = "";
    try {
      st.user = await api("GET", "me");
    } catch (e) { fail(e); return; }
    $("who").textContent = `${st.user.name} (${st.user.role})`;
    $("nav").hidden = false; $("logout").hidden = false;
    $("nav-monitoring").hidden = st.user.role !== "admin";
    const reader = st.user.role === "reader";  // a reader sees everything and changes nothing: no upload either
    $("upload-form").hidden = reader; $("upload-hint").hidden = reader; $("upload-readonly").hidden = !reader;
    say("");
    await openList();
  }
  function logout() {
    st.token = null; st.user = null; st.rec = null;
    $("nav").hidden = true; $("logout").hidden = true; $("who").textContent = "";
    show("login"); say("Logged out.");
  }

  // ------------------------------------------------------------ recordings: list and upload
  const fmtDate = (iso) => iso.replace("T", " ").replace(/\.\d+Z$|Z$/, "");
  function fmtDuration(s) {
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = Math.round(s % 60);
    return h ? `${h} h ${m} min` : m ? `${m} min ${sec} s` : `${s.toFixed(1)} s`;
  }
  const perClass = (pc) => Object.entries(pc).map(([c, n]) =>
    `<span class="swatch" style="background:${COLOURS[c] || "#333"}"></span>${c} ${n}`).join(" &nbsp;");
  const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));

  async function openList() {
    show("recordings");
    let list;
    try { list = await api("GET", "recordings"); } catch (e) { fail(e); return; }
    const body = $("recording-list").querySelector("tbody");
    body.innerHTML = list.length ? "" : `<tr><td colspan="8" class="hint">No recording yet: upload one above.</td></tr>`;
    for (const r of list) {
      const tr = document.createElement("tr");
      tr.dataset.id = r.id;
      tr.innerHTML = `<td>${r.id}</td><td>${fmtDate(r.created_at)}</td><td>${esc(r.name)}</td>` +
        `<td>${fmtDuration(r.seconds)}</td><td>${esc(r.model_version)}</td><td>${perClass(r.per_class)}</td>` +
        `<td>${r.abnormal_burden_percent.toFixed(1)} %</td><td>${esc(r.uploaded_by || "")}</td>`;
      tr.addEventListener("click", () => openRecord(r.id));
      body.appendChild(tr);
    }
  }

  function upload(ev) {
    ev.preventDefault();
    const files = $("files").files;
    if (!files.length) { say("Choose the recording's files first.", true); return; }
    const fd = new FormData();
    for (const f of files) fd.append("files", f, f.name);
    if ($("fs").value) fd.append("fs", $("fs").value);
    if ($("lead").value.trim()) fd.append("lead", $("lead").value.trim());
    const xhr = new XMLHttpRequest();  // fetch() has no upload progress
    const bar = $("upload-progress"), status = $("upload-status");
    $("upload-state").hidden = false; bar.value = 0; bar.removeAttribute("data-done");
    $("upload-button").disabled = true;
    status.textContent = "uploading…";
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) {
        bar.value = e.loaded / e.total;
        status.textContent = `uploading: ${(e.loaded / 1e6).toFixed(1)} of ${(e.total / 1e6).toFixed(1)} MB`;
      }
    };
    xhr.upload.onload = () => { bar.removeAttribute("value"); status.textContent = "uploaded; finding and classifying the beats…"; };
    xhr.onerror = () => { $("upload-button").disabled = false; status.textContent = ""; say("The upload failed: the service could not be reached.", true); };
    xhr.onload = async () => {
      $("upload-button").disabled = false;
      let data = null;
      try { data = JSON.parse(xhr.responseText); } catch (e) { data = null; }
      $("upload-state").hidden = true;
      if (xhr.status === 401) { expired(); return; }
      if (xhr.status !== 201) { say(`The recording was not analysed, and nothing was stored: ${errorText(xhr.status, data)}`, true); return; }
      say(`Analysed ${data.name}: ${data.beats} beats in ${fmtDuration(data.seconds)}, abnormal burden ` +
          `${data.abnormal_burden_percent.toFixed(1)} %.` + (data.notes && data.notes.length ? ` Notes: ${data.notes.join("; ")}` : ""));
      $("upload-form").reset();
      await openRecord(data.id);
    };
    xhr.open("POST", "recordings");
    xhr.setRequestHeader("Authorization", `Bearer ${st.token}`);
    xhr.send(fd);
  }

  // ------------------------------------------------------------ the record view
  async function openRecord(id) {
    let r;
    try { r = await api("GET", `recordings/${id}`); } catch (e) { fail(e); return; }
    const b = r.beats, n = b.sample.length;
    r.t = Float64Array.from(b.sample, (s) => s / r.fs);
    r.cls = Int8Array.from(b.class);
    r.runs = [];
    for (let i = 0; i < n;) {
      if (!b.abnormal[i]) { i++; continue; }
      let j = i;
      while (j < n && b.abnormal[j]) j++;
      if (j - i >= RUN) r.runs.push([i, j]);
      i = j;
    }
    st.rec = r; st.sel = -1;
    show("record");
    $("record-title").textContent = `Recording #${r.id}: ${r.name} (${fmtDuration(r.seconds)}, ${r.fs} Hz, lead ${r.lead}, model ${r.model_version})`;
    $("readonly-note").hidden = r.can_review;
    $("beat-panel").innerHTML = `<p class="hint">Click a beat, or press J, to see its probabilities.</p>`;
    drawSummary(); drawHeartRate();
    await drawOverview();
    await setView(0, Math.min(10, r.seconds));
  }

  function visible(t0, t1) {  // the beats in [t0, t1): a binary search on the sorted R-peak times
    const t = st.rec.t;
    const lo = (x) => { let a = 0, b = t.length; while (a < b) { const m = (a + b) >> 1; if (t[m] < x) a = m + 1; else b = m; } return a; };
    return [lo(t0), lo(t1)];
  }

  function signalTrace(sig) {
    if (sig.kind === "raw") {
      const x = new Float64Array(sig.y.length);
      for (let i = 0; i < x.length; i++) x[i] = sig.t0 + i * sig.dt;
      return { x, y: sig.y };
    }
    const k = sig.min.length, x = new Float64Array(2 * k), y = new Float64Array(2 * k);
    for (let i = 0; i < k; i++) {  // each bucket drawn as a vertical stroke from its min to its max
      x[2 * i] = x[2 * i + 1] = sig.t0 + (i + 0.5) * sig.dt;
      y[2 * i] = sig.min[i]; y[2 * i + 1] = sig.max[i];
    }
    return { x, y };
  }

  function hasWebGL() {
    if (st.webgl === null) {
      try { st.webgl = !!document.createElement("canvas").getContext("webgl"); } catch (e) { st.webgl = false; }
    }
    return st.webgl;
  }

  async function setView(t0, t1) {
    const r = st.rec, w = Math.max(0.5, Math.min(t1 - t0, r.seconds));
    t0 = Math.max(0, Math.min(t0, r.seconds - w)); t1 = t0 + w;
    st.view = [t0, t1];
    const seq = ++st.seq, started = performance.now();
    const px = Math.max(400, $("strip").clientWidth || 1200);
    // a view's width either side is fetched too, so a drag shows signal at once; the strip asks again when it ends
    const a = Math.max(0, t0 - w), b = Math.min(r.seconds, t1 + w);
    let sig;
    try { sig = await api("GET", `recordings/${r.id}/signal?start=${a}&end=${b}&points=${Math.round(px * (b - a) / w)}`); }
    catch (e) { fail(e); return; }
    if (seq !== st.seq) return;  // a newer view was asked for meanwhile
    await drawStrip(sig, a, b);
    st.drawn = performance.now() - started;
    $("view-range").textContent = `${t0.toFixed(1)}–${t1.toFixed(1)} s of ${r.seconds.toFixed(0)} s`;
    Plotly.relayout("overview", { "shapes[0].x0": t0, "shapes[0].x1": t1 });
  }

  function drawStrip(sig, a, b) {
    const r = st.rec, beats = r.beats, line = signalTrace(sig);
    const [i0, i1] = visible(a, b);
    const gl = (i1 - i0) > SVG_MARKERS && hasWebGL();
    const type = gl ? "scattergl" : "scatter";
    const yAt = (i) => {  // the signal's value at the beat's R peak, read from what was fetched
      const t = r.t[i];
      if (sig.kind === "raw") return sig.y[Math.min(sig.y.length - 1, Math.max(0, Math.round((t - sig.t0) / sig.dt)))];
      return sig.max[Math.min(sig.max.length - 1, Math.max(0, Math.floor((t - sig.t0) / sig.dt)))];
    };
    const traces = [{ type: (line.x.length > 20000 && hasWebGL()) ? "scattergl" : "scatter", mode: "lines",
                      x: line.x, y: line.y, name: "ECG", line: { color: "#222", width: 1 }, hoverinfo: "skip",
                      showlegend: false }];
    const per = r.classes.map(() => ({ x: [], y: [], i: [] }));
    const rev = { x: [], y: [], i: [] };
    for (let i = i0; i < i1; i++) {
      const y = yAt(i), c = per[r.cls[i]];
      c.x.push(r.t[i]); c.y.push(y); c.i.push(i);
      if (beats.label[i] !== null) { rev.x.push(r.t[i]); rev.y.push(y); rev.i.push(i); }
    }
    r.classes.forEach((c, k) => traces.push({
      type, mode: "markers", name: NAMES[c] || c, x: per[k].x, y: per[k].y, customdata: per[k].i,
      meta: { role: "beats", cls: c }, marker: { color: COLOURS[c] || "#333", size: 9, line: { width: 0 } },
      hovertemplate: `${c} beat at %{x:.2f} s<extra></extra>` }));
    traces.push({ type, mode: "markers", name: "reviewed", x: rev.x, y: rev.y, customdata: rev.i, meta: { role: "reviewed" },
                  marker: { symbol: "circle-open", color: "#111", size: 16, line: { width: 2 } },
                  hovertemplate: "reviewed: %{customdata}<extra></extra>" });
    const sel = st.sel >= 0 && st.sel >= i0 && st.sel < i1
      ? { x: [r.t[st.sel]], y: [yAt(st.sel)], customdata: [st.sel] } : { x: [], y: [], customdata: [] };
    traces.push({ type: "scatter", mode: "markers", name: "selected", ...sel, meta: { role: "selected" },
                  marker: { symbol: "diamond-open", color: "#0b6e99", size: 22, line: { width: 3 } }, hoverinfo: "skip" });
    const layout = {
      margin: { l: 55, r: 10, t: 10, b: 40 }, dragmode: "pan", hovermode: "closest",
      xaxis: { title: { text: "time (s)" }, range: st.view.slice(), showgrid: true, gridcolor: "#f3c6c6",
               dtick: (st.view[1] - st.view[0]) <= 12 ? 0.2 : undefined, zeroline: false },
      yaxis: { title: { text: r.units || "mV" }, fixedrange: true, showgrid: true, gridcolor: "#f3c6c6",
               dtick: 0.5, zeroline: false },
      legend: { orientation: "h", y: 1.12, x: 0 }, plot_bgcolor: "#fffafa",
    };
    return Plotly.react("strip", traces, layout, { displaylogo: false, scrollZoom: true, responsive: true,
                                            modeBarButtonsToRemove: ["toImage", "select2d", "lasso2d", "autoScale2d"] });
  }

  async function drawOverview() {
    const r = st.rec;
    let sig;
    try { sig = await api("GET", `recordings/${r.id}/signal?start=0&end=${r.seconds}&points=1500`); } catch (e) { fail(e); return; }
    const line = signalTrace(sig);
    const ab = [];
    for (let i = 0; i < r.t.length; i++) if (r.beats.abnormal[i]) ab.push(r.t[i]);
    const lo = Math.min(...(sig.min || sig.y).slice(0, 5000)), hi = Math.max(...(sig.max || sig.y).slice(0, 5000));
    await Plotly.newPlot("overview", [
      { type: "scatter", mode: "lines", x: line.x, y: line.y, line: { color: "#888", width: 1 }, hoverinfo: "skip", showlegend: false },
      { type: ab.length > SVG_MARKERS && hasWebGL() ? "scattergl" : "scatter", mode: "markers", x: ab,
        y: ab.map(() => hi), marker: { color: COLOURS.V, size: 4, symbol: "line-ns-open" }, hoverinfo: "skip", showlegend: false },
    ], {
      margin: { l: 55, r: 10, t: 4, b: 22 }, dragmode: false, yaxis: { visible: false, fixedrange: true, range: [lo, hi * 1.05] },
      xaxis: { fixedrange: true, range: [0, r.seconds] },
      shapes: [{ type: "rect", xref: "x", yref: "paper", x0: 0, x1: 10, y0: 0, y1: 1, fillcolor: "rgba(11,110,153,.18)", line: { width: 1, color: "#0b6e99" } }],
    }, { displayModeBar: false, responsive: true });
    $("overview").on("plotly_click", (ev) => {
      const w = st.view[1] - st.view[0], t = ev.points[0].x;
      setView(t - w / 2, t + w / 2);
    });
  }

  function drawHeartRate() {
    const r = st.rec, t = r.t, n = t.length;
    const bins = Math.min(2000, Math.max(1, n - 1)), x = [], y = [];
    const width = r.seconds / bins, sum = new Float64Array(bins), cnt = new Float64Array(bins);
    for (let i = 1; i < n; i++) {
      const rr = t[i] - t[i - 1];
      if (rr <= 0 || rr > 3) continue;  // a gap (no beat for 3 s) is no heart rate
      const k = Math.min(bins - 1, Math.floor(t[i] / width));
      sum[k] += 60 / rr; cnt[k]++;
    }
    for (let k = 0; k < bins; k++) if (cnt[k]) { x.push((k + 0.5) * width); y.push(sum[k] / cnt[k]); }
    Plotly.react("hr", [{ type: "scatter", mode: "lines", x, y, line: { color: "#0b6e99", width: 1 }, name: "heart rate",
                          hovertemplate: "%{y:.0f} bpm at %{x:.0f} s<extra></extra>" }],
      { margin: { l: 55, r: 10, t: 24, b: 36 }, title: { text: "heart rate (bpm, mean per bin)", font: { size: 12 }, x: 0.01 },
        xaxis: { title: { text: "time (s)" } }, yaxis: { title: { text: "bpm" }, fixedrange: true } },
      { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["toImage", "select2d", "lasso2d"] });
    $("hr").on("plotly_click", (ev) => { const w = st.view[1] - st.view[0]; setView(ev.points[0].x - w / 2, ev.points[0].x + w / 2); });
  }

  // the service's one rule for "abnormal" (heartbeat.inference.operating.abnormal), in words
  function rule(r) {
    return r.threshold === null || r.threshold === undefined ? "class not N" : `P(not N) &ge; ${r.threshold}`;
  }
  function summaryHtml(r) {
    const s = r.summary;
    const rows = r.classes.map((c) => `<tr><td><span class="swatch" style="background:${COLOURS[c]}"></span>${NAMES[c] || c}</td><td>${s.per_class[c] ?? 0}</td></tr>`).join("");
    const runs = (s.longest_abnormal_runs || []).map((run, k) =>
      `<tr data-run="${k}"><td>${run.beats} beats</td><td>${run.start_s.toFixed(1)}–${run.end_s.toFixed(1)} s</td></tr>`).join("");
    return `<table><tr><th>Class</th><th>Beats</th></tr>${rows}<tr><td><b>All</b></td><td><b>${s.beats}</b></td></tr></table>` +
      `<p>Abnormal burden: <b>${s.abnormal_burden_percent.toFixed(1)} %</b> of beats (${rule(r)}).</p>` +
      `<table><tr><th>Longest abnormal runs</th><th>Time</th></tr>${runs || '<tr><td colspan="2">none</td></tr>'}</table>` +
      (s.notes && s.notes.length ? `<p class="hint">Notes: ${s.notes.map(esc).join("; ")}</p>` : "");
  }
  function drawSummary() {
    const r = st.rec;
    $("summary").innerHTML = `<h3>Summary</h3>` + summaryHtml(r);
    $("summary").querySelectorAll("tr[data-run]").forEach((tr) => tr.addEventListener("click", () => {
      const run = r.summary.longest_abnormal_runs[+tr.dataset.run];
      setView(run.start_s - 2, Math.max(run.end_s + 2, run.start_s + 8));
    }));
  }

  // ------------------------------------------------------------ moving about
  function centreOn(i) {
    const r = st.rec, w = st.view[1] - st.view[0];
    st.sel = i;
    drawBeat();
    return setView(r.t[i] - w / 2, r.t[i] + w / 2);
  }
  function from() { return st.sel >= 0 ? st.sel : visible(st.view[0], st.view[0])[0] - 1; }
  function nextAbnormal(dir) {
    const ab = st.rec.beats.abnormal, n = ab.length;
    for (let i = from() + dir; i >= 0 && i < n; i += dir) if (ab[i]) return centreOn(i);
    say(dir > 0 ? "No abnormal beat after this one." : "No abnormal beat before this one.");
  }
  function nextRun() {
    const r = st.rec, here = from();
    const run = r.runs.find(([a]) => a > here);
    if (!run) { say(`No run of ${RUN} or more abnormal beats after this point.`); return; }
    const w = st.view[1] - st.view[0];
    st.sel = run[0]; drawBeat();
    say(`Run of ${run[1] - run[0]} abnormal beats from ${r.t[run[0]].toFixed(1)} s.`);
    return setView(r.t[run[0]] - 1, r.t[run[0]] - 1 + Math.max(w, r.t[run[1] - 1] - r.t[run[0]] + 2));
  }
  function pan(f) { const w = st.view[1] - st.view[0]; return setView(st.view[0] + f * w, st.view[1] + f * w); }
  function zoom(f) {
    const c = (st.view[0] + st.view[1]) / 2, w = (st.view[1] - st.view[0]) * f;
    return setView(c - w / 2, c + w / 2);
  }

  // ------------------------------------------------------------ review
  function drawBeat() {
    const r = st.rec, i = st.sel, p = $("beat-panel");
    if (i < 0) { p.innerHTML = `<p class="hint">Click a beat, or press J, to see its probabilities.</p>`; return; }
    const b = r.beats, c = r.classes[b.class[i]], pAb = 1 - b.p[i][0];
    const probs = r.classes.map((k, j) => `<tr><td><span class="swatch" style="background:${COLOURS[k]}"></span>${k}</td>` +
      `<td>${b.p[i][j].toFixed(3)}</td><td><span class="bar" style="width:${Math.round(120 * b.p[i][j])}px"></span></td></tr>`).join("");
    const label = b.label[i] === null ? "not reviewed"
      : `reviewed: <b>${r.classes[b.label[i]]}</b> by ${esc(b.labelled_by[i])}, ${fmtDate(b.labelled_at[i])} UTC`;
    const buttons = r.classes.map((k) => `<button type="button" data-label="${k}" ${r.can_review ? "" : "disabled"} ` +
      `title="${r.can_review ? `relabel as ${k} (${k})` : "readers cannot relabel"}">${k}</button>`).join("");
    p.innerHTML = `<h3>Beat ${i + 1} of ${b.sample.length} at ${r.t[i].toFixed(3)} s</h3>` +
      `<p>Predicted <b id="beat-class">${c}</b>; P(abnormal) = ${pAb.toFixed(3)}: <b>${b.abnormal[i] ? "abnormal" : "not abnormal"}</b> ` +
      `(${rule(r)}). <span id="beat-label">${label}</span>.</p><table>${probs}</table>` +
      `<div class="relabel">${buttons}</div>` +
      (r.can_review ? `<p class="hint">Press N S V F Q to relabel.</p>` : `<p class="hint">Readers see the labels; relabelling needs a clinician.</p>`);
    p.querySelectorAll("button[data-label]").forEach((btn) => btn.addEventListener("click", () => relabel(btn.dataset.label)));
  }
  async function relabel(k) {
    const r = st.rec, i = st.sel;
    if (i < 0) { say("Select a beat first (click it, or press J)."); return; }
    if (!r.can_review) { say(`You are signed in as a ${st.user.role}: relabelling needs a clinician. Nothing was changed.`, true); return; }
    let out;
    try { out = await api("POST", "feedback", { prediction_id: r.beats.id[i], label: k }); } catch (e) { fail(e); return; }
    r.beats.label[i] = r.classes.indexOf(out.label);
    r.beats.labelled_by[i] = st.user.name;
    r.beats.labelled_at[i] = new Date().toISOString();
    say(`Beat at ${r.t[i].toFixed(2)} s labelled ${out.label} (predicted ${out.predicted_class})` +
        (out.status === "degraded" ? "; the model's recent recall is now below its threshold." : "."));
    drawBeat();
    await setView(st.view[0], st.view[1]);
  }

  // ------------------------------------------------------------ the printable report
  async function report() {
    const r = st.rec, body = $("report-body");
    const runs = (r.summary.longest_abnormal_runs || []).filter((x) => x.beats > 0);
    body.innerHTML = `<h1>Recording report #${r.id}</h1>` +
      `<table><tr><th>Recording</th><td>#${r.id} (${esc(r.format.toUpperCase())}, ${r.fs} Hz, lead ${esc(r.lead)}, ${fmtDuration(r.seconds)})</td></tr>` +
      `<tr><th>Analysed</th><td>${fmtDate(r.created_at)} UTC</td></tr><tr><th>Model</th><td>${esc(r.model_version)}; abnormal: ${rule(r)}</td></tr>` +
      `<tr><th>Reviewed beats</th><td>${r.beats.label.filter((v) => v !== null).length}</td></tr>` +
      `<tr><th>Printed</th><td>${fmtDate(new Date().toISOString())} UTC by ${esc(st.user.name)}</td></tr></table>` +
      `<p class="hint">No patient identifier: the recording is named by its number only (its file name may name the patient).</p>` +
      `<h2>Summary</h2>${summaryHtml(r)}<h2>Longest abnormal runs</h2>` +
      (runs.length ? runs.map((run, k) => `<h3>Run ${k + 1}: ${run.beats} beats, ${run.start_s.toFixed(1)}–${run.end_s.toFixed(1)} s</h3><div class="run-strip" id="run-strip-${k}"></div>`).join("")
                   : "<p>No abnormal beat.</p>");
    $("report").hidden = false;
    document.querySelector("main").hidden = true;
    for (let k = 0; k < runs.length; k++) {
      const a = Math.max(0, runs[k].start_s - 2), b = Math.min(r.seconds, Math.max(runs[k].end_s + 2, a + 6));
      let sig;
      try { sig = await api("GET", `recordings/${r.id}/signal?start=${a}&end=${b}&points=3000`); } catch (e) { fail(e); return; }
      const line = signalTrace(sig), [i0, i1] = visible(a, b), traces = [{ type: "scatter", mode: "lines", x: line.x, y: line.y, line: { color: "#222", width: 1 }, showlegend: false }];
      r.classes.forEach((c, j) => {
        const x = [];
        for (let i = i0; i < i1; i++) if (r.cls[i] === j) x.push(r.t[i]);
        if (x.length) traces.push({ type: "scatter", mode: "markers+text", x, y: x.map(() => Math.max(...(sig.y || sig.max))),
                                    text: x.map(() => c), textposition: "top center", marker: { color: COLOURS[c], size: 7 }, name: c });
      });
      await Plotly.newPlot(`run-strip-${k}`, traces, { margin: { l: 45, r: 8, t: 18, b: 30 }, showlegend: false,
        xaxis: { title: { text: "time (s)" }, range: [a, b], gridcolor: "#f3c6c6", dtick: 0.2 },
        yaxis: { title: { text: r.units || "mV" }, gridcolor: "#f3c6c6", dtick: 0.5 }, plot_bgcolor: "#fffafa" },
        { staticPlot: true });
    }
    body.dataset.ready = "1";
  }
  function closeReport() { $("report").hidden = true; document.querySelector("main").hidden = false; delete $("report-body").dataset.ready; }

  // ------------------------------------------------------------ monitoring (admins)
  async function openMonitoring() {
    show("monitoring");
    let mon, hist, reqs;
    try {
      [mon, hist, reqs] = await Promise.all([api("GET", "monitoring"), api("GET", "monitoring/recall-history"), api("GET", "retrain-requests")]);
    } catch (e) { fail(e); return; }
    $("mon-version").textContent = mon.model_version;
    const rr = mon.recent_recall;
    $("mon-status").innerHTML = `State: <b>${mon.status}</b>${mon.reason ? ` (${esc(mon.reason)})` : ""}. ${mon.predictions} predictions, ` +
      `${mon.labelled} labelled; recent macro recall ${rr.recall_macro === null ? "–" : rr.recall_macro.toFixed(3)} over ${rr.n} labels ` +
      `(threshold ${rr.threshold}, judged from ${rr.min_labels}). Drift: ${esc(mon.drift.status)}.`;
    const x = hist.points.map((p) => fmtDate(p.start));
    const rec = hist.classes.map((c) => ({ type: "scatter", mode: "lines+markers", name: c, x,
      y: hist.points.map((p) => p.recall[c]), marker: { color: COLOURS[c] }, line: { color: COLOURS[c] },
      text: hist.points.map((p) => `${p.labelled[c]} labelled`), hovertemplate: `${c}: %{y:.2f} (%{text})<extra></extra>` }));
    Plotly.react("recall-plot", rec, { title: { text: `recall per class on labelled beats, per ${hist.period || "period"}`, font: { size: 13 }, x: 0.01 },
      margin: { l: 55, r: 10, t: 36, b: 40 }, yaxis: { range: [0, 1.05], title: { text: "recall" } },
      xaxis: { type: "category", title: { text: `${hist.period || "period"} starting (UTC)` } }, height: 280,
      annotations: hist.points.length ? [] : [{ text: "no labelled beat yet", showarrow: false, xref: "paper", yref: "paper", x: 0.5, y: 0.5 }] },
      { displaylogo: false, responsive: true });
    const psi = mon.drift.psi || {};
    const feats = Object.keys(psi);
    Plotly.react("drift-plot", [{ type: "bar", x: feats, y: feats.map((f) => psi[f]),
      marker: { color: feats.map((f) => psi[f] > 0.25 ? "#d62728" : psi[f] > 0.1 ? "#ff7f0e" : "#2ca02c") } }],
      { title: { text: `drift per feature (PSI, recent ${mon.drift.recent_beats || 0} beats vs ${esc(mon.drift.reference || "")})`, font: { size: 13 }, x: 0.01 },
        margin: { l: 55, r: 10, t: 36, b: 40 }, height: 260, yaxis: { title: { text: "PSI" }, rangemode: "tozero" },
        shapes: [0.1, 0.25].map((v) => ({ type: "line", xref: "paper", x0: 0, x1: 1, y0: v, y1: v, line: { dash: "dot", color: "#999" } })),
        annotations: feats.length ? [] : [{ text: esc(mon.drift.status), showarrow: false, xref: "paper", yref: "paper", x: 0.5, y: 0.5 }] },
      { displaylogo: false, responsive: true });
    const tb = $("requests").querySelector("tbody");
    tb.innerHTML = reqs.length ? reqs.map((q) => `<tr><td>${q.id}</td><td>${fmtDate(q.created_at)}</td><td>${esc(q.model_version)}</td>` +
      `<td>${esc(q.reason)}</td><td>${q.recall_macro.toFixed(3)}</td><td>${q.labelled}</td><td><b>${q.status}</b></td>` +
      `<td>${q.resolved_at ? fmtDate(q.resolved_at) + " " + esc(q.resolution || "") : ""}</td></tr>`).join("")
      : `<tr><td colspan="8" class="hint">No retraining request.</td></tr>`;
  }

  // ------------------------------------------------------------ wiring
  function keys(ev) {
    if ($("record").hidden || !st.rec || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (["INPUT", "TEXTAREA", "SELECT"].includes(ev.target.tagName)) return;
    const k = ev.key;
    const act = {
      ArrowRight: () => pan(0.5), ArrowLeft: () => pan(-0.5), "+": () => zoom(0.5), "=": () => zoom(0.5), "-": () => zoom(2),
      w: () => setView(0, st.rec.seconds), j: () => nextAbnormal(1), k: () => nextAbnormal(-1), r: () => nextRun(),
      Escape: () => { st.sel = -1; drawBeat(); setView(st.view[0], st.view[1]); },
    }[k] || (st.rec.classes.includes(k.toUpperCase()) && k.length === 1 ? () => relabel(k.toUpperCase()) : null);
    if (act) { ev.preventDefault(); act(); }
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("login-form").addEventListener("submit", login);
    $("logout").addEventListener("click", logout);
    $("upload-form").addEventListener("submit", upload);
    $("nav-recordings").addEventListener("click", openList);
    $("nav-monitoring").addEventListener("click", openMonitoring);
    $("prev-abnormal").addEventListener("click", () => nextAbnormal(-1));
    $("next-abnormal").addEventListener("click", () => nextAbnormal(1));
    $("next-run").addEventListener("click", nextRun);
    $("pan-left").addEventListener("click", () => pan(-0.5));
    $("pan-right").addEventListener("click", () => pan(0.5));
    $("zoom-in").addEventListener("click", () => zoom(0.5));
    $("zoom-out").addEventListener("click", () => zoom(2));
    $("whole").addEventListener("click", () => setView(0, st.rec.seconds));
    $("print-report").addEventListener("click", report);
    $("report-print").addEventListener("click", () => window.print());
    $("report-close").addEventListener("click", closeReport);
    document.addEventListener("keydown", keys);
    const strip = $("strip");
    Plotly.newPlot(strip, [], { margin: { t: 10 } }, { displaylogo: false }).then(() => {
      strip.on("plotly_click", (ev) => {
        const pt = ev.points.find((q) => q.data.meta && q.data.meta.role === "beats") || ev.points[0];
        if (!pt || pt.customdata === undefined || !pt.data.meta) return;
        st.sel = pt.customdata; drawBeat(); setView(st.view[0], st.view[1]);
      });
      strip.on("plotly_relayout", (ev) => {  // the user dragged or scrolled the strip: fetch what is now on screen
        const a = ev["xaxis.range[0]"], b = ev["xaxis.range[1]"];
        if (a !== undefined && b !== undefined && st.rec) setView(+a, +b);
        else if (ev["xaxis.range"]) setView(+ev["xaxis.range"][0], +ev["xaxis.range"][1]);
      });
    });
    // for tests and the benchmark: what the page holds, read-only (the token is not in it)
    window.heartbeatPage = {
      get recording() { return st.rec; }, get view() { return st.view && st.view.slice(); },
      get selected() { return st.sel; }, get lastDrawMs() { return st.drawn; }, get seq() { return st.seq; },
      setView, openRecord, colours: COLOURS,
    };
  });
})();
