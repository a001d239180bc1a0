#!/usr/bin/env bash
# Installs what sipterm's build and test suite need from Debian's packages.
# Safe to run again: it only calls apt-get when something is missing.
set -euo pipefail

packages=(
  # build: cpal's ALSA backend and the Opus library under audiopus
  libasound2-dev libopus-dev pkg-config cmake
  # real peers and tools the integration tests drive
  kamailio sip-tester baresip linphone-cli tshark sox espeak-ng tmux
  # Kamailio's tls module and openssl for the test CA (tests/tls.rs)
  kamailio-tls-modules openssl
  # the NAT lab in network namespaces (tests/support/netlab.rs): ip and nft
  iproute2 nftables
  # a virtualenv for pjsua2-python (the pjsua peer, tests/support/pjsua.rs)
  python3-venv
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

# pjsua 2.15 as a peer: the pjsua2 module from PyPI in a virtualenv inside the checkout
# (gitignored), where tests/support/pjsua.rs looks for it.
venv="$(cd "$(dirname "$0")/.." && pwd)/.venv-pjsua"
pjsua_version="2.15.1.post1"
if ! "$venv/bin/python" -c 'import pjsua2' 2>/dev/null; then
  echo "setup: making $venv with pjsua2-python $pjsua_version"
  rm -rf "$venv"
  /usr/bin/python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "pjsua2-python==$pjsua_version"
fi

if ! command -v cargo >/dev/null; then
  echo "setup: cargo is missing; install Rust from https://rustup.rs first" >&2
  exit 1
fi
echo "setup: all build and test dependencies are present"
