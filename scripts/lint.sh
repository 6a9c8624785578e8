#!/usr/bin/env bash
# Runs golangci-lint with the repository's .golangci.yml, building the pinned version into bin/
# first when it is missing (about 3 minutes from the Go module proxy). Extra arguments go to
# `golangci-lint run` (default: ./...); `scripts/lint.sh --install` only builds it.
set -euo pipefail
cd "$(dirname "$0")/.."
GOLANGCI_LINT_VERSION=v2.15.0
bin=bin/golangci-lint
if ! [ -x "$bin" ] || ! "$bin" version 2>/dev/null | grep -q "version ${GOLANGCI_LINT_VERSION#v} "; then
  echo "== building golangci-lint $GOLANGCI_LINT_VERSION into bin/"
  mkdir -p bin
  GOBIN="$PWD/bin" go install "github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$GOLANGCI_LINT_VERSION"
fi
if [ "${1:-}" = --install ]; then exit 0; fi
if [ $# -eq 0 ]; then set -- ./...; fi
exec "$bin" run "$@"
