#!/usr/bin/env bash
# GPU check: the Whisper engine per execution provider × decoder × batch size on the English
# fixture clips, on a machine with an NVIDIA GPU and no internet, from files that travel with the
# working tree (at most 64 MiB in all). Prints RTFx, WER, decoding session runs, peak GPU memory
# (nvidia-smi) and peak RSS per combination (bench/decoders.ts), in well under 8 minutes.
#
#   bench/gpu-check.sh --prepare [--model-dir DIR] [--no-node]   # here: builds .gpucheck/
#   bench/gpu-check.sh [--devices cuda,webgpu,cpu] [--batch-sizes 1,8,16] [--copies 4]
#   bench/gpu-check.sh --dry-run                                  # the GPU run's steps, on the CPU
#
# --prepare (needs node_modules, ffmpeg, xz, and Python with numpy + onnx: $PYTHON, else the model
# converter's venv) writes .gpucheck/ (git-ignored through .git/info/exclude) and prints its size:
#   node.xz        this machine's node binary, stripped (--no-node: the GPU machine has its own)
#   ort.tar.xz     onnxruntime-node + onnxruntime-common (JS and the linux-x64 libraries)
#   app.mjs        bench/decoders.ts and lib/ bundled by esbuild (onnxruntime-node left outside)
#   model.tar.xz   the model (default tiny.en from the cache) packed by models/pack_weights.py:
#                  int8 weight rows + scales, rebuilt as float32 ONNX there (tiny.en fp16 is
#                  75 MB and does not fit; see bench/README.md)
#   pcm.tar.xz     the fixture clips decoded to 16 kHz float PCM (there is no ffmpeg there)
#   deb/           libvulkan1 (the Vulkan loader WebGPU needs; the NVIDIA ICD comes with the driver)
# The run unpacks everything under /tmp/gpucheck and uses nothing else: python3 with numpy and
# onnx (there: the image's), nvidia-smi when present. CUDA runs only where onnxruntime-node's CUDA
# provider library is installed (ONNXRUNTIME_NODE_INSTALL_CUDA, bench/README.md): it is hundreds of
# MB and cannot travel, so there that row says why it is unavailable.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=$ROOT/.gpucheck
W=${GPUCHECK_WORKDIR:-/tmp/gpucheck}
mode=run
model_dir=${WHISPER_MODEL_CACHE:-$HOME/.cache/audio-pipeline/models}/tiny.en
with_node=1
devices=cuda,webgpu,cpu
batch_sizes=1,8,16
copies=4
decoders=loop,in-graph
while [ $# -gt 0 ]; do
  case $1 in
    --prepare) mode=prepare ;;
    --dry-run) mode=dry-run ;;
    --model-dir) model_dir=$2; shift ;;
    --no-node) with_node=0 ;;
    --devices) devices=$2; shift ;;
    --batch-sizes) batch_sizes=$2; shift ;;
    --copies) copies=$2; shift ;;
    --decoders) decoders=$2; shift ;;
    *) echo "gpu-check: unknown argument $1 (see the header of $0)" >&2; exit 2 ;;
  esac
  shift
done
CLIPS=(jfk $(cd "$ROOT/test/fixtures/whisper" && ls speech-en*.flac | sed 's/\.flac$//'))
LIMIT=$((64 * 1024 * 1024))

