// Package dbtest gives each test its own empty database: a SQLite file in the
// test's temporary directory, or a fresh schema in the PostgreSQL server
// named by GATEHOUSE_TEST_DATABASE_URL. Both are removed when the test ends,
// so tests can run in parallel and never see each other's rows.
package dbtest
