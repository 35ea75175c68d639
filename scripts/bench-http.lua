-- wrk script for scripts/bench-http.sh: each request takes the next token
-- of the pool in the file $POOL (one per line), as a bearer token
-- (MODE=bearer) or as the token of an RFC 7662 introspection request
-- (MODE=introspect, with the caller's Authorization header in $AUTHZ).
local tokens = {}
local i = 0
local mode = os.getenv("MODE") or "bearer"
local authz = os.getenv("AUTHZ")

function init(args)
	for line in io.lines(os.getenv("POOL")) do
		tokens[#tokens + 1] = line
	end
	-- Threads start at different places in the pool.
	i = math.random(#tokens)
end

function request()
	i = i % #tokens + 1
	if mode == "introspect" then
		return wrk.format("POST", nil, {
			["Authorization"] = authz,
			["Content-Type"] = "application/x-www-form-urlencoded",
		}, "token=" .. tokens[i])
	end
	return wrk.format("GET", nil, { ["Authorization"] = "Bearer " .. tokens[i] })
end
