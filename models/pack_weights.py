"""Packs a converted model folder small enough to travel (bench/gpu-check.sh), and unpacks it.

    python pack_weights.py pack   --model-dir DIR --out PACK_DIR
    python pack_weights.py unpack --pack PACK_DIR --out MODEL_DIR

`pack` keeps the ONNX graphs without their weights (onnx/*.graph.onnx) and the model folder's small
files, and stores every float weight matrix of 4096 values or more as int8 with one float16 scale
per row (symmetric, scale = max |w| / 127), the rest as they are, in weights.npz. `unpack` writes
float32 ONNX files again. The weights come back within half a quantisation step of each row's
range (|error| <= scale / 2): a transport encoding for a machine that can take 64 MiB, not a
model for production; its WER is measured beside the original's (bench/README.md).
numpy + onnx only.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys

import numpy as np
import onnx
from onnx import numpy_helper

BIG = 4096
SMALL_FILES = (
    "config.json",
    "generation_config.json",
    "preprocessor_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "vocabulary.json",
    "vocabulary.txt",
    "gpt2.tiktoken",
    "multilingual.tiktoken",
    "mel_filters_80.bin",
    "mel_filters_128.bin",
)
GRAPHS = ("encoder_model", "decoder_model_merged")


def initializers(graph: onnx.GraphProto):
    """All initializers, subgraphs included (the merged decoder's If branches)."""
    for t in graph.initializer:
        yield t
    for n in graph.node:
        for a in n.attribute:
            if a.type == onnx.AttributeProto.GRAPH:
                yield from initializers(a.g)


def pack(model_dir: str, out: str) -> None:
    os.makedirs(os.path.join(out, "onnx"), exist_ok=True)
    for f in SMALL_FILES:
        if os.path.exists(os.path.join(model_dir, f)):
            shutil.copy(os.path.join(model_dir, f), os.path.join(out, f))
    arrays: dict[str, np.ndarray] = {}
    for name in GRAPHS:
        m = onnx.load(os.path.join(model_dir, "onnx", f"{name}.onnx"))
        for k, t in enumerate(initializers(m.graph)):
            w = numpy_helper.to_array(t)
            key = f"{name}/{k}"
            if w.dtype == np.float32 and w.size >= BIG and w.ndim >= 2:
                rows = w.reshape(w.shape[0], -1)
                scale = np.abs(rows).max(axis=1) / 127.0
                scale[scale == 0] = 1.0
                arrays[key + "/q"] = np.round(rows / scale[:, None]).astype(np.int8)
                arrays[key + "/s"] = scale.astype(np.float32)
            else:
                arrays[key + "/v"] = w
            t.ClearField("raw_data")
            t.ClearField("float_data")
            t.ClearField("int64_data")
            t.ClearField("int32_data")
        onnx.save(m, os.path.join(out, "onnx", f"{name}.graph.onnx"))
    np.savez(os.path.join(out, "weights.npz"), **arrays)


def unpack(pack_dir: str, out: str) -> None:
    os.makedirs(os.path.join(out, "onnx"), exist_ok=True)
    for f in os.listdir(pack_dir):
        if os.path.isfile(os.path.join(pack_dir, f)) and f != "weights.npz":
            shutil.copy(os.path.join(pack_dir, f), os.path.join(out, f))
    arrays = np.load(os.path.join(pack_dir, "weights.npz"))
    for name in GRAPHS:
        m = onnx.load(os.path.join(pack_dir, "onnx", f"{name}.graph.onnx"))
        for k, t in enumerate(initializers(m.graph)):
            key = f"{name}/{k}"
            dims = list(t.dims)
            if key + "/q" in arrays:
                w = arrays[key + "/q"].astype(np.float32) * arrays[key + "/s"][:, None]
            else:
                w = arrays[key + "/v"]
            t.CopyFrom(numpy_helper.from_array(w.reshape(dims), t.name))
        onnx.save(m, os.path.join(out, "onnx", f"{name}.onnx"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pack")
    p.add_argument("--model-dir", required=True)
    p.add_argument("--out", required=True)
    u = sub.add_parser("unpack")
    u.add_argument("--pack", required=True)
    u.add_argument("--out", required=True)
    args = ap.parse_args()
    try:
        if args.cmd == "pack":
            pack(args.model_dir, args.out)
        else:
            unpack(args.pack, args.out)
    except FileNotFoundError as e:
        print(f"pack_weights: {e.filename}: no such file", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
