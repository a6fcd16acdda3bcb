/*
 * url: a deliberately small parser for the URLs spillway's sinks take.
 * No allocation but for url_kafka()'s answers, no libevent.
 */
#include <arpa/inet.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "url.h"

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int
url_decode(const char *s, size_t n, char *out, size_t outlen, int plus)
{
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		char c = s[i];

		if (c == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 &&
		    hexval(s[i + 2]) >= 0) {
			c = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
			i += 2;
		} else if (plus && c == '+')
			c = ' ';
		if (o + 1 >= outlen)
			return -1;
		out[o++] = c;
	}
	out[o] = '\0';
	return 0;
}

/* RFC 3986: unreserved, sub-delims, and the extra characters allowed. */
static int
url_char(int c, const char *extra)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || (c != '\0' && strchr("-._~", c)) ||
	    (c != '\0' && strchr("!$&'()*+,;=", c)) ||
	    (c != '\0' && strchr(extra, c));
}

/*
 * Whether s..end is made of url_char(extra) and %XX only; *stop, when
 * not NULL, is set to the first byte that is neither.
 */
static int
url_chars(const char *s, const char *end, const char *extra,
    const char **stop)
{
	while (s < end) {
		if (url_char((unsigned char)*s, extra))
			s++;
		else if (*s == '%' && end - s > 2 && hexval(s[1]) >= 0 &&
		    hexval(s[2]) >= 0)
			s += 3;
		else
			break;
	}
	if (stop != NULL)
		*stop = s;
	return s == end;
}

int
url_parse(const char *s, struct url *u, char *err, size_t errlen)
{
	const char *p, *hostend, *at, *slash, *colon, *end;
	struct in6_addr a6;
	size_t hlen, n;
	long port = 0;

	memset(u, 0, sizeof(*u));
	if (strncmp(s, "http://", 7) == 0)
		p = s + 7;
	else if (strncmp(s, "https://", 8) == 0) {
		p = s + 8;
		u->tls = 1;
	} else {
		snprintf(err, errlen, "sink URL \"%s\": scheme must be http "
		    "or https", s);
		return -1;
	}
	slash = p + strcspn(p, "/?#");
	if ((at = memchr(p, '@', (size_t)(slash - p))) != NULL) {
		if (!url_chars(p, at, ":", NULL))
			goto invalid;
		if (url_decode(p, (size_t)(at - p), u->userinfo,
		    sizeof(u->userinfo), 0) == -1)
			goto toolong;
		p = at + 1;
	}
	/* A port is the digits after the last ':'; none or 0: the default. */
	for (colon = slash; colon > p && colon[-1] >= '0' && colon[-1] <= '9';
	    colon--)
		;
	if (colon > p && colon[-1] == ':') {
		for (end = colon; end < slash; end++) {
			port = port * 10 + (*end - '0');
			if (port > 65535)
				goto invalid;
		}
		colon--;
	} else
		colon = slash;
	if (*p == '[') {
		hostend = colon - 1;
		hlen = (size_t)(hostend - p - 1);
		if (colon - p < 3 || *hostend != ']' || hlen >= sizeof(u->host))
			goto invalid;
		memcpy(u->host, p + 1, hlen);
		u->host[hlen] = '\0';
		if (inet_pton(AF_INET6, u->host, &a6) != 1)
			goto invalid;
	} else {
		hlen = (size_t)(colon - p);
		if (!url_chars(p, colon, "", NULL))
			goto invalid;
		if (hlen >= sizeof(u->host))
			goto toolong;
		memcpy(u->host, p, hlen);
		u->host[hlen] = '\0';
	}
	if (u->host[0] == '\0')
		goto invalid;
	u->port = port > 0 ? (int)port : u->tls ? 443 : 80;
	url_chars(slash, slash + strlen(slash), ":@/", &end);
	if (*end == '?' || *end == '#') {
		snprintf(err, errlen, "sink URL \"%s\": no query or fragment "
		    "allowed", s);
		return -1;
	}
	if (*end != '\0')
		goto invalid;
	n = (size_t)(end - slash);
	while (n > 0 && slash[n - 1] == '/')
		n--;
	if (n >= sizeof(u->prefix))
		goto toolong;
	memcpy(u->prefix, slash, n);
	u->prefix[n] = '\0';
	return 0;
invalid:
	snprintf(err, errlen, "invalid sink URL \"%s\" (expected "
	    "http[s]://[user:pass@]host:port[/prefix])", s);
	return -1;
toolong:
	snprintf(err, errlen, "%.64s...: too long", s);
	return -1;
}

int
url_kafka(const char *s, char **brokers, char **topic, char *err,
    size_t errlen)
{
	const char *p, *slash;

	*brokers = *topic = NULL;
	if (strncmp(s, "kafka://", 8) != 0 ||
	    (slash = strchr(p = s + 8, '/')) == NULL || slash == p ||
	    slash[1] == '\0') {
		snprintf(err, errlen, "Kafka sink URL must be "
		    "kafka://host:port[,host:port...]/TOPIC");
		return -1;
	}
	if ((*brokers = strndup(p, (size_t)(slash - p))) == NULL ||
	    (*topic = strdup(slash + 1)) == NULL) {
		free(*brokers);
		*brokers = NULL;
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

int
url_broker_next(const char **list, char *host, size_t hostlen, char *port,
    size_t portlen)
{
	const char *b, *colon;
	size_t n;

	while (**list != '\0') {
		b = *list;
		n = strcspn(b, ",");
		*list = b[n] == ',' ? b + n + 1 : b + n;
		for (colon = b + n; colon > b && colon[-1] != ':'; colon--)
			;
		if (colon == b)
			continue;
		snprintf(host, hostlen, "%.*s", (int)(colon - 1 - b), b);
		snprintf(port, portlen, "%.*s", (int)(b + n - colon), colon);
		return 1;
	}
	return 0;
}

const char *
url_redact(const char *s, char *buf, size_t len)
{
	const char *scheme = strstr(s, "://"), *at, *colon, *end;

	if (scheme == NULL)
		return s;
	end = scheme + 3 + strcspn(scheme + 3, "/?#");
	at = memchr(scheme + 3, '@', (size_t)(end - scheme - 3));
	colon = at ? memchr(scheme + 3, ':', (size_t)(at - scheme - 3)) : NULL;
	if (colon == NULL)
		return s;
	snprintf(buf, len, "%.*s:***%s", (int)(colon - s), s, at);
	return buf;
}

char *
url_authorization(const char *api_key, const char *userinfo, int *none)
{
	size_t n, olen;
	char *out;

	*none = 0;
	if (api_key != NULL) {
		olen = 7 + strlen(api_key) + 1;
		if ((out = malloc(olen)) != NULL)
			snprintf(out, olen, "ApiKey %s", api_key);
		return out;
	}
	if (userinfo == NULL || *userinfo == '\0') {
		*none = 1;
		return NULL;
	}
	n = strlen(userinfo);
	olen = 6 + 4 * ((n + 2) / 3) + 1;
	if ((out = malloc(olen)) == NULL)
		return NULL;
	memcpy(out, "Basic ", 6);
	EVP_EncodeBlock((unsigned char *)out + 6, (const unsigned char *)userinfo,
	    (int)n);
	return out;
}
