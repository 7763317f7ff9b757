#!/usr/bin/env bash
# Time kiln's layer cache (--cache) against Buildah's (`buildah bud --layers`) on the four
# workloads of bench/build, each with two lines appended:
#     ARG STAMP
#     RUN echo "$STAMP" > /stamp
# so that a build-arg changes the last step alone.
#
# For each workload and run, each side builds and pushes three times, to three tags of one
# repository of its own on the test registry:
#   uncached  the first build (STAMP=a), which fills the cache
#   cached    the same build again (STAMP=a): every step should be a hit
#   last      STAMP=b: every step a hit but the last, which runs
# Sides:
#   kiln-registry  --cache --cache-copy-layers, a fresh --cache-repo per run, --cache-dir a path
#                  that does not exist, so only the registry store is used
#   kiln-local     the same with a fresh, empty --cache-dir, which is looked up first
#   buildah        `buildah bud --layers --isolation chroot --format docker` then `buildah push`,
#                  in a storage root of its own (overlay) kept for the three builds of a run and
#                  wiped after them, so its first build pulls the base and fills its layer cache
# Then, once, an image of about 2 GiB (a RUN writes 16 x 128 MiB of /dev/urandom onto Debian)
# is built by kiln-registry uncached (slow, one run), then rebuilt fully cached KILN_BENCH_RUNS
# times to new tags; the target is its peak RSS.
#
# Wall time and peak RSS come from `/usr/bin/time -v` (the largest of the process and its
# children). The time of the last step (`RUN echo ... > /stamp`) comes from kiln's summary
# ("steps, slowest first"); "overhead" is the wall time of the `last` build minus it. For
# Buildah the whole `last` build is reported.
#
# Runs are interleaved (every workload, every side, then the next run), the sides' order rotated
# each run. Prints one line per build, then tables of medians and ratios.
# KILN_BENCH_RUNS (3), KILN_BENCH_WORKLOADS, KILN_BENCH_SIDES, KILN_BENCH_BIG (1: the 2 GiB
# image; 0 leaves it out) and KILN_BENCH_KILN (a kiln binary to time instead of building this
# tree) change the run.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/cache/kiln/target}
data=${KILN_BENCH_DIR:-/var/cache/kiln/bench}/cache
runs=${KILN_BENCH_RUNS:-3}
big=${KILN_BENCH_BIG:-1}
read -r -a workloads <<<"${KILN_BENCH_WORKLOADS:-many-files big-file multi-stage touch-many}"
read -r -a sides <<<"${KILN_BENCH_SIDES:-kiln-registry kiln-local buildah}"

[ "$(id -u)" = 0 ] || { echo "bench/cache: run as root (RUN sandboxes, buildah)" >&2; exit 1; }
# shellcheck disable=SC1091
. "$(dirname "$0")/../lib/settle.sh"
# Only the plain registry is used: when it answers, the rest of the test environment (which
# `scripts/testenv up` may be starting at the time) is not waited for.
testenv_dir=${KILN_TESTENV_DIR:-/var/cache/kiln/testenv}
load_testenv() {
    # shellcheck disable=SC1091
    [ ! -f "$testenv_dir/env" ] || . "$testenv_dir/env"
    registry=${KILN_TEST_REGISTRY:-127.0.0.1:5000}
    registry_log=${KILN_TEST_REGISTRY_LOG:-$testenv_dir/plain/log}
}
load_testenv
if ! curl -fsS -o /dev/null "http://$registry/v2/debian/manifests/bookworm"; then
    scripts/testenv up >/dev/null
    load_testenv
fi
storage_root=$(dirname "$registry_log")/storage/docker/registry/v2
if [[ " ${sides[*]} " == *" buildah "* ]]; then
    command -v buildah >/dev/null || apt-get install -y buildah >/dev/null
fi
kiln=${KILN_BENCH_KILN:-} # a kiln binary to time instead of this tree's release build
if [ -z "$kiln" ]; then
    cargo build --quiet --release -p kiln
    kiln=$CARGO_TARGET_DIR/release/kiln
fi

mkdir -p "$data"
stamp=$(date +%s)
repo_prefix=kiln-bench-cache/$stamp
results=$data/results-$stamp.tsv
logs=$data/log/$stamp
mkdir -p "$logs"
: >"$results"
no_cache_dir=$data/no-such-cache-dir # never created: kiln-registry uses no local store
rm -rf "$no_cache_dir"

