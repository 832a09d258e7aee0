#!/usr/bin/env node
// A tensor reverse-mode autodiff engine in JavaScript, checked by backprop-conformance through
// its JSON-lines protocol (version 1) with tensors:
// `python -m conformance run --engine "tensors:command:node engine.js"`.
//
// A Tensor holds its shape, its values in a Float64Array (C order) and, once backward reaches
// it, its gradient in another Float64Array of the same size. Each op computes its output and
// leaves on it a backward closure: given the output's gradient, the closure adds what each input
// receives to that input's gradient (always +=: a tensor read by several ops, or twice by one
// op as in a * a, collects the sum of every path). Binary ops broadcast as numpy does, and their
// backward sums the gradient back to each input's own shape. Backward sorts the graph
// topologically (with an explicit stack, so deep graphs cannot overflow the call stack), seeds
// the loss's gradient with 1, and runs the closures from the loss back to the leaves.
"use strict";

const readline = require("readline");

// ----- shapes and index maps -----

const size = (shape) => shape.reduce((n, d) => n * d, 1);

// C-order strides: how far apart in the flat array consecutive indices along each axis are.
function strides(shape) {
  const st = new Array(shape.length);
  for (let d = shape.length - 1, s = 1; d >= 0; d--) { st[d] = s; s *= shape[d]; }
  return st;
}

// For each flat index of a tensor of `shape`, the flat index it reads in a source tensor, where
// `st[d]` is the source's step along output axis d. One helper serves broadcasting (step 0 on a
// broadcast axis: every output position along it reads the same source value) and transposes
// (the steps of the source's axes, permuted). It counts through the indices like an odometer.
function gather(shape, st) {
  const n = size(shape), map = new Int32Array(n), idx = new Array(shape.length).fill(0);
  for (let i = 0, j = 0; i < n; i++) {
    map[i] = j;
    for (let d = shape.length - 1; d >= 0; d--) {
      idx[d]++; j += st[d];
      if (idx[d] < shape[d]) break;
      j -= st[d] * shape[d]; idx[d] = 0;
    }
  }
  return map;
}

// numpy broadcasting: align the shapes from the right; a size-1 or missing axis stretches.
function broadcastShape(a, b) {
  const n = Math.max(a.length, b.length), out = new Array(n);
  for (let i = 1; i <= n; i++) {
    const m = i <= a.length ? a[a.length - i] : 1, k = i <= b.length ? b[b.length - i] : 1;
    if (m !== k && m !== 1 && k !== 1) throw new Error(`shapes [${a}] and [${b}] do not broadcast`);
    out[n - i] = Math.max(m, k);
  }
  return out;
}

// Where each element of the broadcast output reads its value in an input of shape `inShape`.
function broadcastMap(inShape, outShape) {
  const st = new Array(outShape.length).fill(0), inSt = strides(inShape);
  const off = outShape.length - inShape.length;
  inShape.forEach((d, k) => { if (d !== 1) st[k + off] = inSt[k]; });
  return gather(outShape, st);
}

function normAxis(axis, ndim) {
  if (!Number.isInteger(axis) || axis < -ndim || axis >= ndim) {
    throw new Error(`axis ${axis} is out of range for ${ndim} dimensions`);
  }
  return axis < 0 ? axis + ndim : axis;
}

// A reduction over one axis views the tensor as [outer, n, inner]: the element (o, k, r) sits at
// (o * n + k) * inner + r, and its group (what it is reduced with) is o * inner + r. Reducing
// over all axes is the same with outer = inner = 1 and n = the size.
function groups(shape, axis) {
  if (axis === null || axis === undefined) return { outer: 1, n: size(shape), inner: 1 };
  const a = normAxis(axis, shape.length);
  return { outer: size(shape.slice(0, a)), n: shape[a], inner: size(shape.slice(a + 1)) };
}

// Run f(group, [flat index of each element along the axis]) for every group.
function eachGroup({ outer, n, inner }, f) {
  const at = new Int32Array(n);
  for (let o = 0; o < outer; o++) {
    for (let r = 0; r < inner; r++) {
      for (let k = 0; k < n; k++) at[k] = (o * n + k) * inner + r;
      f(o * inner + r, at);
    }
  }
}

// ----- the tensor -----

