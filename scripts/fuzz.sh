#!/usr/bin/env bash
# Runs every Go fuzz target of the repository, one after the other, for
# FUZZTIME each (default 20s), and fails if any fails. The targets are
# found, not listed: every `func FuzzXxx(` in a *_test.go file of one of
# the modules (., ./gen, ./pkg: separate modules, so each target runs from
# its module's directory with the package path relative to it).
#
# A failing input is written to testdata/fuzz/<FuzzName>/ next to the test;
# rename it to a seed-* name and keep it as a regression seed.
#
# The *Postgres targets need PostgreSQL (GATEHOUSE_TEST_DATABASE_URL, as
# every PostgreSQL test); without one they skip, and pass.
#
#   FUZZTIME=1m ./scripts/fuzz.sh
#   FUZZ_TARGETS='Token|Authorize' ./scripts/fuzz.sh   # only matching names
#
# Environment:
#   FUZZTIME          -fuzztime of each target (default 20s)
#   FUZZMINIMIZETIME  -fuzzminimizetime (default 5s): the go command's 60s
#                     default lets the minimization of one new input stall a
#                     target whose binary links the SQLite driver (every
#                     execution scans its coverage counters) for most of a
#                     short run
#   FUZZPARALLEL      -parallel, the number of fuzzing processes (default:
#                     the go command's, GOMAXPROCS)
#   FUZZ_TARGETS      extended regular expression the target names must match
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZTIME=${FUZZTIME:-20s}
FUZZMINIMIZETIME=${FUZZMINIMIZETIME:-5s}
FUZZ_TARGETS=${FUZZ_TARGETS:-.}
MODULES=(. ./gen ./pkg)

# module_of prints the module directory (one of MODULES) of a directory:
# the nearest one up the tree that has a go.mod.
module_of() {
	local d=$1
	while [ ! -f "$d/go.mod" ]; do
		d=$(dirname "$d")
	done
	printf '%s\n' "$d"
}

targets=() # "module<TAB>./package<TAB>FuzzName"
while IFS= read -r file; do
	dir=$(dirname "$file")
	mod=$(module_of "$dir")
	known=false
	for m in "${MODULES[@]}"; do
		[ "$m" = "$mod" ] && known=true
	done
	$known || continue
	if [ "$mod" = . ]; then pkg=$dir; else pkg=.${dir#"$mod"}; fi
	while IFS= read -r name; do
		if [[ $name =~ $FUZZ_TARGETS ]]; then
			targets+=("$mod"$'\t'"$pkg"$'\t'"$name")
		fi
	done < <(sed -nE 's/^func (Fuzz[A-Za-z0-9_]*)\(.*/\1/p' "$file")
done < <(find . \( -name .git -o -name testdata -o -name bin -o -name node_modules \) -prune -o -name '*_test.go' -print | sort)

if [ ${#targets[@]} -eq 0 ]; then
	echo "fuzz: no target matches '$FUZZ_TARGETS'" >&2
	exit 1
fi

# corpus_state lists a target's corpus directory, to tell whether a run
# wrote a failing input there.
corpus_state() {
	local dir=$1/${2#./}/testdata/fuzz/$3
	if [ -d "$dir" ]; then ls -1 "$dir"; fi
}

echo "fuzz: ${#targets[@]} targets, $FUZZTIME each"
failed=()
flaked=()
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for t in "${targets[@]}"; do
	IFS=$'\t' read -r mod pkg name <<<"$t"
	printf '\n=== %s (%s in module %s)\n' "$name" "$pkg" "$mod"
	before=$(corpus_state "$mod" "$pkg" "$name")
	if (cd "$mod" && go test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" \
		-fuzzminimizetime "$FUZZMINIMIZETIME" ${FUZZPARALLEL:+-parallel "$FUZZPARALLEL"} "$pkg") 2>&1 | tee "$log"; then
		continue
	fi
	# Go 1.26's fuzzing coordinator can report its own -fuzztime deadline
	# as a failure when a worker is mid-input at that instant
	# (golang/go#75804, fixed in Go 1.27). That failure is exactly this
	# message, with no input written; it counts as a pass only if the
	# corpus, replayed as ordinary tests, still passes.
	after=$(corpus_state "$mod" "$pkg" "$name")
	if [ "$before" = "$after" ] && grep -qxE '[[:space:]]+context deadline exceeded' "$log" &&
		! grep -qE '^[[:space:]]+(--- FAIL: .+/|.*_test\.go:[0-9]+:)' "$log" &&
		(cd "$mod" && go test -count=1 -run "^${name}\$" "$pkg"); then
		echo "fuzz: $name ended on the toolchain's -fuzztime race (golang/go#75804): no input written, the corpus replays clean"
		flaked+=("$name")
		continue
	fi
	failed+=("$name ($mod: $pkg)")
done

echo
if [ ${#failed[@]} -gt 0 ]; then
	echo "fuzz: ${#failed[@]} of ${#targets[@]} targets failed:"
	printf '  %s\n' "${failed[@]}"
	exit 1
fi
echo "fuzz: all ${#targets[@]} targets passed${flaked:+ (${#flaked[@]} ended on the toolchain race: ${flaked[*]})}"
