/*
 * Unit tests for auth, the checker of ingest_auth: users with crypt(3)
 * hashes for HTTP Basic, API keys kept as their SHA-256 for "ApiKey",
 * the configuration it refuses, how it reads the Authorization header,
 * and the cache of verified credentials, on a fake clock.
 *
 * The hashes are made here with crypt(3) itself, for each method
 * mkpasswd offers ($y$, $2b$, $6$), from fixed salts at the lowest cost
 * each takes, and the API keys' digests with OpenSSL.
 *
 * Whether a check ran crypt(3) or answered from the cache is seen
 * without timing: this program defines crypt_r(), which auth.c calls
 * (the program's own definition comes before libcrypt's), counts the
 * calls and the settings they hash with, and hands them on to
 * libcrypt's.
 */
#include <crypt.h>
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "auth.h"
#include "check_common.h"

#define NS	1000000000ULL		/* one second */
#define T0	(1000 * NS)		/* an arbitrary start, not 0 */

/* --- crypt_r(), counted ---------------------------------------------- */

static unsigned long	crypt_calls;
static char		crypt_setting[256];	/* of the last call */

char *
crypt_r(const char *phrase, const char *setting, struct crypt_data *data)
{
	static char *(*real)(const char *, const char *,
	    struct crypt_data *);

	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "crypt_r");
	ck_assert_ptr_nonnull(real);
	crypt_calls++;
	snprintf(crypt_setting, sizeof(crypt_setting), "%s", setting);
	return real(phrase, setting, data);
}

/*
 * The crypt(3) hash of password with the method of prefix ("$y$", ...)
 * at cost count, from a fixed salt (salt_byte), malloc'ed; not counted
 * among auth's calls.
 */
static char *
hash_of(const char *password, const char *prefix, unsigned long count,
    char salt_byte)
{
	char salt[CRYPT_GENSALT_OUTPUT_SIZE], rbytes[16];
	struct crypt_data cd;
	unsigned long calls = crypt_calls;
	char *h;

	memset(rbytes, salt_byte, sizeof(rbytes));
	ck_assert_ptr_nonnull(crypt_gensalt_rn(prefix, count, rbytes,
	    sizeof(rbytes), salt, sizeof(salt)));
	memset(&cd, 0, sizeof(cd));
	h = crypt_r(password, salt, &cd);
	ck_assert_msg(h != NULL && h[0] == '$', "crypt(3) refused %s", salt);
	ck_assert_ptr_nonnull(h = strdup(h));
	crypt_calls = calls;
	return h;
}

/* The cheap hashes most tests use. */
#define YESCRYPT(pw)	hash_of((pw), "$y$", 1, 'y')
#define BCRYPT(pw)	hash_of((pw), "$2b$", 4, 'b')
#define SHA512(pw)	hash_of((pw), "$6$", 1000, '6')

/* "sha256:" and the hex SHA-256 of key, as ingest_auth keeps a key. */
static void
sha256_ref(const char *key, char *out, size_t outlen, int upper)
{
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned int n, i;
	int len;

	ck_assert_int_eq(EVP_Digest(key, strlen(key), d, &n, EVP_sha256(),
	    NULL), 1);
	ck_assert_uint_eq(n, 32);
	len = snprintf(out, outlen, "sha256:");
	for (i = 0; i < n; i++)
		len += snprintf(out + len, outlen - (size_t)len,
		    upper ? "%02X" : "%02x", d[i]);
	ck_assert_int_eq(len, 7 + 64);
}

/* "scheme base64(cred)", cred of credlen bytes (NULs allowed). */
static const char *
header_n(char *out, size_t outlen, const char *scheme, const char *cred,
    size_t credlen)
{
	int n;

	n = snprintf(out, outlen, "%s ", scheme);
	ck_assert_uint_lt((size_t)n + (credlen + 2) / 3 * 4, outlen);
	EVP_EncodeBlock((unsigned char *)out + n, (const unsigned char *)cred,
	    (int)credlen);
	return out;
}

static const char *
header(char *out, size_t outlen, const char *scheme, const char *cred)
{
	return header_n(out, outlen, scheme, cred, strlen(cred));
}

#define BASIC(buf, cred)	header((buf), sizeof(buf), "Basic", (cred))
#define APIKEY(buf, cred)	header((buf), sizeof(buf), "ApiKey", (cred))

/* The ingest_auth text of root (taken), as the config hands it over. */
static struct auth *
auth_of(json_t *root)
{
	struct auth *a;
	char err[300], *text;

	ck_assert_ptr_nonnull(root);
	ck_assert_ptr_nonnull(text = json_dumps(root, 0));
	err[0] = '\0';
	a = auth_new(text, err, sizeof(err));
	ck_assert_msg(a != NULL, "%s: %s", text, err);
	free(text);
	json_decref(root);
	return a;
}

