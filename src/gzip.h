/*
 * gzip: whole bodies compressed and inflated in memory (zlib), for the
 * HTTP listener's Content-Encoding: gzip requests and the Elasticsearch
 * sink's compressed bulk bodies.  No I/O.
 */
#ifndef SPILLWAY_GZIP_H
#define SPILLWAY_GZIP_H

#include <stddef.h>

/*
 * Inflate a gzip or zlib body (auto-detected; concatenated gzip members
 * are joined).  On success returns 0 with a malloc'ed buffer in *out
 * (NUL-terminated, the NUL not counted in *outlen).  Returns -1 when
 * the data is corrupt or truncated, and -2 as soon as the output would
 * exceed max_out bytes (a zip bomb: the caller answers 413); *out is
 * NULL on failure.
 */
int	gzip_decompress(const char *in, size_t inlen, size_t max_out,
	    char **out, size_t *outlen);

/*
 * Compress in as a single gzip member at level (0-9, or -1 for zlib's
 * default).  Returns 0 with a malloc'ed buffer in *out, or -1 on an
 * invalid level or allocation failure.
 */
int	gzip_compress(const char *in, size_t inlen, int level, char **out,
	    size_t *outlen);

#endif
