#!/usr/bin/env bash
# Builds the two images from this checkout: audio_processing.sif (GPU worker) and
# pipeline_utils.sif (CPU worker, CLI). Needs Apptainer (or SingularityCE) and internet access
# for the base images and npm; run it on a build host, copy the .sif files to the cluster.
#   singularity/build.sh [OUT_DIR]        # default: ./images; --fakeroot is used when not root
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-images}"
builder=$(command -v apptainer || command -v singularity || true)
if [ -z "$builder" ]; then
  echo "neither apptainer nor singularity is installed: see https://apptainer.org/docs/admin/main/installation.html" >&2
  exit 1
fi
flags=()
[ "$(id -u)" = 0 ] || flags+=(--fakeroot)
mkdir -p "$out"
for image in audio_processing pipeline_utils; do
  echo "building $out/$image.sif" >&2
  # %files paths are relative to the working directory: the checkout's root.
  "$builder" build "${flags[@]}" --force "$out/$image.sif" "singularity/$image.def"
done
