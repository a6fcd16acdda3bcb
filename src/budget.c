/*
 * budget: process-wide counters of what client-sized data holds in
 * memory, against queue.max_bytes.
 */
#include <stdint.h>

#include "budget.h"

static size_t	limit;
static size_t	used[BUDGET_PARTS];
static size_t	total;
static size_t	peak;
static void	(*reclaim)(void *, size_t);
static void	*reclaim_arg;

void
budget_set_limit(size_t n)
{
	__atomic_store_n(&limit, n, __ATOMIC_RELAXED);
}

size_t
budget_limit(void)
{
	return __atomic_load_n(&limit, __ATOMIC_RELAXED);
}

void
budget_take(enum budget_part part, size_t n)
{
	size_t t, p;

	__atomic_add_fetch(&used[part], n, __ATOMIC_RELAXED);
	t = __atomic_add_fetch(&total, n, __ATOMIC_RELAXED);
	p = __atomic_load_n(&peak, __ATOMIC_RELAXED);
	while (t > p && !__atomic_compare_exchange_n(&peak, &p, t, 1,
	    __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

void
budget_give(enum budget_part part, size_t n)
{
	__atomic_sub_fetch(&used[part], n, __ATOMIC_RELAXED);
	__atomic_sub_fetch(&total, n, __ATOMIC_RELAXED);
}

void
budget_move(enum budget_part from, enum budget_part to, size_t n)
{
	__atomic_sub_fetch(&used[from], n, __ATOMIC_RELAXED);
	__atomic_add_fetch(&used[to], n, __ATOMIC_RELAXED);
}

void
budget_claim(enum budget_part part, size_t n)
{
	size_t l = budget_limit(), t = budget_used();

	/* Room first, so that the peak never counts what gives way. */
	if (reclaim != NULL && l != 0 && t + n > l)
		reclaim(reclaim_arg, t + n - l);
	budget_take(part, n);
}

void
budget_set_reclaim(void (*fn)(void *, size_t), void *arg)
{
	reclaim = fn;
	reclaim_arg = arg;
}

size_t
budget_part_used(enum budget_part part)
{
	return __atomic_load_n(&used[part], __ATOMIC_RELAXED);
}

size_t
budget_used(void)
{
	return __atomic_load_n(&total, __ATOMIC_RELAXED);
}

size_t
budget_over(void)
{
	size_t l = budget_limit(), t = budget_used();

	return l != 0 && t > l ? t - l : 0;
}

size_t
budget_room(void)
{
	size_t l = budget_limit(), t = budget_used();

	if (l == 0)
		return SIZE_MAX;
	return t < l ? l - t : 0;
}

size_t
budget_firm_room(void)
{
	size_t l = budget_limit(), firm;

	if (l == 0)
		return SIZE_MAX;
	firm = budget_used();
	firm -= firm > budget_part_used(BUDGET_QUEUED) ?
	    budget_part_used(BUDGET_QUEUED) : firm;
	return firm < l ? l - firm : 0;
}

size_t
budget_peak(void)
{
	return __atomic_load_n(&peak, __ATOMIC_RELAXED);
}

const char *
budget_part_name(enum budget_part part)
{
	static const char *const names[BUDGET_PARTS] = {
		"queued", "events", "requests", "batches"
	};

	return part < BUDGET_PARTS ? names[part] : "?";
}
