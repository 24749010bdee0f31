"""Builds one ONNX model that runs Whisper's whole greedy decoding loop inside a single
onnxruntime `run`: the contrib op `com.microsoft.WhisperBeamSearch` (num_beams = 1) with the
converted encoder and merged decoder of a model folder as its two subgraphs.

    python build_whisper_beam_search.py --model-dir DIR [--out FILE]

writes DIR/onnx/whisper_beam_search.onnx (default). numpy + onnx only (the converter's venv).

The op's subgraph conventions (onnxruntime contrib_ops/cpu/transformers/subgraph_whisper_*):

  encoder subgraph  inputs  encoder_input_ids (float [B, n_mels, 3000]), decoder_input_ids (int32
                            [B, S], the SOT sequence)
                    outputs logits [B, 1, V], encoder_hidden_states, present_key_self_{i},
                            present_value_self_{i} (all layers), present_key_cross_{i},
                            present_value_cross_{i} (all layers)
  decoder subgraph  inputs  input_ids (int32 [B, 1]), past_key_self_{i}, past_value_self_{i},
                            past_key_cross_{i}, past_value_cross_{i}
                    outputs logits [B, 1, V], present_key_self_{i}, present_value_self_{i}

The encoder subgraph is the encoder followed by the merged decoder's first pass (its `If` replaced
by the branch that computes the cross-attention K/V, the self-attention past empty). The decoder
subgraph is the merged decoder's cached pass (the `If` replaced by the cached cross K/V). The
weights are stored once, in the outer graph; both subgraphs read them from there.

Whisper takes the no-speech probability at the <|startoftranscript|> position, while the op
reports softmax(logits)[no_speech] of the last prompt position. The encoder subgraph therefore
rewrites that one logit of the last position so that its softmax equals the SOT-position
probability. <|nospeech|> is never sampled (the vocabulary mask suppresses it), so the tokens
are unchanged; the first step's log probability shifts by log(1 - p_nospeech).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

MS_DOMAIN = "com.microsoft"


def fail(msg: str) -> None:
    print(f"build_whisper_beam_search: {msg}", file=sys.stderr)
    sys.exit(1)


class Renamer:
    """Prefixes every name of a source graph, except those mapped explicitly."""

    def __init__(self, prefix: str, mapping: dict[str, str]):
        self.prefix = prefix
        self.mapping = mapping

    def __call__(self, name: str) -> str:
        if name == "":
            return ""
        return self.mapping.get(name, self.prefix + name)


def copy_nodes(nodes, rename: Renamer, tag: str) -> list[onnx.NodeProto]:
    out = []
    for k, n in enumerate(nodes):
        if any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for a in n.attribute):
            fail(f"node {n.name or n.op_type} has a subgraph; only the decoder's one If is expected")
        m = onnx.NodeProto()
        m.CopyFrom(n)
        del m.input[:]
        del m.output[:]
        m.input.extend(rename(x) for x in n.input)
        m.output.extend(rename(x) for x in n.output)
        m.name = f"{tag}/{n.name or n.op_type + str(k)}"
        out.append(m)
    return out


def value_info(name: str, elem: int, dims: list) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, elem, dims)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model-dir", required=True, help="converted model folder (onnx/, config.json)")
    ap.add_argument("--out", help="output file (default MODEL_DIR/onnx/whisper_beam_search.onnx)")
    args = ap.parse_args()
    model_dir = args.model_dir
    out_file = args.out or os.path.join(model_dir, "onnx", "whisper_beam_search.onnx")
    enc_file = os.path.join(model_dir, "onnx", "encoder_model.onnx")
    dec_file = os.path.join(model_dir, "onnx", "decoder_model_merged.onnx")
    for f in (enc_file, dec_file, os.path.join(model_dir, "config.json")):
        if not os.path.exists(f):
            fail(f"{f} is missing (convert the model first)")
    with open(os.path.join(model_dir, "config.json"), encoding="utf-8") as fh:
        cfg = json.load(fh)
    with open(os.path.join(model_dir, "generation_config.json"), encoding="utf-8") as fh:
        gen = json.load(fh)

    enc = onnx.load(enc_file)
    dec = onnx.load(dec_file)
    eg, dg = enc.graph, dec.graph
    if [i.name for i in eg.input] != ["input_features"] or [o.name for o in eg.output] != ["last_hidden_state"]:
        fail(f"{enc_file}: expected input_features -> last_hidden_state")

    ifs = [n for n in dg.node if n.op_type == "If"]
    if len(ifs) != 1 or ifs[0].input[0] != "use_cache_branch":
        fail(f"{dec_file}: expected one If on use_cache_branch (the Optimum merged layout)")
    if_node = ifs[0]
    branches = {a.name: a.g for a in if_node.attribute}
    then_g, else_g = branches["then_branch"], branches["else_branch"]
    main_nodes = [n for n in dg.node if n is not if_node]

    n_layers = cfg["decoder_layers"]
    heads = cfg["decoder_attention_heads"]
    d_model = cfg["d_model"]
    head_dim = d_model // heads
    vocab = cfg["vocab_size"]
    n_mels = cfg.get("num_mel_bins", 80)
    n_audio = cfg.get("max_source_positions", 1500)
    eot = gen.get("eos_token_id", cfg.get("eos_token_id"))
    sot = gen.get("decoder_start_token_id", cfg.get("decoder_start_token_id"))
    no_ts = gen.get("no_timestamps_token_id")
    if not isinstance(no_ts, int):
        fail("generation_config.json: no_timestamps_token_id missing")
    # Whisper's special tokens follow <|startoftranscript|> in a fixed order: ... <|translate|>,
    # <|transcribe|>, <|startoflm|>, <|startofprev|>, <|nospeech|>, <|notimestamps|>, <|0.00|> ...
    no_speech = no_ts - 1
    max_initial = int(gen.get("max_initial_timestamp_index", 50))

    # ---- initializers ----------------------------------------------------------------------------
    # The op hands both subgraphs the same outer-scope values, so the outer graph holds exactly the
    # weights both subgraphs read (the decoder's, read by its main nodes) plus what the outer graph
    # itself runs (the encoder, the no-speech pass). The cross-attention K/V projections are read
    # by the encoder subgraph only: it keeps its own copy (2·L·D² floats).
    def renamed(t: onnx.TensorProto, name: str) -> onnx.TensorProto:
        c = onnx.TensorProto()
        c.CopyFrom(t)
        c.name = name
        return c

    main_refs = {x for n in main_nodes for x in n.input}
    dec_only = [t for t in list(dg.initializer) + list(else_g.initializer) if t.name not in main_refs]
    outer_inits = [renamed(t, "d:" + t.name) for t in dg.initializer if t.name in main_refs]
    outer_inits += [renamed(t, "e:" + t.name) for t in eg.initializer]
    outer_inits += [renamed(t, "n:" + t.name) for t in dec_only]
    sub_inits = [renamed(t, "d:" + t.name) for t in dec_only]

    def present_self(i: int, kv: str) -> str:
        return f"present_{kv}_self_{i}"

    def present_cross(i: int, kv: str) -> str:
        return f"present_{kv}_cross_{i}"

    def first_pass(prefix: str, ids: str, hidden: str, outputs: dict[str, str], local: str) -> list:
        """The merged decoder's first pass (no cache) over `ids`: the If replaced by the branch
        that computes the cross-attention K/V; weights read by the main nodes are "d:" names."""
        empty = prefix + "empty_past"
        mapping = {"input_ids": prefix + "ids64", "encoder_hidden_states": hidden}
        mapping.update(outputs)
        for i in range(n_layers):
            for kv in ("key", "value"):
                mapping[f"past_key_values.{i}.decoder.{kv}"] = empty
        for t in dg.initializer:
            mapping[t.name] = ("d:" if t.name in main_refs else local) + t.name
        for t in else_g.initializer:
            mapping[t.name] = local + t.name
        for o in if_node.output:
            mapping.setdefault(o, prefix + o)
        else_map = dict(mapping)
        else_map.update({name: mapping[o] for name, o in zip([x.name for x in else_g.output], if_node.output)})
        shape = [
            helper.make_node("Cast", [ids], [prefix + "ids64"], to=TensorProto.INT64, name=prefix + "cast_ids"),
            helper.make_node("Shape", [ids], [prefix + "ids_shape"], name=prefix + "shape"),
            helper.make_node("Gather", [prefix + "ids_shape", "c:zero_1"], [prefix + "batch"], axis=0, name=prefix + "b"),
            helper.make_node("Concat", [prefix + "batch", "c:h_0_hd"], [prefix + "eshape"], axis=0, name=prefix + "es"),
            helper.make_node(
                "ConstantOfShape",
                [prefix + "eshape"],
                [empty],
                value=helper.make_tensor("zero", TensorProto.FLOAT, [1], [0.0]),
                name=prefix + "empty",
            ),
        ]
        return (
            shape
            + copy_nodes(else_g.node, Renamer(prefix, else_map), prefix + "cross")
            + copy_nodes(main_nodes, Renamer(prefix, mapping), prefix + "dec")
        )

    def shape_consts() -> list:
        return [
            numpy_helper.from_array(np.array([0], dtype=np.int64), "c:zero_1"),
            numpy_helper.from_array(np.array([heads, 0, head_dim], dtype=np.int64), "c:h_0_hd"),
        ]

    # ---- outer graph: the encoder, and the no-speech probability at the SOT position -------------
    # Whisper takes P(<|nospeech|>) from the logits at <|startoftranscript|> (the op's own
    # non_speech_probs output is of the last prompt position, and is not written by the CPU kernel
    # of onnxruntime 1.30). A one-token pass over [sot] gives it, from the encoder output the op
    # then decodes (the encoder runs once, here, not in the op).
    outer_nodes = copy_nodes(eg.node, Renamer("e:", {"input_features": "input_features", "last_hidden_state": "audio"}), "enc")
    outer_consts = shape_consts() + [
        numpy_helper.from_array(np.array([0], dtype=np.int64), "c:s0"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "c:s1"),
        numpy_helper.from_array(np.array([no_speech], dtype=np.int64), "c:ns"),
        numpy_helper.from_array(np.array([-1], dtype=np.int64), "c:flat"),
    ]
    ns_outputs = {"logits": "n:logits"}
    for i in range(n_layers):
        for kv in ("key", "value"):
            ns_outputs[f"present.{i}.decoder.{kv}"] = f"n:unused_self_{kv}_{i}"
    outer_nodes.append(
        helper.make_node("Slice", ["decoder_input_ids", "c:s0", "c:s1", "c:s1"], ["n:sot"], name="n:sot")
    )
    outer_nodes += first_pass("n:", "n:sot", "audio", ns_outputs, "n:")
    outer_consts += [
        numpy_helper.from_array(np.array(0, dtype=np.int32), "c:i0"),
        numpy_helper.from_array(np.array(-np.inf, dtype=np.float32), "c:neg_inf"),
        numpy_helper.from_array(np.array(0.0, dtype=np.float32), "c:f0"),
    ]
    outer_nodes += [
        helper.make_node("Equal", ["vocab_mask", "c:i0"], ["c:suppressed"], name="suppress_eq"),
        helper.make_node("Where", ["c:suppressed", "c:neg_inf", "c:f0"], ["suppress_add"], name="suppress_row"),
        helper.make_node("Softmax", ["n:logits"], ["n:probs"], axis=-1, name="n:softmax"),
        helper.make_node("Gather", ["n:probs", "c:ns"], ["n:p"], axis=2, name="n:gather"),
        helper.make_node("Reshape", ["n:p", "c:flat"], ["no_speech_probs"], name="n:flat"),
    ]

    # ---- encoder subgraph: the encoder output passed on, and the first pass over the prompt ------
    init_outputs = {"logits": "init:logits"}
    for i in range(n_layers):
        for kv in ("key", "value"):
            init_outputs[f"present.{i}.decoder.{kv}"] = present_self(i, kv)
            init_outputs[f"present.{i}.encoder.{kv}"] = present_cross(i, kv)
    nodes = [helper.make_node("Identity", ["encoder_input_ids"], ["encoder_hidden_states"], name="pass_audio")]
    nodes += first_pass("init:", "decoder_input_ids", "encoder_hidden_states", init_outputs, "d:")
    # The masks go into the logits themselves, before the op's log-softmax, so that its scores are
    # normalised over the tokens that may be sampled, as Whisper's avg_logprob is: the suppressed
    # tokens (vocab_mask, as an additive row built in the outer graph) and, at the first sampled
    # position, everything but the timestamps <|0.00|> … <|1.00|>.
    first_step = np.full(vocab, -np.inf, dtype=np.float32)
    first_step[no_ts + 1 : no_ts + 2 + max_initial] = 0.0
    nodes += [
        helper.make_node("Add", ["init:logits", "suppress_add"], ["init:logits_s"], name="init:suppress"),
        helper.make_node("Add", ["init:logits_s", "c:first_step"], ["logits"], name="init:first_step"),
    ]
    enc_inputs = [
        value_info("encoder_input_ids", TensorProto.FLOAT, ["batch", n_audio, d_model]),
        value_info("decoder_input_ids", TensorProto.INT32, ["batch", "prompt"]),
    ]
    enc_outputs = [
        value_info("logits", TensorProto.FLOAT, ["batch", "prompt", vocab]),
        value_info("encoder_hidden_states", TensorProto.FLOAT, ["batch", n_audio, d_model]),
    ]
    enc_outputs += [
        value_info(present_self(i, kv), TensorProto.FLOAT, ["batch", heads, "prompt", head_dim])
        for i in range(n_layers)
        for kv in ("key", "value")
    ]
    enc_outputs += [
        value_info(present_cross(i, kv), TensorProto.FLOAT, ["batch", heads, n_audio, head_dim])
        for i in range(n_layers)
        for kv in ("key", "value")
    ]
    encoder_graph = helper.make_graph(
        nodes,
        "whisper_first_pass",
        enc_inputs,
        enc_outputs,
        shape_consts() + sub_inits + [numpy_helper.from_array(first_step, "c:first_step")],
    )

    # ---- decoder subgraph: one cached step ----------------------------------------------------
    step_map = {"input_ids": "step:ids64", "logits": "step:logits"}
    for i in range(n_layers):
        for kv in ("key", "value"):
            step_map[f"past_key_values.{i}.decoder.{kv}"] = f"past_{kv}_self_{i}"
            step_map[f"present.{i}.decoder.{kv}"] = present_self(i, kv)
            step_map[f"past_key_values.{i}.encoder.{kv}"] = f"past_{kv}_cross_{i}"
            step_map[f"present.{i}.encoder.{kv}"] = f"past_{kv}_cross_{i}"
    # the then branch only passes the cached cross K/V through: the If's outputs are the inputs
    for n in then_g.node:
        if n.op_type != "Identity":
            fail("the If's then branch is not a pass-through")
    step_nodes = [helper.make_node("Cast", ["input_ids"], ["step:ids64"], to=TensorProto.INT64, name="step/cast")]
    step_nodes += copy_nodes(main_nodes, Renamer("d:", step_map), "step")
    step_nodes.append(helper.make_node("Add", ["step:logits", "suppress_add"], ["logits"], name="step:suppress"))
    dec_inputs = [value_info("input_ids", TensorProto.INT32, ["batch", 1])]
    dec_inputs += [
        value_info(f"past_{kv}_self_{i}", TensorProto.FLOAT, ["batch", heads, "past", head_dim])
        for i in range(n_layers)
        for kv in ("key", "value")
    ]
    dec_inputs += [
        value_info(f"past_{kv}_cross_{i}", TensorProto.FLOAT, ["batch", heads, n_audio, head_dim])
        for i in range(n_layers)
        for kv in ("key", "value")
    ]
    dec_outputs = [value_info("logits", TensorProto.FLOAT, ["batch", 1, vocab])]
    dec_outputs += [
        value_info(present_self(i, kv), TensorProto.FLOAT, ["batch", heads, "total", head_dim])
        for i in range(n_layers)
        for kv in ("key", "value")
    ]
    decoder_graph = helper.make_graph(step_nodes, "whisper_decoder_step", dec_inputs, dec_outputs)

    # ---- the outer graph ------------------------------------------------------------------------
    op_inputs = [
        "audio",
        "max_length",
        "min_length",
        "num_beams",
        "num_return_sequences",
        "length_penalty",
        "repetition_penalty",
        "vocab_mask",
        "prefix_vocab_mask",
        "",  # attention_mask
        "decoder_input_ids",
        "logits_processor",
    ]
    beam = helper.make_node(
        "WhisperBeamSearch",
        op_inputs,
        ["sequences", "sequences_scores"],
        domain=MS_DOMAIN,
        name="whisper_beam_search",
        eos_token_id=eot,
        pad_token_id=eot,
        decoder_start_token_id=sot,
        no_repeat_ngram_size=0,
        early_stopping=1,
        model_type=2,
        vocab_size=vocab,
        no_speech_token_id=no_speech,
        no_timestamps_token_id=no_ts,
        beginning_timestamp_token_id=no_ts + 1,
        translate_token_id=no_ts - 5,
        transcribe_token_id=no_ts - 4,
        start_of_lm_token_id=no_ts - 3,
        encoder=encoder_graph,
        decoder=decoder_graph,
    )
    scalar_i = lambda n: value_info(n, TensorProto.INT32, [1])  # noqa: E731
    scalar_f = lambda n: value_info(n, TensorProto.FLOAT, [1])  # noqa: E731
    graph = helper.make_graph(
        outer_nodes + [beam],
        "whisper_beam_search",
        [
            value_info("input_features", TensorProto.FLOAT, ["batch", n_mels, n_audio * 2]),
            scalar_i("max_length"),
            scalar_i("min_length"),
            scalar_i("num_beams"),
            scalar_i("num_return_sequences"),
            scalar_f("length_penalty"),
            scalar_f("repetition_penalty"),
            value_info("vocab_mask", TensorProto.INT32, [vocab]),
            value_info("prefix_vocab_mask", TensorProto.INT32, ["batch", vocab]),
            value_info("decoder_input_ids", TensorProto.INT32, ["batch", "prompt"]),
            scalar_i("logits_processor"),
        ],
        [
            value_info("sequences", TensorProto.INT32, ["batch", 1, "max_length"]),
            value_info("sequences_scores", TensorProto.FLOAT, ["batch", 1]),
            value_info("no_speech_probs", TensorProto.FLOAT, ["batch"]),
        ],
        outer_consts + outer_inits,
    )
    opsets = [helper.make_opsetid("", max(17, enc.opset_import[0].version)), helper.make_opsetid(MS_DOMAIN, 1)]
    model = helper.make_model(graph, opset_imports=opsets, producer_name="audio-pipeline")
    model.ir_version = max(enc.ir_version, dec.ir_version, 8)
    tmp = out_file + ".tmp"
    onnx.save(model, tmp)
    os.replace(tmp, out_file)
    print(json.dumps({"out": out_file, "bytes": os.path.getsize(out_file), "layers": n_layers, "no_speech": no_speech}))


if __name__ == "__main__":
    main()
