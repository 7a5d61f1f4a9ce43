/* The libFuzzer entry point every tests/fuzz_*.c defines. Built with
 * --enable-fuzzing it is driven by libFuzzer; otherwise tests/fuzz_main.c
 * replays the committed corpus (tests/corpus/NAME/) through it in make check. */
#ifndef ESCROW_FUZZ_H
#define ESCROW_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
