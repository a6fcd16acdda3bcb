/*
 * url: the one parser of the URLs spillway takes: http(s) sinks (and
 * the pass-through to them), kafka:// sinks, and their redaction for logs.
 */
#ifndef SPILLWAY_URL_H
#define SPILLWAY_URL_H

#include <stddef.h>

struct url {
	int	 tls;		/* https */
	char	 host[256];	/* an IPv6 address without its [] */
	int	 port;		/* 80, or 443 with tls, when absent or 0 */
	char	 prefix[1024];	/* "" or "/path" without a trailing '/' */
	char	 userinfo[1024];/* "user:pass" (decoded) or "" */
};

/*
 * Parse http[s]://[user:pass@]host[:port][/prefix] as RFC 3986 has it
 * (what libevent's evhttp_uri_parse() accepts): only the characters it
 * allows, %XX escapes, an IPv6 address in [], no query or fragment.
 * Returns 0, or -1 with a message in err.
 */
int	url_parse(const char *s, struct url *u, char *err, size_t errlen);

/*
 * Parse kafka://BROKERS/TOPIC: *brokers ("host:port[,host:port...]") and
 * *topic, both malloc'ed and not empty; the topic is not checked here.
 * Returns 0, or -1 with a message in err (nothing to free).
 */
int	url_kafka(const char *s, char **brokers, char **topic, char *err,
	    size_t errlen);

/*
 * The next broker of a list from url_kafka(), at *list: its host and
 * port, split at the last ':', into host and port (NUL-terminated, cut
 * to their sizes).  Moves *list past it.  Returns 1, or 0 at the end of
 * the list.  A broker without a port is skipped.
 */
int	url_broker_next(const char **list, char *host, size_t hostlen,
	    char *port, size_t portlen);

/*
 * s with the password of its userinfo (scheme://user:PASS@...) replaced
 * by "***", written to buf (len bytes) when there is one.  Returns s when
 * there is nothing to hide, else buf.
 */
const char *url_redact(const char *s, char *buf, size_t len);

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
