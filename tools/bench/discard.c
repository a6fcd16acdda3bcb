/*
 * discard: the other end of the loopback floor.  Listens on 127.0.0.1:0,
 * prints `listening PORT` on stdout, takes one connection, reads it to EOF
 * and throws the bytes away.
 *
 * Prints `bytes N lines L seconds S cpu C` at the end, the seconds from
 * the first byte to EOF and C its own user+system CPU seconds.  Lines are
 * counted so that it does at least look at every byte once.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int
main(void)
{
	static char buf[256 << 10];
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	struct rusage ru;
	unsigned long long bytes = 0, lines = 0;
	double t0 = 0;
	ssize_t n;
	int ls, s;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((ls = socket(AF_INET, SOCK_STREAM, 0)) == -1 ||
	    bind(ls, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(ls, 1) == -1 ||
	    getsockname(ls, (struct sockaddr *)&sin, &len) == -1) {
		perror("discard: listen");
		return 2;
	}
	printf("listening %d\n", ntohs(sin.sin_port));
	fflush(stdout);
	if ((s = accept(ls, NULL, NULL)) == -1) {
		perror("discard: accept");
		return 2;
	}
	while ((n = read(s, buf, sizeof(buf))) > 0) {
		const char *p = buf, *end = buf + n;

		if (bytes == 0)
			t0 = now();
		bytes += (unsigned long long)n;
		while ((p = memchr(p, '\n', end - p)) != NULL) {
			lines++;
			p++;
		}
	}
	getrusage(RUSAGE_SELF, &ru);
	printf("bytes %llu lines %llu seconds %.6f cpu %.6f\n", bytes, lines,
	    bytes ? now() - t0 : 0.0,
	    ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	    ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6);
	return 0;
}
