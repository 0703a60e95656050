"""Independent verdicts for a full R × D factorial study (``results.csv`` of ``miub sweep``).

    .venv/bin/python docs/studies/real-smollm2/verdicts.py DIR/results.csv [--json OUT]

A cross-check of ``miub fit`` written from the issue's rules (docs/method.md), not from the
analysis package. Every metric is first oriented by the metric registry (lower = better).
For each metric y and axis X ∈ {log2 R, log2 D}:

* **decreases along X**: OLS ``y ~ X + C(other axis)`` (additive two-way model, n − 1 − L
  residual df); one-sided t-test of the slope (H1: slope < 0), Holm-adjusted over every
  metric × axis; effect = slope · (range of X) ÷ pooled within-cell seed SD. "supported"
  needs adjusted p < 0.05 and effect ≥ 2; "contradicted" the same with a rising slope.
  Unoriented metrics (registry ``higher_is_better`` None) are judged raw: "rises"/"falls".
* **stability**: NSR = pooled within-cell seed SD ÷ SD of the cell means along X (averaged
  over the other axis); lower is stabler. Invariant to y → a + b·y.
* **alignment with ACC**: Spearman ρ of the 12 cell means with the cell means of
  err = 1 − ACC (design-level), and the partial (within-cell) Pearson correlation of the
  seed residuals of y and err (does y track ACC beyond what the design explains?).
"""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from miub.metrics import get_metric, metrics_in


def oriented(frame: pd.DataFrame, column: str) -> pd.Series:
    """Lower = better by the registry; an unoriented metric (linear-cka, norm-ratio, cosine)
    is kept raw and only judged two-sided ("rises" / "falls")."""
    spec = get_metric(column)
    values = frame[column].to_numpy(float)
    if spec.higher_is_better is None:
        return pd.Series(values, index=frame.index)
    return pd.Series(np.asarray(spec.orient(values)), index=frame.index)


def pooled_sd(frame: pd.DataFrame, y: pd.Series) -> float:
    groups = y.groupby([frame["rank"], frame["data_size"]])
    ss = sum(float(((g - g.mean()) ** 2).sum()) for _, g in groups)
    df = sum(len(g) - 1 for _, g in groups)
    return math.sqrt(ss / df) if df > 0 else float("nan")


def trend(frame: pd.DataFrame, y: pd.Series, axis: str, other: str) -> dict[str, float]:
    x = np.log2(frame[axis].to_numpy(float))
    levels = sorted(frame[other].unique())
    dummies = [(frame[other] == level).to_numpy(float) for level in levels]
    design = np.column_stack([x, *dummies])  # (n, 1 + L), no intercept: one per level
    beta, *_ = np.linalg.lstsq(design, y.to_numpy(float), rcond=None)
    residual = y.to_numpy(float) - design @ beta
    df = len(y) - design.shape[1]
    sigma2 = float(residual @ residual) / df
    cov = sigma2 * np.linalg.inv(design.T @ design)
    se = math.sqrt(cov[0, 0])
    t = beta[0] / se if se > 0 else float("nan")
    p_less = float(stats.t.cdf(t, df))
    span = float(x.max() - x.min())
    sd = pooled_sd(frame, y)
    cells = y.groupby([frame[axis], frame[other]]).mean().unstack()
    nsr = sd / float(cells.mean(axis=1).std(ddof=1)) if len(cells) > 1 else float("nan")
    return {
        "slope": float(beta[0]),
        "t": float(t),
        "df": df,
        "p_decrease": p_less,
        "p_increase": 1 - p_less,
        "effect_sd": float(beta[0]) * span / sd if sd > 0 else float("nan"),
        "nsr": nsr,
    }


def holm(pvalues: dict[str, float]) -> dict[str, float]:
    order = sorted(pvalues, key=pvalues.__getitem__)
    adjusted, running = {}, 0.0
    for i, key in enumerate(order):
        running = max(running, min(1.0, (len(order) - i) * pvalues[key]))
        adjusted[key] = running
    return adjusted


