#!/usr/bin/env bash
# Snapshot after a step that changed 10 files in a 100k-file rootfs.
#
# kiln: a parallel stat walk compared with the walk taken before the step (examples/
# snapshot_changes.rs, which also makes the 10 changes). Peer: `find -newer <stamp>`, the
# cheapest way a shell can list what a step touched (one stat per path, no content read).
# Both run on a warm page cache. Prints one summary line per measurement and the ratio.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/cache/kiln/target}
profile=${KILN_BENCH_PROFILE:-release}
data=${KILN_BENCH_DIR:-/var/cache/kiln/bench}/snapshot
root=$data/root
files=${KILN_BENCH_FILES:-100000}
changes=${KILN_BENCH_CHANGES:-10}

if [ ! -f "$data/.complete-$files" ]; then
    rm -rf "$data"
    mkdir -p "$root"
    # 100 top-level dirs x 10 subdirs x (files/1000) small files, like a distro rootfs.
    python3 - "$root" "$files" <<'PY'
import os, sys
root, total = sys.argv[1], int(sys.argv[2])
per = max(total // 1000, 1)
n = 0
for a in range(100):
    for b in range(10):
        d = os.path.join(root, f"d{a:02}", f"s{b}")
        os.makedirs(d, exist_ok=True)
        for c in range(per):
            with open(os.path.join(d, f"f{c:03}"), "wb") as f:
                f.write(b"x" * ((a * 7 + b * 13 + c) % 4096))
            n += 1
print(f"generated {n} files under {root}")
PY
    touch "$data/.complete-$files"
fi

cargo build --quiet --profile "$profile" -p kiln-fs --example snapshot_changes
dir=$profile; [ "$profile" = dev ] && dir=debug
bin=$CARGO_TARGET_DIR/$dir/examples/snapshot_changes

find "$root" >/dev/null # warm the cache for both sides

kiln=$("$bin" "$root" "$changes")
echo "kiln: $kiln"
kiln_s=$(sed -n 's/.*detect_s=\([0-9.]*\).*/\1/p' <<<"$kiln")

stamp=$data/stamp
touch "$stamp"
sleep 0.05
mapfile -t picks < <(find "$root" -type f -name 'f000' | head -n "$changes")
for f in "${picks[@]}"; do echo changed >>"$f"; done
start=$(date +%s%N)
found=$(find "$root" -newer "$stamp" | wc -l)
end=$(date +%s%N)
find_s=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
echo "peer: find -newer found=$found s=$find_s"
awk -v k="$kiln_s" -v f="$find_s" 'BEGIN { printf "snapshot: kiln %.3f s, find -newer %.3f s, ratio (peer/kiln) %.2fx, target kiln < 0.5 s\n", k, f, f / k }'
