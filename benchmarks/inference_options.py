"""Accuracy and speed of each CPU fast-path option on class-folder validation sets.

For a trained model folder, classifies every (or ``--limit`` per dataset) validation image with
each variant and prints accuracy, agreement with the float32 model and images/s of the model
alone (preprocessing done once up front, outside the timing):

    cp -r /work/runs/default-p16/best /tmp/p16     # training rewrites best/: use a copy
    nice -n 10 python benchmarks/inference_options.py --weights /tmp/p16 --limit 1000

Variants: fp32 (torch, exact), bf16 (a bfloat16 copy of the model), int8 (dynamic int8 Linear), compile
(torch.compile), onnx (onnxruntime float32), onnx-int8 (onnxruntime dynamic int8).
Accuracy is over each dataset's own classes: logits of model classes the dataset lacks
(FER2013 has no contempt) are ignored.
"""
from __future__ import annotations

import argparse
import copy
import json
import time
import warnings

import torch

from motivnet.backends import InferenceOptions, build_classifier
from motivnet.data import open_dataset
from motivnet.preprocess import Preprocessor
from motivnet.recognizer import load_model

DATASETS = ["/work/data/affectnet96/val", "/work/data/fer2013/val"]
VARIANTS = {
    "fp32": ("torch", InferenceOptions()),
    "bf16": ("torch", InferenceOptions(bf16=True)),
    "int8": ("torch", InferenceOptions(int8=True)),
    "compile": ("torch", InferenceOptions(compile=True)),
    "onnx": ("onnx", InferenceOptions()),
    "onnx-int8": ("onnx", InferenceOptions(int8=True)),
}


def load_split(path: str, model_labels: tuple[str, ...], preprocessor: Preprocessor, limit: int | None, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """-> images (N, 3, H, W), targets (N,) as model class ids, mask (K,) of the classes present."""
    ds = open_dataset(path, preprocessor=preprocessor).with_labels(list(model_labels))
    order = torch.randperm(len(ds), generator=torch.Generator().manual_seed(seed)).tolist()
    if limit:
        order = order[:limit]
    images = torch.stack([ds[i][0] for i in order])
    targets = torch.tensor([ds.records[i].label for i in order])
    counts = ds.class_counts()  # over the whole dataset: which model classes it holds at all
    mask = torch.tensor([counts.get(c, 0) > 0 for c in model_labels])
    return images, targets, mask


def classify(classifier, images: torch.Tensor, batch: int) -> tuple[torch.Tensor, float]:  # noqa: ANN001
    """-> logits (N, K) and seconds spent in the classifier."""
    classifier(images[:batch])  # warm-up on every batch size used: torch.compile compiles here, untimed
    if len(images) % batch:
        classifier(images[: len(images) % batch])
    out, spent = [], 0.0
    for i in range(0, len(images), batch):
        t = time.perf_counter()
        out.append(classifier(images[i : i + batch]))
        spent += time.perf_counter() - t
    return torch.cat(out), spent


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", required=True, help="a trained model folder (copy it first if training is updating it)")
    p.add_argument("--data", nargs="+", default=DATASETS, help="class-folder val sets (default: %(default)s)")
    p.add_argument("--limit", type=int, help="at most N images per dataset (a seeded random subset)")
    p.add_argument("--variants", default="fp32,bf16,int8,onnx,onnx-int8", help=f"from {','.join(VARIANTS)} (default: %(default)s)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--threads", type=int)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model = load_model(args.weights)
    labels = model.labels
    pre = Preprocessor.from_config(model.config)
    sets = {path: load_split(path, labels, pre, args.limit, args.seed) for path in args.data}
    rows, base = [], {}
    for name in [v.strip() for v in args.variants.split(",") if v.strip()]:
        backend, options = VARIANTS[name]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # bf16 on a CPU without native bf16: measured anyway
            classifier = build_classifier(copy.deepcopy(model), backend, options)
        row = {"variant": name}
        total_n, total_s = 0, 0.0
        for path, (images, targets, mask) in sets.items():
            logits, spent = classify(classifier, images, args.batch_size)
            pred = logits.masked_fill(~mask, float("-inf")).argmax(-1)
            key = path.rstrip("/").split("/")[-2]
            row[f"{key}_acc"] = (pred == targets).float().mean().item()
            if name == "fp32":
                base[path] = (pred, logits.softmax(-1))
            else:
                row[f"{key}_agree_fp32"] = (pred == base[path][0]).float().mean().item() if path in base else None
                row[f"{key}_max_prob_diff"] = (logits.softmax(-1) - base[path][1]).abs().max().item() if path in base else None
            total_n, total_s = total_n + len(images), total_s + spent
        row["images_per_s"] = total_n / total_s
        rows.append(row)
        print(_line(row), flush=True)
    if args.json:
        print(json.dumps({"weights": args.weights, "n": {k: len(v[1]) for k, v in sets.items()}, "rows": rows}, indent=2))


def _line(row: dict) -> str:
    parts = [f"{row['variant']:>9}"]
    for k, v in row.items():
        if k in ("variant", "images_per_s") or v is None:
            continue
        parts.append(f"{k} {v:.4f}" if "diff" in k else f"{k} {100 * v:.2f}%")
    parts.append(f"{row['images_per_s']:.0f} images/s")
    return "  ".join(parts)


if __name__ == "__main__":
    main()
