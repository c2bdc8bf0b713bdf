"""A self-contained HTML picture of an entity graph (``memos graph --html FILE``).

The layout is computed here (a seeded force-directed layout with numpy), so the page
shows the graph as plain SVG the moment it opens, with no network and no script
needed; a small inline script adds dragging, zoom, and highlighting of a node's
neighbours on hover. Node and edge labels are escaped, so names from memory can
never become markup.

Example:
    >>> page = render_graph_html([{"id": "a", "label": "Ada"}, {"id": "b", "label": "Boston"}],
    ...                          [{"source": "a", "target": "b", "label": "lives_in"}])
    >>> page.count('class="node"'), "Ada" in page, "lives_in" in page
    (2, True, True)
"""

from __future__ import annotations

import html
import json
from typing import Any, Mapping, Sequence

#: Fill colours by node kind (anything else gets the last one).
KIND_COLOURS = {"person": "#2b7bb9", "place": "#2a9d5b", "org": "#c2571a", "date": "#8e44ad", "thing": "#d4a017",
                "other": "#5d6d7e"}
WIDTH, HEIGHT, MARGIN = 1000, 700, 60


def layout(n: int, edges: Sequence[tuple[int, int]], *, iterations: int = 200, seed: int = 7) -> list[tuple[float, float]]:
    """Fruchterman-Reingold positions of ``n`` nodes in the page's drawing area (deterministic for a seed)."""
    import numpy as np

    if n == 0:
        return []
    rng = np.random.default_rng(seed)
    pos = rng.uniform(-1, 1, size=(n, 2))
    k = 1.6 / np.sqrt(n)
    temperature = 0.2
    e = np.asarray(edges, dtype=int).reshape(-1, 2)
    for _ in range(iterations):
        delta = pos[:, None, :] - pos[None, :, :]
        dist = np.maximum(np.linalg.norm(delta, axis=-1), 1e-3)
        disp = ((k * k / dist ** 2)[:, :, None] * delta).sum(axis=1)  # repulsion
        if len(e):
            d = pos[e[:, 0]] - pos[e[:, 1]]
            length = np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-3)
            pull = d * length / k
            np.add.at(disp, e[:, 0], -pull)
            np.add.at(disp, e[:, 1], pull)
        disp -= pos * 0.05  # gravity keeps components together
        norm = np.maximum(np.linalg.norm(disp, axis=1, keepdims=True), 1e-9)
        pos += disp / norm * np.minimum(norm, temperature)
        temperature *= 0.98
    lo, hi = pos.min(axis=0), pos.max(axis=0)
    span = np.where(hi - lo < 1e-9, 1.0, hi - lo)
    scaled = (pos - lo) / span
    xs = MARGIN + scaled[:, 0] * (WIDTH - 2 * MARGIN)
    ys = MARGIN + scaled[:, 1] * (HEIGHT - 2 * MARGIN)
    return [(round(float(x), 1), round(float(y), 1)) for x, y in zip(xs, ys)]


_SCRIPT = """
(function () {
  const svg = document.getElementById('graph');
  const edges = JSON.parse(document.getElementById('edges').textContent);
  const nodes = Array.from(document.querySelectorAll('.node'));
  const byId = Object.fromEntries(nodes.map(n => [n.dataset.id, n]));
  function place(node) {
    const x = +node.dataset.x, y = +node.dataset.y;
    node.setAttribute('transform', `translate(${x},${y})`);
    edges.forEach((e, i) => {
      const line = document.getElementById('e' + i);
      if (e[0] === node.dataset.id) { line.setAttribute('x1', x); line.setAttribute('y1', y); }
      if (e[1] === node.dataset.id) { line.setAttribute('x2', x); line.setAttribute('y2', y); }
    });
  }
  let dragged = null, view = {x: 0, y: 0, s: 1};
  function point(evt) {
    const p = svg.createSVGPoint(); p.x = evt.clientX; p.y = evt.clientY;
    return p.matrixTransform(document.getElementById('world').getScreenCTM().inverse());
  }
  nodes.forEach(n => {
    n.addEventListener('mousedown', evt => { dragged = n; evt.preventDefault(); });
    n.addEventListener('mouseenter', () => {
      const near = new Set([n.dataset.id]);
      edges.forEach(e => { if (e[0] === n.dataset.id) near.add(e[1]); if (e[1] === n.dataset.id) near.add(e[0]); });
      nodes.forEach(m => m.classList.toggle('dim', !near.has(m.dataset.id)));
    });
    n.addEventListener('mouseleave', () => nodes.forEach(m => m.classList.remove('dim')));
  });
  svg.addEventListener('mousemove', evt => {
    if (!dragged) return;
    const p = point(evt); dragged.dataset.x = p.x; dragged.dataset.y = p.y; place(dragged);
  });
  window.addEventListener('mouseup', () => { dragged = null; });
  svg.addEventListener('wheel', evt => {
    evt.preventDefault();
    view.s = Math.min(8, Math.max(0.2, view.s * (evt.deltaY < 0 ? 1.1 : 0.9)));
    document.getElementById('world').setAttribute('transform', `scale(${view.s})`);
  }, {passive: false});
  window.memosGraph = {nodes: nodes.length, edges: edges.length, byId};
})();
"""


