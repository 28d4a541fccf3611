# tenantd - GitOps reconciliation controller.
#
#   make            build build/tenantd
#   make deps       install the Debian packages and npm modules everything needs
#   make test       deps, then every suite in a normal and an ASan+UBSan build
#   make demo       deps, build, and run the quick start on the local provider
#   make bench      benchmarks (tests/bench)
#   make fuzz       fuzz the manifest loader (clang libFuzzer), FUZZ_TIME=60
#   make install    PREFIX=/usr/local DESTDIR=
#   make format     / format-check (clang-format)

VERSION    := 0.1.0
PREFIX     ?= /usr/local
DESTDIR    ?=
BUILD      ?= build
CC         ?= cc
SANITIZE   ?=

PKGS       := libgit2 yaml-0.1 libcurl jansson libuv libcrypto libpq
TEST_PKGS  := check

# Debian packages for building, the demo and the tests.
DEB_PKGS   := gcc make pkg-config git libgit2-dev libyaml-dev \
              libcurl4-openssl-dev libjansson-dev libuv1-dev check \
              libhttp-parser-dev libpq-dev libssl-dev clang-format python3 \
              clang libclang-rt-14-dev nginx-light fcgiwrap openssl \
              prometheus curl pdns-server pdns-backend-sqlite3 dnsutils \
              sqlite3 postgresql podman runc crun busybox-static catatonit \
              uidmap slirp4netns containernetworking-plugins iproute2

CFLAGS     ?= -O2 -g
WARNINGS   := -Wall -Wextra -Werror -Wshadow -Wvla -Wformat=2 \
              -Wno-format-nonliteral
CPPFLAGS   += -Icontroller -I. -I$(BUILD)/gen \
              -DTD_VERSION='"$(VERSION)"'
ALL_CFLAGS  = -std=gnu11 $(WARNINGS) $(CFLAGS) -MMD -MP \
              $(shell pkg-config --cflags $(PKGS))
LIBS        = $(shell pkg-config --libs $(PKGS)) -lhttp_parser -lpthread -lm
TEST_LIBS   = $(shell pkg-config --libs $(TEST_PKGS)) -lpthread

ifeq ($(SANITIZE),1)
  SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all \
              -fno-omit-frame-pointer
  ALL_CFLAGS += $(SANFLAGS) -O1
  LDFLAGS += $(SANFLAGS)
endif

LIB_SRC    := $(sort $(wildcard controller/*/*.c) $(wildcard providers/*.c) \
                $(wildcard providers/*/*.c))
LIB_OBJ    := $(LIB_SRC:%.c=$(BUILD)/%.o) $(BUILD)/gen/default_tiers.o
MAIN_SRC   := $(sort $(wildcard cmd/tenantd/*.c))
MAIN_OBJ   := $(MAIN_SRC:%.c=$(BUILD)/%.o)
TEST_SRC   := $(sort $(wildcard tests/unit/*.c))
TEST_OBJ   := $(TEST_SRC:%.c=$(BUILD)/%.o)
# tests/unit/test_<name>.c defines make_suite_<name>(); main.c runs them all.
UNIT_SUITES := $(patsubst tests/unit/test_%.c,%,$(filter tests/unit/test_%.c,$(TEST_SRC)))

BIN        := $(BUILD)/tenantd
TEST_BIN   := $(BUILD)/test-unit

.PHONY: FORCE all deps test check check-unit check-cli check-scenario check-git check-schema \
        check-daemon check-providers check-docker \
        demo bench fuzz \
        install uninstall format format-check clean

all: $(BIN)

$(BIN): $(MAIN_OBJ) $(BUILD)/libtenantd.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/libtenantd.a: $(LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -c -o $@ $<

# The built-in tier catalog, compiled in so the binary works anywhere.
$(BUILD)/gen/default_tiers.c: schemas/tiers.yaml
	@mkdir -p $(@D)
	@{ echo '/* Generated from schemas/tiers.yaml by the Makefile. */'; \
	  echo '#include <stddef.h>'; \
	  echo 'extern const char manifest_default_tiers[];'; \
	  echo 'extern const size_t manifest_default_tiers_len;'; \
	  echo 'const char manifest_default_tiers[] = {'; \
	  od -An -v -tx1 $< | sed 's/\([0-9a-f][0-9a-f]\)/0x\1,/g'; \
	  echo '0};'; \
	  echo 'const size_t manifest_default_tiers_len ='; \
	  echo '    sizeof(manifest_default_tiers) - 1;'; } > $@

$(BUILD)/gen/default_tiers.o: $(BUILD)/gen/default_tiers.c
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -c -o $@ $<

# Rewritten only when the list of suites changes.
$(BUILD)/gen/unit_suites.h: FORCE
	@mkdir -p $(@D)
	@printf 'SUITE(%s)\n' $(UNIT_SUITES) > $@.tmp
	@cmp -s $@.tmp $@ && rm -f $@.tmp || mv $@.tmp $@

$(BUILD)/tests/unit/main.o: $(BUILD)/gen/unit_suites.h

$(TEST_BIN): $(TEST_OBJ) $(BUILD)/libtenantd.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS) $(TEST_LIBS)

