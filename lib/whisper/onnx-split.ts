/**
 * Splits a merged Whisper decoder (`decoder_model_merged.onnx`: one graph whose `If` on
 * `use_cache_branch` either computes the cross-attention K/V from `encoder_hidden_states` or
 * passes the cached ones through) into two graphs, in memory:
 *
 *  - cross: `encoder_hidden_states` → `present.{i}.encoder.{key,value}` (the else branch), run
 *    once per window;
 *  - withPast: the decoder proper, taking every K/V as an input (the then branch), run per token.
 *
 * onnxruntime copies the outputs of an `If` on every run: with the merged graph every decoding
 * step copied the cross-attention K/V of every sequence (6 layers × 2 × 1500 × 512 floats = 37 MB
 * per sequence for base). The split graphs have no `If`; the weights are the file's own, only the
 * graph around them changes. Works on the ONNX protobuf bytes directly (no protobuf library): only
 * the fields needed here are read, everything else is copied through unchanged.
 */

// ---- protobuf wire format ---------------------------------------------------------------------

interface Field {
  no: number;
  wire: number;
  /** Payload range (length-delimited fields) or value range. */
  start: number;
  end: number;
  /** The whole field, tag included. */
  rawStart: number;
}

function readVarint(buf: Uint8Array, pos: number): [number, number] {
  let result = 0;
  let mul = 1;
  for (;;) {
    const b = buf[pos++];
    if (b === undefined) throw new Error('protobuf: truncated varint');
    result += (b & 0x7f) * mul;
    if (b < 0x80) return [result, pos];
    mul *= 128;
  }
}

function* fields(buf: Uint8Array, start = 0, end = buf.length): Generator<Field> {
  let pos = start;
  while (pos < end) {
    const rawStart = pos;
    const [key, p1] = readVarint(buf, pos);
    pos = p1;
    const no = Math.floor(key / 8);
    const wire = key & 7;
    let s = pos;
    let e: number;
    if (wire === 0) {
      e = readVarint(buf, pos)[1];
    } else if (wire === 1) {
      e = pos + 8;
    } else if (wire === 5) {
      e = pos + 4;
    } else if (wire === 2) {
      const [len, p2] = readVarint(buf, pos);
      s = p2;
      e = p2 + len;
    } else {
      throw new Error(`protobuf: unsupported wire type ${wire}`);
    }
    if (e > end) throw new Error('protobuf: field runs past its message');
    pos = e;
    yield { no, wire, start: s, end: e, rawStart };
  }
}

const utf8 = new TextDecoder();
const str = (buf: Uint8Array, f: Field) => utf8.decode(buf.subarray(f.start, f.end));

function varint(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n % 128) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}

/** A length-delimited field: tag, length, payload. */
function lenField(no: number, payload: Uint8Array[]): Uint8Array[] {
  const len = payload.reduce((n, p) => n + p.length, 0);
  return [Uint8Array.from([...varint(no * 8 + 2), ...varint(len)]), ...payload];
}

function strField(no: number, s: string): Uint8Array[] {
  return lenField(no, [new TextEncoder().encode(s)]);
}

