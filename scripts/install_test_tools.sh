#!/bin/sh
# Real components the test suite drives (not Python packages): Debian's chromium, for the
# HTML report's headless-browser test. Installed when missing and we may (root with apt-get);
# otherwise the tests that need it skip and say why. Quiet and quick when already there.
command -v chromium >/dev/null 2>&1 && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing chromium (Debian package) for the report's browser test"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1 \
        || echo "could not install chromium: the report's browser tests will skip"
else
    echo "chromium is not installed and apt-get needs root: the report's browser tests will skip"
fi
exit 0
