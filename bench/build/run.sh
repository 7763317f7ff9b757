#!/usr/bin/env bash
# Build four Dockerfiles with kiln, Buildah and `docker build`, cold, and push each image.
#
# Workloads (contexts generated under $KILN_BENCH_DIR/build/ctx, bases from the test registry):
#   many-files   20,000 files of 10 KB (200 MB) COPYed onto Debian, then one RUN
#   big-file     a RUN writes 5 x 100 MiB of random data and copies /usr/share; a second RUN
#                deletes two of the files and part of the copy
#   multi-stage  two Debian stages (~100 MB of outputs) copied into busybox
#   touch-many   three RUNs that touch, chmod and append to 5,000 files of the Debian base
#
# Builders, each cold on every run (nothing reused between runs):
#   kiln     release build, as root, --isolation=chroot, --destination (it has no cache yet)
#   buildah  `buildah bud --isolation chroot --layers --no-cache --format docker` with the
#            overlay driver in a storage root of its own, wiped after every run (so it pulls the
#            base each time), then `buildah push`
#   docker   the engine's built-in BuildKit (DOCKER_BUILDKIT=1, the 20.10 client), --no-cache,
#            then `docker push`; the base image stays in the engine's store (shared engine)
# Timed: build plus push, each image to a repository of its own on the test registry, so no
# side finds its layers already there. KILN_BENCH_PUSH=0 times the build alone (kiln
# --no-push, buildah bud, docker build). Wall time and peak RSS come from `/usr/bin/time -v`
# for kiln and Buildah (the largest of the process and its children), and from dockerd's VmHWM
# (reset through /proc/PID/clear_refs before each build) for docker, whose client does no work.
#
# Runs are interleaved (every workload, every builder, then the next run), with the builders'
# order rotated each run. Prints one line per measurement, then a table of medians and ratios.
# KILN_BENCH_RUNS (3), KILN_BENCH_WORKLOADS, KILN_BENCH_BUILDERS and KILN_BENCH_KILN (a kiln
# binary to time instead of building this tree) change the run; KILN_BENCH_FRESH_FS=0 leaves
# out the fresh filesystem for kiln's and Buildah's work areas (see fresh_fs).
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/cache/kiln/target}
data=${KILN_BENCH_DIR:-/var/cache/kiln/bench}/build
runs=${KILN_BENCH_RUNS:-3}
push=${KILN_BENCH_PUSH:-1}
fresh=${KILN_BENCH_FRESH_FS:-1}
read -r -a workloads <<<"${KILN_BENCH_WORKLOADS:-many-files big-file multi-stage touch-many}"
read -r -a builders <<<"${KILN_BENCH_BUILDERS:-kiln buildah docker}"
docker=/usr/bin/docker # the 20.10 client: its DOCKER_BUILDKIT=1 needs no buildx plugin

[ "$(id -u)" = 0 ] || { echo "bench/build: run as root (RUN sandboxes, buildah, docker)" >&2; exit 1; }
scripts/testenv up >/dev/null
# shellcheck disable=SC1091
. "${KILN_TESTENV_DIR:-/var/cache/kiln/testenv}/env"
. "$(dirname "$0")/../lib/settle.sh"
registry=$KILN_TEST_REGISTRY
storage_root=$(dirname "$KILN_TEST_REGISTRY_LOG")/storage/docker/registry/v2
command -v buildah >/dev/null || apt-get install -y buildah >/dev/null
if [[ " ${builders[*]} " == *" docker "* ]] && ! "$docker" info >/dev/null 2>&1; then
    echo "bench/build: no docker engine answers; leaving docker out"
    builders=("${builders[@]/docker/}")
fi
kiln=${KILN_BENCH_KILN:-} # a kiln binary to time instead of this tree's release build
if [ -z "$kiln" ]; then
    [[ " ${builders[*]} " != *" kiln "* ]] || cargo build --quiet --release -p kiln
    kiln=$CARGO_TARGET_DIR/release/kiln
fi

mkdir -p "$data"
stamp=$(date +%s)
repo_prefix=kiln-bench-build/$stamp
results=$data/results-$stamp.tsv
: >"$results"

# ---- contexts -------------------------------------------------------------------------------
ctx=$data/ctx
if [ ! -f "$ctx/.complete" ]; then
    rm -rf "$ctx"
    mkdir -p "$ctx"/{many-files,big-file,multi-stage,touch-many}
    # 20,000 files of 10,000 bytes in directories of 100: two thirds text, one third random.
    python3 - "$ctx/many-files/files" <<'PY'
import os, random, sys
root = sys.argv[1]
rng = random.Random(7)
words = [bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9))) for _ in range(4000)]
text = b" ".join(rng.choice(words) for _ in range(200000)) + b"\n"
noise = os.urandom(4 << 20)
for i in range(20000):
    d = os.path.join(root, f"d{i // 100:03}")
    if i % 100 == 0:
        os.makedirs(d)
    src = noise if i % 3 == 0 else text
    start = rng.randrange(0, len(src) - 10000)
    with open(os.path.join(d, f"f{i:05}"), "wb") as f:
        f.write(src[start:start + 10000])
