/*
 * config: the JSON configuration file (SPEC §2) -> an immutable struct.
 * Every key is optional; unknown keys are errors.
 */
#ifndef SPILLWAY_CONFIG_H
#define SPILLWAY_CONFIG_H

#include <stddef.h>

struct config {
	/* listen; NULL disables a listener */
	char		*listen_tcp;
	char		*listen_http;
	char		*listen_kafka;		/* JSON object text, or NULL */
	char		*listen_admin;
	char		*listen_https;		/* HTTP ingest over TLS, or NULL */
	char		*tls_cert;		/* PEM chain, for listen.https */
	char		*tls_key;

	char		*rules_path;		/* NULL: -r or built-in */

	/* sink */
	char		*sink_url;
	char		*sink_index;
	char		*sink_api_key;
	char		*sink_key;
	char		*sink_action;		/* "index" or "create" */
	char		*sink_compression;	/* NULL or "gzip" */
	int		 sink_compression_set;	/* given, not the default */
	char		*sink_ca_file;
	int		 sink_tls_verify;
	char		*sink_kafka;		/* JSON object text, or NULL */
	long		 batch_events;
	long		 batch_bytes;
	long		 flush_ms;
	long		 concurrency;
	long		 timeout_ms;
	long		 max_retries;

	char		*divert_url;		/* NULL: none */

	long		 queue_max_events;
	long		 queue_max_bytes;

	char		*fleet_url;		/* kafka://..., or NULL: alone */
	char		*fleet_id;		/* NULL: HOSTNAME-PID */
	long		 fleet_stale_ms;
	char		*fleet_kafka;		/* JSON object text, or NULL */

	long		 control_interval_ms;
	long		 target_latency_ms;
	double		 control_decrease;
	double		 control_increase;

	long		 max_event_bytes;
	long		 max_body_bytes;
	long		 max_connections;
	long		 idle_timeout_ms;
	long		 header_timeout_ms;	/* a request's header block */
	long		 admin_max_connections;

	char		*http_es_version;	/* what GET / answers locally */
	char		*http_passthrough_name;
	int		 http_passthrough;	/* PASSTHROUGH_* */

	char		*ingest_auth;		/* JSON text, or NULL: none */
	char		*admin_token;		/* NULL: no auth */
	int		 shed_reject;		/* shed_response "reject" */
	char		*ack;			/* "sink" or "admit" */
	int		 ack_sink;		/* answer _bulk once final */
	long		 ack_timeout_ms;
	long		 workers;
	long		 shutdown_timeout_ms;
};

#define CONFIG_ES_VERSION	"9.1.0"	/* http.es_version by default */

/* http.passthrough: what goes on to an Elasticsearch sink's cluster. */
enum {
	PASSTHROUGH_STARTUP,	/* the calls shippers make at start-up */
	PASSTHROUGH_ALL,
	PASSTHROUGH_NONE
};

/*
 * The major of an Elasticsearch version "MAJOR.MINOR.PATCH" spillway can
 * answer as (7, 8 or 9), or 0 when v is not one.
 */
int		 config_es_version(const char *v);

/* The built-in defaults (SPEC §1, §2). NULL on allocation failure. */
struct config	*config_default(void);

/*
 * Read a config file on top of the defaults.  On error returns NULL and
 * writes "FILE:LINE:COL: message" into err.
 */
struct config	*config_load(const char *path, char *err, size_t errlen);

/* Replace a string option (command-line overrides). 0 or -1. */
int		 config_set_str(char **slot, const char *value);

/* Accepts NULL. */
void		 config_free(struct config *cf);

#endif
