#!/usr/bin/env bash
# Starts the real Tessera app under Xvfb with a tiny fixture model, drives a short chat through its
# --demo-script option, and saves light and dark screenshots to docs/screenshots/. The Images pane is shot
# with the app's built-in test engine (--test-engine), which needs no Janus-Pro checkpoint.
#   tools/screenshots.sh [build-dir]     (default: build/release; the `tessera` target must be built)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
build=${1:-build/release}
app="$build/app/tessera"
[[ -x "$app" ]] || { echo "screenshots: $app not built (cmake --build $build --target tessera)" >&2; exit 1; }
command -v xvfb-run >/dev/null || { echo "screenshots: xvfb-run is missing (apt-get install xvfb xauth)" >&2; exit 1; }

fixture="$repo/tests/fixtures/llm/llama_st_single"
out="$repo/docs/screenshots"
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for theme in light dark; do
  root="$work/$theme"
  mkdir -p "$root/config" "$root/models"
  # The fixture under a readable name, as a user's folder of checkpoints would look.
  ln -s "$fixture" "$root/models/tiny-llama-fixture"
  cat > "$root/config/tessera.conf" <<CONF
[appearance]
theme=$theme

[models]
folders=$root/models

[sampling]
maxNewTokens=60
temperature=0.8
CONF
  sed -e "s|@OUT@|$out|g" -e "s|@THEME@|$theme|g" tools/screenshots/chat.demo > "$root/script.demo"
  # HOME is the sandbox too, so the model folder reads "~/models" rather than a temporary path.
  HOME="$root" xvfb-run -a -s "-screen 0 1400x900x24" "$app" --root "$root" --demo-script "$root/script.demo"
  # A first-run window (no model folders yet).
  mkdir -p "$root/first/config"
  printf '[appearance]\ntheme=%s\n' "$theme" > "$root/first/config/tessera.conf"
  sed -e "s|@OUT@|$out|g" -e "s|@THEME@|$theme|g" tools/screenshots/first-run.demo > "$root/first.demo"
  HOME="$root/first" xvfb-run -a -s "-screen 0 1400x900x24" "$app" --root "$root/first" --demo-script "$root/first.demo"
  # The Images pane: a folder named like a Janus-Pro checkpoint, served by the test engine.
  mkdir -p "$root/images/config" "$root/images/models/Janus-Pro-7B"
  echo '{}' > "$root/images/models/Janus-Pro-7B/config.json"
  printf '[appearance]\ntheme=%s\n\n[models]\nfolders=%s\n' "$theme" "$root/images/models" \
    > "$root/images/config/tessera.conf"
  sed -e "s|@OUT@|$out|g" -e "s|@THEME@|$theme|g" tools/screenshots/images.demo > "$root/images.demo"
  HOME="$root/images" xvfb-run -a -s "-screen 0 1400x900x24" "$app" --root "$root/images" --test-engine \
    --demo-script "$root/images.demo"
done

# The light chat again at 1.5x scaling (a 1920x1200 window of 1280x800 logical pixels).
root="$work/scaled"
mkdir -p "$root/config" "$root/models"
ln -s "$fixture" "$root/models/tiny-llama-fixture"
printf '[appearance]\ntheme=light\n\n[models]\nfolders=%s\n\n[sampling]\nmaxNewTokens=60\n' "$root/models" \
  > "$root/config/tessera.conf"
sed -e "s|@OUT@|$out|g" -e "s|chat-@THEME@|chat-light-scale150|" -e "s|models-@THEME@|models-light-scale150|" \
  tools/screenshots/chat.demo > "$root/script.demo"
HOME="$root" QT_SCALE_FACTOR=1.5 xvfb-run -a -s "-screen 0 2100x1350x24" "$app" --root "$root" --demo-script "$root/script.demo"
ls -l "$out"