def alignment(frame: pd.DataFrame, y: pd.Series) -> dict[str, float]:
    err = 1.0 - frame["acc"].astype(float)
    keys = [frame["rank"], frame["data_size"]]
    cell_y, cell_err = y.groupby(keys).mean(), err.groupby(keys).mean()
    rho = stats.spearmanr(cell_y.to_numpy(), cell_err.to_numpy())
    res_y = y - y.groupby(keys).transform("mean")
    res_err = err - err.groupby(keys).transform("mean")
    partial = stats.pearsonr(res_y, res_err) if res_y.std() > 0 and res_err.std() > 0 else None
    return {
        "cell_spearman_err": float(rho.statistic),
        "cell_spearman_p": float(rho.pvalue),
        "within_cell_r_err": float(partial.statistic) if partial else float("nan"),
        "within_cell_p": float(partial.pvalue) if partial else float("nan"),
    }


def analyse(frame: pd.DataFrame) -> dict[str, Any]:
    frame = frame[frame["status"].isin(["done", "completed"])].reset_index(drop=True)
    columns = [c for c in frame.columns if not c.endswith("_stderr")]
    metrics = [
        m.name
        for m in metrics_in(columns)
        if frame[m.name].notna().all()
        and m.name != "acc_norm"
        and not m.name.endswith(("_null", "_ceiling"))  # reference points, not readings
    ]
    rows: dict[str, dict[str, Any]] = {}
    pvalues: dict[str, float] = {}
    for name in metrics:
        y = oriented(frame, name)
        row: dict[str, Any] = {"metric": name}
        for axis, other, label in (("rank", "data_size", "R"), ("data_size", "rank", "D")):
            result = trend(frame, y, axis, other)
            row[label] = result
            pvalues[f"{name}|{label}|dec"] = result["p_decrease"]
            pvalues[f"{name}|{label}|inc"] = result["p_increase"]
        row["alignment"] = alignment(frame, y)
        rows[name] = row
    adjusted = holm(pvalues)
    for name, row in rows.items():
        for label in ("R", "D"):
            result = row[label]
            p_dec = adjusted[f"{name}|{label}|dec"]
            p_inc = adjusted[f"{name}|{label}|inc"]
            result["p_decrease_holm"], result["p_increase_holm"] = p_dec, p_inc
            effect = result["effect_sd"]
            unoriented = get_metric(name).higher_is_better is None
            if p_dec < 0.05 and effect <= -2:
                result["verdict"] = "falls" if unoriented else "supported"
            elif p_inc < 0.05 and effect >= 2:
                result["verdict"] = "rises" if unoriented else "contradicted (worsens)"
            else:
                result["verdict"] = "not shown"
    return {"n_runs": len(frame), "metrics": rows}


def markdown(report: dict[str, Any]) -> str:
    lines = [
        "| metric | ↓ with R: verdict (p Holm, effect SD) | ↓ with D: verdict (p Holm, effect SD)"
        " | NSR R / D | ρ cells vs err (p) | within-cell r vs err (p) |",
        "|---|---|---|---|---|---|",
    ]
    for name, row in report["metrics"].items():
        r, d, a = row["R"], row["D"], row["alignment"]

        def cell(x: dict[str, Any]) -> str:
            p = min(x["p_decrease_holm"], x["p_increase_holm"])
            return f"{x['verdict']} ({p:.2g}, {x['effect_sd']:+.1f})"

        lines.append(
            f"| {name} | {cell(r)} | {cell(d)} | {r['nsr']:.2f} / {d['nsr']:.2f} | "
            f"{a['cell_spearman_err']:+.2f} ({a['cell_spearman_p']:.2g}) | "
            f"{a['within_cell_r_err']:+.2f} ({a['within_cell_p']:.2g}) |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("csv")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    report = analyse(pd.read_csv(args.csv))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(report, handle, indent=2)
    print(markdown(report))


if __name__ == "__main__":
    main()
