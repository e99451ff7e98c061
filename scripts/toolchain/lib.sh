# Pure helpers of scripts/toolchain.sh (sourced; no network, no global state), unit-tested by
# test/toolchain.test.ts: which version a local source is, what a binary is stamped with and must report,
# the cache key, and which module@version a `go` error is about.

# source_version DIR: the version of the Go module source in DIR, with a leading v. In order: the git tag
# (`git describe`: vX.Y.Z on the tag, vX.Y.Z-N-gHASH after it, -dirty with uncommitted changes) when DIR's
# go.mod is tracked in its checkout; a .version or VERSION file in DIR or up to the checkout's root (Pulumi's
# monorepo keeps sdk/.version); the @version of a Go module cache directory. Otherwise it fails, saying how
# to tell it: a source of unknown version must not be labelled with the pinned one.
source_version() {
  local dir=$1 top="" d v
  [[ -f $dir/go.mod ]] || { echo "$dir has no go.mod" >&2; return 1; }
  dir=$(cd "$dir" && pwd -P)
  if git -C "$dir" ls-files --error-unmatch go.mod >/dev/null 2>&1; then
    top=$(git -C "$dir" rev-parse --show-toplevel)
    v=$(git -C "$dir" describe --tags --match 'v[0-9]*' --dirty 2>/dev/null) && { echo "$v"; return 0; }
  fi
  d=$dir
  while :; do
    for v in "$d/.version" "$d/VERSION"; do
      [[ -f $v ]] && { v=$(tr -d '[:space:]' <"$v"); [[ -n $v ]] && { echo "v${v#v}"; return 0; }; }
    done
    [[ -n $top && $d != "$top" && $d != / ]] || break
    d=$(dirname "$d")
  done
  if [[ $dir =~ @(v[0-9][^/]*)$ ]]; then echo "${BASH_REMATCH[1]}"; return 0; fi
  echo "cannot tell which version the source in $dir is: no v* git tag reaches its HEAD, no .version or" \
    "VERSION file, not a Go module cache directory; tag it (git tag vX.Y.Z) or write its version to $dir/.version" >&2
  return 1
}

# source_key DIR VERSION: VERSION as a cache key part; a -dirty source adds a hash of its uncommitted changes,
# so another edit is another key.
source_key() {
  local key=${2//[^A-Za-z0-9._+-]/_}
  if [[ $2 == *-dirty ]]; then
    key+=.$({
      git -C "$1" diff HEAD -- .
      git -C "$1" ls-files -o --exclude-standard -z -- . | (cd "$1" && xargs -0 -r sha256sum)
    } | sha256sum | cut -c1-12)
  fi
  echo "$key"
}

# stamp_value NAME VERSION: the string -X sets in NAME for VERSION (the CLI and the language host report vX.Y.Z;
# the providers' version packages hold it without the v).
stamp_value() {
  case $1 in
    pulumi | pulumi-language-nodejs) echo "v${2#v}" ;;
    *) echo "${2#v}" ;;
  esac
}

# smoke_version NAME BINARY VERSION: the version BINARY reports must be the one it was built from (not the pin:
# a binary from an older source that says the pinned version is a lie). Providers report theirs only over gRPC.
smoke_version() {
  local v want
  want=$(stamp_value "$1" "$3")
  case $1 in
    pulumi) v=$(timeout 60 "$2" version) || { echo "smoke: '$2 version' failed"; return 1; } ;;
    pulumi-language-nodejs) v=$(timeout 60 "$2" -version) || { echo "smoke: '$2 -version' failed"; return 1; } ;;
    *) return 0 ;;
  esac
  v=${v//[[:space:]]/}
  [[ $v == "$want" ]] || { echo "smoke: $1 reports version '$v', but it was built from $want"; return 1; }
  echo "smoke: $1 reports $v"
}

# go_module_errors: reads what `go` printed (plain or -json) and prints, once per module, the exact
# module@version an error is about and why, e.g.
#   github.com/pulumi/pulumi-java/pkg@v1.12.0: the module proxy answered 403 Forbidden: This module version is not available.
# A module that needs a refused one ("a@v1 requires b@v2: …") is not named: only b@v2 is.
go_module_errors() {
  awk '
    function reason(r,   m) {
      if (r ~ /checksum mismatch|SECURITY ERROR/) return "checksum mismatch: what was downloaded is not what go.sum or the checksum database says"
      if (r ~ /(reading|Get) "?https?:[^ ]*: (dial tcp|proxyconnect)/) return "the module proxy cannot be reached"
      if (match(r, /reading https?:[^ ]*: [0-9][0-9][0-9]( [A-Z][A-Za-z]*)*/)) {
        m = substr(r, RSTART, RLENGTH); sub(/^reading [^ ]*: /, "", m)
        r2 = r; if (sub(/.*server response: /, "", r2)) m = m ": " r2
        return "the module proxy answered " m
      }
      if (r ~ /git ls-remote|unrecognized import path|Could not resolve host/) {
        m = r; if (sub(/.*fatal: /, "", m)) m = ": " m; else m = ""
        return "not on the module proxy, and fetching it from its origin failed" m
      }
      if (r ~ /^(invalid version|unknown revision|invalid pseudo-version)/) { sub(/: git .*/, "", r); return r }
      return substr(r, 1, 200)
    }
    function flush() { if (key != "" && !(key in seen)) { seen[key] = 1; print key ": " reason(why) } key = ""; why = "" }
    # (flush calls match: RSTART and RLENGTH are read before it)
    function scan(s,   rest, m, at) {
      if (match(s, /module [^ :"]+: /) && s !~ /@v[0-9]/) {
        m = substr(s, RSTART + 7, RLENGTH - 9); rest = substr(s, RSTART + RLENGTH); flush()
        key = m "@" (jver != "" ? jver : "latest"); why = rest; return 1
      }
      rest = s
      while (match(rest, /[A-Za-z0-9][-A-Za-z0-9._~\/!+]*@v[0-9][^ :"]*: /)) {
        m = substr(rest, RSTART, RLENGTH - 2); rest = substr(rest, RSTART + RLENGTH); flush()
        at = match(rest, /[A-Za-z0-9][-A-Za-z0-9._~\/!+]*@v[0-9][^ :"]*: /)
        why = at ? substr(rest, 1, at - 1) : rest
        key = m
      }
      return key != ""
    }
    /^[ \t]*"Path": "/ { flush(); jver = ""; next }
    /^[ \t]*"Version": "/ { jver = $0; sub(/^[ \t]*"Version": "/, "", jver); sub(/".*/, "", jver); next }
    /^[ \t]*"Error": "/ {
      s = $0; sub(/^[ \t]*"Error": "/, "", s); sub(/",?[ \t]*$/, "", s)
      gsub(/\\n\\t|\\n|\\t/, " ", s); gsub(/\\"/, "\"", s)
      scan(s); flush(); next
    }
    /^[ \t]*[{}],?[ \t]*$/ { flush(); jver = ""; next }
    {
      line = $0
      if (line ~ /^go: downloading /) next
      if (line ~ /^[ \t]/ && line !~ /@v[0-9][^ :]*: |module [^ :]+: / && key != "") { sub(/^[ \t]+/, " ", line); why = why line; next }
      scan(line)
    }
    END { flush() }
  '
}
