#!/usr/bin/env bash
# What `make install` gives a newcomer besides the binary: the manual page
# tenantd(1) renders without a warning and describes every command and
# option; the bash completion completes commands, options and their
# values, and knows exactly the options each command's --help lists; and
# `make install DESTDIR=... PREFIX=/usr` puts every file where it belongs.
# Usage: tests/newcomer/package.sh path/to/tenantd [BUILD [SANITIZE]]
set -uo pipefail

bin=$(realpath "${1:?usage: package.sh TENANTD [BUILD [SANITIZE]]}")
build=${2:-build}
sanitize=${3:-}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
man=$root/deploy/man/tenantd.1
completion=$root/deploy/completion/tenantd.bash
tmp=$(mktemp -d)
# shellcheck source=../lib.sh
. "$root/tests/lib.sh"
cleanup_on_exit

# ==== the manual page ====
renderers=0
if command -v man >/dev/null; then
  renderers=$((renderers + 1))
  eq "man -l renders without warnings" \
    "$(MANWIDTH=80 man -l "$man" 2>&1 >/dev/null)" ""
  MANWIDTH=80 man -l "$man" >"$tmp/man.txt" 2>/dev/null
  expect_out "man: the name line" '^NAME$' "$tmp/man.txt"
fi
if command -v groff >/dev/null; then
  renderers=$((renderers + 1))
  eq "groff -ww finds nothing to warn about" \
    "$(groff -man -Tutf8 -ww -z "$man" 2>&1)" ""