/* A Basic check of cred ("user:password") at now: 1 or 0. */
static int
basic_ok(struct auth *a, const char *cred, uint64_t now)
{
	char h[512];

	return auth_check(a, BASIC(h, cred), now);
}

/* --- users ----------------------------------------------------------- */

/*
 * A user's hash of each method mkpasswd makes: the password is accepted,
 * and nothing else is: another password, its prefix, more after it, the
 * empty one, another user's, the user's name in another case.
 */
START_TEST(users_by_crypt_method)
{
	char *hashes[3];
	struct auth *a;
	size_t i;

	hashes[0] = YESCRYPT("s3cret");
	hashes[1] = BCRYPT("s3cret");
	hashes[2] = SHA512("s3cret");
	ck_assert(strncmp(hashes[0], "$y$", 3) == 0 &&
	    strncmp(hashes[1], "$2b$", 4) == 0 &&
	    strncmp(hashes[2], "$6$", 3) == 0);
	for (i = 0; i < 3; i++) {
		a = auth_of(json_pack("{s:{s:s, s:s}}", "users", "shipper",
		    hashes[i], "other", hashes[(i + 1) % 3]));
		ck_assert_msg(basic_ok(a, "shipper:s3cret", T0) == 1, "%s",
		    hashes[i]);
		ck_assert_int_eq(basic_ok(a, "other:s3cret", T0), 1);
		ck_assert_int_eq(basic_ok(a, "shipper:s3cre", T0), 0);
		ck_assert_int_eq(basic_ok(a, "shipper:s3cret!", T0), 0);
		ck_assert_int_eq(basic_ok(a, "shipper:S3cret", T0), 0);
		ck_assert_int_eq(basic_ok(a, "shipper:", T0), 0);
		ck_assert_int_eq(basic_ok(a, "Shipper:s3cret", T0), 0);
		ck_assert_int_eq(basic_ok(a, "shippe:s3cret", T0), 0);
		ck_assert_int_eq(basic_ok(a, "nobody:s3cret", T0), 0);
		ck_assert_int_eq(basic_ok(a, ":s3cret", T0), 0);
		auth_free(a);
	}
	for (i = 0; i < 3; i++)
		free(hashes[i]);
}
END_TEST

/*
 * Each user has their own password, and a password may hold colons
 * (only the first one ends the user name), spaces and any UTF-8.
 */
START_TEST(users_apart_and_colons_in_passwords)
{
	char *h1 = SHA512("p:a:ss"), *h2 = BCRYPT(" sp ace\xc3\xa9 "), *h3;
	struct auth *a;

	h3 = YESCRYPT("");
	a = auth_of(json_pack("{s:{s:s, s:s, s:s}}", "users", "alice", h1,
	    "bob", h2, "eve", h3));
	ck_assert_int_eq(basic_ok(a, "alice:p:a:ss", T0), 1);
	ck_assert_int_eq(basic_ok(a, "alice:p", T0), 0);
	ck_assert_int_eq(basic_ok(a, "alice:p:a", T0), 0);
	ck_assert_int_eq(basic_ok(a, "alice:a:ss", T0), 0);
	ck_assert_int_eq(basic_ok(a, "bob: sp ace\xc3\xa9 ", T0), 1);
	ck_assert_int_eq(basic_ok(a, "bob:sp ace\xc3\xa9", T0), 0);
	ck_assert_int_eq(basic_ok(a, "bob:p:a:ss", T0), 0);
	ck_assert_int_eq(basic_ok(a, "alice: sp ace\xc3\xa9 ", T0), 0);
	/* A user whose password is empty. */
	ck_assert_int_eq(basic_ok(a, "eve:", T0), 1);
	ck_assert_int_eq(basic_ok(a, "eve: ", T0), 0);
	ck_assert_int_eq(basic_ok(a, "eve", T0), 0);
	auth_free(a);
	free(h1);
	free(h2);
	free(h3);
}
END_TEST

/*
 * A wrong password and an unknown user are refused alike, at the cost
 * of one hash each: a check does not tell who exists by doing less.
 */
START_TEST(unknown_user_costs_a_hash)
{
	char *h = SHA512("s3cret");
	struct auth *a;

	a = auth_of(json_pack("{s:{s:s}}", "users", "shipper", h));
	crypt_calls = 0;
	ck_assert_int_eq(basic_ok(a, "shipper:wrong", T0), 0);
	ck_assert_uint_eq(crypt_calls, 1);
	ck_assert_int_eq(basic_ok(a, "nobody:wrong", T0), 0);
	ck_assert_uint_eq(crypt_calls, 2);
	/* Whatever the unknown user's password is. */
	ck_assert_int_eq(basic_ok(a, "nobody:s3cret", T0), 0);
	ck_assert_int_eq(basic_ok(a, "nobody:", T0), 0);
	ck_assert_uint_eq(crypt_calls, 4);
	auth_free(a);

	/* No users at all: still a hash, still refused. */
	a = auth_of(json_pack("{s:{}}", "users"));
	crypt_calls = 0;
	ck_assert_int_eq(basic_ok(a, "shipper:s3cret", T0), 0);
	ck_assert_uint_eq(crypt_calls, 1);
	auth_free(a);
	free(h);
}
END_TEST

