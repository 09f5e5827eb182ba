/* libbpf's entry points for the BPF owner walk (owners_bpf.c), loaded when
 * the walk first runs (lazy_lib.h): the walk only runs on a busy host, and
 * linking libbpf (with libelf and libz) cost every start ~0.5 ms. */
#ifndef CR_BPF_LIB_H
#define CR_BPF_LIB_H

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "lazy_lib.h"

/* Every function called, ours and the generated skeleton's. */
#define CR_BPF_FUNCTIONS(X)                                                                                    \
  X(bpf_iter_create) X(bpf_link__destroy) X(bpf_link__fd) X(bpf_program__attach_iter) X(libbpf_set_print)     \
  X(bpf_object__open_skeleton) X(bpf_object__load_skeleton) X(bpf_object__attach_skeleton)                    \
  X(bpf_object__detach_skeleton) X(bpf_object__destroy_skeleton)

typedef struct {
  CR_BPF_FUNCTIONS(CR_LAZY_FIELD)
} cr_bpf_lib;

/* Filled by cr_bpf_lib_load; read only after it returned 0 on this thread. */
extern cr_bpf_lib cr_bpf;

/* Loads libbpf once per process. Returns 0, or -ELIBACC (the dynamic
 * linker's reason in *why when why is not NULL). */
int cr_bpf_lib_load(const char **why);

/* The skeleton bpftool generates (owners_iter.skel.h) calls libbpf by name
 * in its inline functions: include it after this header and these. */
#define bpf_object__open_skeleton cr_bpf.bpf_object__open_skeleton
#define bpf_object__load_skeleton cr_bpf.bpf_object__load_skeleton
#define bpf_object__attach_skeleton cr_bpf.bpf_object__attach_skeleton
#define bpf_object__detach_skeleton cr_bpf.bpf_object__detach_skeleton
#define bpf_object__destroy_skeleton cr_bpf.bpf_object__destroy_skeleton

#endif
