# shellcheck shell=bash
# Tiny TAP-style assertions for the shell integration tests. Each prints
# "ok N - what" or "not ok N - what" with the values; done_testing exits
# non-zero if anything failed.
_tap_n=0
_tap_failed=0
pass() { _tap_n=$((_tap_n + 1)); echo "ok $_tap_n - $1"; }
fail() {
    _tap_n=$((_tap_n + 1)); _tap_failed=$((_tap_failed + 1))
    echo "not ok $_tap_n - $1"
}
is() {
    if [ "$1" = "$2" ]; then pass "$3"; else
        fail "$3"; printf '#   got:      %s\n#   expected: %s\n' "$1" "$2"; fi
}
like() {
    case "$1" in
    *"$2"*) pass "$3" ;;
    *) fail "$3"; printf '#   got:          %s\n#   to contain:   %s\n' "$1" "$2" ;;
    esac
}
done_testing() {
    echo "1..$_tap_n"
    [ "$_tap_failed" -eq 0 ] || { echo "# $_tap_failed of $_tap_n failed"; exit 1; }
}
