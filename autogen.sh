#!/bin/sh
# Generates configure and the Makefile templates.
set -e
cd "$(dirname "$0")"
mkdir -p m4 build-aux
autoreconf -fi
cp -f "$(ls -d /usr/share/automake-*/ | sort -V | tail -n 1)tap-driver.sh" build-aux/
