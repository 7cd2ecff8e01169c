// @vladmandic/human 3.3.6 (MIT): its emotion model (oarriaga mini-Xception, 64x64 grey, FER2013's 7 classes)
// on tfjs 4.22 with the wasm backend (tfjs-node cannot install offline).
//   node benchmarks/peers/run_human.mjs --data DIR --out FILE.csv [--limit N]
// The inputs are already face crops, so Human's detector/mesh are skipped: Human loads its emotion
// model (models/emotion.json from the package, served on 127.0.0.1), and each crop goes through
// the steps of Human's src/gear/emotion.ts: RGB scaled to [0,1] (as Human's face crops are),
// resizeBilinear to 64x64, grey = 0.2989 R + 0.5870 G + 0.1140 B, (grey - 0.5) * 2, model.execute.
// We keep the model's raw softmax (Human truncates to 2 decimals and drops scores < minConfidence).
import path from 'node:path';
import { parseArgs, run, serveFolder, decodeRGB, require, NODE_DIR, pkgVersion } from './_common.mjs';

const args = parseArgs();
const t0 = performance.now();
const H = require(path.join(NODE_DIR, 'node_modules', '@vladmandic', 'human', 'dist', 'human.node-wasm.js'));
const tf = require('@tensorflow/tfjs');
const { server, url } = await serveFolder(path.join(NODE_DIR, 'node_modules', '@vladmandic', 'human', 'models'));
const human = new H.Human({
  backend: 'wasm',
  wasmPath: path.join(NODE_DIR, 'node_modules', '@tensorflow', 'tfjs-backend-wasm', 'dist') + '/',
  modelBasePath: url,
  debug: false,
  async: false,
  cacheModels: false,
  face: {
    enabled: true,
    detector: { enabled: true }, // loaded by Human, not run: inputs are face crops
    mesh: { enabled: false }, iris: { enabled: false }, attention: { enabled: false },
    description: { enabled: false }, antispoof: { enabled: false }, liveness: { enabled: false },
    emotion: { enabled: true, modelPath: 'emotion.json' },
  },
  body: { enabled: false }, hand: { enabled: false }, object: { enabled: false },
  gesture: { enabled: false }, segmentation: { enabled: false },
});
await human.load();
const model = human.models.models.emotion;
if (!model) throw new Error('Human did not load its emotion model');
const inputSize = model.inputs[0].shape[2];
const rgbInput = model.inputs[0].shape[3] === 3;
if (rgbInput) throw new Error('unexpected RGB emotion model: this runner implements the grey (oarriaga) path');
const CLASSES = ['angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral']; // emotion.ts, grey model
const RGB = tf.tensor1d([0.2989, 0.5870, 0.1140], 'float32');
const loadSeconds = (performance.now() - t0) / 1000;

async function predict(file) {
  const img = decodeRGB(file);
  const out = tf.tidy(() => {
    const x = tf.div(tf.tensor4d(img.data, [1, img.height, img.width, 3], 'float32'), 255);
    const resized = tf.image.resizeBilinear(x, [inputSize, inputSize], false);
    const grey = tf.sum(tf.mul(resized, RGB), 3, true);
    return model.execute(tf.mul(tf.sub(grey, 0.5), 2));
  });
  const data = await out.data();
  tf.dispose(out);
  return Array.from(data);
}

const version = pkgVersion('@vladmandic/human');
await run({
  args, system: `human ${version}`, classes: CLASSES, predict, loadSeconds,
  meta: {
    peer: 'human',
    versions: { '@vladmandic/human': version, '@tensorflow/tfjs': pkgVersion('@tensorflow/tfjs'),
      '@tensorflow/tfjs-backend-wasm': pkgVersion('@tensorflow/tfjs-backend-wasm'), 'jpeg-js': pkgVersion('jpeg-js'),
      tfjs_backend: tf.getBackend() },
    model: '@vladmandic/human/models/emotion.json (oarriaga mini-Xception)',
    preprocessing: 'RGB/255, resizeBilinear 64x64, grey 0.2989R+0.5870G+0.1140B, (g-0.5)*2',
    detector: 'skipped (inputs are face crops)',
  },
});
server.close();
