/*
 * send: write a file (an NDJSON corpus) to a TCP listener as fast as the
 * receiver takes it, then close.
 *
 *   send HOST:PORT FILE [CONNECTIONS]
 *
 * With CONNECTIONS (default 1) above 1 the file is cut into that many
 * contiguous parts of about the same size, each ending on a line boundary,
 * and part i goes over connection i; all of them are opened before the
 * first byte is sent, and written in parallel from one thread (poll on
 * non-blocking sockets), so each moves as fast as its reader takes it.
 *
 * Prints `bytes N seconds S connections K` on stdout, then for K above 1
 * one line per connection: `connection I bytes N seconds S`, S being when
 * its last byte was written, from the first byte of all.  Retries each
 * connect for up to 10 s (the receiver may still be starting).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CHUNK		(256u << 10)
#define MAXCONN		1024

struct part {
	int	 s;
	size_t	 off, end;		/* what is left: [off, end) */
	size_t	 sent;
	double	 done;			/* seconds from t0, when finished */
};

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int
dial(const struct sockaddr_in *sin)
{
	double deadline = now() + 10;
	int s;

	for (;;) {
		if ((s = socket(AF_INET, SOCK_STREAM, 0)) == -1) {
			perror("socket");
			return -1;
		}
		if (connect(s, (const struct sockaddr *)sin, sizeof(*sin)) == 0)
			return s;
		close(s);
		if (now() > deadline) {
			perror("connect");
			return -1;
		}
		usleep(20000);
	}
}

/* Where part i of k starts: i/k of the way, moved on past the next newline. */
static size_t
cut(const char *p, size_t size, int i, int k)
{
	size_t at;
	const char *nl;

	if (i == 0)
		return 0;
	if (i >= k)
		return size;
	at = (size_t)((double)size * i / k);
	if (at == 0)
		return 0;
	/* a cut just after a newline is already on a boundary */
	if (p[at - 1] == '\n')
		return at;
	if ((nl = memchr(p + at, '\n', size - at)) == NULL)
		return size;
	return (size_t)(nl - p) + 1;
}

int
main(int argc, char **argv)
{
	static struct part part[MAXCONN];
	static struct pollfd pfd[MAXCONN];
	static int idx[MAXCONN];		/* pfd[j] is part[idx[j]] */
	struct sockaddr_in sin;
	struct stat st;
	const char *p;
	char host[64], *colon;
	size_t size, total = 0;
	double t0, t1;
	int fd, i, k = 1, left, n;

	if (argc != 3 && argc != 4) {
		fprintf(stderr, "usage: send HOST:PORT FILE [CONNECTIONS]\n");
		return 2;
	}
	if (argc == 4 && ((k = atoi(argv[3])) < 1 || k > MAXCONN)) {
		fprintf(stderr, "send: CONNECTIONS is 1 to %d\n", MAXCONN);
		return 2;
	}
	snprintf(host, sizeof(host), "%s", argv[1]);
	if ((colon = strrchr(host, ':')) == NULL) {
		fprintf(stderr, "send: %s: not HOST:PORT\n", argv[1]);
		return 2;
	}
	*colon = '\0';
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((unsigned short)atoi(colon + 1));
	if (inet_pton(AF_INET, host, &sin.sin_addr) != 1) {
		fprintf(stderr, "send: %s: bad address\n", host);
		return 2;
	}
	if ((fd = open(argv[2], O_RDONLY)) == -1 || fstat(fd, &st) == -1) {
		perror(argv[2]);
		return 2;
	}
	size = (size_t)st.st_size;
	p = size ? mmap(NULL, size, PROT_READ, MAP_PRIVATE | MAP_POPULATE,
	    fd, 0) : "";
	if (p == MAP_FAILED) {
		perror("mmap");
		return 2;
	}
	for (i = 0; i < k; i++) {
		part[i].off = cut(p, size, i, k);
		part[i].end = cut(p, size, i + 1, k);
		if ((part[i].s = dial(&sin)) == -1)
			return 2;
		if (k > 1 && fcntl(part[i].s, F_SETFL,
		    fcntl(part[i].s, F_GETFL) | O_NONBLOCK) == -1) {
			perror("fcntl");
			return 2;
		}
	}
	t0 = now();
	for (left = k;;) {
		/* finish what is done, poll what is not */
		for (n = 0, i = 0; i < k; i++) {
			if (part[i].s == -1)
				continue;
			if (part[i].off == part[i].end) {
				shutdown(part[i].s, SHUT_WR);
				close(part[i].s);
				part[i].s = -1;
				part[i].done = now() - t0;
				left--;
				continue;
			}
			pfd[n].fd = part[i].s;
			pfd[n].events = POLLOUT;
			pfd[n].revents = POLLOUT;	/* k == 1: blocking */
			idx[n++] = i;
		}
		if (left == 0)
			break;
		if (k > 1 && poll(pfd, (nfds_t)n, -1) == -1) {
			if (errno == EINTR)
				continue;
			perror("poll");
			return 1;
		}
		for (i = 0; i < n; i++) {
			struct part *pt = &part[idx[i]];
			size_t len;
			ssize_t w;

			if (pfd[i].revents == 0)
				continue;
			len = pt->end - pt->off;
			if (len > CHUNK)
				len = CHUNK;
			if ((w = write(pt->s, p + pt->off, len)) == -1) {
				if (errno == EINTR || errno == EAGAIN ||
				    errno == EWOULDBLOCK)
					continue;
				perror("write");
				return 1;
			}
			pt->off += (size_t)w;
			pt->sent += (size_t)w;
			total += (size_t)w;
		}
	}
	t1 = now();
	printf("bytes %zu seconds %.6f connections %d\n", total, t1 - t0, k);
	for (i = 0; k > 1 && i < k; i++)
		printf("connection %d bytes %zu seconds %.6f\n", i, part[i].sent,
		    part[i].done);
	return 0;
}