/*
 * The method and cost of a hash: what comes before its salt ("$y$j75$",
 * "$2b$04$", "$6$rounds=1000$"; "$6$" for the default rounds).
 */
static void
cost_of(const char *hash, char *out, size_t outlen)
{
	const char *p = hash + 1;
	int fields = 2;

	if (strncmp(hash, "$6$", 3) == 0 || strncmp(hash, "$5$", 3) == 0)
		fields = strncmp(hash + 3, "rounds=", 7) == 0 ? 2 : 1;
	while (fields-- > 0 && (p = strchr(p, '$')) != NULL)
		p++;
	ck_assert_ptr_nonnull(p);
	snprintf(out, outlen, "%.*s", (int)(p - hash), hash);
}

/*
 * An unknown user is hashed at the users' method and cost: with a fixed
 * cheap setting ($6$, 5000 rounds, about 2 ms) against users' hashes as
 * mkpasswd makes them ($y$j9T$, yescrypt at cost 5, 15-25 ms), a 401
 * for an unknown name would come ten times faster than one for a wrong
 * password, and tell which user names exist.
 */
START_TEST(unknown_user_hashed_at_the_users_cost)
{
	char *h = hash_of("s3cret", "$y$", 0, 'y');
	char want[64], got[64];
	struct auth *a;

	a = auth_of(json_pack("{s:{s:s}}", "users", "shipper", h));
	cost_of(h, want, sizeof(want));
	ck_assert_int_eq(basic_ok(a, "shipper:wrong", T0), 0);
	cost_of(crypt_setting, got, sizeof(got));
	ck_assert_str_eq(got, want);
	ck_assert_int_eq(basic_ok(a, "nobody:wrong", T0), 0);
	cost_of(crypt_setting, got, sizeof(got));
	ck_assert_msg(strcmp(got, want) == 0, "an unknown user is hashed "
	    "with %s (\"%s\"), the user with %s", got, crypt_setting, want);
	auth_free(a);
	free(h);
}
END_TEST

/* --- API keys -------------------------------------------------------- */

/*
 * An API key is its ID and the key whose SHA-256 ingest_auth keeps, in
 * hex of either case; only that ID with that key is accepted, and no
 * crypt(3) is spent on it.
 */
START_TEST(api_keys_by_sha256)
{
	char d1[80], d2[80], d3[80], h[512];
	struct auth *a;

	sha256_ref("a-long-random-key", d1, sizeof(d1), 0);
	sha256_ref("key:with:colons", d2, sizeof(d2), 1);
	sha256_ref("", d3, sizeof(d3), 0);
	a = auth_of(json_pack("{s:{s:s, s:s, s:s}}", "api_keys", "k1", d1,
	    "k2", d2, "empty", d3));
	crypt_calls = 0;
	ck_assert_int_eq(auth_check(a, APIKEY(h, "k1:a-long-random-key"),
	    T0), 1);
	ck_assert_int_eq(auth_check(a, APIKEY(h, "k2:key:with:colons"), T0),
	    1);
	ck_assert_int_eq(auth_check(a, APIKEY(h, "empty:"), T0), 1);
	ck_assert_int_eq(auth_check(a, APIKEY(h, "k1:a-long-random-ke"), T0),
	    0);
	ck_assert_int_eq(auth_check(a, APIKEY(h, "k1:a-long-random-key "),
	    T0), 0);
	ck_assert_int_eq(auth_check(a, APIKEY(h, "k1:key:with:colons"), T0),
	    0);
	ck_assert_int_eq(auth_check(a, APIKEY(h, "k2:a-long-random-key"), T0),
	    0);
	ck_assert_int_eq(auth_check(a, APIKEY(h, "k2:key"), T0), 0);
	ck_assert_int_eq(auth_check(a, APIKEY(h, "k:a-long-random-key"), T0),
	    0);
	ck_assert_int_eq(auth_check(a, APIKEY(h, "k11:a-long-random-key"),
	    T0), 0);
	ck_assert_int_eq(auth_check(a, APIKEY(h, "K1:a-long-random-key"), T0),
	    0);
	ck_assert_int_eq(auth_check(a, APIKEY(h, ":a-long-random-key"), T0),
	    0);
	ck_assert_int_eq(auth_check(a, APIKEY(h, "empty: "), T0), 0);
	/* The digest is not the key. */
	ck_assert_int_eq(auth_check(a, APIKEY(h, "k1:sha256:"), T0), 0);
	ck_assert_uint_eq(crypt_calls, 0);
	auth_free(a);
}
END_TEST

/*
 * Users and API keys are apart: a user's password is no API key of the
 * same name, an API key no user's password, whichever scheme names it.
 */
