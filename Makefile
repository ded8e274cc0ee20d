# ddbrun — build, test, demo, bench, install.
# `make demo` and `make test` install what is missing first (scripts/install_deps.sh).

PREFIX  ?= /usr/local
BUILD   ?= build
CC      ?= cc
OPT     ?= -O2 -g
SAN     ?=
PKGS     = lua5.4 libcurl libcrypto jansson zlib

CFLAGS  += -std=c11 -D_XOPEN_SOURCE=700 -Wall -Wextra -Werror -pthread $(OPT) $(SAN) \
           $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDFLAGS += -pthread $(SAN)
LDLIBS  += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm

LIB_SRC  = $(filter-out src/main.c,$(wildcard src/*.c))
LIB_OBJ  = $(LIB_SRC:src/%.c=$(BUILD)/obj/%.o)
TEST_SRC = $(wildcard tests/test_*.c)
TEST_BIN = $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
TOOLS    = $(BUILD)/tools/faultproxy

.PHONY: all deps test unit tools demo bench install uninstall clean asan tsan valgrind

all: $(BUILD)/ddbrun

$(BUILD)/obj/%.o: src/%.c $(wildcard src/*.h) | $(BUILD)/obj
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/libddbrun.a: $(LIB_OBJ)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/ddbrun: $(BUILD)/obj/main.o $(BUILD)/libddbrun.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: tests/%.c $(BUILD)/libddbrun.a $(wildcard tests/*.h) | $(BUILD)/tests
	$(CC) $(CFLAGS) -Isrc -o $@ $< $(BUILD)/libddbrun.a $(LDFLAGS) $(LDLIBS) -lcmocka

# Test helpers the specs start (not cmocka suites, so not named test_*).
$(BUILD)/tools/faultproxy: tests/tools/faultproxy.c | $(BUILD)/tools
	$(CC) $(CFLAGS) -o $@ $< $(LDFLAGS) -lz

$(BUILD)/obj $(BUILD)/tests $(BUILD)/tools:
	mkdir -p $@

deps:
	@scripts/install_deps.sh

unit: $(TEST_BIN) tools

tools: $(TOOLS)

# Everything: C units, then busted specs (inside ddbrun) against a DynamoDB Local
# that tests/run.sh starts on a free port and always stops.
test: deps
	$(MAKE) all unit
	@tests/run.sh $(BUILD)

demo: deps
	$(MAKE) all
	@scripts/demo.sh $(BUILD)/ddbrun

bench: deps
	$(MAKE) all
	@scripts/bench.sh $(BUILD)/ddbrun

asan:
	$(MAKE) BUILD=build/asan OPT="-O1 -g -fno-omit-frame-pointer" \
	  SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined" test

tsan:
	$(MAKE) BUILD=build/tsan OPT="-O1 -g" SAN="-fsanitize=thread" test

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/ddbrun/lua/ddb
	install -m 755 $(BUILD)/ddbrun $(DESTDIR)$(PREFIX)/bin/ddbrun
	install -m 644 lua/*.lua $(DESTDIR)$(PREFIX)/share/ddbrun/lua/
	install -m 644 lua/ddb/*.lua $(DESTDIR)$(PREFIX)/share/ddbrun/lua/ddb/

uninstall:
	rm -rf $(DESTDIR)$(PREFIX)/bin/ddbrun $(DESTDIR)$(PREFIX)/share/ddbrun

clean:
	rm -rf build
