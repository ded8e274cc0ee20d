# ddbrun — build, test, demo, bench, install.
# `make demo` and `make test` install what is missing first (scripts/install_deps.sh).

PREFIX  ?= /usr/local
BUILD   ?= build
CC      ?= cc
OPT     ?= -O2 -g
SAN     ?=
PKGS     = lua5.4 libcurl libcrypto jansson zlib expat

CFLAGS  += -std=c11 -D_XOPEN_SOURCE=700 -Wall -Wextra -Werror -pthread $(OPT) $(SAN) \
           $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDFLAGS += -pthread $(SAN)
LDLIBS  += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm
# Only the interactive prompt (src/repl.c) uses readline: linked into ddbrun,
# not into the test and fuzz binaries. (Its pkg-config cflags would redefine
# _XOPEN_SOURCE; the headers need none.)
READLINE_LIBS = $(shell pkg-config --libs readline 2>/dev/null || echo -lreadline)

LIB_SRC  = $(filter-out src/main.c,$(wildcard src/*.c))
LIB_OBJ  = $(LIB_SRC:src/%.c=$(BUILD)/obj/%.o)
TEST_SRC = $(wildcard tests/test_*.c)
TEST_BIN = $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
TOOLS    = $(BUILD)/tools/faultproxy $(BUILD)/tools/credserver

.PHONY: all deps test unit tools demo bench install uninstall clean asan tsan valgrind fuzz creds-soak check deb

all: $(BUILD)/ddbrun

$(BUILD)/obj/%.o: src/%.c $(wildcard src/*.h) | $(BUILD)/obj
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/libddbrun.a: $(LIB_OBJ)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/ddbrun: $(BUILD)/obj/main.o $(BUILD)/libddbrun.a
	$(CC) $(LDFLAGS) -o $@ $^ $(READLINE_LIBS) $(LDLIBS)

$(BUILD)/tests/%: tests/%.c $(BUILD)/libddbrun.a $(wildcard tests/*.h) | $(BUILD)/tests
	$(CC) $(CFLAGS) -Isrc -o $@ $< $(BUILD)/libddbrun.a $(LDFLAGS) $(LDLIBS) -lcmocka

# Test helpers the specs start (not cmocka suites, so not named test_*).
# tests/tools/toolnet.c: the HTTP and socket plumbing they share.
TOOLNET = tests/tools/toolnet.c tests/tools/toolnet.h

$(BUILD)/tools/faultproxy: tests/tools/faultproxy.c tests/tools/fp_latency.c tests/tools/fp_latency.h $(TOOLNET) | $(BUILD)/tools
	$(CC) $(CFLAGS) -o $@ tests/tools/faultproxy.c tests/tools/fp_latency.c tests/tools/toolnet.c $(LDFLAGS) -ljansson -lz -lm

# The credentials stand-in checks SigV4 with the project's own signer.
$(BUILD)/tools/credserver: tests/tools/credserver.c $(TOOLNET) $(BUILD)/obj/sigv4.o | $(BUILD)/tools
	$(CC) $(CFLAGS) -Isrc -o $@ $< tests/tools/toolnet.c $(BUILD)/obj/sigv4.o $(LDFLAGS) $(LDLIBS)

$(BUILD)/obj $(BUILD)/tests $(BUILD)/tools:
	mkdir -p $@

# libFuzzer targets (tests/fuzz/fuzz_*.c) over the library sources (an archive:
# each target links only what it uses), all built with clang and the sanitizers.
# Each runs FUZZ_SECONDS in turn on its corpus $(BUILD)/fuzz/corpus/NAME
# (seeded from tests/fuzz/seeds/NAME); a crash stops the run and stays in
# $(BUILD)/fuzz/crashes/NAME/. Add a fixed crash to
# tests/fuzz/regressions/NAME/ for test_fuzz_regressions.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= response marshal dotenv sigv4 sts
FUZZ_ARGS    ?=
FUZZ_SAN      = -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS   = -std=c11 -D_XOPEN_SOURCE=700 -Wall -Wextra -Werror -pthread -g -O1 $(FUZZ_SAN) \
                $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
FUZZ_LIB      = $(BUILD)/fuzz/libddbrun_fuzz.a
FUZZ_BIN      = $(FUZZ_TARGETS:%=$(BUILD)/fuzz/fuzz_%)

$(BUILD)/fuzz/obj/%.o: src/%.c $(wildcard src/*.h) | $(BUILD)/fuzz/obj
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c -o $@ $<

$(FUZZ_LIB): $(LIB_SRC:src/%.c=$(BUILD)/fuzz/obj/%.o)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_LIB) $(wildcard src/*.h)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Isrc -o $@ $< $(FUZZ_LIB) $(LDLIBS)

$(BUILD)/fuzz/obj:
	mkdir -p $@

fuzz:
	@scripts/install_deps.sh fuzz
	$(MAKE) $(FUZZ_BIN)
	@for t in $(FUZZ_TARGETS); do \
	  corpus=$(BUILD)/fuzz/corpus/$$t crashes=$(BUILD)/fuzz/crashes/$$t; \
	  mkdir -p $$corpus $$crashes; \
	  cp -n tests/fuzz/seeds/$$t/* $$corpus/ 2>/dev/null; \
	  dict=; [ -f tests/fuzz/$$t.dict ] && dict=-dict=tests/fuzz/$$t.dict; \
	  echo "fuzz_$$t: $(FUZZ_SECONDS)s on $$corpus"; \
	  $(BUILD)/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 -timeout=25 \
	    -print_final_stats=1 -artifact_prefix=$$crashes/ $$dict $(FUZZ_ARGS) $$corpus \
	    || { echo "fuzz_$$t FAILED: the input is in $$crashes/"; exit 1; }; \
	done

deps:
	@scripts/install_deps.sh

unit: $(TEST_BIN) tools

tools: $(TOOLS)

# Everything: C units, then busted specs (inside ddbrun) against a DynamoDB Local
# that tests/run.sh starts on a free port and always stops.
test: deps
	$(MAKE) all unit deb
	@tests/run.sh $(BUILD)

# Static checks: luacheck, the LuaLS annotations cover the API, the man page
# renders without warnings and documents .env.example. Ends "N passed, N failed".
check: deps
	$(MAKE) all
	@scripts/check.sh $(BUILD)

# ddbrun_VERSION_ARCH.deb from what `make install PREFIX=/usr` installs
# (spec/deb_spec.lua installs and removes it).
deb: all
	@scripts/make_deb.sh $(BUILD)

demo: deps
	$(MAKE) all
	@scripts/demo.sh $(BUILD)/ddbrun

bench: deps
	$(MAKE) all tools
	@scripts/bench.sh $(BUILD)/ddbrun

# Credential refresh under load for CREDS_SOAK_SECONDS (20) with CREDS_EXPIRY (4) s
# credentials: spec/creds_refresh_spec.lua's first case, long (not in `make test`).
CREDS_SOAK_SECONDS ?= 20
CREDS_EXPIRY ?= 4
creds-soak: deps
	$(MAKE) all unit
	@DDBRUN_CREDS_SOAK_SECONDS=$(CREDS_SOAK_SECONDS) DDBRUN_CREDS_EXPIRY=$(CREDS_EXPIRY) \
	  tests/run.sh $(BUILD) spec/creds_refresh_spec.lua

asan:
	$(MAKE) BUILD=build/asan OPT="-O1 -g -fno-omit-frame-pointer" \
	  SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined" test

tsan:
	$(MAKE) BUILD=build/tsan OPT="-O1 -g" SAN="-fsanitize=thread" test

# The main job with every ddbrun under valgrind memcheck: any error or leak fails it.
valgrind: deps
	$(MAKE) all
	@command -v valgrind >/dev/null || apt-get install -y -qq valgrind >/dev/null
	@RUNNER="valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=99" \
	  DEMO_RECORDS=200 scripts/demo.sh $(BUILD)/ddbrun

# The binary finds its modules at ../share/ddbrun/lua (src/runtime.c).
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/ddbrun/lua/ddb \
	  $(DESTDIR)$(PREFIX)/share/ddbrun/scripts $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 755 $(BUILD)/ddbrun $(DESTDIR)$(PREFIX)/bin/ddbrun
	install -m 644 lua/*.lua $(DESTDIR)$(PREFIX)/share/ddbrun/lua/
	install -m 644 lua/ddb/*.lua $(DESTDIR)$(PREFIX)/share/ddbrun/lua/ddb/
	install -m 644 scripts/create_tables.lua scripts/migrate_records.lua scripts/*_example.lua $(DESTDIR)$(PREFIX)/share/ddbrun/scripts/
	install -m 644 ddbrun.1 $(DESTDIR)$(PREFIX)/share/man/man1/ddbrun.1

uninstall:
	rm -rf $(DESTDIR)$(PREFIX)/bin/ddbrun $(DESTDIR)$(PREFIX)/share/ddbrun \
	  $(DESTDIR)$(PREFIX)/share/man/man1/ddbrun.1

clean:
	rm -rf build