START_TEST(schemes_kept_apart)
{
	char *hash = SHA512("s3cret"), dig[80], h[512];
	struct auth *a;

	sha256_ref("the-key", dig, sizeof(dig), 0);
	a = auth_of(json_pack("{s:{s:s}, s:{s:s}}", "users", "shipper", hash,
	    "api_keys", "shipper", dig));
	ck_assert_int_eq(auth_check(a, BASIC(h, "shipper:s3cret"), T0), 1);
	ck_assert_int_eq(auth_check(a, APIKEY(h, "shipper:the-key"), T0), 1);
	ck_assert_int_eq(auth_check(a, BASIC(h, "shipper:the-key"), T0), 0);
	ck_assert_int_eq(auth_check(a, APIKEY(h, "shipper:s3cret"), T0), 0);
	ck_assert_int_eq(auth_check(a, header(h, sizeof(h), "Bearer",
	    "shipper:s3cret"), T0), 0);
	ck_assert_int_eq(auth_check(a, header(h, sizeof(h), "Digest",
	    "shipper:s3cret"), T0), 0);
	ck_assert_int_eq(auth_check(a, "Bearer the-key", T0), 0);
	auth_free(a);
	free(hash);
}
END_TEST

/* --- the Authorization header ---------------------------------------- */

/*
 * The scheme is a token compared without regard to case (RFC 9110
 * 11.1), followed by one or more spaces and the credentials; trailing
 * blanks are not part of them.  A scheme that merely starts or ends
 * like one is not it.
 */
START_TEST(header_scheme_and_spacing)
{
	char *hash = SHA512("pw"), dig[80], cred[64], h[512];
	struct auth *a;

	sha256_ref("key", dig, sizeof(dig), 0);
	a = auth_of(json_pack("{s:{s:s}, s:{s:s}}", "users", "alice", hash,
	    "api_keys", "id", dig));
	EVP_EncodeBlock((unsigned char *)cred, (const unsigned char *)
	    "alice:pw", 8);
	ck_assert_str_eq(cred, "YWxpY2U6cHc=");

	ck_assert_int_eq(auth_check(a, "Basic YWxpY2U6cHc=", T0), 1);
	ck_assert_int_eq(auth_check(a, "basic YWxpY2U6cHc=", T0), 1);
	ck_assert_int_eq(auth_check(a, "BASIC YWxpY2U6cHc=", T0), 1);
	ck_assert_int_eq(auth_check(a, "bAsIc YWxpY2U6cHc=", T0), 1);
	ck_assert_int_eq(auth_check(a, "Basic    YWxpY2U6cHc=", T0), 1);
	ck_assert_int_eq(auth_check(a, "Basic YWxpY2U6cHc=  ", T0), 1);
	ck_assert_int_eq(auth_check(a, "Basic YWxpY2U6cHc= \t", T0), 1);
	ck_assert_int_eq(auth_check(a, header(h, sizeof(h), "apikey",
	    "id:key"), T0), 1);
	ck_assert_int_eq(auth_check(a, header(h, sizeof(h), "APIKEY",
	    "id:key"), T0), 1);
	ck_assert_int_eq(auth_check(a, header(h, sizeof(h), "ApiKey  ",
	    "id:key"), T0), 1);

	ck_assert_int_eq(auth_check(a, "BasicYWxpY2U6cHc=", T0), 0);
	ck_assert_int_eq(auth_check(a, "Basi YWxpY2U6cHc=", T0), 0);
	ck_assert_int_eq(auth_check(a, "Basics YWxpY2U6cHc=", T0), 0);
	ck_assert_int_eq(auth_check(a, "XBasic YWxpY2U6cHc=", T0), 0);
	ck_assert_int_eq(auth_check(a, "Basic: YWxpY2U6cHc=", T0), 0);
	ck_assert_int_eq(auth_check(a, "YWxpY2U6cHc=", T0), 0);
	ck_assert_int_eq(auth_check(a, header(h, sizeof(h), "ApiKeys",
	    "id:key"), T0), 0);
	ck_assert_int_eq(auth_check(a, header(h, sizeof(h), "Api",
	    "id:key"), T0), 0);
	auth_free(a);
	free(hash);
}
END_TEST

/*
 * What is not a credential is refused: no header, an empty one, a scheme
 * alone, credentials that are not base64 (a character outside the
 * alphabet, a length that is not a whole number of quanta, a space
 * inside, the URL-safe alphabet), that decode without the colon between
 * name and secret, or with a NUL in them; for both schemes.
 */
