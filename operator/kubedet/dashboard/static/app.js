// The dashboard's pages: a hash router and one render function per page. Live data arrives as
// server-sent events (EventSource) that the server feeds from Kubernetes watches; the page never polls.

import { barChart, lineChart, lineageGraph } from "./charts.js";

const page = document.getElementById("page");
let closers = [];  // EventSources of the page on screen, closed when the route changes

// ---------- small helpers ----------

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const number = (v, digits = 3) => (v === null || v === undefined ? "–" : Number(v).toFixed(digits));
const percent = (v) => (v === null || v === undefined ? "–" : `${(100 * v).toFixed(1)}`);

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const s = Math.round(seconds), h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
  return h ? `${h}h ${m}m` : m ? `${m}m ${s % 60}s` : `${s}s`;
}

function when(timestamp) {
  return timestamp ? new Date(timestamp).toLocaleString() : "–";
}

function phaseBadge(phase, extra = "") {
  return el("span", { class: `phase phase-${(phase || "Pending").toLowerCase()}`, "data-testid": "phase" }, phase || "Pending", extra);
}

function notice(text, kind = "error") {
  const box = document.getElementById("notice");
  box.textContent = text;
  box.className = kind;
  box.hidden = !text;
}

function refusal(text, testid = "refusal") {
  return el("p", { class: "refusal", "data-testid": testid }, text);
}

async function getJSON(url) {
  const response = await fetch(url, { credentials: "same-origin" });
  const body = await response.json().catch(() => ({ error: `${response.status} ${response.statusText}` }));
  if (!response.ok) throw new Error(body.error || `${response.status}`);
  return body;
}

async function postJSON(url, body) {
  const response = await fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  const answer = await response.json().catch(async () => ({ error: await response.text() }));
  if (!response.ok) throw new Error(answer.error || `${response.status}`);
  return answer;
}

function subscribe(url, handlers) {
  const source = new EventSource(url);
  for (const [event, handler] of Object.entries(handlers)) {
    source.addEventListener(event, (message) => handler(JSON.parse(message.data)));
  }
  closers.push(() => source.close());
  return source;
}

const permissionCache = new Map();
async function permissionsIn(namespace) {
  if (!permissionCache.has(namespace)) {
    permissionCache.set(namespace, getJSON(`/api/permissions/${encodeURIComponent(namespace)}`));
    setTimeout(() => permissionCache.delete(namespace), 10000);
  }
  return permissionCache.get(namespace);
}

function progressBar(progress, phase) {
  const value = progress?.percent ?? (phase === "Succeeded" ? 100 : 0);
  const epoch = progress?.epoch != null && progress?.totalEpochs ? `epoch ${progress.epoch}/${progress.totalEpochs}` : "";
  const eta = progress?.etaSeconds != null && phase === "Running" ? `ETA ${duration(progress.etaSeconds)}` : "";
  return el("div", { class: "progress", "data-testid": "progress", "data-percent": value },
    el("div", { class: "progress-fill", style: `width: ${value}%` }),
    el("span", { class: "progress-text" }, [`${value}%`, epoch, eta].filter(Boolean).join(" · ")));
}

// ---------- runs ----------

