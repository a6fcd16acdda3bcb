/*
 * fuzz_gzip: gzip_decompress() and gzip_compress() (src/gzip.c).
 *
 * The first byte of the input picks a small output limit (max_out, 0 to
 * 64 KiB) and a compression level; the rest is the data.  Checked:
 *   - gzip_decompress() of the data, as an HTTP body would come, returns 0,
 *     -1 or -2, with *out NULL on failure and NUL-terminated on success;
 *     its answer is that of a reference inflate written here (zlib fed one
 *     byte at a time, members joined, nothing after the last), and on
 *     success the bytes are the reference's: -2 exactly when more than
 *     max_out bytes would come out, -1 when the data is corrupt or
 *     truncated within the limit;
 *   - a round trip: gzip_compress() of the data at the level, then
 *     gzip_decompress() with max_out the data's length, gives the data back;
 *     with one byte less it is -2.
 */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "gzip.h"

#include "fuzz.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

/*
 * The reference: inflate with a window of 15 bits and header detection
 * (gzip or zlib), the input given one byte at a time, a new member after
 * each end while input is left.  Returns 0 with the output, -1 when the
 * data does not end a member cleanly, or -2 when the output exceeds
 * max_out (before either).
 */
static int
ref_gunzip(const unsigned char *in, size_t inlen, size_t max_out,
    unsigned char **out, size_t *outlen)
{
	unsigned char *buf, chunk[512];
	size_t len = 0, cap = 1024, pos = 0, got;
	z_stream zs;
	int zr, rc;

	*out = NULL;
	*outlen = 0;
	if ((buf = malloc(cap)) == NULL)
		abort();
	memset(&zs, 0, sizeof(zs));
	if (inflateInit2(&zs, 15 + 32) != Z_OK)
		abort();
	for (;;) {
		if (zs.avail_in == 0 && pos < inlen) {
			zs.next_in = (unsigned char *)(uintptr_t)(in + pos++);
			zs.avail_in = 1;
		}
		zs.next_out = chunk;
		zs.avail_out = sizeof(chunk);
		zr = inflate(&zs, Z_NO_FLUSH);
		got = sizeof(chunk) - zs.avail_out;
		while (len + got > cap)
			if ((buf = realloc(buf, cap *= 2)) == NULL)
				abort();
		memcpy(buf + len, chunk, got);
		len += got;
		if (len > max_out) {
			rc = -2;
			break;
		}
		if (zr == Z_STREAM_END) {
			if (zs.avail_in == 0 && pos == inlen) {
				rc = 0;
				break;
			}
			if (inflateReset(&zs) != Z_OK)	/* the next member */
				abort();
			continue;
		}
		if (zr == Z_OK)
			continue;
		if (zr == Z_BUF_ERROR && (zs.avail_in > 0 || pos < inlen))
			continue;
		rc = -1;	/* corrupt, or the input ran out mid-member */
		break;
	}
	inflateEnd(&zs);
	if (rc == 0) {
		*out = buf;
		*outlen = len;
	} else
		free(buf);
	return rc;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t limits[] = { 0, 1, 15, 100, 1000, 4096, 8192, 65536 };
	unsigned char *ref;
	const char *in;
	char *out, *z, *back;
	size_t inlen, max_out, outlen, reflen, zlen, blen;
	int rc, want, level;

	if (size < 1 || size > 1 << 16)
		return 0;
	max_out = limits[data[0] & 7];
	level = (int)((data[0] >> 3) % 11) - 1;		/* -1 .. 9 */
	in = (const char *)data + 1;
	inlen = size - 1;

	rc = gzip_decompress(in, inlen, max_out, &out, &outlen);
	want = ref_gunzip((const unsigned char *)in, inlen, max_out, &ref,
	    &reflen);
	if (rc != want) {
		fuzz_dump("data", in, inlen);
		fuzz_fail("gzip_decompress() says %d, the reference %d (max_out "
		    "%zu)", rc, want, max_out);
	}
	if (rc == 0) {
		FUZZ_CHECK(out != NULL && outlen <= max_out &&
		    out[outlen] == '\0', "gzip_decompress(): out %p, %zu bytes",
		    (void *)out, outlen);
		FUZZ_CHECK(outlen == reflen && memcmp(out, ref, outlen) == 0,
		    "gzip_decompress(): %zu bytes, not the reference's %zu",
		    outlen, reflen);
	} else
		FUZZ_CHECK(out == NULL && outlen == 0,
		    "gzip_decompress() failed with output");
	free(out);
	free(ref);

	/* Round trip. */
	FUZZ_CHECK(gzip_compress(in, inlen, level, &z, &zlen) == 0 && z != NULL,
	    "gzip_compress() at level %d", level);
	rc = gzip_decompress(z, zlen, inlen, &back, &blen);
	FUZZ_CHECK(rc == 0 && blen == inlen && memcmp(back, in, inlen) == 0,
	    "round trip at level %d: %d, %zu bytes of %zu", level, rc, blen,
	    inlen);
	free(back);
	if (inlen > 0) {
		rc = gzip_decompress(z, zlen, inlen - 1, &back, &blen);
		FUZZ_CHECK(rc == -2 && back == NULL, "gzip_decompress() with a "
		    "limit one short: %d", rc);
	}
	/* Cut short by a byte: corrupt, never the data. */
	if (zlen > 0) {
		rc = gzip_decompress(z, zlen - 1, inlen, &back, &blen);
		FUZZ_CHECK(rc == -1 && back == NULL, "gzip_decompress() of a "
		    "member cut short: %d", rc);
	}
	free(z);
	FUZZ_CHECK(gzip_compress(in, inlen, 10, &z, &zlen) == -1 && z == NULL,
	    "gzip_compress() took level 10");
	return 0;
}
