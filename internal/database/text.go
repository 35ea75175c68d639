package database

import (
	"strings"
	"unicode/utf8"
)

// Storable reports whether s fits a text column of both stores: valid
// UTF-8 without NUL. PostgreSQL's text type refuses anything else (SQLSTATE
// 22021) where SQLite keeps it, so a service that did not check would store
// with one what the other answers with a 500: an id that is not storable
// names nothing, and a field that is not is refused.
func Storable(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}
