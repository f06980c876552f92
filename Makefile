# sandq - build, test and install.
#
#   make                    build/sandq-worker, build/sandq-zygote, build/sandq
#   make test               unit + integration tests (starts its own redis-server)
#   make SANITIZE=address,undefined test   the same under ASan+UBSan (build-san/)
#   make bench              benchmarks (issue 6)
#   make install PREFIX=/usr DESTDIR=/tmp/pkg

PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
LIBEXECDIR ?= $(PREFIX)/libexec/sandq
SYSCONFDIR ?= /etc
UNITDIR    ?= $(PREFIX)/lib/systemd/system
DOCDIR     ?= $(PREFIX)/share/doc/sandq
DESTDIR    ?=

CC         ?= gcc
PKG_CONFIG ?= pkg-config
SANITIZE   ?=

ifeq ($(SANITIZE),)
BUILD      ?= build
OPT        := -O2 -D_FORTIFY_SOURCE=3
else
BUILD      ?= build-san
OPT        := -O1 -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
SAN_LD     := -fsanitize=$(SANITIZE)
endif

WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wformat=2 \
           -Wvla -Wmissing-prototypes -Wno-unused-parameter
HARDEN  := -fstack-protector-strong -fPIE -fstack-clash-protection
CFLAGS  ?=
CFLAGS  += -std=gnu11 -g $(OPT) $(WARN) $(HARDEN) -D_GNU_SOURCE -MMD -MP \
           -Icommon -Iworker -DSANDQ_VERSION='"$(VERSION)"' \
           -DSANDQ_LIBEXECDIR='"$(LIBEXECDIR)"'
LDFLAGS ?=
LDFLAGS += -pie -Wl,-z,relro,-z,now -Wl,--as-needed $(SAN_LD)

VERSION := 0.1.0

# Python headers trigger our strict warnings; include them as system headers.
PY_CFLAGS  := $(patsubst -I%,-isystem %,$(shell $(PKG_CONFIG) --cflags python3-embed))

# The zygote embeds CPython. PYTHON_LINK=static (the default when Debian's
# libpython3.11.a is there, and not with sanitizers) links the non-PIC
# static library into a non-PIE zygote, as Debian's own /usr/bin/python3 is
# built: user code runs ~20% faster than through the PIC shared library
# (docs/benchmarks.md). The cost is a fixed address for the zygote's code,
# which matters little for a fork server: every job child shares its
# parent's layout in any case. PYTHON_LINK=shared keeps a PIE zygote.
PY_CONFIG_DIR := $(shell $(PKG_CONFIG) --variable=prefix python3-embed)/lib/python3.11/config-3.11-$(shell $(CC) -dumpmachine)
ifeq ($(SANITIZE),)
PYTHON_LINK ?= $(if $(wildcard $(PY_CONFIG_DIR)/libpython3.11.a),static,shared)
else
PYTHON_LINK ?= shared
endif
ifeq ($(PYTHON_LINK),static)
PY_LIBS    := -Wl,--whole-archive $(PY_CONFIG_DIR)/libpython3.11.a -Wl,--no-whole-archive \
              -Xlinker -export-dynamic -lexpat -lz -ldl -lm
ZYGOTE_CFLAGS := -fno-pie
ZYGOTE_LDFLAGS := -no-pie
else
PY_LIBS    := $(shell $(PKG_CONFIG) --libs python3-embed)
ZYGOTE_CFLAGS :=
ZYGOTE_LDFLAGS :=
endif
ZYGOTE_OBJ_NAMES := zygote_main zygote child seccomp_policy pyrun namespaces probe
WORKER_PKGS := hiredis libevent jansson libseccomp
WORKER_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(WORKER_PKGS))
WORKER_LIBS   := $(shell $(PKG_CONFIG) --libs $(WORKER_PKGS))
SECCOMP_LIBS  := $(shell $(PKG_CONFIG) --libs libseccomp)
JANSSON_LIBS  := $(shell $(PKG_CONFIG) --libs jansson)

