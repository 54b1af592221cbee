#!/usr/bin/env bash
# Turns the version and checksum expectations of a generated Conclave.swift into C checks
# (checksums.inc for header_check.c). Usage: extract_checksums.sh Conclave.swift > checksums.inc
set -euo pipefail
swift=$1
version=$(sed -n 's/^ *let bindings_contract_version = \([0-9]*\).*/\1/p' "$swift")
[ -n "$version" ] || { echo "no bindings_contract_version in $swift" >&2; exit 1; }
echo "EXPECT_EQ(\"contract version\", ffi_conclave_ffi_uniffi_contract_version(), $version); checks++;"
n=0
while read -r fn value; do
    echo "EXPECT_EQ(\"$fn\", $fn(), $value); checks++;"
    n=$((n + 1))
done < <(sed -n 's/^ *if (\(uniffi_[a-z0-9_]*_checksum_[a-z0-9_]*\)() != \([0-9]*\)) {.*/\1 \2/p' "$swift")
[ "$n" -gt 0 ] || { echo "no checksums found in $swift" >&2; exit 1; }
