// Mediaferry web page: submit links, watch jobs live (SSE), search the library.
"use strict";

const $ = (sel, root = document) => root.querySelector(sel);
const KEY = "mediaferry.apiKey";
const QUALITIES = {
  video: ["best", "2160p", "1080p", "720p", "480p", "360p", "worst"],
  audio: ["audio", "audio_320", "audio_256", "audio_192", "audio_128"],
};
const ACTIVE = new Set(["PENDING", "QUEUED", "RUNNING"]);
const jobs = new Map(); // id -> {job, el}
let cursor = null;
let source = null;
let listGen = 0; // bumped by every full reload of the list: older answers are dropped
let touched = null; // while a full reload is on its way: ids shown meanwhile (live events, answers)

const key = () => localStorage.getItem(KEY) || "";
const withKey = (path) =>
  key() ? `${path}${path.includes("?") ? "&" : "?"}key=${encodeURIComponent(key())}` : path;

class ApiError extends Error {
  constructor(status, body) {
    super(typeof body.detail === "string" ? body.detail : body.error || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

async function api(path, options = {}) {
  const headers = { Accept: "application/json", ...(options.headers || {}) };
  if (key()) headers.Authorization = `Bearer ${key()}`;
  if (options.body) headers["Content-Type"] = "application/json";
  const res = await fetch(path, { ...options, headers });
  const body = await res.json().catch(() => ({}));
  if (res.status === 401) askForKey(key() ? "That key was refused." : "");
  if (!res.ok) throw new ApiError(res.status, body);
  return options.withStatus ? { status: res.status, body } : body;
}

// -- API key ----------------------------------------------------------------
function askForKey(message) {
  $("#key-panel").hidden = false;
  const err = $("#key-error");
  err.hidden = !message;
  err.textContent = message || "";
  $("#key-input").focus();
}

$("#key-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  localStorage.setItem(KEY, $("#key-input").value.trim());
  $("#key-input").value = "";
  $("#key-panel").hidden = true;
  boot();
});

// -- formatting ----------------------------------------------------------------
function bytes(n) {
  if (n == null) return "";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}
const seconds = (s) => (s == null ? "" : s < 60 ? `${Math.round(s)} s` : `${Math.round(s / 60)} min`);

function percent(job) {
  if (job.status === "COMPLETED") return 100;
  if (!job.bytes_total) return 0;
  return Math.min(99, Math.floor((100 * job.bytes_done) / job.bytes_total));
}

function info(job) {
  const parts = [job.status === "RUNNING" && job.stage ? job.stage.toLowerCase() : job.job_type];
  if (job.status === "RUNNING" && job.note) {
    parts.push(job.note); // why it waits, e.g. "Telegram asks to wait 30 s"
  } else if (job.status === "RUNNING" && job.bytes_total) {
    parts.push(`${bytes(job.bytes_done)} / ${bytes(job.bytes_total)}`);
    if (job.speed) parts.push(`${bytes(job.speed)}/s`);
    if (job.eta) parts.push(`${seconds(job.eta)} left`);
  } else if (job.status === "COMPLETED" && job.file_size) {
    parts.push(bytes(job.file_size));
  } else if (job.quality) {
    parts.push(job.quality);
  }
  return `#${job.id} · ${parts.filter(Boolean).join(" · ")}`;
}

// -- jobs list -------------------------------------------------------------------
function render(job) {
  let entry = jobs.get(job.id);
  if (!entry) {
    const el = $("#job-tpl").content.firstElementChild.cloneNode(true);
    el.dataset.jobId = job.id;
    $(".title", el).addEventListener("click", (ev) => { ev.preventDefault(); showDetail(job.id); });
    $(".cancel", el).addEventListener("click", () => act(job.id, "cancel"));
    $(".retry", el).addEventListener("click", () => act(job.id, "retry"));
    entry = { job, el };
    jobs.set(job.id, entry);
    placeJob(el, job.id);
  }
  if (touched) touched.add(job.id);
  // a snapshot older than the one shown (a cancel's answer that arrives after the
  // event of the job's end, a list fetched before it) must not turn the clock back
  if (job.updated_at && entry.job.updated_at && stamp(job.updated_at) < stamp(entry.job.updated_at)) return;
  entry.job = { ...entry.job, ...job };
  paint(entry);
  $("#jobs-empty").hidden = jobs.size > 0;
}

// "YYYY-MM-DDTHH:MM:SS[.ffffff]…" as a string that sorts by time (microseconds kept)
function stamp(iso) {
  const m = /^(.{19})(\.\d+)?/.exec(iso);
  return m ? m[1] + (m[2] || ".").padEnd(7, "0") : iso;
}

function placeJob(el, id) {
  const list = $("#jobs");
  const after = [...list.children].find((li) => Number(li.dataset.jobId) < id);
  list.insertBefore(el, after || null);
}

function paint({ job, el }) {
  const pct = percent(job);
  el.dataset.status = job.status;
  $(".title", el).textContent = job.title || job.url;
  $(".title", el).title = job.url;
  const badge = $(".badge", el);
  badge.textContent = job.status.toLowerCase();
  badge.className = `badge ${job.status.toLowerCase()}`;
  const bar = $(".bar", el);
  bar.setAttribute("aria-valuenow", String(pct));
  bar.dataset.state = job.status === "COMPLETED" ? "done" : ACTIVE.has(job.status) ? "active" : "stopped";
  $("span", bar).style.width = `${pct}%`;
  $(".info", el).textContent = info(job);
  $(".cancel", el).hidden = !ACTIVE.has(job.status);
  $(".retry", el).hidden = job.status !== "FAILED";
  const dl = $(".download", el);
  dl.hidden = !(job.status === "COMPLETED" && job.file_path);
  dl.href = withKey(`/api/jobs/${job.id}/file`);
  const err = $(".error", el);
  err.hidden = !job.error_message || job.status === "COMPLETED" || job.status === "CANCELLED";
  err.textContent = job.error_message || "";
}

async function act(id, action) {
  try {
    render(await api(`/api/jobs/${id}/${action}`, { method: "POST" }));
  } catch (e) {
    flash(e.message, true);
  }
}

async function loadJobs(reset = true) {
  const status = $("#filter").value;
  const params = new URLSearchParams({ limit: "30" });
  if (status) params.set("status", status);
  if (!reset && cursor) params.set("cursor", cursor);
  const gen = reset ? ++listGen : listGen;
  const meanwhile = reset ? (touched = new Set()) : null;
  let page;
  try {
    page = await api(`/api/jobs?${params}`);
  } finally {
    if (meanwhile && touched === meanwhile) touched = null;
  }
  // a reload started since (another filter, a reconnect) answers for the list
  if (gen !== listGen) return;
  if (reset) {
    // what live events or answers showed while the list was on its way may be newer
    // than the list (or not on it yet): shown again after it, where the filter allows
    const shown = new Map([...jobs].map(([id, entry]) => [id, entry.job]));
    jobs.clear();
    $("#jobs").replaceChildren();
    page.jobs.forEach(render);
    meanwhile.forEach((id) => {
      const job = shown.get(id);
      if (job && matchesFilter(job)) render(job);
    });
  } else {
    page.jobs.forEach(render);
  }
  cursor = page.next_cursor;
  $("#more").hidden = !cursor;
  $("#jobs-empty").hidden = jobs.size > 0;
}

$("#more").addEventListener("click", () => loadJobs(false).catch((e) => flash(e.message, true)));
$("#filter").addEventListener("change", () => loadJobs().catch((e) => flash(e.message, true)));

// -- live updates -------------------------------------------------------------------
function connect() {
  if (source) source.close();
  source = new EventSource(withKey("/api/events"));
  const live = $("#live");
  source.onopen = () => {
    live.textContent = "live";
    live.classList.add("on");
    // what changed before the stream was there (between the list and this first
    // connection, or while it was away) came as no event: the list is read again
    loadJobs().catch(() => {});
  };
  source.onerror = () => { live.textContent = "reconnecting…"; live.classList.remove("on"); };
  const onJob = (ev) => {
    const data = JSON.parse(ev.data);
    if (data.job && matchesFilter(data.job)) render(data.job);
  };
  source.addEventListener("created", onJob);
  source.addEventListener("status", onJob);
  source.addEventListener("progress", (ev) => {
    const d = JSON.parse(ev.data);
    const entry = jobs.get(d.job_id);
    if (!entry || entry.job.status !== "RUNNING") return;
    render({ id: d.job_id, bytes_done: d.bytes_done, bytes_total: d.bytes_total, speed: d.speed, eta: d.eta, stage: d.stage || entry.job.stage, note: d.note || null });
  });
  source.addEventListener("stage", (ev) => {
    const d = JSON.parse(ev.data);
    if (jobs.has(d.job_id)) render({ id: d.job_id, stage: d.stage });
  });
}

function matchesFilter(job) {
  const f = $("#filter").value;
  return !f || f.split(",").includes(job.status) || jobs.has(job.id);
}

// -- new job --------------------------------------------------------------------------
function fillQualities() {
  const select = $("#quality");
  select.replaceChildren(...QUALITIES[$("#type").value].map((q) => new Option(q, q)));
}
$("#type").addEventListener("change", fillQualities);

function flash(text, isError = false) {
  const msg = $("#form-msg");
  msg.textContent = text;
  msg.classList.toggle("error", isError);
}

$("#job-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const body = { url: $("#url").value.trim(), type: $("#type").value, quality: $("#quality").value };
  $("#submit").disabled = true;
  try {
    const res = await api("/api/jobs", { method: "POST", body: JSON.stringify(body), withStatus: true });
    render(res.body);
    flash(res.status === 201 ? `Added job #${res.body.id}` : `Already known: job #${res.body.id}`);
    $("#url").value = "";
  } catch (e) {
    flash(e.status === 422 ? "Please check the link and options." : e.message, true);
  } finally {
    $("#submit").disabled = false;
  }
});

// -- job detail -------------------------------------------------------------------------
async function showDetail(id) {
  const dlg = $("#detail");
  try {
    const job = await api(`/api/jobs/${id}`);
    $("#detail-title").textContent = job.title || `Job #${job.id}`;
    const posted = job.message_date && new Date(job.message_date).toLocaleString();
    const meta = [["Status", job.status], ["Link", job.url], ["Type", `${job.job_type} · ${job.quality}`],
      ["Performer", job.performer], ["Chat", job.chat],
      ["Message", job.message_id != null ? `#${job.message_id}${posted ? ` · ${posted}` : ""}` : null],
      ["Caption", job.caption],
      ["Attempts", `${job.attempts} / ${job.max_attempts}`], ["Size", bytes(job.file_size)],
      ["Created", job.created_at && new Date(job.created_at).toLocaleString()]];
    $("#detail-meta").replaceChildren(...meta.filter(([, v]) => v).flatMap(([k, v]) => {
      const dt = document.createElement("dt"); dt.textContent = k;
      const dd = document.createElement("dd"); dd.textContent = v;
      return [dt, dd];
    }));
    const err = $("#detail-error");
    err.hidden = !job.error_message;
    err.textContent = job.error_type ? `${job.error_type}: ${job.error_message}` : job.error_message || "";
    $("#detail-events").replaceChildren(...job.events.map((e) => {
      const li = document.createElement("li");
      const time = document.createElement("time");
      time.textContent = new Date(e.at).toLocaleTimeString();
      const what = document.createElement("span");
      const extra = e.data.to ? ` → ${e.data.to}` : e.data.message ? `: ${e.data.message}` : "";
      what.textContent = `${e.type.toLowerCase().replaceAll("_", " ")}${extra}`;
      li.append(time, what);
      return li;
    }));
    dlg.showModal();
  } catch (e) {
    flash(e.message, true);
  }
}
$("#detail-close").addEventListener("click", () => $("#detail").close());

// -- library ----------------------------------------------------------------------------
let searchGen = 0;
$("#lib-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const gen = ++searchGen;
  const params = new URLSearchParams({ q: $("#lib-q").value.trim() });
  if ($("#lib-fuzzy").checked) params.set("fuzzy", "true");
  if ($("#lib-format").value) params.set("format", $("#lib-format").value);
  if ($("#lib-chat").value.trim()) params.set("chat", $("#lib-chat").value.trim());
  const msg = $("#lib-msg");
  try {
    const { items } = await api(`/api/library?${params}`);
    if (gen !== searchGen) return; // the answer to an older search
    msg.textContent = items.length ? `${items.length} found` : "Nothing found.";
    msg.classList.remove("error");
    $("#lib-results").replaceChildren(...items.map((item) => {
      const li = document.createElement("li");
      const a = document.createElement("a");
      a.href = withKey(item.file_url);
      a.textContent = item.title || item.name;
      const small = document.createElement("span");
      small.className = "muted small";
      small.textContent = [item.performer, item.file_format, bytes(item.size)].filter(Boolean).join(" · ");
      li.append(a, small);
      return li;
    }));
  } catch (e) {
    if (gen !== searchGen) return;
    msg.textContent = e.message;
    msg.classList.add("error");
  }
});

