#!/usr/bin/env bash
# Parse a generated 10,000-instruction Dockerfile.
#
# The file mixes what real Dockerfiles hold: several stages with meta ARGs, RUN with flags,
# continuations and comment lines inside them, heredocs, COPY/ADD with flags, ENV and LABEL
# pairs, exec-form CMD/ENTRYPOINT, HEALTHCHECK and ONBUILD. kiln: the raw parse and the full
# typed parse with stages (crates/dockerfile/examples/parse_bench.rs), median of 30 runs after a
# warm-up, in one process. Peer: the issue's 20 ms target (BuildKit's parser is not on this
# machine; no Go toolchain), so the ratio printed is target / kiln. Prints one line per
# measurement.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/cache/kiln/target}
profile=${KILN_BENCH_PROFILE:-release}
data=${KILN_BENCH_DIR:-/var/cache/kiln/bench}/parse
instructions=${KILN_BENCH_INSTRUCTIONS:-10000}
file=$data/Dockerfile-$instructions
target_ms=20

mkdir -p "$data"
if [ ! -f "$file" ]; then
    python3 - "$file" "$instructions" <<'PY'
import sys
path, want = sys.argv[1], int(sys.argv[2])
out = ["# syntax=docker/dockerfile:1", "ARG BASE=debian:bookworm", "ARG VERSION=1.0"]
n = 0
def emit(lines, count=1):
    global n
    out.extend(lines)
    n += count
stage = 0
while n < want:
    if n % 500 == 0:
        emit([f"FROM --platform=$BUILDPLATFORM ${{BASE}} AS stage{stage}"])
        stage += 1
        continue
    k = n % 12
    if k == 0:
        emit([f"RUN --mount=type=cache,target=/var/cache/apt,sharing=locked apt-get update \\",
              "    # refresh the lists first",
              f"    && apt-get install -y --no-install-recommends pkg{n} \\",
              "    && rm -rf /var/lib/apt/lists/*"])
    elif k == 1:
        emit([f"COPY --chown=1000:1000 --chmod=0644 --link src/{n} /app/{n}/"])
    elif k == 2:
        emit([f"ENV PATH=/opt/{n}/bin:$PATH LANG=C.UTF-8 NAME=\"value {n}\""])
    elif k == 3:
        emit([f"LABEL org.example.step{n}=\"step {n}\" version=$VERSION"])
    elif k == 4:
        emit(["RUN <<EOF", "set -e", f"echo building {n}", "make -j2", "EOF"])
    elif k == 5:
        emit([f"WORKDIR /app/{n}"])
    elif k == 6:
        emit([f"ARG OPT{n}=default"])
    elif k == 7:
        emit([f'CMD ["/app/bin/server", "--port", "{8000 + n % 1000}"]'])
    elif k == 8:
        emit([f"ADD --checksum=sha256:{n:064x} https://example.com/{n}.tar.gz /tmp/"])
    elif k == 9:
        emit(["HEALTHCHECK --interval=30s --timeout=3s CMD curl -f http://localhost/ || exit 1"])
    elif k == 10:
        emit([f"COPY --from=stage{max(stage - 2, 0)} /out/{n} /in/{n}"] if stage > 1 else [f"EXPOSE {n % 65535}/tcp"])
    else:
        emit(["ONBUILD RUN echo triggered"])
open(path, "w").write("\n".join(out) + "\n")
PY
fi

cargo build --quiet --profile "$profile" -p kiln-dockerfile --example parse_bench
dir=$profile
[ "$profile" = dev ] && dir=debug
"$CARGO_TARGET_DIR/$dir/examples/parse_bench" "$file" 30 | while read -r line; do
    echo "$line"
    median=$(sed -n 's/.*median \([0-9.]*\) ms.*/\1/p' <<<"$line")
    awk -v m="$median" -v t="$target_ms" -v what="${line%%:*}" \
        'BEGIN { printf "%s: target %d ms / kiln %.2f ms = %.1fx\n", what, t, m, t / m }'
done