function runsPage() {
  const rows = new Map();  // uid -> row
  const filters = { phase: "", dataset: "" };
  const phaseSelect = el("select", { "data-testid": "filter-phase", onchange: (e) => { filters.phase = e.target.value; draw(); } },
    ["", "Pending", "Running", "Succeeded", "Failed"].map((p) => el("option", { value: p }, p || "every phase")));
  const datasetSelect = el("select", { "data-testid": "filter-dataset", onchange: (e) => { filters.dataset = e.target.value; draw(); } });
  const body = el("tbody");
  const status = el("p", { class: "muted", "data-testid": "runs-status" }, "connecting…");
  page.replaceChildren(
    el("h1", {}, "Training runs"),
    el("div", { class: "toolbar" }, el("label", {}, "Phase ", phaseSelect), el("label", {}, "Dataset ", datasetSelect), status),
    el("table", { class: "runs", "data-testid": "runs-table" },
      el("thead", {}, el("tr", {}, ["Run", "Namespace", "Phase", "Dataset", "Base model", "Progress", "Loss", "mAP", "Created"].map((h) => el("th", {}, h)))),
      body));

  function draw() {
    const datasets = [...new Set([...rows.values()].map((r) => r.dataset).filter(Boolean))].sort();
    const chosen = filters.dataset;
    datasetSelect.replaceChildren(el("option", { value: "" }, "every dataset"), ...datasets.map((d) => el("option", { value: d, selected: d === chosen }, d)));
    const shown = [...rows.values()]
      .filter((r) => !filters.phase || r.phase === filters.phase)
      .filter((r) => !filters.dataset || r.dataset === filters.dataset)
      .sort((a, b) => (b.created || "").localeCompare(a.created || ""));
    body.replaceChildren(...shown.map((r) => el("tr", { "data-testid": "run-row", "data-run": r.name, "data-namespace": r.namespace },
      el("td", {}, el("a", { href: `#/runs/${r.namespace}/${r.name}` }, r.name)),
      el("td", {}, r.namespace),
      el("td", { title: r.message || "" }, phaseBadge(r.phase, r.suspended ? " (suspended)" : ""), r.reason ? el("div", { class: "reason" }, r.reason) : null),
      el("td", {}, r.dataset),
      el("td", {}, r.baseModel),
      el("td", {}, progressBar(r.progress, r.phase)),
      el("td", { "data-testid": "loss" }, r.statistics ? number(r.statistics.loss, 4) : el("span", { class: "muted", title: "needs the run statistics role" }, "hidden")),
      el("td", { "data-testid": "map" }, r.statistics ? number(r.statistics.bestMAP) : el("span", { class: "muted", title: "needs the run statistics role" }, "hidden")),
      el("td", {}, when(r.created)))));
    if (shown.length === 0) body.replaceChildren(el("tr", {}, el("td", { colspan: 9, class: "muted" }, "no runs")));
  }

  subscribe("/api/runs/stream", {
    snapshot: ({ namespace, rows: fresh }) => {
      for (const [uid, row] of rows) if (namespace === null || row.namespace === namespace) rows.delete(uid);
      for (const row of fresh) rows.set(row.uid, row);
      status.textContent = `live · ${rows.size} run${rows.size === 1 ? "" : "s"}`;
      draw();
    },
    change: ({ type, row }) => {
      if (type === "DELETED") rows.delete(row.uid); else rows.set(row.uid, row);
      status.textContent = `live · ${rows.size} run${rows.size === 1 ? "" : "s"}`;
      draw();
    },
    refused: ({ message }) => { status.textContent = ""; page.append(refusal(message)); },
  });
}

// ---------- one run ----------

function section(title, testid) {
  const content = el("div", { class: "section-body" });
  const node = el("section", { "data-testid": testid }, el("h2", {}, title), content);
  return { node, content };
}

