/*
 * Checks the C ABI the Swift module uses, without a Swift compiler: includes the generated
 * conclaveFFI.h, links libconclave_ffi.so and
 *   1. compares the contract version and every API checksum the generated Conclave.swift
 *      expects (checksums.inc is extracted from Conclave.swift by scripts/test-bindings.sh),
 *   2. calls two exported functions through RustCallStatus as Swift would.
 * gcc needs -D_Nullable= -D_Nonnull= (clang's nullability qualifiers); clang takes it as is.
 */
#include <stdio.h>
#include <string.h>
#include "conclaveFFI.h"

static int failures = 0;

#define EXPECT_EQ(what, got, want)                                                     \
    do {                                                                               \
        long long g_ = (long long)(got), w_ = (long long)(want);                       \
        if (g_ != w_) {                                                                \
            fprintf(stderr, "MISMATCH %s: library has %lld, Swift expects %lld\n",     \
                    what, g_, w_);                                                     \
            failures++;                                                                \
        }                                                                              \
    } while (0)

int main(void) {
    int checks = 0;
#include "checksums.inc"

    RustCallStatus status;
    memset(&status, 0, sizeof status);
    RustBuffer v = uniffi_conclave_ffi_fn_func_library_version(&status);
    if (status.code != 0 || v.data == NULL || v.len == 0) {
        fprintf(stderr, "library_version failed (status %d)\n", status.code);
        failures++;
    } else {
        printf("library_version: %.*s\n", (int)v.len, (const char *)v.data);
        ffi_conclave_ffi_rustbuffer_free(v, &status);
    }
    memset(&status, 0, sizeof status);
    uint64_t t0 = uniffi_conclave_ffi_fn_func_monotonic_now_ms(&status);
    uint64_t t1 = uniffi_conclave_ffi_fn_func_monotonic_now_ms(&status);
    if (status.code != 0 || t1 < t0) {
        fprintf(stderr, "monotonic_now_ms failed\n");
        failures++;
    }
    printf("%d checksums + contract version checked, %d failures\n", checks, failures);
    return failures == 0 ? 0 : 1;
}
