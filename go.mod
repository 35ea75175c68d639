module github.com/gatehouse-dev/gatehouse

go 1.26.0

require (
	github.com/gatehouse-dev/gatehouse/gen v0.0.0
	github.com/gatehouse-dev/gatehouse/pkg v0.0.0
)

replace (
	github.com/gatehouse-dev/gatehouse/gen => ./gen
	github.com/gatehouse-dev/gatehouse/pkg => ./pkg
)
