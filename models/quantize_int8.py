#!/usr/bin/env python3
"""Add int8 variants to a model directory written by convert_ct2_whisper.py.

For each graph (onnx/encoder_model.onnx, onnx/decoder_model_merged.onnx) writes
onnx/<graph>_int8.onnx: every MatMul whose B is a weight becomes onnxruntime's MatMulNBits with
8-bit weights (symmetric, one scale per block of 32 input rows of each output column) and
accuracy_level 4, where onnxruntime quantizes the activations to int8 per row and per block as
it runs and multiplies in int8 (as CTranslate2's int8 does). Per row: a sequence's numbers do not
depend on the other rows of its batch, unlike quantize_dynamic's per-tensor activation scale
(which also measured less accurate here). The attention MatMuls (both inputs computed) stay
float32. The logits projection, a Gemm(transB=1) on the tied embedding table in the fp32 graph,
is first rewritten as a MatMul on a transposed copy so that it is quantized as well; the
embedding lookup keeps the float32 table.

Then adds the new files (size, sha256) and the quantization settings to manifest.json.
Needs numpy, onnx and onnxruntime (its quantization tools), all pinned in
lib/model-supply/pins.ts. Usage: quantize_int8.py --model-dir DIR
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile

import numpy as np
import onnx
import onnxruntime
from onnx import helper, numpy_helper
from onnxruntime.quantization import matmul_nbits_quantizer as nbits

from convert_ct2_whisper import _sha256_file  # this script's folder is on sys.path

GRAPHS = ('encoder_model', 'decoder_model_merged')
SUFFIX = '_int8'
BLOCK_SIZE = 32
ACCURACY_LEVEL = 4  # int8 activations, int8 products


def _log(msg: str) -> None:
    print(msg, flush=True)


def gemm_to_matmul(model: onnx.ModelProto) -> int:
    """Gemm(x, W, transB=1) without C, alpha = beta = 1 → MatMul(x, Wᵀ) on a new initializer."""
    g = model.graph
    inits = {t.name: t for t in g.initializer}
    changed = 0
    for i, node in enumerate(list(g.node)):
        if node.op_type != 'Gemm' or len(node.input) != 2 or node.input[1] not in inits:
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if attrs.get('transA', 0) != 0 or attrs.get('alpha', 1.0) != 1.0 or attrs.get('beta', 1.0) != 1.0:
            continue
        w = numpy_helper.to_array(inits[node.input[1]])
        if attrs.get('transB', 0) == 1:
            w = w.T
        name = node.input[1] + '.matmul_t'
        g.initializer.append(numpy_helper.from_array(np.ascontiguousarray(w, dtype=np.float32), name))
        mm = helper.make_node('MatMul', [node.input[0], name], list(node.output), name=node.name + '_as_matmul')
        g.node.remove(node)
        g.node.insert(i, mm)
        changed += 1
    return changed


def quantize_graph(src: str, dst: str) -> None:
    model = onnx.load(src)
    n = gemm_to_matmul(model)
    if n:
        _log(f'  {os.path.basename(src)}: {n} Gemm rewritten as MatMul for quantization')
    cfg = nbits.DefaultWeightOnlyQuantConfig(
        block_size=BLOCK_SIZE, is_symmetric=True, accuracy_level=ACCURACY_LEVEL, bits=8,
    )
    q = nbits.MatMulNBitsQuantizer(model, algo_config=cfg)
    q.process()
    onnx.save(q.model.model, dst)
    del model, q
    onnx.checker.check_model(dst)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--model-dir', required=True)
    args = ap.parse_args(argv)
    # onnxruntime's quantizer logs every MatMul it visits at INFO.
    logging.getLogger().setLevel(logging.ERROR)
    d = args.model_dir
    manifest_path = os.path.join(d, 'manifest.json')
    with open(manifest_path, encoding='utf-8') as f:
        manifest = json.load(f)
    for graph in GRAPHS:
        src = os.path.join(d, 'onnx', f'{graph}.onnx')
        rel = f'onnx/{graph}{SUFFIX}.onnx'
        _log(f'quantizing onnx/{graph}.onnx -> {rel} (8-bit MatMulNBits, onnxruntime {onnxruntime.__version__})')
        quantize_graph(src, os.path.join(d, rel))
        p = os.path.join(d, rel)
        manifest['files'][rel] = {'sha256': _sha256_file(p), 'size': os.path.getsize(p)}
        _log(f'  {rel}: {os.path.getsize(p) / 1e6:.1f} MB')
    manifest['files'] = dict(sorted(manifest['files'].items()))
    manifest['quantization'] = {
        'script': 'models/quantize_int8.py',
        'onnxruntime': onnxruntime.__version__,
        'method': 'MatMulNBitsQuantizer',
        'bits': 8,
        'block_size': BLOCK_SIZE,
        'symmetric': True,
        'accuracy_level': ACCURACY_LEVEL,
        'op_types': ['MatMul'],
        'suffix': SUFFIX,
    }
    with open(manifest_path, 'w', encoding='utf-8') as f:
        f.write(json.dumps(manifest, indent=2, ensure_ascii=False) + '\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
