# cirun — one GNU Makefile for the installer, the agent, the tests and the lab.
# `make help` lists the targets.

VERSION := 0.1.0
PREFIX ?= /usr/local
DESTDIR ?=
BUILD ?= build
N ?= 3
SANITIZE ?=
FUZZ_SECONDS ?= 60

CC ?= cc
CFLAGS ?= -O2 -g
# Messages are cut to fixed-size buffers on purpose, hence no format-truncation.
WARNINGS := -Wall -Wextra -Werror -Wformat=2 -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Wvla -Wwrite-strings -Wpointer-arith -fno-common \
	$(if $(findstring clang,$(CC)),,-Wno-format-truncation)
ALL_CFLAGS = -std=gnu11 $(CFLAGS) $(WARNINGS) -D_GNU_SOURCE -DCIRUN_VERSION='"$(VERSION)"' \
	-Icommon -Iplugins -Iagent -Iinstaller -MMD -MP $(SAN_FLAGS)
ifneq ($(SANITIZE),)
SAN_FLAGS := -fsanitize=$(SANITIZE) -fno-sanitize-recover=all -fno-omit-frame-pointer
endif

# Evaluated lazily, so `make deps` works before pkg-config knows these libraries.
INSTALLER_LIBS = $(shell pkg-config --libs libssh2 yaml-0.1 libarchive libzstd libsystemd libcap libcrypto) -pthread
# The agent runs on hosts that have only libc, libsystemd0 and libcap2: everything else is
# linked in statically (see docs/agent-static-link.md).
AGENT_LIBS = -Wl,-Bstatic -larchive -lyaml -lcrypto -lacl -llzma -lzstd -llz4 -lbz2 -lz \
	-Wl,-Bdynamic -lsystemd -lcap -pthread -ldl
TEST_LIBS = $(shell pkg-config --libs cmocka) $(INSTALLER_LIBS)

