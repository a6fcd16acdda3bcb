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

# Node.js and the official JavaScript clients that tests/integration/test_clients_js.py runs
# (tests/clients: @elastic/elasticsearch 8 and 9 side by side, @opensearch-project/opensearch;
# versions pinned by tests/clients/package-lock.json).  The Elasticsearch 9 client needs
# Node >= 20.18.1 (its undici 7 uses the global File, which Node 18 lacks); Debian 12's
# nodejs is 18.20, enough for npm and for the other two clients.  So: a node that new on
# PATH is used as it is; otherwise Debian's nodejs and npm are installed if there is no npm,
# and the official Node $NODE_FALLBACK build is fetched from the npm registry (package
# node-linux-ARCH) into tests/clients/.node, where the tests look for a node first.
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CLIENTS=$ROOT/tests/clients
NODE_FALLBACK=20.20.2
node_new_enough() {
	[ -n "$1" ] && "$1" -e '
		const [a, b, c] = process.versions.node.split(".").map(Number);
		process.exit(a > 20 || (a === 20 && (b > 18 || (b === 18 && c >= 1))) ? 0 : 1)' \
	    2>/dev/null
}
if ! command -v npm >/dev/null 2>&1; then
	$SUDO apt-get install -y -q --no-install-recommends nodejs npm
fi
NODE=$(command -v node || true)
if ! node_new_enough "$NODE"; then
	NODE=$CLIENTS/.node/bin/node
	if ! node_new_enough "$NODE"; then
		case $(uname -m) in
		x86_64) arch=x64 ;;
		aarch64 | arm64) arch=arm64 ;;
		*) echo "deps.sh: no Node.js $NODE_FALLBACK for $(uname -m) on npm;" \
		       "install Node.js >= 20.18.1" >&2
		   exit 1 ;;
		esac
		npm install --prefix "$CLIENTS/.node" --no-save --no-package-lock \
		    --no-audit --no-fund "node-linux-$arch@$NODE_FALLBACK"
		mkdir -p "$CLIENTS/.node/bin"
		ln -sf "../node_modules/node-linux-$arch/bin/node" "$NODE"
		node_new_enough "$NODE" || {
			echo "deps.sh: $NODE is not a Node.js >= 20.18.1" >&2
			exit 1
		}
	fi
fi
echo "deps.sh: JavaScript clients with node $("$NODE" --version) ($NODE)"
(cd "$CLIENTS" && PATH=$(dirname "$NODE"):$PATH npm ci --no-audit --no-fund)
