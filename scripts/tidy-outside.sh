#!/usr/bin/env bash
# go mod tidy for a module that requires this repository's gen or pkg
# (default examples/orders), against the working tree's gen and pkg at the
# versions the go.mod files name: until those are tagged, only a file proxy
# (scripts/modproxy) has them, read through a throwaway module cache, since
# a cached copy of a version is never refreshed. Third-party modules come
# from the module cache, then from GOPROXY. It works for pkg and the root
# module too, whose `go mod tidy` ignores go.work.
#
# A module outside the workspace then has the modules its build uses raised
# to the versions the workspace selects, whose zips the workspace's own
# build leaves in the module cache: the end-to-end test builds it from
# there, offline. go.sum keeps no hash of gen or pkg: before the release is
# tagged they are the hashes of a working tree.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-examples/orders}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go run ./scripts/modproxy "$tmp/proxy" >/dev/null
workspace=$(go list -m -f '{{if not .Main}}{{.Path}}@{{.Version}}{{end}}' all)
inside=false
if go list -m -f '{{.Dir}}' | grep -qxF "$(cd "$dir" && pwd -P)"; then
	inside=true
fi
cache=$(go env GOMODCACHE)/cache/download
upstream=$(go env GOPROXY)

cd "$dir"
export GOWORK=off GOTOOLCHAIN=local GOFLAGS=-modcacherw GOMODCACHE="$tmp/modcache"
export GONOSUMDB=github.com/gatehouse-dev/gatehouse
export GOPROXY="file://$tmp/proxy,file://$cache${upstream:+,$upstream}"
go mod tidy
pins=()
$inside || for m in $(go list -deps -f '{{with .Module}}{{if not .Main}}{{.Path}}@{{.Version}}{{end}}{{end}}' ./... | sort -u); do
	want=$(grep -m1 "^${m%@*}@" <<<"$workspace" || true)
	if [ -n "$want" ] && [ "$want" != "$m" ]; then
		pins+=("$want")
	fi
done
if ((${#pins[@]})); then
	echo "raised to the workspace's versions: ${pins[*]}"
	go get "${pins[@]}"
	go mod tidy
fi
sed -i '/^github\.com\/gatehouse-dev\/gatehouse\//d' go.sum
