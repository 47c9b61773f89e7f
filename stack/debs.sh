#!/usr/bin/env bash
# Install the Debian packages the tests need, only those whose command is missing.
# Usage: stack/debs.sh cmd:package ...   (apt-get update runs only when something is missing)
set -euo pipefail
missing=()
for pair in "$@"; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
    echo "error: missing commands for packages: ${missing[*]}; this is not a Debian/Ubuntu system (no apt-get), install them by hand." >&2
    exit 1
fi
sudo=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo=(sudo -n); else
        echo "error: need root to install Debian packages: ${missing[*]} (run 'sudo apt-get install ${missing[*]}')." >&2
        exit 1
    fi
fi
echo "Installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
