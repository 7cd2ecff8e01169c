// @vladmandic/human 3.3.6 (MIT): its emotion model (oarriaga mini-Xception, 64x64 grey, FER2013's 7 classes)
// on tfjs 4.22 with the wasm backend (tfjs-node cannot install offline).
//   node benchmarks/peers/run_human.mjs --data DIR --out FILE.csv [--limit N] [--detect]
// Default: the inputs are already face crops, so Human's detector/mesh are skipped: Human loads its emotion
// model (models/emotion.json from the package, served on 127.0.0.1), and each crop goes through
// the steps of Human's src/gear/emotion.ts: RGB scaled to [0,1] (as Human's face crops are),
// resizeBilinear to 64x64, grey = 0.2989 R + 0.5870 G + 0.1140 B, (grey - 0.5) * 2, model.execute.
// We keep the model's raw softmax (Human truncates to 2 decimals and drops scores < minConfidence).
// --detect: human.detect(image) with Human's default face pipeline: BlazeFace (blazeface.json; defaults
// minConfidence 0.2, iouThreshold 0.1, scale 1.4, maxDetected 1, rotation off) + FaceMesh (on by
// default: drops a face whose mesh score is < 0.2), emotion on Human's own face crop (the enlarged
// detector box). cacheSensitivity 0 so every image is detected afresh (Human's default 0.7 reuses
// boxes across similar video frames). iris/description/body/hand/gesture are off: they do not change
// the face box or the emotion input, only cost time. Raw softmax kept from Human's own model call.
// The largest face box is kept (with maxDetected 1 there is at most one); no face -> failure.
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
  cacheSensitivity: 0, // independent images: never reuse the previous image's face boxes
  face: {
    enabled: true,
    detector: { enabled: true }, // default mode: loaded by Human, not run (inputs are face crops)
    mesh: { enabled: args.detect }, iris: { enabled: false }, attention: { enabled: false },
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

// --detect: keep the raw output of every emotion model call Human makes (one per face, in face order)
const captured = [];
if (args.detect) {
  const execute = model.execute.bind(model);
  model.execute = (...a) => { const out = execute(...a); captured.push(Array.from(out.dataSync())); return out; };
}
const loadSeconds = (performance.now() - t0) / 1000;

async function detectAndPredict(img) {
  const x = tf.tensor4d(img.data, [1, img.height, img.width, 3], 'float32'); // 0..255, as Human takes tensors
  captured.length = 0;
  try {
    const res = await human.detect(x);
    if (!res.face.length) return null;
    if (captured.length !== res.face.length) throw new Error(`${captured.length} emotion calls for ${res.face.length} faces`);
    let best = 0;
    res.face.forEach((f, i) => { if (f.box[2] * f.box[3] > res.face[best].box[2] * res.face[best].box[3]) best = i; });
    return captured[best];
  } finally {
    tf.dispose(x);
  }
}

async function predict(file) {
  const img = decodeRGB(file);
  if (args.detect) return detectAndPredict(img);
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
    preprocessing: (args.detect ? "Human's face crop (BlazeFace box x1.4, resized to 192), " : 'RGB/255, ')
      + 'resizeBilinear 64x64, grey 0.2989R+0.5870G+0.1140B, (g-0.5)*2',
    detector: args.detect ? {
      name: 'Human default: BlazeFace (blazeface.json) + FaceMesh (facemesh.json)',
      call: 'human.detect(image), face.emotion',
      settings: { ...human.config.face.detector, mesh: human.config.face.mesh.enabled, cacheSensitivity: human.config.cacheSensitivity },
      several_faces: 'largest box (maxDetected 1: at most one)', no_face: 'failure (empty prob cells)',
    } : 'skipped (inputs are face crops)',
  },
});
server.close();