class Tensor {
  constructor(shape, data, parents = [], backward = null) {
    this.shape = shape;
    this.data = data || new Float64Array(size(shape));
    this.grad = null; // allocated as zeros by ensureGrad when backward first reaches it
    this.parents = parents;
    this.backward = backward; // adds this tensor's gradient into its parents' gradients
  }

  ensureGrad() {
    if (!this.grad) this.grad = new Float64Array(this.data.length);
    return this.grad;
  }
}

// ----- the ops: each returns a new Tensor whose backward closure knows its local derivatives ----

// Elementwise binary ops: f(x, y) and the local derivatives d/dx, d/dy (z is the output value).
const BINARY = {
  add: { f: (x, y) => x + y, dx: () => 1, dy: () => 1 },
  sub: { f: (x, y) => x - y, dx: () => 1, dy: () => -1 },
  mul: { f: (x, y) => x * y, dx: (x, y) => y, dy: (x) => x },
  div: { f: (x, y) => x / y, dx: (x, y) => 1 / y, dy: (x, y, z) => -z / y },
};

function binary(op, a, b) {
  const { f, dx, dy } = BINARY[op];
  const shape = broadcastShape(a.shape, b.shape);
  const ia = broadcastMap(a.shape, shape), ib = broadcastMap(b.shape, shape);
  const out = new Tensor(shape, null, [a, b]);
  const z = out.data, x = a.data, y = b.data;
  for (let i = 0; i < z.length; i++) z[i] = f(x[ia[i]], y[ib[i]]);
  out.backward = () => {
    // Every output element adds into the input element it read: where an input was broadcast,
    // several outputs read the same element, so its gradient is their sum (the "sum back to
    // the input's shape" of broadcasting). a and b may be the same tensor: both terms add up.
    const g = out.grad, ga = a.ensureGrad(), gb = b.ensureGrad();
    for (let i = 0; i < z.length; i++) {
      ga[ia[i]] += g[i] * dx(x[ia[i]], y[ib[i]], z[i]);
      gb[ib[i]] += g[i] * dy(x[ia[i]], y[ib[i]], z[i]);
    }
  };
  return out;
}

// Elementwise unary ops: f(x) and df/dx (given x and the output y, which is often cheaper).
const UNARY = {
  exp: { f: Math.exp, d: (x, y) => y },
  log: { f: Math.log, d: (x) => 1 / x },
  tanh: { f: Math.tanh, d: (x, y) => 1 - y * y },
  sigmoid: { f: (x) => 1 / (1 + Math.exp(-x)), d: (x, y) => y * (1 - y) },
  relu: { f: (x) => (x < 0 ? 0 : x), d: (x) => (x > 0 ? 1 : 0) }, // relu'(0) = 0, as torch
};

function powOp(c) {
  if (typeof c !== "number" || !Number.isFinite(c)) throw new Error("pow needs a finite exponent");
  const f = c === 0.5 ? Math.sqrt : (x) => Math.pow(x, c);
  return { f, d: (x) => (c === 0 ? 0 : c * Math.pow(x, c - 1)) }; // d/dx x^c = c x^(c-1)
}

function unary({ f, d }, a) {
  const out = new Tensor(a.shape.slice(), null, [a]);
  const x = a.data, y = out.data;
  for (let i = 0; i < y.length; i++) y[i] = f(x[i]);
  out.backward = () => {
    const g = out.grad, ga = a.ensureGrad();
    // The chain rule, element by element: upstream gradient times the local derivative.
    for (let i = 0; i < y.length; i++) ga[i] += g[i] * d(x[i], y[i]);
  };
  return out;
}

function matmul(a, b) {
  if (a.shape.length !== 2 || b.shape.length !== 2 || a.shape[1] !== b.shape[0]) {
    throw new Error(`matmul takes (m, k) @ (k, n), not [${a.shape}] @ [${b.shape}]`);
  }
  const [m, k] = a.shape, n = b.shape[1], A = a.data, B = b.data;
  const out = new Tensor([m, n], null, [a, b]);
  const C = out.data;
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += A[i * k + p] * B[p * n + j];
      C[i * n + j] = s;
    }
  }
  out.backward = () => {
    // C = A B: dA = dC B^T (m×k) and dB = A^T dC (k×n).
    const G = out.grad, gA = a.ensureGrad(), gB = b.ensureGrad();
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        const g = G[i * n + j];
        for (let p = 0; p < k; p++) {
          gA[i * k + p] += g * B[p * n + j];
          gB[p * n + j] += g * A[i * k + p];
        }
      }
    }
  };
  return out;
}

