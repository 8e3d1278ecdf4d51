#!/usr/bin/env bash
# Install everything gradebench needs on a fresh Debian/Ubuntu machine:
# bubblewrap (the sandbox for student code) and a virtualenv in .venv with the package.
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v bwrap >/dev/null 2>&1; then
  echo "setup: installing bubblewrap (sandbox for untrusted submissions)"
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq bubblewrap
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  python3 -m venv .venv
fi
.venv/bin/pip install --quiet --upgrade pip
echo "setup: installing gradebench and its dependencies into .venv (a few minutes the first time)"
.venv/bin/pip install --quiet -e ".[test]"
echo "setup: done. Activate with: . .venv/bin/activate"
