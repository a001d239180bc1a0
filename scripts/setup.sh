#!/usr/bin/env bash
# Installs what sipterm's build and test suite need from Debian's packages.
# Safe to run again: it only calls apt-get when something is missing.
set -euo pipefail

packages=(
  # build: cpal's ALSA backend and the Opus library under audiopus
  libasound2-dev libopus-dev pkg-config cmake
  # real peers and tools the integration tests drive
  kamailio sip-tester baresip linphone-cli tshark sox espeak-ng tmux
  # a virtual headset for the sound-card tests: PulseAudio null sinks behind ALSA's pulse plugin
  pulseaudio pulseaudio-utils libasound2-plugins
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo_cmd apt-get update -qq
  $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null; then
  echo "setup: cargo is missing; install Rust from https://rustup.rs first" >&2
  exit 1
fi
echo "setup: all build and test dependencies are present"
