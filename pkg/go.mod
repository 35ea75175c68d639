module github.com/gatehouse-dev/gatehouse/pkg

go 1.26.0

require github.com/gatehouse-dev/gatehouse/gen v0.0.0

replace github.com/gatehouse-dev/gatehouse/gen => ../gen
