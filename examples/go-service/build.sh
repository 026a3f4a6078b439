#!/usr/bin/env bash
# Build the email service offline from Debian's Go packages into bin/email-service.
#   ./build.sh          build
#   ./build.sh check    gofmt, go vet and the worker pool's tests, then build
# Needs: apt-get install golang-go golang-github-shopify-sarama-dev golang-golang-x-sys-dev
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
gocode=/usr/share/gocode
packages="golang-go golang-github-shopify-sarama-dev golang-golang-x-sys-dev"

missing=()
command -v go >/dev/null 2>&1 || missing+=("go (golang-go)")
[[ -d "$gocode/src/github.com/Shopify/sarama" ]] || missing+=("sarama sources in $gocode (golang-github-shopify-sarama-dev)")
[[ -d "$gocode/src/golang.org/x/sys/unix" ]] || missing+=("x/sys sources in $gocode (golang-golang-x-sys-dev)")
if ((${#missing[@]})); then
  echo "build.sh: ERROR: cannot build the Go email service, missing: ${missing[*]}" >&2
  echo "build.sh: install them with: apt-get install -y $packages" >&2
  exit 1
fi

# GOPATH mode: the Debian packages are a GOPATH tree and there is no module proxy. The
# service's own packages are reached through a symlink in a private GOPATH entry.
gopath="$here/bin/.gopath"
mkdir -p "$gopath/src/poolbench-example"
ln -sfn "$here" "$gopath/src/poolbench-example/email-service"
export GO111MODULE=off GOPATH="$gopath:$gocode" GOFLAGS=
# No cgo: sarama then builds without zstd (the load generator never uses it), and the
# binary needs no C compiler and is static.
export CGO_ENABLED=0
cd "$gopath/src/poolbench-example/email-service"

if [[ "${1:-}" == "check" ]]; then
  unformatted="$(gofmt -l workerpool messaging cmd)"
  if [[ -n "$unformatted" ]]; then
    echo "build.sh: not gofmt-clean: $unformatted" >&2
    exit 1
  fi
  go vet ./workerpool ./messaging ./cmd/email-service
  go test ./workerpool ./messaging
fi
go build -trimpath -o "$here/bin/email-service" ./cmd/email-service
echo "built $here/bin/email-service"
