// onnx_eval.js, written next to the model by `hf-bilstm export`: this folder's ONNX files evaluated in plain
// JavaScript (no dependencies, Node or the browser), with ONNX Runtime's CPU answers.
//
// The demo page's first answer waited on ONNX Runtime Web (14 MB of WebAssembly to fetch, compile and start) for a
// model that is an embedding, one or two recurrent layers, a pooling and a linear head. This file reads the ONNX
// protobuf itself and runs exactly the operators `hf-bilstm export` writes (fp32 and `--quantize int8`), with float32
// results (Float32Array storage rounds every element-wise result as float32 arithmetic does).
//
//   import { InferenceSession, Tensor } from './onnx_eval.js';
//   const session = InferenceSession.create(new Uint8Array(bytes));   // throws naming any operator it lacks
//   const { logits } = session.run({ input_ids: new Tensor('int64', ids, [1, n]), attention_mask: ... });
//
// int8 follows ONNX Runtime's CPU kernels, not only the ONNX text, so that answers match `hf-bilstm predict`:
// DynamicQuantizeLSTM (com.microsoft) quantizes the activations of each GEMM to uint8 over the whole matrix
// (min/max widened to 0, scale = (max - min) / 255, zero point rounded half to even, x -> nearbyint(x / scale) + zp,
// saturated), sums the integer products exactly and scales them by scale_a * scale_w in float; the input projection
// is one GEMM over every timestep below the longest row, the recurrent one one GEMM per step over the whole batch (as
// ONNX Runtime does for a batch it does not split between threads: one text at a time, as hf_bilstm.js runs int8);
// sigmoid and tanh are MLAS's rational approximations (as on an x86-64 CPU with FMA). Integer tensors of type int64
// are held as Float64Array (exact below 2^53: token ids, lengths and shapes).
//
// The integer products of int8 weights are summed exactly by default, as MLAS does on x86-64 CPUs with VNNI or AMX
// (bit for bit on an AVX-512 VNNI CPU). MLAS's AVX2 / AVX-512BW kernels without VNNI first add the products of
// k = 2p and 2p + 1 in int16 with saturation (vpmaddubsw), so on such a CPU ONNX Runtime's answers differ a little:
// setInt8Products('saturating') (or HF_BILSTM_INT8_PRODUCTS=saturating in Node) reproduces them bit for bit; Python's
// hf_bilstm.onnx.javascript.onnxruntime_int8_products() says which one this machine's ONNX Runtime uses.

const INT8_PRODUCTS = ['exact', 'saturating'];
let int8Products = 'exact';

/** How int8 weight products are summed by the sessions created after this call: 'exact' (the default) or
 * 'saturating' (MLAS's x86-64 kernels without VNNI). */
export function setInt8Products(mode) {
  if (!INT8_PRODUCTS.includes(mode)) {
    throw new OnnxEvalError(`int8 products are summed ${INT8_PRODUCTS.join(' or ')}, not ${JSON.stringify(mode)}`);
  }
  int8Products = mode;
}

export class OnnxEvalError extends Error {
  constructor(message) {
    super(`onnx_eval.js: ${message}`);
    this.name = 'OnnxEvalError';
  }
}

const TYPES = {
  1: 'float32', 2: 'uint8', 3: 'int8', 4: 'uint16', 5: 'int16', 6: 'int32', 7: 'int64', 9: 'bool', 11: 'float64',
  12: 'uint32', 13: 'uint64',
};
const ARRAYS = {
  float32: Float32Array, uint8: Uint8Array, int8: Int8Array, uint16: Uint16Array, int16: Int16Array,
  int32: Int32Array, int64: Float64Array, bool: Uint8Array, float64: Float64Array, uint32: Uint32Array,
  uint64: Float64Array,
};
const INTEGER = new Set(['uint8', 'int8', 'uint16', 'int16', 'int32', 'int64', 'uint32', 'uint64']);

/** A tensor: `type` ('float32', 'int64', ...), `data` (a typed array; int64 as Float64Array or BigInt64Array on
 * input), `dims`. */
export class Tensor {
  constructor(type, data, dims) {
    if (!(type in ARRAYS)) throw new OnnxEvalError(`tensor type ${type} is not supported`);
    if (data instanceof BigInt64Array || data instanceof BigUint64Array) data = Float64Array.from(data, Number);
    else if (!(data instanceof ARRAYS[type])) data = ARRAYS[type].from(data);
    const size = dims.reduce((a, b) => a * b, 1);
    if (size !== data.length) throw new OnnxEvalError(`tensor of dims [${dims}] given ${data.length} values`);
    this.type = type;
    this.data = data;
    this.dims = dims.slice();
  }

  get size() {
    return this.data.length;
  }
}

const sizeOf = (dims) => dims.reduce((a, b) => a * b, 1);
const make = (type, dims, data) => new Tensor(type, data ?? new ARRAYS[type](sizeOf(dims)), dims);
const scalarOf = (tensor) => (tensor === undefined ? undefined : tensor.data[0]);
const listOf = (tensor) => (tensor === undefined ? undefined : Array.from(tensor.data, Number));

// ---------------------------------------------------------------------------------------------------------------
// Protobuf: the parts of onnx.proto the graph needs (ModelProto, GraphProto, NodeProto, AttributeProto, TensorProto).

