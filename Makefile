# pktlm — plain Makefile.
#   make            build ./pktlm (release) and build/rel/libpktlm.a
#   make test       build release + ASan/UBSan, run the whole suite under both
#   make test-fast  release suite only
#   make san        build the sanitizer binary ./pktlm-san
#   make bench      benchmarks (see bench/README.md); needs ../shared/tools
#   make fuzz       libFuzzer targets (clang), see docs/fuzzing.md
#   make portable   ./pktlm-portable: one binary for every x86-64 CPU (AVX-512 / AVX2 / SSE2
#                   copies of the program, the CPU's best chosen at start; docs/build.md)
#   make install    PREFIX=/usr/local DESTDIR=: binary, libpktlm.a + headers + pktlm.pc,
#                   man page pktlm(1), bash completion; make uninstall removes them
# Sources are discovered by folder: every src/<stage>/*.c is part of the library
# except src/cli/, which is the thin command-line front end.

CC      ?= cc
ARCH    ?= -march=native
OPT     ?= -O2
CFLAGS  ?=
WFLAGS  = -Wall -Wextra -Wshadow -Wno-unused-parameter
BASE    = -std=c11 -D_GNU_SOURCE -Isrc -isystem /usr/include/x86_64-linux-gnu/blis-openmp -fopenmp -g $(WFLAGS) $(ARCH)
# BLIS built for OpenMP: the fastest sgemm measured on this machine, and it shares
# our OpenMP thread pool instead of adding spinning pthreads. libcjson: the JSON of
# Hugging Face configs and safetensors headers (src/models/hf.c, safetensors.c). libpcap:
# live capture from an interface (src/capture/live.c; files are read by our own reader).
BLIS_DIR ?= /usr/lib/x86_64-linux-gnu/blis-openmp
LDLIBS  = -L$(BLIS_DIR) -Wl,-rpath,$(BLIS_DIR) -lblis -lcjson -lpcap -lm -fopenmp
# MPI (data-parallel training, src/train/dist.c, docs/distributed.md): Debian's Open MPI when
# its headers are there (libopenmpi-dev); `make MPI=0` builds without it (one process only).
# Switching needs `make clean`: objects do not record the flags they were built with.
MPI_INC := $(shell mpicc --showme:compile 2>/dev/null)
ifeq ($(origin MPI),undefined)
MPI := $(shell printf '\043include <mpi.h>\n' | $(CC) $(MPI_INC) -E -x c - >/dev/null 2>&1 && echo 1 || echo 0)
endif
ifeq ($(MPI),1)
BASE   += -DPKTLM_MPI $(patsubst -I%,-isystem %,$(MPI_INC))
LDLIBS += $(shell mpicc --showme:link)
endif
SANFLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

LIB_SRC  = $(sort $(filter-out src/cli/%,$(wildcard src/*/*.c)))
CLI_SRC  = $(sort $(wildcard src/cli/*.c))
TEST_SRC = $(sort $(wildcard tests/test_*.c))
HDRS     = $(wildcard src/*/*.h) tests/test.h
TEST_HDRS = $(wildcard tests/*.h)

REL = build/rel
SAN = build/san

LIB_OBJ_REL = $(LIB_SRC:src/%.c=$(REL)/%.o)
LIB_OBJ_SAN = $(LIB_SRC:src/%.c=$(SAN)/%.o)
CLI_OBJ_REL = $(CLI_SRC:src/%.c=$(REL)/%.o)
CLI_OBJ_SAN = $(CLI_SRC:src/%.c=$(SAN)/%.o)
TESTS_REL   = $(TEST_SRC:tests/%.c=$(REL)/tests/%)
TESTS_SAN   = $(TEST_SRC:tests/%.c=$(SAN)/tests/%)

# Hot numeric kernels may ask for more optimisation: list them here.
$(REL)/nn/%.o: OPT = -O3

.PHONY: all san test test-fast test-san bench fuzz clean tests-build portable install uninstall
all: pktlm $(REL)/libpktlm.a build/pktlm.1 build/pktlm.bash-completion

$(REL)/%.o: src/%.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(BASE) $(OPT) $(CFLAGS) -c $< -o $@
$(SAN)/%.o: src/%.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(BASE) -O1 $(SANFLAGS) $(CFLAGS) -c $< -o $@

$(REL)/libpktlm.a: $(LIB_OBJ_REL)
	@rm -f $@; ar rcs $@ $^
$(SAN)/libpktlm.a: $(LIB_OBJ_SAN)
	@rm -f $@; ar rcs $@ $^

pktlm: $(CLI_OBJ_REL) $(REL)/libpktlm.a
	$(CC) $(BASE) $(OPT) $(CFLAGS) -o $@ $(CLI_OBJ_REL) $(REL)/libpktlm.a $(LDLIBS)
pktlm-san: $(CLI_OBJ_SAN) $(SAN)/libpktlm.a
	$(CC) $(BASE) -O1 $(SANFLAGS) -o $@ $(CLI_OBJ_SAN) $(SAN)/libpktlm.a $(LDLIBS)
san: pktlm-san

# Tests link libpcap as the independent cross-check of our reader.
$(REL)/tests/%: tests/%.c $(REL)/libpktlm.a $(HDRS) $(TEST_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(BASE) $(OPT) $(CFLAGS) -o $@ $< $(REL)/libpktlm.a -lpcap $(LDLIBS)
$(SAN)/tests/%: tests/%.c $(SAN)/libpktlm.a $(HDRS) $(TEST_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(BASE) -O1 $(SANFLAGS) -o $@ $< $(SAN)/libpktlm.a -lpcap $(LDLIBS)

tests-build: pktlm pktlm-san pktlm-portable $(TESTS_REL) $(TESTS_SAN)

test: tests-build
	@bash tests/run.sh all
test-fast: pktlm $(TESTS_REL)
	@bash tests/run.sh rel
test-san: pktlm-san $(TESTS_SAN)
	@bash tests/run.sh san

# The man page and the bash completion are written by the binary from its option tables
# (src/cli/opts.h), so they describe exactly the options it takes.
build/pktlm.1: pktlm
	@mkdir -p build
	./pktlm --man > $@.tmp && mv $@.tmp $@
build/pktlm.bash-completion: pktlm
	@mkdir -p build
	./pktlm --completion > $@.tmp && mv $@.tmp $@

# make install PREFIX=/usr/local DESTDIR=/tmp/stage: the usual GNU variables. The library's
# headers keep their stage folders under INCDIR/pktlm (they include each other that way);
# include/pktlm.h includes them all. pktlm.pc (written here, for this PREFIX) lists what a
# static link needs.
PREFIX  ?= /usr/local
DESTDIR ?=
BINDIR  ?= $(PREFIX)/bin
LIBDIR  ?= $(PREFIX)/lib
INCDIR  ?= $(PREFIX)/include
MANDIR  ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
LIB_HDRS = $(sort $(filter-out src/cli/%,$(wildcard src/*/*.h)))

