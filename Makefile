# tenantd - GitOps reconciliation controller.
#
#   make            build build/tenantd
#   make deps       install the Debian packages and npm modules everything needs
#   make test       deps, then every suite in a normal and an ASan+UBSan build
#   make test-stress  make test three times in a row on a loaded machine
#   make demo       deps, build, and run the quick start on the local provider
#   make bench      benchmarks (tests/bench), bench-providers included
#   make bench-providers  PowerDNS, nginx and PostgreSQL at scale
#   make fuzz       run every fuzz target (clang libFuzzer), FUZZ_TIME=60
#                   seconds each: manifests, config, status files, HTTP,
#                   webhooks, URL redaction, tag signatures
#   make install    PREFIX=/usr/local DESTDIR= (binary, schemas, man page
#                   tenantd(1), bash completion)
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
              sqlite3 postgresql man-db groff-base openssh-client gnupg gpgv \
              podman runc \
              crun busybox-static catatonit uidmap slirp4netns \
              containernetworking-plugins iproute2 chromium

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
LIB_OBJ    := $(LIB_SRC:%.c=$(BUILD)/%.o) $(BUILD)/gen/default_tiers.o \
              $(BUILD)/gen/status_page.o
MAIN_SRC   := $(sort $(wildcard cmd/tenantd/*.c))
MAIN_OBJ   := $(MAIN_SRC:%.c=$(BUILD)/%.o)
TEST_SRC   := $(sort $(wildcard tests/unit/*.c))
TEST_OBJ   := $(TEST_SRC:%.c=$(BUILD)/%.o)
# tests/unit/test_<name>.c defines make_suite_<name>(); main.c runs them all.
UNIT_SUITES := $(patsubst tests/unit/test_%.c,%,$(filter tests/unit/test_%.c,$(TEST_SRC)))

BIN        := $(BUILD)/tenantd
TEST_BIN   := $(BUILD)/test-unit

.PHONY: FORCE all deps test test-plain test-asan test-stress check \
        check-unit check-cli check-scenario check-git check-schema \
        check-daemon check-mgmt check-providers check-newcomer check-security \
        check-docker check-seed check-fleet check-trust demo bench \
        bench-providers fuzz \
        fuzz-build fuzz-smoke \
        install uninstall format format-check clean

all: $(BIN)

# What `tenantd version` says about the build: the commit, from git in a
# checkout (-dirty with uncommitted changes), else "unknown", and the date
# of the link in UTC, or SOURCE_DATE_EPOCH's (reproducible builds).  The
# commit file changes only with the commit, and buildinfo.c is written at
# each link, so the date is when this binary was made.
$(BUILD)/gen/commit: FORCE
	@mkdir -p $(@D)
	@c=unknown; \
	if [ -e .git ] && h=$$(git rev-parse --short=12 HEAD 2>/dev/null); then \
	  c=$$h; git diff --quiet HEAD -- 2>/dev/null || c=$$h-dirty; fi; \
	echo "$$c" >$@.tmp; cmp -s $@.tmp $@ && rm -f $@.tmp || mv $@.tmp $@

BUILD_DATE_SH = if [ -n "$$SOURCE_DATE_EPOCH" ]; then \
	  date -u -d "@$$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ 2>/dev/null || \
	  date -u -r "$$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ; \
	else date -u +%Y-%m-%dT%H:%M:%SZ; fi

$(BIN): $(MAIN_OBJ) $(BUILD)/libtenantd.a $(BUILD)/gen/commit
	@{ echo '/* Written by the Makefile when it links tenantd. */'; \
	  echo 'extern const char tenantd_build_commit[], tenantd_build_date[];'; \
	  echo "const char tenantd_build_commit[] = \"$$(cat $(BUILD)/gen/commit)\";"; \
	  echo "const char tenantd_build_date[] = \"$$($(BUILD_DATE_SH))\";"; \
	} >$(BUILD)/gen/buildinfo.c
	$(CC) $(ALL_CFLAGS) -c -o $(BUILD)/gen/buildinfo.o $(BUILD)/gen/buildinfo.c
	$(CC) $(LDFLAGS) -o $@ $(MAIN_OBJ) $(BUILD)/gen/buildinfo.o \
	  $(BUILD)/libtenantd.a $(LIBS)

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

# The status page (GET /), compiled in for the same reason.
$(BUILD)/gen/status_page.c: controller/server/page.html
	@mkdir -p $(@D)
	@{ echo '/* Generated from controller/server/page.html by the Makefile. */'; \
	  echo '#include <stddef.h>'; \
	  echo 'extern const char server_status_page[];'; \
	  echo 'extern const size_t server_status_page_len;'; \
	  echo 'const char server_status_page[] = {'; \
	  od -An -v -tx1 $< | sed 's/\([0-9a-f][0-9a-f]\)/0x\1,/g'; \
	  echo '0};'; \
	  echo 'const size_t server_status_page_len ='; \
	  echo '    sizeof(server_status_page) - 1;'; } > $@

$(BUILD)/gen/status_page.o: $(BUILD)/gen/status_page.c
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -c -o $@ $<

# Rewritten only when the list of suites changes.
$(BUILD)/gen/unit_suites.h: FORCE
	@mkdir -p $(@D)
	@printf 'SUITE(%s)\n' $(UNIT_SUITES) > $@.tmp
	@cmp -s $@.tmp $@ && rm -f $@.tmp || mv $@.tmp $@

# Every unit file includes suites.h, which includes the list.
$(TEST_OBJ): $(BUILD)/gen/unit_suites.h

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
check: check-unit check-cli check-newcomer check-scenario check-git \
       check-daemon check-mgmt check-providers check-docker check-seed \
       check-security check-fleet check-trust

check-unit: $(TEST_BIN)
	TD_FIXTURES=tests/fixtures $(if $(SANITIZE),CK_FORK=no) ./$(TEST_BIN)

check-cli: $(BIN)
	bash tests/cli/run.sh ./$(BIN)

# A newcomer's first contact: the README's own commands in an empty
# directory, then what `make install` ships (man page, completion).
check-newcomer: $(BIN)
	bash tests/newcomer/run.sh ./$(BIN)
	bash tests/newcomer/package.sh ./$(BIN) $(BUILD) $(SANITIZE)

check-scenario: $(BIN)
	bash tests/scenario/run.sh ./$(BIN)

check-git: $(BIN)
	bash tests/git/run.sh ./$(BIN)
	bash tests/git/http.sh ./$(BIN)

check-daemon: $(BIN)
	bash tests/daemon/run.sh ./$(BIN)

# The management API end to end: tenant changes as commits, tokens, the
# commands on the API.
check-mgmt: $(BIN)
	bash tests/mgmt/run.sh ./$(BIN)

# Costs, platform status, metrics, notifications to a receiver on
# 127.0.0.1, and the status page in headless Chromium.
check-fleet: $(BIN)
	bash tests/fleet/run.sh ./$(BIN)

# Signed sources and approvals: ssh and OpenPGP keys made by the suite,
# through apply, plan and the daemon.
check-trust: $(BIN)
	bash tests/trust/run.sh ./$(BIN)

# Replays of attacks on the Git source (hostile servers on 127.0.0.x).
check-security: $(BIN)
	bash tests/security/run.sh ./$(BIN)

# Each provider against its real server, started on 127.0.0.1.
check-providers: $(BIN)
	@set -e; for t in $(sort $(filter-out tests/providers/docker.sh \
	    tests/providers/seed.sh, $(wildcard tests/providers/*.sh))); do \
	  bash $$t ./$(BIN); done

# Containers through the Engine API: a private Podman service (its own
# config, storage and networks), test images built offline.
check-docker: $(BIN)
	bash tests/providers/docker.sh ./$(BIN)

# The seed workflow end to end: one tenant pushed to a Git remote, its
# containers (Podman), database (PostgreSQL), route (nginx) and record
# (PowerDNS) all real; Ready with each step's time in the status commit.
check-seed: $(BIN)
	bash tests/providers/seed.sh ./$(BIN)

check-schema: $(BIN)
	bash tests/schema/check.sh ./$(BIN) tests/fixtures

# The plain build's suites and the sanitized build's run side by side,
# one job each: a suite spends most of its time waiting on its servers,
# so the two halves take little more than the longer one.  Each half's
# output is printed whole when it ends.
test: deps
	$(MAKE) --no-print-directory -j2 --output-sync=recurse test-plain \
	  test-asan

test-plain:
	$(MAKE) --no-print-directory -j1 check check-schema fuzz-smoke \
	  format-check

test-asan:
	$(MAKE) --no-print-directory -j1 BUILD=build/asan SANITIZE=1 check

# make test three times in a row while two busy loops load the machine:
# a suite that passes only on an idle machine is a flaky suite.
test-stress: deps
	@bash -c 'for i in 1 2; do (while :; do :; done) & done; \
	  trap "kill \$$(jobs -p) 2>/dev/null" EXIT; \
	  for run in 1 2 3; do echo "test-stress: run $$run of 3"; \
	    $(MAKE) --no-print-directory test || exit 1; done'

demo: deps $(BIN)
	bash deploy/demo.sh ./$(BIN)

$(BUILD)/bench/yaml_floor: tests/bench/yaml_floor.c
	@mkdir -p $(@D)
	$(CC) -O2 -o $@ $< $(shell pkg-config --cflags --libs yaml-0.1)

$(BUILD)/bench/status_floor: tests/bench/status_floor.c
	@mkdir -p $(@D)
	$(CC) -O2 -o $@ $< $(shell pkg-config --cflags --libs libgit2)

bench: deps $(BIN) $(BUILD)/bench/yaml_floor $(BUILD)/bench/status_floor
	bash tests/bench/run.sh ./$(BIN) ./$(BUILD)/bench/yaml_floor \
	  ./$(BUILD)/bench/status_floor

# The real providers at scale against their servers' own clients
# (PowerDNS, nginx, PostgreSQL on 127.0.0.1); rows to BENCH_PROVIDERS_OUT
# (stdout when empty), in the table format of tests/bench/run.sh.
BENCH_PROVIDERS_OUT ?=
bench-providers: $(BIN)
	bash tests/bench/providers.sh ./$(BIN) $(BENCH_PROVIDERS_OUT)

# ---- fuzzing (clang's libFuzzer with ASan and UBSan) ----
#
# Every tests/fuzz/fuzz_<name>.c is a target, linked against the whole
# library built by clang with the fuzzer's instrumentation; its seeds are
# tests/fuzz/corpus/<name>/.  `make fuzz` runs each for FUZZ_TIME seconds
# over a copy of its corpus; `make fuzz-smoke` (part of `make test`)
# builds them all and runs each over its corpus and a few seconds more,
# so no target can rot.

FUZZ_TIME    ?= 60
FUZZ_SMOKE   ?= 3
FUZZ_DIR     := build/fuzz
FUZZ_TARGETS := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS    := $(FUZZ_TARGETS:%=$(FUZZ_DIR)/fuzz_%)
FUZZ_CFLAGS  := -std=gnu11 -g -O1 -fno-omit-frame-pointer \
                -fsanitize=fuzzer-no-link,address,undefined \
                -Icontroller -I. -I$(FUZZ_DIR)/gen $(shell pkg-config --cflags $(PKGS))
FUZZ_LIB_OBJ := $(LIB_SRC:%.c=$(FUZZ_DIR)/%.o) $(FUZZ_DIR)/gen/default_tiers.o \
                $(FUZZ_DIR)/gen/status_page.o

# -MMD: an object is rebuilt when a header it includes changes, or a
# struct's layout would differ between objects of one target.
$(FUZZ_DIR)/%.o: %.c
	@mkdir -p $(@D)
	clang $(FUZZ_CFLAGS) -MMD -MP -DTD_VERSION='"$(VERSION)"' -c -o $@ $<

$(FUZZ_DIR)/gen/default_tiers.c: $(BUILD)/gen/default_tiers.c
	@mkdir -p $(@D)
	cp $< $@

$(FUZZ_DIR)/gen/default_tiers.o: $(FUZZ_DIR)/gen/default_tiers.c
	clang $(FUZZ_CFLAGS) -c -o $@ $<

$(FUZZ_DIR)/gen/status_page.c: $(BUILD)/gen/status_page.c
	@mkdir -p $(@D)
	cp $< $@

$(FUZZ_DIR)/gen/status_page.o: $(FUZZ_DIR)/gen/status_page.c
	clang $(FUZZ_CFLAGS) -c -o $@ $<

$(FUZZ_DIR)/libtenantd.a: $(FUZZ_LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(FUZZ_DIR)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_DIR)/libtenantd.a
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_DIR)/libtenantd.a \
	  $(LIBS)

fuzz-build: $(FUZZ_BINS)

# Each target over its corpus, then FUZZ_SMOKE seconds of new inputs.
fuzz-smoke: fuzz-build
	@set -e; for t in $(FUZZ_TARGETS); do \
	  rm -rf $(FUZZ_DIR)/run/$$t && mkdir -p $(FUZZ_DIR)/run/$$t; \
	  cp -r tests/fuzz/corpus/$$t/. $(FUZZ_DIR)/run/$$t/ 2>/dev/null || true; \
	  echo "fuzz-smoke: $$t"; \
	  ./$(FUZZ_DIR)/fuzz_$$t -max_total_time=$(FUZZ_SMOKE) -max_len=65536 \
	    -rss_limit_mb=2048 -print_final_stats=0 $(FUZZ_DIR)/run/$$t \
	    >$(FUZZ_DIR)/run/$$t.log 2>&1 || { tail -40 $(FUZZ_DIR)/run/$$t.log; \
	    exit 1; }; \
	done

fuzz: fuzz-build
	@set -e; for t in $(FUZZ_TARGETS); do \
	  rm -rf $(FUZZ_DIR)/run/$$t && mkdir -p $(FUZZ_DIR)/run/$$t; \
	  cp -r tests/fuzz/corpus/$$t/. $(FUZZ_DIR)/run/$$t/ 2>/dev/null || true; \
	  echo "fuzz: $$t for $(FUZZ_TIME) s"; \
	  ./$(FUZZ_DIR)/fuzz_$$t -max_total_time=$(FUZZ_TIME) -max_len=65536 \
	    -rss_limit_mb=2048 $(FUZZ_DIR)/run/$$t; \
	done

# ---- install ----

COMPLETIONS_DIR = $(PREFIX)/share/bash-completion/completions
MAN1_DIR        = $(PREFIX)/share/man/man1

install: $(BIN)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/tenantd/schemas \
	  $(DESTDIR)$(COMPLETIONS_DIR) $(DESTDIR)$(MAN1_DIR)
	install -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/tenantd
	install -m 0644 schemas/*.json schemas/tiers.yaml \
	  $(DESTDIR)$(PREFIX)/share/tenantd/schemas/
	install -m 0644 deploy/completion/tenantd.bash \
	  $(DESTDIR)$(COMPLETIONS_DIR)/tenantd
	install -m 0644 deploy/man/tenantd.1 $(DESTDIR)$(MAN1_DIR)/tenantd.1

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/tenantd
	rm -rf $(DESTDIR)$(PREFIX)/share/tenantd
	rm -f $(DESTDIR)$(COMPLETIONS_DIR)/tenantd $(DESTDIR)$(MAN1_DIR)/tenantd.1

# ---- style ----

FORMAT_SRC = $(sort $(wildcard cmd/*/*.[ch] controller/*/*.[ch] providers/*.[ch] \
               providers/*/*.[ch] tests/unit/*.[ch]))

format:
	clang-format -i $(FORMAT_SRC)

format-check:
	clang-format --dry-run --Werror $(FORMAT_SRC)

clean:
	rm -rf build

-include $(LIB_OBJ:.o=.d) $(MAIN_OBJ:.o=.d) $(TEST_OBJ:.o=.d) \
         $(FUZZ_LIB_OBJ:.o=.d)
