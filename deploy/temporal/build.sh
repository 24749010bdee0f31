#!/usr/bin/env bash
# Builds the Temporal server, its SQL schema tool and the Web UI server from the Go module proxy,
# once per machine and version, into ~/.cache/audio-pipeline/temporal-server/<version>/:
#   bin/temporal-server  bin/temporal-sql-tool  bin/temporal-ui-server
#   schema/postgresql/v12/{temporal,visibility}/   (copied out of the Go module cache)
# Prints that directory on stdout; TEMPORAL_SERVER_HOME names another one (the CLI reads the same
# setting). Go's own caches stay in ~/.cache/audio-pipeline/temporal-server. Needs Go 1.26.8+.
# The versions: deploy/temporal/versions.env (why: deploy/temporal/README.md, "Versions").
# .ci/run runs it before the tests; on a VM, run it as the user that runs the server.
set -euo pipefail
# shellcheck source=versions.env
. "$(dirname "$0")/versions.env"
SERVER_VERSION=$TEMPORAL_SERVER_VERSION
UI_VERSION=$TEMPORAL_UI_VERSION
root=$HOME/.cache/audio-pipeline/temporal-server
home=${TEMPORAL_SERVER_HOME:-$root/$SERVER_VERSION}
if [ -f "$home/.complete" ]; then
  echo "$home"
  exit 0
fi
command -v go >/dev/null || {
  echo "go is not installed: the Temporal server is built from source (https://go.dev/dl/, 1.26.8 or newer)" >&2
  exit 1
}
export GOPATH="$root/gopath" GOCACHE="$root/gocache" GOFLAGS=-modcacherw CGO_ENABLED=0
tmp="$home.partial"
rm -rf "$tmp"
mkdir -p "$tmp/bin" "$tmp/ui" "$tmp/schema"
start=$(date +%s)
echo "building Temporal server $SERVER_VERSION and UI server $UI_VERSION from source (once; minutes)" >&2
# Each `go install` names its binary after the package directory (server, sql, server): one GOBIN each.
GOBIN="$tmp/bin" nice go install "go.temporal.io/server/cmd/server@$SERVER_VERSION"
mv "$tmp/bin/server" "$tmp/bin/temporal-server"
GOBIN="$tmp/bin" nice go install "go.temporal.io/server/cmd/tools/sql@$SERVER_VERSION"
mv "$tmp/bin/sql" "$tmp/bin/temporal-sql-tool"
GOBIN="$tmp/ui" nice go install "github.com/temporalio/ui-server/v2/cmd/server@$UI_VERSION"
mv "$tmp/ui/server" "$tmp/bin/temporal-ui-server"
rmdir "$tmp/ui"
cp -r "$GOPATH/pkg/mod/go.temporal.io/server@$SERVER_VERSION/schema/postgresql" "$tmp/schema/"
chmod -R u+w "$tmp/schema"
touch "$tmp/.complete"
rm -rf "$home"
mv "$tmp" "$home"
echo "built in $(($(date +%s) - start))s: $home" >&2
echo "$home"
