"""The Markdown report, rendered from the JSON report's dict (so the two always agree)."""
from __future__ import annotations

import json
from typing import Any

SCORING_NOTES = [
    "**n** is the number of samples scored; **failed** are samples the system gave no answer for "
    "(no face found, unreadable image): they are counted as wrong, and accuracy is over all n.",
    "Failed samples enter AUROC, ECE and loss with uniform probabilities (no information).",
    "Scoring is on the classes the system and the dataset share: the system's other outputs are removed "
    "and its probabilities renormalised over the shared classes; samples of dataset classes the system "
    "lacks are dropped (**dropped**) and not scored.",
    "F1 and AUROC are macro averages over the scored classes (AUROC one-vs-rest); ECE is the top-label "
    "expected calibration error with {bins} equal-width bins; mean confidence is the mean top-class probability "
    "(below accuracy: under-confident; above: over-confident); loss is the mean cross-entropy -log p(true class).",
]


def _num(x: Any, pct: bool = False, digits: int = 2) -> str:
    if x is None:
        return "–"
    return f"{100 * x:.{digits}f}" if pct else f"{x:.{digits}f}"


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return out


def results_table(results: list[dict[str, Any]]) -> list[str]:
    rows = []
    for r in results:
        m = r["metrics"]
        rows.append([
            r["dataset"], r["system"], m["n"], m["n_failed"], r["mapping"]["n_dropped"], len(m["classes"]),
            _num(m["accuracy"], True), _num(m["f1_macro"], True), _num(m["auroc_macro"], True),
            _num(m["ece"], digits=4), _num(m.get("confidence"), True), _num(m["loss"], digits=3),
        ])
    header = ["dataset", "system", "n", "failed", "dropped", "classes", "accuracy %", "macro F1 %", "macro AUROC %", "ECE", "mean confidence %", "loss"]
    return _table(header, rows)


def _mapping(r: dict[str, Any]) -> list[str]:
    m = r["mapping"]
    lines = [f"**{r['system']} on {r['dataset']}** — scored classes ({len(m['scored_classes'])}): {', '.join(m['scored_classes'])}", ""]
    lines.append(f"- system class -> dataset class: {'; '.join(m['system_to_dataset'])}")
    removed = m["system_classes_removed"]
    lines.append(
        f"- system classes the dataset lacks: {', '.join(removed)} (outputs removed, probabilities renormalised over the rest)"
        if removed else "- system classes the dataset lacks: none"
    )
    missing = m["dataset_classes_missing"]
    if missing:
        counts = ", ".join(f"{k} {v}" for k, v in m["dropped_by_class"].items()) or "no samples"
        lines.append(f"- dataset classes the system lacks: {', '.join(missing)}: {m['n_dropped']} of {m['n_total']} samples dropped ({counts})")
    else:
        lines.append("- dataset classes the system lacks: none (no samples dropped)")
    for note in r.get("notes", []):
        lines.append(f"- {note}")
    return lines + [""]


def _per_class(r: dict[str, Any]) -> list[str]:
    m = r["metrics"]
    lines = [f"### {r['system']} on {r['dataset']}", ""]
    rows = [
        [c, v["support"], _num(v["precision"], True), _num(v["recall"], True), _num(v["f1"], True), _num(v["auroc"], True), v["failed"]]
        for c, v in m["per_class"].items()
    ]
    rows.append(["**macro**", m["n"], _num(m["precision_macro"], True), _num(m["recall_macro"], True),
                 _num(m["f1_macro"], True), _num(m["auroc_macro"], True), m["n_failed"]])
    lines += _table(["class", "support", "precision %", "recall %", "F1 %", "AUROC %", "failed"], rows) + [""]
    png = r.get("files", {}).get("confusion_png")
    if png:
        lines += [f"![confusion matrix]({png})", ""]
    header = ["true \\ predicted", *m["classes"]] + (["failed"] if m["n_failed"] else [])
    cm_rows = [
        [c, *row] + ([f] if m["n_failed"] else [])
        for c, row, f in zip(m["classes"], m["confusion"], m["failed_per_class"])
    ]
    return lines + ["Confusion matrix (rows: true class, columns: predicted):", ""] + _table(header, cm_rows) + [""]


