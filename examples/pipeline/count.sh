#!/bin/sh
# Count each word of the data files, most frequent first, ties in byte order.
set -eu
LC_ALL=C
export LC_ALL
cat "$1"/*.txt | tr -s ' ' '\n' | grep -v '^$' | sort | uniq -c | sort -k1,1nr -k2,2