COMMON_SRCS := $(wildcard common/*.c)
WORKER_SRCS := worker/main.c worker/supervisor.c \
               worker/zygote_client.c worker/redis_conn.c worker/scripts.c worker/slot.c \
               worker/registry.c worker/control.c worker/metrics.c worker/sdnotify.c worker/layers.c worker/selftest.c
ZYGOTE_SRCS := worker/zygote_main.c worker/zygote.c worker/child.c \
               worker/seccomp_policy.c worker/pyrun.c worker/namespaces.c worker/probe.c
ZYGOTE_ASM  := worker/runtime_blob.S
CLI_SRCS    := $(wildcard tools/cli/*.c)
UNIT_SRCS   := $(wildcard tests/unit/test_*.c)

COMMON_OBJS := $(COMMON_SRCS:%.c=$(BUILD)/obj/%.o)
WORKER_OBJS := $(WORKER_SRCS:%.c=$(BUILD)/obj/%.o)
ZYGOTE_OBJS := $(ZYGOTE_SRCS:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/worker/runtime_blob.o
CLI_OBJS    := $(CLI_SRCS:%.c=$(BUILD)/obj/%.o)
UNIT_BINS   := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
FUZZ_TARGETS := job outcome
FUZZ_REPLAYS := $(FUZZ_TARGETS:%=$(BUILD)/tests/test_fuzz_%)
FUZZ_SECONDS ?= 60

BINS := $(BUILD)/sandq-worker $(BUILD)/sandq-zygote
ifneq ($(CLI_SRCS),)
BINS += $(BUILD)/sandq
endif

.DELETE_ON_ERROR:
.PHONY: all test unit integration install uninstall clean bench deps fuzz
all: $(BINS)

$(BUILD)/libsandq-common.a: $(COMMON_OBJS)
	ar rcs $@ $^

$(BUILD)/sandq-worker: $(WORKER_OBJS) $(BUILD)/libsandq-common.a
	$(CC) $(LDFLAGS) -o $@ $^ $(WORKER_LIBS)

$(BUILD)/sandq-zygote: $(ZYGOTE_OBJS) $(BUILD)/libsandq-zygote-common.a
	$(CC) $(filter-out -pie,$(LDFLAGS)) $(if $(ZYGOTE_LDFLAGS),$(ZYGOTE_LDFLAGS),-pie) -o $@ $^ $(PY_LIBS) $(SECCOMP_LIBS)

# The zygote's copy of common/, compiled like the zygote (non-PIE when
# libpython is linked statically).
ZYGOTE_COMMON_OBJS := $(COMMON_SRCS:%.c=$(BUILD)/obj-zygote/%.o)
$(BUILD)/libsandq-zygote-common.a: $(ZYGOTE_COMMON_OBJS)
	ar rcs $@ $^

$(BUILD)/obj-zygote/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(ZYGOTE_CFLAGS) $(WORKER_CFLAGS) -c -o $@ $<

$(BUILD)/sandq: $(CLI_OBJS) $(BUILD)/libsandq-common.a
	$(CC) $(LDFLAGS) -o $@ $^ $(WORKER_LIBS)

$(BUILD)/obj/worker/%.o: worker/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(if $(filter $(ZYGOTE_OBJ_NAMES),$*),$(ZYGOTE_CFLAGS)) $(WORKER_CFLAGS) $(PY_CFLAGS) -c -o $@ $<

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(WORKER_CFLAGS) -c -o $@ $<

# The trusted Python runtime is embedded in the zygote binary, so nothing
# needs to be readable from the filesystem once the sandbox is up.
$(BUILD)/obj/worker/runtime_blob.o: $(ZYGOTE_ASM) worker/runtime.py
	@mkdir -p $(dir $@)
	$(CC) -c -DRUNTIME_PATH='"worker/runtime.py"' -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libsandq-common.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(WORKER_CFLAGS) -Itests/unit -o $@ $^ $(LDFLAGS) $(WORKER_LIBS)

# Each fuzz target's saved corpus, replayed with gcc in `make test`.
$(BUILD)/tests/test_fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/replay.c $(BUILD)/libsandq-common.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(WORKER_CFLAGS) -DREPLAY_DIR='"$(abspath tests/fuzz/corpus/$*)"' \
	    -o $@ $(filter %.c %.a,$^) $(LDFLAGS) $(WORKER_LIBS)

# libFuzzer with ASan+UBSan, FUZZ_SECONDS per target; new inputs land in
# tests/fuzz/corpus/<target> (commit the interesting ones).
fuzz:
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p build-fuzz && \
	  clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Icommon -Iworker \
	    -DSANDQ_LIBEXECDIR='"$(LIBEXECDIR)"' -DSANDQ_VERSION='"$(VERSION)"' \
	    $(WORKER_CFLAGS) -o build-fuzz/fuzz_$$t tests/fuzz/fuzz_$$t.c $(COMMON_SRCS) \
	    $(WORKER_LIBS) || exit 1; \
	  build-fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -max_len=65536 \
	    tests/fuzz/corpus/$$t || exit 1; \
	done

deps:
	scripts/install-deps.sh

test: all $(UNIT_BINS) $(FUZZ_REPLAYS)
	SANDQ_BUILD=$(abspath $(BUILD)) SANITIZE=$(SANITIZE) tests/run.sh

unit: $(UNIT_BINS) $(FUZZ_REPLAYS)
	SANDQ_BUILD=$(abspath $(BUILD)) tests/run.sh --unit-only

bench: all
	SANDQ_BUILD=$(abspath $(BUILD)) tests/bench/run.sh

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBEXECDIR)
	install -m 0755 $(BUILD)/sandq-worker $(DESTDIR)$(BINDIR)/sandq-worker
	install -m 0755 $(BUILD)/sandq-zygote $(DESTDIR)$(LIBEXECDIR)/sandq-zygote
	if [ -f $(BUILD)/sandq ]; then install -m 0755 $(BUILD)/sandq $(DESTDIR)$(BINDIR)/sandq; fi
	install -d $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSCONFDIR)/sandq $(DESTDIR)$(DOCDIR)
	sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
	    -e 's|@DOCDIR@|$(DOCDIR)|g' systemd/sandq-worker@.service.in \
	    > $(DESTDIR)$(UNITDIR)/sandq-worker@.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/sandq-worker@.service
	install -m 0644 systemd/worker.env.example $(DESTDIR)$(SYSCONFDIR)/sandq/worker.env.example
	install -m 0644 README.md $(DESTDIR)$(DOCDIR)/README.md

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/sandq-worker $(DESTDIR)$(BINDIR)/sandq
	rm -f $(DESTDIR)$(LIBEXECDIR)/sandq-zygote
	rm -f $(DESTDIR)$(UNITDIR)/sandq-worker@.service
	rm -f $(DESTDIR)$(SYSCONFDIR)/sandq/worker.env.example $(DESTDIR)$(DOCDIR)/README.md
	-rmdir $(DESTDIR)$(LIBEXECDIR)

clean:
	rm -rf build build-san build-fuzz

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