function runPage(namespace, name) {
  const header = el("div", { class: "run-header" });
  const actions = el("div", { class: "actions" });
  const parts = {
    progress: section("Progress", "run-progress"),
    timeline: section("Conditions", "run-conditions"),
    curves: section("Loss and mAP", "run-curves"),
    perClass: section("AP per class (best epoch)", "run-per-class"),
    samples: section("Validation samples", "run-samples"),
    attempts: section("Attempts and disruptions", "run-attempts"),
    error: section("Failure", "run-error"),
    logs: section("Live log", "run-logs"),
  };
  page.replaceChildren(el("p", {}, el("a", { href: "#/runs" }, "← all runs")), header, actions,
    ...Object.values(parts).map((p) => p.node));
  const live = { epochs: new Map() };  // epoch -> {loss, map}, from progress while the run trains
  let samplesFor = null;
  let logSource = null;

  function drawLogs(detail) {
    if (detail.phase !== "Running") {
      if (!logSource) parts.logs.content.replaceChildren(el("p", { class: "muted" }, "no live pod (the run is not running)"));
      return;
    }
    if (parts.logs.content.dataset.started) return;
    parts.logs.content.dataset.started = "yes";
    const pre = el("pre", { class: "log", "data-testid": "log" });
    const follow = el("button", { "data-testid": "follow-logs", onclick: () => {
      follow.disabled = true;
      logSource = subscribe(`/api/runs/${namespace}/${name}/logs`, {
        pod: ({ name: pod }) => pre.append(`— pod ${pod} —\n`),
        line: (line) => { pre.append(`${line}\n`); pre.scrollTop = pre.scrollHeight; },
        end: ({ message }) => { pre.append(`— ${message} —\n`); logSource.close(); },
        refused: ({ message }) => pre.append(`— ${message} —\n`),
      });
    } }, "Follow the trainer's log");
    parts.logs.content.replaceChildren(follow, pre);
  }

  async function drawActions(detail) {
    const allowed = await permissionsIn(namespace);
    const message = el("span", { class: "action-message", "data-testid": "action-message" });
    const suspend = !detail.suspended;
    if (suspend && (detail.phase === "Succeeded" || detail.phase === "Failed")) {
      actions.replaceChildren();  // nothing left to pause
      return;
    }
    const button = el("button", {
      "data-testid": suspend ? "suspend" : "resume",
      disabled: !allowed.allowed.suspendRuns,
      title: allowed.refusals.suspendRuns || "",
      onclick: async () => {
        button.disabled = true;
        try {
          await postJSON(`/api/runs/${namespace}/${name}/suspend`, { suspend });
          message.textContent = suspend ? "suspended" : "resumed";
        } catch (error) {
          message.textContent = error.message;
          message.classList.add("error");
          button.disabled = false;
        }
      },
    }, suspend ? "Suspend" : "Resume");
    actions.replaceChildren(button, message);
  }

  function draw(detail) {
    header.replaceChildren(
      el("h1", {}, detail.name, " ", phaseBadge(detail.phase, detail.suspended ? " (suspended)" : "")),
      el("dl", { class: "facts" },
        el("dt", {}, "Namespace"), el("dd", {}, detail.namespace),
        el("dt", {}, "Dataset"), el("dd", {}, detail.dataset),
        el("dt", {}, "Base model"), el("dd", {}, detail.baseModel),
        el("dt", {}, "Produced model"), el("dd", { "data-testid": "produced-model" }, detail.model || "–"),
        el("dt", {}, "Started"), el("dd", {}, when(detail.startTime)),
        el("dt", {}, "Finished"), el("dd", {}, when(detail.completionTime)),
        el("dt", {}, "Queue"), el("dd", {}, detail.queueName || "–"),
        el("dt", {}, "Epochs · batch · lr"), el("dd", {}, [detail.hyperparameters.epochs, detail.hyperparameters.batchSize, detail.hyperparameters.learningRate].map((v) => v ?? "the config's").join(" · "))));
    drawActions(detail);

    const stats = detail.statistics;
    parts.progress.content.replaceChildren(progressBar(detail.progress, detail.phase),
      stats ? el("p", { "data-testid": "live-figures" }, `loss ${number(stats.loss, 4)} · best mAP ${number(stats.bestMAP)}${stats.bestEpoch ? ` (epoch ${stats.bestEpoch})` : ""}`)
        : refusal(detail.refusals.runStatistics || "", "statistics-refusal"));

    parts.timeline.content.replaceChildren(el("ol", { class: "timeline" }, detail.conditions.map((c) =>
      el("li", { class: `condition status-${(c.status || "").toLowerCase()}`, "data-testid": "condition", "data-type": c.type },
        el("span", { class: "when" }, when(c.time)),
        el("strong", {}, `${c.type} = ${c.status}`), c.reason ? ` (${c.reason})` : "",
        c.message ? el("div", { class: "message" }, c.message) : null))));

    const model = detail.trainedModel;
    const modelStats = model?.statistics;
    if (stats && detail.progress?.epoch && stats.loss != null) live.epochs.set(detail.progress.epoch, { loss: stats.loss, map: stats.bestMAP });
    const history = modelStats?.history;
    if (!stats || (model && !modelStats)) {
      const text = detail.refusals.modelStatistics || detail.refusals.runStatistics;
      parts.curves.content.replaceChildren(refusal(text, "statistics-refusal"));
      parts.perClass.content.replaceChildren(refusal(text, "statistics-refusal"));
    } else if (history?.epochs?.length) {
      const pairs = (values) => history.epochs.map((e, i) => [e, values?.[i] ?? null]);
      parts.curves.content.replaceChildren(
        lineChart([{ name: "loss", points: pairs(history.loss) }], { title: "Training loss", testid: "loss-chart" }),
        lineChart([{ name: "bbox mAP", points: pairs(history.bboxMAP) }], { title: "Validation mAP", yMin: 0, testid: "map-chart" }));
    } else {
      const epochs = [...live.epochs.keys()].sort((a, b) => a - b);
      parts.curves.content.replaceChildren(
        el("p", { class: "muted" }, "while the run trains: the figures reported since this page opened"),
        lineChart([{ name: "loss", points: epochs.map((e) => [e, live.epochs.get(e).loss]) }], { title: "Training loss", testid: "loss-chart" }),
        lineChart([{ name: "best mAP", points: epochs.map((e) => [e, live.epochs.get(e).map ?? null]) }], { title: "Best validation mAP", yMin: 0, testid: "map-chart" }));
    }
    if (modelStats?.perClassAP?.length) {
      parts.perClass.content.replaceChildren(barChart(modelStats.perClassAP.map((r) => ({ label: r.class, value: r.ap })), { max: 1, testid: "per-class-chart" }),
        el("table", { class: "compact", "data-testid": "per-class-table" }, modelStats.perClassAP.map((r) => el("tr", { "data-testid": "per-class-row" }, el("td", {}, r.class), el("td", {}, number(r.ap))))));
    } else if (stats && (!model || modelStats)) {
      parts.perClass.content.replaceChildren(el("p", { class: "muted" }, "known once the run has produced its model"));
    }

    if (model && modelStats && samplesFor !== model.name) {
      samplesFor = model.name;
      const url = `/api/models/${namespace}/${model.name}/samples.png`;
      const img = el("img", { src: url, alt: "validation images: true boxes green, predicted red", class: "samples", "data-testid": "samples-image" });
      img.addEventListener("error", async () => {
        const why = await getJSON(url).then(() => "", (error) => error.message);
        parts.samples.content.replaceChildren(el("p", { class: "muted", "data-testid": "samples-missing" }, why));
      });
      parts.samples.content.replaceChildren(img);
    } else if (model && !modelStats) {
      parts.samples.content.replaceChildren(refusal(detail.refusals.modelStatistics || "", "statistics-refusal"));
    } else if (!model) {
      parts.samples.content.replaceChildren(el("p", { class: "muted" }, "drawn by the trainer when the run succeeds"));
    }

    if (detail.attempts) {
      const compute = detail.compute || {};
      parts.attempts.content.replaceChildren(
        el("p", { "data-testid": "compute" }, `GPU time ${duration(compute.gpuSeconds)} (lost ${duration(compute.gpuSecondsLost)}) · pod time ${duration(compute.podSeconds)} (lost ${duration(compute.podSecondsLost)}) · preemptions ${detail.preemptions ?? 0}`),
        el("table", { class: "compact", "data-testid": "attempts-table" },
          el("tr", {}, ["#", "Pod", "Started", "Ended", "Outcome", "Resumed from", "Reached", "Time", "Lost"].map((h) => el("th", {}, h))),
          detail.attempts.map((a) => el("tr", { "data-testid": "attempt-row" },
            el("td", {}, a.number), el("td", {}, a.podName), el("td", {}, when(a.startTime)), el("td", {}, when(a.endTime)),
            el("td", {}, a.outcome || "running"), el("td", {}, a.resumedFromEpoch ?? "–"), el("td", {}, a.reachedEpoch ?? "–"),
            el("td", {}, duration(a.seconds)), el("td", {}, duration(a.secondsLost))))));
    } else {
      parts.attempts.content.replaceChildren(refusal(detail.refusals.runStatistics || "", "statistics-refusal"));
    }

    const error = detail.error;
    parts.error.node.hidden = !error;
    if (error) {
      parts.error.content.replaceChildren(
        el("p", { "data-testid": "error-reason" }, el("strong", {}, error.reason || "Failed"), error.exitCode ? ` · exit code ${error.exitCode}` : "", error.podName ? ` · pod ${error.podName}` : ""),
        el("p", { "data-testid": "error-message" }, error.message || ""),
        el("p", { class: "muted" }, `from ConfigMap ${error.name}`),
        el("pre", { class: "log", "data-testid": "error-log" }, error.logTail || "(no log)"));
    }
    drawLogs(detail);
  }

  subscribe(`/api/runs/${namespace}/${name}/stream`, {
    run: draw,
    gone: ({ message }) => header.replaceChildren(refusal(message, "gone")),
    refused: ({ message }) => header.replaceChildren(refusal(message)),
  });
}

