/*
 * config: a table of options, each with its JSON path, its type and where
 * it lands in struct config, in the spirit of Fluent Bit's config maps.
 * Anything in the file that the table does not name is an error, reported
 * at the key's position.
 */
#include <errno.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "auth.h"
#include "config.h"
#include "fleet.h"
#include "jsonpos.h"

enum opt_type {
	OPT_STR,		/* string or null */
	OPT_LONG,		/* integer >= min */
	OPT_DOUBLE,		/* number in (0, max] */
	OPT_BOOL,
	OPT_OBJECT,		/* kept as JSON text */
	OPT_SHED,		/* "accept" | "reject" */
	OPT_SECTION		/* an object whose keys are in the table */
};

struct opt {
	const char	*section;	/* NULL: top level */
	const char	*name;
	enum opt_type	 type;
	size_t		 off;
	double		 min;
	double		 max;
};

#define O(f)	offsetof(struct config, f)

static const struct opt config_opts[] = {
	{ NULL, "listen", OPT_SECTION, 0, 0, 0 },
	{ "listen", "tcp", OPT_STR, O(listen_tcp), 0, 0 },
	{ "listen", "http", OPT_STR, O(listen_http), 0, 0 },
	{ "listen", "admin", OPT_STR, O(listen_admin), 0, 0 },
	{ "listen", "https", OPT_STR, O(listen_https), 0, 0 },
	{ NULL, "tls", OPT_SECTION, 0, 0, 0 },
	{ "tls", "cert", OPT_STR, O(tls_cert), 0, 0 },
	{ "tls", "key", OPT_STR, O(tls_key), 0, 0 },
	{ "listen", "kafka", OPT_OBJECT, O(listen_kafka), 0, 0 },
	{ NULL, "rules", OPT_STR, O(rules_path), 0, 0 },
	{ NULL, "sink", OPT_SECTION, 0, 0, 0 },
	{ "sink", "url", OPT_STR, O(sink_url), 0, 0 },
	{ "sink", "index", OPT_STR, O(sink_index), 0, 0 },
	{ "sink", "api_key", OPT_STR, O(sink_api_key), 0, 0 },
	{ "sink", "key", OPT_STR, O(sink_key), 0, 0 },
	{ "sink", "action", OPT_STR, O(sink_action), 0, 0 },
	{ "sink", "compression", OPT_STR, O(sink_compression), 0, 0 },
	{ "sink", "ca_file", OPT_STR, O(sink_ca_file), 0, 0 },
	{ "sink", "tls_verify", OPT_BOOL, O(sink_tls_verify), 0, 0 },
	{ "sink", "kafka", OPT_OBJECT, O(sink_kafka), 0, 0 },
	{ "sink", "batch_events", OPT_LONG, O(batch_events), 1, 1e7 },
	{ "sink", "batch_bytes", OPT_LONG, O(batch_bytes), 1, 1e10 },
	{ "sink", "flush_ms", OPT_LONG, O(flush_ms), 0, 1e7 },
	{ "sink", "concurrency", OPT_LONG, O(concurrency), 1, 1024 },
	{ "sink", "timeout_ms", OPT_LONG, O(timeout_ms), 1, 1e8 },
	{ "sink", "max_retries", OPT_LONG, O(max_retries), 0, 1000 },
	{ NULL, "divert", OPT_SECTION, 0, 0, 0 },
	{ "divert", "url", OPT_STR, O(divert_url), 0, 0 },
	{ NULL, "queue", OPT_SECTION, 0, 0, 0 },
	{ "queue", "max_events", OPT_LONG, O(queue_max_events), 1, 1e9 },
	{ "queue", "max_bytes", OPT_LONG, O(queue_max_bytes), 1, 1e12 },
	{ NULL, "control", OPT_SECTION, 0, 0, 0 },
	{ "control", "interval_ms", OPT_LONG, O(control_interval_ms), 10, 6e4 },
	{ "control", "target_latency_ms", OPT_LONG, O(target_latency_ms), 1,
	    1e7 },
	{ "control", "decrease", OPT_DOUBLE, O(control_decrease), 0, 1 },
	{ "control", "increase", OPT_DOUBLE, O(control_increase), 0, 10 },
	{ NULL, "fleet", OPT_SECTION, 0, 0, 0 },
	{ "fleet", "url", OPT_STR, O(fleet_url), 0, 0 },
	{ "fleet", "id", OPT_STR, O(fleet_id), 0, 0 },
	{ "fleet", "stale_ms", OPT_LONG, O(fleet_stale_ms), 1, 1e7 },
	{ "fleet", "kafka", OPT_OBJECT, O(fleet_kafka), 0, 0 },
	{ NULL, "limits", OPT_SECTION, 0, 0, 0 },
	{ "limits", "max_event_bytes", OPT_LONG, O(max_event_bytes), 16, 1e9 },
	{ "limits", "max_body_bytes", OPT_LONG, O(max_body_bytes), 16, 1e10 },
	{ "limits", "max_connections", OPT_LONG, O(max_connections), 1, 1e7 },
	{ "limits", "idle_timeout_ms", OPT_LONG, O(idle_timeout_ms), 0, 1e9 },
	{ "limits", "header_timeout_ms", OPT_LONG, O(header_timeout_ms), 1,
	    1e9 },
	{ "limits", "admin_max_connections", OPT_LONG,
	    O(admin_max_connections), 1, 1e6 },
	{ NULL, "http", OPT_SECTION, 0, 0, 0 },
	{ "http", "es_version", OPT_STR, O(http_es_version), 0, 0 },
	{ "http", "passthrough", OPT_STR, O(http_passthrough_name), 0, 0 },
	{ NULL, "ingest_auth", OPT_OBJECT, O(ingest_auth), 0, 0 },
	{ NULL, "admin_token", OPT_STR, O(admin_token), 0, 0 },
	{ NULL, "shed_response", OPT_SHED, O(shed_reject), 0, 0 },
	{ NULL, "ack", OPT_STR, O(ack), 0, 0 },
	{ NULL, "ack_timeout_ms", OPT_LONG, O(ack_timeout_ms), 1, 1e8 },
	{ NULL, "workers", OPT_LONG, O(workers), 1, 256 },
	{ NULL, "shutdown_timeout_ms", OPT_LONG, O(shutdown_timeout_ms), 0,
	    1e8 },
};