START_TEST(header_malformed_credentials)
{
	char *hash = SHA512("pw?>"), dig[80], h[512];
	struct auth *a;

	sha256_ref("k?>", dig, sizeof(dig), 0);
	a = auth_of(json_pack("{s:{s:s}, s:{s:s}}", "users", "alice", hash,
	    "api_keys", "id", dig));
	/* Both encode to '+' and '/'; the URL-safe spelling has '-', '_'. */
	ck_assert_str_eq(BASIC(h, "alice:pw?>"), "Basic YWxpY2U6cHc/Pg==");
	ck_assert_int_eq(auth_check(a, h, T0), 1);
	ck_assert_str_eq(APIKEY(h, "id:k?>"), "ApiKey aWQ6az8+");
	ck_assert_int_eq(auth_check(a, h, T0), 1);

	ck_assert_int_eq(auth_check(a, NULL, T0), 0);
	ck_assert_int_eq(auth_check(a, "", T0), 0);
	ck_assert_int_eq(auth_check(a, " ", T0), 0);
	ck_assert_int_eq(auth_check(a, "Basic", T0), 0);
	ck_assert_int_eq(auth_check(a, "Basic ", T0), 0);
	ck_assert_int_eq(auth_check(a, "ApiKey", T0), 0);
	ck_assert_int_eq(auth_check(a, "ApiKey   ", T0), 0);

	ck_assert_int_eq(auth_check(a, "Basic !!!!", T0), 0);
	ck_assert_int_eq(auth_check(a, "Basic YWxpY2U6cHc_Pg==", T0), 0);
	ck_assert_int_eq(auth_check(a, "Basic YWxpY2U6cHc/Pg=", T0), 0);
	ck_assert_int_eq(auth_check(a, "Basic YWxpY2U6cHc/Pg", T0), 0);
	ck_assert_int_eq(auth_check(a, "Basic YWxpY2U6 cHc/Pg=", T0), 0);
	ck_assert_int_eq(auth_check(a, "Basic YWxpY2U6cHc/Pg==\x01", T0), 0);
	ck_assert_int_eq(auth_check(a, "Basic Y", T0), 0);
	ck_assert_int_eq(auth_check(a, "ApiKey aWQ6az8-", T0), 0);
	ck_assert_int_eq(auth_check(a, "ApiKey aWQ6az8", T0), 0);
	ck_assert_int_eq(auth_check(a, "ApiKey aWQ6a*8+", T0), 0);
	ck_assert_int_eq(auth_check(a, "ApiKey id:k?>", T0), 0);

	/* No colon: a name alone, or name and secret run together. */
	ck_assert_int_eq(auth_check(a, BASIC(h, "alice"), T0), 0);
	ck_assert_int_eq(auth_check(a, BASIC(h, "alicepw?>"), T0), 0);
	ck_assert_int_eq(auth_check(a, APIKEY(h, "id"), T0), 0);
	ck_assert_int_eq(auth_check(a, APIKEY(h, "idk?>"), T0), 0);
	ck_assert_int_eq(auth_check(a, BASIC(h, ""), T0), 0);

	/* A NUL inside, or after what would otherwise be right. */
	ck_assert_int_eq(auth_check(a, header_n(h, sizeof(h), "Basic",
	    "alice:pw?>\0", 11), T0), 0);
	ck_assert_int_eq(auth_check(a, header_n(h, sizeof(h), "Basic",
	    "alice\0:pw?>", 11), T0), 0);
	ck_assert_int_eq(auth_check(a, header_n(h, sizeof(h), "ApiKey",
	    "id:k?>\0", 7), T0), 0);
	ck_assert_int_eq(auth_check(a, header_n(h, sizeof(h), "ApiKey",
	    "id:k\0?>", 7), T0), 0);
	auth_free(a);
	free(hash);
}
END_TEST

/* A header of len bytes: prefix, then "QUFB" (base64 of "AAA") over. */
static char *
long_header(const char *prefix, size_t len)
{
	size_t i, n = strlen(prefix);
	char *h;

	ck_assert_ptr_nonnull(h = malloc(len + 1));
	memcpy(h, prefix, n);
	for (i = n; i < len; i++)
		h[i] = "QUFB"[(i - n) % 4];
	h[len] = '\0';
	return h;
}

/*
 * Headers of any length are read within bounds and refused when they
 * are not a credential (long base64 that decodes to no colon, headers
 * far past any credential's length), and a password as long as crypt(3)
 * takes is a password.
 */
START_TEST(header_long)
{
	static const size_t lens[] = { 100, 3000, 4090, 4095, 4096, 4097,
	    8192, 100000 };
	char *hash, *lh, pw[CRYPT_MAX_PASSPHRASE_SIZE], cred[600], h[1024];
	struct auth *a;
	size_t i;

	memset(pw, 'p', sizeof(pw) - 1);
	pw[sizeof(pw) - 1] = '\0';
	hash = SHA512(pw);
	a = auth_of(json_pack("{s:{s:s}, s:{}}", "users", "long", hash,
	    "api_keys"));
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		lh = long_header("Basic ", lens[i]);
		ck_assert_int_eq(auth_check(a, lh, T0), 0);
		free(lh);
		lh = long_header("ApiKey ", lens[i]);
		ck_assert_int_eq(auth_check(a, lh, T0), 0);
		free(lh);
	}
	snprintf(cred, sizeof(cred), "long:%s", pw);
	ck_assert_int_eq(auth_check(a, BASIC(h, cred), T0), 1);
	cred[strlen(cred) - 1] = '\0';
	ck_assert_int_eq(auth_check(a, BASIC(h, cred), T0), 0);
	auth_free(a);
	free(hash);
}
END_TEST