class Reader {
  constructor(bytes, start = 0, end = bytes.length) {
    this.bytes = bytes;
    this.pos = start;
    this.end = end;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  more() {
    return this.pos < this.end;
  }

  varint() {
    // Non-negative values below 2^53 (lengths, tags, enums, dims).
    let result = 0;
    let scale = 1;
    for (;;) {
      if (this.pos >= this.end) throw new OnnxEvalError('truncated ONNX file (a varint runs past its message)');
      const byte = this.bytes[this.pos++];
      result += (byte & 0x7f) * scale;
      if (!(byte & 0x80)) return result;
      scale *= 128;
    }
  }

  int64() {
    // A signed int64 varint (negative values take ten bytes), as a Number.
    const start = this.pos;
    let value = 0n;
    let shift = 0n;
    for (;;) {
      if (this.pos >= this.end) throw new OnnxEvalError('truncated ONNX file (a varint runs past its message)');
      const byte = this.bytes[this.pos++];
      value |= BigInt(byte & 0x7f) << shift;
      if (!(byte & 0x80)) break;
      shift += 7n;
    }
    if (this.pos - start <= 7) return Number(value);
    return Number(BigInt.asIntN(64, value));
  }

  sub() {
    const length = this.varint();
    const start = this.pos;
    this.pos += length;
    if (this.pos > this.end) throw new OnnxEvalError('truncated ONNX file (a field runs past its message)');
    return new Reader(this.bytes, start, this.pos);
  }

  bytesField() {
    const reader = this.sub();
    return this.bytes.subarray(reader.pos, reader.end);
  }

  string() {
    return new TextDecoder().decode(this.bytesField());
  }

  float() {
    const value = this.view.getFloat32(this.pos, true);
    this.pos += 4;
    return value;
  }

  double() {
    const value = this.view.getFloat64(this.pos, true);
    this.pos += 8;
    return value;
  }

  skip(wire) {
    if (wire === 0) this.varint();
    else if (wire === 1) this.pos += 8;
    else if (wire === 2) this.pos = this.varint() + this.pos; // the length first: it moves pos
    else if (wire === 5) this.pos += 4;
    else throw new OnnxEvalError(`unsupported protobuf wire type ${wire}`);
  }

  // Each (field, wire type) of a message, for a switch on the field number.
  *fields() {
    while (this.more()) {
      const tag = this.varint();
      yield [Math.floor(tag / 8), tag & 7];
    }
  }

  // A repeated scalar field, packed (wire type 2) or one value at a time.
  repeated(wire, read, into) {
    if (wire === 2) {
      const reader = this.sub();
      while (reader.more()) into.push(read(reader));
    } else {
      into.push(read(this));
    }
  }
}

const readInt64 = (reader) => reader.int64();
const readFloat = (reader) => reader.float();
const readDouble = (reader) => reader.double();

function typedView(Type, bytes, count) {
  // raw_data sits anywhere in the file; typed arrays need their element alignment.
  if (bytes.byteOffset % Type.BYTES_PER_ELEMENT === 0) return new Type(bytes.buffer, bytes.byteOffset, count);
  return new Type(bytes.slice().buffer, 0, count);
}

function parseTensor(reader) {
  const dims = [];
  let dataType = 0;
  let name = '';
  let raw = null;
  const values = [];
  for (const [field, wire] of reader.fields()) {
    switch (field) {
      case 1: reader.repeated(wire, readInt64, dims); break;
      case 2: dataType = reader.varint(); break;
      case 4: reader.repeated(wire, readFloat, values); break;
      case 5: case 7: case 11: reader.repeated(wire, readInt64, values); break;
      case 8: name = reader.string(); break;
      case 9: raw = reader.bytesField(); break;
      case 10: reader.repeated(wire, readDouble, values); break;
      case 13: throw new OnnxEvalError(`tensor ${name || '?'} keeps its data in an external file; export with the data inside`);
      default: reader.skip(wire);
    }
  }
  const type = TYPES[dataType];
  if (!type) throw new OnnxEvalError(`tensor ${name} has ONNX data type ${dataType}, which onnx_eval.js does not read`);
  const count = sizeOf(dims);
  let data;
  if (raw !== null) {
    if (type === 'int64' || type === 'uint64') {
      const big = typedView(type === 'int64' ? BigInt64Array : BigUint64Array, raw, count);
      data = Float64Array.from(big, Number);
    } else {
      data = typedView(ARRAYS[type], raw, count);
    }
  } else {
    data = ARRAYS[type].from(values);
  }
  if (data.length !== count) throw new OnnxEvalError(`tensor ${name} holds ${data.length} values for dims [${dims}]`);
  return { name, tensor: new Tensor(type, data, dims) };
}

function parseAttribute(reader) {
  const attribute = { name: '', type: 0 };
  const floats = [];
  const ints = [];
  const strings = [];
  for (const [field, wire] of reader.fields()) {
    switch (field) {
      case 1: attribute.name = reader.string(); break;
      case 2: attribute.f = reader.float(); break;
      case 3: attribute.i = reader.int64(); break;
      case 4: attribute.s = reader.string(); break;
      case 5: attribute.t = parseTensor(reader.sub()).tensor; break;
      case 7: reader.repeated(wire, readFloat, floats); break;
      case 8: reader.repeated(wire, readInt64, ints); break;
      case 9: strings.push(reader.string()); break;
      case 20: attribute.type = reader.varint(); break;
      default: reader.skip(wire);
    }
  }
  // AttributeType: FLOAT 1, INT 2, STRING 3, TENSOR 4, FLOATS 6, INTS 7, STRINGS 8.
  const byType = { 1: attribute.f, 2: attribute.i, 3: attribute.s, 4: attribute.t, 6: floats, 7: ints, 8: strings };
  let value = byType[attribute.type];
  if (value === undefined) {
    value = attribute.t ?? attribute.s ?? attribute.i ?? attribute.f
      ?? (ints.length ? ints : floats.length ? floats : strings.length ? strings : undefined);
  }
  return [attribute.name, value ?? 0];
}

function parseNode(reader) {
  const node = { inputs: [], outputs: [], name: '', opType: '', domain: '', attributes: {} };
  for (const [field, wire] of reader.fields()) {
    switch (field) {
      case 1: node.inputs.push(reader.string()); break;
      case 2: node.outputs.push(reader.string()); break;
      case 3: node.name = reader.string(); break;
      case 4: node.opType = reader.string(); break;
      case 5: { const [name, value] = parseAttribute(reader.sub()); node.attributes[name] = value; break; }
      case 7: node.domain = reader.string(); break;
      default: reader.skip(wire);
    }
  }
  return node;
}

function parseValueInfoName(reader) {
  let name = '';
  for (const [field, wire] of reader.fields()) {
    if (field === 1) name = reader.string();
    else reader.skip(wire);
  }
  return name;
}

function parseGraph(reader) {
  const graph = { nodes: [], initializers: new Map(), inputs: [], outputs: [] };
  for (const [field, wire] of reader.fields()) {
    switch (field) {
      case 1: graph.nodes.push(parseNode(reader.sub())); break;
      case 5: { const { name, tensor } = parseTensor(reader.sub()); graph.initializers.set(name, tensor); break; }
      case 11: graph.inputs.push(parseValueInfoName(reader.sub())); break;
      case 12: graph.outputs.push(parseValueInfoName(reader.sub())); break;
      case 15: throw new OnnxEvalError('the graph has sparse initializers, which onnx_eval.js does not read');
      default: reader.skip(wire);
    }
  }
  return graph;
}

/** The graph of an ONNX file's bytes: {nodes, initializers, inputs, outputs, opsets}. */
export function parseModel(bytes) {
  if (bytes instanceof ArrayBuffer) bytes = new Uint8Array(bytes);
  const reader = new Reader(bytes);
  let graph = null;
  const opsets = {};
  for (const [field, wire] of reader.fields()) {
    if (field === 7) {
      graph = parseGraph(reader.sub());
    } else if (field === 8) {
      const opset = reader.sub();
      let domain = '';
      let version = 0;
      for (const [f, w] of opset.fields()) {
        if (f === 1) domain = opset.string();
        else if (f === 2) version = opset.int64();
        else opset.skip(w);
      }
      opsets[domain] = version;
    } else {
      reader.skip(wire);
    }
  }
  if (!graph) throw new OnnxEvalError('no graph in this file: is it an ONNX model?');
  graph.opsets = opsets;
  return graph;
}

// ---------------------------------------------------------------------------------------------------------------
// Shapes and broadcasting.

const normalAxis = (axis, rank) => (axis < 0 ? axis + rank : axis);

function broadcastDims(...shapes) {
  const rank = Math.max(...shapes.map((dims) => dims.length));
  const out = new Array(rank).fill(1);
  for (const dims of shapes) {
    for (let i = 0; i < dims.length; i++) {
      const j = rank - dims.length + i;
      if (dims[i] === out[j] || dims[i] === 1) continue;
      if (out[j] !== 1) throw new OnnxEvalError(`shapes [${shapes.join('] [')}] do not broadcast`);
      out[j] = dims[i];
    }
  }
  return out;
}

const sameDims = (a, b) => a.length === b.length && a.every((d, i) => d === b[i]);

// For each element of a tensor of dims `out`, the index of the element of a tensor of dims `dims` broadcast to it;
// null when the two are the same shape. In one of a few reused buffers (`slot`): a run makes many, all short-lived.
const indexBuffers = [];
function broadcastIndex(out, dims, slot = 0) {
  const size = sizeOf(out);
  if (sameDims(out, dims)) return null;
  if (!(indexBuffers[slot]?.length >= size)) indexBuffers[slot] = new Int32Array(Math.max(size, 1024));
  const index = indexBuffers[slot];
  if (sizeOf(dims) === 1) return index.fill(0, 0, size);
  const rank = out.length;
  const strides = new Array(rank).fill(0);
  for (let i = dims.length - 1, step = 1; i >= 0; i--) {
    strides[rank - dims.length + i] = dims[i] === 1 ? 0 : step;
    step *= dims[i];
  }
  const counter = new Array(rank).fill(0);
  let offset = 0;
  for (let n = 0; n < size; n++) {
    index[n] = offset;
    for (let axis = rank - 1; axis >= 0; axis--) {
      counter[axis]++;
      offset += strides[axis];
      if (counter[axis] < out[axis]) break;
      offset -= strides[axis] * counter[axis];
      counter[axis] = 0;
    }
  }
  return index;
}

function elementwise(inputs, type, fn) {
  const dims = broadcastDims(...inputs.map((tensor) => tensor.dims));
  const out = make(type, dims);
  const size = out.data.length;
  const data = inputs.map((tensor) => tensor.data);
  const index = inputs.map((tensor, slot) => broadcastIndex(dims, tensor.dims, slot));
  const result = out.data;
  if (inputs.length === 1) {
    const [a] = data;
    for (let n = 0; n < size; n++) result[n] = fn(a[n]);
  } else if (inputs.length === 2) {
    const [a, b] = data;
    const [ia, ib] = index;
    for (let n = 0; n < size; n++) result[n] = fn(a[ia ? ia[n] : n], b[ib ? ib[n] : n]);
  } else {
    const [a, b, c] = data;
    const [ia, ib, ic] = index;
    for (let n = 0; n < size; n++) result[n] = fn(a[ia ? ia[n] : n], b[ib ? ib[n] : n], c[ic ? ic[n] : n]);
  }
  return out;
}

function arithmetic(fn, integerFn = fn) {
  return (node, [a, b]) => [elementwise([a, b], a.type, INTEGER.has(a.type) ? integerFn : fn)];
}

const compare = (fn) => (node, [a, b]) => [elementwise([a, b], 'bool', (x, y) => (fn(x, y) ? 1 : 0))];
const unary = (fn) => (node, [x]) => [elementwise([x], x.type, fn)];

function castTo(tensor, type) {
  const from = tensor.data;
  const out = make(type, tensor.dims);
  const to = out.data;
  if (type === 'bool') {
    for (let n = 0; n < from.length; n++) to[n] = from[n] ? 1 : 0;
  } else if (INTEGER.has(type) && !INTEGER.has(tensor.type) && tensor.type !== 'bool') {
    for (let n = 0; n < from.length; n++) to[n] = Number.isFinite(from[n]) ? Math.trunc(from[n]) : 0;
  } else {
    for (let n = 0; n < from.length; n++) to[n] = from[n];
  }
  return out;
}

function transpose(tensor, perm) {
  const rank = tensor.dims.length;
  perm = perm && perm.length ? perm : [...Array(rank).keys()].reverse();
  const dims = perm.map((axis) => tensor.dims[axis]);
  const out = make(tensor.type, dims);
  const inStrides = new Array(rank);
  for (let axis = rank - 1, step = 1; axis >= 0; axis--) {
    inStrides[axis] = step;
    step *= tensor.dims[axis];
  }
  const strides = perm.map((axis) => inStrides[axis]);
  const counter = new Array(rank).fill(0);
  const from = tensor.data;
  const to = out.data;
  let offset = 0;
  for (let n = 0; n < to.length; n++) {
    to[n] = from[offset];
    for (let axis = rank - 1; axis >= 0; axis--) {
      counter[axis]++;
      offset += strides[axis];
      if (counter[axis] < dims[axis]) break;
      offset -= strides[axis] * counter[axis];
      counter[axis] = 0;
    }
  }
  return out;
}

function reshapeDims(dims, shape, allowZero) {
  const out = shape.map((d, i) => (d === 0 && !allowZero ? dims[i] : d));
  const unknown = out.indexOf(-1);
  if (unknown >= 0) {
    const known = out.reduce((a, d, i) => (i === unknown ? a : a * d), 1);
    out[unknown] = known === 0 ? 0 : sizeOf(dims) / known;
  }
  if (sizeOf(out) !== sizeOf(dims)) throw new OnnxEvalError(`cannot reshape [${dims}] to [${shape}]`);
  return out;
}

const withDims = (tensor, dims) => new Tensor(tensor.type, tensor.data, dims);

// The axes of a Reduce*/Squeeze/Unsqueeze node: its second input (newer opsets) or its `axes` attribute.
const axesOf = (node, tensor) => listOf(tensor) ?? node.attributes.axes;

function reduce(node, [data, axesTensor], init, step, finish) {
  const rank = data.dims.length;
  let axes = axesOf(node, axesTensor);
  if (!axes || axes.length === 0) {
    if (node.attributes.noop_with_empty_axes) return [data];
    axes = [...Array(rank).keys()];
  }
  axes = axes.map((axis) => normalAxis(axis, rank));
  const keep = node.attributes.keepdims ?? 1;
  const kept = data.dims.map((d, axis) => (axes.includes(axis) ? 1 : d));
  const out = make(data.type, kept);
  out.data.fill(init);
  // Walking the input in order adds each output's terms in the order of the reduced axes, one float32 sum at a time.
  const from = data.data;
  const to = out.data;
  if (axes.every((axis) => axis < axes.length)) {
    // Leading axes (the pooling over time): rows of the input added to one row.
    const inner = to.length;
    for (let n = 0; n < from.length; n += inner) for (let j = 0; j < inner; j++) to[j] = step(to[j], from[n + j]);
  } else {
    const index = broadcastIndex(data.dims, kept, 3);
    for (let n = 0; n < from.length; n++) {
      const o = index ? index[n] : n;
      to[o] = step(to[o], from[n]);
    }
  }
  if (finish) {
    const count = sizeOf(data.dims) / Math.max(1, to.length);
    for (let o = 0; o < to.length; o++) to[o] = finish(to[o], count);
  }
  const dims = keep ? kept : data.dims.filter((d, axis) => !axes.includes(axis));
  return [withDims(out, dims)];
}

// ---------------------------------------------------------------------------------------------------------------
// MLAS's activations (onnxruntime/core/mlas/lib/logistic.cpp, tanh.cpp, their FMA3 kernels): rational
// approximations in float32, each multiply-add fused (one rounding), so that int8 states quantize as in ONNX Runtime.

const f32 = Math.fround;
const fma = (a, b, c) => f32(a * b + c); // a*b of two float32 is exact in a double: one rounding to float32
const [L9, L7, L5, L3, L1, LB10, LB8, LB6, LB4, LB2, LB0] = [4.37031012579801e-11, 1.15627324459942e-07, 6.08574864600143e-05, 8.51377133304701e-03,
  2.48287947061529e-01, 6.10247389755681e-13, 5.76102136993427e-09, 6.29106785017040e-06, 1.70198817374094e-03,
  1.16817656904453e-01, 9.93151921023180e-01].map(f32);
const [T13, T11, T9, T7, T5, T3, T1, TB6, TB4, TB2, TB0] = [-2.76076847742355e-16, 2.00018790482477e-13, -8.60467152213735e-11, 5.12229709037114e-08,
  1.48572235717979e-05, 6.37261928875436e-04, 4.89352455891786e-03, 1.19825839466702e-06, 1.18534705686654e-04,
  2.26843463243900e-03, 4.89352518554385e-03].map(f32);

export function sigmoid(x) {
  x = x < -18 ? -18 : x > 18 ? 18 : x;
  const x2 = f32(x * x);
  let p = fma(x2, L9, L7);
  p = fma(p, x2, L5);
  p = fma(p, x2, L3);
  p = fma(p, x2, L1);
  let q = fma(x2, LB10, LB8);
  q = fma(q, x2, LB6);
  q = fma(q, x2, LB4);
  q = fma(q, x2, LB2);
  q = fma(q, x2, LB0);
  p = f32(x * p);
  const y = f32(f32(p / q) + 0.5);
  return y < 0 ? 0 : y;
}

export function tanh(x) {
  x = x < -9 ? -9 : x > 9 ? 9 : x;
  const x2 = f32(x * x);
  let p = fma(x2, T13, T11);
  p = fma(p, x2, T9);
  p = fma(p, x2, T7);
  p = fma(p, x2, T5);
  p = fma(p, x2, T3);
  p = fma(p, x2, T1);
  let q = fma(x2, TB6, TB4);
  q = fma(q, x2, TB2);
  q = fma(q, x2, TB0);
  p = f32(x * p);
  return f32(p / q);
}

const relu = (x) => (x > 0 ? x : 0);
const ACTIVATIONS = { sigmoid, tanh, relu };

function activation(name, op) {
  const fn = ACTIVATIONS[String(name).toLowerCase()];
  if (!fn) throw new OnnxEvalError(`${op} activation ${name} is not supported (Sigmoid, Tanh, Relu are)`);
  return fn;
}

// ---------------------------------------------------------------------------------------------------------------
// Dynamic uint8 quantization of activations (onnxruntime/core/util/qmath.h: GetQuantizationParameter,
// ParQuantizeLinearStd; the ONNX DynamicQuantizeLinear op).

function roundHalfEven(x) {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

function quantizationOf(data, start = 0, end = data.length) {
  let min = 0;
  let max = 0;
  for (let n = start; n < end; n++) {
    const x = data[n];
    if (x < min) min = x;
    if (x > max) max = x;
  }
  const scale = max === min ? 1 : f32(f32(max - min) / 255);
  const initial = f32(0 - f32(min / scale));
  const zeroPoint = roundHalfEven(Math.max(0, Math.min(255, initial)));
  return { scale, zeroPoint };
}

function quantize(data, start, end, { scale, zeroPoint }, into = new Uint8Array(end - start)) {
  for (let n = start; n < end; n++) {
    const q = roundHalfEven(f32(data[n] / scale)) + zeroPoint;
    into[n - start] = q < 0 ? 0 : q > 255 ? 255 : q;
  }
  return into;
}

// acc (M x N, Int32Array) = sum_k (a[m,k] - aZero) * (w[k,n] - wZero[n]): `a` uint8 (M x K), `weights` from
// integerB(). Exact int32 sums; with setInt8Products('saturating'), as MLAS computes it on an x86-64 CPU without VNNI
// (AVX2 kernels), the products of k = 2p and 2p + 1 of int8 weights are summed in int16 with saturation (vpmaddubsw)
// before the int32 sum, from the raw uint8 `a` and int8 `w`; the zero points come in as exact corrections.
function integerGemm(a, aZero, M, K, weights, N, acc, rows = null) {
  const { packed, shift, transposed, raw, risky, zeros, columnSums, row } = weights;
  for (let m = 0; m < M; m++) {
    const out = m * N;
    // `rows` remembers the products of rows seen before (a token's embedding, quantized alike): a text typed one
    // word at a time mostly repeats them.
    const key = rows && `${aZero}:${String.fromCharCode(...a.subarray(m * K, m * K + K))}`;
    const known = rows && rows.get(key);
    if (known) {
      acc.set(known, out);
      continue;
    }
    let rowSum = 0;
    for (let k = 0; k < K; k++) rowSum += row[k] = a[m * K + k];
    if (packed) {
      // Two columns per multiply: w0 + w1 * shift, the two sums recovered exactly from the double's 53 bits.
      for (let p = 0, col = 0; col < N; p += K, col += 2) {
        let sum = 0;
        for (let k = 0; k < K; k++) sum += row[k] * packed[p + k];
        const high = Math.round(sum / shift);
        acc[out + col] = sum - high * shift;
        if (col + 1 < N) acc[out + col + 1] = high;
      }
    } else {
      for (let n = 0, p = 0; n < N; n++, p += K) {
        let sum = 0;
        for (let k = 0; k < K; k++) sum += row[k] * transposed[p + k];
        acc[out + n] = sum;
      }
    }
    // MLAS's int16 pair sums, where they can leave int16 (|w0| + |w1| > 128): what saturation takes away.
    for (let r = 0; r < risky.length; r += 2) {
      const k = risky[r];
      const n = risky[r + 1];
      const pair = row[k] * raw[k * N + n] + row[k + 1] * raw[(k + 1) * N + n];
      if (pair > 32767) acc[out + n] += 32767 - pair;
      else if (pair < -32768) acc[out + n] += -32768 - pair;
    }
    for (let n = 0; n < N; n++) {
      const zero = zeros[zeros.length === 1 ? 0 : n];
      acc[out + n] += -aZero * columnSums[n] - zero * rowSum + K * aZero * zero;
    }
    if (rows) {
      if (rows.size >= 65536) rows.clear();
      rows.set(key, acc.slice(out, out + N));
    }
  }
  return acc;
}

// The right operand of an integer GEMM, (K x N) raw values with their zero points (one, or one per column): kept
// transposed (N x K) so that each output is one running sum, two columns to a double where the sums fit, and, for
// int8 weights summed 'saturating' (MLAS's AVX2 kernel sums the products of k = 2p and 2p + 1 in int16, with
// saturation), the pairs whose sum can leave int16.
function integerB(raw, K, N, zeros, signed) {
  // Each sum is below K * 255 * 128 in magnitude: `bits` of it, sign included; two of them fit 53 bits or are not packed.
  const bits = Math.ceil(Math.log2(K * 255 * 128 + 1)) + 1;
  const shift = 2 ** bits;
  const packed = 2 * bits <= 52 ? new Float64Array(Math.ceil(N / 2) * K) : null;
  const transposed = packed ? null : new Float64Array(N * K);
  const columnSums = new Int32Array(N);
  const risky = [];
  for (let k = 0; k < K; k++) {
    for (let n = 0; n < N; n++) {
      const value = raw[k * N + n];
      columnSums[n] += value;
      if (packed) packed[(n >> 1) * K + k] += n & 1 ? value * shift : value;
      else transposed[n * K + k] = value;
      const saturating = signed && int8Products === 'saturating';
      if (saturating && !(k & 1) && k + 1 < K && Math.abs(value) + Math.abs(raw[(k + 1) * N + n]) > 128) risky.push(k, n);
    }
  }
  return {
    raw, packed, shift, transposed, risky: Int32Array.from(risky), zeros: Int32Array.from(zeros), columnSums,
    row: new Float64Array(K), // the row of A being multiplied
  };
}

// acc (M x N, Float64Array) = a (M x K, row stride K) times w, given transposed (N x K): one running sum per output.
function floatGemm(a, aOffset, M, K, wT, N, acc) {
  for (let m = 0; m < M; m++) {
    const row = aOffset + m * K;
    for (let n = 0, p = 0; n < N; n++, p += K) {
      let sum = 0;
      for (let k = 0; k < K; k++) sum += a[row + k] * wT[p + k];
      acc[m * N + n] = sum;
    }
  }
  return acc;
}

// ---------------------------------------------------------------------------------------------------------------
// Recurrent layers (ONNX LSTM/GRU/RNN with sequence_lens; com.microsoft DynamicQuantizeLSTM), layout 0:
// X (seq, batch, input) -> Y (seq, directions, batch, hidden), Y_h (directions, batch, hidden).

// The weights of one direction as (K x N) matrices, prepared once per session: W (input x gates*hidden) and R
// (hidden x gates*hidden); float, or integers minus their zero point with per-column scales.
function floatWeights(tensor, direction) {
  const [, rows, cols] = tensor.dims; // (directions, gates*hidden, K): transposed to (K, gates*hidden)
  const out = new Float32Array(rows * cols);
  const from = tensor.data;
  const base = direction * rows * cols;
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = from[base + r * cols + c];
  // Also as given (N x K): the GEMMs read it so.
  return { float: out, floatT: from.subarray(base, base + rows * cols), N: rows, K: cols };
}

function integerWeights(tensor, scale, zeroPoint, direction) {
  const [, K, N] = tensor.dims; // DynamicQuantizeLSTM keeps them (directions, K, gates*hidden)
  const perColumn = scale.dims.length === 2;
  const count = perColumn ? N : 1;
  const zeros = new Int32Array(count);
  const scales = new Float32Array(count);
  for (let n = 0; n < count; n++) {
    const at = perColumn ? direction * N + n : direction;
    zeros[n] = zeroPoint ? Number(zeroPoint.data[at]) : 0;
    scales[n] = scale.data[at];
  }
  const raw = tensor.data.subarray(direction * K * N, (direction + 1) * K * N);
  return { integer: integerB(raw, K, N, zeros, tensor.type === 'int8'), scales, N, K };
}

// rows (count x N) of x @ weights: float32 products summed (fp32), or ONNX Runtime's quantized GEMM: `into` holds
// float32 results, added to what it holds when `accumulate` (the recurrent GEMM adds to the input projection).
function project(x, xOffset, count, weights, into, intoOffset, accumulate, scratch, rows = null) {
  const { N, K } = weights;
  if (weights.float) {
    const acc = floatGemm(x, xOffset, count, K, weights.floatT, N, scratch.float);
    for (let n = 0; n < count * N; n++) {
      into[intoOffset + n] = accumulate ? f32(into[intoOffset + n] + f32(acc[n])) : acc[n];
    }
    return;
  }
  const params = quantizationOf(x, xOffset, xOffset + count * K);
  const aq = quantize(x, xOffset, xOffset + count * K, params, scratch.quantized);
  const acc = integerGemm(aq, params.zeroPoint, count, K, weights.integer, N, scratch.integer, rows);
  const { scales } = weights;
  const multipliers = scratch.multipliers;
  for (let n = 0; n < scales.length; n++) multipliers[n] = f32(params.scale * scales[n]);
  if (scales.length === 1) {
    const multiplier = multipliers[0];
    const size = count * N;
    if (accumulate) {
      for (let i = 0; i < size; i++) into[intoOffset + i] = f32(into[intoOffset + i] + f32(f32(acc[i]) * multiplier));
    } else {
      for (let i = 0; i < size; i++) into[intoOffset + i] = f32(f32(acc[i]) * multiplier);
    }
    return;
  }
  for (let m = 0; m < count; m++) {
    for (let n = 0; n < N; n++) {
      const value = f32(f32(acc[m * N + n]) * multipliers[n]);
      const at = intoOffset + m * N + n;
      into[at] = accumulate ? f32(into[at] + value) : value;
    }
  }
}

// Buffers of a layer's GEMMs, kept from run to run (a keystroke's run would otherwise make megabytes of garbage).
function makeScratch(rows, K, N, old) {
  if (old && old.rows >= rows && old.K === K && old.N === N) return old;
  return {
    rows, K, N,
    float: new Float64Array(rows * N),
    integer: new Int32Array(rows * N),
    quantized: new Uint8Array(rows * K),
    multipliers: new Float32Array(N),
    projected: new Float32Array(rows * N),
  };
}

function recurrentSpec(kind, node, inputs) {
  const { attributes, opType } = node;
  const [X, , R] = inputs;
  const quantized = opType === 'DynamicQuantizeLSTM';
  if ((attributes.layout ?? 0) !== 0) throw new OnnxEvalError(`${opType} with layout=1 is not supported`);
  if (attributes.input_forget) throw new OnnxEvalError(`${opType} with input_forget=1 is not supported`);
  if (inputs[7]) throw new OnnxEvalError(`${opType} with peephole weights (P) is not supported`);
  const direction = attributes.direction ?? 'forward';
  const directions = direction === 'bidirectional' ? 2 : 1;
  const hidden = attributes.hidden_size ?? R.dims[quantized ? 1 : 2];
  const defaults = { lstm: ['Sigmoid', 'Tanh', 'Tanh'], gru: ['Sigmoid', 'Tanh'], rnn: ['Tanh'] }[kind];
  const names = attributes.activations ?? [];
  const activations = [];
  for (let d = 0; d < directions; d++) {
    const own = names.slice(d * defaults.length, (d + 1) * defaults.length);
    activations.push((own.length ? own : defaults).map((name) => activation(name, opType)));
  }
  const clip = attributes.clip;
  const [seq, batch, inputSize] = X.dims;
  return {
    kind, quantized, direction, directions, hidden, activations, seq, batch, inputSize,
    G: { lstm: 4, gru: 3, rnn: 1 }[kind] * hidden,
    clipped: clip === undefined ? (x) => x : (x) => Math.max(-clip, Math.min(clip, x)),
    linearBeforeReset: attributes.linear_before_reset ?? 0,
  };
}

// One step of one row (gates: its input projection plus, but for GRU, the recurrent one; `s` its offset in the
// batch's state and cell): updates state (and cell), returns nothing.
function lstmCell(spec, [f, g, h], gates, at, fused, state, cell, s) {
  const { hidden, clipped } = spec;
  for (let j = 0; j < hidden; j++) {
    const i = f(clipped(f32(gates[at + j] + fused[j])));
    const o = f(clipped(f32(gates[at + hidden + j] + fused[hidden + j])));
    const forget = f(clipped(f32(gates[at + 2 * hidden + j] + fused[2 * hidden + j])));
    const c = g(clipped(f32(gates[at + 3 * hidden + j] + fused[3 * hidden + j])));
    const memory = f32(f32(cell[s + j] * forget) + f32(i * c));
    cell[s + j] = memory;
    state[s + j] = f32(h(memory) * o);
  }
}

function gruCell(spec, [f, g], gates, recurrentIn, at, bias, fused, state, s, Rh) {
  const { hidden, clipped, G } = spec;
  const z = new Float32Array(hidden);
  const r = new Float32Array(hidden);
  for (let j = 0; j < hidden; j++) {
    z[j] = f(clipped(f32(f32(gates[at + j] + recurrentIn[at + j]) + fused[j])));
    r[j] = f(clipped(f32(f32(gates[at + hidden + j] + recurrentIn[at + hidden + j]) + fused[hidden + j])));
  }
  const candidate = new Float32Array(hidden);
  if (spec.linearBeforeReset) {
    // h~ = g(x Wh + Wbh + r ⊙ (h Rh + Rbh)), PyTorch's GRU.
    for (let j = 0; j < hidden; j++) {
      const recurrentH = f32(recurrentIn[at + 2 * hidden + j] + bias[G + 2 * hidden + j]);
      candidate[j] = g(clipped(f32(f32(gates[at + 2 * hidden + j] + bias[2 * hidden + j]) + f32(r[j] * recurrentH))));
    }
  } else {
    // h~ = g(x Wh + (r ⊙ h) Rh + Wbh + Rbh): a second product, of the reset state.
    const rh = new Float64Array(hidden);
    for (let k = 0; k < hidden; k++) {
      const reset = f32(r[k] * state[s + k]);
      for (let j = 0; j < hidden; j++) rh[j] += reset * Rh[k * G + 2 * hidden + j];
    }
    for (let j = 0; j < hidden; j++) {
      candidate[j] = g(clipped(f32(f32(gates[at + 2 * hidden + j] + f32(rh[j])) + fused[2 * hidden + j])));
    }
  }
  for (let j = 0; j < hidden; j++) {
    state[s + j] = f32(f32((1 - z[j]) * candidate[j]) + f32(z[j] * state[s + j]));
  }
}

function rnnCell(spec, [f], gates, at, fused, state, s) {
  for (let j = 0; j < spec.hidden; j++) state[s + j] = f(spec.clipped(f32(gates[at + j] + fused[j])));
}

// Every step of one direction: writes its outputs into Y, Yh and Yc.
function runDirection(spec, d, X, B, lengths, weights, initial, outputs) {
  const { kind, batch, hidden, G, directions, inputSize } = spec;
  const [Y, Yh, Yc] = outputs;
  const reverse = spec.direction === 'reverse' || d === 1;
  const longest = Math.min(spec.seq, Math.max(0, ...lengths));
  // The input projection of every timestep below the longest row: one GEMM (one quantization) for them all.
  const rows = longest * batch;
  weights.scratch = makeScratch(Math.max(rows, batch), Math.max(inputSize, hidden), G, weights.scratch);
  const { scratch } = weights;
  const projected = scratch.projected;
  project(X.data, 0, rows, weights.W, projected, 0, false, scratch, weights.rows);
  // Both biases fused into one per gate (ONNX Runtime adds Wb + Rb once, then to every step).
  const bias = new Float32Array(2 * G);
  if (B) bias.set(B.data.subarray(d * 2 * G, (d + 1) * 2 * G));
  const fused = new Float32Array(G);
  for (let n = 0; n < G; n++) fused[n] = bias[n] + bias[G + n];
  const state = new Float32Array(batch * hidden);
  const cell = new Float32Array(batch * hidden);
  const [initialH, initialC] = initial;
  if (initialH) state.set(initialH.data.subarray(d * batch * hidden, (d + 1) * batch * hidden));
  if (initialC) cell.set(initialC.data.subarray(d * batch * hidden, (d + 1) * batch * hidden));
  const gates = new Float32Array(batch * G);
  const recurrentIn = new Float32Array(batch * G);
  // A row's position at a step: the reverse direction reads a row from its last token back to its first.
  const positionOf = (b, step) => (reverse && step < lengths[b] ? lengths[b] - 1 - step : step);

  for (let step = 0; step < longest; step++) {
    for (let b = 0; b < batch; b++) {
      const from = (positionOf(b, step) * batch + b) * G;
      gates.set(projected.subarray(from, from + G), b * G);
    }
    // The recurrent GEMM of the whole batch, added to the input projection (GRU: apart, the reset gate scales it).
    if (kind === 'gru') project(state, 0, batch, weights.R, recurrentIn, 0, false, scratch);
    else project(state, 0, batch, weights.R, gates, 0, true, scratch);
    for (let b = 0; b < batch; b++) {
      const s = b * hidden;
      if (step >= lengths[b]) {
        // A finished row: its output stays zero, and so does its state in the next step's GEMM (as in ONNX Runtime).
        state.fill(0, s, s + hidden);
        continue;
      }
      if (kind === 'lstm') lstmCell(spec, spec.activations[d], gates, b * G, fused, state, cell, s);
      else if (kind === 'gru') gruCell(spec, spec.activations[d], gates, recurrentIn, b * G, bias, fused, state, s, weights.R.float);
      else rnnCell(spec, spec.activations[d], gates, b * G, fused, state, s);
      Y.data.set(state.subarray(s, s + hidden), ((positionOf(b, step) * directions + d) * batch + b) * hidden);
      if (step === lengths[b] - 1) {
        Yh.data.set(state.subarray(s, s + hidden), (d * batch + b) * hidden);
        Yc.data.set(cell.subarray(s, s + hidden), (d * batch + b) * hidden);
      }
    }
  }
}

function recurrent(kind, node, inputs, cache) {
  const spec = recurrentSpec(kind, node, inputs);
  const [X, W, R, B, lengthsTensor, initialH, initialC] = inputs;
  if (!cache.weights) {
    // Initializers: laid out once per session (ONNX Runtime packs them once too).
    cache.weights = [];
    for (let d = 0; d < spec.directions; d++) {
      if (spec.quantized) {
        const [wScale, wZero, rScale, rZero] = inputs.slice(8, 12);
        cache.weights.push({
          W: integerWeights(W, wScale, wZero, d), R: integerWeights(R, rScale, rZero, d), rows: new Map(),
        });
      } else {
        cache.weights.push({ W: floatWeights(W, d), R: floatWeights(R, d) });
      }
    }
  }
  const { seq, batch, directions, hidden } = spec;
  const lengths = new Int32Array(batch);
  for (let b = 0; b < batch; b++) lengths[b] = lengthsTensor ? Number(lengthsTensor.data[b]) : seq;
  const outputs = [
    make('float32', [seq, directions, batch, hidden]),
    make('float32', [directions, batch, hidden]),
    make('float32', [directions, batch, hidden]),
  ];
  for (let d = 0; d < directions; d++) {
    runDirection(spec, d, X, B, lengths, cache.weights[d], [initialH, initialC], outputs);
  }
  return kind === 'lstm' ? outputs : outputs.slice(0, 2);
}

// ---------------------------------------------------------------------------------------------------------------
// Operators: node, its inputs (undefined where omitted), a per-node cache -> its outputs.

function gather(node, [data, indices]) {
  const rank = data.dims.length;
  const axis = normalAxis(node.attributes.axis ?? 0, rank);
  const outer = sizeOf(data.dims.slice(0, axis));
  const inner = sizeOf(data.dims.slice(axis + 1));
  const extent = data.dims[axis];
  const dims = [...data.dims.slice(0, axis), ...indices.dims, ...data.dims.slice(axis + 1)];
  const out = make(data.type, dims);
  const count = indices.data.length;
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < count; j++) {
      let index = Number(indices.data[j]);
      if (index < 0) index += extent;
      if (!(index >= 0 && index < extent)) throw new OnnxEvalError(`Gather index ${indices.data[j]} is out of range 0..${extent - 1}`);
      const from = (o * extent + index) * inner;
      out.data.set(data.data.subarray(from, from + inner), (o * count + j) * inner);
    }
  }
  return [out];
}

