#!/usr/bin/env bash
# Write a layer of 1 GiB of mixed files with gzip on this machine's cores.
#
# kiln: walk + deterministic tar + gzp gzip + both sha256 hashes + temp file and rename
# (examples/layer_write.rs). Peer: `tar -c | pigz -p <cores>` at the same level. Wall time and
# peak RSS come from `/usr/bin/time -v`; inputs are on a warm page cache for both. Prints one
# summary line per measurement and the ratios.
#
# KILN_BENCH_INPUT picks the tree: `mixed` (default, all of it), `usr` (only the files copied
# from /usr: compressible), `random` (5 files of 100 MiB from /dev/urandom, as bench/build's
# big-file writes). KILN_BENCH_BASELINE=/path/to/layer_write also times another build of the
# driver (e.g. of an older commit) on the same input, for a before/after in one run.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/cache/kiln/target}
profile=${KILN_BENCH_PROFILE:-release}
data=${KILN_BENCH_DIR:-/var/cache/kiln/bench}/layer
root=$data/root
mib=${KILN_BENCH_MIB:-1024}
cores=$(nproc)
level=${KILN_BENCH_LEVEL:-6}

if [ ! -f "$data/.complete-$mib" ]; then
    rm -rf "$data"
    mkdir -p "$root"
    # Mixed: real binaries, libraries and text from /usr, plus 10% incompressible data.
    python3 - "$root" "$mib" <<'PY'
import os, shutil, sys
root, mib = sys.argv[1], int(sys.argv[2])
budget = mib << 20
random_part = budget // 10
os.makedirs(os.path.join(root, "random"), exist_ok=True)
i = 0
while random_part > 0:
    n = min(random_part, 1 << 20)
    with open(os.path.join(root, "random", f"r{i:04}"), "wb") as f:
        f.write(os.urandom(n))
    random_part -= n
    i += 1
left = budget - (budget // 10)
count = i
for top in ("/usr/lib", "/usr/share", "/usr/bin"):
    for dirpath, _, names in os.walk(top):
        for name in sorted(names):
            src = os.path.join(dirpath, name)
            if left <= 0 or os.path.islink(src) or not os.path.isfile(src):
                continue
            size = os.path.getsize(src)
            if size > 64 << 20:
                continue
            dst = os.path.join(root, os.path.relpath(src, "/"))
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.copyfile(src, dst)
            left -= size
            count += 1
print(f"generated {count} files, {mib} MiB under {root}")
PY
    touch "$data/.complete-$mib"
fi

case ${KILN_BENCH_INPUT:-mixed} in
mixed) input=$root ;;
usr) input=$root/usr ;;
random)
    input=$data/urandom
    if [ ! -f "$data/.complete-urandom" ]; then
        mkdir -p "$input"
        for i in 1 2 3 4 5; do head -c $((100 << 20)) /dev/urandom >"$input/random-$i"; done
        touch "$data/.complete-urandom"
    fi
    ;;
*) echo "KILN_BENCH_INPUT must be mixed, usr or random, not ${KILN_BENCH_INPUT}" >&2; exit 2 ;;
esac
input_bytes=$(du -sb "$input" | cut -f1)

cargo build --quiet --profile "$profile" -p kiln-fs --example layer_write
dir=$profile; [ "$profile" = dev ] && dir=debug
bin=$CARGO_TARGET_DIR/$dir/examples/layer_write

tar -cf - -C "$input" . >/dev/null # warm the cache for both sides

measure() { # label, command...
    local label=$1; shift
    /usr/bin/time -v "$@" 2>"$data/time.$label" >"$data/out.$label"
    local wall rss cpu
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, t, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + t[i]; print s }' "$data/time.$label")
    rss=$(awk -F': ' '/Maximum resident set size/ { printf "%.1f", $2 / 1024 }' "$data/time.$label")
    cpu=$(awk -F': ' '/(User|System) time \(seconds\)/ { s += $2 } END { printf "%.2f", s }' "$data/time.$label")
    local size
    size=$(grep -o 'size=[0-9]*' "$data/out.$label" | cut -d= -f2)
    echo "$label wall_s=$wall cpu_s=$cpu peak_rss_mib=$rss $(awk -v b="$input_bytes" -v w="$wall" -v s="$size" 'BEGIN { printf "mib_per_s=%.1f ratio=%.4f", b / 1048576 / w, s / b }') $(cat "$data/out.$label")"
    eval "${label//-/_}_wall=$wall; ${label//-/_}_rss=$rss; ${label//-/_}_cpu=$cpu"
}

echo "input ${KILN_BENCH_INPUT:-mixed}: $input, $((input_bytes >> 20)) MiB"
measure kiln-gzip "$bin" "$input" "$data/kiln.tar.gz" gzip "$cores" "$level"
measure pigz sh -c "tar -cf - -C '$input' . | pigz -p $cores -$level > '$data/pigz.tar.gz'; stat -c size=%s '$data/pigz.tar.gz'"
if [ -n "${KILN_BENCH_BASELINE:-}" ]; then
    measure baseline-gzip "$KILN_BENCH_BASELINE" "$input" "$data/baseline.tar.gz" gzip "$cores" "$level"
    awk -v k="$kiln_gzip_wall" -v b="$baseline_gzip_wall" -v kc="$kiln_gzip_cpu" -v bc="$baseline_gzip_cpu" 'BEGIN {
        printf "layer gzip: baseline %.2f s (%.2f s CPU), kiln %.2f s (%.2f s CPU), speed ratio (baseline/kiln) %.2fx wall, %.2fx CPU\n", b, bc, k, kc, b / k, bc / kc }'
fi
measure kiln-zstd "$bin" "$input" "$data/kiln.tar.zst" zstd "$cores" 3

awk -v k="$kiln_gzip_wall" -v p="$pigz_wall" -v r="$kiln_gzip_rss" -v cores="$cores" 'BEGIN {
    printf "layer gzip on %d cores: kiln %.2f s, tar|pigz %.2f s, speed ratio (pigz/kiln) %.2fx (target >= 1.0x), kiln peak RSS %.1f MiB (target < 64)\n", cores, k, p, p / k, r }'
awk -v k="$kiln_zstd_wall" -v p="$pigz_wall" 'BEGIN { printf "layer zstd: kiln %.2f s, %.2fx the speed of tar|pigz gzip\n", k, p / k }'
gzip -t "$data/kiln.tar.gz"
tar -tzf "$data/kiln.tar.gz" >/dev/null
rm -f "$data/kiln.tar.gz" "$data/pigz.tar.gz" "$data/kiln.tar.zst" "$data/baseline.tar.gz"
