# convlog - plain GNU Makefile.  `make demo` and `make test` install missing
# system packages first (tools/install-deps.sh), then build.

PREFIX  ?= /usr/local
LIBDIR  ?= $(PREFIX)/lib
INCDIR  ?= $(PREFIX)/include
BINDIR  ?= $(PREFIX)/bin
MANDIR  ?= $(PREFIX)/share/man
DESTDIR ?=
CC      ?= cc
CXX     ?= c++
BUILD   ?= build
OPT     ?= -O2 -g
WERROR  ?= -Werror
SAN     ?=
TEST_TIMEOUT ?= 900

PKGS := lmdb libzstd libxxhash jansson libutf8proc libpq
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# libstemmer ships no pkg-config file
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lstemmer -lm -lpthread
CHECK_CFLAGS = $(shell pkg-config --cflags check sqlite3 2>/dev/null)
CHECK_LIBS   = $(shell pkg-config --libs check sqlite3 2>/dev/null)

WARN   := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wno-unused-parameter -Wno-format-truncation $(WERROR)
CFLAGS ?=
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE $(OPT) $(SAN) $(WARN) -fPIC -fvisibility=hidden \
	-DCONVLOG_BUILDING -Iinclude -Ilib $(PKG_CFLAGS) $(CFLAGS) -MMD -MP
LDFLAGS ?=