// ---------- models ----------

async function modelsPage() {
  page.replaceChildren(el("h1", {}, "Trained models"), el("p", { class: "muted" }, "loading…"));
  let data;
  try { data = await getJSON("/api/models"); } catch (error) { page.replaceChildren(el("h1", {}, "Trained models"), refusal(error.message)); return; }
  const picked = [];
  const compareLink = el("a", { class: "button disabled", "data-testid": "compare-link" }, "Compare the two selected");
  const message = el("span", { class: "action-message", "data-testid": "action-message" });
  const graphs = Object.entries(data.lineage).map(([namespace, graph]) => el("div", { class: "graph" },
    el("h2", {}, `Lineage in ${namespace}`),
    lineageGraph(graph, (node) => `#/models/${namespace}/${node.label}`)));
  const rows = await Promise.all(data.models.map(async (m) => {
    const allowed = await permissionsIn(m.namespace);
    const box = el("input", { type: "checkbox", "data-testid": "pick", onchange: (e) => {
      const key = `${m.namespace}/${m.name}`;
      if (e.target.checked) picked.push(key); else picked.splice(picked.indexOf(key), 1);
      while (picked.length > 2) picked.shift();
      const [a, b] = picked.map((p) => p.split("/"));
      const ok = picked.length === 2 && a[0] === b[0];
      compareLink.classList.toggle("disabled", !ok);
      compareLink.href = ok ? `#/compare/${a[0]}/${a[1]}/${b[1]}` : "";
    } });
    const publish = el("button", {
      "data-testid": m.published ? "unpublish" : "publish",
      disabled: !allowed.allowed.publishModels,
      title: allowed.refusals.publishModels || "",
      onclick: async () => {
        message.classList.remove("error");
        try {
          const { model } = await postJSON(`/api/models/${m.namespace}/${m.name}/published`, { published: !m.published });
          message.textContent = `${model.name} ${model.published ? "published" : "unpublished"}`;
          m.published = model.published;
          publish.textContent = m.published ? "Unpublish" : "Publish";
          publish.dataset.testid = m.published ? "unpublish" : "publish";
          publishedCell.textContent = m.published ? "yes" : "no";
        } catch (error) {
          message.textContent = error.message;
          message.classList.add("error");
        }
      },
    }, m.published ? "Unpublish" : "Publish");
    const publishedCell = el("td", { "data-testid": "published" }, m.published ? "yes" : "no");
    return el("tr", { "data-testid": "model-row", "data-model": m.name },
      el("td", {}, box), el("td", {}, el("a", { href: `#/models/${m.namespace}/${m.name}` }, m.name)), el("td", {}, m.namespace),
      el("td", {}, phaseBadge(m.phase)), publishedCell,
      el("td", { "data-testid": "model-map" }, m.statistics ? number(m.bboxMAP) : el("span", { class: "muted", title: allowed.refusals.modelStatistics || "" }, "hidden")),
      el("td", {}, m.baseModel || (m.imported ? "(imported)" : "–")), el("td", {}, m.dataset || "–"), el("td", {}, m.trainingRun || "–"),
      el("td", {}, m.gate ? `${m.gate.verdict}` : m.modelLine || "–"),
      el("td", {}, publish));
  }));
  page.replaceChildren(el("h1", {}, "Trained models"), ...graphs,
    el("div", { class: "toolbar" }, compareLink, message),
    el("table", { "data-testid": "models-table" },
      el("thead", {}, el("tr", {}, ["", "Model", "Namespace", "Phase", "Published", "mAP", "Base", "Dataset", "Run", "Gate / line", ""].map((h) => el("th", {}, h)))),
      el("tbody", {}, rows)));
}