// -- following ---------------------------------------------------------------------------
function followItem(f) {
  const li = document.createElement("li");
  const title = document.createElement("span");
  title.textContent = `#${f.id} ${f.title || f.url}`;
  const small = document.createElement("span");
  small.className = "muted small";
  const last = f.last_check_at ? new Date(f.last_check_at).toLocaleString() : "not yet";
  const state = f.paused ? "paused" : f.last_error ? `failing: ${f.last_error}` : "ok";
  small.textContent = ` ${f.job_type} · last check ${last} · ${f.items_queued} item(s) · ${state}`;
  const pause = document.createElement("button");
  pause.className = "link";
  pause.textContent = f.paused ? "Resume" : "Pause";
  pause.addEventListener("click", () => changeFollow(f.id, { paused: !f.paused }));
  const check = document.createElement("button");
  check.className = "link";
  check.textContent = "Check now";
  check.addEventListener("click", () => checkFollow(f.id));
  const remove = document.createElement("button");
  remove.className = "link";
  remove.textContent = "Remove";
  remove.addEventListener("click", () => removeFollow(f.id));
  li.append(title, small, pause, check, remove);
  return li;
}

let followsGen = 0;
async function loadFollows() {
  const gen = ++followsGen;
  const { follows } = await api("/api/follows");
  if (gen !== followsGen) return; // a later read (after a change) answers for the list
  $("#follows").replaceChildren(...follows.map(followItem));
  $("#follows-empty").hidden = follows.length > 0;
}