/* --- the cache ------------------------------------------------------- */

/*
 * A credential verified is remembered for AUTH_CACHE_NS: checked again
 * within that it is accepted without crypt(3); from then on it is
 * verified again, and remembered anew.
 */
START_TEST(cache_spares_crypt_for_its_time)
{
	char *hash = SHA512("s3cret");
	struct auth *a;

	a = auth_of(json_pack("{s:{s:s}}", "users", "shipper", hash));
	crypt_calls = 0;
	ck_assert_int_eq(basic_ok(a, "shipper:s3cret", T0), 1);
	ck_assert_uint_eq(crypt_calls, 1);
	ck_assert_int_eq(basic_ok(a, "shipper:s3cret", T0), 1);
	ck_assert_int_eq(basic_ok(a, "shipper:s3cret", T0 + 1), 1);
	ck_assert_int_eq(basic_ok(a, "shipper:s3cret", T0 + AUTH_CACHE_NS -
	    1), 1);
	ck_assert_uint_eq(crypt_calls, 1);

	ck_assert_int_eq(basic_ok(a, "shipper:s3cret", T0 + AUTH_CACHE_NS),
	    1);
	ck_assert_uint_eq(crypt_calls, 2);
	ck_assert_int_eq(basic_ok(a, "shipper:s3cret", T0 + 2 *
	    AUTH_CACHE_NS - 1), 1);
	ck_assert_uint_eq(crypt_calls, 2);
	ck_assert_int_eq(basic_ok(a, "shipper:s3cret", T0 + 5 *
	    AUTH_CACHE_NS), 1);
	ck_assert_uint_eq(crypt_calls, 3);
	auth_free(a);
	free(hash);
}
END_TEST

/*
 * Only what was verified is remembered: refusals are not (every wrong
 * password costs its hash), and a remembered credential lets no other
 * one through, of the same user or another.
 */
START_TEST(cache_remembers_only_what_was_verified)
{
	char *h1 = SHA512("s3cret"), *h2 = SHA512("other");
	struct auth *a;

	a = auth_of(json_pack("{s:{s:s, s:s}}", "users", "shipper", h1,
	    "second", h2));
	crypt_calls = 0;
	ck_assert_int_eq(basic_ok(a, "shipper:wrong", T0), 0);
	ck_assert_int_eq(basic_ok(a, "shipper:wrong", T0), 0);
	ck_assert_uint_eq(crypt_calls, 2);

	ck_assert_int_eq(basic_ok(a, "shipper:s3cret", T0), 1);
	ck_assert_uint_eq(crypt_calls, 3);
	ck_assert_int_eq(basic_ok(a, "shipper:wrong", T0), 0);
	ck_assert_int_eq(basic_ok(a, "shipper:s3cret ", T0), 0);
	ck_assert_int_eq(basic_ok(a, "second:s3cret", T0), 0);
	ck_assert_int_eq(basic_ok(a, "nobody:s3cret", T0), 0);
	ck_assert_uint_eq(crypt_calls, 7);
	/* The refusals did not push it out. */
	ck_assert_int_eq(basic_ok(a, "shipper:s3cret", T0 + 1), 1);
	ck_assert_uint_eq(crypt_calls, 7);
	/* Another user is verified on its own, then remembered too. */
	ck_assert_int_eq(basic_ok(a, "second:other", T0 + 2), 1);
	ck_assert_int_eq(basic_ok(a, "second:other", T0 + 3), 1);
	ck_assert_uint_eq(crypt_calls, 8);
	ck_assert_int_eq(basic_ok(a, "shipper:s3cret", T0 + 4), 1);
	ck_assert_uint_eq(crypt_calls, 8);
	auth_free(a);
	free(h1);
	free(h2);
}
END_TEST

/*
 * A password changed (a new ingest_auth, as a reload makes) is the new
 * one at once: the old one, verified a moment before, is not accepted
 * from anyone's cache, and the checker of the old configuration is
 * left as it was.
 */