#undef O

int
config_set_str(char **slot, const char *value)
{
	char *s = NULL;

	if (value != NULL && (s = strdup(value)) == NULL)
		return -1;
	free(*slot);
	*slot = s;
	return 0;
}

struct config *
config_default(void)
{
	struct config *cf;

	if ((cf = calloc(1, sizeof(*cf))) == NULL)
		return NULL;
	if (config_set_str(&cf->listen_tcp, "127.0.0.1:5170") == -1 ||
	    config_set_str(&cf->listen_http, "127.0.0.1:9280") == -1 ||
	    config_set_str(&cf->listen_admin, "127.0.0.1:9281") == -1 ||
	    config_set_str(&cf->sink_url, "stdout") == -1 ||
	    config_set_str(&cf->sink_index, "logs-%Y.%m.%d") == -1 ||
	    config_set_str(&cf->sink_action, "index") == -1 ||
	    config_set_str(&cf->sink_compression, "gzip") == -1 ||
	    config_set_str(&cf->ack, "sink") == -1 ||
	    config_set_str(&cf->http_es_version, CONFIG_ES_VERSION) == -1 ||
	    config_set_str(&cf->http_passthrough_name, "startup") == -1) {
		config_free(cf);
		return NULL;
	}
	cf->sink_tls_verify = 1;
	cf->batch_events = 1000;
	cf->batch_bytes = 5242880;
	cf->flush_ms = 200;
	cf->concurrency = 4;
	cf->timeout_ms = 30000;
	cf->max_retries = 3;
	cf->queue_max_events = 200000;
	cf->queue_max_bytes = 268435456;
	cf->fleet_stale_ms = 3000;
	cf->control_interval_ms = 250;
	cf->target_latency_ms = 1000;
	cf->control_decrease = 0.7;
	cf->control_increase = 0.05;
	cf->max_event_bytes = 1048576;
	cf->max_body_bytes = 104857600;
	cf->max_connections = 10000;
	cf->idle_timeout_ms = 300000;
	cf->header_timeout_ms = 10000;
	cf->admin_max_connections = 64;
	cf->ack_sink = 1;
	cf->ack_timeout_ms = 30000;
	cf->workers = 1;
	cf->shutdown_timeout_ms = 10000;
	return cf;
}

int
config_es_version(const char *v)
{
	int major, minor, patch, n = 0;

	if (v == NULL || sscanf(v, "%d.%d.%d%n", &major, &minor, &patch,
	    &n) != 3 || v[n] != '\0' || v[0] < '0' || v[0] > '9' ||
	    minor < 0 || patch < 0 || major < 7 || major > 9 ||
	    strlen(v) > 16)
		return 0;
	return major;
}

void
config_free(struct config *cf)
{
	size_t i;

	if (cf == NULL)
		return;
	for (i = 0; i < sizeof(config_opts) / sizeof(config_opts[0]); i++) {
		const struct opt *o = &config_opts[i];

		if (o->type == OPT_STR || o->type == OPT_OBJECT)
			free(*(char **)((char *)cf + o->off));
	}
	free(cf);
}

