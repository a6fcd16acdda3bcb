/*
 * url: a deliberately small parser for the URLs spillway's sinks take.
 */
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

int
url_parse(const char *s, struct url *u, char *err, size_t errlen)
{
	const char *p, *hostend, *at, *slash, *colon;
	size_t hlen;
	long port;
	char *end;

	memset(u, 0, sizeof(*u));
	if (strncmp(s, "http://", 7) == 0)
		p = s + 7;
	else if (strncmp(s, "https://", 8) == 0) {
		p = s + 8;
		u->tls = 1;
	} else {
		snprintf(err, errlen, "%s: expected http:// or https://", s);
		return -1;
	}
	slash = p + strcspn(p, "/?#");
	at = memchr(p, '@', (size_t)(slash - p));
	if (at != NULL) {
		if (url_decode(p, (size_t)(at - p), u->userinfo,
		    sizeof(u->userinfo), 0) == -1)
			goto toolong;
		p = at + 1;
	}
	if (*p == '[') {
		if ((hostend = memchr(p, ']', (size_t)(slash - p))) == NULL) {
			snprintf(err, errlen, "%s: unterminated [address]", s);
			return -1;
		}
		hlen = (size_t)(hostend - p - 1);
		if (hlen >= sizeof(u->host))
			goto toolong;
		memcpy(u->host, p + 1, hlen);
		colon = hostend + 1 < slash && hostend[1] == ':' ?
		    hostend + 1 : NULL;
	} else {
		colon = memchr(p, ':', (size_t)(slash - p));
		hlen = (size_t)((colon ? colon : slash) - p);
		if (hlen >= sizeof(u->host))
			goto toolong;
		memcpy(u->host, p, hlen);
	}
	u->host[hlen] = '\0';
	if (u->host[0] == '\0') {
		snprintf(err, errlen, "%s: no host", s);
		return -1;
	}
	u->port = u->tls ? 443 : 9200;
	if (colon != NULL) {
		port = strtol(colon + 1, &end, 10);
		if (end != slash || port < 1 || port > 65535) {
			snprintf(err, errlen, "%s: bad port", s);
			return -1;
		}
		u->port = (int)port;
	}
	if (*slash == '/') {
		size_t n = strcspn(slash, "?#");

		while (n > 0 && slash[n - 1] == '/')
			n--;
		if (n >= sizeof(u->prefix))
			goto toolong;
		memcpy(u->prefix, slash, n);
		u->prefix[n] = '\0';
	}
	return 0;
toolong:
	snprintf(err, errlen, "%.64s...: too long", s);
	return -1;
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
