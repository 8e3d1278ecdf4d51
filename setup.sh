#!/usr/bin/env bash
# Install everything gradebench needs on a fresh Debian/Ubuntu machine:
# bubblewrap (the sandbox for student code), headless Chromium and its driver (the test that
# opens the MLflow leaderboard like a person would), and a virtualenv in .venv with the package.
# GRADEBENCH_EXTRAS picks the optional dependencies (default "test"; CI uses "test,ray,docs" so the
# Ray executor's tests run; `ray` is what a grading cluster's nodes need). Versions come from
# requirements.lock / requirements-ray.lock; both also hold the `test` and `docs` extras, so
# scripts/test (the docs build, then pytest) runs on any install.
set -euo pipefail
cd "$(dirname "$0")"

missing=()
command -v bwrap >/dev/null 2>&1 || missing+=(bubblewrap)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]} (sandbox for untrusted submissions; browser for the UI test)"
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  python3 -m venv .venv
fi
.venv/bin/pip install --quiet --upgrade pip
# Bit-identical scores need the same TensorFlow, Keras and NumPy builds, so every dependency comes
# from a lock file with exact versions and hashes (docs/instructors/upgrading.md says how to update
# it); the package itself is installed on top without resolving anything again.
extras="${GRADEBENCH_EXTRAS:-test}"
case ",$extras," in
  *,ray,*) lock=requirements-ray.lock ;;  # the lock with the Ray extra (and the test tools)
  *) lock=requirements.lock ;;
esac
echo "setup: installing the pinned dependencies from $lock into .venv (a few minutes the first time)"
.venv/bin/pip install --quiet --require-hashes -r "$lock"
.venv/bin/pip install --quiet --no-deps -e .
echo "setup: done. Activate with: . .venv/bin/activate"
