/*
 * fuzz_config: config_load() (src/config.c) on arbitrary files.
 *
 * config_load() takes a path, so the input is written to a memfd once
 * per input and read back as /proc/self/fd/N (no file under /tmp to
 * clean up; the descriptor is made once per run and truncated each
 * time).  Checked:
 *   - success or failure, nothing else: a config, or NULL with an error
 *     "PATH:LINE:COL: message" or "PATH: message", NUL-terminated even in
 *     a small buffer;
 *   - when the file is valid JSON (the error is the loader's, not
 *     jansson's), LINE:COL lands on a JSON value or key of the file, as
 *     jsonpos_find() promises;
 *   - a config read has what src/config.h promises: "ack" sink or admit
 *     (and ack_sink saying which), the Elasticsearch version one that
 *     config_es_version() takes, "action" index or create when given,
 *     compression none or gzip when given; config_free() takes it.
 */
#include <sys/mman.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "config.h"

#include "fuzz.h"

static int	memfd = -1;
static char	path[64];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if ((memfd = memfd_create("spillway-fuzz-config", MFD_CLOEXEC)) == -1) {
		perror("fuzz_config: memfd_create");
		abort();
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", memfd);
	return 0;
}

static int
byte_at(const char *text, size_t len, int line, int col)
{
	const unsigned char *p = (const unsigned char *)text;
	int l = 1, c = 1;
	size_t i;

	for (i = 0; i < len; i++) {
		if ((p[i] & 0xc0) == 0x80)
			continue;
		if (l == line && c == col)
			return p[i];
		if (p[i] == '\n') {
			l++;
			c = 1;
		} else
			c++;
	}
	return -1;
}

static void
check_error(const char *text, size_t len, const char *err, size_t errlen)
{
	size_t plen = strlen(path);
	json_t *root;
	int line, col, n = 0, b;

	FUZZ_CHECK(memchr(err, '\0', errlen) != NULL, "config: an error "
	    "without its NUL");
	FUZZ_CHECK(strncmp(err, path, plen) == 0 && err[plen] == ':',
	    "config: the error does not start with the path: %s", err);
	if (sscanf(err + plen, ":%d:%d: %n", &line, &col, &n) != 2 || n == 0) {
		FUZZ_CHECK(err[plen + 1] == ' ' && err[plen + 2] != '\0',
		    "config: an error of no known form: %s", err);
		return;
	}
	FUZZ_CHECK(line >= 1 && col >= 0 && err[plen + (size_t)n] != '\0',
	    "config: error at %d:%d: %s", line, col, err);
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
	if (root == NULL)
		return;		/* jansson's own position */
	json_decref(root);
	if (line == 1 && col == 1)
		return;		/* the start: a fallback as good as any */
	b = byte_at(text, len, line, col);
	if (b == -1 || strchr("{[\"-0123456789tfn", b) == NULL) {
		fuzz_dump("config", text, len);
		fuzz_fail("config error at %d:%d, on byte %d, not a value or "
		    "a key: %s", line, col, b, err);
	}
}

static void
check_config(const struct config *cf)
{
	FUZZ_CHECK(cf->ack != NULL && (strcmp(cf->ack, "sink") == 0 ||
	    strcmp(cf->ack, "admit") == 0) &&
	    cf->ack_sink == (strcmp(cf->ack, "sink") == 0),
	    "config: ack \"%s\", ack_sink %d", cf->ack ? cf->ack : "(null)",
	    cf->ack_sink);
	FUZZ_CHECK(cf->http_es_version != NULL &&
	    config_es_version(cf->http_es_version) >= 7 &&
	    config_es_version(cf->http_es_version) <= 9,
	    "config: es_version \"%s\"", cf->http_es_version ?
	    cf->http_es_version : "(null)");
	FUZZ_CHECK(cf->sink_action == NULL ||
	    strcmp(cf->sink_action, "index") == 0 ||
	    strcmp(cf->sink_action, "create") == 0,
	    "config: action \"%s\"", cf->sink_action);
	FUZZ_CHECK(cf->sink_compression == NULL ||
	    strcmp(cf->sink_compression, "gzip") == 0 ||
	    strcmp(cf->sink_compression, "none") == 0,
	    "config: compression \"%s\"", cf->sink_compression);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config *cf;
	char err[512], small[24];
	size_t off;
	ssize_t n;

	if (size > 1 << 16)
		return 0;
	if (ftruncate(memfd, 0) == -1 || lseek(memfd, 0, SEEK_SET) == -1)
		abort();
	for (off = 0; off < size; off += (size_t)n)
		if ((n = write(memfd, data + off, size - off)) <= 0)
			abort();

	memset(err, 0x5a, sizeof(err));
	if ((cf = config_load(path, err, sizeof(err))) == NULL)
		check_error((const char *)data, size, err, sizeof(err));
	else {
		check_config(cf);
		config_free(cf);
	}
	/* The same file, the error cut to a small buffer. */
	memset(small, 0x5a, sizeof(small));
	if ((cf = config_load(path, small, sizeof(small))) == NULL)
		FUZZ_CHECK(memchr(small, '\0', sizeof(small)) != NULL,
		    "config: no NUL in a small error buffer");
	config_free(cf);
	return 0;
}