fi
[ "$renderers" -gt 0 ] && ok || bad "neither man nor groff to render tenantd.1 (make deps)"
eq "man: the version is tenantd's" \
  "$(sed -n 's/^\.TH TENANTD 1 [^ ]* "tenantd \([^"]*\)".*/\1/p' "$man")" \
  "$("$bin" version | sed -n '1s/^tenantd //p')"
for section in SYNOPSIS DESCRIPTION COMMANDS '"EXIT STATUS"' ENVIRONMENT FILES EXAMPLES; do
  check "man: section $section" grep -qx "\.SH $section" "$man"
done

# roff's way of writing an option: every '-' as '\-'.
roff() { sed 's/-/\\-/g' <<<"$1"; }
# The text of the man page's section about command $1.
man_section() {
  awk -v cmd="$1" '
    $0 == ".SS " cmd { on = 1; next }
    on && /^\.S[SH] / { exit }
    on { print }' "$man"
}
# The options command $1's --help lists, one a line, sorted.
help_options() {
  "$bin" "$1" --help | grep -oE '^ +(-h, )?--[a-z-]+' | grep -oE -- '--[a-z-]+' |
    sort -u
}
# The options the completion offers for command $1, one a line, sorted.
completion_options() {
  # shellcheck disable=SC1090
  bash -c '. "$1"; _tenantd_options "$2"' _ "$completion" "$1" | tr ' ' '\n' |
    sed '/^$/d' | sort -u
}

mapfile -t commands < <("$bin" --help | sed -n 's/^  \([a-z]*\)  .*/\1/p')
[ "${#commands[@]}" -ge 8 ] && ok || bad "tenantd --help lists its commands"
for c in "${commands[@]}"; do
  man_section "$c" >"$tmp/section"
  check "man: a section for $c" test -s "$tmp/section"
  for o in $(help_options "$c"); do
    [ "$o" = --help ] && continue
    check "man: $c $o" grep -qF -- "$(roff "$o")" "$tmp/section"
  done
  eq "help: $c lists each option once" "$("$bin" "$c" --help |
    grep -oE '^ +(-h, )?--[a-z-]+' | sort | uniq -d | tr -d ' ')" ""
  eq "completion: the options of $c are its --help's" \
    "$(completion_options "$c" | tr '\n' ' ')" "$(help_options "$c" | tr '\n' ' ')"
done
check "man: --help of every command" grep -qF -- "$(roff --help)" "$man"

# ==== the completion, driven as bash drives it ====
# complete WORDS...: what completing the last word offers, one a line,
# through the function `complete -p tenantd` names.
complete_words() {
  bash -c '
    . "$1"
    shift
    spec=$(complete -p tenantd) || exit 1
    fn=${spec#*-F }
    fn=${fn%% *}
    COMP_WORDS=("$@")
    COMP_CWORD=$(($# - 1))
    COMP_LINE="$*"
    COMP_POINT=${#COMP_LINE}
    "$fn" tenantd "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
    printf "%s\n" "${COMPREPLY[@]}"' _ "$completion" "$@" | sed '/^$/d'
}
check "completion: registered for tenantd" \
  bash -c '. "$1"; complete -p tenantd' _ "$completion"
eq "tenantd va<TAB>" "$(complete_words tenantd va)" "validate"
eq "tenantd <TAB>: every command" "$(complete_words tenantd '' | sort | tr '\n' ' ')" \
  "$(printf '%s\n' "${commands[@]}" help | sort | tr '\n' ' ')"
eq "tenantd plan --fo<TAB>" "$(complete_words tenantd plan --fo)" "--format"
eq "tenantd plan tenants --de<TAB>" "$(complete_words tenantd plan tenants --de)" \
  "--detailed-exitcode"
eq "tenantd apply --fo<TAB>: apply has no --format" "$(complete_words tenantd apply --fo)" ""
eq "tenantd plan --format <TAB>" "$(complete_words tenantd plan --format '' | tr '\n' ' ')" \
  "text markdown json "
eq "tenantd plan --format=m<TAB>" "$(complete_words tenantd plan --format = m)" "markdown"
eq "tenantd validate --format <TAB>" \
  "$(complete_words tenantd validate --format '' | tr '\n' ' ')" "text json "
eq "tenantd run --log-format <TAB>" \
  "$(complete_words tenantd run --log-format '' | tr '\n' ' ')" "logfmt json "
eq "tenantd --v<TAB>" "$(complete_words tenantd --v)" "--version"
eq "tenantd help st<TAB>" "$(complete_words tenantd help st)" "status"
mkdir -p "$tmp/cwd/tenants" "$tmp/cwd/state"
touch "$tmp/cwd/tenantd.yaml"
eq "tenantd plan te<TAB>: a directory" \
  "$(cd "$tmp/cwd" && complete_words tenantd plan te)" "tenants"
eq "tenantd run --config te<TAB>: a file" \
  "$(cd "$tmp/cwd" && complete_words tenantd run --config te | sort | tr '\n' ' ')" \
  "tenantd.yaml tenants "

# ==== make install, make uninstall ====
dest=$tmp/root
# The suite may run under make: a make of its own, not a job of that one.
make_here() {
  env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make --no-print-directory -C "$root" \
    BUILD="$build" SANITIZE="$sanitize" DESTDIR="$dest" PREFIX=/usr "$@" \
    >"$tmp/make.log" 2>&1 || {
    bad "make $*"
    tail -5 "$tmp/make.log"
  }
}
make_here install
check "install: the binary" test -x "$dest/usr/bin/tenantd"
check "install: the binary is the one built" cmp -s "$dest/usr/bin/tenantd" "$bin"
check "install: the completion" \
  cmp -s "$dest/usr/share/bash-completion/completions/tenantd" "$completion"
check "install: the man page" cmp -s "$dest/usr/share/man/man1/tenantd.1" "$man"
check "install: the schemas" test -f "$dest/usr/share/tenantd/schemas/tenant.schema.json"
eq "install: man finds tenantd(1)" \
  "$(MANPATH=$dest/usr/share/man man -w tenantd 2>/dev/null)" \
  "$dest/usr/share/man/man1/tenantd.1"
expect_rc "install: the installed tenantd runs" 0 "$dest/usr/bin/tenantd" version
make_here uninstall
eq "uninstall: nothing left" "$(find "$dest" -type f | wc -l)" 0

summary package
