/*
 * keytab: chained hash table plus an LRU list.  Entries are allocated
 * once up to max_keys and then recycled on eviction, so a steady flood of
 * new keys costs no malloc.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "keytab.h"

struct kt_node {
	struct keytab_entry	 e;
	struct kt_node		*hnext;		/* hash chain */
	TAILQ_ENTRY(kt_node)	 lru;		/* head = most recent */
	uint64_t		 hash;
	size_t			 len;
	char			 key[KEYTAB_KEY_MAX + 1];
};

TAILQ_HEAD(kt_list, kt_node);

struct keytab {
	struct kt_node	**heads;
	size_t		  nheads;	/* power of two */
	size_t		  count;
	size_t		  max_keys;
	uint64_t	  evictions;
	struct kt_list	  lru;
};

/* FNV-1a, 64 bit. */
static uint64_t
keytab_hash(const char *p, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	while (len--) {
		h ^= (unsigned char)*p++;
		h *= 0x100000001b3ULL;
	}
	return h;
}

struct keytab *
keytab_new(size_t max_keys)
{
	struct keytab *kt;
	size_t n = 16;

	if (max_keys == 0)
		max_keys = 1;
	while (n < max_keys && n < ((size_t)1 << 24))
		n <<= 1;
	if ((kt = calloc(1, sizeof(*kt))) == NULL)
		return NULL;
	if ((kt->heads = calloc(n, sizeof(*kt->heads))) == NULL) {
		free(kt);
		return NULL;
	}
	kt->nheads = n;
	kt->max_keys = max_keys;
	TAILQ_INIT(&kt->lru);
	return kt;
}

void
keytab_free(struct keytab *kt)
{
	struct kt_node *n;

	if (kt == NULL)
		return;
	while ((n = TAILQ_FIRST(&kt->lru)) != NULL) {
		TAILQ_REMOVE(&kt->lru, n, lru);
		free(n);
	}
	free(kt->heads);
	free(kt);
}

static void
keytab_unlink(struct keytab *kt, struct kt_node *n)
{
	struct kt_node **pp = &kt->heads[n->hash & (kt->nheads - 1)];

	while (*pp != n)
		pp = &(*pp)->hnext;
	*pp = n->hnext;
}

struct keytab_entry *
keytab_get(struct keytab *kt, const char *key, size_t len, double rate,
    double burst, uint64_t now)
{
	struct kt_node *n, **head;
	uint64_t h;

	if (len > KEYTAB_KEY_MAX)
		len = KEYTAB_KEY_MAX;
	h = keytab_hash(key, len);
	head = &kt->heads[h & (kt->nheads - 1)];
	for (n = *head; n != NULL; n = n->hnext) {
		if (n->hash == h && n->len == len &&
		    memcmp(n->key, key, len) == 0) {
			if (n != TAILQ_FIRST(&kt->lru)) {
				TAILQ_REMOVE(&kt->lru, n, lru);
				TAILQ_INSERT_HEAD(&kt->lru, n, lru);
			}
			return &n->e;
		}
	}

	if (kt->count >= kt->max_keys) {
		n = TAILQ_LAST(&kt->lru, kt_list);
		TAILQ_REMOVE(&kt->lru, n, lru);
		keytab_unlink(kt, n);
		kt->evictions++;
	} else {
		if ((n = malloc(sizeof(*n))) == NULL)
			return NULL;
		kt->count++;
	}
	memset(&n->e, 0, sizeof(n->e));
	bucket_init(&n->e.bucket, rate, burst, now);
	n->hash = h;
	n->len = len;
	memcpy(n->key, key, len);
	n->key[len] = '\0';
	n->hnext = *head;
	*head = n;
	TAILQ_INSERT_HEAD(&kt->lru, n, lru);
	return &n->e;
}

size_t
keytab_count(const struct keytab *kt)
{
	return kt->count;
}

uint64_t
keytab_evictions(const struct keytab *kt)
{
	return kt->evictions;
}

void
keytab_foreach(struct keytab *kt,
    void (*fn)(const char *, const struct keytab_entry *, void *), void *arg)
{
	struct kt_node *n;

	TAILQ_FOREACH(n, &kt->lru, lru)
		fn(n->key, &n->e, arg);
}
