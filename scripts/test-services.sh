#!/usr/bin/env bash
# Checks that the system binaries the integration tests need are present (installed by .ci/run).
missing=0
for b in redis-server /usr/lib/postgresql/15/bin/initdb /usr/lib/postgresql/15/bin/pg_ctl; do
  if ! command -v "$b" >/dev/null 2>&1; then echo "missing: $b (run: apt-get install redis-server postgresql)"; missing=1; fi
done
exit $missing