function followMsg(text, isError = false) {
  const msg = $("#follow-msg");
  msg.textContent = text;
  msg.classList.toggle("error", isError);
}

async function changeFollow(id, change) {
  try {
    await api(`/api/follows/${id}`, { method: "PATCH", body: JSON.stringify(change) });
    await loadFollows();
  } catch (e) { followMsg(e.message, true); }
}

async function checkFollow(id) {
  try {
    const r = await api(`/api/follows/${id}/check`, { method: "POST" });
    followMsg(r.error ? `Check failed: ${r.error}` : `${r.new} new item(s) queued.`, !!r.error);
    await loadFollows();
  } catch (e) { followMsg(e.message, true); }
}

async function removeFollow(id) {
  try {
    await api(`/api/follows/${id}`, { method: "DELETE" });
    await loadFollows();
  } catch (e) { followMsg(e.message, true); }
}

$("#follow-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const body = {
    url: $("#follow-url").value.trim(),
    type: $("#follow-type").value,
    every: $("#follow-every").value,
  };
  try {
    const f = await api("/api/follows", { method: "POST", body: JSON.stringify(body) });
    followMsg(`Following #${f.id}: ${f.title || f.url}`);
    $("#follow-url").value = "";
    await loadFollows();
  } catch (e) { followMsg(e.message, true); }
});

// -- start ------------------------------------------------------------------------------
async function boot() {
  try {
    await loadJobs();
    loadFollows().catch((e) => followMsg(e.message, true));
    connect();
  } catch (e) {
    if (e.status === 403) flash("This server only serves local clients (no API key is configured).", true);
    else if (e.status !== 401) flash(e.message, true);
  }
}

fillQualities();
boot();