LIB_SRC  := $(sort $(wildcard lib/*/*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
TOOL_SRC := $(sort $(wildcard tools/*.c))
TOOL_OBJ := $(TOOL_SRC:%.c=$(BUILD)/%.o)
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
TESTLIB_SRC := $(sort $(wildcard tests/lib/*.c))
TESTLIB_OBJ := $(TESTLIB_SRC:%.c=$(BUILD)/%.o)
BENCH_SRC := $(sort $(wildcard bench/*.c))

STATIC := $(BUILD)/libconvlog.a
SHARED := $(BUILD)/libconvlog.so.0
TOOL   := $(BUILD)/convlog

.PHONY: all deps demo test check build-tests header-test unit e2e bench install \
	uninstall clean asan ubsan tsan checksrc lint _lint _demo _test _bench bench-full _bench-full

all: $(STATIC) $(SHARED) $(TOOL) $(BUILD)/convlog.pc

deps:
	@sh tools/install-deps.sh

# ---- library ----
$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(STATIC): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

$(SHARED): $(LIB_OBJ)
	$(CC) $(SAN) -shared -Wl,-soname,libconvlog.so.0 -o $@ $^ $(PKG_LIBS) $(LDFLAGS)
	ln -sf libconvlog.so.0 $(BUILD)/libconvlog.so

$(TOOL): $(TOOL_OBJ) $(STATIC)
	$(CC) $(SAN) -o $@ $(TOOL_OBJ) $(STATIC) $(PKG_LIBS) $(LDFLAGS)

$(BUILD)/convlog.pc: Makefile
	@mkdir -p $(BUILD)
	printf 'prefix=%s\nlibdir=%s\nincludedir=%s\n\nName: convlog\nDescription: Embedded storage engine for AI conversation history\nVersion: %s\nRequires.private: %s\nLibs: -L$${libdir} -lconvlog\nLibs.private: -lstemmer -lm -lpthread\nCflags: -I$${includedir}\n' \
		'$(PREFIX)' '$(LIBDIR)' '$(INCDIR)' \
		"$$(sed -n 's/^#define CONVLOG_VERSION_STRING "\(.*\)"/\1/p' include/convlog.h)" \
		'$(PKGS)' > $@

# ---- tests ----
$(BUILD)/tests/lib/%.o: tests/lib/%.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(CHECK_CFLAGS) -Itests/lib -c $< -o $@

$(BUILD)/tests/test_%: tests/unit/test_%.c $(TESTLIB_OBJ) $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(CHECK_CFLAGS) -Itests/lib -o $@ $< $(TESTLIB_OBJ) $(STATIC) \
		$(CHECK_LIBS) $(PKG_LIBS) $(LDFLAGS)

# tools/foreign*.c are tested without the command line around them
FOREIGN_OBJ := $(addprefix $(BUILD)/tools/,foreign.o foreign_chatgpt.o foreign_claude.o \
	foreign_openai.o jsonl.o util.o)
$(BUILD)/tests/test_foreign: tests/unit/test_foreign.c $(FOREIGN_OBJ) $(TESTLIB_OBJ) $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(CHECK_CFLAGS) -Itests/lib -Itools -o $@ $< $(FOREIGN_OBJ) \
		$(TESTLIB_OBJ) $(STATIC) $(CHECK_LIBS) $(PKG_LIBS) $(LDFLAGS)

header-test:
	@mkdir -p $(BUILD)
	printf '#include "convlog.h"\nint main(void) { return convlog_version() == 0; }\n' > $(BUILD)/hdr.c
	$(CC) -std=c99 -pedantic -Wall -Wextra -Werror -Iinclude -fsyntax-only $(BUILD)/hdr.c
	$(CC) -std=c11 -pedantic -Wall -Wextra -Werror -Iinclude -fsyntax-only $(BUILD)/hdr.c
	cp $(BUILD)/hdr.c $(BUILD)/hdr.cpp
	$(CXX) -std=c++11 -pedantic -Wall -Wextra -Werror -Iinclude -fsyntax-only $(BUILD)/hdr.cpp

build-tests: all $(UNIT_BIN)

# The unit and end-to-end tests run TEST_JOBS at a time (tests/run.sh), the
# longest first, each with its output in $(BUILD)/test-logs/; a failing
# test's output is printed whole.  TEST_JOBS=1 runs them one by one.
TEST_JOBS ?= 2
UNIT_LONG := test_search test_compact test_model test_sync test_faultsweep
UNIT_ORDER := $(addprefix $(BUILD)/tests/,$(UNIT_LONG)) \
	$(filter-out $(addprefix $(BUILD)/tests/,$(UNIT_LONG)),$(UNIT_BIN))
E2E_LONG := tests/e2e/import_formats.sh tests/e2e/pg_schema.sh tests/e2e/inspect.sh tests/e2e/sync_pg.sh
E2E_ORDER := $(E2E_LONG) $(filter-out $(E2E_LONG),$(sort $(wildcard tests/e2e/*.sh)))

unit: build-tests
	@CK_DEFAULT_TIMEOUT=$(TEST_TIMEOUT) sh tests/run.sh $(TEST_JOBS) $(BUILD)/test-logs/unit $(UNIT_ORDER)

e2e: all
	@CONVLOG=$(abspath $(TOOL)) sh tests/run.sh $(TEST_JOBS) $(BUILD)/test-logs/e2e \
		$(E2E_ORDER)

# (the sanitizer variants skip fuzz-smoke: its build already has ASan and UBSan)
check: header-test checksrc unit e2e $(if $(SAN),,fuzz-smoke)

# the builds run BUILD_JOBS compilers at once; the tests then their own
# TEST_JOBS at a time
BUILD_JOBS ?= 2

test: deps
	@$(MAKE) --no-print-directory -j$(BUILD_JOBS) all build-tests fuzz-build
	@$(MAKE) --no-print-directory check

# ---- demo ----
demo: deps
	@$(MAKE) --no-print-directory _demo

_demo: all
	rm -rf demo.store
	$(TOOL) init demo.store
	$(TOOL) import demo.store tools/sample/demo.jsonl
	$(TOOL) ls demo.store
	$(TOOL) show demo.store "$$($(TOOL) ls demo.store --json | head -n 1 | sed 's/^{"type":"conversation","id":"\([^"]*\)".*/\1/')"
	$(TOOL) stats demo.store

# ---- bench ----
$(BUILD)/convlog-bench: $(BENCH_SRC) $(wildcard bench/*.h) $(STATIC)
	$(CC) $(ALL_CFLAGS) -o $@ $(BENCH_SRC) $(STATIC) $(PKG_LIBS) -lsqlite3 -lm $(LDFLAGS)

# `make bench`: one quick scale (100k messages, the --quick iteration
# counts), about 70 s on a 2-core VM; plots in $(BUILD)/bench-plots.
# `make bench-full`: the scales of the report, the table and the JSON saved
# in bench/results/full-<date>.{txt,json}, the plots in bench/results/plots.
# The 3M scale keeps both stores, SQLite's database without FTS5 and a
# VACUUM's copies at once: about 25 GB free under $$TMPDIR (or /tmp), and
# tens of minutes.  Extra flags go in BENCH_ARGS (e.g. BENCH_ARGS=--keep).
BENCH_QUICK_ARGS ?= --quick --messages 100000 --plot-dir $(BUILD)/bench-plots
BENCH_SCALES ?= 100000,1000000,3000000
BENCH_RESULTS ?= bench/results
BENCH_ARGS ?=

bench:
	@sh tools/install-deps.sh bench
	@$(MAKE) --no-print-directory _bench

_bench: $(BUILD)/convlog-bench
	$(BUILD)/convlog-bench $(BENCH_QUICK_ARGS) $(BENCH_ARGS)

bench-full:
	@sh tools/install-deps.sh bench
	@$(MAKE) --no-print-directory _bench-full

_bench-full: $(BUILD)/convlog-bench
	@mkdir -p $(BENCH_RESULTS)
	@free=$$(df -Pk "$${TMPDIR:-/tmp}" | awk 'NR == 2 { print int($$4 / 1048576) }'); \
	if [ "$$free" -lt 25 ]; then \
		echo "bench-full: only $$free GiB free under $${TMPDIR:-/tmp}; the 3M scale needs about 25" >&2; \
	fi
	@out=$(BENCH_RESULTS)/full-$$(date +%Y-%m-%d); \
	echo "bench-full: table in $$out.txt, JSON in $$out.json, plots in $(BENCH_RESULTS)/plots" >&2; \
	{ $(BUILD)/convlog-bench --scales $(BENCH_SCALES) --plot-dir $(BENCH_RESULTS)/plots \
		--json-out $$out.json $(BENCH_ARGS) || echo $$? > $$out.failed; } | tee $$out.txt; \
	if [ -f $$out.failed ]; then rm -f $$out.failed; echo "bench-full: convlog-bench failed" >&2; exit 1; fi

# ---- sanitizer builds ----
ASAN_VARS = BUILD=build-asan OPT='-O1 -g' \
	SAN='-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined'
UBSAN_VARS = BUILD=build-ubsan OPT='-O1 -g' SAN='-fsanitize=undefined -fno-sanitize-recover=undefined'
TSAN_VARS = BUILD=build-tsan OPT='-O1 -g' SAN='-fsanitize=thread'
asan:
	@$(MAKE) --no-print-directory $(ASAN_VARS) -j$(BUILD_JOBS) all build-tests
	@$(MAKE) --no-print-directory $(ASAN_VARS) check
ubsan:
	@$(MAKE) --no-print-directory $(UBSAN_VARS) -j$(BUILD_JOBS) all build-tests
	@$(MAKE) --no-print-directory $(UBSAN_VARS) check
tsan:
	@$(MAKE) --no-print-directory $(TSAN_VARS) -j$(BUILD_JOBS) build-tests
	@$(MAKE) --no-print-directory $(TSAN_VARS) unit

# ---- fuzzing (libFuzzer, clang) ----
# One harness per decoder in tests/fuzz/fuzz_<target>.c, built against the
# library compiled with the fuzzer's coverage and ASan+UBSan in
# $(FUZZ_BUILD).  `make fuzz` runs each for FUZZ_SECONDS on its seeds and
# saved regressions (new inputs go to $(FUZZ_BUILD)/corpus/<target>,
# crashes to $(FUZZ_BUILD)/crash/); `make fuzz-smoke` (part of `make check`)
# replays every seed and regression input, then fuzzes each target for
# FUZZ_SMOKE_SECONDS.  A crash found becomes an input in
# tests/fuzz/regress/<target>/.
FUZZ_CC      ?= clang
FUZZ_BUILD   ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 5
FUZZ_RSS_MB  ?= 2048
FUZZ_ARGS    ?=
FUZZ_TARGETS := block segment iseg query import changeset changeset_raw
# targets that open a store per input get a longer per-input timeout
FUZZ_SLOW    := segment changeset changeset_raw
# targets fuzz-smoke runs without leak detection (none: keep it so; a
# leak found by fuzzing is a bug, see tests/fuzz/regress/)
FUZZ_SMOKE_NOLEAK :=
FUZZ_CFLAGS = -std=c11 -D_GNU_SOURCE -O1 -g -fno-omit-frame-pointer \
	-fsanitize=address,undefined -fno-sanitize-recover=undefined \
	-Wall -Wextra -Wshadow -Wstrict-prototypes -Wno-unused-parameter -fvisibility=hidden \
	-DCONVLOG_BUILDING -Iinclude -Ilib -Itools -Itests/fuzz $(PKG_CFLAGS) -MMD -MP
FUZZ_LIB     := $(FUZZ_BUILD)/libconvlog.a
FUZZ_LIB_OBJ := $(LIB_SRC:%.c=$(FUZZ_BUILD)/%.o)
FUZZ_TOOL_OBJ := $(addprefix $(FUZZ_BUILD)/tools/,cmd_import.o progress.o foreign.o foreign_chatgpt.o \
	foreign_claude.o foreign_openai.o jsonl.o util.o)
FUZZ_BIN     := $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz_%)

.PHONY: fuzz fuzz-build fuzz-smoke _fuzz
.SECONDARY: $(FUZZ_TOOL_OBJ) $(FUZZ_LIB_OBJ)

$(FUZZ_BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_LIB): $(FUZZ_LIB_OBJ)
	rm -f $@
	ar rcs $@ $^

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz_common.h $(FUZZ_TOOL_OBJ) $(FUZZ_LIB)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_TOOL_OBJ) $(FUZZ_LIB) \
		$(PKG_LIBS) $(LDFLAGS)

# changeset_raw: fuzz_changeset.c without its container wrapping
$(FUZZ_BUILD)/fuzz_changeset_raw: tests/fuzz/fuzz_changeset.c tests/fuzz/fuzz_common.h $(FUZZ_LIB)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -DFUZZ_RAW -fsanitize=fuzzer -o $@ $< $(FUZZ_LIB) \
		$(PKG_LIBS) $(LDFLAGS)

fuzz-build: $(FUZZ_BIN)

# fuzz_run TARGET SECONDS CORPUS: one libFuzzer run of a target
FUZZ_RUN = fuzz_run() { \
	to=10; case " $(FUZZ_SLOW) " in *" $$1 "*) to=30;; esac; \
	leak=; case " $$FUZZ_NOLEAK " in *" $$1 "*) leak=-detect_leaks=0;; esac; \
	mkdir -p "$$3" $(FUZZ_BUILD)/crash tests/fuzz/seeds/$$1 tests/fuzz/regress/$$1; \
	$(FUZZ_BUILD)/fuzz_$$1 -max_total_time=$$2 -timeout=$$to -rss_limit_mb=$(FUZZ_RSS_MB) \
		-print_final_stats=1 -artifact_prefix=$(FUZZ_BUILD)/crash/$$1- $$leak $(FUZZ_ARGS) \
		"$$3" tests/fuzz/seeds/$$1 tests/fuzz/regress/$$1; }

fuzz: deps
	@$(MAKE) --no-print-directory _fuzz

_fuzz: fuzz-build
	@$(FUZZ_RUN); bad=; for t in $(FUZZ_TARGETS); do \
		echo "== fuzz $$t ($(FUZZ_SECONDS) s)"; \
		fuzz_run $$t $(FUZZ_SECONDS) $(FUZZ_BUILD)/corpus/$$t || bad="$$bad $$t"; done; \
	if [ -n "$$bad" ]; then echo "fuzz: failures in$$bad (inputs in $(FUZZ_BUILD)/crash/)"; exit 1; fi

# Replays the saved inputs one by one (any failure fails the build), then
# a short run from a throw-away corpus; the logs stay in $(FUZZ_BUILD).
fuzz-smoke: fuzz-build
	@set -e; $(FUZZ_RUN); FUZZ_NOLEAK="$(FUZZ_SMOKE_NOLEAK)"; for t in $(FUZZ_TARGETS); do \
		log=$(FUZZ_BUILD)/smoke-$$t.log; \
		files=$$(find tests/fuzz/seeds/$$t tests/fuzz/regress/$$t -type f 2>/dev/null | sort); \
		n=$$(echo "$$files" | grep -c . || true); \
		leak=; case " $$FUZZ_NOLEAK " in *" $$t "*) leak=-detect_leaks=0;; esac; \
		if [ -n "$$files" ] && ! $(FUZZ_BUILD)/fuzz_$$t -rss_limit_mb=$(FUZZ_RSS_MB) $$leak \
			$$files >$$log 2>&1; then cat $$log; echo "fuzz-smoke: $$t: a saved input fails"; exit 1; fi; \
		rm -rf $(FUZZ_BUILD)/smoke-corpus/$$t; \
		if ! fuzz_run $$t $(FUZZ_SMOKE_SECONDS) $(FUZZ_BUILD)/smoke-corpus/$$t >$$log 2>&1; then \
			cat $$log; echo "fuzz-smoke: $$t: crash saved under $(FUZZ_BUILD)/crash/"; exit 1; fi; \
		echo "fuzz-smoke $$t: $$n saved inputs ok, $$(sed -n 's/^stat::number_of_executed_units: *//p' $$log) runs"; \
	done

# ---- lint: banned functions in lib/ ----
checksrc:
	@bad=$$(grep -nE '\b(strcpy|strcat|sprintf|vsprintf|gets)\s*\(|[^_]\b(malloc|calloc|realloc|free)\s*\(' \
		lib/*/*.c | grep -v 'lib/util/alloc.c' | grep -v 'json_' | grep -v '^\s*\*' || true); \
	if [ -n "$$bad" ]; then echo "checksrc: banned calls in lib/:"; echo "$$bad"; exit 1; fi

# ---- static analysis: cppcheck, then clang-tidy ----
# `make lint`: cppcheck over lib/, then clang-tidy (checks and the reason for
# each exclusion in .clang-tidy) over every lib/*/*.c, two files at a time
# (largest first, so no long one starts last), with the flags the library
# builds with; any finding fails.  About 4.5 minutes of CPU, nearly all of
# it clang-tidy's static analyzer: some 2.5 minutes on an idle 2-core VM,
# more when other jobs share it.  An exception is inline, with its reason:
# `// cppcheck-suppress ID` or `/* NOLINT(check-name): reason */`.
CPPCHECK   ?= cppcheck
CLANG_TIDY ?= clang-tidy
CPPCHECK_FLAGS = --enable=warning,portability,performance --std=c11 --inline-suppr \
	--error-exitcode=1 --suppress=missingIncludeSystem --quiet -j2 -Iinclude -Ilib
TIDY_CFLAGS = -std=c11 -D_GNU_SOURCE -Iinclude -Ilib $(PKG_CFLAGS) -DCONVLOG_BUILDING

lint: deps
	@$(MAKE) --no-print-directory _lint

_lint:
	$(CPPCHECK) $(CPPCHECK_FLAGS) lib
	@echo "$(CLANG_TIDY) over $(words $(LIB_SRC)) files in lib/"
	@ls -S $(LIB_SRC) | xargs -P2 -n1 sh -c \
		'out=$$($(CLANG_TIDY) --quiet "$$0" -- $(TIDY_CFLAGS) 2>&1) || \
		{ printf "%s\n" "$$out"; echo "clang-tidy: findings in $$0" >&2; exit 1; }'

# ---- install ----
install: all
	install -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1
	install -m 644 $(STATIC) $(DESTDIR)$(LIBDIR)/
	install -m 755 $(SHARED) $(DESTDIR)$(LIBDIR)/
	ln -sf libconvlog.so.0 $(DESTDIR)$(LIBDIR)/libconvlog.so
	install -m 644 include/convlog.h $(DESTDIR)$(INCDIR)/
	install -m 755 $(TOOL) $(DESTDIR)$(BINDIR)/
	install -m 644 $(BUILD)/convlog.pc $(DESTDIR)$(LIBDIR)/pkgconfig/
	if [ -f tools/convlog.1 ]; then install -m 644 tools/convlog.1 $(DESTDIR)$(MANDIR)/man1/; fi

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libconvlog.a $(DESTDIR)$(LIBDIR)/libconvlog.so* \
		$(DESTDIR)$(INCDIR)/convlog.h $(DESTDIR)$(BINDIR)/convlog \
		$(DESTDIR)$(LIBDIR)/pkgconfig/convlog.pc $(DESTDIR)$(MANDIR)/man1/convlog.1

clean:
	rm -rf build build-asan build-ubsan build-tsan build-fuzz demo.store

-include $(LIB_OBJ:.o=.d) $(TOOL_OBJ:.o=.d) $(TESTLIB_OBJ:.o=.d) $(UNIT_BIN:=.d)
-include $(FUZZ_LIB_OBJ:.o=.d) $(FUZZ_TOOL_OBJ:.o=.d) $(FUZZ_BIN:=.d)
