#!/usr/bin/env bash
# SECURITY-CHECKLIST item 54: secrets, API keys and their digests are
# compared only with crypto/subtle.ConstantTimeCompare. This refuses
# bytes.Equal, and == or != on anything named like a secret, hash, digest or
# key, in non-test Go code outside gen/. Comparisons with nil, "", 0 or 1
# (ConstantTimeCompare's result) and of a len() are allowed. A line may opt
# out with a trailing `// not-secret: <why>` comment.
# scripts/check_secret_compare_test.go checks that it catches what it is for.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
files=$(git ls-files -co --exclude-standard '*.go' | grep -v '_test\.go$' | grep -v '^gen/' || true)
[ -n "$files" ] || exit 0
# A name like a secret just before or after == or !=. (In a bracket
# expression ] comes first and [ stands for itself.)
names='secret|Secret|hash|Hash|digest|Digest|apiKey|APIKey|rawKey'
pattern="bytes\\.Equal\\(|($names)[]A-Za-z0-9_.[()]*[[:space:]]*(==|!=)|(==|!=)[[:space:]]*[A-Za-z0-9_.]*($names)"
bad=""
for f in $files; do
	# The allowed comparisons are removed from each line first, so that
	# one on the same line as a forbidden one does not hide it.
	hits=$(sed -E \
		-e 's/(==|!=)[[:space:]]*(nil|""|0|1)([^A-Za-z0-9_.]|$)/\3/g' \
		-e 's/len\([^()]*\)[[:space:]]*(==|!=)//g' \
		"$f" | grep -nE "$pattern" | grep -v 'not-secret:' || true)
	for n in $(printf '%s\n' "$hits" | cut -d: -f1); do
		bad+="$f:$n:$(sed -n "${n}p" "$f")"$'\n'
	done
done
if [ -n "$bad" ]; then
	echo "non-constant-time comparison on a secret path (use crypto/subtle.ConstantTimeCompare):"
	printf '%s' "$bad"
	exit 1
fi
echo "secret comparisons: constant-time only"