// The output shape of a reduction: the axis dropped, or kept as size 1 (keepdims).
function reducedShape(shape, axis, keepdims) {
  if (axis === null || axis === undefined) return keepdims ? shape.map(() => 1) : [];
  const a = normAxis(axis, shape.length);
  return keepdims ? shape.map((d, i) => (i === a ? 1 : d)) : shape.filter((_, i) => i !== a);
}

// sum, mean and max over one axis or all. Each input element feeds one output element (its
// group), so backward hands every element its group's gradient: all of it for sum, 1/n of it
// for mean, and for max only to the element that was the maximum (the first one on ties).
function reduce(op, a, axis, keepdims) {
  const shape = reducedShape(a.shape, axis, keepdims), grp = groups(a.shape, axis);
  if (op === "max" && grp.n === 0) throw new Error("max of an empty tensor");
  const out = new Tensor(shape, null, [a]);
  const x = a.data, y = out.data, argmax = new Int32Array(y.length);
  eachGroup(grp, (o, at) => {
    if (op === "max") {
      let best = at[0];
      // Strictly greater: on a tie the first maximum along the axis keeps the gradient.
      for (let k = 1; k < grp.n; k++) if (x[at[k]] > x[best]) best = at[k];
      argmax[o] = best;
      y[o] = x[best];
    } else {
      let s = 0;
      for (let k = 0; k < grp.n; k++) s += x[at[k]];
      y[o] = op === "mean" ? s / grp.n : s;
    }
  });
  out.backward = () => {
    const g = out.grad, ga = a.ensureGrad();
    eachGroup(grp, (o, at) => {
      if (op === "max") { ga[argmax[o]] += g[o]; return; }
      const share = op === "mean" ? g[o] / grp.n : g[o];
      for (let k = 0; k < grp.n; k++) ga[at[k]] += share;
    });
  };
  return out;
}

// reshape keeps the values in C order, so the gradient flows back element for element.
function reshape(a, shape) {
  if (!Array.isArray(shape) || size(shape) !== a.data.length) {
    throw new Error(`reshape: [${a.shape}] cannot become ${JSON.stringify(shape)}`);
  }
  const out = new Tensor(shape.slice(), Float64Array.from(a.data), [a]);
  out.backward = () => {
    const g = out.grad, ga = a.ensureGrad();
    for (let i = 0; i < g.length; i++) ga[i] += g[i];
  };
  return out;
}

// transpose: output axis j is input axis axes[j]; backward sends each gradient to where its
// value came from.
function transpose(a, axes) {
  const nd = a.shape.length;
  if (axes === null || axes === undefined) axes = a.shape.map((_, i) => nd - 1 - i);
  if (axes.length !== nd || [...axes].sort((p, q) => p - q).some((v, i) => v !== i)) {
    throw new Error(`transpose: axes ${JSON.stringify(axes)} are not a permutation of ${nd}`);
  }
  const inSt = strides(a.shape), shape = axes.map((p) => a.shape[p]);
  const src = gather(shape, axes.map((p) => inSt[p]));
  const out = new Tensor(shape, null, [a]);
  for (let i = 0; i < src.length; i++) out.data[i] = a.data[src[i]];
  out.backward = () => {
    const g = out.grad, ga = a.ensureGrad();
    for (let i = 0; i < src.length; i++) ga[src[i]] += g[i];
  };
  return out;
}

// log_softmax along an axis, stably: ls = (x - max) - log(sum(exp(x - max))).
function logSoftmaxData(x, grp) {
  const ls = new Float64Array(x.length);
  eachGroup(grp, (_, at) => {
    let m = -Infinity, s = 0;
    for (let k = 0; k < grp.n; k++) m = Math.max(m, x[at[k]]);
    for (let k = 0; k < grp.n; k++) s += Math.exp(x[at[k]] - m);
    const lse = Math.log(s);
    for (let k = 0; k < grp.n; k++) ls[at[k]] = x[at[k]] - m - lse;
  });
  return ls;
}