START_TEST(cache_changed_password)
{
	char *old = SHA512("old-pw"), *new = SHA512("new-pw");
	struct auth *a1, *a2;

	a1 = auth_of(json_pack("{s:{s:s}}", "users", "shipper", old));
	ck_assert_int_eq(basic_ok(a1, "shipper:old-pw", T0), 1);
	a2 = auth_of(json_pack("{s:{s:s}}", "users", "shipper", new));
	ck_assert_int_eq(basic_ok(a2, "shipper:old-pw", T0 + 1), 0);
	ck_assert_int_eq(basic_ok(a2, "shipper:new-pw", T0 + 1), 1);
	ck_assert_int_eq(basic_ok(a2, "shipper:old-pw", T0 + 2), 0);
	ck_assert_int_eq(basic_ok(a1, "shipper:old-pw", T0 + 2), 1);
	ck_assert_int_eq(basic_ok(a1, "shipper:new-pw", T0 + 2), 0);
	auth_free(a2);

	/* The user removed: the old password is refused at once. */
	a2 = auth_of(json_pack("{s:{}}", "users"));
	ck_assert_int_eq(basic_ok(a2, "shipper:old-pw", T0 + 3), 0);
	auth_free(a2);
	auth_free(a1);
	free(old);
	free(new);
}
END_TEST

/*
 * The cache is bounded: after a thousand other credentials were
 * verified (API keys, each header spelt differently), the first one is
 * verified again rather than remembered with all of them.
 */
START_TEST(cache_is_bounded)
{
	char *hash = SHA512("s3cret"), dig[80], h[2048];
	struct auth *a;
	size_t i, n;

	sha256_ref("key", dig, sizeof(dig), 0);
	a = auth_of(json_pack("{s:{s:s}, s:{s:s}}", "users", "shipper", hash,
	    "api_keys", "id", dig));
	crypt_calls = 0;
	ck_assert_int_eq(basic_ok(a, "shipper:s3cret", T0), 1);
	ck_assert_int_eq(basic_ok(a, "shipper:s3cret", T0), 1);
	ck_assert_uint_eq(crypt_calls, 1);
	APIKEY(h, "id:key");
	n = strlen(h);
	for (i = 0; i < 1000; i++) {
		ck_assert_int_eq(auth_check(a, h, T0 + 1), 1);
		h[n + i] = ' ';			/* the next one: one more */
		h[n + i + 1] = '\0';
	}
	ck_assert_uint_eq(crypt_calls, 1);
	ck_assert_int_eq(basic_ok(a, "shipper:s3cret", T0 + 2), 1);
	ck_assert_uint_eq(crypt_calls, 2);
	auth_free(a);
	free(hash);
}
END_TEST

/* --- the configuration ----------------------------------------------- */

#define HEX16	"0000000000000000"

/*
 * ingest_auth refused, with the message that names what is wrong: not
 * an object, an unknown key, users or api_keys not objects, a user's
 * hash that is not a crypt(3) hash, an API key that is not "sha256:"
 * and 64 hex digits; the user or key is named.
 */
START_TEST(config_refused_with_reason)
{
	static const struct {
		const char	*json;
		const char	*want[3];
	} bad[] = {
		{ "", { "\"ingest_auth\" must be an object" } },
		{ "{", { "\"ingest_auth\" must be an object" } },
		{ "[]", { "\"ingest_auth\" must be an object" } },
		{ "[\"x\"]", { "\"ingest_auth\" must be an object" } },
		{ "\"users\"", { "\"ingest_auth\" must be an object" } },
		{ "null", { "\"ingest_auth\" must be an object" } },
		{ "{\"groups\": {}}", { "unknown key \"groups\"" } },
		{ "{\"users\": {}, \"user\": {}}", { "unknown key \"user\"" } },
		{ "{\"users\": []}", { "\"users\" and \"api_keys\" must be "
		    "objects" } },
		{ "{\"users\": null}", { "\"users\" and \"api_keys\" must be "
		    "objects" } },
		{ "{\"api_keys\": \"sha256:00\"}", { "\"users\" and "
		    "\"api_keys\" must be objects" } },
		{ "{\"users\": {\"u\": \"plaintext\"}}", { "user \"u\"",
		    "crypt(3) hash" } },
		{ "{\"users\": {\"ok\": \"$6$abc$def\", \"u2\": \"\"}}",
		    { "user \"u2\"", "crypt(3) hash" } },
		{ "{\"users\": {\"u\": \"$6$\"}}", { "user \"u\"",
		    "crypt(3) hash" } },
		{ "{\"users\": {\"u\": 42}}", { "user \"u\"",
		    "crypt(3) hash" } },
		{ "{\"users\": {\"u\": null}}", { "user \"u\"",
		    "crypt(3) hash" } },
		{ "{\"api_keys\": {\"k\": \"sha256:abcd\"}}", { "API key "
		    "\"k\"", "\"sha256:\" and 64 hex digits" } },
		{ "{\"api_keys\": {\"k\": \"md5:" HEX16 HEX16 "\"}}",
		    { "API key \"k\"", "64 hex digits" } },
		{ "{\"api_keys\": {\"k\": \"sha256:" HEX16 HEX16 HEX16
		    "000000000000000\"}}", { "API key \"k\"",
		    "64 hex digits" } },
		{ "{\"api_keys\": {\"k\": \"sha256:" HEX16 HEX16 HEX16 HEX16
		    "0\"}}", { "API key \"k\"", "64 hex digits" } },
		{ "{\"api_keys\": {\"k\": \"sha256:" HEX16 HEX16 HEX16
		    "000000000000000g\"}}", { "API key \"k\"",
		    "64 hex digits" } },
		{ "{\"api_keys\": {\"k\": \"sha256: " HEX16 HEX16 HEX16
		    "000000000000000\"}}", { "API key \"k\"",
		    "64 hex digits" } },
		{ "{\"api_keys\": {\"k\": \"sha256:" HEX16 HEX16 HEX16 HEX16
		    "\", \"j\": \"sha256:\"}}", { "API key \"j\"",
		    "64 hex digits" } },
		{ "{\"api_keys\": {\"k\": 1}}", { "API key \"k\"",
		    "64 hex digits" } },
		{ "{\"api_keys\": {\"k\": \"\"}}", { "API key \"k\"",
		    "64 hex digits" } },
	};
	struct auth *a;
	char err[300];
	size_t i, j;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(err, 'x', sizeof(err));
		a = auth_new(bad[i].json, err, sizeof(err));
		ck_assert_msg(a == NULL, "%s: accepted", bad[i].json);
		ck_assert_msg(memchr(err, '\0', sizeof(err)) != NULL,
		    "%s: no message", bad[i].json);
		for (j = 0; j < 3 && bad[i].want[j] != NULL; j++)
			ck_assert_msg(strstr(err, bad[i].want[j]) != NULL,
			    "%s: \"%s\" does not say %s", bad[i].json, err,
			    bad[i].want[j]);
	}
}
END_TEST

