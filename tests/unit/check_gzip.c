/*
 * Unit tests for gzip: round trips at every level and size, gzip members
 * and zlib streams, the output bound (zip bombs), corrupt and truncated
 * input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <zlib.h>

#include "gzip.h"
#include "check_common.h"

static char *
make_text(size_t n)
{
	char	*p;
	size_t	 i;
	uint32_t x = 12345;

	p = malloc(n + 1);
	ck_assert_ptr_nonnull(p);
	for (i = 0; i < n; i++) {
		x = x * 1103515245 + 12345;
		p[i] = "{\"abcdefghij klmnop:,}\n0123456789"[(x >> 16) % 33];
	}
	p[n] = '\0';
	return p;
}

START_TEST(test_roundtrip)
{
	static const size_t	 sizes[] = { 0, 1, 100, 65536, 3000000 };
	static const int	 levels[] = { -1, 0, 1, 6, 9 };
	char			*text, *gz, *back;
	size_t			 i, j, gzlen, blen;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		text = make_text(sizes[i]);
		for (j = 0; j < sizeof(levels) / sizeof(levels[0]); j++) {
			ck_assert_int_eq(gzip_compress(text, sizes[i], levels[j],
			    &gz, &gzlen), 0);
			ck_assert_uint_ge(gzlen, 18);
			ck_assert_int_eq((unsigned char)gz[0], 0x1f);
			ck_assert_int_eq((unsigned char)gz[1], 0x8b);
			ck_assert_int_eq(gzip_decompress(gz, gzlen, sizes[i], &back,
			    &blen), 0);
			ck_assert_uint_eq(blen, sizes[i]);
			ck_assert_int_eq(back[blen], '\0');
			ck_assert(memcmp(back, text, blen) == 0);
			free(back);
			free(gz);
		}
		free(text);
	}
	ck_assert_int_eq(gzip_compress("x", 1, 10, &gz, &gzlen), -1);
	ck_assert_ptr_null(gz);
	ck_assert_int_eq(gzip_compress("x", 1, -2, &gz, &gzlen), -1);
}
END_TEST

START_TEST(test_decompress_members_and_zlib)
{
	char		*a, *b, *cat, *out;
	size_t		 alen, blen, olen;
	unsigned char	 z[128];
	uLongf		 zlen = sizeof(z);

	/* Concatenated gzip members read as one stream (RFC 1952 2.2). */
	ck_assert_int_eq(gzip_compress("{\"index\":{}}\n", 13, 6, &a, &alen), 0);
	ck_assert_int_eq(gzip_compress("{\"a\":1}\n", 8, 1, &b, &blen), 0);
	cat = malloc(alen + blen);
	memcpy(cat, a, alen);
	memcpy(cat + alen, b, blen);
	ck_assert_int_eq(gzip_decompress(cat, alen + blen, 1000, &out, &olen), 0);
	ck_assert_uint_eq(olen, 21);
	ck_assert_str_eq(out, "{\"index\":{}}\n{\"a\":1}\n");
	free(out);
	/* The limit counts all members together. */
	ck_assert_int_eq(gzip_decompress(cat, alen + blen, 20, &out, &olen), -2);
	ck_assert_ptr_null(out);
	/* A member followed by garbage is corrupt. */
	memcpy(cat + alen, "garbage", 7);
	ck_assert_int_eq(gzip_decompress(cat, alen + 7, 1000, &out, &olen), -1);
	ck_assert_ptr_null(out);
	free(cat);
	free(a);
	free(b);
	/* A zlib stream (Content-Encoding: deflate as most send it). */
	ck_assert_int_eq(compress2(z, &zlen, (const Bytef *)"hello", 5, 6),
	    Z_OK);
	ck_assert_int_eq(gzip_decompress((char *)z, zlen, 5, &out, &olen), 0);
	ck_assert_str_eq(out, "hello");
	free(out);
}
END_TEST

START_TEST(test_decompress_limits)
{
	char	*zeros, *gz, *out;
	size_t	 n = 64 << 20, gzlen, olen;

	/* 64 MiB of zeros compress to about 64 KiB: a bomb for a 1 MiB limit. */
	zeros = calloc(1, n);
	ck_assert_ptr_nonnull(zeros);
	ck_assert_int_eq(gzip_compress(zeros, n, 9, &gz, &gzlen), 0);
	ck_assert_uint_lt(gzlen, 100000);
	free(zeros);
	out = (char *)1;
	ck_assert_int_eq(gzip_decompress(gz, gzlen, 1 << 20, &out, &olen), -2);
	ck_assert_ptr_null(out);
	ck_assert_uint_eq(olen, 0);
	ck_assert_int_eq(gzip_decompress(gz, gzlen, 0, &out, &olen), -2);
	free(gz);

	/* Exactly at the limit fits; one byte less does not. */
	ck_assert_int_eq(gzip_compress("0123456789", 10, 6, &gz, &gzlen), 0);
	ck_assert_int_eq(gzip_decompress(gz, gzlen, 10, &out, &olen), 0);
	ck_assert_uint_eq(olen, 10);
	free(out);
	ck_assert_int_eq(gzip_decompress(gz, gzlen, 9, &out, &olen), -2);
	free(gz);

	/* Empty content, limit 0. */
	ck_assert_int_eq(gzip_compress("", 0, 6, &gz, &gzlen), 0);
	ck_assert_int_eq(gzip_decompress(gz, gzlen, 0, &out, &olen), 0);
	ck_assert_uint_eq(olen, 0);
	ck_assert_str_eq(out, "");
	free(out);
	free(gz);
}
END_TEST

START_TEST(test_decompress_corrupt)
{
	char	*text, *gz, *out;
	size_t	 gzlen, olen, cut;

	text = make_text(10000);
	ck_assert_int_eq(gzip_compress(text, 10000, 6, &gz, &gzlen), 0);
	/* Truncated anywhere: never success, never a crash. */
	for (cut = 0; cut < gzlen; cut += cut < 40 ? 1 : 97) {
		ck_assert_int_eq(gzip_decompress(gz, cut, 1 << 20, &out, &olen), -1);
		ck_assert_ptr_null(out);
	}
	/* A flipped byte in the trailer (CRC) or in the data. */
	gz[gzlen - 6] ^= 0x55;
	ck_assert_int_eq(gzip_decompress(gz, gzlen, 1 << 20, &out, &olen), -1);
	gz[gzlen - 6] ^= 0x55;
	gz[gzlen / 2] ^= 0xff;
	ck_assert_int_eq(gzip_decompress(gz, gzlen, 1 << 20, &out, &olen), -1);
	ck_assert_int_eq(gzip_decompress("not gzip", 8, 100, &out, &olen), -1);
	ck_assert_int_eq(gzip_decompress("", 0, 100, &out, &olen), -1);
	ck_assert_ptr_null(out);
	free(gz);
	free(text);
}
END_TEST

static Suite *
gzip_suite(void)
{
	Suite	*s = suite_create("gzip");
	TCase	*tc = tcase_create("gzip");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_roundtrip);
	tcase_add_test(tc, test_decompress_members_and_zlib);
	tcase_add_test(tc, test_decompress_limits);
	tcase_add_test(tc, test_decompress_corrupt);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(gzip_suite());
}
