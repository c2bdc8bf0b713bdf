"""The entity-graph page draws its nodes: rendered in headless Chromium, screenshotted, pixels counted."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from langchain_memos.graph_view import KIND_COLOURS, layout, render_graph_html

NODE_AREA = 3.14 * 14 * 14  # a node is a circle of radius 14 (viewBox units, drawn at about 1:1)


def _chromium() -> str | None:
    candidates = [os.environ.get("CHROME_PATH"), "chromium", "chromium-browser", "google-chrome", "chrome"]
    for name in candidates:
        found = name and shutil.which(name)
        if found:
            return found
    return None


def _screenshot(chromium: str, page: Path, shot: Path, tmp_path: Path) -> None:
    """Headless Chromium with no background networking (this machine's network is closed)."""
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={tmp_path / 'chromium-profile'}", "--hide-scrollbars",
                    "--window-size=1000,800", f"--screenshot={shot}", page.as_uri()],
                   check=True, capture_output=True, timeout=120)


def _graph() -> tuple[list[dict], list[dict]]:
    kinds = ["person", "place", "thing"]
    nodes = [{"id": f"n{i}", "label": f"Entity {i}", "kind": kinds[i % 3]} for i in range(9)]
    nodes.append({"id": "evil", "label": "</text><script>alert(1)</script>", "kind": "person"})
    edges = [{"source": f"n{i}", "target": f"n{(i * 4 + 1) % 9}", "label": "knows", "current": i != 2}
             for i in range(9)]
    edges.append({"source": "evil", "target": "n0", "label": "'); DROP TABLE x; --"})
    return nodes, edges


def test_page_escapes_names_and_lists_every_node_and_edge() -> None:
    nodes, edges = _graph()
    page = render_graph_html(nodes, edges)
    assert page.count('class="node"') == 10 and page.count('class="edge"') == 10
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert 'stroke-dasharray="6 4"' in page  # the superseded relation is dashed
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "")  # nothing fetched from the network


def test_layout_is_deterministic_and_inside_the_canvas() -> None:
    a = layout(20, [(i, i + 1) for i in range(19)])
    assert a == layout(20, [(i, i + 1) for i in range(19)])
    assert all(0 <= x <= 1000 and 0 <= y <= 700 for x, y in a)
    assert len(set(a)) == 20


def test_headless_chromium_draws_the_nodes(tmp_path: Path) -> None:
    chromium = _chromium()
    if chromium is None:
        pytest.skip("no Chromium on this machine: install it (`apt-get install chromium`) or set CHROME_PATH")
    image_mod = pytest.importorskip("PIL.Image", reason="the screenshot check needs Pillow (in the dev extra)")
    nodes, edges = _graph()
    page = tmp_path / "graph.html"
    page.write_text(render_graph_html(nodes, edges), encoding="utf-8")
    shot = tmp_path / "graph.png"
    _screenshot(chromium, page, shot, tmp_path)
    import numpy as np

    pixels = np.asarray(image_mod.open(shot).convert("RGB"))
    for kind in ("person", "place", "thing"):
        colour = tuple(int(KIND_COLOURS[kind][i:i + 2], 16) for i in (1, 3, 5))
        drawn = int((pixels == np.array(colour, dtype=pixels.dtype)).all(axis=-1).sum())
        expected = sum(1 for n in nodes if n["kind"] == kind)
        # each node of this kind is a filled circle; allow for scaling and anti-aliased rims
        assert drawn >= 0.4 * NODE_AREA * expected, (kind, drawn, expected)


def test_cli_graph_html_from_a_real_memory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from langchain_memos.cli import main

    path = str(tmp_path / "mem")
    for text in ("Melanie lives in Boston with her dog Luna", "Melanie works at Acme Labs in Denver",
                 "Caroline visited Melanie in Boston last Saturday"):
        assert main(["add", text, "--ns", "users/mel", "--embed", "hash", "--path", path]) == 0
    capsys.readouterr()
    page = tmp_path / "graph.html"
    assert main(["graph", "--html", str(page), "--embed", "hash", "--path", path, "--json"]) == 0
    picture = json.loads(capsys.readouterr().out)
    labels = {n["label"] for n in picture["nodes"]}
    assert {"Melanie", "Boston"} <= labels and picture["edges"]
    html_text = page.read_text(encoding="utf-8")
    assert html_text.count('class="node"') == len(picture["nodes"]) and "Melanie" in html_text
    chromium = _chromium()
    if chromium is None:
        pytest.skip("no Chromium on this machine: install it (`apt-get install chromium`) or set CHROME_PATH")
    image_mod = pytest.importorskip("PIL.Image", reason="the screenshot check needs Pillow (in the dev extra)")
    import numpy as np

    shot = tmp_path / "graph.png"
    _screenshot(chromium, page, shot, tmp_path)
    pixels = np.asarray(image_mod.open(shot).convert("RGB"))
    coloured = sum(int((pixels == np.array([int(c[i:i + 2], 16) for i in (1, 3, 5)], dtype=pixels.dtype))
                       .all(axis=-1).sum()) for c in KIND_COLOURS.values())
    assert coloured >= 0.4 * NODE_AREA * len(picture["nodes"])
