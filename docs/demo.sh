#!/bin/sh
# The demo behind `make demo`: a lab from labs/ (the article's two namespaces joined by a
# veth pair by default) planned, brought up, inspected, checked and torn down.
# Runs inside tests/sandbox.sh, so nothing touches the host.
set -eu
LAB=${1:-labs/veth-netns.yaml}
say() { printf '\n$ %s\n' "$*"; }
run() { say "$*"; "$@"; }
run vnetctl lab plan "$LAB"
run vnetctl lab up "$LAB"
run vnetctl inspect
if [ "$LAB" = labs/veth-netns.yaml ]; then
    run vnetctl inspect peer vethDemo0 -n ns1
fi
status=0
run vnetctl lab check "$LAB" || status=$?
run vnetctl lab down "$LAB"
run vnetctl netns list
exit $status
