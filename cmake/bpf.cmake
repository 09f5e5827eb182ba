# The owner lookup's fast path: a BPF task-file iterator
# (src/core/bpf/owners_iter.bpf.c) compiled with clang -target bpf against the
# kernel's BTF, turned into a C skeleton by bpftool and loaded with libbpf
# (CO-RE: its field offsets are relocated to the running kernel at load).
# CONNRECIPE_BPF=AUTO builds it when clang, bpftool, libbpf and
# /sys/kernel/btf/vmlinux are all there, ON requires them, OFF leaves it out:
# owners then come from the /proc walk only (docs/performance.md).
set(CONNRECIPE_BPF AUTO CACHE STRING "Owner lookup through a BPF task-file iterator: AUTO, ON or OFF")
set_property(CACHE CONNRECIPE_BPF PROPERTY STRINGS AUTO ON OFF)
set(CONNRECIPE_VMLINUX_BTF /sys/kernel/btf/vmlinux CACHE FILEPATH
    "Kernel BTF the BPF program's vmlinux.h is generated from")

set(CONNRECIPE_HAVE_BPF OFF)
if(NOT CONNRECIPE_BPF STREQUAL "OFF")
  find_program(BPF_CLANG NAMES clang clang-16 clang-15 clang-14)
  find_program(BPFTOOL bpftool PATHS /usr/sbin /sbin)
  pkg_check_modules(LIBBPF IMPORTED_TARGET libbpf)
  set(bpf_missing "")
  if(NOT BPF_CLANG)
    list(APPEND bpf_missing "clang")
  endif()
  if(NOT BPFTOOL)
    list(APPEND bpf_missing "bpftool")
  endif()
  if(NOT LIBBPF_FOUND)
    list(APPEND bpf_missing "libbpf-dev")
  endif()
  if(NOT EXISTS ${CONNRECIPE_VMLINUX_BTF})
    list(APPEND bpf_missing "${CONNRECIPE_VMLINUX_BTF} (a kernel with CONFIG_DEBUG_INFO_BTF)")
  endif()
  if(bpf_missing)
    string(REPLACE ";" ", " bpf_missing "${bpf_missing}")
    if(CONNRECIPE_BPF STREQUAL "ON")
      message(FATAL_ERROR "CONNRECIPE_BPF=ON but missing: ${bpf_missing}")
    endif()
    message(STATUS "BPF owner lookup: off (missing: ${bpf_missing}); owners come from /proc")
  else()
    set(CONNRECIPE_HAVE_BPF ON)
    message(STATUS "BPF owner lookup: on")
  endif()
endif()

if(CONNRECIPE_HAVE_BPF)
  set(BPF_GEN ${PROJECT_BINARY_DIR}/generated/bpf)
  set(BPF_SRC ${PROJECT_SOURCE_DIR}/src/core/bpf/owners_iter.bpf.c)
  file(MAKE_DIRECTORY ${BPF_GEN})
  add_custom_command(
    OUTPUT ${BPF_GEN}/vmlinux.h
    COMMAND sh -c "\"$0\" btf dump file \"$1\" format c > \"$2.tmp\" && mv \"$2.tmp\" \"$2\""
            ${BPFTOOL} ${CONNRECIPE_VMLINUX_BTF} ${BPF_GEN}/vmlinux.h
    COMMENT "Generating vmlinux.h from the kernel's BTF"
    VERBATIM)
  # No CMAKE_C_FLAGS here: sanitizer and hardening options mean nothing to BPF.
  add_custom_command(
    OUTPUT ${BPF_GEN}/owners_iter.bpf.o
    COMMAND ${BPF_CLANG} -g -O2 -target bpf -Wall -I${BPF_GEN} ${LIBBPF_CFLAGS} -c ${BPF_SRC}
            -o ${BPF_GEN}/owners_iter.bpf.o
    DEPENDS ${BPF_SRC} ${BPF_GEN}/vmlinux.h
    COMMENT "Compiling the BPF owner iterator"
    VERBATIM)
  add_custom_command(
    OUTPUT ${BPF_GEN}/owners_iter.skel.h
    COMMAND sh -c "\"$0\" gen skeleton \"$1\" name owners_iter > \"$2.tmp\" && mv \"$2.tmp\" \"$2\""
            ${BPFTOOL} ${BPF_GEN}/owners_iter.bpf.o ${BPF_GEN}/owners_iter.skel.h
    DEPENDS ${BPF_GEN}/owners_iter.bpf.o
    COMMENT "Generating the BPF skeleton"
    VERBATIM)
  add_custom_target(owners_bpf_skeleton DEPENDS ${BPF_GEN}/owners_iter.skel.h)
  add_dependencies(crcore owners_bpf_skeleton)
  target_include_directories(crcore PRIVATE ${BPF_GEN})
  target_compile_definitions(crcore PRIVATE CONNRECIPE_HAVE_BPF=1)
  # libbpf's headers only: the walk loads it on first use (src/core/bpf_lib.c)
  target_include_directories(crcore PRIVATE ${LIBBPF_INCLUDE_DIRS})
  cr_soname(LIBBPF_SONAME "${LIBBPF_LINK_LIBRARIES}")
  target_compile_definitions(crcore PRIVATE CR_LIBBPF_SONAME="${LIBBPF_SONAME}")
endif()
