#!/bin/sh
# Build the Debian package with `cargo deb` and check what it holds:
# files, conffiles, dependencies and maintainer scripts.
#
#   packaging/check-deb.sh              # release build (~5 min cold on 2 cores), then checks
#   packaging/check-deb.sh --no-build   # package the existing target/release/ballast
#
# Needs cargo-deb (`cargo install cargo-deb --locked`) and dpkg-deb.
# Exits non-zero naming the first thing that is wrong.
set -eu

cd "$(dirname "$0")/.."

fail() {
    echo "check-deb: FAIL: $*" >&2
    exit 1
}

command -v cargo-deb >/dev/null 2>&1 || fail "cargo-deb is not installed (cargo install cargo-deb --locked)"
command -v dpkg-deb >/dev/null 2>&1 || fail "dpkg-deb is not installed"
[ -f README.md ] || fail "README.md is missing; the package ships it as /usr/share/doc/ballast/README.md"

# cargo deb prints the path of the package as the last line on stdout.
deb=$(cargo deb "$@" | tail -n 1)
[ -f "$deb" ] || fail "cargo deb did not report a package file (got: $deb)"
echo "check-deb: inspecting $deb"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

dpkg-deb -c "$deb" | awk '{ print $NF }' | sed 's|^\./|/|' > "$work/files"
dpkg-deb -e "$deb" "$work/control"
dpkg-deb -x "$deb" "$work/root"

# The files the package must install. The unit's directory differs between
# cargo-deb versions (/lib or /usr/lib), so it is checked by suffix.
for path in \
    /usr/bin/ballast \
    /etc/ballast/ballast.toml \
    /usr/share/doc/ballast/README.md \
    /usr/share/doc/ballast/copyright
do
    grep -qx "$path" "$work/files" || fail "package lacks $path"
done
unit=$(grep -E '^(/usr)?/lib/systemd/system/ballast\.service$' "$work/files" || true)
[ -n "$unit" ] || fail "package lacks lib/systemd/system/ballast.service"

# Packaged copies are the sources, byte for byte.
cmp -s packaging/ballast.service "$work/root$unit" || fail "packaged unit differs from packaging/ballast.service"
cmp -s packaging/ballast.toml "$work/root/etc/ballast/ballast.toml" || fail "packaged config differs from packaging/ballast.toml"
[ -x "$work/root/usr/bin/ballast" ] || fail "/usr/bin/ballast is not executable"
"$work/root/usr/bin/ballast" --help >/dev/null || fail "packaged binary does not run (--help)"

# Upgrades keep local edits to the config.
grep -qx /etc/ballast/ballast.toml "$work/control/conffiles" || fail "/etc/ballast/ballast.toml is not a conffile"

control="$work/control/control"
grep -q '^Package: ballast$' "$control" || fail "control: Package is not ballast"
grep -q '^Depends:.*adduser' "$control" || fail "control: Depends lacks adduser (postinst uses it)"
grep -q '^Depends:.*libc6' "$control" || fail "control: Depends lacks libc6 (\$auto not resolved)"

postinst="$work/control/postinst"
[ -x "$postinst" ] || fail "postinst missing or not executable"
grep -q 'adduser --system --group --no-create-home --home /var/lib/ballast' "$postinst" \
    || fail "postinst does not create the ballast system user"
grep -q 'deb-systemd-helper enable ballast.service' "$postinst" || fail "postinst does not enable ballast.service"
# Enabled, not started: a fresh install must not start on the default config.
if grep -q 'deb-systemd-invoke start' "$postinst"; then
    fail "postinst starts the service on install"
fi
grep -q 'try-restart ballast.service' "$postinst" || fail "postinst does not restart a running service on upgrade"
grep -q '#DEBHELPER#' "$postinst" && fail "postinst still holds the #DEBHELPER# token"
sh -n "$postinst" || fail "postinst is not valid sh"

# Run postinst against stub commands that log their arguments: a fresh install
# creates the user and enables the unit; an upgrade with the user present does
# not create it again. Nothing on this host is changed.
mkdir "$work/stubs"
for stub in adduser deb-systemd-helper deb-systemd-invoke systemctl; do
    printf '#!/bin/sh\necho "%s $*" >> "$STUB_LOG"\n' "$stub" > "$work/stubs/$stub"
done
printf '#!/bin/sh\n[ -n "${USER_EXISTS:-}" ]\n' > "$work/stubs/getent"
chmod 755 "$work/stubs/"*
STUB_LOG="$work/install.log" PATH="$work/stubs:$PATH" sh -e "$postinst" configure \
    || fail "postinst configure (fresh install) failed"
grep -q '^adduser --system --group --no-create-home --home /var/lib/ballast --quiet ballast$' "$work/install.log" \
    || fail "fresh install did not run adduser as expected: $(cat "$work/install.log")"
grep -q '^deb-systemd-helper enable ballast.service$' "$work/install.log" \
    || fail "fresh install did not enable ballast.service"
if grep -q 'start ballast.service' "$work/install.log"; then
    fail "fresh install started the service"
fi
USER_EXISTS=1 STUB_LOG="$work/upgrade.log" PATH="$work/stubs:$PATH" sh -e "$postinst" configure 0.1.0-1 \
    || fail "postinst configure (upgrade) failed"
if grep -q '^adduser' "$work/upgrade.log"; then
    fail "upgrade ran adduser although the user exists"
fi

postrm="$work/control/postrm"
[ -x "$postrm" ] || fail "postrm missing or not executable"
grep -q 'deb-systemd-helper purge ballast.service' "$postrm" || fail "postrm does not purge the unit's state"
sh -n "$postrm" || fail "postrm is not valid sh"

echo "check-deb: ok: $(wc -l < "$work/files") entries; unit at $unit"
