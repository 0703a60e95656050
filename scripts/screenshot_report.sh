#!/usr/bin/env bash
# Screenshot DIR/report.html in headless Chromium (Debian package `chromium`), offline.
# Usage: scripts/screenshot_report.sh DIR [OUT.png] [HEIGHT]   → OUT.png (default DIR/report.png)
set -euo pipefail
dir="$(cd "${1:?usage: $0 DIR [OUT.png] [HEIGHT]}" && pwd)"
out="${2:-$dir/report.png}"
height="${3:-3000}"
test -f "$dir/report.html" || { echo "no $dir/report.html; run: miub report $dir" >&2; exit 2; }
browser="$(command -v chromium || command -v chromium-browser || true)"
test -n "$browser" || { echo "chromium not found: apt-get install -y chromium" >&2; exit 2; }
profile="$(mktemp -d)"
trap 'rm -rf "$profile"' EXIT
"$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$profile" --screenshot="$out" --window-size=1280,"$height" \
  "file://$dir/report.html" 2>/dev/null
echo "$out"
