/*
 * rules: compile a rules file (SPEC §3) into an immutable rule set.
 *
 * The loader walks the parsed JSON while keeping the path it is at, so that
 * any semantic error can be placed in the source text with jsonpos.  The
 * first error stops the load; nothing of a refused set survives.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "jsonpos.h"
#include "rules.h"

#define RULES_FILE_MAX		(64 * 1024 * 1024)
#define RULES_ANY_DEPTH		16	/* nesting of "any" */
#define RULES_PATH_DEPTH	(8 + 2 * RULES_ANY_DEPTH)
#define RULES_KEYS_DEFAULT	10000
#define RULES_KEYS_MAX		100000000
#define RULES_AGE_MAX		86400000	/* max_age_ms: a day */

/* The rules used without a rules file; rules/default.json says the same. */
static const char rules_builtin_text[] =
    "{\n"
    "\t\"classes\": [],\n"
    "\t\"default\": { \"name\": \"default\" }\n"
    "}\n";

enum rules_kind {
	KIND_CLASS,
	KIND_DEFAULT,
	KIND_INVALID
};

struct loader {
	const char		*text;
	size_t			 len;
	struct rules_error	*err;
	size_t			 nerr;		/* errors found so far */
	struct jsonpos_seg	 path[RULES_PATH_DEPTH];
	size_t			 depth;
	char			 label[96];	/* "class \"x\": " or "" */
};

static void	 rules_cond_free(struct cond *);
static void	 rules_class_free(struct rule_class *);
static int	 rules_cond(struct loader *, json_t *, struct cond *, int);
static void	 rules_collect_paths(struct ruleset *);

static void
ld_push_key(struct loader *ld, const char *key)
{
	ld->path[ld->depth].key = key;
	ld->path[ld->depth].index = 0;
	ld->depth++;
}

static void
ld_push_index(struct loader *ld, size_t index)
{
	ld->path[ld->depth].key = NULL;
	ld->path[ld->depth].index = index;
	ld->depth++;
}

static void
ld_pop(struct loader *ld)
{
	ld->depth--;
}

/*
 * Record an error at the current path, extended by `key` when not NULL
 * (pointing at the key itself with `at_key`, else at its value), with the
 * class label in front.  Returns -1 so callers can `return ld_error(...)`.
 */
