/*
 * send: write a file (an NDJSON corpus) to a TCP listener as fast as the
 * receiver takes it, on one connection, then close.
 *
 *   send HOST:PORT FILE
 *
 * Prints one line on stdout: `bytes N seconds S`.  Retries the connect for
 * up to 10 s (the receiver may still be starting).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CHUNK	(256u << 10)

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
	struct sockaddr_in sin;
	struct stat st;
	const char *p;
	char host[64], *colon;
	size_t off = 0;
	double t0, deadline;
	int fd, s = -1;

	if (argc != 3) {
		fprintf(stderr, "usage: send HOST:PORT FILE\n");
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
	p = st.st_size ? mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE |
	    MAP_POPULATE, fd, 0) : "";
	if (p == MAP_FAILED) {
		perror("mmap");
		return 2;
	}
	deadline = now() + 10;
	for (;;) {
		if ((s = socket(AF_INET, SOCK_STREAM, 0)) == -1) {
			perror("socket");
			return 2;
		}
		if (connect(s, (struct sockaddr *)&sin, sizeof(sin)) == 0)
			break;
		close(s);
		if (now() > deadline) {
			perror("connect");
			return 2;
		}
		usleep(20000);
	}
	t0 = now();
	while (off < (size_t)st.st_size) {
		size_t n = st.st_size - off;
		ssize_t w;

		if (n > CHUNK)
			n = CHUNK;
		if ((w = write(s, p + off, n)) == -1) {
			if (errno == EINTR)
				continue;
			perror("write");
			return 1;
		}
		off += (size_t)w;
	}
	shutdown(s, SHUT_WR);
	close(s);
	printf("bytes %zu seconds %.6f\n", off, now() - t0);
	return 0;
}