# ---- contexts (bench/build's workloads) -----------------------------------------------------
ctx=$data/ctx
if [ ! -f "$ctx/.complete" ]; then
    rm -rf "$ctx"
    mkdir -p "$ctx"/{many-files,big-file,multi-stage,touch-many,big-image}
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
# The last step of every workload: a build-arg only it sees.
last_step='ARG STAMP
RUN echo "$STAMP" > /stamp'
# The Dockerfiles name the registry, so they are rewritten on every run.
cat >"$ctx/many-files/Dockerfile" <<EOF
FROM $registry/debian:bookworm
COPY files/ /data/
RUN find /data -type f | wc -l > /data-count
$last_step
EOF
cat >"$ctx/big-file/Dockerfile" <<EOF
FROM $registry/debian:bookworm
RUN mkdir /big && for i in 1 2 3 4 5; do head -c 100M /dev/urandom > /big/part\$i; done \\
    && cp -a /usr/share /big/share
RUN rm -rf /big/part4 /big/part5 /big/share/doc
$last_step
EOF
cat >"$ctx/multi-stage/Dockerfile" <<EOF
FROM $registry/debian:bookworm AS libs
RUN mkdir /out && cp -a /usr/lib /out/lib && head -c 8M /dev/urandom > /out/blob

FROM $registry/debian:bookworm AS share
RUN mkdir /out && cp -a /usr/share /out/share

FROM $registry/busybox:latest
COPY --from=libs /out /libs
COPY --from=share /out /share
$last_step
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
$last_step
EOF
# About 2 GiB: Debian plus 16 x 128 MiB of random bytes.
cat >"$ctx/big-image/Dockerfile" <<EOF
FROM $registry/debian:bookworm
RUN mkdir /big && for i in \$(seq 1 16); do head -c 128M /dev/urandom > /big/part\$i; done
$last_step
EOF

# ---- sides ----------------------------------------------------------------------------------
buildah_root=$data/buildah
buildah_cmd=(buildah --root "$buildah_root/root" --runroot "$buildah_root/run" --storage-driver overlay)
buildah_wipe() {
    "${buildah_cmd[@]}" rmi --all --force >/dev/null 2>&1 || true
    findmnt -rn -o TARGET | grep -F "$buildah_root/" | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
    rm -rf "$buildah_root"
}

# seconds PATH-OF-time-v-OUTPUT -> wall seconds; rss_mib PATH -> peak RSS in MiB
seconds() { awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, t, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + t[i]; print s }' "$1"; }
rss_mib() { awk -F': ' '/Maximum resident set size/ { printf "%.1f", $2 / 1024 }' "$1"; }
# last_step_s LOG -> the time kiln's summary gives the `RUN echo ... > /stamp` step
last_step_s() { awk '/steps, slowest first:/ { s = 1; next } s && /\/stamp/ { for (i = 1; i <= NF; i++) if ($i ~ /^[0-9.]+s$/) { sub(/s$/, "", $i); print $i; exit } }' "$1"; }
# extract_s LOG -> the seconds kiln logged extracting rootfs ("extracted N layers for stage")
extract_s() { awk '/extracted [0-9]+ layers? for stage/ { t = $NF; sub(/s$/, "", t); s += t; n++ } END { if (n) printf "%.2f", s; else print "-" }' "$1"; }
# hits LOG -> "hits/misses" from kiln's summary ("layer cache: N hit, M missed, ...")
hits() { awk '/layer cache: [0-9]+ hit/ { for (i = 1; i < NF; i++) { if ($(i + 1) ~ /^hit/) h = $i; if ($(i + 1) ~ /^missed/) m = $i } } END { print (h == "" ? "-" : h "/" m) }' "$1"; }

# timed LOG COMMAND...: run under /usr/bin/time -v, output to LOG, time -v's report to LOG.time
timed() {
    local log=$1; shift
    /usr/bin/time -v -o "$log.time" "$@" >"$log" 2>&1
}

