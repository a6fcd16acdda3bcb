/*
 * url: the parts of an http(s) sink URL.
 */
#ifndef SPILLWAY_URL_H
#define SPILLWAY_URL_H

#include <stddef.h>

struct url {
	int	 tls;		/* https */
	char	 host[256];
	int	 port;		/* 9200 when absent */
	char	 prefix[256];	/* "" or "/path" without a trailing '/' */
	char	 userinfo[256];	/* "user:pass" (decoded) or "" */
};

/*
 * Parse http[s]://[user:pass@]host[:port][/prefix].  Returns 0, or -1
 * with a message in err.
 */
int	url_parse(const char *s, struct url *u, char *err, size_t errlen);

/*
 * The Authorization value spillway sends to the cluster: "ApiKey KEY" for
 * sink.api_key, else "Basic ..." of userinfo ("user:pass", decoded; NULL
 * or "" for none).  A malloc'ed string; NULL when there is none (*none
 * set to 1) or no memory.
 */
char	*url_authorization(const char *api_key, const char *userinfo,
	    int *none);

/*
 * Percent-decode n bytes of s into out (outlen bytes, NUL-terminated);
 * with plus, '+' decodes to a space (query strings).  0, or -1 when out
 * is too small.
 */
int	url_decode(const char *s, size_t n, char *out, size_t outlen,
	    int plus);

#endif
