/*
 * tls: client and server contexts with one floor.
 */
#include <stdio.h>
#include <openssl/err.h>

#include "config.h"
#include "tls.h"

/* OpenSSL's last error, for a message; the error queue is cleared. */
static void
tls_error(char *err, size_t errlen, const char *what, const char *name)
{
	unsigned long e = ERR_peek_last_error();

	snprintf(err, errlen, "%s%s%s: %s", what, name ? " " : "",
	    name ? name : "", e ? ERR_reason_error_string(e) : "failed");
	ERR_clear_error();
}

SSL_CTX *
tls_client(const struct config *cf, char *err, size_t errlen)
{
	SSL_CTX *ctx;

	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL ||
	    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_default_verify_paths(ctx) != 1) {
		tls_error(err, errlen, "TLS", NULL);
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (cf->sink_ca_file != NULL &&
	    SSL_CTX_load_verify_locations(ctx, cf->sink_ca_file, NULL) != 1) {
		tls_error(err, errlen, "sink ca_file", cf->sink_ca_file);
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_verify(ctx, cf->sink_tls_verify ? SSL_VERIFY_PEER :
	    SSL_VERIFY_NONE, NULL);
	return ctx;
}

SSL_CTX *
tls_server(const char *cert, const char *key, char *err, size_t errlen)
{
	SSL_CTX *ctx;

	if (cert == NULL || key == NULL) {
		snprintf(err, errlen, "listen.https needs tls.cert and tls.key");
		return NULL;
	}
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL ||
	    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
		tls_error(err, errlen, "TLS", NULL);
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		tls_error(err, errlen, "tls.cert", cert);
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		tls_error(err, errlen, "tls.key", key);
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}
