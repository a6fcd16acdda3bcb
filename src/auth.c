/*
 * auth: ingest credentials, checked in constant time, remembered briefly.
 */
#include <crypt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "auth.h"

#define AUTH_CACHE_SLOTS	64
#define AUTH_HEADER_MAX		4096	/* longest Authorization looked at */

struct auth_user {
	char		*name;
	char		*hash;		/* crypt(3) */
};

struct auth_key {
	char		*id;
	unsigned char	 digest[SHA256_DIGEST_LENGTH];	/* of the key */
};

struct auth_seen {
	unsigned char	 digest[SHA256_DIGEST_LENGTH];	/* of the header */
	uint64_t	 until;
};

struct auth {
	struct auth_user	*users;
	size_t			 nusers;
	struct auth_key		*keys;
	size_t			 nkeys;
	struct auth_seen	 seen[AUTH_CACHE_SLOTS];
	size_t			 next;
	char			*dummy;	/* hashed when the user is unknown:
					   the first user's hash */
};

static int
auth_hex(const char *s, unsigned char *out, size_t n)
{
	size_t i;
	int hi, lo;

	for (i = 0; i < n; i++) {
		if ((hi = OPENSSL_hexchar2int((unsigned char)s[2 * i])) < 0 ||
		    (lo = OPENSSL_hexchar2int((unsigned char)s[2 * i + 1])) < 0)
			return -1;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return s[2 * n] == '\0' ? 0 : -1;
}

void
auth_free(struct auth *a)
{
	size_t i;

	if (a == NULL)
		return;
	for (i = 0; i < a->nusers; i++) {
		free(a->users[i].name);
		OPENSSL_clear_free(a->users[i].hash,
		    strlen(a->users[i].hash));
	}
	for (i = 0; i < a->nkeys; i++)
		free(a->keys[i].id);
	free(a->users);
	free(a->keys);
	free(a->dummy);
	OPENSSL_cleanse(a->seen, sizeof(a->seen));
	free(a);
}

struct auth *
auth_new(const char *json, char *err, size_t errlen)
{
	json_t *root, *users, *keys, *v;
	struct auth *a = NULL;
	const char *k, *s;
	void *iter;

	if ((root = json_loads(json, 0, NULL)) == NULL ||
	    !json_is_object(root)) {
		snprintf(err, errlen, "\"ingest_auth\" must be an object");
		goto fail;
	}
	json_object_foreach(root, k, v)
		if (strcmp(k, "users") != 0 && strcmp(k, "api_keys") != 0) {
			snprintf(err, errlen, "ingest_auth: unknown key \"%.64s\"",
			    k);
			goto fail;
		}
	users = json_object_get(root, "users");
	keys = json_object_get(root, "api_keys");
	if ((users != NULL && !json_is_object(users)) ||
	    (keys != NULL && !json_is_object(keys))) {
		snprintf(err, errlen, "ingest_auth: \"users\" and \"api_keys\" "
		    "must be objects");
		goto fail;
	}
	if ((a = calloc(1, sizeof(*a))) == NULL ||
	    (a->users = calloc(json_object_size(users) + 1,
	    sizeof(*a->users))) == NULL ||
	    (a->keys = calloc(json_object_size(keys) + 1,
	    sizeof(*a->keys))) == NULL ||
	    (a->dummy = strdup("$6$spillway$")) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	for (iter = users ? json_object_iter(users) : NULL; iter != NULL;
	    iter = json_object_iter_next(users, iter)) {
		k = json_object_iter_key(iter);
		v = json_object_iter_value(iter);
		s = json_string_value(v);
		if (s == NULL || s[0] != '$' || strlen(s) < 4) {
			snprintf(err, errlen, "ingest_auth: user \"%.64s\": a "
			    "crypt(3) hash such as mkpasswd makes ($y$, $2b$, "
			    "$6$) is needed", k);
			goto fail;
		}
		if ((a->users[a->nusers].name = strdup(k)) == NULL ||
		    (a->users[a->nusers].hash = strdup(s)) == NULL) {
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
		a->nusers++;
	}
	/*
	 * An unknown user is hashed as the first user is, method, cost and
	 * salt: so that a 401 takes as long whether the name exists or not.
	 */
	if (a->nusers > 0) {
		free(a->dummy);
		if ((a->dummy = strdup(a->users[0].hash)) == NULL) {
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
	}
	for (iter = keys ? json_object_iter(keys) : NULL; iter != NULL;
	    iter = json_object_iter_next(keys, iter)) {
		k = json_object_iter_key(iter);
		s = json_string_value(json_object_iter_value(iter));
		if (s == NULL || strncmp(s, "sha256:", 7) != 0 ||
		    auth_hex(s + 7, a->keys[a->nkeys].digest,
		    SHA256_DIGEST_LENGTH) == -1) {
			snprintf(err, errlen, "ingest_auth: API key \"%.64s\": "
			    "\"sha256:\" and 64 hex digits are needed", k);
			goto fail;
		}
		if ((a->keys[a->nkeys].id = strdup(k)) == NULL) {
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
		a->nkeys++;
	}
	json_decref(root);
	return a;
fail:
	json_decref(root);
	auth_free(a);
	return NULL;
}

/* Base64 text (len bytes) decoded into out (NUL-terminated); -1 if bad. */
static int
auth_b64(const char *in, size_t len, char *out, size_t outlen)
{
	int n;
	size_t pad = 0;

	while (len > 0 && (in[len - 1] == ' ' || in[len - 1] == '\t'))
		len--;
	if (len == 0 || len % 4 != 0 || len / 4 * 3 + 1 > outlen)
		return -1;
	if ((n = EVP_DecodeBlock((unsigned char *)out,
	    (const unsigned char *)in, (int)len)) < 0)
		return -1;
	if (in[len - 1] == '=')
		pad++;
	if (in[len - 2] == '=')
		pad++;
	n -= (int)pad;
	out[n] = '\0';
	return memchr(out, '\0', (size_t)n) == NULL ? n : -1;
}

/* Whether a and b (NUL-terminated) are equal, in time that hides where. */
static int
auth_same(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	return la == lb && CRYPTO_memcmp(a, b, la) == 0;
}

static int
auth_basic(struct auth *a, char *cred)
{
	struct crypt_data cd;
	const char *hash = a->dummy, *out;
	char *colon;
	size_t i;
	int ok;

	if ((colon = strchr(cred, ':')) == NULL)
		return 0;
	*colon = '\0';
	for (i = 0; i < a->nusers; i++)
		if (strcmp(a->users[i].name, cred) == 0)
			hash = a->users[i].hash;
	memset(&cd, 0, sizeof(cd));
	/* An unknown user costs a hash too. */
	out = crypt_r(colon + 1, hash, &cd);
	ok = hash != a->dummy && out != NULL && out[0] != '*' &&
	    auth_same(out, hash);
	OPENSSL_cleanse(&cd, sizeof(cd));
	return ok;
}

static int
auth_apikey(struct auth *a, const char *cred)
{
	unsigned char d[SHA256_DIGEST_LENGTH];
	const char *colon = strchr(cred, ':');
	size_t i;
	int ok = 0;

	if (colon == NULL)
		return 0;
	SHA256((const unsigned char *)colon + 1, strlen(colon + 1), d);
	for (i = 0; i < a->nkeys; i++)
		if (strlen(a->keys[i].id) == (size_t)(colon - cred) &&
		    memcmp(a->keys[i].id, cred, (size_t)(colon - cred)) == 0)
			ok |= CRYPTO_memcmp(a->keys[i].digest, d,
			    sizeof(d)) == 0;
	OPENSSL_cleanse(d, sizeof(d));
	return ok;
}

int
auth_check(struct auth *a, const char *authorization, uint64_t now)
{
	unsigned char d[SHA256_DIGEST_LENGTH];
	char cred[AUTH_HEADER_MAX];
	const char *p;
	size_t i, len;
	int ok = 0, hit = 0;

	if (authorization == NULL ||
	    (len = strlen(authorization)) >= AUTH_HEADER_MAX)
		return 0;
	SHA256((const unsigned char *)authorization, len, d);
	for (i = 0; i < AUTH_CACHE_SLOTS; i++)
		hit |= now < a->seen[i].until &&
		    CRYPTO_memcmp(a->seen[i].digest, d, sizeof(d)) == 0;
	if (hit)
		return 1;
	for (p = authorization; *p != '\0' && *p != ' '; p++)
		;
	len = (size_t)(p - authorization);
	while (*p == ' ')
		p++;
	if (auth_b64(p, strlen(p), cred, sizeof(cred)) == -1)
		return 0;
	if (len == 5 && strncasecmp(authorization, "Basic", 5) == 0)
		ok = auth_basic(a, cred);
	else if (len == 6 && strncasecmp(authorization, "ApiKey", 6) == 0)
		ok = auth_apikey(a, cred);
	OPENSSL_cleanse(cred, sizeof(cred));
	if (ok) {
		memcpy(a->seen[a->next].digest, d, sizeof(d));
		a->seen[a->next].until = now + AUTH_CACHE_NS;
		a->next = (a->next + 1) % AUTH_CACHE_SLOTS;
	}
	return ok;
}
