#!/bin/bash
# Build ExecuTorch's llama_main (examples/models/llama/main.cpp) against the
# C++ SDK shipped in the executorch pip wheel: runtime, optimized + quantized
# kernels, XNNPACK and threadpool come prebuilt from the wheel; only the LLM
# runner, the llama custom ops (sdpa/update_cache) and pytorch/tokenizers are
# compiled here (~30 files, ~3 min on 2 cores).
#
# Needs: cmake >= 3.19, ninja, g++ (>= 12 tested), python with executorch+torch
# installed, Debian packages reachable via apt-get download (bookworm) or a
# DEBS dir holding the .debs already.
#
# Usage: build_llama_main.sh [PREFIX]
#   env: PYTHON (python of the venv), WORK (build dir), JOBS (default 2), DEBS
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)             # the pruned source bundle
PYTHON=${PYTHON:-python}
WORK=${WORK:-/tmp/etbuild/work}
JOBS=${JOBS:-2}
ET_WHEEL=$($PYTHON -c 'import executorch;print(list(executorch.__path__)[0])')
TORCH_INC=$($PYTHON -c 'import torch,os;print(os.path.join(os.path.dirname(torch.__file__),"include"))')
ET_VER=$($PYTHON -c 'from executorch.version import __version__ as v;print(v.split("+")[0])')
PREFIX=${1:-$HOME/.cache/edgeslm/et-runner/et-$ET_VER}
mkdir -p "$WORK"
t0=$(date +%s)

# 1. third-party deps as Debian bookworm packages, unpacked (never installed)
DEBS=${DEBS:-$WORK/debs}
PKGS="libgflags-dev libre2-dev libpcre2-dev libsentencepiece-dev libsentencepiece0 nlohmann-json3-dev"
if ! ls "$DEBS"/libre2-dev_*.deb >/dev/null 2>&1; then
  mkdir -p "$DEBS"; (cd "$DEBS" && apt-get download $PKGS)
fi
rm -rf "$WORK/sysroot"; mkdir -p "$WORK/sysroot"
for d in "$DEBS"/*.deb; do dpkg -x "$d" "$WORK/sysroot"; done
# pthreadpool.h / cpuinfo.h (headers only; the code is in the wheel's libs)
mkdir -p "$WORK/inc-extra"; cp "$TORCH_INC"/pthreadpool.h "$TORCH_INC"/cpuinfo.h "$WORK/inc-extra/"

# 2. configure + build
cmake -S "$HERE" -B "$WORK/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DET_WHEEL="$ET_WHEEL" -DTORCH_INC="$TORCH_INC" -DDEPS="$WORK/sysroot/usr" \
  -DEXTRA_INC="$WORK/inc-extra" -DCMAKE_INSTALL_PREFIX="$PREFIX"
nice -n 10 ninja -C "$WORK/build" -j"$JOBS"

# 3. install: binary + the shared libs it needs, found via RPATH $ORIGIN/../lib
cmake --install "$WORK/build" --strip
mkdir -p "$PREFIX/lib"
for l in libexecutorch.so libexecutorch_threadpool.so libexecutorch_kernels_optimized.so \
         libexecutorch_kernels_quantized.so libexecutorch_backend_xnnpack.so libexecutorch_etdump.so; do
  cp -f "$ET_WHEEL/lib/$l" "$PREFIX/lib/"
done
cp -fL "$WORK/sysroot/usr/lib/x86_64-linux-gnu/libsentencepiece.so.0" "$PREFIX/lib/"
echo "executorch wheel $($PYTHON -c 'from executorch.version import __version__,git_version;print(__version__,git_version)')" > "$PREFIX/BUILD_INFO.txt"
cat "$HERE/SOURCES.txt" >> "$PREFIX/BUILD_INFO.txt"
"$PREFIX/bin/llama_main" --helpshort >/dev/null 2>&1 || true
echo "built $PREFIX/bin/llama_main in $(( $(date +%s) - t0 ))s"
