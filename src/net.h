/*
 * net: listening sockets from "host:port" strings.
 */
#ifndef SPILLWAY_NET_H
#define SPILLWAY_NET_H

#include <stddef.h>

/*
 * A non-blocking, close-on-exec socket bound to addr ("host:port",
 * "[v6]:port"; port 0 picks a free port) and listening.  The address
 * actually bound is written to bound as "host:port".  Returns the fd, or
 * -1 with a message in err.
 */
int	net_listen(const char *addr, char *bound, size_t boundlen, char *err,
	    size_t errlen);

/* A non-blocking, close-on-exec pipe, for waking an event loop (0, -1). */
int	net_pipe(int fds[2]);

/* Read whatever is in a wake-up pipe. */
void	net_pipe_drain(int fd);

/* One byte down a wake-up pipe; a full pipe is awake already. */
void	net_pipe_wake(int fd);

/*
 * Whether a TCP connection to host:port opens within timeout_ms (0), or
 * -1 with the reason in err.  Blocks: for start-up checks only.
 */
int	net_probe(const char *host, const char *port, int timeout_ms,
	    char *err, size_t errlen);

/* Set TCP_NODELAY (0 or -1). */
int	net_nodelay(int fd);

#endif

struct event_base;
struct net_listener;

/*
 * Accept connections on the listening socket fd (taken over; closed by
 * net_listener_free()) and hand each new connection's fd to cb, which
 * owns it from then on.  When accept() fails for want of descriptors the
 * listener pauses for a moment instead of spinning.
 */
struct net_listener *net_listener_new(struct event_base *base, int fd,
		    void (*cb)(int fd, void *arg), void *arg);

/* Stop accepting and close the socket.  Accepts NULL. */
void		 net_listener_free(struct net_listener *nl);

/* accept() failures seen (EMFILE and the like). */
unsigned long	 net_listener_errors(const struct net_listener *nl);

/*
 * Let nl use the descriptors the others leave free (the admin port): the
 * other listeners close new connections at once, counted, once the
 * process is NET_HEADROOM descriptors short of its limit; nl keeps a spare
 * descriptor besides, to take one waiting connection even at the limit.
 */
void		 net_listener_reserve(struct net_listener *nl);

/* Connections closed at once to keep the headroom. */
unsigned long	 net_listener_shed(const struct net_listener *nl);
