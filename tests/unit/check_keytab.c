/*
 * Unit tests for the per-key bucket table: one bucket per key value,
 * least recently seen evicted, long keys truncated.
 *
 * Time is a parameter in nanoseconds: every test drives a fake clock and
 * none of them sleeps.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "bucket.h"
#include "keytab.h"
#include "check_common.h"

#define NS	1000000000ULL		/* one second */
#define T0	(1000 * NS)		/* an arbitrary start, not 0 */

/* How many of n takes of cost at time now succeed. */
static int
take_n(struct bucket *b, int n, double cost, uint64_t now)
{
	int i, ok = 0;

	for (i = 0; i < n; i++)
		ok += bucket_take(b, cost, now);
	return ok;
}

struct seen {
	char	 keys[16][KEYTAB_KEY_MAX + 1];
	double	 tokens[16];
	size_t	 n;
};

static void
collect(const char *key, const struct keytab_entry *e, void *arg)
{
	struct seen *s = arg;

	if (s->n < 16) {
		snprintf(s->keys[s->n], sizeof(s->keys[0]), "%s", key);
		s->tokens[s->n] = e->bucket.tokens;
	}
	s->n++;
}

static struct keytab_entry *
get(struct keytab *kt, const char *key)
{
	return keytab_get(kt, key, strlen(key), 10, 5, T0);
}

START_TEST(keytab_new_entry_has_full_bucket)
{
	struct keytab *kt;
	struct keytab_entry *e;

	ck_assert_ptr_nonnull(kt = keytab_new(10));
	ck_assert_uint_eq(keytab_count(kt), 0);
	e = keytab_get(kt, "svc", 3, 2, 4, T0);
	ck_assert_ptr_nonnull(e);
	ck_assert_double_eq(e->bucket.rate, 2);
	ck_assert_double_eq(e->bucket.burst, 4);
	ck_assert_double_eq(e->bucket.tokens, 4);
	ck_assert_uint_eq(e->shed, 0);
	ck_assert_uint_eq(e->seen, 0);
	ck_assert_int_eq(take_n(&e->bucket, 10, 1, T0), 4);
	/* Same key: same state, the rate passed in does not reset it. */
	e = keytab_get(kt, "svc", 3, 100, 100, T0);
	ck_assert_double_eq(e->bucket.tokens, 0);
	ck_assert_uint_eq(keytab_count(kt), 1);
	/* The empty key is a key like any other. */
	e = keytab_get(kt, "", 0, 2, 4, T0);
	ck_assert_double_eq(e->bucket.tokens, 4);
	ck_assert_uint_eq(keytab_count(kt), 2);
	ck_assert_uint_eq(keytab_evictions(kt), 0);
	keytab_free(kt);
	keytab_free(NULL);
}
END_TEST

START_TEST(keytab_lru_evicts_least_recently_seen)
{
	struct keytab *kt;
	struct keytab_entry *e;
	struct seen s;

	kt = keytab_new(3);
	bucket_take(&get(kt, "a")->bucket, 5, T0);	/* drained */
	bucket_take(&get(kt, "b")->bucket, 5, T0);
	bucket_take(&get(kt, "c")->bucket, 5, T0);
	ck_assert_uint_eq(keytab_count(kt), 3);

	/* Touch a: b is now the least recently seen and goes. */
	ck_assert_double_eq(get(kt, "a")->bucket.tokens, 0);
	get(kt, "d");
	ck_assert_uint_eq(keytab_count(kt), 3);
	ck_assert_uint_eq(keytab_evictions(kt), 1);

	memset(&s, 0, sizeof(s));
	keytab_foreach(kt, collect, &s);
	ck_assert_uint_eq(s.n, 3);
	ck_assert_str_eq(s.keys[0], "d");
	ck_assert_str_eq(s.keys[1], "a");
	ck_assert_str_eq(s.keys[2], "c");

	/* a kept its drained bucket; b comes back fresh, evicting c. */
	e = get(kt, "b");
	ck_assert_double_eq(e->bucket.tokens, 5);
	ck_assert_uint_eq(keytab_evictions(kt), 2);
	ck_assert_double_eq(get(kt, "a")->bucket.tokens, 0);
	e = get(kt, "c");
	ck_assert_double_eq(e->bucket.tokens, 5);	/* c was evicted */
	ck_assert_uint_eq(keytab_evictions(kt), 3);	/* d went */

	memset(&s, 0, sizeof(s));
	keytab_foreach(kt, collect, &s);
	ck_assert_uint_eq(s.n, 3);
	ck_assert_str_eq(s.keys[0], "c");
	ck_assert_str_eq(s.keys[1], "a");
	ck_assert_str_eq(s.keys[2], "b");
	ck_assert_uint_eq(keytab_count(kt), 3);
	keytab_free(kt);
}
END_TEST

START_TEST(keytab_max_one)
{
	struct keytab *kt;

	kt = keytab_new(0);	/* treated as 1 */
	ck_assert_ptr_nonnull(kt);
	bucket_take(&get(kt, "x")->bucket, 5, T0);
	ck_assert_double_eq(get(kt, "x")->bucket.tokens, 0);
	ck_assert_double_eq(get(kt, "y")->bucket.tokens, 5);
	ck_assert_double_eq(get(kt, "x")->bucket.tokens, 5);
	ck_assert_uint_eq(keytab_count(kt), 1);
	ck_assert_uint_eq(keytab_evictions(kt), 2);
	keytab_free(kt);
}
END_TEST

