#!/usr/bin/env bash
# Pull a 1 GiB, 8-layer image from a registry on loopback into an OCI image layout.
#
# kiln: examples/pull_layout.rs of kiln-registry (layers downloaded in parallel, hashed while
# they stream, written straight into the layout). Peer: `skopeo copy docker://... oci:DIR:TAG`.
# The registry is $KILN_TEST_REGISTRY when set (scripts/testenv up), else a docker-registry this
# script starts on 127.0.0.1:5098 and stops again. The image (8 gzip layers of random bytes,
# OCI media types, so neither side converts anything) is generated once under
# /var/cache/kiln/bench/pull and pushed with skopeo. Each side runs twice, alternating, on a
# warm page cache; wall time and peak RSS come from `/usr/bin/time -v`. Prints one line per
# run and the ratios of the best runs.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/cache/kiln/target}
profile=${KILN_BENCH_PROFILE:-release}
data=${KILN_BENCH_DIR:-/var/cache/kiln/bench}/pull
mib=${KILN_BENCH_MIB:-1024}
layers=8
src=$data/src-$mib
mkdir -p "$data"

registry=${KILN_TEST_REGISTRY:-}
if [ -z "$registry" ]; then
    registry=127.0.0.1:5098
    mkdir -p "$data/registry"
    cat >"$data/registry/config.yml" <<YML
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $data/registry/data
http:
  addr: $registry
YML
    docker-registry serve "$data/registry/config.yml" >"$data/registry/log" 2>&1 &
    registry_pid=$!
    trap 'kill $registry_pid' EXIT
    for _ in $(seq 100); do
        curl -fs "http://$registry/v2/" >/dev/null && break
        sleep 0.1
    done
fi

if [ ! -f "$src/index.json" ]; then
    rm -rf "$src"
    mkdir -p "$src/blobs/sha256"
    layer_json="" diff_ids=""
    for i in $(seq "$layers"); do
        head -c "$((mib / layers))M" /dev/urandom >"$data/raw"
        diff_id=$(sha256sum "$data/raw" | cut -d' ' -f1)
        pigz -1 -c "$data/raw" >"$data/gz"
        digest=$(sha256sum "$data/gz" | cut -d' ' -f1)
        size=$(stat -c %s "$data/gz")
        mv "$data/gz" "$src/blobs/sha256/$digest"
        layer_json+="${layer_json:+,}{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:$digest\",\"size\":$size}"
        diff_ids+="${diff_ids:+,}\"sha256:$diff_id\""
    done
    rm -f "$data/raw"
    printf '{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":[%s]}}' \
        "$diff_ids" >"$data/config"
    config_digest=$(sha256sum "$data/config" | cut -d' ' -f1)
    config_size=$(stat -c %s "$data/config")
    mv "$data/config" "$src/blobs/sha256/$config_digest"
    printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[%s]}' \
        "$config_digest" "$config_size" "$layer_json" >"$data/manifest"
    manifest_digest=$(sha256sum "$data/manifest" | cut -d' ' -f1)
    manifest_size=$(stat -c %s "$data/manifest")
    mv "$data/manifest" "$src/blobs/sha256/$manifest_digest"
    printf '{"imageLayoutVersion":"1.0.0"}' >"$src/oci-layout"
    printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"bench"}}]}' \
        "$manifest_digest" "$manifest_size" >"$src/index.json"
fi
image=$registry/kiln-bench/pull:$mib
skopeo copy --quiet --dest-tls-verify=false "oci:$src:bench" "docker://$image"

cargo build --quiet --profile "$profile" -p kiln-registry --example pull_layout
dir=$profile; [ "$profile" = dev ] && dir=debug
bin=$CARGO_TARGET_DIR/$dir/examples/pull_layout

out=$data/out
measure() { # label, command...
    local label=$1; shift
    rm -rf "$out"
    sync
    /usr/bin/time -v "$@" 2>"$data/time.$label" >"$data/stdout.$label"
    local wall rss
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, t, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + t[i]; print s }' "$data/time.$label")
    rss=$(awk -F': ' '/Maximum resident set size/ { printf "%.1f", $2 / 1024 }' "$data/time.$label")
    echo "$label wall_s=$wall peak_rss_mib=$rss layout_mib=$(du -sm "$out" | cut -f1)"
    echo "$label $wall $rss" >>"$data/results"
}

rm -f "$data/results"
for _ in 1 2; do
    measure skopeo skopeo copy --quiet --src-tls-verify=false "docker://$image" "oci:$out:bench"
    measure kiln "$bin" "$image" "$out" bench linux/amd64
done
rm -rf "$out"
awk -v cores="$(nproc)" -v mib="$mib" '
    { if (!($1 in wall) || $2 < wall[$1]) { wall[$1] = $2 }; if ($3 > rss[$1]) { rss[$1] = $3 } }
    END {
        printf "pull %d MiB, 8 layers, into an OCI layout on %d cores: kiln %.2f s, skopeo %.2f s, speed ratio (skopeo/kiln) %.2fx (target >= 1.0x), peak RSS kiln %.1f MiB (target < 100), skopeo %.1f MiB\n",
            mib, cores, wall["kiln"], wall["skopeo"], wall["skopeo"] / wall["kiln"], rss["kiln"], rss["skopeo"]
    }' "$data/results"