static int
ld_error(struct loader *ld, const char *key, int at_key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
ld_error(struct loader *ld, const char *key, int at_key, const char *fmt, ...)
{
	struct rules_error *e = ld->err;
	va_list	 ap;
	size_t	 n, msglen;
	int	*line, *col;
	char	*msg;

	if (ld->nerr++ == 0) {
		line = &e->line;
		col = &e->col;
		msg = e->msg;
		msglen = sizeof(e->msg);
	} else if (e->nmore < RULES_ERRORS_MAX - 1) {
		line = &e->more[e->nmore].line;
		col = &e->more[e->nmore].col;
		msg = e->more[e->nmore].msg;
		msglen = sizeof(e->more[e->nmore].msg);
		e->nmore++;
	} else {
		e->untold++;
		return -1;
	}
	if (key != NULL)
		ld_push_key(ld, key);
	jsonpos_find(ld->text, ld->len, ld->path, ld->depth, at_key,
	    line, col);
	if (key != NULL)
		ld_pop(ld);
	n = (size_t)snprintf(msg, msglen, "%s", ld->label);
	if (n < msglen) {
		va_start(ap, fmt);
		vsnprintf(msg + n, msglen - n, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static int
ld_oom(struct loader *ld)
{
	return ld_error(ld, NULL, 0, "out of memory");
}

/* Text of a string for a message: bounded, and without quotes breaking. */
static const char *
ld_quote(const char *s, char *buf, size_t len)
{
	size_t	 i, o = 0;

	for (i = 0; s[i] != '\0' && o + 5 < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\') {
			buf[o++] = '\\';
			buf[o++] = (char)c;
		} else if (c < 0x20 || c == 0x7f)
			o += (size_t)snprintf(buf + o, len - o, "\\x%02x", c);
		else
			buf[o++] = (char)c;
	}
	if (s[i] != '\0' && o + 4 <= len) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o] = '\0';
	return buf;
}

static int
rules_name_ok(const char *s)
{
	size_t	 n;

	for (n = 0; s[n] != '\0'; n++)
		if (!((s[n] >= 'a' && s[n] <= 'z') ||
		    (s[n] >= '0' && s[n] <= '9') || s[n] == '_'))
			return 0;
	return n >= 1 && n <= RULES_NAME_MAX;
}

static int
rules_path_parse(struct loader *ld, const char *key, json_t *v,
    struct jpath *p)
{
	char		 q[80];
	const char	*s;

	if (!json_is_string(v))
		return ld_error(ld, key, 0, "\"%s\" must be a string", key);
	s = json_string_value(v);
	if (json_string_length(v) != strlen(s))
		return ld_error(ld, key, 0, "invalid field path \"%s\"",
		    ld_quote(s, q, sizeof(q)));
	switch (jpath_init(p, s)) {
	case -1:
		return ld_error(ld, key, 0, "invalid field path \"%s\"",
		    ld_quote(s, q, sizeof(q)));
	case -2:
		return ld_oom(ld);
	}
	return 0;
}


/* Compile the regex found under `key` of the current condition. */
static int
rules_regex(struct loader *ld, const char *key, json_t *v, const char *flags,
    struct cond *c)
{
	PCRE2_UCHAR	 msg[256];
	PCRE2_SIZE	 off;
	uint32_t	 opts = PCRE2_UTF | PCRE2_MATCH_INVALID_UTF;
	size_t		 jitsize = 0;
	int		 code;

	if (!json_is_string(v))
		return ld_error(ld, key, 0, "\"%s\" must be a string", key);
	if (strchr(flags, 'i') != NULL)
		opts |= PCRE2_CASELESS;
	if (strchr(flags, 'm') != NULL)
		opts |= PCRE2_MULTILINE;
	if (strchr(flags, 's') != NULL)
		opts |= PCRE2_DOTALL;
	if (strchr(flags, 'x') != NULL)
		opts |= PCRE2_EXTENDED;
	c->patlen = json_string_length(v);
	if ((c->pattern = malloc(c->patlen + 1)) == NULL)
		return ld_oom(ld);
	memcpy(c->pattern, json_string_value(v), c->patlen + 1);
	c->re = pcre2_compile((PCRE2_SPTR)c->pattern, c->patlen, opts, &code,
	    &off, NULL);
	if (c->re == NULL) {
		if (pcre2_get_error_message(code, msg, sizeof(msg)) < 0)
			snprintf((char *)msg, sizeof(msg), "error %d", code);
		return ld_error(ld, key, 0, "regex error at offset %zu: %s",
		    (size_t)off, (char *)msg);
	}
	/* Without JIT support the interpreter serves, silently. */
	if (pcre2_jit_compile(c->re, PCRE2_JIT_COMPLETE) == 0 &&
	    pcre2_pattern_info(c->re, PCRE2_INFO_JITSIZE, &jitsize) == 0 &&
	    jitsize > 0)
		c->jit = 1;
	return 0;
}

static int
rules_cond_list(struct loader *ld, const char *key, json_t *v,
    struct cond **list, size_t *n, int level, int nonempty)
{
	size_t	 i;

	if (!json_is_array(v) || (nonempty && json_array_size(v) == 0))
		return ld_error(ld, key, 0, "\"%s\" must be a %slist of "
		    "conditions", key, nonempty ? "non-empty " : "");
	if (json_array_size(v) == 0)
		return 0;
	if ((*list = calloc(json_array_size(v), sizeof(**list))) == NULL)
		return ld_oom(ld);
	ld_push_key(ld, key);
	for (i = 0; i < json_array_size(v); i++) {
		ld_push_index(ld, i);
		*n = i + 1;
		if (rules_cond(ld, json_array_get(v, i), &(*list)[i],
		    level) == -1)
			return -1;
		ld_pop(ld);
	}
	ld_pop(ld);
	return 0;
}

/* One condition; the loader's path points at it. */
static int
rules_cond(struct loader *ld, json_t *obj, struct cond *c, int level)
{
#define F	(1u << COND_FIELD)
#define R	(1u << COND_RAW)
#define A	(1u << COND_ANY)
	/* The keys of a condition: what kind each makes, who may use it. */
	static const struct {
		const char	*key;
		int		 kind;		/* -1: not a kind */
		unsigned	 allowed;	/* bit per enum cond_kind */
	} known[] = {
		{ "field",	COND_FIELD,	F },
		{ "raw",	COND_RAW,	R },
		{ "any",	COND_ANY,	A },
		{ "regex",	-1,		F },
		{ "flags",	-1,		F | R },
		{ "negate",	-1,		F | R | A }
	};
#undef F
#undef R
#undef A
	static const char *const kindname[] = {
		[COND_FIELD] = "field", [COND_RAW] = "raw", [COND_ANY] = "any"
	};
	char		 q[80], flags[8] = "";
	const char	*key;
	json_t		*v;
	size_t		 i, nf;
	int		 kind = -1;

	if (!json_is_object(obj))
		return ld_error(ld, NULL, 0, "a condition must be an object");
	if (level > RULES_ANY_DEPTH)
		return ld_error(ld, NULL, 0, "conditions nested too deeply "
		    "(\"any\" deeper than %d)", RULES_ANY_DEPTH);

	json_object_foreach(obj, key, v) {
		for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
			if (strcmp(key, known[i].key) == 0)
				break;
		if (i == sizeof(known) / sizeof(known[0]))
			return ld_error(ld, key, 1, "unknown key \"%s\"",
			    ld_quote(key, q, sizeof(q)));
		if (known[i].kind == -1)
			continue;
		if (kind != -1)
			return ld_error(ld, key, 1, "a condition takes only "
			    "one of \"field\", \"raw\", \"any\"");
		kind = known[i].kind;
	}
	if (kind == -1)
		return ld_error(ld, NULL, 0,
		    "a condition needs \"field\", \"raw\" or \"any\"");
	c->kind = (enum cond_kind)kind;

	/* Keys that make no sense with this kind of condition. */
	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if ((known[i].allowed & (1u << kind)) == 0 &&
		    json_object_get(obj, known[i].key) != NULL)
			return ld_error(ld, known[i].key, 1, "key \"%s\" is "
			    "not allowed in a \"%s\" condition", known[i].key,
			    kindname[kind]);

	if ((v = json_object_get(obj, "negate")) != NULL) {
		if (!json_is_boolean(v))
			return ld_error(ld, "negate", 0,
			    "\"negate\" must be true or false");
		c->negate = json_is_true(v);
	}
	if ((v = json_object_get(obj, "flags")) != NULL) {
		const char	*s = json_is_string(v) ?
		    json_string_value(v) : NULL;

		if (s == NULL || strspn(s, "imsx") != json_string_length(v))
			return ld_error(ld, "flags", 0, "\"flags\" may only "
			    "hold the letters i, m, s and x");
		/* Kept once each, in a fixed order, for display. */
		for (i = 0, nf = 0; i < 4; i++)
			if (strchr(s, "imsx"[i]) != NULL)
				flags[nf++] = "imsx"[i];
		flags[nf] = '\0';
	}
	memcpy(c->flags, flags, sizeof(c->flags));

	switch (c->kind) {
	case COND_ANY:
		return rules_cond_list(ld, "any", json_object_get(obj, "any"),
		    &c->any, &c->nany, level + 1, 1);
	case COND_RAW:
		return rules_regex(ld, "raw", json_object_get(obj, "raw"),
		    flags, c);
	case COND_FIELD:
		break;
	}
	if (rules_path_parse(ld, "field", json_object_get(obj, "field"),
	    &c->path) == -1)
		return -1;
	if ((v = json_object_get(obj, "regex")) == NULL)
		return ld_error(ld, NULL, 0, "a \"field\" condition needs "
		    "\"regex\"");
	return rules_regex(ld, "regex", v, flags, c);
}

static void
rules_cond_free(struct cond *c)
{
	size_t	 i;

	if (c == NULL)
		return;
	jpath_free(&c->path);
	pcre2_code_free(c->re);
	free(c->pattern);
	for (i = 0; i < c->nany; i++)
		rules_cond_free(&c->any[i]);
	free(c->any);
	memset(c, 0, sizeof(*c));
}

static void
rules_class_free(struct rule_class *rc)
{
	size_t	 i;

	jpath_free(&rc->key);
	for (i = 0; i < rc->nmatch; i++)
		rules_cond_free(&rc->match[i]);
	free(rc->match);
	rc->match = NULL;
	rc->nmatch = 0;
}

/* A class with every setting at its default. */
static void
rules_class_init(struct rule_class *rc, const char *name)
{
	memset(rc, 0, sizeof(*rc));
	snprintf(rc->name, sizeof(rc->name), "%s", name);
	rc->max_keys = RULES_KEYS_DEFAULT;
}

static int
rules_number(struct loader *ld, json_t *obj, const char *key, double *out)
{
	json_t	*v;

	if ((v = json_object_get(obj, key)) == NULL)
		return 0;
	if (!json_is_number(v) || json_number_value(v) < 0)
		return ld_error(ld, key, 0, "\"%s\" must be a number >= 0",
		    key);
	*out = json_number_value(v);
	return 1;
}

static int
rules_integer(struct loader *ld, json_t *obj, const char *key,
    json_int_t min, json_int_t max, json_int_t *out)
{
	json_t	*v;

	if ((v = json_object_get(obj, key)) == NULL)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < min ||
	    json_integer_value(v) > max)
		return ld_error(ld, key, 0, "\"%s\" must be an integer from "
		    "%" JSON_INTEGER_FORMAT " to %" JSON_INTEGER_FORMAT,
		    key, min, max);
	*out = json_integer_value(v);
	return 1;
}

/*
 * Is `name` taken by classes[0 .. n-1]?  Returns the index or -1.
 */
static int
rules_taken(const struct rule_class *classes, size_t n, const char *name)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (strcmp(classes[i].name, name) == 0)
			return (int)i;
	return -1;
}

