// Shared helpers for the node peers (human, face-api): same CLI, CSV and timing JSON as _common.py.
//   node run_human.mjs --data DIR --out FILE.csv [--limit N] [--dataset NAME] [--detect]
// Packages are resolved from $PEERS_HOME/node (see setup.sh), never from the repo.
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';

export const PEERS_HOME = process.env.PEERS_HOME || path.join(os.homedir(), '.cache', 'motivnet-peers');
export const NODE_DIR = path.join(PEERS_HOME, 'node');
export const require = createRequire(path.join(NODE_DIR, 'package.json'));
const IMAGE_EXTS = new Set(['.jpg', '.jpeg', '.png', '.bmp', '.webp']);

export function parseArgs(argv = process.argv.slice(2)) {
  const args = { data: null, out: null, limit: 0, dataset: null, detect: false };
  for (let i = 0; i < argv.length; i++) {
    // --detect: run the peer's own face detector first (a flag, takes no value)
    if (argv[i] === '--detect') { args.detect = true; continue; }
    const [k, v] = argv[i].includes('=') ? argv[i].split(/=(.*)/s) : [argv[i], argv[i + 1]];
    if (!argv[i].includes('=')) i++;
    if (k === '--data') args.data = v;
    else if (k === '--out') args.out = v;
    else if (k === '--limit') args.limit = parseInt(v, 10) || 0;
    else if (k === '--dataset') args.dataset = v;
    else { console.error(`unknown argument ${k}`); process.exit(2); }
  }
  if (!args.data || !args.out) { console.error('usage: --data DIR --out FILE.csv [--limit N] [--dataset NAME] [--detect]'); process.exit(2); }
  return args;
}

export function datasetName(data, given) {
  if (given) return given;
  const abs = fs.realpathSync(data);
  return `${path.basename(path.dirname(abs))}/${path.basename(abs)}`;
}

export function listImages(data, limit) {
  const perClass = fs.readdirSync(data, { withFileTypes: true }).filter((d) => d.isDirectory())
    .map((d) => d.name).sort()
    .map((label) => fs.readdirSync(path.join(data, label), { withFileTypes: true })
      .filter((f) => f.isFile() && IMAGE_EXTS.has(path.extname(f.name).toLowerCase()))
      .map((f) => path.join(data, label, f.name)).sort()
      .map((file) => [file, label]))
    .filter((items) => items.length);
  if (!perClass.length) { console.error(`--data ${data}: no <label>/<image> files found`); process.exit(2); }
  if (!limit) return perClass.flat();
  const out = [];
  for (let i = 0; out.length < limit && perClass.some((items) => i < items.length); i++) {
    for (const items of perClass) if (i < items.length && out.length < limit) out.push(items[i]);
  }
  return out;
}

// Serve a folder on 127.0.0.1 (tfjs without tfjs-node loads models over http only).
export async function serveFolder(root) {
  const server = http.createServer((req, res) => {
    const rel = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    const file = path.join(root, path.normalize(rel));
    if (!file.startsWith(root) || !fs.existsSync(file) || !fs.statSync(file).isFile()) { res.writeHead(404); res.end(); return; }
    res.writeHead(200, { 'Content-Type': file.endsWith('.json') ? 'application/json' : 'application/octet-stream' });
    fs.createReadStream(file).pipe(res);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${server.address().port}/` };
}

// Decode a JPEG/PNG file into an RGB Uint8Array (jpeg-js; png via tf not needed for these sets).
export function decodeRGB(file) {
  const jpeg = require('jpeg-js');
  const img = jpeg.decode(fs.readFileSync(file), { useTArray: true, formatAsRGBA: true });
  const rgb = new Uint8Array(img.width * img.height * 3);
  for (let i = 0, j = 0; i < img.data.length; i += 4, j += 3) {
    rgb[j] = img.data[i]; rgb[j + 1] = img.data[i + 1]; rgb[j + 2] = img.data[i + 2];
  }
  return { data: rgb, width: img.width, height: img.height };
}

export function pkgVersion(name) {
  return JSON.parse(fs.readFileSync(path.join(NODE_DIR, 'node_modules', name, 'package.json'), 'utf8')).version;
}

// predict(file) -> array of probabilities in `classes` order, or null (no face).
export async function run({ args, system, classes, predict, meta = {}, loadSeconds = null }) {
  const images = listImages(args.data, args.limit);
  const dataset = datasetName(args.data, args.dataset);
  fs.mkdirSync(path.dirname(path.resolve(args.out)), { recursive: true });
  const q = (s) => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
  const lines = [['file', 'target', ...classes.map((c) => `prob_${c}`), 'system', 'dataset'].join(',')];
  const failures = {}; const examples = []; let ok = 0;
  const t0 = performance.now();
  for (let k = 0; k < images.length; k++) {
    const [file, label] = images[k];
    let probs = null; let reason = null;
    try {
      probs = await predict(file);
      if (probs === null) reason = 'no face found';
      else if (probs.length !== classes.length) { reason = `peer returned ${probs.length} scores for ${classes.length} classes`; probs = null; }
    } catch (e) {
      reason = `${e.name}: ${e.message}`;
      if (examples.length < 5) examples.push(`${file}: ${e.stack}`);
    }
    if (probs === null) failures[reason] = (failures[reason] || 0) + 1; else ok++;
    const cells = probs === null ? classes.map(() => '') : Array.from(probs, (p) => String(Number(Number(p).toPrecision(6))));
    lines.push([q(file), q(label), ...cells, q(system), q(dataset)].join(','));
    if ((k + 1) % 500 === 0) console.error(`[${system}] ${k + 1}/${images.length} images, ${((k + 1) / ((performance.now() - t0) / 1000)).toFixed(1)} img/s`);
  }
  const seconds = (performance.now() - t0) / 1000;
  fs.writeFileSync(args.out, lines.join('\n') + '\n');
  const report = {
    system, dataset, data: args.data, predictions: args.out, classes,
    images: images.length, predicted: ok, failed: images.length - ok,
    failure_reasons: failures, failure_examples: examples,
    seconds: Math.round(seconds * 1000) / 1000,
    images_per_s: Math.round((images.length / seconds) * 100) / 100,
    model_load_seconds: loadSeconds === null ? null : Math.round(loadSeconds * 1000) / 1000,
    timing_covers: "image decode + the peer's preprocessing + model, one image at a time; model load excluded",
    host: { node: process.version, machine: os.arch(), cpus: os.cpus().length, nice: os.getPriority(), threads: 1, load_average: os.loadavg() },
    limit: args.limit || null,
    detect: Boolean(args.detect),
    ...meta,
  };
  fs.writeFileSync(args.out.replace(/\.csv$/i, '') + '.json', JSON.stringify(report, null, 2) + '\n');
  console.error(`[${system}] ${dataset}: ${images.length} images, ${images.length - ok} failed, ${report.images_per_s} img/s -> ${args.out}`);
  return report;
}
