#!/usr/bin/env bash
# Builds .build/fixtures/realistic-layer.tar.gz: a deterministic ~120 MB tar of
# part of /usr (sorted names, fixed mtime/owners, cut to a fixed size) gzipped
# at level 6 without a name or time in the header — a realistic layer for the
# inflate oracle tests and bench/inflate. Cached: does nothing when the file
# exists. Its bytes depend on the host's /usr, so tests compare it against
# node:zlib, never against stored digests. Prints the path.
#
#   scripts/make_realistic_layer.sh [--force]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out_dir="$root/.build/fixtures"
out="$out_dir/realistic-layer.tar.gz"
size=$((120 * 1024 * 1024))

if [[ -s "$out" && "${1:-}" != "--force" ]]; then
  echo "$out"
  exit 0
fi
mkdir -p "$out_dir"
tmp="$(mktemp "$out_dir/.realistic-layer.XXXXXX")"
trap 'rm -f "$tmp"' EXIT
dirs=()
for d in usr/lib usr/share usr/bin usr/include usr/libexec usr/sbin; do
  [[ -e "/$d" ]] && dirs+=("$d")
done
# tar exits 1 on files that change while read; head closes the pipe early (141).
{ tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --ignore-failed-read \
    -C / -cf - "${dirs[@]}" 2>/dev/null || true; } | head -c "$size" | gzip -6 -n > "$tmp"
chmod 644 "$tmp"
mv "$tmp" "$out"
trap - EXIT
echo "$out"
