"""Labs across hosts, driven over SSH: the bundle vnetctl carries, the transport, the agent, the controller.

The controller (this machine) runs `ssh HOST python3 -c BOOT HASH` for each host; BOOT
receives a zipapp of vnetctl and its pure-Python dependencies once (cached on the host
by hash) and starts `vnetctl.remote.agent`, which answers JSON requests line by line on
the SSH channel. Nothing but sshd and Python 3.11+ is needed on the hosts.
"""
