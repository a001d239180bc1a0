#!/usr/bin/env bash
# Screenshots of sipterm's full-screen UI from a real run: tests/screenshots.rs drives the real
# binary in a 120x40 tmux terminal (Kamailio and sipp on loopback, as the tests start them) and
# writes each scene's screen as ANSI and as HTML on the cell grid; headless Chromium renders the
# HTML into screenshots/<scene>.png (idle, ringing, call, bridged when the build has the
# bridge, sip_trace, help when the build has it, two_calls, dialling, early_media, ai_caller,
# ai_caller_verdict).
# Not part of CI: it installs the packages it needs itself (Chromium and fonts, on top of
# scripts/setup.sh's).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh

packages=(chromium fonts-dejavu-core fonts-noto-color-emoji)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "screenshots: installing ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo_cmd apt-get update -qq
  $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
scenes="$work/scenes"

SIPTERM_SCREENSHOTS_OUT="$scenes" \
  cargo test --locked --test screenshots -- --ignored --nocapture --test-threads=1

mkdir -p screenshots
for scene in idle ringing call bridged sip_trace help two_calls dialling early_media ai_caller ai_caller_verdict; do
  rm -f "screenshots/$scene.png"
done
for html in "$scenes"/*.html; do
  name=$(basename "$html" .html)
  # The page's size in CSS pixels is on its first line: <!-- window-size: W,H -->
  size=$(sed -n '1s/.*window-size: \([0-9]*,[0-9]*\).*/\1/p' "$html")
  # Offline and throw-away: no sandbox (root), no GPU, no network chatter, a fresh profile.
  if ! timeout 120 chromium --headless --no-sandbox --disable-gpu \
      --disable-background-networking --disable-component-update --disable-sync \
      --no-first-run --no-default-browser-check --hide-scrollbars \
      --force-device-scale-factor=1 --user-data-dir="$work/chromium" \
      --window-size="$size" --screenshot="$PWD/screenshots/$name.png" \
      "file://$html" >"$work/chromium.log" 2>&1; then
    cat "$work/chromium.log" >&2
    echo "screenshots: chromium failed on $name" >&2
    exit 1
  fi
  echo "screenshots/$name.png"
done
