#!/usr/bin/env bash
# Install the real OpenStack clients the v2 API tests drive (the `openstack`
# CLI with python-octaviaclient, openstacksdk, ansible with openstack.cloud)
# into a virtualenv cached under ~/.cache/ballast-venv/<hash of
# tests/clients/requirements.txt>, and point ~/.cache/ballast-venv/current at
# it. A venv is reused only when it finished installing (.complete) from the
# same requirements; a changed requirements file gets a new one.
set -euo pipefail
cd "$(dirname "$0")/.."

req=tests/clients/requirements.txt
root="${XDG_CACHE_HOME:-$HOME/.cache}/ballast-venv"
key=$(sha256sum "$req" | cut -c1-16)
venv="$root/$key"

# Test binaries may run this at the same moment (tests/common/clients.rs
# installs a missing venv itself): one installs, the others wait.
mkdir -p "$root"
exec 9>"$root/.lock"
flock 9

if [ -f "$venv/.complete" ]; then
  echo "clients: reusing $venv"
else
  # Debian's python3 is the one CI's machines are sure to have; any python3
  # with venv works.
  py=/usr/bin/python3
  [ -x "$py" ] || py=$(command -v python3)
  rm -rf "$venv"
  mkdir -p "$root"
  if ! "$py" -m venv "$venv" 2>/dev/null; then
    echo "clients: installing python3-venv"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv
    rm -rf "$venv"
    "$py" -m venv "$venv"
  fi
  echo "clients: installing $req into $venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req"
  cp "$req" "$venv/requirements.txt"
  touch "$venv/.complete"
fi
ln -sfn "$key" "$root/current"
"$venv/bin/openstack" --version
