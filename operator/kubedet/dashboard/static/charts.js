// Pictures drawn in the page as SVG: line charts (loss, mAP), horizontal bars (AP per class, class
// histograms) and the lineage graph. No library: the package ships these few hundred lines and nothing
// is fetched from the internet.

const SVG = "http://www.w3.org/2000/svg";
const PALETTE = ["#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#0891b2", "#be185d", "#4b5563"];

export function svg(tag, attributes = {}, text = null) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
  if (text !== null) node.textContent = text;
  return node;
}

function ticks(low, high, count = 5) {
  if (!(high > low)) return [low];
  const step = (high - low) / (count - 1);
  return Array.from({ length: count }, (_, i) => low + i * step);
}

function format(value, span = null) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  // Ticks of a narrow range need more digits, or neighbours print alike (2.13, 2.13, 2.13).
  if (span !== null && span > 0 && span < 1) return value.toFixed(Math.min(6, 2 - Math.floor(Math.log10(span))));
  const size = Math.abs(value);
  if (size >= 100) return value.toFixed(0);
  if (size >= 1) return value.toFixed(2);
  return value.toFixed(3);
}

// series: [{name, points: [[x, y], ...]}]; options: {title, xLabel, yMin, yMax, testid}
export function lineChart(series, options = {}) {
  const width = 560, height = 260, left = 52, right = 12, top = 28, bottom = 36;
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", "data-testid": options.testid || "line-chart" });
  root.append(svg("text", { x: left, y: 16, class: "chart-title" }, options.title || ""));
  const points = series.flatMap((s) => s.points).filter(([, y]) => y !== null && Number.isFinite(y));
  if (points.length === 0) {
    root.append(svg("text", { x: width / 2, y: height / 2, "text-anchor": "middle", class: "muted" }, "no points yet"));
    return root;
  }
  const xs = points.map(([x]) => x), ys = points.map(([, y]) => y);
  const xMin = Math.min(...xs), xMax = Math.max(...xs, xMin + 1);
  const yMin = options.yMin ?? Math.min(...ys), yMax = options.yMax ?? Math.max(...ys, yMin + 1e-6);
  const sx = (x) => left + ((x - xMin) / (xMax - xMin)) * (width - left - right);
  const sy = (y) => top + (1 - (y - yMin) / (yMax - yMin || 1)) * (height - top - bottom);
  for (const y of ticks(yMin, yMax)) {
    root.append(svg("line", { x1: left, x2: width - right, y1: sy(y), y2: sy(y), class: "grid" }));
    root.append(svg("text", { x: left - 6, y: sy(y) + 4, "text-anchor": "end", class: "tick" }, format(y, yMax - yMin)));
  }
  const xTicks = [...new Set(ticks(xMin, xMax, Math.min(6, xMax - xMin + 1)).map(Math.round))];
  for (const x of xTicks) {
    root.append(svg("text", { x: sx(x), y: height - bottom + 16, "text-anchor": "middle", class: "tick" }, String(x)));
  }
  root.append(svg("text", { x: (left + width - right) / 2, y: height - 4, "text-anchor": "middle", class: "tick" }, options.xLabel || "epoch"));
  series.forEach((s, i) => {
    const valid = s.points.filter(([, y]) => y !== null && Number.isFinite(y));
    if (valid.length === 0) return;
    const colour = PALETTE[i % PALETTE.length];
    const d = valid.map(([x, y], j) => `${j ? "L" : "M"}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(" ");
    root.append(svg("path", { d, fill: "none", stroke: colour, "stroke-width": 2, "data-series": s.name }));
    for (const [x, y] of valid) root.append(svg("circle", { cx: sx(x), cy: sy(y), r: 2.5, fill: colour }));
    // Legends sit in the title row, right-aligned, one after the other: never over the curves.
    root.append(svg("text", { x: width - right - 90 * (series.length - 1 - i), y: 16, "text-anchor": "end", fill: colour, class: "legend" }, `— ${s.name}`));
  });
  return root;
}

// rows: [{label, value, note}] drawn as horizontal bars scaled to max (default: the largest value).
export function barChart(rows, options = {}) {
  const rowHeight = 22, left = 150, right = 60, width = 560;
  const height = 30 + rows.length * rowHeight;
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", "data-testid": options.testid || "bar-chart" });
  root.append(svg("text", { x: 0, y: 16, class: "chart-title" }, options.title || ""));
  const max = options.max ?? Math.max(...rows.map((r) => r.value ?? 0), 1e-9);
  rows.forEach((row, i) => {
    const y = 26 + i * rowHeight;
    const length = row.value === null || row.value === undefined ? 0 : (row.value / max) * (width - left - right);
    const bar = svg("g", { "data-testid": "bar", "data-label": row.label });
    bar.append(svg("text", { x: left - 8, y: y + 14, "text-anchor": "end", class: "tick" }, row.label));
    bar.append(svg("rect", { x: left, y: y + 3, width: Math.max(length, 0), height: rowHeight - 8, fill: row.colour || PALETTE[0], rx: 2 }));
    bar.append(svg("text", { x: left + length + 6, y: y + 14, class: "tick" }, row.note ?? format(row.value)));
    root.append(bar);
  });
  return root;
}

// graph: {nodes: [{id, kind, label, column, row, published}], edges: [{from, to, label}]}
export function lineageGraph(graph, linkTo) {
  const columnWidth = 215, rowHeight = 56, boxWidth = 185, boxHeight = 34;
  const columns = Math.max(...graph.nodes.map((n) => n.column), 0) + 1;
  const rows = Math.max(...graph.nodes.map((n) => n.row), 0) + 1;
  const width = columns * columnWidth + 20, height = rows * rowHeight + 20;
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "lineage", "data-testid": "lineage-graph", width, height });
  const at = new Map(graph.nodes.map((n) => [n.id, { x: 10 + n.column * columnWidth, y: 10 + n.row * rowHeight }]));
  const defs = svg("defs");
  const marker = svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto" });
  marker.append(svg("path", { d: "M0,0 L10,5 L0,10 z", fill: "#64748b" }));
  defs.append(marker);
  root.append(defs);
  for (const edge of graph.edges) {
    const from = at.get(edge.from), to = at.get(edge.to);
    if (!from || !to) continue;
    const x1 = from.x + boxWidth, y1 = from.y + boxHeight / 2, x2 = to.x, y2 = to.y + boxHeight / 2;
    const mid = (x1 + x2) / 2;
    const g = svg("g", { "data-testid": "lineage-edge", "data-from": edge.from, "data-to": edge.to });
    g.append(svg("path", { d: `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}`, class: "edge", "marker-end": "url(#arrow)" }));
    if (edge.label && edge.label !== "trained on") g.append(svg("text", { x: mid, y: (y1 + y2) / 2 - 4, "text-anchor": "middle", class: "edge-label" }, edge.label));
    root.append(g);
  }
  for (const node of graph.nodes) {
    const { x, y } = at.get(node.id);
    const g = svg("g", { class: `node ${node.kind}${node.published ? " published" : ""}`, "data-testid": "lineage-node", "data-id": node.id });
    g.append(svg("rect", { x, y, width: boxWidth, height: boxHeight, rx: node.kind === "dataset" ? 16 : 4 }));
    const full = (node.published ? "★ " : "") + node.label;
    const label = full.length > 26 ? `${full.slice(0, 25)}…` : full;
    const text = svg("text", { x: x + boxWidth / 2, y: y + boxHeight / 2 + 4, "text-anchor": "middle" }, label);
    const title = svg("title", {}, `${node.kind} ${node.label}${node.published ? " (published)" : ""}`);
    g.append(text, title);
    if (node.kind === "model" && linkTo) {
      const link = svg("a", { href: linkTo(node) });
      link.append(g);
      root.append(link);
    } else {
      root.append(g);
    }
  }
  return root;
}
