/*
 * jparse: the parse-only floor.  json_loadb + json_decref over every line
 * of an NDJSON file, on one core, with the flags spillway's classifier
 * uses (JSON_ALLOW_NUL).
 *
 *   jparse FILE
 *
 * Prints `lines N invalid I bytes B seconds S cpu C`: S the wall time of
 * the loop, C its user+system CPU seconds (the file is read into memory
 * first and not counted).
 */
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double
cpu(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	    ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

int
main(int argc, char **argv)
{
	struct stat st;
	const char *p, *end, *nl;
	unsigned long long lines = 0, invalid = 0;
	double t0, c0;
	int fd;

	if (argc != 2) {
		fprintf(stderr, "usage: jparse FILE\n");
		return 2;
	}
	if ((fd = open(argv[1], O_RDONLY)) == -1 || fstat(fd, &st) == -1 ||
	    st.st_size == 0) {
		perror(argv[1]);
		return 2;
	}
	p = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		return 2;
	}
	end = p + st.st_size;
	t0 = now();
	c0 = cpu();
	while (p < end) {
		json_error_t err;
		json_t *root;

		if ((nl = memchr(p, '\n', end - p)) == NULL)
			nl = end;
		if (nl > p) {
			lines++;
			if ((root = json_loadb(p, nl - p, JSON_ALLOW_NUL,
			    &err)) == NULL)
				invalid++;
			else
				json_decref(root);
		}
		p = nl + 1;
	}
	printf("lines %llu invalid %llu bytes %lld seconds %.6f cpu %.6f\n",
	    lines, invalid, (long long)st.st_size, now() - t0, cpu() - c0);
	return 0;
}
