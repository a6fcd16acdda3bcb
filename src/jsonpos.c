/*
 * jsonpos: a minimal JSON scanner that walks a path through source text
 * and reports where it ends, as 1-based line and column.  The text has
 * already been accepted by jansson, so the scanner only needs to be right
 * for valid JSON; on anything else it stops without reading out of bounds.
 */
#include <stdint.h>
#include <string.h>

#include <spillway/utf8.h>

#include "jsonpos.h"

struct jp {
	const unsigned char	*p;
	const unsigned char	*end;
	int			 line;	/* of the character at p */
	int			 col;
};

/*
 * Step over one byte.  Columns count characters the way jansson does:
 * continuation bytes of a UTF-8 sequence do not advance the column.
 */
static void
jp_adv(struct jp *jp)
{
	unsigned char	c;

	if (jp->p >= jp->end)
		return;
	c = *jp->p++;
	if (c == '\n') {
		jp->line++;
		jp->col = 1;
	} else if ((c & 0xc0) != 0x80)
		jp->col++;
}

static int
jp_peek(const struct jp *jp)
{
	return jp->p < jp->end ? *jp->p : -1;
}

static void
jp_ws(struct jp *jp)
{
	int	c;

	while ((c = jp_peek(jp)) == ' ' || c == '\t' || c == '\n' || c == '\r')
		jp_adv(jp);
}

static int
jp_hex4(struct jp *jp, uint32_t *out)
{
	uint32_t	v = 0;
	int		i, c;

	for (i = 0; i < 4; i++) {
		c = jp_peek(jp);
		if (c >= '0' && c <= '9')
			v = v * 16 + (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v * 16 + (uint32_t)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v = v * 16 + (uint32_t)(c - 'A' + 10);
		else
			return -1;
		jp_adv(jp);
	}
	*out = v;
	return 0;
}

/*
 * Scan the string at p (which starts with '"') and tell whether its
 * decoded value equals `key` (NULL: just skip it).  Leaves p after the
 * closing quote.
 */
static int
jp_string(struct jp *jp, const char *key)
{
	unsigned char	 buf[4];
	size_t		 keylen = key != NULL ? strlen(key) : 0, i = 0, n;
	uint32_t	 cp, lo;
	int		 eq = key != NULL, c;

	jp_adv(jp);
	while ((c = jp_peek(jp)) != -1 && c != '"') {
		if (c != '\\') {
			buf[0] = (unsigned char)c;
			n = 1;
			jp_adv(jp);
		} else {
			jp_adv(jp);
			c = jp_peek(jp);
			jp_adv(jp);
			n = 1;
			switch (c) {
			case 'b': buf[0] = '\b'; break;
			case 'f': buf[0] = '\f'; break;
			case 'n': buf[0] = '\n'; break;
			case 'r': buf[0] = '\r'; break;
			case 't': buf[0] = '\t'; break;
			case 'u':
				if (jp_hex4(jp, &cp) == -1)
					return 0;
				if (cp >= 0xd800 && cp < 0xdc00 &&
				    jp_peek(jp) == '\\') {
					jp_adv(jp);
					if (jp_peek(jp) != 'u')
						return 0;
					jp_adv(jp);
					if (jp_hex4(jp, &lo) == -1)
						return 0;
					cp = 0x10000 + ((cp - 0xd800) << 10) +
					    (lo - 0xdc00);
				}
				n = utf8_put(cp, buf);
				break;
			default:
				buf[0] = (unsigned char)c;	/* " \ / */
				break;
			}
		}
		if (eq) {
			if (i + n > keylen || memcmp(key + i, buf, n) != 0)
				eq = 0;
			else
				i += n;
		}
	}
	jp_adv(jp);
	return eq && i == keylen;
}

/* Skip one value of any kind; containers without recursion. */
static void
jp_skip(struct jp *jp)
{
	int	c, depth = 0;

	c = jp_peek(jp);
	if (c == '"') {
		jp_string(jp, NULL);
		return;
	}
	if (c == '{' || c == '[') {
		while ((c = jp_peek(jp)) != -1) {
			if (c == '"') {
				jp_string(jp, NULL);
				continue;
			}
			if (c == '{' || c == '[')
				depth++;
			else if (c == '}' || c == ']')
				depth--;
			jp_adv(jp);
			if (depth == 0)
				return;
		}
		return;
	}
	while ((c = jp_peek(jp)) != -1 && c != ',' && c != ']' && c != '}' &&
	    c != ' ' && c != '\t' && c != '\n' && c != '\r')
		jp_adv(jp);
}

int
jsonpos_find(const char *text, size_t len, const struct jsonpos_seg *path,
    size_t depth, int want_key, int *line, int *col)
{
	struct jp	 jp;
	size_t		 d, k;
	int		 found;

	jp.p = (const unsigned char *)text;
	jp.end = jp.p + len;
	jp.line = 1;
	jp.col = 1;

	jp_ws(&jp);
	*line = jp.line;
	*col = jp.col;
	for (d = 0; d < depth; d++) {
		/* line and col hold the start of the value found so far. */
		if (path[d].key != NULL) {
			if (jp_peek(&jp) != '{')
				return -1;
			jp_adv(&jp);
			jp_ws(&jp);
			found = 0;
			while (jp_peek(&jp) == '"') {
				int	kline = jp.line, kcol = jp.col;

				found = jp_string(&jp, path[d].key);
				jp_ws(&jp);
				if (jp_peek(&jp) != ':')
					return -1;
				jp_adv(&jp);
				jp_ws(&jp);
				if (found) {
					if (want_key && d + 1 == depth) {
						*line = kline;
						*col = kcol;
						return 0;
					}
					break;
				}
				jp_skip(&jp);
				jp_ws(&jp);
				if (jp_peek(&jp) != ',')
					return -1;
				jp_adv(&jp);
				jp_ws(&jp);
			}
			if (!found)
				return -1;
		} else {
			if (jp_peek(&jp) != '[')
				return -1;
			jp_adv(&jp);
			jp_ws(&jp);
			for (k = 0; k < path[d].index; k++) {
				if (jp_peek(&jp) == ']' || jp_peek(&jp) == -1)
					return -1;
				jp_skip(&jp);
				jp_ws(&jp);
				if (jp_peek(&jp) != ',')
					return -1;
				jp_adv(&jp);
				jp_ws(&jp);
			}
			if (jp_peek(&jp) == ']' || jp_peek(&jp) == -1)
				return -1;
		}
		*line = jp.line;
		*col = jp.col;
	}
	return 0;
}