START_TEST(keytab_truncates_long_keys)
{
	struct keytab *kt;
	char k1[300], k2[300];
	struct seen s;

	memset(k1, 'k', sizeof(k1));
	memcpy(k2, k1, sizeof(k2));
	memset(k2 + KEYTAB_KEY_MAX, 'z', sizeof(k2) - KEYTAB_KEY_MAX);

	kt = keytab_new(10);
	bucket_take(&keytab_get(kt, k1, 200, 10, 5, T0)->bucket, 5, T0);
	/* Same first KEYTAB_KEY_MAX bytes: the same entry. */
	ck_assert_double_eq(keytab_get(kt, k2, 300, 10, 5, T0)->bucket.tokens,
	    0);
	ck_assert_double_eq(keytab_get(kt, k1, KEYTAB_KEY_MAX, 10, 5,
	    T0)->bucket.tokens, 0);
	ck_assert_uint_eq(keytab_count(kt), 1);
	/* One byte shorter is another key. */
	ck_assert_double_eq(keytab_get(kt, k1, KEYTAB_KEY_MAX - 1, 10, 5,
	    T0)->bucket.tokens, 5);
	ck_assert_uint_eq(keytab_count(kt), 2);

	memset(&s, 0, sizeof(s));
	keytab_foreach(kt, collect, &s);
	ck_assert_uint_eq(s.n, 2);
	ck_assert_uint_eq(strlen(s.keys[0]), KEYTAB_KEY_MAX - 1);
	ck_assert_uint_eq(strlen(s.keys[1]), KEYTAB_KEY_MAX);
	keytab_free(kt);
}
END_TEST

START_TEST(keytab_binary_keys)
{
	struct keytab *kt;

	kt = keytab_new(10);
	bucket_take(&keytab_get(kt, "a\0b", 3, 10, 5, T0)->bucket, 5, T0);
	ck_assert_double_eq(keytab_get(kt, "a\0c", 3, 10, 5, T0)->bucket.tokens,
	    5);
	ck_assert_double_eq(keytab_get(kt, "a", 1, 10, 5, T0)->bucket.tokens,
	    5);
	ck_assert_double_eq(keytab_get(kt, "a\0b", 3, 10, 5, T0)->bucket.tokens,
	    0);
	ck_assert_uint_eq(keytab_count(kt), 3);
	keytab_free(kt);
}
END_TEST

START_TEST(keytab_flood_stays_bounded)
{
	struct keytab *kt;
	struct seen s;
	char key[32];
	int i, n;

	kt = keytab_new(100);
	for (i = 0; i < 1000000; i++) {
		n = snprintf(key, sizeof(key), "key-%d", i);
		ck_assert_ptr_nonnull(keytab_get(kt, key, (size_t)n, 1, 1,
		    T0 + (uint64_t)i));
	}
	ck_assert_uint_eq(keytab_count(kt), 100);
	ck_assert_uint_eq(keytab_evictions(kt), 1000000 - 100);

	memset(&s, 0, sizeof(s));
	keytab_foreach(kt, collect, &s);
	ck_assert_uint_eq(s.n, 100);
	ck_assert_str_eq(s.keys[0], "key-999999");
	ck_assert_str_eq(s.keys[1], "key-999998");
	ck_assert_str_eq(s.keys[15], "key-999984");

	/* The survivors are exactly the last 100: all still found. */
	for (i = 999900; i < 1000000; i++) {
		n = snprintf(key, sizeof(key), "key-%d", i);
		keytab_get(kt, key, (size_t)n, 1, 1, T0);
	}
	ck_assert_uint_eq(keytab_evictions(kt), 1000000 - 100);
	/* and one older key is not. */
	keytab_get(kt, "key-0", 5, 1, 1, T0);
	ck_assert_uint_eq(keytab_evictions(kt), 1000000 - 99);
	ck_assert_uint_eq(keytab_count(kt), 100);
	keytab_free(kt);
}
END_TEST

START_TEST(keytab_foreach_most_recent_first)
{
	struct keytab *kt;
	struct seen s;

	kt = keytab_new(10);
	get(kt, "one");
	get(kt, "two");
	get(kt, "three");
	bucket_take(&get(kt, "two")->bucket, 2, T0);
	get(kt, "four");

	memset(&s, 0, sizeof(s));
	keytab_foreach(kt, collect, &s);
	ck_assert_uint_eq(s.n, 4);
	ck_assert_str_eq(s.keys[0], "four");
	ck_assert_str_eq(s.keys[1], "two");
	ck_assert_str_eq(s.keys[2], "three");
	ck_assert_str_eq(s.keys[3], "one");
	ck_assert_double_eq(s.tokens[1], 3);
	ck_assert_double_eq(s.tokens[0], 5);

	/* An empty table calls nothing. */
	keytab_free(kt);
	kt = keytab_new(10);
	memset(&s, 0, sizeof(s));
	keytab_foreach(kt, collect, &s);
	ck_assert_uint_eq(s.n, 0);
	keytab_free(kt);
}
END_TEST

static Suite *
keytab_suite(void)
{
	Suite *s = suite_create("keytab");
	TCase *tk = tcase_create("keytab");

	tcase_add_test(tk, keytab_new_entry_has_full_bucket);
	tcase_add_test(tk, keytab_lru_evicts_least_recently_seen);
	tcase_add_test(tk, keytab_max_one);
	tcase_add_test(tk, keytab_truncates_long_keys);
	tcase_add_test(tk, keytab_binary_keys);
	tcase_add_test(tk, keytab_flood_stays_bounded);
	tcase_add_test(tk, keytab_foreach_most_recent_first);
	suite_add_tcase(s, tk);
	return s;
}

int
main(void)
{
	return unit_run(keytab_suite());
}