# PORTABLE=1 installs ./pktlm-portable as bin/pktlm (the binary to package: it runs on every
# x86-64 CPU, docs/build.md); by default the -march=native build of this machine is installed.
INSTALL_BIN = $(if $(filter 1,$(PORTABLE)),pktlm-portable,pktlm)
install: all $(INSTALL_BIN)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCDIR)/pktlm \
	  $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(BASHCOMPDIR)
	install -m 755 $(INSTALL_BIN) $(DESTDIR)$(BINDIR)/pktlm
	install -m 644 $(REL)/libpktlm.a $(DESTDIR)$(LIBDIR)/libpktlm.a
	printf '%s\n' 'prefix=$(PREFIX)' 'libdir=$(LIBDIR)' 'includedir=$(INCDIR)' '' \
	  'Name: pktlm' 'Description: foundation models of network traffic (the library of the pktlm tool)' \
	  'Version: 0.1' 'Cflags: -I$${includedir}/pktlm' \
	  'Libs: -L$${libdir} -lpktlm -L$(BLIS_DIR) -Wl,-rpath,$(BLIS_DIR) -lblis -lcjson -lm -fopenmp' \
	  > $(DESTDIR)$(LIBDIR)/pkgconfig/pktlm.pc
	install -m 644 include/pktlm.h $(DESTDIR)$(INCDIR)/pktlm/pktlm.h
	for h in $(LIB_HDRS:src/%=%); do \
	  install -D -m 644 src/$$h $(DESTDIR)$(INCDIR)/pktlm/$$h || exit 1; done
	install -m 644 build/pktlm.1 $(DESTDIR)$(MANDIR)/man1/pktlm.1
	install -m 644 build/pktlm.bash-completion $(DESTDIR)$(BASHCOMPDIR)/pktlm

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/pktlm $(DESTDIR)$(LIBDIR)/libpktlm.a $(DESTDIR)$(LIBDIR)/pkgconfig/pktlm.pc \
	  $(DESTDIR)$(MANDIR)/man1/pktlm.1 $(DESTDIR)$(BASHCOMPDIR)/pktlm
	rm -rf $(DESTDIR)$(INCDIR)/pktlm

bench: all
	@bash bench/run.sh

fuzz:
	$(MAKE) -C fuzz

# The portable binary (src/cli/portable/dispatch.c says why whole copies): the library and the
# CLI are built once per x86-64 level into build/port-vN (ARCH overridden, -mtune=generic),
# linked into one relocatable object whose global symbols get the prefix vN_ (so three copies
# live in one executable; references to libc, BLIS, libcjson stay as they are), and the
# dispatcher calls the copy the CPU can run.
PORT_LEVELS = v4 v3 v1
PORT_ARCH_v4 = -march=x86-64-v4 -mtune=generic
PORT_ARCH_v3 = -march=x86-64-v3 -mtune=generic
PORT_ARCH_v1 = -march=x86-64 -mtune=generic
build/port-%/pktlm.o: $(LIB_SRC) $(CLI_SRC) $(HDRS)
	$(MAKE) --no-print-directory REL=build/port-$* ARCH="$(PORT_ARCH_$*)" build/port-$*/libpktlm.a $(CLI_SRC:src/%.c=build/port-$*/%.o)
	ld -r -o $@.all --whole-archive build/port-$*/libpktlm.a --no-whole-archive $(CLI_SRC:src/%.c=build/port-$*/%.o)
	nm -g --defined-only $@.all | awk '{ print $$3, "$*_" $$3 }' > $@.syms
	objcopy --redefine-syms=$@.syms $@.all $@
	@rm -f $@.all
pktlm-portable: src/cli/portable/dispatch.c $(PORT_LEVELS:%=build/port-%/pktlm.o)
	$(CC) -std=c11 -D_GNU_SOURCE -O2 $(WFLAGS) -o $@ $^ $(LDLIBS)
portable: pktlm-portable

clean:
	rm -rf build pktlm pktlm-san pktlm-portable