static int
rules_set_name(struct loader *ld, json_t *v, const struct rule_class *prev,
    size_t nprev, struct rule_class *rc)
{
	char		 q[80];
	const char	*s;
	int		 first;

	if (!json_is_string(v))
		return ld_error(ld, "name", 0, "\"name\" must be a string");
	s = json_string_value(v);
	snprintf(ld->label, sizeof(ld->label), "class \"%s\": ",
	    ld_quote(s, q, sizeof(q)));
	if (s[0] == '_' && json_string_length(v) == strlen(s))
		return ld_error(ld, "name", 0, "names starting with \"_\" are "
		    "reserved (\"invalid\" configures \"%s\")",
		    RULES_INVALID_NAME);
	if (json_string_length(v) != strlen(s) || !rules_name_ok(s))
		return ld_error(ld, "name", 0, "invalid name (names are "
		    "[a-z0-9_], 1 to %d characters)", RULES_NAME_MAX);
	if ((first = rules_taken(prev, nprev, s)) != -1) {
		struct jsonpos_seg	 at[] = {
			{ "classes", 0 }, { NULL, (size_t)first }, { "name", 0 }
		};
		int			 line, col;

		jsonpos_find(ld->text, ld->len, at, 3, 0, &line, &col);
		return ld_error(ld, "name", 0, "duplicate name (first used at "
		    "line %d)", line);
	}
	snprintf(rc->name, sizeof(rc->name), "%s", s);
	return 0;
}

