#!/bin/sh
# What `make bench` needs beyond packaging/deps.sh, on Debian 12:
#  - rsyslog's Kafka output (omkafka), gnuplot for the charts, perf and
#    valgrind (callgrind) for "where the time goes";
#  - syslog-ng, unpacked (not installed) under build/syslog-ng/: the
#    syslog-ng-core package conflicts with rsyslog, which the tests need.
#    tools/bench/run.py runs it from there with LD_LIBRARY_PATH and
#    --module-path.
#
#   sh packaging/bench-deps.sh          # apt-get install, then unpack syslog-ng
#   sh packaging/bench-deps.sh unpack   # only unpack syslog-ng (no root needed)
#
# Run from the top of the repository.  SYSLOG_NG_DIR overrides build/syslog-ng.
set -e
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
if [ "$1" != unpack ]; then
	$SUDO apt-get update -q
	$SUDO apt-get install -y -q --no-install-recommends \
		rsyslog rsyslog-kafka rsyslog-elasticsearch gnuplot-nox \
		linux-perf valgrind libjansson-dev pkg-config
fi

DEST=${SYSLOG_NG_DIR:-build/syslog-ng}
if [ -x "$DEST/usr/sbin/syslog-ng" ]; then
	echo "syslog-ng already unpacked in $DEST"
	exit 0
fi
mkdir -p "$DEST/debs"
chmod 0777 "$DEST/debs"   # apt-get download drops to the _apt user
# syslog-ng-core and the libraries it needs that are not already installed
# (glib, json-c, pcre3, libssl, libsystemd, libcap are usually present).
PKGS="syslog-ng-core libivykis0 libnet1"
for p in libglib2.0-0 libjson-c5 libpcre3 libwrap0 libcap2; do
	dpkg -s "$p" >/dev/null 2>&1 || PKGS="$PKGS $p"
done
(cd "$DEST/debs" && apt-get download $PKGS)
for deb in "$DEST"/debs/*.deb; do
	dpkg-deb -x "$deb" "$DEST"
done
MA=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
LD_LIBRARY_PATH="$DEST/usr/lib/syslog-ng:$DEST/usr/lib/$MA:$DEST/lib/$MA" \
	"$DEST/usr/sbin/syslog-ng" --version | head -1
echo "syslog-ng unpacked in $DEST"
