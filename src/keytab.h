/*
 * keytab: per-key token buckets for one class, at most max_keys of them;
 * the least recently seen key is evicted to make room.  Memory is bounded
 * by max_keys * (KEYTAB_KEY_MAX + a small constant).
 */
#ifndef SPILLWAY_KEYTAB_H
#define SPILLWAY_KEYTAB_H

#include <stddef.h>
#include <stdint.h>

#include "bucket.h"

#define KEYTAB_KEY_MAX	128	/* longer key values are truncated */

struct keytab_entry {
	struct bucket	 bucket;
	uint64_t	 shed;		/* events refused by this key's bucket */
	uint64_t	 seen;		/* events offered */
};

struct keytab;

/* Returns NULL on allocation failure.  max_keys >= 1. */
struct keytab	*keytab_new(size_t max_keys);

/* Accepts NULL. */
void		 keytab_free(struct keytab *kt);

/*
 * The entry for key (len bytes, not NUL-terminated), created with a full
 * bucket of rate/burst when new, evicting the least recently seen key if
 * the table is full.  The entry becomes the most recently seen.  Borrowed:
 * valid until the next keytab_get() or keytab_free().  NULL only when an
 * allocation failed.
 */
struct keytab_entry *keytab_get(struct keytab *kt, const char *key,
		    size_t len, double rate, double burst, uint64_t now);

size_t		 keytab_count(const struct keytab *kt);
uint64_t	 keytab_evictions(const struct keytab *kt);

/*
 * Calls fn for every entry, most recently seen first; for reports
 * (top shed keys).  fn must not modify the table.
 */
void		 keytab_foreach(struct keytab *kt,
		    void (*fn)(const char *key, const struct keytab_entry *,
		    void *), void *arg);

#endif