prepare() {
  local py=${PYTHON:-$(dirname "$model_dir")/.venv/bin/python}
  [ -x "$py" ] || { echo "gpu-check: $py not found (set PYTHON to a Python with numpy and onnx)" >&2; exit 1; }
  [ -f "$model_dir/onnx/encoder_model.onnx" ] || { echo "gpu-check: no model in $model_dir" >&2; exit 1; }
  rm -rf "$B" && mkdir -p "$B/deb"
  local exclude
  exclude=$(git -C "$ROOT" rev-parse --git-path info/exclude)
  case $exclude in /*) ;; *) exclude=$ROOT/$exclude ;; esac
  mkdir -p "$(dirname "$exclude")"
  grep -qx '/.gpucheck/' "$exclude" 2>/dev/null || echo '/.gpucheck/' >>"$exclude"
  local tmp
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' RETURN
  echo "gpu-check: packing $model_dir" >&2
  "$py" "$ROOT/models/pack_weights.py" pack --model-dir "$model_dir" --out "$tmp/model"
  tar -C "$tmp/model" -cf - . | xz -9 -T0 >"$B/model.tar.xz"
  echo "gpu-check: decoding the clips" >&2
  mkdir -p "$tmp/pcm"
  for c in "${CLIPS[@]}"; do
    ffmpeg -nostdin -loglevel error -i "$ROOT/test/fixtures/whisper/$c.flac" -f f32le -ac 1 -ar 16000 "$tmp/pcm/$c.flac.f32le"
  done
  tar -C "$tmp/pcm" -cf - . | xz -9 -T0 >"$B/pcm.tar.xz"
  echo "gpu-check: onnxruntime-node" >&2
  local nm=$ROOT/node_modules
  tar -C "$nm" -cf - onnxruntime-node/package.json onnxruntime-node/dist onnxruntime-node/bin/napi-v6/linux/x64 \
    onnxruntime-common/package.json onnxruntime-common/dist | xz -9 -T0 >"$B/ort.tar.xz"
  echo "gpu-check: bundling bench/decoders.ts" >&2
  "$nm/.bin/esbuild" "$ROOT/bench/decoders.ts" --bundle --platform=node --format=esm --target=node20 \
    --external:onnxruntime-node --external:ffmpeg-static --log-level=warning --outfile="$B/app.mjs"
  cp "$ROOT/lib/whisper/ffmpeg-helper.mjs" "$B/ffmpeg-helper.mjs"
  cp "$ROOT/lib/whisper/encoder-child.mjs" "$B/encoder-child.mjs" # the CPU encoder process (encoder-process.ts)
  if [ $with_node = 1 ]; then
    echo "gpu-check: node $(node --version)" >&2
    # Without its symbol table (strip, where there is one): 99 → 86 MB before xz.
    cp "$(command -v node)" "$tmp/node"
    command -v strip >/dev/null && strip "$tmp/node"
    xz -9e -T0 -c "$tmp/node" >"$B/node.xz"
  fi
  (cd "$B/deb" && apt-get download libvulkan1 >/dev/null 2>&1) ||
    echo "gpu-check: could not download libvulkan1 (apt-get download); WebGPU then needs it there" >&2
  local tree
  tree=$(git -C "$ROOT" ls-files -z --cached --others --exclude-standard | (cd "$ROOT" && xargs -0 du -cb 2>/dev/null) | tail -1 | cut -f1)
  local bundle
  bundle=$(du -sb --exclude=node_modules "$B" | cut -f1)
  ls -l "$B" >&2
  echo "gpu-check: .gpucheck $((bundle / 1048576)) MiB + working tree $((tree / 1048576)) MiB = $(((bundle + tree) / 1048576)) MiB (limit 64 MiB)"
  if [ $((bundle + tree)) -gt $LIMIT ]; then
    echo "gpu-check: over the 64 MiB limit: try --no-node where the GPU machine has node, or a smaller model" >&2
    exit 3
  fi
}

unpack() {
  rm -rf "$W" && mkdir -p "$W/bin" "$W/pcm" "$W/pack"
  if [ -f "$B/node.xz" ] && { [ "$mode" = run ] || ! command -v node >/dev/null; }; then
    xz -dc "$B/node.xz" >"$W/bin/node" && chmod +x "$W/bin/node"
  fi
  [ -x "$W/bin/node" ] || ln -s "$(command -v node)" "$W/bin/node"
  mkdir -p "$B/node_modules"
  xz -dc "$B/ort.tar.xz" | tar -C "$B/node_modules" -xf -
  xz -dc "$B/pcm.tar.xz" | tar -C "$W/pcm" -xf -
  xz -dc "$B/model.tar.xz" | tar -C "$W/pack" -xf -
  local py=${PYTHON:-python3}
  "$py" "$ROOT/models/pack_weights.py" unpack --pack "$W/pack" --out "$W/model"
  "$py" "$ROOT/models/build_whisper_beam_search.py" --model-dir "$W/model" >/dev/null
  # ffmpeg stand-in: prints the clip decoded beforehand (AudioLoader reads f32le from stdout).
  cat >"$W/bin/ffmpeg" <<EOF
#!/bin/sh
while [ \$# -gt 0 ]; do [ "\$1" = -i ] && f=\$(basename "\${2#file:}"); shift; done
exec cat "$W/pcm/\$f.f32le"
EOF
  chmod +x "$W/bin/ffmpeg"
  if [ "$mode" = run ] && ls "$B"/deb/*.deb >/dev/null 2>&1 && ! ldconfig -p | grep 'libvulkan.so.1 ' >/dev/null; then
    for f in "$B"/deb/*.deb; do dpkg -x "$f" /; done
    ldconfig
  fi
  if [ -z "${VK_DRIVER_FILES:-}" ] && [ -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ]; then
    export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  fi
}

run() {
  [ -f "$B/app.mjs" ] || { echo "gpu-check: run '$0 --prepare' first (on a machine with node_modules)" >&2; exit 1; }
  unpack
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
  echo "node $("$W/bin/node" --version), onnxruntime-node $("$W/bin/node" -p "require('$B/node_modules/onnxruntime-node/package.json').version")"
  PATH=$W/bin:/usr/bin:/bin timeout 450 "$W/bin/node" "$B/app.mjs" --model-dir "$W/model" --devices "$devices" \
    --decoders "$decoders" --batch-sizes "$batch_sizes" --copies "$copies" --ffmpeg "$W/bin/ffmpeg" --timeout-s 150
}

case $mode in
  prepare) prepare ;;
  run) run ;;
  dry-run)
    devices=cpu batch_sizes=8 copies=1
    run
    ;;
esac