function concat(node, inputs) {
  inputs = inputs.filter((tensor) => tensor !== undefined);
  const rank = inputs[0].dims.length;
  const axis = normalAxis(node.attributes.axis, rank);
  const dims = inputs[0].dims.slice();
  dims[axis] = inputs.reduce((total, tensor) => total + tensor.dims[axis], 0);
  const out = make(inputs[0].type, dims);
  const outer = sizeOf(dims.slice(0, axis));
  let offset = 0;
  const rowLength = sizeOf(dims.slice(axis));
  for (const tensor of inputs) {
    const block = sizeOf(tensor.dims.slice(axis));
    for (let o = 0; o < outer; o++) out.data.set(tensor.data.subarray(o * block, (o + 1) * block), o * rowLength + offset);
    offset += block;
  }
  return [out];
}

function slice(node, [data, startsT, endsT, axesT, stepsT]) {
  const rank = data.dims.length;
  const starts = listOf(startsT) ?? node.attributes.starts;
  const ends = listOf(endsT) ?? node.attributes.ends;
  const axes = (listOf(axesT) ?? node.attributes.axes ?? starts.map((_, i) => i)).map((a) => normalAxis(a, rank));
  const steps = listOf(stepsT) ?? starts.map(() => 1);
  const begin = new Array(rank).fill(0);
  const step = new Array(rank).fill(1);
  const dims = data.dims.slice();
  axes.forEach((axis, i) => {
    const extent = data.dims[axis];
    const s = steps[i];
    const clampTo = (v, lo, hi) => Math.max(lo, Math.min(hi, v));
    let start = starts[i] < 0 ? starts[i] + extent : starts[i];
    let end = ends[i] < 0 ? ends[i] + extent : ends[i];
    if (s > 0) {
      start = clampTo(start, 0, extent);
      end = clampTo(end, 0, extent);
      dims[axis] = Math.max(0, Math.ceil((end - start) / s));
    } else {
      start = clampTo(start, -1, extent - 1);
      end = clampTo(end, -1, extent - 1);
      dims[axis] = Math.max(0, Math.ceil((end - start) / s));
    }
    begin[axis] = start;
    step[axis] = s;
  });
  const out = make(data.type, dims);
  const strides = new Array(rank);
  for (let axis = rank - 1, acc = 1; axis >= 0; axis--) {
    strides[axis] = acc;
    acc *= data.dims[axis];
  }
  const counter = new Array(rank).fill(0);
  for (let n = 0; n < out.data.length; n++) {
    let offset = 0;
    for (let axis = 0; axis < rank; axis++) offset += (begin[axis] + counter[axis] * step[axis]) * strides[axis];
    out.data[n] = data.data[offset];
    for (let axis = rank - 1; axis >= 0; axis--) {
      if (++counter[axis] < dims[axis]) break;
      counter[axis] = 0;
    }
  }
  return [out];
}

