/*
 * net: address parsing and listening sockets.
 */
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <stdlib.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "log.h"

#include "net.h"

int
net_nodelay(int fd)
{
	int one = 1;

	return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

int
net_listen(const char *addr, char *bound, size_t boundlen, char *err,
    size_t errlen)
{
	struct addrinfo hints, *res = NULL;
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	char host[256], port[16], hbuf[NI_MAXHOST], pbuf[NI_MAXSERV];
	const char *colon;
	size_t hlen;
	int fd = -1, one = 1, rc;

	if ((colon = strrchr(addr, ':')) == NULL || colon[1] == '\0') {
		snprintf(err, errlen, "%s: expected host:port", addr);
		return -1;
	}
	hlen = (size_t)(colon - addr);
	if (hlen >= 2 && addr[0] == '[' && addr[hlen - 1] == ']') {
		addr++;
		hlen -= 2;
	}
	if (hlen >= sizeof(host) || strlen(colon + 1) >= sizeof(port)) {
		snprintf(err, errlen, "%s: address too long", addr);
		return -1;
	}
	memcpy(host, addr, hlen);
	host[hlen] = '\0';
	snprintf(port, sizeof(port), "%s", colon + 1);

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((rc = getaddrinfo(hlen ? host : NULL, port, &hints, &res)) != 0) {
		snprintf(err, errlen, "%s:%s: %s", host, port,
		    gai_strerror(rc));
		return -1;
	}
	if ((fd = socket(res->ai_family, res->ai_socktype | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
	    bind(fd, res->ai_addr, res->ai_addrlen) == -1 ||
	    listen(fd, 1024) == -1 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sslen) == -1 ||
	    getnameinfo((struct sockaddr *)&ss, sslen, hbuf, sizeof(hbuf),
	    pbuf, sizeof(pbuf), NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
		snprintf(err, errlen, "%s:%s: %s", host, port,
		    strerror(errno));
		if (fd != -1)
			close(fd);
		freeaddrinfo(res);
		return -1;
	}
	freeaddrinfo(res);
	if (ss.ss_family == AF_INET6)
		snprintf(bound, boundlen, "[%s]:%s", hbuf, pbuf);
	else
		snprintf(bound, boundlen, "%s:%s", hbuf, pbuf);
	return fd;
}

#define NET_ACCEPT_PAUSE_MS	100

struct net_listener {
	struct evconnlistener	*lev;
	struct event		*resume;
	void			(*cb)(int, void *);
	void			*arg;
	int			 reserved;	/* may use the headroom */
	int			 spare;		/* a descriptor kept back, or -1 */
	unsigned long		 errors;
	unsigned long		 shed;		/* closed at once: headroom */
};

/*
 * Descriptors kept free for the listeners marked reserved (the admin
 * port): the others stop accepting this far below the limit, as
 * OpenBSD's accept_reserve does, so that an ingest flood that exhausts
 * descriptors cannot lock the operators out.
 */
#define NET_HEADROOM		32

static long
net_fd_limit(void)
{
	static long limit;
	struct rlimit rl;

	if (limit == 0)
		limit = getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
		    rl.rlim_cur != RLIM_INFINITY ? (long)rl.rlim_cur : 1L << 20;
	return limit;
}

static void
net_pause(struct net_listener *nl)
{
	struct timeval tv = { 0, NET_ACCEPT_PAUSE_MS * 1000 };

	evconnlistener_disable(nl->lev);
	evtimer_add(nl->resume, &tv);
}

static void
net_accept(struct evconnlistener *lev, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct net_listener *nl = arg;

	(void)lev;
	(void)sa;
	(void)salen;
	/* Descriptors are handed out lowest first: fd tells how many. */
	if (!nl->reserved && fd >= net_fd_limit() - NET_HEADROOM) {
		close(fd);
		nl->shed++;
		net_pause(nl);
		return;
	}
	nl->cb(fd, nl->arg);
}

static void
net_resume(evutil_socket_t fd, short what, void *arg)
{
	struct net_listener *nl = arg;

	(void)fd;
	(void)what;
	if (nl->reserved && nl->spare == -1)
		nl->spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
	evconnlistener_enable(nl->lev);
}

/*
 * Out of descriptors: hold off accepting for a moment.  A reserved
 * listener first lets go of its spare descriptor to take the connection
 * waiting, so that it is answered rather than left in the backlog.
 */
static void
net_accept_error(struct evconnlistener *lev, void *arg)
{
	struct net_listener *nl = arg;
	int err = EVUTIL_SOCKET_ERROR(), fd;

	if (nl->errors++ == 0 || (err != EMFILE && err != ENFILE))
		log_warn("accept: %s", strerror(err));
	if ((err == EMFILE || err == ENFILE) && nl->reserved &&
	    nl->spare != -1) {
		close(nl->spare);
		nl->spare = -1;
		if ((fd = accept4(evconnlistener_get_fd(lev), NULL, NULL,
		    SOCK_NONBLOCK | SOCK_CLOEXEC)) != -1)
			nl->cb(fd, nl->arg);
	}
	net_pause(nl);
}

void
net_listener_reserve(struct net_listener *nl)
{
	nl->reserved = 1;
	if (nl->spare == -1)
		nl->spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

unsigned long
net_listener_shed(const struct net_listener *nl)
{
	return nl->shed;
}

struct net_listener *
net_listener_new(struct event_base *base, int fd, void (*cb)(int, void *),
    void *arg)
{
	struct net_listener *nl;

	if ((nl = calloc(1, sizeof(*nl))) == NULL)
		return NULL;
	nl->cb = cb;
	nl->arg = arg;
	nl->spare = -1;
	nl->resume = evtimer_new(base, net_resume, nl);
	nl->lev = evconnlistener_new(base, net_accept, nl,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd);
	if (nl->resume == NULL || nl->lev == NULL) {
		if (nl->lev == NULL)
			close(fd);
		net_listener_free(nl);
		return NULL;
	}
	evconnlistener_set_error_cb(nl->lev, net_accept_error);
	return nl;
}

void
net_listener_free(struct net_listener *nl)
{
	if (nl == NULL)
		return;
	if (nl->lev != NULL)
		evconnlistener_free(nl->lev);
	if (nl->resume != NULL)
		event_free(nl->resume);
	if (nl->spare != -1)
		close(nl->spare);
	free(nl);
}

unsigned long
net_listener_errors(const struct net_listener *nl)
{
	return nl->errors;
}

int
net_pipe(int fds[2])
{
	return pipe2(fds, O_NONBLOCK | O_CLOEXEC);
}

void
net_pipe_drain(int fd)
{
	char buf[256];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
}

void
net_pipe_wake(int fd)
{
	ssize_t r = write(fd, "", 1);

	(void)r;
}

int
net_probe(const char *host, const char *port, int timeout_ms, char *err,
    size_t errlen)
{
	struct addrinfo hints, *res = NULL, *ai;
	struct pollfd pfd;
	socklen_t elen;
	int fd, rc, soerr = 0;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if ((rc = getaddrinfo(host, port, &hints, &res)) != 0) {
		snprintf(err, errlen, "%s:%s: %s", host, port, gai_strerror(rc));
		return -1;
	}
	rc = -1;
	for (ai = res; ai != NULL && rc == -1; ai = ai->ai_next) {
		if ((fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0)) == -1)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			rc = 0;
		else if (errno == EINPROGRESS) {
			pfd.fd = fd;
			pfd.events = POLLOUT;
			elen = sizeof(soerr);
			if (poll(&pfd, 1, timeout_ms) == 1 &&
			    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr,
			    &elen) == 0 && soerr == 0)
				rc = 0;
			else
				errno = soerr ? soerr : ETIMEDOUT;
		}
		if (rc == -1)
			snprintf(err, errlen, "%s:%s: %s", host, port,
			    strerror(errno));
		close(fd);
	}
	freeaddrinfo(res);
	return rc;
}