PY
    touch "$ctx/.complete"
fi
# The Dockerfiles name the registry, so they are rewritten on every run.
cat >"$ctx/many-files/Dockerfile" <<EOF
FROM $registry/debian:bookworm
COPY files/ /data/
RUN find /data -type f | wc -l > /data-count
EOF
cat >"$ctx/big-file/Dockerfile" <<EOF
FROM $registry/debian:bookworm
RUN mkdir /big && for i in 1 2 3 4 5; do head -c 100M /dev/urandom > /big/part\$i; done \\
    && cp -a /usr/share /big/share
RUN rm -rf /big/part4 /big/part5 /big/share/doc
EOF
cat >"$ctx/multi-stage/Dockerfile" <<EOF
FROM $registry/debian:bookworm AS libs
RUN mkdir /out && cp -a /usr/lib /out/lib && head -c 8M /dev/urandom > /out/blob

FROM $registry/debian:bookworm AS share
RUN mkdir /out && cp -a /usr/share /out/share

FROM $registry/busybox:latest
COPY --from=libs /out /libs
COPY --from=share /out /share
EOF
# /etc/hosts, /etc/hostname and /etc/resolv.conf are mounted into RUN by some builders; the
# shell running the last RUN (dash) cannot be written while it runs.
cat >"$ctx/touch-many/Dockerfile" <<EOF
FROM $registry/debian:bookworm
RUN find /etc /usr /var -xdev -type f ! -path /etc/hosts ! -path /etc/hostname \\
      ! -path /etc/resolv.conf ! -path /usr/bin/dash | sort | head -n 5000 > /touched \\
    && xargs touch < /touched
RUN xargs chmod g+w < /touched
RUN while read -r f; do printf '\n' >> "\$f" || exit 1; done < /touched
EOF

# ---- builders -------------------------------------------------------------------------------
buildah_root=$data/buildah
buildah_cmd=(buildah --root "$buildah_root/root" --runroot "$buildah_root/run" --storage-driver overlay)
# fresh_fs DIR: with KILN_BENCH_FRESH_FS=1 (the default), mounts a new, empty ext4 with a
# journal (a loop device over a sparse file beside DIR) on DIR, so that a build's work area
# starts on a filesystem no earlier build deleted files from: on this machine's journal-less
# ext4, creating files after a large deletion is up to 10x slower (README, run 7).
# drop_fs DIR: unmounts it and removes its file.
fresh_fs() {
    [ "$fresh" = 1 ] || return 0
    mkdir -p "$1"
    truncate -s 64G "$1.img"
    mkfs.ext4 -q -F "$1.img"
    mount -o loop "$1.img" "$1"
}
drop_fs() {
    if mountpoint -q "$1"; then umount "$1" 2>/dev/null || umount -l "$1"; fi
    rm -f "$1.img"
}
buildah_wipe() {
    "${buildah_cmd[@]}" rmi --all --force >/dev/null 2>&1 || true
    findmnt -rn -o TARGET | grep -F "$buildah_root/" | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
    drop_fs "$buildah_root"
    rm -rf "$buildah_root"
}

# seconds PATH-OF-time-v-OUTPUT -> wall seconds; rss_mib PATH -> peak RSS in MiB
seconds() { awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, t, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + t[i]; print s }' "$1"; }
rss_mib() { awk -F': ' '/Maximum resident set size/ { printf "%.1f", $2 / 1024 }' "$1"; }

# timed LOG COMMAND...: run under /usr/bin/time -v, output to LOG, time -v's report to LOG.time
timed() {
    local log=$1; shift
    /usr/bin/time -v -o "$log.time" "$@" >"$log" 2>&1
}