function concat(parts: Uint8Array[]): Uint8Array {
  const len = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(len);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

// ---- ONNX messages (field numbers from onnx.proto) -----------------------------------------------

const MODEL_GRAPH = 7;
const GRAPH = { node: 1, initializer: 5, input: 11, output: 12, valueInfo: 13, sparseInitializer: 15 };
const NODE = { input: 1, output: 2, name: 3, opType: 4, attribute: 5, domain: 7 };
const ATTR = { name: 1, g: 6 };
const VALUE_INFO_NAME = 1;
const TENSOR = { name: 8, dataLocation: 14 };

interface NodeInfo {
  raw: Uint8Array;
  inputs: string[];
  outputs: string[];
  opType: string;
  /** Subgraph attributes by name (payload of AttributeProto.g). */
  graphs: Map<string, Uint8Array>;
}

interface GraphParts {
  nodes: NodeInfo[];
  /** Initializers with their names. */
  initializers: Array<{ name: string; raw: Uint8Array; external: boolean }>;
  inputs: Array<{ name: string; raw: Uint8Array }>;
  outputs: Array<{ name: string; raw: Uint8Array }>;
  valueInfo: Array<{ name: string; raw: Uint8Array }>;
  /** Every other field, copied through. */
  other: Uint8Array[];
}

function nameOf(buf: Uint8Array, start: number, end: number, fieldNo: number): string {
  for (const f of fields(buf, start, end)) if (f.no === fieldNo && f.wire === 2) return str(buf, f);
  return '';
}

function parseNode(buf: Uint8Array, f: Field): NodeInfo {
  const node: NodeInfo = {
    raw: buf.subarray(f.rawStart, f.end),
    inputs: [],
    outputs: [],
    opType: '',
    graphs: new Map(),
  };
  for (const g of fields(buf, f.start, f.end)) {
    if (g.wire !== 2) continue;
    if (g.no === NODE.input) node.inputs.push(str(buf, g));
    else if (g.no === NODE.output) node.outputs.push(str(buf, g));
    else if (g.no === NODE.opType) node.opType = str(buf, g);
    else if (g.no === NODE.attribute) {
      let name = '';
      let graph: Uint8Array | undefined;
      for (const a of fields(buf, g.start, g.end)) {
        if (a.no === ATTR.name && a.wire === 2) name = str(buf, a);
        else if (a.no === ATTR.g && a.wire === 2) graph = buf.subarray(a.start, a.end);
      }
      if (graph) node.graphs.set(name, graph);
    }
  }
  return node;
}

function parseGraph(buf: Uint8Array): GraphParts {
  const parts: GraphParts = {
    nodes: [],
    initializers: [],
    inputs: [],
    outputs: [],
    valueInfo: [],
    other: [],
  };
  for (const f of fields(buf)) {
    const raw = buf.subarray(f.rawStart, f.end);
    if (f.wire !== 2) {
      parts.other.push(raw);
      continue;
    }
    switch (f.no) {
      case GRAPH.node:
        parts.nodes.push(parseNode(buf, f));
        break;
      case GRAPH.initializer: {
        let name = '';
        let external = false;
        for (const t of fields(buf, f.start, f.end)) {
          if (t.no === TENSOR.name && t.wire === 2) name = str(buf, t);
          else if (t.no === TENSOR.dataLocation && t.wire === 0) external = readVarint(buf, t.start)[0] === 1;
        }
        parts.initializers.push({ name, raw, external });
        break;
      }
      case GRAPH.input:
        parts.inputs.push({ name: nameOf(buf, f.start, f.end, VALUE_INFO_NAME), raw });
        break;
      case GRAPH.output:
        parts.outputs.push({ name: nameOf(buf, f.start, f.end, VALUE_INFO_NAME), raw });
        break;
      case GRAPH.valueInfo:
        parts.valueInfo.push({ name: nameOf(buf, f.start, f.end, VALUE_INFO_NAME), raw });
        break;
      case GRAPH.sparseInitializer:
        throw new Error('sparse initializers are not supported');
      default:
        parts.other.push(raw);
    }
  }
  return parts;
}

function identityNode(input: string, output: string): Uint8Array {
  return concat(
    lenField(GRAPH.node, [
      ...strField(NODE.input, input),
      ...strField(NODE.output, output),
      ...strField(NODE.name, `split_identity_${output}`),
      ...strField(NODE.opType, 'Identity'),
    ]),
  );
}

function buildGraph(p: {
  nodes: Uint8Array[];
  initializers: Uint8Array[];
  inputs: Uint8Array[];
  outputs: Uint8Array[];
  valueInfo: Uint8Array[];
  other: Uint8Array[];
}): Uint8Array[] {
  // Field order as onnx writes it: nodes, name/doc (other), initializers, inputs, outputs, value_info.
  return [...p.nodes, ...p.other, ...p.initializers, ...p.inputs, ...p.outputs, ...p.valueInfo];
}

function buildModel(model: Uint8Array, graph: Uint8Array[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const f of fields(model)) {
    if (f.no === MODEL_GRAPH && f.wire === 2) parts.push(...lenField(MODEL_GRAPH, graph));
    else parts.push(model.subarray(f.rawStart, f.end));
  }
  return concat(parts);
}

/** Names a graph's nodes read (inputs of nodes, subgraphs included). */
function referencedNames(buf: Uint8Array): Set<string> {
  const names = new Set<string>();
  for (const f of fields(buf)) {
    if (f.no !== GRAPH.node || f.wire !== 2) continue;
    const n = parseNode(buf, f);
    n.inputs.forEach((x) => names.add(x));
    for (const g of n.graphs.values()) referencedNames(g).forEach((x) => names.add(x));
  }
  return names;
}

export interface SplitDecoder {
  /** encoder_hidden_states → present.{i}.encoder.{key,value} */
  cross: Uint8Array;
  /** input_ids + all past_key_values → logits + present.{i}.decoder.{key,value} */
  withPast: Uint8Array;
}

/**
 * Splits a merged decoder's bytes. Throws when the graph does not have the expected shape (one
 * `If` on `use_cache_branch` whose branches yield the cross-attention K/V), so that a caller
 * can fall back to the merged graph.
 */
export function splitMergedDecoder(model: Uint8Array): SplitDecoder {
  let graphBytes: Uint8Array | undefined;
  for (const f of fields(model))
    if (f.no === MODEL_GRAPH && f.wire === 2) graphBytes = model.subarray(f.start, f.end);
  if (!graphBytes) throw new Error('no graph');
  const g = parseGraph(graphBytes);
  if (g.initializers.some((i) => i.external)) throw new Error('weights in external data files');
  const ifs = g.nodes.filter((n) => n.opType === 'If');
  if (ifs.length !== 1) throw new Error(`expected one If node, found ${ifs.length}`);
  const ifNode = ifs[0];
  if (ifNode.inputs[0] !== 'use_cache_branch') throw new Error('the If does not test use_cache_branch');
  const thenG = ifNode.graphs.get('then_branch');
  const elseG = ifNode.graphs.get('else_branch');
  if (!thenG || !elseG) throw new Error('If without branches');
  const thenParts = parseGraph(thenG);
  const elseParts = parseGraph(elseG);
  const presentEnc = ifNode.outputs;
  if (presentEnc.length === 0 || !presentEnc.every((o) => /^present\.\d+\.encoder\.(key|value)$/.test(o))) {
    throw new Error('If outputs are not present.*.encoder.*');
  }
  if (thenParts.outputs.length !== presentEnc.length || elseParts.outputs.length !== presentEnc.length)
    throw new Error('branch outputs do not match');

  // withPast: the then branch passes past_key_values.{i}.encoder.* through; make that an Identity
  // (optimised away, as the present.*.encoder outputs are dropped) and drop the If.
  const passInput = new Map<string, string>();
  for (const n of thenParts.nodes) {
    if (n.opType !== 'Identity' || n.inputs.length !== 1)
      throw new Error('then branch is not a pass-through');
    passInput.set(n.outputs[0], n.inputs[0]);
  }
  // Nodes of the main graph computed from encoder_hidden_states alone belong to the cross graph:
  // a quantized decoder quantizes encoder_hidden_states (DynamicQuantizeLinear) outside the If
  // for the MatMulIntegers inside it. They may feed only each other and the If.
  const crossSide = new Set<NodeInfo>();
  const crossSideNames = new Set<string>(['encoder_hidden_states']);
  for (const n of g.nodes) {
    if (n === ifNode || !n.inputs.some((x) => crossSideNames.has(x))) continue;
    if (n.graphs.size > 0) throw new Error(`${n.opType} with a subgraph reads encoder_hidden_states`);
    crossSide.add(n);
    n.outputs.forEach((o) => crossSideNames.add(o));
  }
  const withPastNodes: Uint8Array[] = [];
  for (const n of g.nodes) {
    if (crossSide.has(n)) continue;
    if (n === ifNode) {
      presentEnc.forEach((out, k) => {
        const src = passInput.get(thenParts.outputs[k].name);
        if (!src) throw new Error(`then branch output ${thenParts.outputs[k].name} is not a pass-through`);
        withPastNodes.push(identityNode(src, out));
      });
    } else withPastNodes.push(n.raw);
  }
  const dropInputs = new Set(['use_cache_branch', 'encoder_hidden_states']);
  const stillUsed = new Set<string>();
  for (const n of g.nodes) if (n !== ifNode && !crossSide.has(n)) n.inputs.forEach((x) => stillUsed.add(x));
  for (const name of crossSideNames) {
    if (stillUsed.has(name)) throw new Error(`${name} (from encoder_hidden_states) is used outside the If`);
  }
  if (stillUsed.has('use_cache_branch')) throw new Error('use_cache_branch is used outside the If');
  if (g.outputs.some((o) => crossSideNames.has(o.name)))
    throw new Error('a graph output is computed from encoder_hidden_states');
  const elseRefs = referencedNames(elseG);
  for (const n of crossSide) n.inputs.forEach((x) => elseRefs.add(x));
  const withPast = buildModel(
    model,
    buildGraph({
      nodes: withPastNodes,
      other: g.other,
      initializers: g.initializers.filter((i) => stillUsed.has(i.name)).map((i) => i.raw),
      inputs: g.inputs.filter((i) => !dropInputs.has(i.name)).map((i) => i.raw),
      outputs: g.outputs.filter((o) => !presentEnc.includes(o.name)).map((o) => o.raw),
      valueInfo: g.valueInfo
        .filter((v) => !presentEnc.includes(v.name) && !crossSideNames.has(v.name))
        .map((v) => v.raw),
    }),
  );

  // cross: the else branch's nodes at top level, reading the outer graph's initializers.
  const produced = new Set<string>(elseParts.nodes.flatMap((n) => n.outputs));
  const available = new Set<string>([
    ...g.initializers.map((i) => i.name),
    ...elseParts.initializers.map((i) => i.name),
    ...crossSideNames,
    '',
  ]);
  for (const name of elseRefs) {
    if (!produced.has(name) && !available.has(name))
      throw new Error(`else branch reads ${name} from the outer graph`);
  }
  const crossNodes = [
    ...g.nodes.filter((n) => crossSide.has(n)).map((n) => n.raw),
    ...elseParts.nodes.map((n) => n.raw),
  ];
  presentEnc.forEach((out, k) => crossNodes.push(identityNode(elseParts.outputs[k].name, out)));
  const cross = buildModel(
    model,
    buildGraph({
      nodes: crossNodes,
      other: g.other,
      initializers: [
        ...g.initializers.filter((i) => elseRefs.has(i.name)).map((i) => i.raw),
        ...elseParts.initializers.map((i) => i.raw),
      ],
      inputs: g.inputs.filter((i) => i.name === 'encoder_hidden_states').map((i) => i.raw),
      outputs: g.outputs.filter((o) => presentEnc.includes(o.name)).map((o) => o.raw),
      valueInfo: [],
    }),
  );
  return { cross, withPast };
}