function split(node, [data, splitT]) {
  const rank = data.dims.length;
  const axis = normalAxis(node.attributes.axis ?? 0, rank);
  const extent = data.dims[axis];
  let sizes = listOf(splitT) ?? node.attributes.split;
  if (!sizes) {
    const parts = node.attributes.num_outputs ?? node.outputs.length;
    const each = Math.ceil(extent / parts);
    sizes = Array.from({ length: parts }, (_, i) => Math.min(each, extent - i * each));
  }
  let start = 0;
  return sizes.map((size) => {
    const starts = new Tensor('int64', [start], [1]);
    const ends = new Tensor('int64', [start + size], [1]);
    start += size;
    return slice(node, [data, starts, ends, new Tensor('int64', [axis], [1])])[0];
  });
}

function matmul(a, b) {
  // (..., M, K) @ (K, N), or batched (..., M, K) @ (..., K, N) of the same batch dims.
  const K = a.dims[a.dims.length - 1];
  if (b.dims.length < 2) throw new OnnxEvalError('MatMul with a 1-D right operand is not supported');
  const N = b.dims[b.dims.length - 1];
  if (b.dims[b.dims.length - 2] !== K) throw new OnnxEvalError(`MatMul of [${a.dims}] and [${b.dims}]`);
  const batchA = a.dims.slice(0, -2);
  const M = a.dims.length >= 2 ? a.dims[a.dims.length - 2] : 1;
  const batches = b.dims.length === 2 ? 1 : sizeOf(b.dims.slice(0, -2));
  if (b.dims.length > 2 && !sameDims(batchA, b.dims.slice(0, -2))) {
    throw new OnnxEvalError(`MatMul broadcasting [${a.dims}] with [${b.dims}] is not supported`);
  }
  const rowsPerBatch = b.dims.length === 2 ? sizeOf(a.dims) / K : M;
  const dims = [...a.dims.slice(0, -1), N];
  return { dims, K, N, batches, rowsPerBatch };
}

