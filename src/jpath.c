/*
 * jpath: dotted field paths, their lookup, and the text of a scalar.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jpath.h"

int
jpath_init(struct jpath *p, const char *s)
{
	const char	*dot;
	size_t		 i, n;

	memset(p, 0, sizeof(*p));
	if (s[0] == '\0' || s[0] == '.' || s[strlen(s) - 1] == '.' ||
	    strstr(s, "..") != NULL)
		return -1;
	for (n = 1, dot = s; (dot = strchr(dot, '.')) != NULL; dot++)
		n++;
	if ((p->full = strdup(s)) == NULL ||
	    (p->segs = calloc(n, sizeof(*p->segs))) == NULL ||
	    (p->seglen = calloc(n, sizeof(*p->seglen))) == NULL)
		goto oom;
	p->nsegs = n;
	p->len = strlen(s);
	for (i = 0; i < n; i++) {
		dot = strchr(s, '.');
		if (dot == NULL)
			dot = s + strlen(s);
		p->seglen[i] = (size_t)(dot - s);
		if ((p->segs[i] = strndup(s, p->seglen[i])) == NULL)
			goto oom;
		s = dot + 1;
	}
	return 0;
oom:
	jpath_free(p);
	return -2;
}

void
jpath_free(struct jpath *p)
{
	size_t	 i;

	if (p->segs != NULL)
		for (i = 0; i < p->nsegs; i++)
			free(p->segs[i]);
	free(p->segs);
	free(p->seglen);
	free(p->full);
	memset(p, 0, sizeof(*p));
}

json_t *
jpath_lookup(json_t *root, const struct jpath *path)
{
	json_t	*v;
	size_t	 i;

	if (!json_is_object(root))
		return NULL;
	if ((v = json_object_getn(root, path->full, path->len)) != NULL ||
	    path->nsegs < 2)
		return v;
	for (i = 0, v = root; i < path->nsegs; i++) {
		if (!json_is_object(v))
			return NULL;
		if ((v = json_object_getn(v, path->segs[i],
		    path->seglen[i])) == NULL)
			return NULL;
	}
	return v;
}

/* An integer's decimal text, as printf's %lld writes it; -1 if no room. */
static int
jpath_decimal(json_int_t i, char *buf, size_t buflen)
{
	char tmp[24], *p = tmp + sizeof(tmp);
	unsigned long long u = i < 0 ? 0ULL - (unsigned long long)i :
	    (unsigned long long)i;
	size_t n;

	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	if (i < 0)
		*--p = '-';
	n = (size_t)(tmp + sizeof(tmp) - p);
	if (n >= buflen)
		return -1;
	memcpy(buf, p, n);
	buf[n] = '\0';
	return (int)n;
}

/*
 * A real as Python's repr() writes it: the fewest significant digits that
 * read back as the same double, fixed notation for exponents -4 to 15,
 * else d.ddde+XX.
 */
static void
jpath_real(double d, char *buf, size_t buflen)
{
	char	 tmp[40], digits[24];
	char	*p, *o;
	size_t	 nd = 0, i;
	int	 prec, exp;

	if (isnan(d) || isinf(d)) {
		snprintf(buf, buflen, "%s", isnan(d) ? "nan" :
		    d > 0 ? "inf" : "-inf");
		return;
	}
	for (prec = 0; prec < 17; prec++) {
		snprintf(tmp, sizeof(tmp), "%.*e", prec, d);
		if (strtod(tmp, NULL) == d)
			break;
	}
	if (prec == 17)
		snprintf(tmp, sizeof(tmp), "%.*e", prec, d);
	/* tmp is [-]D[.DDD]e[+-]XX */
	for (p = tmp; *p != 'e'; p++)
		if (*p >= '0' && *p <= '9')
			digits[nd++] = *p;
	exp = atoi(p + 1);
	while (nd > 1 && digits[nd - 1] == '0')
		nd--;

	o = buf;
#define PUT(ch)	do { if ((size_t)(o - buf) + 1 < buflen) *o++ = (ch); } while (0)
	if (signbit(d))
		PUT('-');
	if (exp < -4 || exp >= 16) {
		PUT(digits[0]);
		if (nd > 1) {
			PUT('.');
			for (i = 1; i < nd; i++)
				PUT(digits[i]);
		}
		*o = '\0';
		snprintf(o, buflen - (size_t)(o - buf), "e%c%02d",
		    exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
		return;
	}
	if (exp < 0) {
		PUT('0');
		PUT('.');
		for (i = 1; i < (size_t)-exp; i++)
			PUT('0');
		for (i = 0; i < nd; i++)
			PUT(digits[i]);
	} else {
		for (i = 0; i < (size_t)exp + 1; i++)
			PUT(i < nd ? digits[i] : '0');
		PUT('.');
		if (nd <= (size_t)exp + 1)
			PUT('0');
		for (; i < nd; i++)
			PUT(digits[i]);
	}
#undef PUT
	*o = '\0';
}

int
jpath_scalar_text(json_t *v, char *buf, size_t buflen, const char **txt,
    size_t *len)
{
	int	 n;

	switch (json_typeof(v)) {
	case JSON_STRING:
		*txt = json_string_value(v);
		*len = json_string_length(v);
		return 0;
	case JSON_INTEGER:
		n = jpath_decimal(json_integer_value(v), buf, buflen);
		break;
	case JSON_REAL:
		jpath_real(json_real_value(v), buf, buflen);
		n = (int)strlen(buf);
		break;
	case JSON_TRUE:
		*txt = "true";
		*len = 4;
		return 0;
	case JSON_FALSE:
		*txt = "false";
		*len = 5;
		return 0;
	default:
		return -1;
	}
	if (n < 0 || (size_t)n >= buflen)
		return -1;
	*txt = buf;
	*len = (size_t)n;
	return 0;
}

int
jpath_lookup_text(json_t *root, const struct jpath *p, char *buf,
    size_t buflen, const char **txt, size_t *len)
{
	json_t	*v;

	if ((v = jpath_lookup(root, p)) == NULL)
		return -1;
	return jpath_scalar_text(v, buf, buflen, txt, len);
}
