"""Print the README's findings table (markdown) from a study's ``fits.json``.

    .venv/bin/python scripts/findings_table.py DIR [--metrics js_mi js_mi_normalized mi]

One row per judged metric, one column per claim; each cell is the verdict with the claim's
test statistic, Holm-adjusted p and effect size, exactly as ``miub fit`` wrote them
(``claims`` in fits.json: ``verdict``, ``statistic``, ``p_holm``, ``effect``), so the README
table is regenerated from the study rather than copied by hand.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

COLUMNS = [  # claim id -> column header
    ("decreases_R", "↓ R"),
    ("decreases_N", "↓ N"),
    ("decreases_D", "↓ D"),
    ("stabler", "stabler than CE/PPL"),
    ("fits_better", "fits better"),
    ("tracks_acc", "≈ ACC"),
]
_SHORT = {"supported": "**yes**", "not supported": "**no**", "inconclusive": "?"}


def _number(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if abs(value) < 10 ** (-digits) and value != 0:
        return f"{value:.0e}".replace("-", "−")
    return f"{value:+.{digits}f}".replace("-", "−")


def _p(value: Any) -> str:
    if value is None:
        return "—"
    return f"{value:.1e}".replace("-", "−") if value < 0.001 else f"{value:.3f}"


def cell(claim: dict[str, Any]) -> str:
    """``verdict, t/statistic, p_Holm, effect`` of one claim."""
    verdict = claim["verdict"]
    text = _SHORT.get(verdict, verdict)
    if verdict == "not supported" and claim["claim_id"].startswith("decreases"):
        text = "**no: rises**"
    parts = [text]
    if claim.get("statistic") is not None:
        parts.append(f"stat {_number(claim['statistic'])}")
    if claim.get("p_holm") is not None:
        parts.append(f"p_Holm {_p(claim['p_holm'])}")
    if claim.get("effect") is not None:
        parts.append(f"effect {_number(claim['effect'])}")
    return ", ".join(parts)


def table(fits: dict[str, Any], metrics: list[str] | None) -> str:
    """The markdown table of ``fits["claims"]`` (rows in first-seen order)."""
    claims: dict[str, dict[str, dict[str, Any]]] = {}
    for claim in fits["claims"]:
        claims.setdefault(claim["estimator"], {})[claim["claim_id"]] = claim
    rows = [m for m in (metrics or list(claims)) if m in claims]
    lines = [
        "| metric | " + " | ".join(header for _, header in COLUMNS) + " |",
        "|---|" + "---|" * len(COLUMNS),
    ]
    for metric in rows:
        cells = [cell(claims[metric][cid]) if cid in claims[metric] else "" for cid, _ in COLUMNS]
        lines.append(f"| `{metric}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def long_table(fits: dict[str, Any], metrics: list[str] | None) -> str:
    """One row per verdict: metric, claim, verdict, statistic, p, p_Holm, effect."""
    lines = [
        "| metric | claim | verdict | statistic | p | p_Holm | effect |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in fits["claims"]:
        if metrics and c["estimator"] not in metrics:
            continue
        numbers = [_number(c.get("statistic")), _p(c.get("p")), _p(c.get("p_holm"))]
        lines.append(
            f"| {c['estimator']} | {c['claim_id']} | {c['verdict']} | "
            + " | ".join(numbers)
            + f" | {_number(c.get('effect'))} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study_dir", type=Path)
    parser.add_argument("--metrics", nargs="*", default=None, help="rows (default: all judged)")
    parser.add_argument("--long", action="store_true", help="one row per verdict")
    args = parser.parse_args()
    fits = json.loads((args.study_dir / "fits.json").read_text())
    print(long_table(fits, args.metrics) if args.long else table(fits, args.metrics))


if __name__ == "__main__":
    main()
