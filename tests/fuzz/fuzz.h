/*
 * Shared bits of the libFuzzer targets under tests/fuzz/.  Each target
 * defines LLVMFuzzerTestOneInput() and calls FUZZ_FAIL() on a broken
 * property: it prints what broke, with the input's start, and aborts, so
 * that libFuzzer saves the input as a crash.
 */
#ifndef SPILLWAY_FUZZ_H
#define SPILLWAY_FUZZ_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int	LLVMFuzzerInitialize(int *argc, char ***argv);

/* Up to 200 bytes of s, C-escaped, on stderr. */
static inline void
fuzz_dump(const char *what, const void *s, size_t n)
{
	const unsigned char *p = s;
	size_t i;

	fprintf(stderr, "  %s (%zu bytes): \"", what, n);
	for (i = 0; i < n && i < 200; i++) {
		if (p[i] == '"' || p[i] == '\\')
			fprintf(stderr, "\\%c", p[i]);
		else if (p[i] >= 0x20 && p[i] < 0x7f)
			fputc(p[i], stderr);
		else
			fprintf(stderr, "\\x%02x", p[i]);
	}
	fprintf(stderr, "\"%s\n", n > 200 ? "..." : "");
}

__attribute__((noreturn, format(printf, 1, 2)))
static inline void
fuzz_fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "\n==== fuzz property broken: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

#define FUZZ_CHECK(cond, ...) do {					\
	if (!(cond))							\
		fuzz_fail(__VA_ARGS__);					\
} while (0)

#endif
