/*
 * arena: a bump allocator for the JSON tree of one event.
 *
 * Parsing an event builds a jansson tree of many small blocks that all
 * die together a few microseconds later.  Between arena_begin() and
 * arena_end() jansson allocates from a per-thread arena instead of
 * malloc, and frees nothing; arena_end() takes the whole tree back at
 * once.  Outside that window jansson uses malloc and free as usual, and
 * a block from malloc freed inside the window is freed for real.
 *
 * Nothing allocated inside the window may outlive it.
 */
#ifndef SPILLWAY_ARENA_H
#define SPILLWAY_ARENA_H

#include <stddef.h>

/* Route jansson's allocations through the arena; once, at start-up. */
void	arena_install(void);

/* Allocations from jansson go to this thread's arena until arena_end(). */
void	arena_begin(void);

/* Release everything allocated since arena_begin(). */
void	arena_end(void);

/* Free this thread's arena (at exit). */
void	arena_shutdown(void);

/* Whether an arena window is open on this thread. */
int	arena_active(void);

#endif
