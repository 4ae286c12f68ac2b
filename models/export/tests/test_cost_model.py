"""The GPU check prints the cost model's prediction beside what it measures; the predictions
published in docs/performance.md must be what that model computes, so the next device run
checks the published figures and not other ones."""

from __future__ import annotations

import re
import sys

from conftest import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "tools" / "gpu_check"))
import gpu_check  # noqa: E402

# | step graph | nodes | bytes | predicted ms |, the rows whose prediction is a range
ROW = re.compile(r"^\| [^|]+ \| ~?([\d ]+) \| ([\d.]+) GB \| ([\d.]+)-([\d.]+) \|$")


def published_predictions() -> list[tuple[int, float, float, float]]:
    text = (REPO_ROOT / "docs" / "performance.md").read_text()
    section = text.split("### Kernels per layer and a cost model for the GPU", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        if match := ROW.match(line.strip()):
            nodes, gigabytes, lo, hi = match.groups()
            rows.append((int(nodes.replace(" ", "")), float(gigabytes), float(lo), float(hi)))
    return rows


def test_the_published_predictions_are_the_models():
    rows = published_predictions()
    assert len(rows) >= 4, rows  # the traced-with-flags graph, fused fp16, int8, int4
    for nodes, gigabytes, lo, hi in rows:
        predicted = gpu_check.predicted_ms(nodes, int(gigabytes * 1e9))
        assert [round(x, 1) for x in predicted] == [lo, hi], (nodes, gigabytes, predicted)


def test_a_graph_without_kernels_or_weights_has_no_prediction():
    assert gpu_check.predicted_ms(None, 10**9) is None
    assert gpu_check.predicted_ms(900, None) is None