COMMON_SRC := $(wildcard common/*.c)
PLUGINS_SRC := $(wildcard plugins/*.c)
INSTALLER_SRC := $(filter-out installer/main.c,$(wildcard installer/*.c installer/run/*.c))
AGENT_SRC := $(filter-out agent/main.c,$(wildcard agent/*.c))
UNIT_SRC := $(wildcard tests/unit/test-*.c)
FUZZ_SRC := $(wildcard tests/fuzz/fuzz-*.c)

obj = $(patsubst %.c,$(BUILD)/%.o,$(1))
LIBCOMMON := $(BUILD)/libcommon.a
LIBPLUGINS := $(BUILD)/libplugins.a
LIBINSTALLER := $(BUILD)/libinstaller.a
LIBAGENT := $(BUILD)/libagent.a
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
FUZZ_REPLAY_BINS := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz-replay/%,$(FUZZ_SRC))

SAN_ENV := ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

.PHONY: all deps unit check fuzz-replay fuzz e2e test demo lab-up lab-down lab-status \
	install clean help check-headers k8s-standin
.DEFAULT_GOAL := all
.SECONDARY:

all: $(BUILD)/cirun $(BUILD)/cirun-agent

help:
	@echo "make               build build/cirun and build/cirun-agent"
	@echo "make deps          install the Debian packages the build and tests need"
	@echo "make unit          cmocka unit tests;  make check: the same under ASan+UBSan"
	@echo "make fuzz-replay   replay the fuzz corpus under sanitizers; make fuzz: run libFuzzer"
	@echo "make e2e           lab and end-to-end tests on real test hosts (root)"
	@echo "make test          deps + build + unit + check + fuzz-replay + e2e"
	@echo "make demo          boot the lab and run the demo on it"
	@echo "make lab-up N=3 | lab-down | lab-status"
	@echo "make k8s-standin   the STAND-IN kubeadm/kubelet/kubectl release dir (K8S_STANDIN_VERSION=v1.28.7)"
	@echo "make install PREFIX=/usr/local DESTDIR="
	@echo "make base-image K8S_DIR=DIR [TAG=kubernetes:vX.Y.Z]  the base cluster image from a release dir"
	@echo "make standin-base-image  the same from the STAND-IN release dir (make k8s-standin)"

deps:
	@bash tests/deps.sh

# Quiet by default (one line per step); V=1 shows the full commands.
Q := $(if $(V),,@)
say = $(if $(V),,printf '  %-6s %s\n' $(1) $(2);)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(Q)$(call say,CC,$@)$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(LIBCOMMON): $(call obj,$(COMMON_SRC))
$(LIBPLUGINS): $(call obj,$(PLUGINS_SRC))
$(LIBINSTALLER): $(call obj,$(INSTALLER_SRC))
$(LIBAGENT): $(call obj,$(AGENT_SRC))
$(BUILD)/lib%.a:
	@mkdir -p $(dir $@)
	@rm -f $@
	$(Q)$(call say,AR,$@)ar rcs $@ $^

$(BUILD)/cirun: $(BUILD)/installer/main.o $(LIBINSTALLER) $(LIBPLUGINS) $(LIBCOMMON)
	$(Q)$(call say,LINK,$@)$(CC) $(SAN_FLAGS) -o $@ $^ $(INSTALLER_LIBS)

$(BUILD)/cirun-agent: $(BUILD)/agent/main.o $(LIBAGENT) $(LIBPLUGINS) $(LIBCOMMON)
	$(Q)$(call say,LINK,$@)$(CC) $(SAN_FLAGS) -o $@ $^ $(AGENT_LIBS)

# Unit tests link every module library; cmocka prints a summary per binary.
$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(LIBINSTALLER) $(LIBAGENT) $(LIBPLUGINS) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(Q)$(call say,LINK,$@)$(CC) $(SAN_FLAGS) -o $@ $^ $(TEST_LIBS)

unit: $(UNIT_BINS) $(BUILD)/cirun $(BUILD)/cirun-agent
	@bash tests/unit/run.sh $(UNIT_BINS)

check:
	@$(MAKE) --no-print-directory BUILD=build/san SANITIZE=address,undefined CFLAGS="-O1 -g" unit-san

.PHONY: unit-san
unit-san: $(UNIT_BINS)
	@$(SAN_ENV) bash tests/unit/run.sh $(UNIT_BINS)

# Every parser has a libFuzzer target; here each is linked with a plain driver that replays
# the committed corpus under ASan+UBSan (gcc, no libFuzzer needed).
$(BUILD)/fuzz-replay/%: $(BUILD)/tests/fuzz/%.o $(BUILD)/tests/fuzz/replay.o $(LIBINSTALLER) $(LIBAGENT) $(LIBPLUGINS) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(Q)$(call say,LINK,$@)$(CC) $(SAN_FLAGS) -o $@ $^ $(INSTALLER_LIBS)

fuzz-replay:
	@$(MAKE) --no-print-directory BUILD=build/san SANITIZE=address,undefined CFLAGS="-O1 -g" fuzz-replay-san

.PHONY: fuzz-replay-san
fuzz-replay-san: $(FUZZ_REPLAY_BINS)
	@$(SAN_ENV) bash tests/fuzz/replay.sh $(FUZZ_REPLAY_BINS)

# Coverage-guided fuzzing with clang's libFuzzer; new inputs go to build/fuzz-corpus/, crashes
# to build/fuzz-artifacts/ (add them to tests/fuzz/corpus/<target>/ once fixed).
fuzz:
	$(MAKE) BUILD=build/fuzz CC=clang SANITIZE=address,undefined,fuzzer-no-link CFLAGS="-O1 -g" \
		$(patsubst tests/fuzz/%.c,build/fuzz/fuzzer/%,$(FUZZ_SRC))
	@for t in $(patsubst tests/fuzz/%.c,%,$(FUZZ_SRC)); do \
		mkdir -p build/fuzz-corpus/$$t; \
		echo "fuzzing $$t for $(FUZZ_SECONDS)s"; \
		mkdir -p build/fuzz-artifacts; \
		build/fuzz/fuzzer/$$t -max_total_time=$(FUZZ_SECONDS) -artifact_prefix=build/fuzz-artifacts/ \
			build/fuzz-corpus/$$t \
			tests/fuzz/corpus/$${t#fuzz-} || exit 1; \
	done

$(BUILD)/fuzzer/%: $(BUILD)/tests/fuzz/%.o $(LIBINSTALLER) $(LIBAGENT) $(LIBPLUGINS) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(Q)$(call say,LINK,$@)$(CC) -fsanitize=address,undefined,fuzzer -o $@ $^ $(INSTALLER_LIBS)

e2e: all
	@bash tests/e2e/run.sh

test:
	@bash tests/test.sh

demo: deps
	$(MAKE) all
	@bash tests/lab/demo.sh

# The STAND-IN Kubernetes release directory (bin/ cni/ images/) the tests use instead of the
# upstream files; see tests/fixtures/k8s-standin/README.md.
K8S_STANDIN_VERSION ?= v1.28.7
k8s-standin:
	@$(MAKE) --no-print-directory -C tests/fixtures/k8s-standin OUT=$(abspath $(BUILD))/k8s-standin \
		KUBE_VERSION=$(K8S_STANDIN_VERSION)

lab-up:
	@bash tests/lab/lab.sh up $(N)

lab-down:
	@bash tests/lab/lab.sh down

lab-status:
	@bash tests/lab/lab.sh status

# Each header must compile on its own (it includes what its prototypes need).
check-headers:
	@for h in $(wildcard common/*.h agent/*.h installer/*.h installer/run/*.h plugins/*.h); do \
		echo "#include \"$$h\"" | $(CC) $(ALL_CFLAGS) -MT x -MF /dev/null -x c -fsyntax-only - || exit 1; \
	done; echo "headers ok"

install: all
	install -Dm755 $(BUILD)/cirun $(DESTDIR)$(PREFIX)/bin/cirun
	install -Dm755 $(BUILD)/cirun-agent $(DESTDIR)$(PREFIX)/lib/cirun/cirun-agent

clean:
	rm -rf build

# The base cluster image kubernetes:vX.Y.Z from a Kubernetes release directory (bin/ cni/
# images/, as upstream ships the files; docs/base-image.md). REGISTRY_TAR= and CRI_DIR= pass
# through the environment. standin-base-image builds it from the STAND-IN release directory.
.PHONY: base-image standin-base-image
K8S_DIR ?=
TAG ?=
base-image: all
	@test -n "$(K8S_DIR)" || { echo "usage: make base-image K8S_DIR=DIR [TAG=name:tag] (docs/base-image.md)" >&2; exit 1; }
	@CIRUN=$(abspath $(BUILD))/cirun bash tools/base-image.sh "$(K8S_DIR)" $(TAG)

standin-base-image: all k8s-standin
	@$(MAKE) --no-print-directory base-image K8S_DIR=$(abspath $(BUILD))/k8s-standin

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
