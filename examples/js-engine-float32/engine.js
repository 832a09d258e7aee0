#!/usr/bin/env node
// The JavaScript engine of ../js-engine in float32: every value, every local derivative and every
// step of the backward pass rounded with Math.fround, as an engine on Float32Array computes. Its
// handshake declares "dtype": "float32", so `python -m conformance run --engine-command
// "node engine.js"` checks it in float32 without being told (`--dtype float32` says the same).
"use strict";

const readline = require("readline");

const num = (v) => (v === "nan" ? NaN : v === "inf" ? Infinity : v === "-inf" ? -Infinity : v);
const out = (x) => (Number.isNaN(x) ? "nan" : x === Infinity ? "inf" : x === -Infinity ? "-inf" : x);
const SLOPE = 0.01;
const f = Math.fround;

// op -> (inputs, param) => [value, [local derivative per input]]
const OPS = {
  add: ([a, b]) => [a + b, [1, 1]],
  sub: ([a, b]) => [a - b, [1, -1]],
  mul: ([a, b]) => [a * b, [b, a]],
  div: ([a, b]) => { const y = a / b; return [y, [1 / b, -(y / b)]]; },
  neg: ([a]) => [-a, [-1]],
  powc: ([a], c) => {
    const y = c === 0.5 ? Math.sqrt(a) : Math.pow(a, c);
    return [y, [c === 0 ? null : c * Math.pow(a, c - 1)]];
  },
  powv: ([a, b]) => {
    const y = Math.pow(a, b);
    return [y, [b === 0 ? null : b * Math.pow(a, b - 1), a === 0 && b >= 0 ? 0 : y * Math.log(a)]];
  },
  exp: ([a]) => { const y = Math.exp(a); return [y, [y]]; },
  log: ([a]) => [Math.log(a), [1 / a]],
  tanh: ([a]) => { const t = Math.tanh(a); return [t, [1 - t * t]]; },
  sigmoid: ([a]) => { const s = 1 / (1 + Math.exp(-a)); return [s, [(1 - s) * s]]; },
  relu: ([a]) => [a < 0 ? 0 : a, [a <= 0 ? null : 1]],
  leaky_relu: ([a]) => [a > 0 ? a : a * SLOPE, [a > 0 ? 1 : SLOPE]],
  affine: ([a, x, b]) => [a * x - b, [x, a, -1]],
  square: ([a]) => [a * a, [2 * a]],
};

function run(spec) {
  const value = {}, grad = {}, local = [];
  spec.leaves.forEach((v, i) => { value[`x${i}`] = f(num(v)); });
  (spec.consts || []).forEach((v, i) => { value[`c${i}`] = f(num(v)); });
  spec.nodes.forEach((node, i) => {
    const op = OPS[node.op];
    if (!op) throw new Error(`unknown op ${node.op}`);
    const [y, d] = op(node.args.map((a) => value[a]), node.param);
    value[`n${i}`] = f(y);
    local.push(d.map((dj) => (dj === null ? null : f(dj))));
  });
  const leafGrads = spec.leaves.map(() => 0);
  const passes = spec.backwards || 1;
  for (let pass = 0; pass < passes; pass++) {
    if (pass > 0 && spec.zero_between) leafGrads.fill(0);
    for (const key of Object.keys(value)) grad[key] = 0;
    grad[spec.output] = f(spec.upstream === undefined ? 1 : spec.upstream);
    for (let i = spec.nodes.length - 1; i >= 0; i--) {
      const g = grad[`n${i}`];
      spec.nodes[i].args.forEach((a, k) => {
        if (local[i][k] !== null) grad[a] = f(grad[a] + f(g * local[i][k]));
      });
    }
    spec.leaves.forEach((_, i) => { leafGrads[i] = f(leafGrads[i] + grad[`x${i}`]); });
  }
  return {
    value: out(value[spec.output]),
    grads: leafGrads.map(out),
    node_values: spec.nodes.map((_, i) => out(value[`n${i}`])),
    node_grads: spec.nodes.map((_, i) => out(grad[`n${i}`])),
  };
}

// JSON.stringify writes -0 as 0; the sign of zero matters (relu(-0) is -0), so write -0.0.
const NEG_ZERO = "__negative_zero__";
const send = (msg) => {
  const text = JSON.stringify(msg, (k, v) => (Object.is(v, -0) ? NEG_ZERO : v));
  process.stdout.write(text.split(`"${NEG_ZERO}"`).join("-0.0") + "\n");
};
send({
  protocol: "backprop-conformance", version: 1, engine: "js-engine-float32", dtype: "float32",
  ops: Object.keys(OPS),
});

readline.createInterface({ input: process.stdin }).on("line", (line) => {
  let id = null;
  try {
    const request = JSON.parse(line);
    id = request.id;
    send({ id, ...run(request.spec) });
  } catch (err) {
    send({ id, error: String(err && err.message ? err.message : err) });
  }
});
