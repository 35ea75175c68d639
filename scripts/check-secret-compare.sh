#!/usr/bin/env bash
# SECURITY-CHECKLIST item 54: secrets, API keys and their digests are
# compared only with crypto/subtle.ConstantTimeCompare. This refuses
# bytes.Equal, and == or != on anything named like a secret, hash, digest or
# key, in non-test Go code outside gen/. A line may opt out with a trailing
# `// not-secret: <why>` comment.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
files=$(git ls-files -co --exclude-standard '*.go' | grep -v '_test\.go$' | grep -v '^gen/' || true)
[ -n "$files" ] || exit 0
bad=$(grep -nE 'bytes\.Equal\(|(secret|Secret|hash|Hash|digest|Digest|apiKey|APIKey|rawKey)[A-Za-z0-9_.\[\]()]*[[:space:]]*(==|!=)|(==|!=)[[:space:]]*[A-Za-z0-9_.]*(secret|Secret|hash|Hash|digest|Digest|rawKey)' $files \
	| grep -v 'not-secret:' \
	| grep -vE '(==|!=)[[:space:]]*(nil|""|0)\b' \
	| grep -vE 'len\([^)]*\)[[:space:]]*(==|!=)' || true)
if [ -n "$bad" ]; then
	echo "non-constant-time comparison on a secret path (use crypto/subtle.ConstantTimeCompare):"
	echo "$bad"
	exit 1
fi
echo "secret comparisons: constant-time only"
