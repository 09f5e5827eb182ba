/* libbpf loaded on first use (bpf_lib.h), by the soname the build found
 * (CR_LIBBPF_SONAME, from the library pkg-config names). */
#ifdef CONNRECIPE_HAVE_BPF
#include "bpf_lib.h"

cr_bpf_lib cr_bpf;

static cr_lazy_lib libbpf = CR_LAZY_LIB_INIT(CR_LIBBPF_SONAME);
static const char *const names[] = {CR_BPF_FUNCTIONS(CR_LAZY_NAME)};

int cr_bpf_lib_load(const char **why) {
  _Static_assert(CR_LAZY_COUNT(cr_bpf) == sizeof names / sizeof names[0], "one name per field");
  return cr_lazy_lib_load(&libbpf, names, &cr_bpf, CR_LAZY_COUNT(cr_bpf), why);
}
#else
typedef int cr_bpf_lib_unused; /* ISO C wants something in a translation unit */
#endif
