#!/bin/sh
# Runs the codec comparison and prints the ratio table.
# Usage: bench/codec/run.sh            (COUNT=5 by default)
#
# The test binary is built once and run COUNT times; each run measures every
# case and implementation once, in turn, so the implementations' samples are
# interleaved in time (round robin) and a burst of load from other jobs
# falls on all of them alike, not on one implementation's five samples.
set -e
cd "$(dirname "$0")"
go test -c -o codec.test .
rm -f bench.txt
for i in $(seq "${COUNT:-5}"); do
  echo "# round $i of ${COUNT:-5}" >&2
  ./codec.test -test.run '^$' -test.bench . -test.benchmem | tee -a bench.txt
done
rm -f codec.test
go run ./ratios < bench.txt
