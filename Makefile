# spillway — a load-shedding traffic-shaping proxy for JSON event streams.

PREFIX	?= /usr/local
DESTDIR	?=
BINDIR	 = $(PREFIX)/bin
MANDIR	 = $(PREFIX)/share/man
DATADIR	 = $(PREFIX)/share/spillway

PKGS	 = jansson libevent libevent_openssl libpcre2-8 zlib openssl rdkafka
CC	?= cc
OPT	?= -O2 -g
WARN	 = -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	   -Werror
CFLAGS	+= $(OPT) $(WARN) -std=gnu11 -D_GNU_SOURCE -Iinclude -Isrc \
	   $(shell pkg-config --cflags $(PKGS))
LDLIBS	+= $(shell pkg-config --libs $(PKGS)) -lcrypt -lm
CHECK_CFLAGS = $(shell pkg-config --cflags check)
CHECK_LIBS   = $(shell pkg-config --libs check)

BUILD	?= build
SRCS	 = $(wildcard src/*.c)
OBJS	 = $(SRCS:src/%.c=$(BUILD)/%.o) $(BUILD)/dashboard.o
LIBOBJS	 = $(filter-out $(BUILD)/main.o,$(OBJS))
UNITS	 = $(patsubst tests/unit/%.c,$(BUILD)/%,$(wildcard tests/unit/check_*.c))
PEERS	 = $(patsubst tests/peers/%.c,$(BUILD)/%,$(wildcard tests/peers/*.c))
BIN	?= spillway
PYTHON	?= /usr/bin/python3

.PHONY: all test unit integration asan install clean demo bench check-headers

all: $(BIN)

$(BIN): $(OBJS)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(OBJS) $(LDLIBS)

$(BUILD)/%.o: src/%.c | $(BUILD)
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

# The admin dashboard page, embedded as a string literal of \x escapes
# written with od and sed (xxd is not always installed).
$(BUILD)/dashboard.c: src/dashboard.html | $(BUILD)
	{ echo '#include <stddef.h>'; \
	  echo 'extern const char dashboard_html[];'; \
	  echo 'extern const size_t dashboard_html_len;'; \
	  echo 'const char dashboard_html[] ='; \
	  od -An -v -tx1 $< | sed 's/ *\([0-9a-f][0-9a-f]\)/\\x\1/g; s/.*/"&"/'; \
	  echo ';'; \
	  echo 'const size_t dashboard_html_len = sizeof(dashboard_html) - 1;'; \
	} > $@.tmp && mv $@.tmp $@

$(BUILD)/dashboard.o: $(BUILD)/dashboard.c
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/check_%: tests/unit/check_%.c $(LIBOBJS) | $(BUILD)
	$(CC) $(CFLAGS) $(CHECK_CFLAGS) -o $@ $< $(LIBOBJS) $(LDLIBS) \
	    $(CHECK_LIBS)

# Test peers: small programs the integration tests run as real processes.
$(BUILD)/%: tests/peers/%.c | $(BUILD)
	$(CC) $(CFLAGS) -o $@ $< $(LDLIBS)

$(BUILD):
	mkdir -p $@

-include $(OBJS:.o=.d)

test: unit integration

unit: check-headers $(UNITS)
	@set -e; for t in $(UNITS); do echo "== $$t"; \
	    CK_FORK=yes SPILLWAY_TESTDATA=tests/data $$t; done

# Every header compiles on its own: it includes what it uses.
HDRS	 = $(wildcard src/*.h include/spillway/*.h)

check-headers:
	@set -e; for h in $(HDRS); do \
	    printf '#include "%s"\n' $$h | \
	    $(CC) $(CFLAGS) -fsyntax-only -x c - || \
	    { echo "$$h does not compile on its own"; exit 1; }; done

integration: $(BIN) $(PEERS)
	SPILLWAY_BIN=$(abspath $(BIN)) $(PYTHON) -m unittest discover \
	    -s tests/integration -p 'test_*.py' -v

# AddressSanitizer + UBSan: a separate build tree and binary, same tests.
asan:
	$(MAKE) BUILD=build-asan BIN=spillway-asan OPT="-O1 -g \
	    -fsanitize=address,undefined -fno-omit-frame-pointer \
	    -fno-sanitize-recover=all" LDFLAGS="-fsanitize=address,undefined" \
	    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 test

# A newcomer's tour: an overloaded Elasticsearch emulator, a load generator
# offering several times its capacity, and what spillway sheds, live.
demo: $(BIN)
	/usr/bin/python3 tools/demo.py --spillway ./$(BIN)

# spillway and its peers (rsyslog, syslog-ng) on the same job; rewrites
# docs/benchmarks.md.  Not part of test or CI.  BENCH_EVENTS=N scales it.
bench: all $(BUILD)/kafka_mock
	/usr/bin/python3 tools/bench/run.py --spillway ./$(BIN)

install: $(BIN)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man8 \
	    $(DESTDIR)$(DATADIR)/rules
	install -m 0755 $(BIN) $(DESTDIR)$(BINDIR)/spillway
	install -m 0644 docs/spillway.8 $(DESTDIR)$(MANDIR)/man8/spillway.8
	install -m 0644 rules/*.json $(DESTDIR)$(DATADIR)/rules/

clean:
	rm -rf build build-asan spillway spillway-asan

# Fuzzing: libFuzzer targets built with clang, ASan and UBSan in their own
# tree, each linked from tests/fuzz/fuzz_NAME.c against the objects of
# src/ but main.c (tests/fuzz/README.md).  `make fuzz` builds them;
# `make fuzz-ci` replays each one's seed corpus and regression inputs,
# failing on the first crash (with FUZZ_CI_FLAGS= it fuzzes for FUZZ_TIME
# seconds from them instead).  New inputs go to build-fuzz/ci/NAME/new,
# never into the tree.
FUZZ_CC		?= clang
FUZZ_BUILD	 = build-fuzz
FUZZ_TIME	?= 30
# CI replays the seeds and regression inputs only (-runs=0): the same
# inputs every run, so that it fails on a regression and never on what a
# random search happened to find that day; campaigns run for time.
FUZZ_CI_FLAGS	?= -runs=0
FUZZ_SAN	 = -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS	 = -g -O1 -fno-omit-frame-pointer $(FUZZ_SAN) \
		   $(filter-out -Werror,$(WARN)) -std=gnu11 -D_GNU_SOURCE \
		   -Iinclude -Isrc $(shell pkg-config --cflags $(PKGS))
FUZZ_NAMES	 = $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS	 = $(FUZZ_NAMES:%=$(FUZZ_BUILD)/fuzz_%)
FUZZ_OBJS	 = $(patsubst src/%.c,$(FUZZ_BUILD)/src/%.o,\
		   $(filter-out src/main.c,$(SRCS)))
FUZZ_LIB	 = $(FUZZ_BUILD)/libspillway.a
FUZZ_ENV	 = ASAN_OPTIONS=detect_leaks=1 \
		   UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
FUZZ_RUNFLAGS	 = -max_total_time=$(FUZZ_TIME) -timeout=5 -rss_limit_mb=2048 \
		   -print_final_stats=1
# Per target: dictionary and largest input.
FUZZ_OPTS_scan	 = -dict=tests/fuzz/json.dict -max_len=16384
FUZZ_OPTS_bulk	 = -dict=tests/fuzz/json.dict -max_len=8192
FUZZ_OPTS_gzip	 = -max_len=8192
FUZZ_OPTS_http	 = -dict=tests/fuzz/http.dict -max_len=8192
FUZZ_OPTS_rules	 = -dict=tests/fuzz/json.dict -max_len=8192
FUZZ_OPTS_config = -dict=tests/fuzz/json.dict -max_len=8192
FUZZ_OPTS_override = -dict=tests/fuzz/json.dict -max_len=4096
FUZZ_CI		 = $(FUZZ_NAMES:%=fuzz-ci-%)

.PHONY: fuzz fuzz-ci fuzz-clean $(FUZZ_CI)

fuzz: $(FUZZ_BINS)

$(FUZZ_BUILD)/src/%.o: src/%.c | $(FUZZ_BUILD)/src
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c \
	    -o $@ $<

$(FUZZ_LIB): $(FUZZ_OBJS)
	rm -f $@
	ar rcs $@ $(FUZZ_OBJS)

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(FUZZ_LIB)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Werror -fsanitize=fuzzer -o $@ $< \
	    $(FUZZ_LIB) $(LDLIBS)

# The tree ignores itself: nothing in it is to be committed.
$(FUZZ_BUILD)/src:
	mkdir -p $@
	echo '*' > $(FUZZ_BUILD)/.gitignore

-include $(FUZZ_OBJS:.o=.d)

fuzz-ci: $(FUZZ_CI)

$(FUZZ_CI): fuzz-ci-%: $(FUZZ_BUILD)/fuzz_%
	@rm -rf $(FUZZ_BUILD)/ci/$*
	@mkdir -p $(FUZZ_BUILD)/ci/$*/new $(FUZZ_BUILD)/ci/$*/crash
	@echo "== fuzz_$*: $(if $(filter -runs=0,$(FUZZ_CI_FLAGS)),replaying,$(FUZZ_TIME) s on)" \
	    "tests/fuzz/corpus/$* $(wildcard tests/fuzz/regress/$*)"
	$(FUZZ_ENV) $(FUZZ_BUILD)/fuzz_$* $(FUZZ_RUNFLAGS) $(FUZZ_CI_FLAGS) \
	    $(FUZZ_OPTS_$*) -artifact_prefix=$(FUZZ_BUILD)/ci/$*/crash/ \
	    $(FUZZ_BUILD)/ci/$*/new tests/fuzz/corpus/$* \
	    $(wildcard tests/fuzz/regress/$*) \
	    > $(FUZZ_BUILD)/ci/$*/log 2>&1 || \
	    { tail -n 80 $(FUZZ_BUILD)/ci/$*/log; \
	      echo "fuzz_$*: FAILED; the input is in $(FUZZ_BUILD)/ci/$*/crash/"; \
	      exit 1; }
	@grep -E '^#[0-9]+.*(INITED|DONE)' $(FUZZ_BUILD)/ci/$*/log | tail -n 2
	@echo "fuzz_$*: passed"

fuzz-clean:
	rm -rf $(FUZZ_BUILD)
