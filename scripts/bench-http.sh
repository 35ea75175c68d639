#!/usr/bin/env bash
# Gatehouse's HTTP paths against bare net/http handlers (`gatehouse bench
# bare`, internal/benchbare), measured with wrk on loopback in one run,
# rounds interleaved so that the machine's noise falls on both sides:
#
#   token       POST /oauth2/token, client_credentials   vs  bare POST /token
#   repeated    GET /v1/inventory/items, one token        vs  bare GET /cached, the same token
#               (the REST facade: gateway, interceptors, validated-token cache)
#   fresh       GET /v1/inventory/items, a pool of FRESH  vs  bare GET /uncached, the same pool
#               tokens (5x the validators' cache: mostly signature checks)
#   introspect  POST /oauth2/introspect, a pool of 1,000   vs  bare GET /cached, the same pool
#               tokens seen before, by an internal-tier caller
#   jwks        GET /.well-known/jwks.json (no yardstick)
#
#   scripts/bench-http.sh [DURATION] [ROUNDS]     # default 10s, 2 rounds
#
# Environment: FRESH (default 50000) tokens in the fresh pool; CONNS (32)
# wrk connections; ONLY (e.g. "repeated fresh") to run some paths only;
# SERVER (a gatehouse binary, e.g. an earlier commit's build) to measure
# that server against the same yardstick, built from this tree.
# Budgets are raised: the runs measure the paths, not the limiter; any
# answer other than 200 fails the run. Needs wrk (Debian package). Every
# process listens on 127.0.0.1 and stops with the script.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
dur=${1:-10s}
rounds=${2:-2}
fresh=${FRESH:-50000}
conns=${CONNS:-32}
only=${ONLY:-token repeated fresh introspect jwks}
for cmd in wrk curl python3 bc; do
	command -v "$cmd" >/dev/null || { echo "needs $cmd" >&2; exit 1; }
done
work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

. scripts/bench-lib.sh
build_gatehouse
http=$(free_port) grpc=$(free_port) bare=$(free_port)
base="http://127.0.0.1:$http"
start_gatehouse "${SERVER:-$work/gatehouse}" "$http" "$grpc" --example-inventory
client=$(gh clients create --name bench --type third_party --grant-types client_credentials --scopes inventory:read -o json)
id=$(printf '%s' "$client" | field client_id)
secret=$(printf '%s' "$client" | field client_secret)
caller=$(gh clients create --name introspector --type first_party --grant-types client_credentials \
	--scopes gatehouse:introspect.all --rate-limit-tier internal -o json)
caller_id=$(printf '%s' "$caller" | field client_id)
caller_secret=$(printf '%s' "$caller" | field client_secret)
basic() { printf 'Basic %s' "$(printf '%s:%s' "$1" "$2" | base64 -w0)"; }

"$work/gatehouse" bench bare --addr "127.0.0.1:$bare" --issuer "$base" --client-id "$id" --client-secret "$secret" >/dev/null &
pids+=($!)
for _ in $(seq 1 100); do
	curl -s -o /dev/null "http://127.0.0.1:$bare/cached" && break
	sleep 0.1
done

mint() { "$work/gatehouse" bench mint --url "$base/oauth2/token" --client-id "$id" --client-secret "$secret" -n "$1" -c 8; }
mint 1 >"$work/one"
mint 1000 >"$work/pool1k"
case " $only " in *" fresh "*) mint "$fresh" >"$work/fresh" ;; esac
token=$(cat "$work/one")
[ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "$base/v1/inventory/items")" = 200 ] ||
	{ echo "Gatehouse refused its own token" >&2; exit 1; }
[ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "http://127.0.0.1:$bare/cached")" = 200 ] ||
	{ echo "the yardstick refused Gatehouse's token" >&2; exit 1; }

# rate ARGS...: requests/s of one wrk run; fails on any non-200 answer.
rate() {
	local out
	out=$(wrk -t2 -c"$conns" -d"$dur" "$@")
	if grep -q 'Non-2xx\|Socket errors' <<<"$out"; then
		echo "wrk $*: not every answer was a 200:" >&2
		echo "$out" >&2
		exit 1
	fi
	awk '/Requests\/sec/ {print $2}' <<<"$out"
}
run() { # run NAME: one Gatehouse figure and one yardstick figure
	case $1 in
	token)
		AUTHZ=$(basic "$id" "$secret") rate -s scripts/bench-http-token.lua "$base/oauth2/token"
		AUTHZ=$(basic "$id" "$secret") rate -s scripts/bench-http-token.lua "http://127.0.0.1:$bare/token" ;;
	repeated)
		rate -H "Authorization: Bearer $token" "$base/v1/inventory/items"
		rate -H "Authorization: Bearer $token" "http://127.0.0.1:$bare/cached" ;;
	fresh)
		POOL=$work/fresh rate -s scripts/bench-http.lua "$base/v1/inventory/items"
		POOL=$work/fresh rate -s scripts/bench-http.lua "http://127.0.0.1:$bare/uncached" ;;
	introspect)
		POOL=$work/pool1k MODE=introspect AUTHZ=$(basic "$caller_id" "$caller_secret") rate -s scripts/bench-http.lua "$base/oauth2/introspect"
		POOL=$work/pool1k rate -s scripts/bench-http.lua "http://127.0.0.1:$bare/cached" ;;
	jwks)
		rate "$base/.well-known/jwks.json"
		echo 0 ;;
	esac
}
declare -A sum_g sum_b
for r in $(seq 1 "$rounds"); do
	for name in $only; do
		mapfile -t got < <(run "$name")
		[ "${#got[@]}" = 2 ] || exit 1
		printf 'round %d  %-10s  gatehouse %9.0f req/s   yardstick %9.0f req/s\n' "$r" "$name" "${got[0]}" "${got[1]}"
		sum_g[$name]=$(echo "${sum_g[$name]:-0} + ${got[0]}" | bc -l)
		sum_b[$name]=$(echo "${sum_b[$name]:-0} + ${got[1]}" | bc -l)
	done
done
echo
printf '%-10s  %12s  %12s  %6s   (wrk -t2 -c%s -d%s, mean of %d rounds, fresh pool %d tokens)\n' path gatehouse yardstick ratio "$conns" "$dur" "$rounds" "$fresh"
for name in $only; do
	g=$(echo "${sum_g[$name]} / $rounds" | bc -l)
	b=$(echo "${sum_b[$name]} / $rounds" | bc -l)
	if [ "$name" = jwks ]; then
		printf '%-10s  %12.0f  %12s  %6s\n' "$name" "$g" - -
	else
		printf '%-10s  %12.0f  %12.0f  %6.2f\n' "$name" "$g" "$b" "$(echo "$g / $b" | bc -l)"
	fi
done