function matMulOp(node, [a, b]) {
  const { dims, K, N, batches, rowsPerBatch } = matmul(a, b);
  const out = make('float32', dims);
  const acc = new Float64Array(rowsPerBatch * N);
  for (let batch = 0; batch < batches; batch++) {
    const w = new Tensor(b.type, b.data.subarray(batch * K * N, (batch + 1) * K * N), [K, N]);
    floatGemm(a.data, batch * rowsPerBatch * K, rowsPerBatch, K, transpose(w, [1, 0]).data, N, acc);
    out.data.set(acc, batch * rowsPerBatch * N);
  }
  return [out];
}

function matMulIntegerOp(node, [a, b, aZeroT, bZeroT], cache) {
  const { dims, K, N, batches, rowsPerBatch } = matmul(a, b);
  if (batches !== 1) throw new OnnxEvalError('MatMulInteger with a batched right operand is not supported');
  if (aZeroT && aZeroT.data.length !== 1) {
    throw new OnnxEvalError('MatMulInteger with a per-row a_zero_point is not supported');
  }
  if (a.type !== 'uint8') throw new OnnxEvalError('MatMulInteger with an int8 left operand is not supported');
  // The weights are initializers: prepared once (ONNX Runtime packs them once too).
  if (cache.b !== b) {
    cache.b = b;
    cache.weights = integerB(b.data, K, N, bZeroT ? Array.from(bZeroT.data, Number) : [0], b.type === 'int8');
  }
  const out = make('int32', dims);
  integerGemm(a.data, aZeroT ? Number(aZeroT.data[0]) : 0, rowsPerBatch, K, cache.weights, N, out.data);
  return [out];
}

