#!/usr/bin/env bash
# Extract a ~1 GiB, ~60k-file gzip layer into an empty directory.
#
# kiln: gzip decoded on its own thread (zlib-rs) while entries are applied through the rootfs
# resolver (examples/extract_layer.rs). Peer: `tar -xzf` (GNU tar with gzip as a child process)
# into an empty directory. Both run as the same user on a warm page cache for the layer; wall
# time (including the `sync` that puts the files on disk) and peak RSS come from
# `/usr/bin/time -v`. Each pair runs twice: into a directory on the
# disk holding the cache (what a build sees), and into tmpfs (`/dev/shm`), which leaves out the
# disk, whose speed on shared machines varies more than the difference being measured. Prints
# one summary line per measurement and the ratios.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/cache/kiln/target}
profile=${KILN_BENCH_PROFILE:-release}
data=${KILN_BENCH_DIR:-/var/cache/kiln/bench}/extract
files=${KILN_BENCH_FILES:-60000}
mib=${KILN_BENCH_MIB:-1024}
layer=$data/layer-$files-$mib.tar.gz

if [ ! -f "$layer" ]; then
    rm -rf "$data"
    mkdir -p "$data/src"
    # Sizes drawn around the mean (~17 KiB for 1 GiB / 60k) from a skewed distribution, as in
    # real images: many small files, a few large ones. Two thirds of the bytes are compressible
    # text, one third random. Directories of ~100 files, a few symlinks and hardlinks.
    python3 - "$data/src" "$files" "$mib" <<'PY'
import os, random, sys
root, files, mib = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(42)
mean = (mib << 20) / files
words = [bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9))) for _ in range(4000)]
text = b" ".join(rng.choice(words) for _ in range(400000)) + b"\n"
noise = os.urandom(8 << 20)
total = 0
for i in range(files):
    d = os.path.join(root, f"d{i // 10000:02}", f"s{(i // 100) % 100:02}")
    if i % 100 == 0:
        os.makedirs(d, exist_ok=True)
    size = min(int(rng.expovariate(1 / mean)), 8 << 20)
    src = noise if i % 3 == 0 else text
    start = rng.randrange(0, len(src) - size) if size < len(src) else 0
    with open(os.path.join(d, f"f{i:05}"), "wb") as f:
        f.write(src[start:start + size])
    total += size
    if i % 1000 == 1:
        os.symlink(f"f{i - 1:05}", os.path.join(d, f"l{i:05}"))
        os.link(os.path.join(d, f"f{i - 1:05}"), os.path.join(d, f"h{i:05}"))
print(f"generated {files} files, {total >> 20} MiB under {root}")
PY
    tar -cf - -C "$data/src" . | pigz -p "$(nproc)" -6 >"$layer.tmp"
    mv "$layer.tmp" "$layer"
    rm -rf "$data/src"
fi

cargo build --quiet --profile "$profile" -p kiln-fs --example extract_layer
dir=$profile; [ "$profile" = dev ] && dir=debug
bin=$CARGO_TARGET_DIR/$dir/examples/extract_layer

cat "$layer" >/dev/null # warm the page cache for both sides

out=$data/out
measure() { # label, command...
    local label=$1; shift
    rm -rf "$out"
    mkdir -p "$out"
    sync
    /usr/bin/time -v "$@" 2>"$data/time.$label" >"$data/stdout.$label"
    # Until the files are on disk: without the flush, whichever side runs second pays for the
    # writeback of the first one's gigabyte, and the order decides the ratio.
    local flush_start flush_end
    flush_start=$(date +%s.%N)
    sync
    flush_end=$(date +%s.%N)
    local wall rss
    wall=$(awk -F': ' -v f="$flush_start" -v e="$flush_end" '/Elapsed \(wall clock\)/ { n = split($2, t, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + t[i]; print s + (e - f) }' "$data/time.$label")
    rss=$(awk -F': ' '/Maximum resident set size/ { printf "%.1f", $2 / 1024 }' "$data/time.$label")
    echo "$label wall_s=$wall peak_rss_mib=$rss files=$(find "$out" -type f | wc -l) $(cat "$data/stdout.$label")"
    eval "${label//-/_}_wall=$wall; ${label//-/_}_rss=$rss"
}

report() { # where
    awk -v w="$1" -v k="$kiln_wall" -v t="$tar_wall" -v kr="$kiln_rss" -v tr="$tar_rss" -v cores="$(nproc)" 'BEGIN {
        printf "extract gzip layer to %s on %d cores: kiln %.2f s, tar -xzf %.2f s, speed ratio (tar/kiln) %.2fx (target >= 1.3x), peak RSS kiln %.1f MiB, tar %.1f MiB\n", w, cores, k, t, t / k, kr, tr }'
}

measure tar tar -xzf "$layer" -C "$out"
measure kiln "$bin" "$out" "$layer"
rm -rf "$out"
report disk

if [ -d /dev/shm ]; then
    out=/dev/shm/kiln-bench-extract
    measure tar tar -xzf "$layer" -C "$out"
    measure kiln "$bin" "$out" "$layer"
    rm -rf "$out"
    report tmpfs
fi
