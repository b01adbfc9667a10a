# pgep: forwards PostgreSQL events (NOTIFY, WAL, outbox) to RabbitMQ, MQTT and Redis.
#
#   make              build build/pgep, build/pgep-worker, build/pgep-ctl
#   make deps         install every Debian package needed to build, test and run the servers
#   make test         build, start the local servers, run every test
#   make SAN=1 test   the same under AddressSanitizer and UBSan (objects in build/san)
#   make bench-tools  build/pgep-bench-consumer and -publisher, the benchmarks' C clients
#   make fuzz         libFuzzer targets (clang) in build/fuzz; make fuzz-run FUZZ_SECONDS=600
#   make install PREFIX=/usr/local DESTDIR=
#   make deb          the Debian package build/pgep_VERSION_ARCH.deb (lintian-checked)
#   make deb-test     install it here, test it against the servers, purge it (root)
#   make clean

PREFIX  ?= /usr/local
DESTDIR ?=
SAN     ?=

ifeq ($(SAN),1)
BUILD    ?= build/san
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
# GCC 12 under ASan reports maybe-uninitialized inside libstdc++'s <regex> (GCC bug 105562).
OPT      := -O1 -Wno-maybe-uninitialized
else
BUILD    ?= build
SANFLAGS :=
OPT      := -O2
endif

CXX      ?= g++
PKGS     := libpq librabbitmq hiredis libuv inih simdjson
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) libxml-2.0 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
WARNINGS := -Wall -Wextra -Werror -Wshadow -Wnon-virtual-dtor -Wold-style-cast \
            -Wcast-align -Wunused -Woverloaded-virtual -Wpedantic -Wnull-dereference \
            -Wformat=2 -Wimplicit-fallthrough
CPPFLAGS += -I. $(PKG_CFLAGS) -DMSGPACK_NO_BOOST -DPGEP_VERSION='"$(VERSION)"'
CXXFLAGS ?= $(OPT) -g
CXXFLAGS += -std=c++20 $(WARNINGS) $(SANFLAGS) -MMD -MP
LDFLAGS  += $(SANFLAGS)
# One place for the version: debian/changelog's first line, "pgep (VERSION) ...".
VERSION  := $(shell awk -F'[()]' 'NR == 1 { print $$2 }' debian/changelog)