function gemm(node, [a, b, c]) {
  const { alpha = 1, beta = 1, transA = 0, transB = 0 } = node.attributes;
  const A = transA ? transpose(a, [1, 0]) : a;
  const bT = transB ? b : transpose(b, [1, 0]); // (N x K), as floatGemm reads it
  const [M, K] = A.dims;
  const N = bT.dims[0];
  const acc = floatGemm(A.data, 0, M, K, bT.data, N, new Float64Array(M * N));
  const out = make('float32', [M, N]);
  const index = c ? broadcastIndex([M, N], c.dims) : null;
  for (let n = 0; n < M * N; n++) {
    const product = alpha === 1 ? f32(acc[n]) : f32(alpha * f32(acc[n]));
    out.data[n] = c ? f32(product + f32(beta * c.data[index ? index[n] : n])) : product;
  }
  return [out];
}

function dynamicQuantizeLinear(node, [x]) {
  const params = quantizationOf(x.data);
  const y = make('uint8', x.dims, quantize(x.data, 0, x.data.length, params));
  return [y, new Tensor('float32', [params.scale], []), new Tensor('uint8', [params.zeroPoint], [])];
}

function scatterElements(node, [data, indices, updates]) {
  const rank = data.dims.length;
  const axis = normalAxis(node.attributes.axis ?? 0, rank);
  const reduction = node.attributes.reduction ?? 'none';
  const combine = { none: (old, value) => value, add: (a, b) => a + b, mul: (a, b) => a * b, max: Math.max,
    min: Math.min }[reduction];
  if (!combine) throw new OnnxEvalError(`ScatterElements reduction ${reduction} is not supported`);
  const out = make(data.type, data.dims, data.data.slice());
  const strides = new Array(rank);
  for (let a = rank - 1, acc = 1; a >= 0; a--) {
    strides[a] = acc;
    acc *= data.dims[a];
  }
  const counter = new Array(rank).fill(0);
  for (let n = 0; n < indices.data.length; n++) {
    let index = Number(indices.data[n]);
    if (index < 0) index += data.dims[axis];
    let offset = 0;
    for (let a = 0; a < rank; a++) offset += (a === axis ? index : counter[a]) * strides[a];
    out.data[offset] = combine(out.data[offset], updates.data[n]);
    for (let a = rank - 1; a >= 0; a--) {
      if (++counter[a] < indices.dims[a]) break;
      counter[a] = 0;
    }
  }
  return [out];
}