// softmax: y = exp(ls), backward dx = y * (g - sum(g * y)) over each group.
// log_softmax: y = ls, backward dx = g - softmax * sum(g) over each group.
function softmax(op, a, axis = -1) {
  const grp = groups(a.shape, axis === null || axis === undefined ? -1 : axis);
  const ls = logSoftmaxData(a.data, grp), p = ls.map(Math.exp);
  const out = new Tensor(a.shape.slice(), op === "softmax" ? p : ls, [a]);
  out.backward = () => {
    const g = out.grad, ga = a.ensureGrad();
    eachGroup(grp, (_, at) => {
      let s = 0;
      for (let k = 0; k < grp.n; k++) s += op === "softmax" ? g[at[k]] * p[at[k]] : g[at[k]];
      for (let k = 0; k < grp.n; k++) {
        const i = at[k];
        ga[i] += op === "softmax" ? p[i] * (g[i] - s) : g[i] - p[i] * s;
      }
    });
  };
  return out;
}

// cross_entropy: the mean over rows of -log_softmax[i, labels[i]]; its gradient by the logits
// is (softmax - one_hot(labels)) / N, times the upstream gradient.
function crossEntropy(a, labels) {
  if (a.shape.length !== 2 || !Array.isArray(labels) || labels.length !== a.shape[0]) {
    throw new Error(`cross_entropy takes (N, C) logits and N labels, not [${a.shape}]`);
  }
  const [N, C] = a.shape;
  for (const c of labels) {
    if (!Number.isInteger(c) || c < 0 || c >= C) throw new Error(`label ${c} is not in [0, ${C})`);
  }
  const ls = logSoftmaxData(a.data, groups(a.shape, 1));
  let s = 0;
  for (let i = 0; i < N; i++) s -= ls[i * C + labels[i]];
  const out = new Tensor([], Float64Array.of(s / N), [a]);
  out.backward = () => {
    const g = out.grad[0] / N, ga = a.ensureGrad();
    for (let i = 0; i < N; i++) {
      for (let c = 0; c < C; c++) {
        ga[i * C + c] += g * (Math.exp(ls[i * C + c]) - (c === labels[i] ? 1 : 0));
      }
    }
  };
  return out;
}

// One spec node -> its op, applied to the tensors its args name.
function apply(node, xs) {
  const { op } = node;
  if (Object.hasOwn(BINARY, op)) return binary(op, xs[0], xs[1]);
  if (Object.hasOwn(UNARY, op)) return unary(UNARY[op], xs[0]);
  switch (op) {
    case "matmul": return matmul(xs[0], xs[1]);
    case "pow": return unary(powOp(node.exponent), xs[0]);
    case "sum": case "mean": case "max": return reduce(op, xs[0], node.axis, !!node.keepdims);
    case "reshape": return reshape(xs[0], node.shape);
    case "transpose": return transpose(xs[0], node.axes);
    case "softmax": case "log_softmax": return softmax(op, xs[0], node.axis);
    case "cross_entropy": return crossEntropy(xs[0], node.labels);
    default: throw new Error(`unknown op ${op}`);
  }
}
const OPS = [...Object.keys(BINARY), "matmul", "pow", ...Object.keys(UNARY), "sum", "mean",
  "max", "reshape", "transpose", "softmax", "log_softmax", "cross_entropy"];

// ----- backward: topological order without recursion -----

// A depth-first walk with an explicit stack: a tensor is appended to `order` once all its
// parents are (post-order), so walking `order` backwards runs each closure only after every
// consumer of its output has added its share to that output's gradient.
function backward(loss) {
  const order = [], seen = new Set(), stack = [[loss, false]];
  while (stack.length) {
    const [t, parentsDone] = stack.pop();
    if (parentsDone) { order.push(t); continue; }
    if (seen.has(t)) continue;
    seen.add(t);
    stack.push([t, true]);
    for (const p of t.parents) if (!seen.has(p)) stack.push([p, false]);
  }
  loss.ensureGrad().fill(1); // d loss / d loss
  for (let i = order.length - 1; i >= 0; i--) {
    if (order[i].backward) order[i].backward();
  }
}

// ----- tensors as JSON -----