function modelPage(namespace, name) {
  // A model's own page is the comparison with its base, or with itself when it has none.
  getJSON("/api/models").then((data) => {
    const model = data.models.find((m) => m.namespace === namespace && m.name === name);
    if (!model) { page.replaceChildren(refusal(`trainedmodel ${name} not found in namespace ${namespace}`)); return; }
    comparePage(namespace, model.baseModel && data.models.some((m) => m.name === model.baseModel && m.namespace === namespace) ? model.baseModel : name, name);
  }, (error) => page.replaceChildren(refusal(error.message)));
}

async function comparePage(namespace, a, b) {
  page.replaceChildren(el("p", { class: "muted" }, "loading…"));
  let data;
  try { data = await getJSON(`/api/compare/${namespace}/${a}/${b}`); } catch (error) { page.replaceChildren(refusal(error.message)); return; }
  const card = (m) => el("div", { class: "card", "data-testid": "model-card", "data-model": m.name },
    el("h2", {}, el("a", { href: `#/models/${namespace}/${m.name}` }, m.name), " ", phaseBadge(m.phase), m.published ? el("span", { class: "tag" }, "published") : null),
    el("dl", { class: "facts" },
      el("dt", {}, "Base"), el("dd", {}, m.baseModel || (m.imported ? "(imported)" : "–")),
      el("dt", {}, "Dataset"), el("dd", {}, m.dataset || "–"),
      el("dt", {}, "Run"), el("dd", {}, m.trainingRun ? el("a", { href: `#/runs/${namespace}/${m.trainingRun}` }, m.trainingRun) : "–"),
      el("dt", {}, "Line"), el("dd", {}, m.modelLine || "–"),
      el("dt", {}, "Gate"), el("dd", {}, m.gate ? `${m.gate.verdict}: ${m.gate.message || ""}` : "–"),
      el("dt", {}, "Replaces"), el("dd", {}, m.replaces || "–")),
    m.statistics ? el("table", { class: "compact" }, Object.entries(m.statistics.metrics).map(([k, v]) => el("tr", {}, el("td", {}, k), el("td", {}, number(v))))) : null);
  const sameModel = a === b;
  const parts = [el("h1", {}, sameModel ? `Model ${b}` : `${b} against ${a}`), el("div", { class: "cards" }, sameModel ? card(data.b) : [card(data.a), card(data.b)])];
  if (data.refusals.modelStatistics) parts.push(refusal(data.refusals.modelStatistics, "statistics-refusal"));
  if (data.perClass.length) {
    parts.push(el("h2", {}, "AP per class on their validation splits"),
      el("table", { "data-testid": "compare-table" },
        el("tr", {}, el("th", {}, "Class"), sameModel ? null : el("th", {}, a), el("th", {}, b), sameModel ? null : el("th", {}, "Change")),
        data.perClass.map((r) => el("tr", { "data-testid": "compare-row", "data-class": r.class },
          el("td", {}, r.class), sameModel ? null : el("td", {}, number(r.a)), el("td", {}, number(r.b)),
          sameModel ? null : el("td", { class: r.delta > 0 ? "better" : r.delta < 0 ? "worse" : "" }, r.delta == null ? "–" : `${r.delta > 0 ? "+" : ""}${number(r.delta)}`)))),
      barChart(data.perClass.flatMap((r) => sameModel ? [{ label: r.class, value: r.b }] : [{ label: `${r.class} · ${a}`, value: r.a, colour: "#94a3b8" }, { label: `${r.class} · ${b}`, value: r.b }]), { max: 1, testid: "compare-chart" }));
  }
  if (data.refusals.viewEvaluations) parts.push(refusal(data.refusals.viewEvaluations, "evaluations-refusal"));
  for (const evaluation of data.evaluations) {
    parts.push(el("h2", {}, `Evaluated on ${evaluation.dataset} (${evaluation.split})`),
      el("table", { "data-testid": "evaluation-table" },
        el("tr", {}, el("th", {}, "Figure"), el("th", {}, a), el("th", {}, b), el("th", {}, "Change")),
        evaluation.summary.map((r) => el("tr", {}, el("td", {}, r.metric), el("td", {}, number(r.a)), el("td", {}, number(r.b)), el("td", {}, number(r.delta)))),
        evaluation.classes.map((r) => el("tr", { "data-testid": "evaluation-class-row" }, el("td", {}, r.class), el("td", {}, number(r.apA)), el("td", {}, number(r.apB)), el("td", {}, number(r.delta))))));
  }
  page.replaceChildren(el("p", {}, el("a", { href: "#/models" }, "← all models")), ...parts);
}