/*
 * What ingest_auth accepts: either part absent or empty (nobody gets
 * in then), and digests in hex of either case; err is left alone.  A
 * message too long for err is cut, NUL-terminated.
 */
START_TEST(config_accepted)
{
	static const char *const good[] = {
		"{}",
		"{\"users\": {}}",
		"{\"api_keys\": {}}",
		"{\"users\": {}, \"api_keys\": {}}",
		" {\"users\": {\"u\": \"$6$abc$def\"}} ",
		"{\"api_keys\": {\"k\": \"sha256:0123456789abcdef"
		    "ABCDEF0123456789abcdefABCDEF0123456789abcdefABCD\"}}",
	};
	char err[300], small[8], h[512];
	struct auth *a;
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(err, sizeof(err), "untouched");
		a = auth_new(good[i], err, sizeof(err));
		ck_assert_msg(a != NULL, "%s: %s", good[i], err);
		ck_assert_str_eq(err, "untouched");
		ck_assert_int_eq(auth_check(a, APIKEY(h, "k:"), T0), 0);
		ck_assert_int_eq(auth_check(a, BASIC(h, "u:"), T0), 0);
		auth_free(a);
	}
	auth_free(NULL);

	memset(small, 'x', sizeof(small));
	ck_assert_ptr_null(auth_new("{\"users\": {\"u\": \"x\"}}", small,
	    sizeof(small)));
	ck_assert_uint_eq(strlen(small), sizeof(small) - 1);
	ck_assert(strncmp(small, "ingest_auth", sizeof(small) - 1) == 0);
}
END_TEST

/* A digest in upper-case hex is the same digest. */
START_TEST(config_digest_in_upper_case)
{
	char dig[80], h[512];
	struct auth *a;

	sha256_ref("the-key", dig, sizeof(dig), 1);
	a = auth_of(json_pack("{s:{s:s}}", "api_keys", "k", dig));
	ck_assert_int_eq(auth_check(a, APIKEY(h, "k:the-key"), T0), 1);
	ck_assert_int_eq(auth_check(a, APIKEY(h, "k:THE-KEY"), T0), 0);
	auth_free(a);
}
END_TEST

static Suite *
auth_suite(void)
{
	Suite *s = suite_create("auth");
	TCase *tc = tcase_create("auth");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, users_by_crypt_method);
	tcase_add_test(tc, users_apart_and_colons_in_passwords);
	tcase_add_test(tc, unknown_user_costs_a_hash);
	tcase_add_test(tc, unknown_user_hashed_at_the_users_cost);
	tcase_add_test(tc, api_keys_by_sha256);
	tcase_add_test(tc, schemes_kept_apart);
	tcase_add_test(tc, header_scheme_and_spacing);
	tcase_add_test(tc, header_malformed_credentials);
	tcase_add_test(tc, header_long);
	tcase_add_test(tc, cache_spares_crypt_for_its_time);
	tcase_add_test(tc, cache_remembers_only_what_was_verified);
	tcase_add_test(tc, cache_changed_password);
	tcase_add_test(tc, cache_is_bounded);
	tcase_add_test(tc, config_refused_with_reason);
	tcase_add_test(tc, config_accepted);
	tcase_add_test(tc, config_digest_in_upper_case);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(auth_suite());
}