# kiln_build LOG IMAGE CACHE-REPO CACHE-DIR STAMP DIR: one kiln build and push, prints
# "wall rss hits/misses last-step-seconds extraction-seconds"
kiln_build() {
    local log=$1 image=$2 cache_repo=$3 cache_dir=$4 build_stamp=$5 dir=$6
    timed "$log" "$kiln" build --context "$dir" --dockerfile "$dir/Dockerfile" \
        --destination "$image" --build-arg "STAMP=$build_stamp" \
        --cache --cache-copy-layers --cache-repo "$cache_repo" --cache-dir "$cache_dir" \
        --isolation=chroot --kaniko-dir "$data/kaniko" --log-format text || return 1
    local step
    step=$(last_step_s "$log")
    echo "$(seconds "$log.time") $(rss_mib "$log.time") $(hits "$log") ${step:--} $(extract_s "$log")"
}

# buildah_build LOG IMAGE STAMP DIR: `buildah bud --layers` then `buildah push`, prints
# "wall rss - - -"
buildah_build() {
    local log=$1 image=$2 build_stamp=$3 dir=$4
    timed "$log" "${buildah_cmd[@]}" bud --isolation chroot --layers --format docker \
        --tls-verify=false --build-arg "STAMP=$build_stamp" -t "$image" -f "$dir/Dockerfile" \
        "$dir" || return 1
    timed "$log.push" "${buildah_cmd[@]}" push --tls-verify=false "$image" || return 1
    awk -v a="$(seconds "$log.time")" -v b="$(seconds "$log.push.time")" \
        -v ra="$(rss_mib "$log.time")" -v rb="$(rss_mib "$log.push.time")" \
        'BEGIN { printf "%.2f %.1f - - -\n", a + b, (ra > rb ? ra : rb) }'
}

# record WORKLOAD SIDE RUN PHASE LOAD OUT: appends a result and prints its line
record() {
    local wall rss hm step extract
    read -r wall rss hm step extract <<<"$6"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$wall" "$rss" "$hm" "$step" "$extract" "$5" >>"$results"
    echo "$1 $2 run=$3 $4 wall_s=$wall peak_rss_mib=$rss hits/misses=$hm last_step_s=$step extract_s=$extract load=$5"
}

# side WORKLOAD SIDE RUN: the three builds (uncached, cached, last) of one side
side() {
    local workload=$1 side=$2 run=$3
    local dir=$ctx/$workload repo=$registry/$repo_prefix/$workload-$side-$run
    local phase build_stamp out load cache_dir=$no_cache_dir
    if [ "$side" = kiln-local ]; then
        cache_dir=$data/cache-dir-$workload-$run
        rm -rf "$cache_dir" && mkdir -p "$cache_dir"
    fi
    [ "$side" != buildah ] || buildah_wipe
    for phase in uncached cached last; do
        build_stamp=a
        [ "$phase" != last ] || build_stamp=b-$stamp-$run
        local log=$logs/$workload-$side-$run-$phase
        sync
        load=$(cut -d' ' -f1 /proc/loadavg)
        case $side in
        kiln-*) out=$(kiln_build "$log" "$repo:$phase" "$repo-cache" "$cache_dir" "$build_stamp" "$dir") ;;
        buildah) out=$(buildah_build "$log" "$repo:$phase" "$build_stamp" "$dir") ;;
        esac || {
            echo "$workload $side run=$run $phase FAILED, see $log" >&2
            tail -n 5 "$log" >&2 || true
            break
        }
        record "$workload" "$side" "$run" "$phase" "$load" "$out"
    done
    [ "$side" != buildah ] || buildah_wipe
    [ "$side" != kiln-local ] || rm -rf "$cache_dir"
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
    rmdir "$repos/kiln-bench-cache" 2>/dev/null || true
}
trap 'buildah_wipe; rm -rf "$data/kaniko" "$data"/cache-dir-*; cleanup_registry' EXIT

echo "bench/cache: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)," \
    "runs=$runs, sides: ${sides[*]}, kiln $kiln"