def render_graph_html(nodes: Sequence[Mapping[str, Any]], edges: Sequence[Mapping[str, Any]], *,
                      title: str = "langchain-memos entity graph") -> str:
    """A standalone HTML page drawing ``nodes`` (``id``, ``label``, optional ``kind``, ``detail``) and
    ``edges`` (``source``, ``target``, optional ``label``, ``current``: false draws it dashed)."""
    ids = [str(n["id"]) for n in nodes]
    index = {node_id: i for i, node_id in enumerate(ids)}
    pairs = [(index[str(e["source"])], index[str(e["target"])]) for e in edges
             if str(e["source"]) in index and str(e["target"]) in index]
    drawn = [e for e in edges if str(e["source"]) in index and str(e["target"]) in index]
    positions = layout(len(ids), pairs)
    esc = html.escape
    lines = []
    for i, (edge, (a, b)) in enumerate(zip(drawn, pairs)):
        (x1, y1), (x2, y2) = positions[a], positions[b]
        dash = "" if edge.get("current", True) else ' stroke-dasharray="6 4"'
        label = esc(str(edge.get("label", "")))
        lines.append(f'<g class="edge"><line id="e{i}" x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}"{dash}/>'
                     f'<text x="{(x1 + x2) / 2:.1f}" y="{(y1 + y2) / 2:.1f}">{label}</text>'
                     f'<title>{label}</title></g>')
    circles = []
    for node, (x, y) in zip(nodes, positions):
        kind = str(node.get("kind") or "other")
        colour = KIND_COLOURS.get(kind, KIND_COLOURS["other"])
        label = esc(str(node.get("label", node["id"])))
        detail = esc(str(node.get("detail", "")))
        circles.append(f'<g class="node" data-id="{esc(str(node["id"]))}" data-x="{x}" data-y="{y}" '
                       f'transform="translate({x},{y})"><circle r="14" fill="{colour}"/>'
                       f'<text y="30">{label}</text><title>{label} ({esc(kind)}) {detail}</title></g>')
    edge_json = json.dumps([[str(e["source"]), str(e["target"])] for e in drawn]).replace("</", "<\\/")
    legend = " ".join(f'<span style="color:{c}">&#9679; {k}</span>' for k, c in KIND_COLOURS.items())
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>
<style>
body {{ margin: 0; font: 13px system-ui, sans-serif; background: #fff; color: #222; }}
header {{ padding: 8px 12px; border-bottom: 1px solid #ddd; }}
svg {{ display: block; width: 100vw; height: calc(100vh - 40px); }}
.edge line {{ stroke: #9aa5b1; stroke-width: 1.6; }}
.edge text {{ fill: #7b8794; font-size: 10px; text-anchor: middle; }}
.node {{ cursor: grab; }}
.node circle {{ stroke: #fff; stroke-width: 2; }}
.node text {{ font-size: 12px; text-anchor: middle; fill: #1f2933; }}
.node.dim {{ opacity: 0.25; }}
</style></head>
<body><header><b>{esc(title)}</b> &mdash; {len(nodes)} entities, {len(drawn)} relations
(drag nodes, scroll to zoom, hover to see neighbours; dashed: no longer valid) {legend}</header>
<svg id="graph" viewBox="0 0 {WIDTH} {HEIGHT}" xmlns="http://www.w3.org/2000/svg"><g id="world">
{chr(10).join(lines)}
{chr(10).join(circles)}
</g></svg>
<script type="application/json" id="edges">{edge_json}</script>
<script>{_SCRIPT}</script>
</body></html>
"""


__all__ = ["KIND_COLOURS", "layout", "render_graph_html"]