def _architecture(arch: dict[str, Any] | None) -> list[str]:
    lines = ["### 1. Architecture similarity to Sapiens", ""]
    if arch is None:
        return lines + ["No MotivNet model was evaluated (prediction files only): not assessed.", ""]
    rows = [[r["property"], _fmt(r["evaluated"]), _fmt(r["paper"]), "yes" if r["same"] else "**no**"] for r in arch["rows"]]
    lines += _table(["property", "evaluated model", "paper: Sapiens-1B 1024x768 + authors' head", "same"], rows) + [""]
    diff = arch["differences"]
    lines.append(
        f"Differs from the paper's model in: {', '.join(diff)}. The encoder has "
        f"{100 * arch['encoder_parameter_ratio']:.3g}% of Sapiens-1B's parameters." if diff else "Same architecture as the paper's model."
    )
    return lines + [""]


def _fmt(v: Any) -> str:
    return f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else str(v)


def _data(data: dict[str, Any], paper: dict[str, Any]) -> list[str]:
    lines = ["### 2. Data similarity", ""]
    if not data.get("known"):
        lines.append("Paper: " + "; ".join(f"{k}: {v}" for k, v in paper.items()) + ".")
        return lines + ["", f"Evaluated model: **unknown** ({data.get('reason', 'no training record')}).", ""]
    lines += [f"Evaluated model's training record: {', '.join(data['files'])}.", ""]
    if data.get("comparison"):
        rows = [[r["aspect"], r["evaluated"], r["paper"]] for r in data["comparison"]]
        lines += _table(["aspect", "evaluated model", "paper"], rows) + [""]
    if "training_json" in data:
        lines += [f"training.json: {_compact(data['training_json'])}", ""]
    verdict = "AffectNet-derived, like the paper's" if data.get("affectnet") else "not recorded as AffectNet: differs from the paper's"
    return lines + [f"Training data: {verdict}.", ""]


def _compact(v: Any, limit: int = 400) -> str:
    text = v if isinstance(v, str) else json.dumps(v, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _benchmark(bench: dict[str, Any]) -> list[str]:
    lines = ["### 3. Benchmark standing (AffectNet, accuracy %)", ""]
    rows = [[row["method"], f"{row['accuracy']:.2f}"] for row in bench["table"]]
    lines += _table(["method", "accuracy %"], rows) + [""]
    if not bench["ours"]:
        lines += ["No AffectNet dataset was evaluated here: only the published numbers are shown.", ""]
    return lines + [f"Caveat: {bench['caveat']}", ""]


def render_markdown(report: dict[str, Any]) -> str:
    """The whole report as Markdown."""
    results = report["results"]
    lines = ["# motivnet evaluation report", ""]
    lines.append(f"- created: {report['created']} (motivnet {report['motivnet_version']})")
    lines.append(f"- command: `{report['command']}`")
    model = report.get("model")
    if model:
        lines.append(f"- model: `{model['weights']}` as **{model['system']}** ({len(model['labels'])} classes: {', '.join(model['labels'])})")
    opts = report.get("options", {})
    if opts:
        lines.append("- options: " + ", ".join(f"{k}={v}" for k, v in opts.items()))
    lines += ["", "## Results", ""]
    lines += results_table(results) if results else ["No results."]
    bins = report.get("ece_bins", "")
    lines += [""] + [f"- {n.format(bins=bins)}" for n in SCORING_NOTES] + [""]
    if report.get("problems"):
        lines += ["Problems during evaluation:", ""] + [f"- {p}" for p in report["problems"]] + [""]
    lines += ["## Label mapping", ""]
    for r in results:
        lines += _mapping(r)
    lines += ["## Per-class results", ""]
    for r in results:
        lines += _per_class(r)
    crit = report["criteria"]
    lines += ["## The paper's three criteria", ""]
    lines += _architecture(crit["architecture"])
    lines += _data(crit["data"], crit["paper_data"])
    lines += _benchmark(crit["benchmark"])
    return "\n".join(lines).rstrip() + "\n"


__all__ = ["render_markdown", "results_table"]
