# Shared by the wrk scripts (scripts/bench-*.sh), sourced after they set
# $work (a temporary directory) and the pids array: build the server, pick
# loopback ports, start the all-in-one server with its budgets raised (the
# scripts measure paths, not the limiter) and wait until it is ready, and
# run the admin CLI against it.

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

# build_gatehouse: $work/gatehouse, from this tree.
build_gatehouse() { go build -o "$work/gatehouse" ./cmd/gatehouse; }

# start_gatehouse BINARY HTTP_PORT GRPC_PORT [FLAGS...]: serve on loopback
# from $work/data until the script ends, and wait for /readyz.
start_gatehouse() {
	local bin=$1 http=$2 grpc=$3
	shift 3
	"$bin" serve --data-dir "$work/data" --http-addr "127.0.0.1:$http" --grpc-addr "127.0.0.1:$grpc" --mtls-addr "" \
		--rate-limit-tiers "low=1000000:1000000,standard=1000000:1000000,high=1000000:1000000,internal=1000000:1000000" \
		--log-level error "$@" >"$work/gatehouse.log" 2>&1 &
	pids+=($!)
	for _ in $(seq 1 100); do
		curl -fsS "http://127.0.0.1:$http/readyz" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "gatehouse did not become ready:" >&2
	cat "$work/gatehouse.log" >&2
	return 1
}

# gh ARGS...: the admin CLI with the server's admin credentials.
gh() { "$work/gatehouse" "$@" --credentials "$work/data/admin-credentials.json"; }

# field NAME: that field of the JSON object on stdin.
field() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