function cumSum(node, [x, axisT]) {
  const rank = x.dims.length;
  const axis = normalAxis(Number(axisT.data[0]), rank);
  const { exclusive = 0, reverse = 0 } = node.attributes;
  const out = make(x.type, x.dims);
  const outer = sizeOf(x.dims.slice(0, axis));
  const extent = x.dims[axis];
  const inner = sizeOf(x.dims.slice(axis + 1));
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      let sum = 0;
      for (let t = 0; t < extent; t++) {
        const k = reverse ? extent - 1 - t : t;
        const at = (o * extent + k) * inner + i;
        if (exclusive) {
          out.data[at] = sum;
          sum = x.type === 'float32' ? f32(sum + x.data[at]) : sum + x.data[at];
        } else {
          sum = x.type === 'float32' ? f32(sum + x.data[at]) : sum + x.data[at];
          out.data[at] = sum;
        }
      }
    }
  }
  return [out];
}

function constantOf(node) {
  const { attributes } = node;
  if (attributes.value !== undefined) return attributes.value;
  if (attributes.value_float !== undefined) return new Tensor('float32', [attributes.value_float], []);
  if (attributes.value_floats !== undefined) return new Tensor('float32', attributes.value_floats, [attributes.value_floats.length]);
  if (attributes.value_int !== undefined) return new Tensor('int64', [attributes.value_int], []);
  if (attributes.value_ints !== undefined) return new Tensor('int64', attributes.value_ints, [attributes.value_ints.length]);
  throw new OnnxEvalError('a Constant node with neither a tensor nor a number is not supported');
}

const integerDivide = (x, y) => Math.trunc(x / y);

const OPS = {
  Identity: (node, [x]) => [x],
  Constant: (node) => [constantOf(node)],
  Shape: (node, [x]) => {
    const rank = x.dims.length;
    const start = normalAxis(node.attributes.start ?? 0, rank);
    const end = node.attributes.end === undefined ? rank : normalAxis(node.attributes.end, rank);
    const dims = x.dims.slice(Math.max(0, start), Math.min(rank, end));
    return [new Tensor('int64', dims, [dims.length])];
  },
  Size: (node, [x]) => [new Tensor('int64', [x.data.length], [])],
  Cast: (node, [x]) => {
    const type = TYPES[node.attributes.to];
    if (!type) throw new OnnxEvalError(`Cast to ONNX type ${node.attributes.to} is not supported`);
    return [castTo(x, type)];
  },
  Reshape: (node, [x, shape]) => [withDims(x, reshapeDims(x.dims, listOf(shape), node.attributes.allowzero))],
  Flatten: (node, [x]) => {
    const axis = normalAxis(node.attributes.axis ?? 1, x.dims.length);
    return [withDims(x, [sizeOf(x.dims.slice(0, axis)), sizeOf(x.dims.slice(axis))])];
  },
  Squeeze: (node, [x, axesT]) => {
    const axes = (axesOf(node, axesT) ?? x.dims.map((d, i) => (d === 1 ? i : -1)).filter((i) => i >= 0))
      .map((axis) => normalAxis(axis, x.dims.length));
    return [withDims(x, x.dims.filter((d, axis) => !axes.includes(axis)))];
  },
  Unsqueeze: (node, [x, axesT]) => {
    const rank = x.dims.length + axesOf(node, axesT).length;
    const axes = axesOf(node, axesT).map((axis) => normalAxis(axis, rank));
    const dims = [];
    for (let axis = 0, from = 0; axis < rank; axis++) dims.push(axes.includes(axis) ? 1 : x.dims[from++]);
    return [withDims(x, dims)];
  },
  Transpose: (node, [x]) => [transpose(x, node.attributes.perm)],
  Concat: concat,
  Slice: slice,
  Split: split,
  Gather: gather,
  Expand: (node, [x, shape]) => {
    const dims = broadcastDims(x.dims, listOf(shape));
    const index = broadcastIndex(dims, x.dims);
    const out = make(x.type, dims);
    for (let n = 0; n < out.data.length; n++) out.data[n] = x.data[index ? index[n] : n];
    return [out];
  },
  Range: (node, [start, limit, delta]) => {
    const [s, l, d] = [start, limit, delta].map(scalarOf);
    const count = Math.max(0, Math.ceil((l - s) / d));
    const out = make(start.type, [count]);
    for (let n = 0; n < count; n++) out.data[n] = s + n * d;
    return [out];
  },
  ConstantOfShape: (node, [shape]) => {
    const value = node.attributes.value ?? new Tensor('float32', [0], [1]);
    const out = make(value.type, listOf(shape));
    out.data.fill(value.data[0]);
    return [out];
  },
  CumSum: cumSum,
  ScatterElements: scatterElements,
  Where: (node, [condition, x, y]) => [elementwise([condition, x, y], x.type, (c, a, b) => (c ? a : b))],
  Add: arithmetic((x, y) => x + y),
  Sub: arithmetic((x, y) => x - y),
  Mul: arithmetic((x, y) => x * y),
  Div: arithmetic((x, y) => x / y, integerDivide),
  Pow: arithmetic((x, y) => Math.pow(x, y)),
  Max: (node, inputs) => [inputs.slice(1).reduce((a, b) => elementwise([a, b], a.type, Math.max), inputs[0])],
  Min: (node, inputs) => [inputs.slice(1).reduce((a, b) => elementwise([a, b], a.type, Math.min), inputs[0])],
  Equal: compare((x, y) => x === y),
  Less: compare((x, y) => x < y),
  LessOrEqual: compare((x, y) => x <= y),
  Greater: compare((x, y) => x > y),
  GreaterOrEqual: compare((x, y) => x >= y),
  And: compare((x, y) => x && y),
  Or: compare((x, y) => x || y),
  Not: (node, [x]) => [elementwise([x], 'bool', (v) => (v ? 0 : 1))],
  Neg: unary((x) => -x),
  Abs: unary(Math.abs),
  Relu: unary(relu),
  Sigmoid: unary((x) => 1 / (1 + Math.exp(-x))),
  Tanh: unary(Math.tanh),
  Exp: unary(Math.exp),
  Log: unary(Math.log),
  Floor: unary(Math.floor),
  Ceil: unary(Math.ceil),
  CastLike: (node, [x, like]) => [castTo(x, like.type)],
  Sum: (node, inputs) => [inputs.slice(1).reduce((a, b) => elementwise([a, b], a.type, (x, y) => x + y), inputs[0])],
  Mod: (node, [a, b]) => [elementwise([a, b], a.type, node.attributes.fmod
    ? (x, y) => x % y
    : (x, y) => { const r = x % y; return r !== 0 && (r < 0) !== (y < 0) ? r + y : r; })],
  Sqrt: unary(Math.sqrt),
  Reciprocal: unary((x) => 1 / x),
  Clip: (node, [x, minT, maxT]) => {
    const lo = scalarOf(minT) ?? node.attributes.min ?? -Infinity;
    const hi = scalarOf(maxT) ?? node.attributes.max ?? Infinity;
    return [elementwise([x], x.type, (v) => (v < lo ? lo : v > hi ? hi : v))];
  },
  ReduceSum: (node, inputs) => reduce(node, inputs, 0, (a, x) => a + x),
  ReduceMean: (node, inputs) => reduce(node, inputs, 0, (a, x) => a + x, (sum, count) => sum / count),
  ReduceMax: (node, inputs) => reduce(node, inputs, -Infinity, (a, x) => (x > a ? x : a)),
  ReduceMin: (node, inputs) => reduce(node, inputs, Infinity, (a, x) => (x < a ? x : a)),
  MatMul: matMulOp,
  Gemm: gemm,
  MatMulInteger: matMulIntegerOp,
  DynamicQuantizeLinear: dynamicQuantizeLinear,
  LSTM: (node, inputs, cache) => recurrent('lstm', node, inputs, cache),
  GRU: (node, inputs, cache) => recurrent('gru', node, inputs, cache),
  RNN: (node, inputs, cache) => recurrent('rnn', node, inputs, cache),
  'com.microsoft:DynamicQuantizeLSTM': (node, inputs, cache) => recurrent('lstm', node, inputs, cache),
};

const opKey = (node) => (node.domain && node.domain !== 'ai.onnx' ? `${node.domain}:${node.opType}` : node.opType);

/** The operators of a parsed graph that onnx_eval.js does not implement (domain:name for other domains). */
export function unsupportedOperators(graph) {
  return [...new Set(graph.nodes.map(opKey).filter((key) => !(key in OPS)))];
}

