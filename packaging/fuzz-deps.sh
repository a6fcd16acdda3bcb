#!/bin/sh
# Install what `make fuzz` and `make fuzz-ci` need on Debian 12, on top of
# what packaging/deps.sh installs (tests/fuzz/README.md).
#
# clang (14 in Debian 12) compiles the fuzz targets, but its runtime
# libraries, libFuzzer (libclang_rt.fuzzer-x86_64.a) and the ASan and
# UBSan runtimes among them, are in libclang-rt-14-dev, which clang only
# recommends: with --no-install-recommends it must be named.  (Debian's
# libfuzzer-14-dev is the standalone libFuzzer.a for -lFuzzer; the
# -fsanitize=fuzzer of clang uses the one in libclang-rt-14-dev.)
# llvm brings llvm-symbolizer, for file:line in the sanitizers' traces.
set -e
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends \
	clang libclang-rt-14-dev llvm