// ---------- datasets ----------

async function datasetsPage() {
  let data;
  try { data = await getJSON("/api/datasets"); } catch (error) { page.replaceChildren(el("h1", {}, "Datasets"), refusal(error.message)); return; }
  page.replaceChildren(el("h1", {}, "Datasets"), ...data.datasets.map((d) => el("section", { class: "card", "data-testid": "dataset-card", "data-dataset": d.name },
    el("h2", {}, d.name, " ", phaseBadge(d.phase), d.published ? el("span", { class: "tag" }, "published") : null),
    d.description ? el("p", {}, d.description) : null,
    el("p", { "data-testid": "dataset-counts" }, `${d.images ?? "–"} images · ${d.annotations ?? "–"} boxes · ${d.classes.length} classes · ${d.namespace} · ${d.source}`),
    d.message ? refusal(`${d.reason}: ${d.message}`, "dataset-problem") : null,
    d.splits.length ? el("table", { class: "compact", "data-testid": "splits-table" },
      el("tr", {}, el("th", {}, "Split"), el("th", {}, "Images"), el("th", {}, "Boxes")),
      d.splits.map((s) => el("tr", { "data-testid": "split-row" }, el("td", {}, s.split), el("td", {}, s.images), el("td", {}, s.annotations)))) : null,
    d.classes.some((c) => c.annotations != null) ? barChart(d.classes.map((c) => ({ label: c.name, value: c.annotations, note: String(c.annotations) })), { title: "Boxes per class", testid: "class-histogram" }) : null)));
  if (!data.datasets.length) page.append(el("p", { class: "muted" }, "no datasets"));
}

// ---------- router ----------

function route() {
  for (const close of closers) close();
  closers = [];
  notice("");
  const parts = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  for (const link of document.querySelectorAll("[data-nav]")) link.classList.toggle("active", link.dataset.nav === (parts[0] === "compare" ? "models" : parts[0] || "runs"));
  if (parts[0] === "runs" && parts.length === 3) return runPage(parts[1], parts[2]);
  if (parts[0] === "models" && parts.length === 3) return modelPage(parts[1], parts[2]);
  if (parts[0] === "models") return modelsPage();
  if (parts[0] === "compare" && parts.length === 4) return comparePage(parts[1], parts[2], parts[3]);
  if (parts[0] === "datasets") return datasetsPage();
  return runsPage();
}

getJSON("/api/context").then(
  (context) => { document.getElementById("who").textContent = `${context.user} · ${context.namespaces ? context.namespaces.join(", ") : "all namespaces"}`; },
  (error) => notice(error.message));
window.addEventListener("hashchange", route);
route();
