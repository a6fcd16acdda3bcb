/*
 * auth: who may write to the HTTP ingest listener (ingest_auth, SPEC §2).
 * Users with crypt(3) hashes (as mkpasswd makes them: $y$, $2b$, $6$)
 * for HTTP Basic, and API keys, kept as the SHA-256 of the key, for
 * Elasticsearch's "Authorization: ApiKey base64(id:key)".  A credential
 * that was verified is remembered for a short while (a hash such as
 * yescrypt costs milliseconds by design); every comparison of secrets
 * takes the same time whatever they hold.
 */
#ifndef SPILLWAY_AUTH_H
#define SPILLWAY_AUTH_H

#include <stddef.h>
#include <stdint.h>

#define AUTH_CACHE_NS	(60ULL * 1000000000ULL)	/* a verified credential */

struct auth;

/*
 * The checker for ingest_auth, the JSON text of
 * {"users": {"NAME": "CRYPT"}, "api_keys": {"ID": "sha256:HEX"}} (either
 * may be absent).  NULL with a message in err when it is not one.
 */
struct auth	*auth_new(const char *json, char *err, size_t errlen);

/* Accepts NULL. */
void		 auth_free(struct auth *a);

/*
 * Whether the Authorization header value (NULL when absent) names a user
 * or API key of a, at now (ns): 1 or 0.
 */
int		 auth_check(struct auth *a, const char *authorization,
		    uint64_t now);

#endif