/*
 * One class object of the given kind; the loader's path points at it.
 * classes[0 .. nprev-1] are the classes already loaded, for duplicates.
 */
static int
rules_class(struct loader *ld, json_t *obj, enum rules_kind kind,
    size_t index, const struct rule_class *prev, size_t nprev,
    struct rule_class *rc)
{
#define C	(1u << KIND_CLASS)
#define D	(1u << KIND_DEFAULT)
#define I	(1u << KIND_INVALID)
	/* The keys of a class, and which of the three kinds take each. */
	static const struct {
		const char	*key;
		unsigned	 allowed;	/* bit per enum rules_kind */
	} known[] = {
		{ "name",	C | D },
		{ "priority",	C | D | I },
		{ "rate",	C | D | I },
		{ "burst",	C | D | I },
		{ "on_limit",	C | D | I },
		{ "weight",	C | D },
		{ "key",	C | D },
		{ "key_rate",	C | D },
		{ "key_burst",	C | D },
		{ "max_keys",	C | D },
		{ "max_age_ms",	C | D | I },
		{ "match",	C }
	};
#undef C
#undef D
#undef I
	static const char *const kindname[] = {
		[KIND_CLASS] = "classes",
		[KIND_DEFAULT] = "default",
		[KIND_INVALID] = "invalid"
	};
	char		 q[80];
	const char	*key, *s;
	json_t		*v;
	json_int_t	 n;
	size_t		 i;
	int		 has;

