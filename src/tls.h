/*
 * tls: the OpenSSL contexts, made in one place so that every TLS
 * connection spillway makes or takes has the same floor (TLS 1.2).
 */
#ifndef SPILLWAY_TLS_H
#define SPILLWAY_TLS_H

#include <stddef.h>
#include <openssl/ssl.h>

struct config;

/*
 * The context for connections to the cluster (the sink and the
 * pass-through): the system's CAs plus sink.ca_file, peers verified
 * unless sink.tls_verify is false.  NULL with a message in err.
 */
SSL_CTX		*tls_client(const struct config *cf, char *err, size_t errlen);

/*
 * The context of the https listener: certificate chain and key from
 * PEM files.  NULL with a message in err.
 */
SSL_CTX		*tls_server(const char *cert, const char *key, char *err,
		    size_t errlen);

#endif
