#!/usr/bin/env bash
# gzip engines on 200 MiB of the layer benchmark's tar stream: flate2 alone, gzp on one thread,
# gzp on every core, and pigz on every core as the peer. Backs the choice written in
# crates/fs/src/layer/compression.rs. Run bench/layer/run.sh first to generate the input tree.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/cache/kiln/target}
profile=${KILN_BENCH_PROFILE:-release}
data=${KILN_BENCH_DIR:-/var/cache/kiln/bench}/layer
sample=$data/sample.tar
level=${KILN_BENCH_LEVEL:-6}
[ -d "$data/root" ] || { echo "run bench/layer/run.sh first" >&2; exit 1; }
# Typical layer data: the copied /usr files, without the random part.
[ -f "$sample" ] || { tar -cf - -C "$data/root" --exclude=./random . | head -c $((200 << 20)) >"$sample" || true; }

cargo build --quiet --profile "$profile" -p kiln-fs --example gzip_speed
dir=$profile; [ "$profile" = dev ] && dir=debug
"$CARGO_TARGET_DIR/$dir/examples/gzip_speed" "$sample" "$level"

cores=$(nproc)
start=$(date +%s%N)
size=$(pigz -p "$cores" "-$level" <"$sample" | wc -c)
end=$(date +%s%N)
awk -v s="$(stat -c %s "$sample")" -v o="$size" -v a="$start" -v b="$end" -v c="$cores" \
    'BEGIN { printf "engine=pigz-%d mib_per_s=%.1f ratio=%.3f\n", c, s / 1048576 / ((b - a) / 1e9), o / s }'