# Code both processes use (configuration, routing, logging) and the frame codec.
LIB_SRC        := $(wildcard shared/*.cc) $(wildcard ipc/*.cc)
# pgep-ctl, the control socket's client.
CTL_SRC        := $(wildcard ctl/*.cc)
# The supervisor's parts (its sources and its admin side included), linked into pgep and into
# the unit tests; main.cc is pgep's entry.
SUPERVISOR_SRC := $(filter-out supervisor/main.cc,$(wildcard supervisor/*.cc supervisor/sources/*.cc supervisor/admin/*.cc))
WORKER_SRC     := $(wildcard workers/*.cc)
# The worker's pure parts, which the unit tests link as well.
WORKER_PURE_SRC := workers/publish_window.cc workers/log_throttle.cc workers/aws_sigv4.cc workers/digest.cc
UNIT_SRC       := $(wildcard tests/unit/*.cc)

obj = $(patsubst %.cc,$(BUILD)/obj/%.o,$(1))
LIB := $(BUILD)/libpgep.a
SUPERVISOR_LIB := $(BUILD)/libpgep-supervisor.a

SUPERVISOR_LIBS := $(PKG_LIBS)
WORKER_LIBS     := $(PKG_LIBS) -lcurl -lmosquitto -lpaho-mqttpp3 -lpaho-mqtt3as -lssl -lcrypto -lxml2 -lnats -lrdkafka

.PHONY: all deps test check unit kafka-mock fuzz fuzz-run install clean demo deb deb-test bench-tools

all: $(BUILD)/pgep $(BUILD)/pgep-worker $(BUILD)/pgep-ctl

$(BUILD)/obj/%.o: %.cc
	@mkdir -p $(dir $@)
	@echo "CXX $<"
	@$(CXX) $(CPPFLAGS) $(CXXFLAGS) -c $< -o $@

$(LIB): $(call obj,$(LIB_SRC))
	@rm -f $@
	ar rcs $@ $^

$(SUPERVISOR_LIB): $(call obj,$(SUPERVISOR_SRC))
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/pgep: $(call obj,supervisor/main.cc) $(SUPERVISOR_LIB) $(LIB)
	$(CXX) $(LDFLAGS) -o $@ $^ $(SUPERVISOR_LIBS)

$(BUILD)/pgep-ctl: $(call obj,$(CTL_SRC)) $(LIB)
	$(CXX) $(LDFLAGS) -o $@ $^ $(SUPERVISOR_LIBS)

$(BUILD)/pgep-worker: $(call obj,$(WORKER_SRC)) $(LIB)
	$(CXX) $(LDFLAGS) -o $@ $^ $(WORKER_LIBS)

# The benchmarks' consumer and publisher (bench/), which scripts/bench_wal runs; not installed.
bench-tools: $(BUILD)/pgep-bench-consumer $(BUILD)/pgep-bench-publisher

$(BUILD)/pgep-bench-%: $(BUILD)/obj/bench/%.o $(BUILD)/obj/bench/clients.o $(BUILD)/obj/workers/http_client.o $(LIB)
	$(CXX) $(LDFLAGS) -o $@ $^ -lhiredis -lmosquitto -lrabbitmq -lcurl -luv -lnats

$(BUILD)/pgep-unit: $(call obj,$(UNIT_SRC) $(WORKER_PURE_SRC)) $(SUPERVISOR_LIB) $(LIB)
	$(CXX) $(LDFLAGS) -o $@ $^ $(SUPERVISOR_LIBS) -lcrypto

unit: $(BUILD)/pgep-unit

# The tests' Kafka: librdkafka's mock cluster (tests/kafka/mock_cluster.cc), as Debian has no broker.
kafka-mock: $(BUILD)/pgep-kafka-mock

$(BUILD)/pgep-kafka-mock: $(call obj,tests/kafka/mock_cluster.cc)
	$(CXX) $(LDFLAGS) -o $@ $^ -lrdkafka

deps:
	@scripts/deps

# Installs what is missing, builds, starts the local servers, runs every test and ends with
# the line "N passed, N failed".
test:
	@scripts/deps
	@$(MAKE) --no-print-directory all unit kafka-mock
	@BUILD=$(BUILD) tests/run

check: test

# pgep end to end against local servers it starts and stops (scripts/demo).
demo:
	@BUILD=$(BUILD) scripts/demo

# libFuzzer targets: the frame decoder and the configuration parser.
FUZZ_DIR   := build/fuzz
FUZZ_FLAGS := -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -I. $(PKG_CFLAGS) -DMSGPACK_NO_BOOST
FUZZ_SECONDS ?= 600
FUZZ_TARGETS := $(patsubst tests/fuzz/%_fuzz.cc,$(FUZZ_DIR)/%_fuzz,$(wildcard tests/fuzz/*_fuzz.cc))

fuzz: $(FUZZ_TARGETS)

# The pgoutput decoder lives with the supervisor's sources; the other targets need only LIB_SRC.
PGOUTPUT_SRC := supervisor/sources/pgoutput_decoder.cc supervisor/sources/pgoutput_message.cc \
                supervisor/sources/pg_type_names.cc

$(FUZZ_DIR)/pgoutput_fuzz: tests/fuzz/pgoutput_fuzz.cc $(LIB_SRC) $(PGOUTPUT_SRC) $(wildcard shared/*.h supervisor/sources/*.h)
	@mkdir -p $(FUZZ_DIR)
	clang++ $(FUZZ_FLAGS) -o $@ $< $(LIB_SRC) $(PGOUTPUT_SRC) $(PKG_LIBS)

$(FUZZ_DIR)/%_fuzz: tests/fuzz/%_fuzz.cc $(LIB_SRC) $(wildcard shared/*.h ipc/*.h)
	@mkdir -p $(FUZZ_DIR)
	clang++ $(FUZZ_FLAGS) -o $@ $< $(LIB_SRC) $(PKG_LIBS)

# Runs every fuzz target for FUZZ_SECONDS, growing the corpus kept in tests/fuzz/corpus/.
fuzz-run: fuzz
	@for t in $(FUZZ_TARGETS); do \
	  name=$$(basename $$t _fuzz); mkdir -p tests/fuzz/corpus/$$name; \
	  echo "fuzz: $$name for $(FUZZ_SECONDS) s"; \
	  $$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 tests/fuzz/corpus/$$name || exit 1; \
	done

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/pgep/sql \
	  $(DESTDIR)$(PREFIX)/share/doc/pgep/examples
	install -m 755 $(BUILD)/pgep $(BUILD)/pgep-ctl $(DESTDIR)$(PREFIX)/bin/
	install -m 755 $(BUILD)/pgep-worker $(DESTDIR)$(PREFIX)/bin/
	ln -sf pgep $(DESTDIR)$(PREFIX)/bin/pg-event-proxy
	$(if $(wildcard postgres/*.sql),install -m 644 $(wildcard postgres/*.sql) $(DESTDIR)$(PREFIX)/share/pgep/sql/)
	install -m 644 etc/*.ini $(DESTDIR)$(PREFIX)/share/doc/pgep/examples/
	install -m 644 README.md $(DESTDIR)$(PREFIX)/share/doc/pgep/
	install -d $(DESTDIR)$(PREFIX)/share/man/man8
	install -m 644 docs/man/*.8 $(DESTDIR)$(PREFIX)/share/man/man8/
	install -d $(DESTDIR)/etc/init.d $(DESTDIR)/etc/pgep $(DESTDIR)$(PREFIX)/lib/systemd/system
	sed 's|/usr/bin/|$(PREFIX)/bin/|g' etc/init.d/pgep > $(DESTDIR)/etc/init.d/pgep && chmod 755 $(DESTDIR)/etc/init.d/pgep
	sed 's|/usr/bin/|$(PREFIX)/bin/|g' etc/pgep.service > $(DESTDIR)$(PREFIX)/lib/systemd/system/pgep.service
	# The sample configuration, unless one is there already.
	[ -e $(DESTDIR)/etc/pgep/pgep.ini ] || install -m 640 etc/pgep.ini $(DESTDIR)/etc/pgep/pgep.ini

# The Debian package (debian/, dpkg-buildpackage), with lintian's verdict: build/pgep_VERSION_ARCH.deb.
# dpkg-buildpackage writes beside the source directory; the results are moved into build/.
DEB_ARCH := $(shell dpkg --print-architecture 2>/dev/null)
DEB      := build/pgep_$(VERSION)_$(DEB_ARCH).deb
deb:
	@scripts/deps package
	dpkg-buildpackage -b -us -uc
	@mkdir -p build
	mv ../pgep_$(VERSION)_$(DEB_ARCH).deb ../pgep_$(VERSION)_$(DEB_ARCH).buildinfo ../pgep_$(VERSION)_$(DEB_ARCH).changes build/
	rm -f ../pgep-dbgsym_$(VERSION)_$(DEB_ARCH).deb
	lintian --fail-on error,warning $(DEB)

# Installs the package on this machine (root), checks it against the test servers, purges it:
# tests/package/. Ends with "N passed, N failed", as make test.
deb-test: deb
	@BUILD=$(BUILD) DEB=$(DEB) tests/package/run

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
