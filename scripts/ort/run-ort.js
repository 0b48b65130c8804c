#!/usr/bin/env node
// Runs an ONNX model with ONNX Runtime (CPU), the reference for Parsimony's
// numerics and speed.
//
//   node scripts/ort/run-ort.js model.onnx [--input NAME=file.npy]...
//        [--output-dir DIR] [--benchmark N] [--warmup W] [--threads T]
//        [--flush-caches MB] [--optimization disabled|basic|extended|all]
//
// Outputs are written as DIR/NAME.npy. --benchmark prints median_ms, min_ms
// and max_ms like parsimony-run (and, like it, --flush-caches reads MB of
// other memory before every timed run). Requires scripts/setup-ort.sh.
'use strict';
const fs = require('fs');
const path = require('path');
const os = require('os');
const { Worker } = require('worker_threads');
const ort = require(path.join(__dirname, '../../third_party/ort/node_modules/onnxruntime-node'));

const NPY_TYPES = {
  '<f4': ['float32', Float32Array], '<f8': ['float64', Float64Array],
  '<i8': ['int64', BigInt64Array], '<i4': ['int32', Int32Array],
  '<i2': ['int16', Int16Array], '|i1': ['int8', Int8Array],
  '<u8': ['uint64', BigUint64Array], '<u4': ['uint32', Uint32Array],
  '<u2': ['uint16', Uint16Array], '|u1': ['uint8', Uint8Array],
  '|b1': ['bool', Uint8Array], '<f2': ['float16', Uint16Array],
};

function readNpy(file) {
  const buf = fs.readFileSync(file);
  if (buf.toString('latin1', 0, 6) !== '\x93NUMPY') throw new Error(`${file}: not a .npy file`);
  const major = buf[6];
  const headerLen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  const header = buf.toString('latin1', start, start + headerLen);
  const descr = /'descr':\s*'([^']+)'/.exec(header)[1];
  if (/'fortran_order':\s*True/.test(header)) throw new Error(`${file}: Fortran order`);
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header)[1].split(',')
      .map((s) => s.trim()).filter((s) => s.length).map(Number);
  const entry = NPY_TYPES[descr.replace('=', '<')];
  if (!entry) throw new Error(`${file}: unsupported dtype ${descr}`);
  const [type, Ctor] = entry;
  const count = shape.reduce((a, b) => a * b, 1);
  const offset = start + headerLen;
  const bytes = buf.subarray(offset, offset + count * Ctor.BYTES_PER_ELEMENT);
  const data = new Ctor(new ArrayBuffer(bytes.length));
  new Uint8Array(data.buffer).set(bytes);
  return new ort.Tensor(type, type === 'bool' ? Uint8Array.from(data) : data, shape);
}

function writeNpy(file, tensor) {
  const descr = Object.keys(NPY_TYPES).find((k) => NPY_TYPES[k][0] === tensor.type);
  if (!descr) throw new Error(`cannot write dtype ${tensor.type}`);
  const dims = tensor.dims.join(', ') + (tensor.dims.length === 1 ? ',' : '');
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${dims}), }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const head = Buffer.alloc(10);
  head.write('\x93NUMPY', 0, 'latin1');
  head[6] = 1; head[7] = 0; head.writeUInt16LE(header.length, 8);
  const data = tensor.data;
  const body = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  fs.writeFileSync(file, Buffer.concat([head, Buffer.from(header, 'latin1'), body]));
}

async function main() {
  const args = process.argv.slice(2);
  let model = null, outputDir = null, benchmark = 0, warmup = 3, threads = 0;
  let flushMB = 0, optimization = 'all';
  const feeds = {};
  for (let i = 0; i < args.length; ++i) {
    const a = args[i];
    const value = () => { if (i + 1 >= args.length) throw new Error(`${a} needs a value`); return args[++i]; };
    if (a === '--input') { const [n, f] = value().split('='); feeds[n] = readNpy(f); }
    else if (a === '--output-dir') outputDir = value();
    else if (a === '--benchmark') benchmark = Number(value());
    else if (a === '--warmup') warmup = Number(value());
    else if (a === '--threads') threads = Number(value());
    else if (a === '--flush-caches') flushMB = Number(value());
    else if (a === '--optimization') optimization = value();
    else if (!model) model = a;
    else throw new Error(`unexpected argument ${a}`);
  }
  if (!model) throw new Error('usage: run-ort.js model.onnx [--input NAME=file.npy]...');
  const options = { executionProviders: ['cpu'], graphOptimizationLevel: optimization };
  if (threads > 0) options.intraOpNumThreads = threads;
  const session = await ort.InferenceSession.create(model, options);
  for (const name of session.inputNames)
    if (!(name in feeds)) throw new Error(`no value for input '${name}'`);
  let results = await session.run(feeds);
  if (benchmark > 0) {
    for (let i = 0; i < warmup; ++i) await session.run(feeds);
    const times = [];
    // --flush-caches N: every core reads N MB of other memory before every
    // timed run (as parsimony-run does), so the weights come from DRAM: the
    // L3 may be split between core complexes, each evicted only by its own
    // cores' reads. One worker thread per CPU.
    const flushers = flushMB > 0 ? os.cpus().map(() => new Worker(`
      const { parentPort, workerData } = require('worker_threads');
      const junk = new Float32Array(workerData * 262144).fill(1);
      parentPort.on('message', () => {
        let sink = 0;
        for (let j = 0; j < junk.length; j += 16) sink += junk[j];
        parentPort.postMessage(sink);
      });`, { eval: true, workerData: flushMB })) : [];
    const flush = () => Promise.all(flushers.map((w) => new Promise((done) => {
      w.once('message', done);
      w.postMessage(0);
    })));
    for (let i = 0; i < benchmark; ++i) {
      await flush();
      const t0 = process.hrtime.bigint();
      results = await session.run(feeds);
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    times.sort((a, b) => a - b);
    const mid = times.length >> 1;
    const median = times.length % 2 ? times[mid] : (times[mid - 1] + times[mid]) / 2;
    console.log(`runs: ${benchmark}`);
    console.log(`median_ms: ${median.toFixed(4)}`);
    console.log(`min_ms: ${times[0].toFixed(4)}`);
    console.log(`max_ms: ${times[times.length - 1].toFixed(4)}`);
    for (const w of flushers) await w.terminate();
  }
  if (outputDir) {
    fs.mkdirSync(outputDir, { recursive: true });
    for (const name of session.outputNames)
      writeNpy(path.join(outputDir, name.replace(/[^A-Za-z0-9_.-]/g, '_') + '.npy'), results[name]);
  }
}

main().catch((e) => { console.error(`error: ${e.message}`); process.exit(1); });