const SPECIAL = { nan: NaN, inf: Infinity, "-inf": -Infinity };

// {shape, dtype, b64} (little-endian bytes, C order) or {shape, dtype, data} (nested lists).
function decode(obj, what) {
  if (!obj || !Array.isArray(obj.shape)) throw new Error(`${what} is not a tensor`);
  const n = size(obj.shape), dtype = obj.dtype || "float64";
  let data;
  if (typeof obj.b64 === "string") {
    const bytes = Buffer.from(obj.b64, "base64"); // a copy, so alignment does not matter
    const width = { float64: 8, float32: 4 }[dtype];
    if (!width) throw new Error(`${what}: dtype ${dtype} is not float64 or float32`);
    if (bytes.length !== n * width) {
      throw new Error(`${what}: ${bytes.length} bytes for shape [${obj.shape}]`);
    }
    data = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      data[i] = width === 8 ? bytes.readDoubleLE(8 * i) : bytes.readFloatLE(4 * i);
    }
  } else if ("data" in obj) {
    const flat = [obj.data].flat(Infinity).map((v) => (typeof v === "string" ? SPECIAL[v] : v));
    if (flat.length !== n || flat.some((v) => typeof v !== "number")) {
      throw new Error(`${what}: data does not fit shape [${obj.shape}]`);
    }
    data = Float64Array.from(flat);
  } else {
    throw new Error(`${what} has neither b64 nor data`);
  }
  return new Tensor(obj.shape.slice(), data);
}

// Base64 carries every bit: -0, nan and the infinities survive, and nothing is rounded.
function encode(shape, data) {
  const bytes = Buffer.alloc(8 * data.length);
  for (let i = 0; i < data.length; i++) bytes.writeDoubleLE(data[i], 8 * i);
  return { shape, dtype: "float64", b64: bytes.toString("base64") };
}

// The loss as a JSON number; JSON has no nan or infinities, the protocol spells them as strings.
const num = (x) => (Number.isNaN(x) ? "nan" : Number.isFinite(x) ? x : x > 0 ? "inf" : "-inf");

// ----- one request -----

function run(spec) {
  const tensors = {}, arrays = spec.arrays || {};
  const leafNames = Object.keys(spec.leaves || {});
  for (const name of leafNames) {
    if (!(name in arrays)) throw new Error(`no array for leaf ${name}`);
    const t = decode(arrays[name], `leaf ${name}`);
    if (t.shape.join() !== spec.leaves[name].join()) {
      throw new Error(`leaf ${name}'s array is [${t.shape}], not [${spec.leaves[name]}]`);
    }
    tensors[name] = t;
  }
  const names = spec.nodes.map((_, i) => `n${i + 1}`);
  spec.nodes.forEach((node, i) => {
    const xs = node.args.map((a) => {
      if (!(a in tensors)) throw new Error(`n${i + 1}: no earlier tensor named ${a}`);
      return tensors[a];
    });
    tensors[names[i]] = apply(node, xs);
  });
  // loss = (last node * weight).sum(), built from the engine's own ops and differentiated by them.
  const last = tensors[names[names.length - 1]];
  const weight = decode(arrays.weight, "weight");
  const loss = reduce("sum", binary("mul", last, weight), null, false);
  backward(loss);
  const grads = {}, values = {};
  for (const name of [...leafNames, ...names]) {
    const t = tensors[name];
    grads[name] = encode(t.shape, t.grad || new Float64Array(t.data.length)); // unused: zeros
  }
  for (const name of names) values[name] = encode(tensors[name].shape, tensors[name].data);
  return { value: num(loss.data[0]), grads, values };
}

// ----- the protocol: a handshake, then one reply line per request line -----

const send = (msg) => process.stdout.write(JSON.stringify(msg) + "\n");
send({
  protocol: "backprop-conformance", version: 1, engine: "js-tensor-engine", tensors: true,
  ops: OPS, encoding: "base64",
});

readline.createInterface({ input: process.stdin }).on("line", (line) => {
  if (!line.trim()) return;
  let id = null;
  try {
    const request = JSON.parse(line);
    id = request.id;
    send({ id, ...run(request.spec) });
  } catch (err) {
    send({ id, error: String(err && err.message ? err.message : err) });
  }
});
