#!/usr/bin/env bash
# CI: the light install. A fresh venv with only what scoring needs (the core and the `score` extra,
# no snakemake) must give a working `unisync score` on a real clip.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=$(mktemp -d)/light
$PYTHON -m venv "$VENV"
"$VENV/bin/pip" install --quiet '.[score]'
if "$VENV/bin/python" -c 'import snakemake' 2>/dev/null; then
    echo "light install: snakemake is installed, but the score extra must not bring it" >&2; exit 1
fi
"$VENV/bin/unisync" --help > /dev/null
"$VENV/bin/unisync" --version
# a committed 3 s real clip and the YuNet file beside it (tests/data): no ../shared needed
CLIP=tests/data/clips/vox_pcavs_Audio_Source_00086.mp4
OUT=$(mktemp -d)
UNISYNC_WEIGHTS=$(cd tests/data/weights && pwd) UNISYNC_OFFLINE=1 "$VENV/bin/unisync" score "$CLIP" --out-dir "$OUT" | tee "$OUT/stdout.txt"
test -s "$OUT/videos.csv"
grep -q "AV offset: " "$OUT/stdout.txt"  # scored: the command exits non-zero when nothing was
echo "light install: unisync score works without snakemake"
rm -rf "$VENV" "$OUT"
