-- wrk script for scripts/bench-http.sh: a client_credentials token request
-- with the Basic credentials in $AUTHZ.
wrk.method = "POST"
wrk.body = "grant_type=client_credentials"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = os.getenv("AUTHZ")
