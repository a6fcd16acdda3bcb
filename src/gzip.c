/*
 * gzip: request bodies compressed and inflated in memory, with zlib.
 * Pure: no I/O; the caller owns what comes back.
 */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "gzip.h"

/*
 * Before each call into zlib: the next slice of the input (*inleft bytes
 * left of it), and room for output after the len bytes of *buf, growing
 * it (cap bytes now, one more kept for a NUL) by doubling up to limit.
 * The room is *avail bytes.  0; -1 without memory; -2 when the output is
 * at limit already.
 */
static int
gzip_room(z_stream *zs, size_t *inleft, char **buf, size_t *cap, size_t len,
    size_t limit, size_t *avail)
{
	size_t chunk;
	char *nb;

	if (zs->avail_in == 0 && *inleft > 0) {
		chunk = *inleft < UINT_MAX ? *inleft : UINT_MAX;
		zs->avail_in = (uInt)chunk;
		*inleft -= chunk;
	}
	if (len == *cap) {
		if (*cap >= limit)
			return -2;
		*cap = *cap < limit / 2 ? *cap * 2 : limit;
		if ((nb = realloc(*buf, *cap + 1)) == NULL)
			return -1;
		*buf = nb;
	}
	*avail = *cap - len < UINT_MAX ? *cap - len : UINT_MAX;
	zs->next_out = (Bytef *)*buf + len;
	zs->avail_out = (uInt)*avail;
	return 0;
}

int
gzip_decompress(const char *in, size_t inlen, size_t max_out, char **out,
    size_t *outlen)
{
	z_stream	 zs;
	char		*buf = NULL;
	size_t		 cap, len = 0, limit, inleft = inlen, avail;
	int		 zr, rc = -1, inited = 0;

	*out = NULL;
	*outlen = 0;
	memset(&zs, 0, sizeof(zs));
	if (inflateInit2(&zs, 15 + 32) != Z_OK)
		goto fail;
	inited = 1;
	/* Room for one byte past max_out tells a bomb from a fit. */
	limit = max_out < SIZE_MAX - 1 ? max_out + 1 : SIZE_MAX - 1;
	cap = inlen < SIZE_MAX / 4 ? inlen * 4 : SIZE_MAX;
	if (cap < 4096)
		cap = 4096;
	if (cap > limit)
		cap = limit;
	if ((buf = malloc(cap + 1)) == NULL)
		goto fail;
	zs.next_in = (Bytef *)(uintptr_t)in;
	for (;;) {
		if ((rc = gzip_room(&zs, &inleft, &buf, &cap, len, limit,
		    &avail)) != 0)
			goto fail;
		rc = -1;
		zr = inflate(&zs, Z_NO_FLUSH);
		len += avail - zs.avail_out;
		if (len > max_out) {
			rc = -2;
			goto fail;
		}
		if (zr == Z_STREAM_END) {
			if (zs.avail_in == 0 && inleft == 0)
				break;
			/* Another gzip member follows. */
			if (inflateReset(&zs) != Z_OK)
				goto fail;
		} else if (zr == Z_BUF_ERROR) {
			/* No progress: output full (grown above) or input cut short. */
			if (zs.avail_in == 0 && inleft == 0)
				goto fail;
		} else if (zr != Z_OK)
			goto fail;
	}
	buf[len] = '\0';
	*out = buf;
	*outlen = len;
	buf = NULL;
	rc = 0;
fail:
	if (inited)
		inflateEnd(&zs);
	free(buf);
	return rc;
}

int
gzip_compress(const char *in, size_t inlen, int level, char **out,
    size_t *outlen)
{
	z_stream	 zs;
	char		*buf = NULL;
	size_t		 cap, len = 0, inleft = inlen, avail;
	int		 zr, rc = -1, inited = 0;

	*out = NULL;
	*outlen = 0;
	if (level < -1 || level > 9)
		return -1;
	memset(&zs, 0, sizeof(zs));
	if (deflateInit2(&zs, level, Z_DEFLATED, 15 + 16, 8,
	    Z_DEFAULT_STRATEGY) != Z_OK)
		goto fail;
	inited = 1;
	cap = deflateBound(&zs, inlen < ULONG_MAX ? inlen : ULONG_MAX);
	if ((buf = malloc(cap + 1)) == NULL)
		goto fail;
	zs.next_in = (Bytef *)(uintptr_t)in;
	for (;;) {
		if (gzip_room(&zs, &inleft, &buf, &cap, len, SIZE_MAX - 1,
		    &avail) != 0)
			goto fail;
		zr = deflate(&zs, inleft == 0 ? Z_FINISH : Z_NO_FLUSH);
		len += avail - zs.avail_out;
		if (zr == Z_STREAM_END)
			break;
		if (zr != Z_OK && zr != Z_BUF_ERROR)
			goto fail;
	}
	buf[len] = '\0';
	*out = buf;
	*outlen = len;
	buf = NULL;
	rc = 0;
fail:
	if (inited)
		deflateEnd(&zs);
	free(buf);
	return rc;
}
