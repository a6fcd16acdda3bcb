/*
 * log: one line per significant state change.  The data path never logs
 * per event; drops are counted and summarised instead.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

static int	log_level = LOG_INFO;
static int	log_syslog;

void
log_init(int verbosity, int use_syslog)
{
	if (verbosity < 0)
		log_level = LOG_WARNING;
	else if (verbosity > 0)
		log_level = LOG_DEBUG;
	else
		log_level = LOG_INFO;
	log_syslog = use_syslog;
	if (log_syslog)
		openlog("spillway", LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void
log_msg(int pri, const char *fmt, ...)
{
	static const char *const names[] = {
		"emerg", "alert", "crit", "error", "warning", "notice",
		"info", "debug"
	};
	char buf[1024];
	va_list ap;

	if (pri > log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (log_syslog)
		syslog(pri, "%s", buf);
	else
		fprintf(stderr, "spillway: %s: %s\n", names[pri & 7], buf);
}