# build BUILDER WORKLOAD RUN: one cold build (and push), prints "wall rss" or "fail"
build() {
    local builder=$1 workload=$2 run=$3
    local dir=$ctx/$workload image=$registry/$repo_prefix/$workload-$builder-$run
    local log=$data/log/$stamp/$workload-$builder-$run
    mkdir -p "$data/log/$stamp"
    case $builder in
    kiln)
        local flags=(--destination "$image")
        [ "$push" = 1 ] || flags+=(--no-push)
        fresh_fs "$data/kaniko"
        local rc=0
        timed "$log" "$kiln" build --context "$dir" --dockerfile "$dir/Dockerfile" "${flags[@]}" \
            --isolation=chroot --kaniko-dir "$data/kaniko" --log-format text || rc=1
        drop_fs "$data/kaniko"
        [ "$rc" = 0 ] || return 1
        echo "$(seconds "$log.time") $(rss_mib "$log.time")"
        ;;
    buildah)
        buildah_wipe
        fresh_fs "$buildah_root"
        timed "$log" "${buildah_cmd[@]}" bud --isolation chroot --layers --no-cache --format docker \
            --tls-verify=false -t "$image" -f "$dir/Dockerfile" "$dir" || return 1
        local wall rss
        wall=$(seconds "$log.time") rss=$(rss_mib "$log.time")
        if [ "$push" = 1 ]; then
            timed "$log.push" "${buildah_cmd[@]}" push --tls-verify=false "$image" || return 1
            wall=$(awk -v a="$wall" -v b="$(seconds "$log.push.time")" 'BEGIN { print a + b }')
            rss=$(awk -v a="$rss" -v b="$(rss_mib "$log.push.time")" 'BEGIN { print (a > b ? a : b) }')
        fi
        buildah_wipe
        echo "$wall $rss"
        ;;
    docker)
        local pid start end rc=0
        pid=$(pidof dockerd)
        echo 5 >"/proc/$pid/clear_refs" # resets VmHWM
        start=$(date +%s%N)
        {
            DOCKER_BUILDKIT=1 "$docker" build --no-cache --progress=plain -t "$image" "$dir" &&
                if [ "$push" = 1 ]; then "$docker" push "$image"; fi
        } >"$log" 2>&1 || rc=1
        end=$(date +%s%N)
        local hwm
        hwm=$(awk '/VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$pid/status")
        "$docker" rmi "$image" >/dev/null 2>&1 || true
        [ "$rc" = 0 ] || return 1
        echo "$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", (b - a) / 1e9 }') $hwm"
        ;;
    esac
}

# Removes this run's repositories from the test registry, and the blobs only they link
# (layers, configs, manifests).
cleanup_registry() {
    local repos=$storage_root/repositories
    [ -d "$repos/$repo_prefix" ] || return 0
    local ours others
    # Layer, config and manifest links all end in sha256/<digest>/link.
    ours=$(find "$repos/$repo_prefix" -path '*/sha256/*/link' -printf '%h\n' | xargs -r -n1 basename | sort -u)
    others=$(find "$repos" -path "$repos/$repo_prefix" -prune -o -path '*/sha256/*/link' -printf '%h\n' | xargs -r -n1 basename | sort -u)
    comm -23 <(echo "$ours") <(echo "$others") | while read -r d; do
        [ -n "$d" ] && rm -rf "$storage_root/blobs/sha256/${d:0:2}/$d"
    done
    rm -rf "${repos:?}/$repo_prefix"
    rmdir "$repos/kiln-bench-build" 2>/dev/null || true
}
trap 'buildah_wipe; drop_fs "$data/kaniko"; rm -rf "$data/kaniko"; cleanup_registry' EXIT

echo "bench/build: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)," \
    "push=$push, fresh_fs=$fresh, runs=$runs, builders: ${builders[*]}"
for ((run = 1; run <= runs; run++)); do
    for workload in "${workloads[@]}"; do
        n=${#builders[@]}
        for ((k = 0; k < n; k++)); do
            builder=${builders[$(((k + run - 1) % n))]}
            [ -n "$builder" ] || continue
            settle
            load=$(cut -d' ' -f1 /proc/loadavg)
            if out=$(build "$builder" "$workload" "$run"); then
                read -r wall rss <<<"$out"
                printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$workload" "$builder" "$run" "$wall" "$rss" "$load" >>"$results"
                echo "$workload $builder run=$run wall_s=$wall peak_rss_mib=$rss load=$load settled_s=$settle_s"
            else
                echo "$workload $builder run=$run FAILED, see $data/log/$stamp/$workload-$builder-$run" >&2
                tail -n 5 "$data/log/$stamp/$workload-$builder-$run" >&2 || true
            fi
        done
    done
done
echo "load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"

# ---- table of medians -----------------------------------------------------------------------
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "NA"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "NA" || b == "NA" || b == 0) print "NA"; else printf "%.2fx", a / b }'; }
echo
echo "| workload | kiln s / MiB | buildah s / MiB | docker s / MiB | wall buildah/kiln | wall docker/kiln | RSS buildah/kiln | RSS docker/kiln |"
echo "|---|---|---|---|---|---|---|---|"
for workload in "${workloads[@]}"; do
    row="| $workload"
    declare -A w=() r=()
    for builder in kiln buildah docker; do
        w[$builder]=$(awk -F'\t' -v a="$workload" -v b="$builder" '$1 == a && $2 == b { print $4 }' "$results" | median)
        r[$builder]=$(awk -F'\t' -v a="$workload" -v b="$builder" '$1 == a && $2 == b { print $5 }' "$results" | median)
        row+=" | ${w[$builder]} / ${r[$builder]}"
    done
    row+=" | $(ratio "${w[buildah]}" "${w[kiln]}") | $(ratio "${w[docker]}" "${w[kiln]}")"
    row+=" | $(ratio "${r[buildah]}" "${r[kiln]}") | $(ratio "${r[docker]}" "${r[kiln]}") |"
    echo "$row"
done
echo "(medians of $runs runs; targets: wall buildah/kiln >= 2x, kiln peak RSS < 150 MiB; raw: $results)"