for ((run = 1; run <= runs; run++)); do
    for workload in "${workloads[@]}"; do
        n=${#sides[@]}
        for ((k = 0; k < n; k++)); do
            side "$workload" "${sides[$(((k + run - 1) % n))]}" "$run"
        done
    done
done

# The 2 GiB image: one uncached build, then fully cached rebuilds, each to a new tag.
if [ "$big" = 1 ]; then
    repo=$registry/$repo_prefix/big-image
    for ((run = 0; run <= runs; run++)); do
        phase=cached-$run
        [ "$run" != 0 ] || phase=uncached
        log=$logs/big-image-kiln-registry-$phase
        sync
        load=$(cut -d' ' -f1 /proc/loadavg)
        if out=$(kiln_build "$log" "$repo:$phase" "$repo-cache" "$no_cache_dir" a "$ctx/big-image"); then
            record big-image kiln-registry "$run" "${phase%-*}" "$load" "$out"
        else
            echo "big-image $phase FAILED, see $log" >&2
            tail -n 5 "$log" >&2 || true
            break
        fi
    done
fi
echo "load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"

# ---- tables of medians ----------------------------------------------------------------------
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "NA"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "NA" || b == "NA" || b == 0) print "NA"; else printf "%.2fx", a / b }'; }
# col WORKLOAD SIDE PHASE FIELD -> the median of a field over the runs: 5 wall, 6 peak RSS,
# 8 the last step in kiln's summary, 9 extraction, or "alone" (the last step without the
# extraction kiln does in it) and "overhead" (wall minus the last step alone)
col() {
    awk -F'\t' -v w="$1" -v s="$2" -v p="$3" -v f="$4" '
        $1 == w && $2 == s && $4 == p {
            x = ($9 == "-" ? 0 : $9)
            if (f == "alone" || f == "overhead") { if ($8 == "-") next; v = (f == "alone" ? $8 - x : $5 - ($8 - x)) }
            else { if ($f == "-") next; v = $f }
            print v
        }' "$results" | median
}
echo
echo "Uncached and fully cached builds, each with its push (seconds / MiB, medians of $runs runs):"
echo
echo "| workload | side | uncached | cached | uncached/cached | buildah cached | kiln/buildah cached |"
echo "|---|---|---|---|---|---|---|"
for workload in "${workloads[@]}"; do
    bc=$(col "$workload" buildah cached 5)
    for s in kiln-registry kiln-local buildah; do
        [[ " ${sides[*]} " == *" $s "* ]] || continue
        uw=$(col "$workload" "$s" uncached 5) cw=$(col "$workload" "$s" cached 5)
        row="| $workload | $s | $uw / $(col "$workload" "$s" uncached 6) | $cw / $(col "$workload" "$s" cached 6)"
        row+=" | $(ratio "$uw" "$cw") | $bc"
        if [ "$s" = buildah ]; then row+=" | - |"; else row+=" | $(ratio "$cw" "$bc") |"; fi
        echo "$row"
    done
done
echo
echo "Only the last step changed (seconds / MiB, medians of $runs runs): the last step as kiln's"
echo "summary gives it, the extraction of the stage's cached layers kiln does in it, the step alone"
echo "(the two subtracted) and the overhead (wall minus the step alone):"
echo
echo "| workload | side | rebuild | last step | of it extraction | step alone | overhead | buildah rebuild | kiln/buildah |"
echo "|---|---|---|---|---|---|---|---|---|"
for workload in "${workloads[@]}"; do
    bl=$(col "$workload" buildah last 5)
    for s in kiln-registry kiln-local; do
        [[ " ${sides[*]} " == *" $s "* ]] || continue
        lw=$(col "$workload" "$s" last 5)
        echo "| $workload | $s | $lw / $(col "$workload" "$s" last 6)" \
            "| $(col "$workload" "$s" last 8) | $(col "$workload" "$s" last 9)" \
            "| $(col "$workload" "$s" last alone) | $(col "$workload" "$s" last overhead) | $bl | $(ratio "$lw" "$bl") |"
    done
done
if [ "$big" = 1 ]; then
    echo
    echo "2 GiB image, kiln-registry: uncached $(col big-image kiln-registry uncached 5) s /" \
        "$(col big-image kiln-registry uncached 6) MiB (one run), fully cached $(col big-image kiln-registry cached 5) s /" \
        "$(col big-image kiln-registry cached 6) MiB (median of $runs)"
fi
echo
echo "(targets: cached < 2 s and uncached/cached >= 10x; overhead of the last step < 2 s;" \
    "2 GiB cached rebuild peak RSS < 100 MiB; raw: $results, logs: $logs)"
