/* libbpf loaded on first use (bpf_lib.h), by the soname the build found
 * (CR_LIBBPF_SONAME, from the library pkg-config names). */
#ifdef CONNRECIPE_HAVE_BPF
#include "bpf_lib.h"

CR_LAZY_LIB_DEFINE(cr_bpf, cr_bpf_lib_load, CR_LIBBPF_SONAME, CR_BPF_FUNCTIONS)
#else
typedef int cr_bpf_lib_unused; /* ISO C wants something in a translation unit */
#endif