# ---- dependencies ----

SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

deps:
	@missing=""; \
	for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | \
	    grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	command -v npm >/dev/null 2>&1 || missing="$$missing nodejs npm"; \
	if [ -n "$$missing" ]; then \
	  echo "deps: installing$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq \
	    --no-install-recommends $$missing; \
	fi
	@if [ ! -f tests/schema/node_modules/.package-lock.json ] || \
	   [ tests/schema/package-lock.json -nt \
	     tests/schema/node_modules/.package-lock.json ]; then \
	  echo "deps: npm ci in tests/schema"; \
	  cd tests/schema && npm ci --no-audit --no-fund --loglevel=error; \
	fi

# ---- tests ----

export ASAN_OPTIONS  := detect_leaks=1:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS := print_stacktrace=1:halt_on_error=1

# Every suite against one build (BUILD, SANITIZE select which).
check: check-unit check-cli check-scenario check-git check-daemon \
       check-providers check-docker

check-unit: $(TEST_BIN)
	TD_FIXTURES=tests/fixtures $(if $(SANITIZE),CK_FORK=no) ./$(TEST_BIN)

check-cli: $(BIN)
	bash tests/cli/run.sh ./$(BIN)

check-scenario: $(BIN)
	bash tests/scenario/run.sh ./$(BIN)

check-git: $(BIN)
	bash tests/git/run.sh ./$(BIN)
	bash tests/git/http.sh ./$(BIN)

check-daemon: $(BIN)
	bash tests/daemon/run.sh ./$(BIN)

# Each provider against its real server, started on 127.0.0.1.
check-providers: $(BIN)
	@set -e; for t in $(sort $(filter-out tests/providers/docker.sh, \
	    $(wildcard tests/providers/*.sh))); do \
	  bash $$t ./$(BIN); done

# Containers through the Engine API: a private Podman service (its own
# config, storage and networks), test images built offline.
check-docker: $(BIN)
	bash tests/providers/docker.sh ./$(BIN)

check-schema: $(BIN)
	bash tests/schema/check.sh ./$(BIN) tests/fixtures

test: deps
	$(MAKE) --no-print-directory check check-schema
	$(MAKE) --no-print-directory BUILD=build/asan SANITIZE=1 check

demo: deps $(BIN)
	bash deploy/demo.sh ./$(BIN)

$(BUILD)/bench/yaml_floor: tests/bench/yaml_floor.c
	@mkdir -p $(@D)
	$(CC) -O2 -o $@ $< $(shell pkg-config --cflags --libs yaml-0.1)

bench: deps $(BIN) $(BUILD)/bench/yaml_floor
	bash tests/bench/run.sh ./$(BIN) ./$(BUILD)/bench/yaml_floor

# ---- fuzzing (clang's libFuzzer with ASan and UBSan; not part of test) ----

FUZZ_TIME ?= 60
FUZZ_SRC   = $(wildcard controller/base/*.c controller/model/*.c \
               controller/manifest/*.c)

build/fuzz/fuzz_manifest: tests/fuzz/fuzz_manifest.c $(FUZZ_SRC) \
                          $(BUILD)/gen/default_tiers.c
	@mkdir -p $(@D)
	clang -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined \
	  -Icontroller -I. $^ $(shell pkg-config --cflags --libs yaml-0.1 jansson) \
	  -lm -o $@

fuzz: build/fuzz/fuzz_manifest
	@rm -rf build/fuzz/corpus && mkdir -p build/fuzz/corpus
	@find tests/fixtures -name '*.y*ml' | while read -r f; do \
	  cp "$$f" "build/fuzz/corpus/$$(echo "$$f" | tr / _)"; done
	./build/fuzz/fuzz_manifest -max_total_time=$(FUZZ_TIME) -max_len=65536 \
	  -rss_limit_mb=2048 build/fuzz/corpus

# ---- install ----

install: $(BIN)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/tenantd/schemas
	install -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/tenantd
	install -m 0644 schemas/*.json schemas/tiers.yaml \
	  $(DESTDIR)$(PREFIX)/share/tenantd/schemas/

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/tenantd
	rm -rf $(DESTDIR)$(PREFIX)/share/tenantd

# ---- style ----

FORMAT_SRC = $(sort $(wildcard cmd/*/*.[ch] controller/*/*.[ch] providers/*.[ch] \
               providers/*/*.[ch] tests/unit/*.[ch]))

format:
	clang-format -i $(FORMAT_SRC)

format-check:
	clang-format --dry-run --Werror $(FORMAT_SRC)

clean:
	rm -rf build

-include $(LIB_OBJ:.o=.d) $(MAIN_OBJ:.o=.d) $(TEST_OBJ:.o=.d)
