#!/usr/bin/env bash
# Set up everything the project needs on a fresh machine: checks Python 3.11 and Java (Spark),
# installs Java with apt when it is missing and we may, then creates .venv and installs the
# project with all extras. Safe to repeat.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3.11}"
VENV="${VENV:-.venv}"

command -v "$PYTHON" >/dev/null || { echo "error: $PYTHON not found; install Python 3.11 (e.g. apt-get install python3.11-venv) or set PYTHON=/path/to/python3.11" >&2; exit 1; }

java_major() { java -version 2>&1 | sed -nE 's/.*version "([0-9]+).*/\1/p' | head -1; }
if ! command -v java >/dev/null || [ "$(java_major)" -lt 17 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing Java 17 for Spark (apt-get openjdk-17-jre-headless)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null
  else
    echo "error: Spark needs Java 17 or newer on PATH (found: $(java -version 2>&1 | head -1 || echo none)); install openjdk-17-jre-headless or set JAVA_HOME" >&2
    exit 1
  fi
fi

# The inbox's real-browser test drives Debian's chromium through its chromedriver (never a
# downloaded driver); without them that one test is skipped and says why.
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing chromium and chromium-driver for the inbox browser test (apt-get)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
  else
    echo "note: chromium and chromium-driver are missing (the inbox browser test will be skipped); install them with: sudo apt-get install chromium chromium-driver" >&2
  fi
fi

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip setuptools wheel
# torch==2.13.0 resolves to the CPU wheel where one is offered locally (see README).
"$VENV/bin/python" -m pip install -q -e ".[all]"
"$VENV/bin/ansible-galaxy" collection list amazon.aws >/dev/null 2>&1 || { echo "error: the ansible package did not bring amazon.aws" >&2; exit 1; }
echo "installed: $("$VENV/bin/tweet-triage" version) in $VENV"
