#!/bin/sh
# Real components the test suite drives (not Python packages), from Debian's packages:
#   chromium                         the HTML report's headless-browser test
#   openssh-server (sshd)            a loopback "board" for the device tests (tests/sshd.py)
#   qemu-user (qemu-aarch64)         runs the aarch64 llama.cpp tools: an emulated ARM board and phone
#   g++-aarch64-linux-gnu            cross-compiles those tools (scripts/build_llama_tools.py, cached)
# Installed when missing and we may (root with apt-get); otherwise the tests that need
# them skip and say why. Quiet and quick when everything is there.
need=""
command -v chromium >/dev/null 2>&1 || need="$need chromium"
{ command -v sshd >/dev/null 2>&1 || [ -x /usr/sbin/sshd ]; } || need="$need openssh-server"
command -v qemu-aarch64 >/dev/null 2>&1 || need="$need qemu-user"
command -v aarch64-linux-gnu-g++ >/dev/null 2>&1 || need="$need g++-aarch64-linux-gnu"
[ -z "$need" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian packages the tests drive:$need"
    # shellcheck disable=SC2086
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need) >/dev/null 2>&1 \
        || echo "could not install$need: the tests that need them will skip"
else
    echo "missing$need and apt-get needs root: the tests that need them will skip"
fi
exit 0
