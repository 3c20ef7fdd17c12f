"""The only code that touches the kernel: netlink, ioctls, /dev/net/tun and /proc."""
