/*
 * arena: per-thread bump allocation for jansson, reset once per event.
 *
 * The first chunk is kept for the life of the thread; an event whose tree
 * does not fit gets extra chunks, freed at arena_end().  Blocks are 16-byte
 * aligned, as malloc's are.
 */
#include <stdint.h>
#include <stdlib.h>

#include <jansson.h>

#include "arena.h"

#define ARENA_CHUNK	(128 * 1024)
#define ARENA_ALIGN	16

struct chunk {
	struct chunk	*next;
	size_t		 size;
	size_t		 used;
	/* data follows, aligned */
};

struct arena {
	struct chunk	*first;		/* kept */
	struct chunk	*cur;		/* where blocks come from now */
	int		 active;
};

static __thread struct arena arena;

#define CHUNK_DATA(c)	((char *)(c) + ((sizeof(struct chunk) + \
			    ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1)))

static struct chunk *
chunk_new(size_t size)
{
	struct chunk *c;

	if ((c = malloc((size_t)(CHUNK_DATA((struct chunk *)0) -
	    (char *)0) + size)) == NULL)
		return NULL;
	c->next = NULL;
	c->size = size;
	c->used = 0;
	return c;
}

static int
chunk_has(const struct chunk *c, const void *p)
{
	const char *d = CHUNK_DATA(c);

	return (const char *)p >= d && (const char *)p < d + c->size;
}

static void *
arena_malloc(size_t size)
{
	struct arena *a = &arena;
	struct chunk *c;
	size_t need;
	void *p;

	if (!a->active)
		return malloc(size);
	need = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
	if (need == 0)
		need = ARENA_ALIGN;
	if (a->first == NULL) {
		if ((a->first = chunk_new(ARENA_CHUNK)) == NULL)
			return NULL;
		a->cur = a->first;
	}
	c = a->cur;
	if (c->size - c->used < need) {
		if ((c = chunk_new(need > ARENA_CHUNK ? need :
		    ARENA_CHUNK)) == NULL)
			return NULL;
		a->cur->next = c;
		a->cur = c;
	}
	p = CHUNK_DATA(c) + c->used;
	c->used += need;
	return p;
}

static void
arena_free(void *p)
{
	struct chunk *c;

	if (p == NULL)
		return;
	for (c = arena.first; c != NULL; c = c->next)
		if (chunk_has(c, p))
			return;		/* taken back at arena_end() */
	free(p);
}

void
arena_install(void)
{
	json_set_alloc_funcs(arena_malloc, arena_free);
}

void
arena_begin(void)
{
	arena.active = 1;
}

void
arena_end(void)
{
	struct arena *a = &arena;
	struct chunk *c, *next;

	a->active = 0;
	if (a->first == NULL)
		return;
	for (c = a->first->next; c != NULL; c = next) {
		next = c->next;
		free(c);
	}
	a->first->next = NULL;
	a->first->used = 0;
	a->cur = a->first;
}

void
arena_shutdown(void)
{
	arena_end();
	free(arena.first);
	arena.first = arena.cur = NULL;
}

int
arena_active(void)
{
	return arena.active;
}
