# Sourced by the benchmarks. settle: flushes dirty pages, then waits until the whole disks
# (vdX, sdX, xvdX, nvmeXnY) have been idle for two seconds in a row (no read or write
# completed, nothing in flight, per /proc/diskstats), at most 120 s, so that a build does not
# pay for the deferred I/O of the one before it (ext4 freeing a removed storage tree,
# writeback, discards). Sets settle_s to the seconds it took.

# disk_io: "<reads + writes completed> <I/Os in flight>" summed over the whole disks
disk_io() {
    awk '$3 ~ /^([sv]d[a-z]+|xvd[a-z]+|nvme[0-9]+n[0-9]+)$/ { done += $4 + $8; busy += $12 }
         END { print done + 0, busy + 0 }' /proc/diskstats
}

settle() {
    local started before after quiet=0
    started=$(date +%s.%N)
    sync
    before=$(disk_io)
    while :; do
        sleep 1
        after=$(disk_io)
        if [ "${after% *}" = "${before% *}" ] && [ "${after#* }" = 0 ]; then
            quiet=$((quiet + 1))
        else
            quiet=0
        fi
        before=$after
        [ "$quiet" -ge 2 ] && break
        awk -v a="$(date +%s.%N)" -v b="$started" 'BEGIN { exit !(a - b > 120) }' && break
    done
    settle_s=$(awk -v a="$(date +%s.%N)" -v b="$started" 'BEGIN { printf "%.1f", a - b }')
}