	if (kind == KIND_CLASS)
		snprintf(ld->label, sizeof(ld->label), "class #%zu: ",
		    index + 1);
	else if (kind == KIND_DEFAULT)
		snprintf(ld->label, sizeof(ld->label), "class \"default\": ");
	else
		snprintf(ld->label, sizeof(ld->label), "class \"%s\": ",
		    RULES_INVALID_NAME);
	if (!json_is_object(obj))
		return ld_error(ld, NULL, 0, "a class must be an object");

	/* A class that has no valid name yet has none to clash with. */
	rules_class_init(rc, kind == KIND_INVALID ? RULES_INVALID_NAME :
	    kind == KIND_DEFAULT ? "default" : "");
	if ((v = json_object_get(obj, "name")) != NULL && kind != KIND_INVALID) {
		if (rules_set_name(ld, v, prev, nprev, rc) == -1)
			return -1;
	} else if (kind == KIND_CLASS)
		return ld_error(ld, NULL, 0, "missing \"name\"");

	json_object_foreach(obj, key, v) {
		for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
			if (strcmp(key, known[i].key) == 0)
				break;
		if (i == sizeof(known) / sizeof(known[0]))
			return ld_error(ld, key, 1, "unknown key \"%s\"",
			    ld_quote(key, q, sizeof(q)));
		if ((known[i].allowed & (1u << kind)) == 0)
			return ld_error(ld, key, 1, "key \"%s\" is not allowed "
			    "in \"%s\"", key, kindname[kind]);
	}

	if ((has = rules_integer(ld, obj, "priority", 0, RULES_PRIORITY_MAX,
	    &n)) == -1)
		return -1;
	rc->priority = has ? (int)n : 0;
	if (rules_number(ld, obj, "rate", &rc->rate) == -1)
		return -1;
	rc->burst = rc->rate;
	if (rules_number(ld, obj, "burst", &rc->burst) == -1)
		return -1;

	if ((has = rules_integer(ld, obj, "max_age_ms", 1, RULES_AGE_MAX,
	    &n)) == -1)
		return -1;
	rc->max_age_ms = has ? (long)n : 0;

	rc->on_limit = ON_LIMIT_DROP;
	if ((v = json_object_get(obj, "on_limit")) != NULL) {
		s = json_is_string(v) ? json_string_value(v) : "";
		if (strcmp(s, "divert") == 0)
			rc->on_limit = ON_LIMIT_DIVERT;
		else if (strcmp(s, "drop") != 0)
			return ld_error(ld, "on_limit", 0,
			    "\"on_limit\" must be \"drop\" or \"divert\"");
	}
	if ((v = json_object_get(obj, "weight")) != NULL) {
		if (!json_is_string(v) ||
		    strcmp(json_string_value(v), "bytes") != 0)
			return ld_error(ld, "weight", 0,
			    "\"weight\" must be \"bytes\"");
		rc->weight_bytes = 1;
	}

	if ((v = json_object_get(obj, "key")) != NULL) {
		if (rules_path_parse(ld, "key", v, &rc->key) == -1)
			return -1;
		rc->has_key = 1;
	} else {
		static const char *const needkey[] = {
			"key_rate", "key_burst", "max_keys", NULL
		};

		for (i = 0; needkey[i] != NULL; i++)
			if (json_object_get(obj, needkey[i]) != NULL)
				return ld_error(ld, needkey[i], 1,
				    "\"%s\" needs \"key\"", needkey[i]);
	}
	if (rules_number(ld, obj, "key_rate", &rc->key_rate) == -1)
		return -1;
	rc->key_burst = rc->key_rate;
	if (rules_number(ld, obj, "key_burst", &rc->key_burst) == -1)
		return -1;
	if ((has = rules_integer(ld, obj, "max_keys", 1, RULES_KEYS_MAX,
	    &n)) == -1)
		return -1;
	if (has)
		rc->max_keys = (size_t)n;

	if (kind != KIND_CLASS)
		return 0;
	if ((v = json_object_get(obj, "match")) == NULL)
		return ld_error(ld, NULL, 0, "missing \"match\"");
	return rules_cond_list(ld, "match", v, &rc->match, &rc->nmatch, 0, 0);
}

