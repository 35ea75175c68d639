#!/usr/bin/env bash
# The cost of Gatehouse's forward auth behind nginx, measured with wrk on
# loopback in one run: nginx answering 200 by itself (empty_gif), then the
# same nginx asking Gatehouse (auth_request to --authz-addr) first,
# with one API key and with one access token repeated. The ratio is what
# issue 18 asks to keep at 0.5 or more. Two ceilings show what the
# subrequest itself costs, whoever answers it: the same nginx asking a
# second nginx server that answers 200 at once, and asking a bare Go
# net/http handler that answers 200 at once (`gatehouse bench bare`'s
# /allow).
#
#   scripts/bench-gateway.sh [DURATION]      # default 10s per run
#
# Needs nginx and wrk (Debian packages). Everything runs on 127.0.0.1 and
# stops by itself.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
dur=${1:-10s}
for cmd in nginx wrk curl; do
	command -v "$cmd" >/dev/null || { echo "needs $cmd" >&2; exit 1; }
done
work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	[ -f "$work/nginx/nginx.pid" ] && kill "$(cat "$work/nginx/nginx.pid")" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

. scripts/bench-lib.sh
build_gatehouse
http=$(free_port) grpc=$(free_port) authz=$(free_port) static=$(free_port) guarded=$(free_port)
noop=$(free_port) viaNoop=$(free_port) bare=$(free_port) viaBare=$(free_port)

cat >"$work/routes.yaml" <<'EOF2'
routes:
  - methods: [GET]
    path: /items/**
    scopes: [bench:read]
EOF2
start_gatehouse "$work/gatehouse" "$http" "$grpc" \
	--authz-addr "127.0.0.1:$authz" --authz-routes "$work/routes.yaml" --trusted-proxies 127.0.0.1
gh scopes create bench:read >/dev/null
client=$(gh clients create --name bench --type third_party --grant-types client_credentials --scopes bench:read -o json)
id=$(printf '%s' "$client" | field client_id)
secret=$(printf '%s' "$client" | field client_secret)
key=$(gh apikeys create --client "$id" --scopes bench:read -o json | field api_key)
token=$(curl -fsS -u "$id:$secret" -d grant_type=client_credentials "http://127.0.0.1:$http/oauth2/token" |
	field access_token)

"$work/gatehouse" bench bare --addr "127.0.0.1:$bare" --issuer "http://127.0.0.1:$http" --client-id "$id" --client-secret "$secret" >/dev/null &
pids+=($!)

mkdir -p "$work/nginx/logs"
# guarded PORT URL: a server on PORT that asks URL (auth_request) before
# answering; empty_gif, not return, which would run before the access
# phase where auth_request does.
guarded() {
	cat <<EOF
    server {
        listen 127.0.0.1:$1;
        location / {
            auth_request /_gatehouse/check;
            empty_gif;
        }
        location = /_gatehouse/check {
            internal;
            proxy_pass $2;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_method GET;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Forwarded-Method \$request_method;
            proxy_set_header X-Forwarded-Uri \$request_uri;
            proxy_set_header X-Forwarded-Host \$host;
        }
    }
EOF
}
cat >"$work/nginx/nginx.conf" <<EOF
worker_processes 1;
pid $work/nginx/nginx.pid;
error_log $work/nginx/logs/error.log error;
events { worker_connections 1024; }
http {
    access_log off;
    upstream gatehouse_authz { server 127.0.0.1:$authz; keepalive 32; }
    upstream noop_authz { server 127.0.0.1:$noop; keepalive 32; }
    upstream bare_authz { server 127.0.0.1:$bare; keepalive 32; }
    server {
        listen 127.0.0.1:$static;
        location / { empty_gif; }
    }
    server {
        listen 127.0.0.1:$noop;
        location / { return 200; }
    }
$(guarded "$guarded" http://gatehouse_authz/authz/check)
$(guarded "$viaNoop" http://noop_authz/)
$(guarded "$viaBare" http://bare_authz/allow)
}
EOF
nginx -p "$work/nginx" -c "$work/nginx/nginx.conf"
sleep 0.5
[ "$(curl -s -o /dev/null -w '%{http_code}' -H "X-API-Key: $key" "http://127.0.0.1:$guarded/items/1")" = 200 ] || { echo "the guarded nginx refused the key" >&2; exit 1; }
code=$(curl -s -o /dev/null -w "%{http_code}" "http://127.0.0.1:$guarded/items/1")
[ "$code" = 401 ] || { echo "without a credential the guarded nginx answered $code, not 401" >&2; cat "$work/gatehouse.log" "$work/nginx/logs/error.log" >&2; exit 1; }

rate() { wrk -t2 -c32 -d"$dur" "$@" | awk '/Requests\/sec/ {print $2}'; }
s=$(rate "http://127.0.0.1:$static/items/1")
k=$(rate -H "X-API-Key: $key" "http://127.0.0.1:$guarded/items/1")
t=$(rate -H "Authorization: Bearer $token" "http://127.0.0.1:$guarded/items/1")
n=$(rate "http://127.0.0.1:$viaNoop/items/1")
b=$(rate "http://127.0.0.1:$viaBare/items/1")
printf 'nginx alone (empty_gif, 200):        %10.0f req/s\n' "$s"
printf 'nginx + Gatehouse, one API key:      %10.0f req/s  (%.2f x)\n' "$k" "$(echo "$k / $s" | bc -l)"
printf 'nginx + Gatehouse, one access token: %10.0f req/s  (%.2f x)\n' "$t" "$(echo "$t / $s" | bc -l)"
printf 'ceiling: nginx + nginx answering 200: %9.0f req/s  (%.2f x)\n' "$n" "$(echo "$n / $s" | bc -l)"
printf 'ceiling: nginx + bare Go handler 200: %9.0f req/s  (%.2f x)\n' "$b" "$(echo "$b / $s" | bc -l)"
