// @vladmandic/face-api 1.7.15 (MIT): FaceExpressionNet (7 classes) on tfjs 4.22 with the wasm backend.
//   node benchmarks/peers/run_face_api.mjs --data DIR --out FILE.csv [--limit N] [--detect]
// Default: the inputs are already face crops, so face-api's detector and 68-landmark alignment are skipped:
// each crop (RGB, 0..255) goes straight to faceapi.nets.faceExpressionNet.predictExpressions, whose
// own preprocessing pads it to a square, resizes to 112x112 and subtracts face-api's mean RGB.
// face-api's labels fearful/disgusted/surprised are written as prob_fear/prob_disgust/prob_surprise.
// --detect: face-api's documented pipeline with its defaults,
//   faceapi.detectAllFaces(img).withFaceLandmarks().withFaceExpressions()
// i.e. SSD MobileNetV1 (the default detector; SsdMobilenetv1Options minConfidence 0.5, maxResults 100),
// the 68-point landmark net (not tiny), and FaceExpressionNet on the landmark-aligned box
// (face-api's alignedRect). The largest detection box is kept; no face -> failure.
import path from 'node:path';
import { parseArgs, run, decodeRGB, require, NODE_DIR, pkgVersion } from './_common.mjs';

const args = parseArgs();
const t0 = performance.now();
const tf = require('@tensorflow/tfjs');
const wasm = require('@tensorflow/tfjs-backend-wasm');
const faceapi = require(path.join(NODE_DIR, 'node_modules', '@vladmandic', 'face-api', 'dist', 'face-api.node-wasm.js'));
wasm.setWasmPaths(path.join(NODE_DIR, 'node_modules', '@tensorflow', 'tfjs-backend-wasm', 'dist') + '/', false);
await tf.setBackend('wasm');
await tf.ready();
const MODEL_DIR = path.join(NODE_DIR, 'node_modules', '@vladmandic', 'face-api', 'model');
await faceapi.nets.faceExpressionNet.loadFromDisk(MODEL_DIR);
const SSD = new faceapi.SsdMobilenetv1Options(); // face-api's default detector options
if (args.detect) { // only --detect needs the detector and landmark nets
  await faceapi.nets.ssdMobilenetv1.loadFromDisk(MODEL_DIR);
  await faceapi.nets.faceLandmark68Net.loadFromDisk(MODEL_DIR);
}
const PEER_CLASSES = ['neutral', 'happy', 'sad', 'angry', 'fearful', 'disgusted', 'surprised'];
const COMMON = { fearful: 'fear', disgusted: 'disgust', surprised: 'surprise' };
const CLASSES = PEER_CLASSES.map((c) => COMMON[c] || c);
const loadSeconds = (performance.now() - t0) / 1000;

async function predict(file) {
  const img = decodeRGB(file);
  const x = tf.tensor3d(img.data, [img.height, img.width, 3], 'int32');
  try {
    if (args.detect) {
      const found = await faceapi.detectAllFaces(x, SSD).withFaceLandmarks().withFaceExpressions();
      if (!found.length) return null;
      const best = found.reduce((a, b) => (b.detection.box.area > a.detection.box.area ? b : a));
      return PEER_CLASSES.map((c) => best.expressions[c]);
    }
    const expr = await faceapi.nets.faceExpressionNet.predictExpressions(x);
    return PEER_CLASSES.map((c) => expr[c]);
  } finally {
    tf.dispose(x);
  }
}

const version = pkgVersion('@vladmandic/face-api');
await run({
  args, system: `face-api ${version}`, classes: CLASSES, predict, loadSeconds,
  meta: {
    peer: 'face-api',
    peer_labels: PEER_CLASSES,
    versions: { '@vladmandic/face-api': version, '@tensorflow/tfjs': pkgVersion('@tensorflow/tfjs'),
      '@tensorflow/tfjs-backend-wasm': pkgVersion('@tensorflow/tfjs-backend-wasm'), 'jpeg-js': pkgVersion('jpeg-js'),
      tfjs_backend: tf.getBackend() },
    model: '@vladmandic/face-api/model/face_expression_model',
    preprocessing: (args.detect ? 'landmark-aligned face box (alignedRect) cut from the RGB 0..255 image, ' : 'RGB 0..255 crop, ')
      + "face-api's toBatchTensor(112, centred padding), minus mean RGB, /255",
    detector: args.detect ? {
      name: 'face-api default: SSD MobileNetV1 (ssd_mobilenetv1_model) + faceLandmark68Net (face_landmark_68_model)',
      call: 'faceapi.detectAllFaces(img).withFaceLandmarks().withFaceExpressions()',
      settings: { minConfidence: SSD.minConfidence, maxResults: SSD.maxResults, expression_box: 'alignedRect (from the 68 landmarks)' },
      several_faces: 'largest detection box (area)', no_face: 'failure (empty prob cells)',
    } : 'skipped (inputs are face crops; no 68-landmark alignment)',
  },
});