struct ruleset *
rules_load_buffer(const char *text, size_t len, struct rules_error *err)
{
	struct loader	 ld;
	struct ruleset	*rs = NULL;
	json_error_t	 jerr;
	json_t		*root = NULL, *classes, *v;
	const char	*key;
	char		 q[80];
	size_t		 i, n = 0;
	int		 clash;

	memset(err, 0, sizeof(*err));
	memset(&ld, 0, sizeof(ld));
	ld.text = text;
	ld.len = len;
	ld.err = err;

	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		err->line = jerr.line > 0 ? jerr.line : 1;
		err->col = jerr.column > 0 ? jerr.column : 1;
		snprintf(err->msg, sizeof(err->msg), "%s", jerr.text);
		return NULL;
	}
	if (!json_is_object(root)) {
		ld_error(&ld, NULL, 0, "rules must be a JSON object");
		goto fail;
	}
	/* What is wrong is reported, and the rest still checked. */
	json_object_foreach(root, key, v) {
		if (strcmp(key, "classes") != 0 &&
		    strcmp(key, "default") != 0 &&
		    strcmp(key, "invalid") != 0)
			ld_error(&ld, key, 1, "unknown key \"%s\"",
			    ld_quote(key, q, sizeof(q)));
	}
	classes = json_object_get(root, "classes");
	if (classes != NULL && !json_is_array(classes))
		ld_error(&ld, "classes", 0, "\"classes\" must be a list");
	else if (classes != NULL)
		n = json_array_size(classes);
	if (n > INT32_MAX - 2) {
		ld_error(&ld, "classes", 0, "too many classes");
		goto fail;
	}

	if ((rs = calloc(1, sizeof(*rs))) == NULL ||
	    (rs->classes = calloc(n + 2, sizeof(*rs->classes))) == NULL) {
		ld_oom(&ld);
		goto fail;
	}
	rs->nrules = n;

	/*
	 * A class in error leaves the path and label where it stopped; each
	 * is checked from the same place, so one error does not hide the
	 * next class's.
	 */
	rs->nclasses = n + 2;
	ld_push_key(&ld, "classes");
	for (i = 0; i < n; i++) {
		ld_push_index(&ld, i);
		if (rules_class(&ld, json_array_get(classes, i), KIND_CLASS,
		    i, rs->classes, i, &rs->classes[i]) == -1)
			ld.depth = 2;
		ld.label[0] = '\0';
		ld_pop(&ld);
	}
	ld_pop(&ld);

	v = json_object_get(root, "default");
	ld_push_key(&ld, "default");
	if (v == NULL)
		rules_class_init(&rs->classes[n], "default");
	else if (rules_class(&ld, v, KIND_DEFAULT, n, rs->classes, n,
	    &rs->classes[n]) == -1)
		ld.depth = 1;
	ld.label[0] = '\0';
	ld_pop(&ld);
	if ((v == NULL || json_object_get(v, "name") == NULL) &&
	    (clash = rules_taken(rs->classes, n, "default")) != -1) {
		/* The unnamed default came second, but has no name to show. */
		snprintf(ld.label, sizeof(ld.label), "class \"default\": ");
		ld_push_key(&ld, "classes");
		ld_push_index(&ld, (size_t)clash);
		ld_error(&ld, "name", 0, "duplicate name (the default class "
		    "is named \"default\" unless \"default\" has a \"name\")");
		ld.depth = 0;
		ld.label[0] = '\0';
	}

	v = json_object_get(root, "invalid");
	ld_push_key(&ld, "invalid");
	if (v == NULL)
		rules_class_init(&rs->classes[n + 1], RULES_INVALID_NAME);
	else if (rules_class(&ld, v, KIND_INVALID, n + 1, rs->classes,
	    n + 1, &rs->classes[n + 1]) == -1)
		ld.depth = 1;
	ld_pop(&ld);
	if (ld.nerr > 0)
		goto fail;

	rules_collect_paths(rs);
	if ((rs->text = malloc(len + 1)) == NULL) {
		ld_oom(&ld);
		goto fail;
	}
	memcpy(rs->text, text, len);
	rs->text[len] = '\0';
	rs->textlen = len;
	json_decref(root);
	return rs;

fail:
	json_decref(root);
	rules_free(rs);
	return NULL;
}

static void
rules_add_path(struct ruleset *rs, const struct jpath *p)
{
	size_t i;

	for (i = 0; i < rs->npaths; i++)
		if (strcmp(rs->paths[i]->full, p->full) == 0)
			return;
	if (rs->npaths == RULES_SCAN_PATHS) {
		rs->scan_ok = 0;
		return;
	}
	rs->paths[rs->npaths++] = p;
}

