/* nequip-mts: LAMMPS plugin entry point registering pair style allegro/mts.
   Load with `plugin load <path>/nequip_mts_allegroplugin.so`, or put the
   directory on LAMMPS_PLUGIN_PATH (files ending in "plugin.so" there are
   loaded automatically when LAMMPS starts).                               */

#include "pair_allegro_mts.h"

#include "nequip_mts_compat.h"

using namespace LAMMPS_NS;

static void *create_pair_allegro_mts(void *lmp)
{
  return static_cast<Pair *>(new PairAllegroMTS(static_cast<LAMMPS *>(lmp)));
}

extern "C" void lammpsplugin_init(void *lmp, void *handle, void *regfunc)
{
  nequip_mts_plugin_record rec;
  rec.version = NEQUIP_MTS_PLUGIN_LAMMPS_VERSION;
  rec.style = "pair";
  rec.name = "allegro/mts";
  rec.info = "allegro/mts pair style (nequip-mts, AOTInductor Allegro models for r-RESPA)";
  rec.author = "nequip-mts developers";
  rec.creator.v1 = &create_pair_allegro_mts;
  rec.handle = handle;
  (*reinterpret_cast<nequip_mts_register_fn>(regfunc))(&rec, lmp);
}