static const struct opt *
config_find(const char *section, const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(config_opts) / sizeof(config_opts[0]); i++) {
		const struct opt *o = &config_opts[i];

		if (((o->section == NULL && section == NULL) ||
		    (o->section != NULL && section != NULL &&
		    strcmp(o->section, section) == 0)) &&
		    strcmp(o->name, name) == 0)
			return o;
	}
	return NULL;
}

/* Format "FILE:LINE:COL: msg" for the value (or key) at section.name. */
static void
config_error(const char *path, const char *text, size_t len,
    const char *section, const char *name, int want_key, char *err,
    size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 9, 10)));

static void
config_error(const char *path, const char *text, size_t len,
    const char *section, const char *name, int want_key, char *err,
    size_t errlen, const char *fmt, ...)
{
	struct jsonpos_seg segs[2];
	size_t depth = 0;
	int line = 1, col = 1;
	char msg[512];
	va_list ap;

	if (section != NULL)
		segs[depth++].key = section;
	if (name != NULL)
		segs[depth++].key = name;
	jsonpos_find(text, len, segs, depth, want_key, &line, &col);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(err, errlen, "%s:%d:%d: %s", path, line, col, msg);
}

static int
config_apply(struct config *cf, const struct opt *o, json_t *v,
    const char *path, const char *text, size_t len, char *err,
    size_t errlen)
{
	char *slot = (char *)cf + o->off;
	const char *what = o->section ? o->section : o->name;
	const char *key = o->section ? o->name : NULL;
	double d;

	switch (o->type) {
	case OPT_SHED:
		if (json_is_string(v) &&
		    (strcmp(json_string_value(v), "accept") == 0 ||
		    strcmp(json_string_value(v), "reject") == 0)) {
			*(int *)slot = strcmp(json_string_value(v),
			    "reject") == 0;
			return 0;
		}
		config_error(path, text, len, what, key, 0, err, errlen,
		    "\"shed_response\" must be \"accept\" or \"reject\"");
		return -1;
	case OPT_STR:
		if (json_is_null(v))
			return config_set_str((char **)slot, NULL);
		if (!json_is_string(v)) {
			config_error(path, text, len, what, key, 0, err, errlen,
			    "\"%s\" must be a string", o->name);
			return -1;
		}
		return config_set_str((char **)slot, json_string_value(v));
	case OPT_LONG:
		if (!json_is_integer(v) || (double)json_integer_value(v) <
		    o->min || (double)json_integer_value(v) > o->max) {
			config_error(path, text, len, what, key, 0, err, errlen,
			    "\"%s\" must be an integer from %.0f to %.0f",
			    o->name, o->min, o->max);
			return -1;
		}
		*(long *)slot = (long)json_integer_value(v);
		return 0;
	case OPT_DOUBLE:
		d = json_number_value(v);
		if (!json_is_number(v) || !(d > o->min) || d > o->max) {
			config_error(path, text, len, what, key, 0, err, errlen,
			    "\"%s\" must be a number above %g and at most %g",
			    o->name, o->min, o->max);
			return -1;
		}
		*(double *)slot = d;
		return 0;
	case OPT_BOOL:
		if (!json_is_boolean(v)) {
			config_error(path, text, len, what, key, 0, err, errlen,
			    "\"%s\" must be true or false", o->name);
			return -1;
		}
		*(int *)slot = json_is_true(v);
		return 0;
	case OPT_OBJECT: {
		char *s;

		if (json_is_null(v))
			return config_set_str((char **)slot, NULL);
		if (!json_is_object(v) ||
		    (s = json_dumps(v, JSON_COMPACT)) == NULL) {
			config_error(path, text, len, what, key, 0, err, errlen,
			    "\"%s\" must be an object", o->name);
			return -1;
		}
		free(*(char **)slot);
		*(char **)slot = s;
		return 0;
	}
	case OPT_SECTION:
		break;
	}
	return -1;
}

static int
config_walk(struct config *cf, json_t *obj, const char *section,
    const char *path, const char *text, size_t len, char *err, size_t errlen)
{
	const struct opt *o;
	const char *k;
	json_t *v;

	json_object_foreach(obj, k, v) {
		if ((o = config_find(section, k)) == NULL) {
			config_error(path, text, len, section, k, 1, err,
			    errlen, "unknown key \"%s\"", k);
			return -1;
		}
		if (o->type == OPT_SECTION) {
			if (!json_is_object(v)) {
				config_error(path, text, len, k, NULL, 0, err,
				    errlen, "\"%s\" must be an object", k);
				return -1;
			}
			if (config_walk(cf, v, k, path, text, len, err,
			    errlen) == -1)
				return -1;
			continue;
		}
		if (config_apply(cf, o, v, path, text, len, err, errlen) == -1)
			return -1;
	}
	return 0;
}

