"""Programs that sit on a tun/tap: reader, guest, tunnel, and the packet codecs they share."""
