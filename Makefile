# vnetctl — the front door. `make demo` and `make test` set up everything they need.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SANDBOX := tests/sandbox.sh
# command:package pairs installed with apt-get when the command is missing
TOOLS := ip:iproute2 ethtool:ethtool ping:iputils-ping tcpdump:tcpdump brctl:bridge-utils \
         dnsmasq:dnsmasq dhclient:isc-dhcp-client iperf3:iperf3 unshare:util-linux dot:graphviz \
         podman:podman qemu-system-x86_64:qemu-system-x86 openvpn:openvpn busybox:busybox-static \
         sshd:openssh-server ssh:openssh-client ssh-keygen:openssh-client iptables:iptables lsof:lsof \
         tc:iproute2 conmon:conmon docker:docker.io containerd-shim-runc-v2:containerd dockerd:docker.io
DEMO_LAB ?= labs/veth-netns.yaml

.PHONY: help deps venv lint test test-unit demo bench clean

help:
	@echo "make demo   bring the default lab up in a throwaway sandbox, inspect it, check it, tear it down"
	@echo "make test   install what is needed, lint, and run the whole test suite in a throwaway sandbox"
	@echo "make bench  run the benchmarks and print the figures (see bench/RESULTS.md)"

deps:
	@missing=""; for t in $(TOOLS); do \
	    command -v $${t%%:*} >/dev/null 2>&1 || PATH=$$PATH:/usr/sbin:/sbin command -v $${t%%:*} >/dev/null 2>&1 \
	        || missing="$$missing $${t#*:}"; done; \
	if [ -n "$$missing" ]; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(BIN)/vnetctl: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	@touch $@

venv: $(BIN)/vnetctl
	@$(BIN)/python -m compileall -q vnetctl >/dev/null  # an editable install is not byte-compiled: halves start-up

lint: venv
	$(BIN)/ruff check vnetctl
	$(BIN)/mypy

# The whole suite, slow fault and scale tests included (VNETCTL_SLOW=0 leaves them out).
test: deps venv lint
	$(SANDBOX) env VNETCTL_SLOW=$${VNETCTL_SLOW:-1} $(BIN)/python -m pytest -q $(PYTEST_ARGS)

test-unit: venv
	$(BIN)/python -m pytest -q -m 'not kernel' $(PYTEST_ARGS)

demo: deps venv
	$(SANDBOX) env PATH="$(CURDIR)/$(BIN):$$PATH" sh docs/demo.sh $(DEMO_LAB)

bench: deps venv
	$(SANDBOX) env PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
