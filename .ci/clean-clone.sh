#!/usr/bin/env bash
# The README's promise, checked as a newcomer meets it: a clean clone of this repository's HEAD,
# an old Node first on PATH (Node 20 from the npm registry, cached), no PostgreSQL to be found
# (none on PATH, AUTOMNA_PG_BIN unset; the tests never look anywhere else), then exactly the
# README's two commands. A warning from npm fails the check as well. Run by .ci/run; on its own:
#   .ci/clean-clone.sh
#   CHECK_NODE=18.20.8 CHECK_NPM=10.8.2 .ci/clean-clone.sh   (another Node, with the npm it came with;
#                                                            without CHECK_NPM the machine's npm runs on it)
# It tests what is committed: uncommitted changes are not in the clone.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
node_version="${CHECK_NODE:-20.20.2}"
npm_version="${CHECK_NPM:-}"
commands=("npm ci && npm run demo" "npm ci && npm test")

case "$(uname -m)" in x86_64) arch=x64 ;; aarch64 | arm64) arch=arm64 ;; *) arch="$(uname -m)" ;; esac
node_pkg="node-$(uname -s | tr '[:upper:]' '[:lower:]')-$arch"
cache="${AUTOMNA_NODE_CACHE:-$HOME/.cache/automna-node}/$node_version${npm_version:+-npm$npm_version}"
wanted=("$node_pkg@$node_version")
[ -z "$npm_version" ] || wanted+=("npm@$npm_version")
if [ ! -x "$cache/node_modules/.bin/node" ] || { [ -n "$npm_version" ] && [ ! -x "$cache/node_modules/.bin/npm" ]; }; then
  echo "clean-clone: installing ${wanted[*]} into $cache"
  npm install --prefix "$cache" --no-save --no-audit --no-fund --loglevel=error "${wanted[@]}"
fi
# npm finds its global config beside the Node that runs it: keep the machine's (CA file, proxy).
globalconfig="$(npm config get globalconfig)"

# PATH as the machine has it, minus every directory that holds a PostgreSQL server or anything
# of this repository's, behind the old Node (and its npm, when given).
clean_path="$cache/node_modules/.bin"
IFS=: read -r -a dirs <<<"$PATH"
for dir in "${dirs[@]}"; do
  [ -n "$dir" ] || continue
  if [ -e "$dir/postgres" ] || [ -e "$dir/initdb" ] || [ -e "$dir/pg_ctl" ]; then continue; fi
  case "$dir" in "$repo" | "$repo"/* | */node_modules/.bin) continue ;; esac
  clean_path="$clean_path:$dir"
done

work="$(mktemp -d "${TMPDIR:-/tmp}/automna-clean-clone.XXXXXX")"
trap 'rm -rf "$work"' EXIT
commit="$(git -C "$repo" rev-parse HEAD)"
git clone --quiet --no-checkout "$repo" "$work/automna"
git -C "$work/automna" checkout --quiet --detach "$commit"
# The conformance tests read the providers' specs from shared/ beside the repository (reference
# data, never committed): give the clone the same neighbour.
if [ -d "$repo/../shared/specs" ]; then ln -s "$(cd "$repo/../shared" && pwd)" "$work/shared"
else echo "clean-clone: warning: no shared/specs beside $repo; the spec conformance tests will fail"; fi
if [ -n "$(git -C "$repo" status --porcelain --untracked-files=no)" ]; then
  echo "clean-clone: note: $repo has uncommitted changes; the check runs the committed $commit"
fi

# Run one README command line in the clone with nothing of this shell's set-up: no AUTOMNA_*,
# PG* or npm_* variables, the clean PATH.
in_clone() {
  (
    cd "$work/automna"
    for name in $(compgen -e); do
      case "$name" in AUTOMNA_* | PG* | npm_* | NPM_* | NODE_OPTIONS) unset "$name" ;; esac
    done
    export PATH="$clean_path" npm_config_globalconfig="$globalconfig"
    bash -c "$1"
  )
}

elapsed() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }
summary=()
failed=0
started=$SECONDS
echo "clean-clone: $commit in $work/automna; node $(in_clone 'node --version'), npm $(in_clone 'npm --version'), postgres on PATH: $(in_clone 'command -v postgres initdb || echo none')"
for line in "${commands[@]}"; do
  echo "clean-clone: \$ $line"
  log="$work/step.log"
  step_started=$SECONDS
  set +e
  in_clone "$line" 2>&1 | tee "$log"
  status=${PIPESTATUS[0]}
  set -e
  took=$((SECONDS - step_started))
  warnings="$(grep -ciE '^npm (warn|WARN)' "$log" || true)"
  result=ok
  if [ "$status" != 0 ]; then result="failed (exit $status)"; failed=1
  elif [ "$warnings" != 0 ]; then result="failed ($warnings npm warnings)"; failed=1; fi
  summary+=("  $(printf '%-24s' "$line") $(printf '%-24s' "$result") $(elapsed "$took")")
  [ "$failed" = 0 ] || break
done
scripts_node="$(in_clone 'node_modules/.bin/node --version 2>/dev/null || echo "the machine'"'"'s node"')"

echo
echo "clean-clone check, Node $node_version first on PATH, no PostgreSQL installed; npm scripts ran on $scripts_node:"
printf '%s\n' "${summary[@]}"
if [ "$failed" = 0 ]; then
  echo "clean-clone check passed in $(elapsed $((SECONDS - started)))"
else
  echo "clean-clone check FAILED after $(elapsed $((SECONDS - started)))"
  exit 1
fi
