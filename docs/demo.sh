#!/bin/sh
# The demo behind `make demo`: the article's two namespaces joined by a veth pair.
# Runs inside tests/sandbox.sh, so nothing touches the host.
set -eu
say() { printf '\n$ %s\n' "$*"; }
run() { say "$*"; "$@"; }
run vnetctl netns add ns1
run vnetctl netns add ns2
run vnetctl veth add vethDemo0 vethDemo1 --netns ns1 --peer-netns ns2 --addr 10.1.1.2/24 --peer-addr 10.1.1.3/24
run vnetctl netns exec ns1 -- ping -c 2 -W 2 10.1.1.3
run vnetctl link show -n ns1
run vnetctl netns del ns1
run vnetctl netns del ns2