/* Adds the field paths c reads; returns how many it reads. */
static size_t
rules_cond_paths(struct ruleset *rs, const struct cond *c)
{
	size_t i, n = 0;

	if (c->kind == COND_FIELD) {
		rules_add_path(rs, &c->path);
		n = 1;
	} else if (c->kind == COND_ANY)
		for (i = 0; i < c->nany; i++)
			n += rules_cond_paths(rs, &c->any[i]);
	return n;
}

/* The field paths a parse must provide: conditions and key fields. */
static void
rules_collect_paths(struct ruleset *rs)
{
	const struct rule_class *rc;
	size_t i, j;

	size_t fields;
	int raw_only = 1;

	rs->scan_ok = 1;
	rs->npaths = 0;
	rs->raw_prefix = 0;
	for (i = 0; i < rs->nclasses; i++) {
		rc = &rs->classes[i];
		for (fields = 0, j = 0; j < rc->nmatch; j++)
			fields += rules_cond_paths(rs, &rc->match[j]);
		if (rc->has_key)
			rules_add_path(rs, &rc->key);
		if (i < rs->nrules && raw_only && fields == 0 &&
		    i < RULES_RAW_PREFIX_MAX)
			rs->raw_prefix = i + 1;
		else
			raw_only = 0;
	}
}

struct ruleset *
rules_load_file(const char *path, struct rules_error *err)
{
	struct ruleset	*rs = NULL;
	FILE		*fp = NULL;
	char		*buf = NULL, *nbuf;
	size_t		 len = 0, cap = 0, got;

	memset(err, 0, sizeof(*err));
	if ((fp = fopen(path, "r")) == NULL)
		goto fail;
	for (;;) {
		if (cap - len < 4096) {
			cap = cap ? cap * 2 : 65536;
			if (cap > RULES_FILE_MAX + (size_t)65536) {
				errno = EFBIG;
				goto fail;
			}
			if ((nbuf = realloc(buf, cap)) == NULL)
				goto fail;
			buf = nbuf;
		}
		got = fread(buf + len, 1, cap - len, fp);
		len += got;
		if (got == 0)
			break;
	}
	if (ferror(fp)) {
		errno = EIO;
		goto fail;
	}
	if (len > RULES_FILE_MAX) {
		errno = EFBIG;
		goto fail;
	}
	fclose(fp);
	rs = rules_load_buffer(buf, len, err);
	free(buf);
	return rs;

fail:
	snprintf(err->msg, sizeof(err->msg), "cannot read: %s",
	    strerror(errno));
	if (fp != NULL)
		fclose(fp);
	free(buf);
	return NULL;
}

struct ruleset *
rules_builtin(void)
{
	struct rules_error	 err;

	return rules_load_buffer(rules_builtin_text,
	    sizeof(rules_builtin_text) - 1, &err);
}

void
rules_free(struct ruleset *rs)
{
	size_t	 i;

	if (rs == NULL)
		return;
	if (rs->classes != NULL)
		for (i = 0; i < rs->nclasses; i++)
			rules_class_free(&rs->classes[i]);
	free(rs->classes);
	free(rs->text);
	free(rs);
}

int
rules_find(const struct ruleset *rs, const char *name)
{
	return rules_taken(rs->classes, rs->nclasses, name);
}

const char *
rules_error_format(const struct rules_error *err, const char *file,
    char *buf, size_t len)
{
	if (err->line > 0)
		snprintf(buf, len, "%s:%d:%d: %s", file, err->line, err->col,
		    err->msg);
	else
		snprintf(buf, len, "%s: %s", file, err->msg);
	return buf;
}

void
rules_error_print(FILE *fp, const struct rules_error *err, const char *file)
{
	const struct rules_error_at *e;
	size_t i;
	char buf[1024];

	fprintf(fp, "%s\n", rules_error_format(err, file, buf, sizeof(buf)));
	for (i = 0; i < err->nmore; i++) {
		e = &err->more[i];
		fprintf(fp, "%s:%d:%d: %s\n", file, e->line, e->col, e->msg);
	}
	if (err->untold > 0)
		fprintf(fp, "%s: %zu more error%s not shown\n", file,
		    err->untold, err->untold == 1 ? "" : "s");
}
