#!/bin/sh
# Runs the codec comparison and prints the ratio table.
# Usage: bench/codec/run.sh            (COUNT=5 by default)
set -e
cd "$(dirname "$0")"
go test -run '^$' -bench . -benchmem -count "${COUNT:-5}" | tee bench.txt
go run ./ratios < bench.txt
