#!/bin/sh
# Install what spillway needs to build, run and test on Debian 12.
set -e
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends \
	build-essential pkg-config ca-certificates curl \
	libjansson-dev libevent-dev libpcre2-dev librdkafka-dev check \
	zlib1g-dev libssl-dev libsubunit-dev \
	python3 python3-elasticsearch python3-prometheus-client \
	kcat rsyslog rsyslog-elasticsearch valgrind netcat-openbsd chromium