/** An ONNX graph evaluated in JavaScript: create(bytes) parses it (and refuses one with an operator it lacks);
 * run(feeds) answers like onnxruntime's InferenceSession.run: {output name: Tensor}. */
export class InferenceSession {
  constructor(graph) {
    this.graph = graph;
    this.inputNames = graph.inputs.filter((name) => !graph.initializers.has(name));
    this.outputNames = graph.outputs.slice();
    this.caches = graph.nodes.map(() => ({}));
    // Where each value is read last, so that intermediate tensors can go once used.
    this.lastUse = new Map();
    graph.nodes.forEach((node, index) => node.inputs.forEach((name) => this.lastUse.set(name, index)));
  }

  static create(bytes) {
    const graph = parseModel(bytes);
    const missing = unsupportedOperators(graph);
    if (missing.length) {
      throw new OnnxEvalError(`this model uses ${missing.join(', ')}, which onnx_eval.js does not implement; run it ` +
        'with ONNX Runtime (onnxruntime-web or onnxruntime-node) instead');
    }
    return new InferenceSession(graph);
  }

  run(feeds) {
    const values = new Map(this.graph.initializers);
    for (const name of this.inputNames) {
      const tensor = feeds[name];
      if (!tensor) throw new OnnxEvalError(`input ${name} was not given (the inputs are ${this.inputNames.join(', ')})`);
      values.set(name, tensor instanceof Tensor ? tensor : new Tensor(tensor.type, tensor.data, tensor.dims));
    }
    const outputs = new Set(this.outputNames);
    this.graph.nodes.forEach((node, index) => {
      const inputs = node.inputs.map((name) => {
        if (name === '') return undefined;
        const value = values.get(name);
        if (value === undefined) throw new OnnxEvalError(`${node.opType} node ${node.name} reads ${name}, which nothing wrote`);
        return value;
      });
      let results;
      try {
        results = OPS[opKey(node)](node, inputs, this.caches[index]);
      } catch (error) {
        if (error instanceof OnnxEvalError) throw error;
        throw new OnnxEvalError(`${node.opType} node ${node.name} failed: ${error.message}`);
      }
      node.outputs.forEach((name, i) => {
        if (name !== '' && results[i] !== undefined) values.set(name, results[i]);
      });
      for (const name of node.inputs) {
        if (this.lastUse.get(name) === index && !outputs.has(name) && !this.graph.initializers.has(name)) values.delete(name);
      }
    });
    return Object.fromEntries(this.outputNames.map((name) => [name, values.get(name)]));
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Warming up: a page's first answer ran its hot functions (the quantized GEMMs, the LSTM step, MLAS's activations,
// the quantization of activations) cold, in V8's interpreter: 0.1-0.2 s for a short text on two cores, where a warm
// run takes 20-30 ms. warmUp() runs them, on a small model of the layout `hf-bilstm export --quantize int8` writes
// (a uint8 embedding, a bidirectional DynamicQuantizeLSTM, mean and max pooling, an int8 linear head) with random
// weights, while the real model is still downloading (the page's main thread waits then).

function warmUpSession(width) {
  let seed = 1;
  const random = () => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648;
  };
  const floats = (dims) => make('float32', dims, Float32Array.from({ length: sizeOf(dims) }, () => random() * 2 - 1));
  const int8s = (dims) => make('int8', dims, Int8Array.from({ length: sizeOf(dims) }, () => Math.floor(random() * 256) - 128));
  const [E, H, V] = [width, width, 64];
  const int64 = (values) => new Tensor('int64', values, [values.length]);
  const initializers = new Map(Object.entries({
    embedding: make('uint8', [V, E], Uint8Array.from({ length: V * E }, () => Math.floor(random() * 256))),
    embeddingScale: make('float32', [V, 1], Float32Array.from({ length: V }, () => 0.001 + random() * 0.01)),
    embeddingMin: make('float32', [V, 1], Float32Array.from({ length: V }, () => -1 - random())),
    perm: int64([1, 0]),
    time: int64([0]),
    one: int64([1]),
    flat: int64([1, -1]),
    w: int8s([2, E, 4 * H]),
    r: int8s([2, H, 4 * H]),
    b: floats([2, 8 * H]),
    ws: make('float32', [2], Float32Array.of(0.01, 0.012)),
    wz: make('int8', [2]),
    rs: make('float32', [2], Float32Array.of(0.011, 0.009)),
    rz: make('int8', [2]),
    head: int8s([4 * H, 2]),
    headScale: make('float32', [], Float32Array.of(0.02)),
    headZero: make('int8', []),
    headBias: floats([2]),
  }));
  const node = (opType, inputs, outputs, attributes = {}, domain = '') => ({ opType, inputs, outputs, attributes, domain, name: opType });
  const nodes = [
    node('Transpose', ['input_ids'], ['ids_t'], { perm: [1, 0] }),
    node('Gather', ['embedding', 'ids_t'], ['x_quantized']),
    node('Cast', ['x_quantized'], ['x_float'], { to: 1 }),
    node('Gather', ['embeddingScale', 'ids_t'], ['x_scale']),
    node('Mul', ['x_float', 'x_scale'], ['x_scaled']),
    node('Gather', ['embeddingMin', 'ids_t'], ['x_min']),
    node('Add', ['x_scaled', 'x_min'], ['x']),
    node('ReduceSum', ['attention_mask', 'one'], ['length'], { keepdims: 0 }),
    node('Cast', ['length'], ['length32'], { to: 6 }),
    node('Cast', ['length'], ['count'], { to: 1 }),
    node('DynamicQuantizeLSTM', ['x', 'w', 'r', 'b', 'length32', '', '', '', 'ws', 'wz', 'rs', 'rz'], ['y'],
      { direction: 'bidirectional', hidden_size: H }, 'com.microsoft'),
    node('ReduceSum', ['y', 'time'], ['sum'], { keepdims: 0 }),
    node('ReduceMax', ['y', 'time'], ['max'], { keepdims: 0 }),
    node('Div', ['sum', 'count'], ['mean']),
    node('Transpose', ['max'], ['max_t'], { perm: [1, 0, 2] }),
    node('Transpose', ['mean'], ['mean_t'], { perm: [1, 0, 2] }),
    node('Reshape', ['max_t', 'flat'], ['max_flat']),
    node('Reshape', ['mean_t', 'flat'], ['mean_flat']),
    node('Concat', ['max_flat', 'mean_flat'], ['pooled'], { axis: 1 }),
    node('DynamicQuantizeLinear', ['pooled'], ['pooled_q', 'pooled_scale', 'pooled_zero']),
    node('Mul', ['pooled_scale', 'headScale'], ['scale']),
    node('MatMulInteger', ['pooled_q', 'head', 'pooled_zero', 'headZero'], ['product']),
    node('Cast', ['product'], ['product_float'], { to: 1 }),
    node('Mul', ['product_float', 'scale'], ['scaled']),
    node('Add', ['scaled', 'headBias'], ['logits']),
  ];
  const graph = { nodes, initializers, inputs: ['input_ids', 'attention_mask'], outputs: ['logits'], opsets: {} };
  const session = new InferenceSession(graph);
  return { session, V, random };
}

/** Runs onnx_eval.js's int8 path on a small random model until `until` (a promise: the real model's bytes) settles
 * or `runs` runs are done, yielding to the page between runs; resolves to the number of runs. */
export async function warmUp({ until = null, runs = 15, tokens = 24, width = 16 } = {}) {
  let settled = false;
  until?.then(() => { settled = true; }, () => { settled = true; });
  // Between runs, the page's waiting work comes first (module loading, the tokenizer, the model's bytes): a new task
  // (scheduler.yield() would resume before it; a background task would wait for the whole download).
  const pause = () => (globalThis.scheduler?.postTask
    ? globalThis.scheduler.postTask(() => {}, { priority: 'user-visible' })
    : new Promise((resolve) => setTimeout(resolve, 0)));
  const { session, V, random } = warmUpSession(width);
  let done = 0;
  for (; done < runs && !settled; done++) {
    // Texts of other lengths (and new tokens) each run: every step of a real text, its row cache's misses included.
    const length = 4 + (done * 7) % tokens;
    const ids = Float64Array.from({ length }, () => Math.floor(random() * V));
    session.run({
      input_ids: new Tensor('int64', ids, [1, length]),
      attention_mask: new Tensor('int64', new Float64Array(length).fill(1), [1, length]),
    });
    await pause();
  }
  return done;
}

// In Node, HF_BILSTM_INT8_PRODUCTS ('exact' or 'saturating') sets how int8 products are summed for the whole process
// (the test harnesses and scripts/compare_clients.py pass what this machine's ONNX Runtime does).
const int8ProductsFromEnvironment = globalThis.process?.env?.HF_BILSTM_INT8_PRODUCTS;
if (int8ProductsFromEnvironment) setInt8Products(int8ProductsFromEnvironment);
