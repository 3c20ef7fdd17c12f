#!/bin/sh
# Run a command inside a throwaway sandbox: new network, mount and pid namespaces, a
# private tmpfs on /run (so /run/netns and /run/vnetctl are empty and private) and a
# sysfs of the new network namespace on /sys. Nothing done inside can touch the host's
# devices or namespaces, and every process started inside dies with it.
set -eu
if [ "$(id -u)" != 0 ]; then
    echo "sandbox.sh: needs root (unshare of net/mount/pid namespaces)" >&2
    exit 77
fi
exec unshare --net --mount --pid --fork --mount-proc --propagation private -- sh -c '
    set -e
    mount -t tmpfs -o mode=0755 vnetctl-run /run
    mkdir -p /run/netns /run/vnetctl
    mount -t sysfs vnetctl-sys /sys
    ip link set lo up
    export VNETCTL_SANDBOX=1
    exec "$@"
' vnetctl-sandbox "$@"