struct config *
config_load(const char *path, char *err, size_t errlen)
{
	struct config *cf = NULL;
	json_t *root = NULL;
	json_error_t jerr;
	char *text = NULL;
	size_t len = 0, cap = 0, n;
	FILE *fp;

	if ((fp = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	for (;;) {
		if (len + 4096 > cap) {
			char *t;

			cap = cap ? cap * 2 : 8192;
			if ((t = realloc(text, cap)) == NULL) {
				snprintf(err, errlen, "%s: out of memory", path);
				goto fail;
			}
			text = t;
		}
		if ((n = fread(text + len, 1, cap - len, fp)) == 0)
			break;
		len += n;
	}
	if (ferror(fp)) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if ((root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr)) ==
	    NULL) {
		snprintf(err, errlen, "%s:%d:%d: %s", path, jerr.line,
		    jerr.column, jerr.text);
		goto fail;
	}
	if (!json_is_object(root)) {
		snprintf(err, errlen, "%s:1:1: the configuration must be a "
		    "JSON object", path);
		goto fail;
	}
	if ((cf = config_default()) == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		goto fail;
	}
	if (config_walk(cf, root, NULL, path, text, len, err, errlen) == -1)
		goto fail;
	if (cf->sink_action != NULL && strcmp(cf->sink_action, "index") != 0 &&
	    strcmp(cf->sink_action, "create") != 0) {
		config_error(path, text, len, "sink", "action", 0, err, errlen,
		    "\"action\" must be \"index\" or \"create\"");
		goto fail;
	}
	if (cf->ack == NULL || (strcmp(cf->ack, "sink") != 0 &&
	    strcmp(cf->ack, "admit") != 0)) {
		config_error(path, text, len, "ack", NULL, 0, err, errlen,
		    "\"ack\" must be \"sink\" or \"admit\"");
		goto fail;
	}
	cf->ack_sink = strcmp(cf->ack, "sink") == 0;
	if (cf->ingest_auth != NULL) {
		char aerr[300];
		struct auth *a;

		if ((a = auth_new(cf->ingest_auth, aerr, sizeof(aerr))) ==
		    NULL) {
			config_error(path, text, len, "ingest_auth", NULL, 0,
			    err, errlen, "%s", aerr);
			goto fail;
		}
		auth_free(a);
	}
	if (cf->http_passthrough_name == NULL ||
	    (cf->http_passthrough = strcmp(cf->http_passthrough_name,
	    "startup") == 0 ? PASSTHROUGH_STARTUP :
	    strcmp(cf->http_passthrough_name, "all") == 0 ? PASSTHROUGH_ALL :
	    strcmp(cf->http_passthrough_name, "none") == 0 ? PASSTHROUGH_NONE :
	    -1) == -1) {
		config_error(path, text, len, "http", "passthrough", 0, err,
		    errlen, "\"passthrough\" must be \"startup\", \"all\" or "
		    "\"none\"");
		goto fail;
	}
	if (config_es_version(cf->http_es_version) == 0) {
		config_error(path, text, len, "http", "es_version", 0, err,
		    errlen, "\"es_version\" must be a version such as "
		    "\"%s\", of major 7, 8 or 9", CONFIG_ES_VERSION);
		goto fail;
	}
	if (cf->fleet_url != NULL && strncmp(cf->fleet_url, "kafka://", 8) !=
	    0) {
		config_error(path, text, len, "fleet", "url", 0, err, errlen,
		    "\"url\" must be kafka://HOST:PORT[,HOST:PORT...]/TOPIC");
		goto fail;
	}
	if (cf->fleet_id != NULL && (cf->fleet_id[0] == '\0' ||
	    strlen(cf->fleet_id) > FLEET_ID_MAX)) {
		config_error(path, text, len, "fleet", "id", 0, err, errlen,
		    "\"id\" must be 1 to %d bytes", FLEET_ID_MAX);
		goto fail;
	}
	if (cf->sink_compression != NULL &&
	    strcmp(cf->sink_compression, "gzip") != 0 &&
	    strcmp(cf->sink_compression, "none") != 0) {
		config_error(path, text, len, "sink", "compression", 0, err,
		    errlen, "\"compression\" must be \"gzip\" or \"none\"");
		goto fail;
	}
	if (cf->sink_compression != NULL &&
	    strcmp(cf->sink_compression, "none") == 0)
		config_set_str(&cf->sink_compression, NULL);
	cf->sink_compression_set = json_object_get(json_object_get(root,
	    "sink"), "compression") != NULL;
	fclose(fp);
	json_decref(root);
	free(text);
	return cf;
fail:
	fclose(fp);
	json_decref(root);
	free(text);
	config_free(cf);
	return NULL;
}
