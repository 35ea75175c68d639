// Command caddybuild is Caddy with its standard modules, built by the
// gateway test (cmd/gatehouse TestCaddyForwardAuth) to run the real Caddy
// with deploy/caddy/Caddyfile. It is a module of its own so that Caddy's
// dependencies stay out of Gatehouse's.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

func main() { caddycmd.Main() }
