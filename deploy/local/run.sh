#!/usr/bin/env bash
# Runs the split topology of deploy/ as plain processes on loopback: a
# three-node NATS JetStream cluster, the local PostgreSQL, two token
# services, two gateways, three inventory replicas and one of each other
# service (the gateway authorizer among them), each with its identity
# certificate. Ctrl-C stops it all.
#
#   deploy/local/run.sh [--database-url URL] [--dir DIR] [--authz-routes FILE] [--for DURATION] [-- serve options]
#
# It uses nats-server from PATH (or Debian's), else builds the version
# go.mod pins. PostgreSQL defaults to the local one (database test).
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p bin
go build -trimpath -o bin/gatehouse ./cmd/gatehouse
nats=$(command -v nats-server || true)
if [[ -z $nats && -x /usr/sbin/nats-server ]]; then nats=/usr/sbin/nats-server; fi
if [[ -z $nats ]]; then
	go build -o bin/nats-server github.com/nats-io/nats-server/v2
	nats=bin/nats-server
fi
exec go run ./deploy/local --gatehouse bin/gatehouse --nats-server "$nats" "$@"
