/*
 * log: syslog-style severities on stderr, or to syslog(3) with --syslog.
 */
#ifndef SPILLWAY_LOG_H
#define SPILLWAY_LOG_H

#include <syslog.h>

/* verbosity: -1 quiet (errors only), 0 normal (info), 1 debug. */
void	log_init(int verbosity, int use_syslog);

void	log_msg(int pri, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

#define log_err(...)	log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...)	log_msg(LOG_WARNING, __VA_ARGS__)
#define log_notice(...)	log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_info(...)	log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)	log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
